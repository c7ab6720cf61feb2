"""Property: parallel batches (ParallelizationFactor lanes, files copied at once within a batch) never copy
one file twice at once nor commit its records out of order, and S3 ends equal to the source.

Real parts: the emulator over HTTP, the real detector and Downloader with botocore's clients, the local
runtime's stream source (lanes, retries, bisection) and the handler's per-file batch processing
(:func:`labkit.handlers.by_file.process_by_file`). Hypothesis draws the workload (instances, growth,
rotations, how many detector writes pile up before the stream is read), the factor, the copy concurrency,
the batch size and S3 part writes that fail (a 500, at most twice an example: retries absorb them). The
threads' schedule is the operating system's, not drawn: the property is checked on whatever interleaving
happens, by watching each file's copies (entered, left, committed) at the record handler.
"""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import os
import threading
import uuid
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.backup import table as t
from labkit.backup.detector import detect
from labkit.backup.downloader import Downloader
from labkit.backup.layout import PartKey, part_number
from labkit.backup.scanner import InstanceMessage
from labkit.backup.streamfilter import item_key
from labkit.config import LabConfig, load_config
from labkit.handlers.by_file import process_by_file
from labkit.local.deploy import deploy_local
from labkit.local.runtime import LambdaRuntime
from tests.support.emulated import EmulatedAccount, audit_line

_instances = itertools.count()
_labs: dict[int, ParallelLab] = {}
PART_WRITES = ("put_object", "upload_part", "complete_multipart_upload")


class FailingS3:
    """botocore's S3 client, whose part writes numbered in ``failing`` answer a 500 instead (not sent)."""

    def __init__(self, s3: Any, failing: set[int]) -> None:
        self._s3, self._failing, self._count, self._lock = s3, failing, 0, threading.Lock()

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._s3, name)
        if name not in PART_WRITES:
            return call

        def write(**kwargs: Any) -> Any:
            with self._lock:
                self._count += 1
                fail = self._count in self._failing
            if fail:
                raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, name)
            return call(**kwargs)

        return write


class ParallelLab:
    """A deployed lab whose stream feeds the real Downloader through lanes and per-file batches."""

    def __init__(self, account: EmulatedAccount, config: LabConfig) -> None:
        self.account, self.base = account, config
        deploy_local(config)
        self.table = account.session.resource("dynamodb", endpoint_url=account.url).Table(config.names.table)
        self.s3 = account.client("s3")
        self.lock = threading.Lock()
        self.concurrency = 1
        self.writes: FailingS3 = FailingS3(self.s3, set())
        self.active: set[str] = set()
        self.overlaps: list[str] = []
        self.attempts: dict[str, list[int]] = {}  # per file: sequence numbers of the records handled
        self.committed: dict[str, list[int]] = {}  # per file: sequence numbers of the copies that returned
        self.early: list[tuple[str, int]] = []  # commits that came before an earlier record of the file's
        self.runtime = LambdaRuntime(config, _idle, _idle, self.handler, retry_delay_s=0.0)
        self.runtime.resolve()

    def reset(self, factor: int, batch_size: int, concurrency: int, failing: set[int]) -> None:
        self.runtime.config = dataclasses.replace(
            self.base, stream_parallelization_factor=factor, stream_batch_size=batch_size
        )
        self.concurrency, self.writes = concurrency, FailingS3(self.s3, failing)
        self.overlaps, self.attempts, self.committed, self.early = [], {}, {}, []

    def handler(self, event: dict[str, Any], context: Any) -> Any:
        return process_by_file(event, self.record_handler, self.concurrency)

    def record_handler(self, record: Any) -> None:
        raw = record.raw_event
        key, seq = item_key(raw), int(raw["dynamodb"]["SequenceNumber"])
        with self.lock:
            if key in self.active:
                self.overlaps.append(key)
            self.active.add(key)
            self.attempts.setdefault(key, []).append(seq)
        try:
            self.downloader().handle_record(raw)
            with self.lock:
                done = self.committed.setdefault(key, [])
                if any(s < seq and s not in done for s in self.attempts[key]):
                    self.early.append((key, seq))  # an earlier record of this file was tried, not committed
                done.append(seq)
        finally:
            with self.lock:
                self.active.discard(key)

    def downloader(self) -> Downloader:
        return Downloader(
            rds=self.account.rds,
            s3=self.writes,
            table=self.table,
            credentials=self.account.session.get_credentials(),
            bucket=self.base.names.bucket,
            prefix=self.base.log_prefix,
            lease_ms=60_000,
            max_failures=self.base.stream_max_retries + 1,
        )

    def detect(self, instance_id: str) -> None:
        message = InstanceMessage(instance_id, f"{instance_id}-cluster", "aurora-mysql", "aurora")
        detect(self.account.rds, self.table, message, seal_after_s=3600.0, ttl_days=30)

    def settle(self) -> None:
        for _ in range(200):
            if not self.runtime.poll_stream():
                return
        raise AssertionError("the stream was still busy after 200 passes")

    def stored(self, item: dict[str, Any]) -> bytes:
        prefix = PartKey(self.base.log_prefix, item["cluster_id"], item["pk"], item["date"], item["sk"])
        listed = self.s3.list_objects_v2(Bucket=self.base.names.bucket, Prefix=prefix.file_prefix)
        keys = sorted((o["Key"] for o in listed.get("Contents", [])), key=part_number)
        return b"".join(
            gzip.decompress(self.s3.get_object(Bucket=self.base.names.bucket, Key=k)["Body"].read())
            for k in keys
        )


def _idle(event: dict[str, Any], context: Any) -> None:
    return None


def _lab(account: EmulatedAccount, tmp: Path) -> ParallelLab:
    if id(account) not in _labs:
        _labs.clear()
        config = load_config(
            endpoint_url=account.url,
            state_dir=tmp,
            project=f"lab-{uuid.uuid4().hex[:8]}",
            stream_max_retries=3,
        )
        _labs[id(account)] = ParallelLab(account, config)
    return _labs[id(account)]


# a round: per instance, lines appended (0: none) and whether its active file rotates after; then whether the
# stream is read now (False: the detector's writes pile up, several records of one file in one read)
rounds = st.lists(
    st.tuples(st.lists(st.tuples(st.integers(0, 40), st.booleans()), min_size=3, max_size=3), st.booleans()),
    min_size=1,
    max_size=4,
)


@settings(
    max_examples=int(os.environ.get("LABKIT_PROPERTY_EXAMPLES", "12")),  # more for a deep run
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    instances=st.integers(1, 3),
    plan=rounds,
    factor=st.integers(1, 4),
    batch_size=st.integers(1, 5),
    concurrency=st.integers(1, 3),
    failing=st.sets(st.integers(1, 12), max_size=2),
)
def test_parallel_batches_copy_each_file_in_order_one_copy_at_a_time_and_s3_equals_the_source(
    account: EmulatedAccount,
    tmp_path: Path,
    instances: int,
    plan: list[tuple[list[tuple[int, bool]], bool]],
    factor: int,
    batch_size: int,
    concurrency: int,
    failing: set[int],
) -> None:
    # GIVEN instances whose audit files grow and rotate, and the lab set to the drawn lanes and bounds
    lab = _lab(account, tmp_path)
    lab.reset(factor, batch_size, concurrency, failing)
    names = [f"px-{next(_instances)}" for _ in range(instances)]
    dirs = {name: account.add_instance(name) for name in names}
    lines = dict.fromkeys(names, 0)
    rotations = dict.fromkeys(names, 0)
    # WHEN each round's growth is scanned and, when drawn, the stream is read until it goes quiet
    for growth, read_now in plan:
        for name, (count, rotate) in zip(names, growth, strict=False):
            active = dirs[name] / "server_audit.log"
            with open(active, "ab") as handle:
                handle.write(b"".join(audit_line(i) for i in range(lines[name], lines[name] + count)))
            lines[name] += count
            if rotate and count:
                rotations[name] += 1
                os.rename(active, dirs[name] / f"server_audit.log.{rotations[name]}")
                stamp = 1_700_000_000 + rotations[name]
                os.utime(dirs[name] / f"server_audit.log.{rotations[name]}", (stamp, stamp))
            lab.detect(name)
        if read_now:
            lab.settle()
    for name in names:  # a last scan, then the stream is read to the end
        lab.detect(name)
    lab.settle()
    # THEN no file was ever copied by two records at once
    assert lab.overlaps == []
    # ... and each file's records committed in stream order. Lambda's replay after a partial failure
    # delivers again every record from the lowest failed sequence number on, so a record already committed
    # comes again after later ones of its file (a stale image, which must change nothing: S3 equals the
    # source below). The order rule is on first commits, and on never committing past a record of the file
    # that was tried and is not yet committed.
    assert lab.early == []
    for key, seqs in lab.committed.items():
        firsts = list(dict.fromkeys(seqs))
        assert firsts == sorted(firsts), (key, seqs)
        assert set(firsts) == set(lab.attempts[key]), (key, lab.attempts[key], seqs)  # none left failed
    # ... and S3 holds every source file exactly, none FAILED or LOST
    for name in names:
        items = t.instance_items(lab.table, name)
        assert all(i["state"] not in (t.LOST, t.FAILED) for i in items), items
        stored = sorted(lab.stored(i) for i in items if i["size"] > 0)
        source = sorted(p.read_bytes() for p in dirs[name].iterdir() if p.stat().st_size > 0)
        assert stored == source
