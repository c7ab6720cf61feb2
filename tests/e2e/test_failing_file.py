"""A file whose copy always fails, on the real local lab under sysbench load: it is tried at most
max_retries + 1 times, then stays FAILED and adds no stream record however many scans follow, while every
other file is backed up; once the cause is fixed, `retry-failed` hands it back and it is copied exactly.

The failure is the emulator's `refuse_files` fault (AWS answers "This file contains binary data" for some
files; nothing on this machine makes the real API refuse one on demand)."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from labkit import aws, traffic
from labkit.backup import table as t
from labkit.backup.retry import retry_failed
from labkit.config import LabConfig
from labkit.local import control
from labkit.local.state import LabState
from labkit.ops.lab import catch_up, runtime_call, seal_active_files
from labkit.verify import reconcile_target
from tests.support.local_lab import lab_settings

pytestmark = pytest.mark.e2e
DEADLINE_S = 600  # bounds a hang only: a busy machine just takes longer


@pytest.fixture(scope="module")
def failing_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabState, LabConfig]]:
    config = lab_settings(tmp_path_factory.mktemp("failing-lab"), seal_after_s=1.0)
    state, _ = control.up(config)
    try:
        yield state, config
    finally:
        control.down(config)


def set_faults(endpoint: str, **faults: Any) -> None:
    request = urllib.request.Request(
        f"{endpoint}/labkit-api/faults", data=json.dumps(faults).encode(), method="POST"
    )
    urllib.request.urlopen(request, timeout=30).close()


def scan_and_drain(endpoint: str) -> None:
    runtime_call(endpoint, "runtime/tick")
    runtime_call(endpoint, "runtime/drain", {"timeout": 120.0}, timeout=180)


def stream_records_for(config: LabConfig, table: Any, sk: str) -> int:
    streams = aws.client("dynamodbstreams", config)
    arn = table.latest_stream_arn
    count = 0
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            answer = streams.get_records(ShardIterator=iterator, Limit=1000)
            count += sum(1 for r in answer["Records"] if r["dynamodb"]["Keys"]["sk"]["S"] == sk)
            if not answer["Records"]:
                break
            iterator = answer.get("NextShardIterator")
    return count


def wait_for(what: str, check: Any, endpoint: str) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        scan_and_drain(endpoint)
    raise AssertionError(f"{what} did not happen within {DEADLINE_S} s")


def test_a_file_that_always_fails_stays_failed_and_quiet_until_retried(
    failing_lab: tuple[LabState, LabConfig],
) -> None:
    lab, config = failing_lab
    table = aws.session(config).resource("dynamodb", endpoint_url=lab.endpoint).Table(config.names.table)
    writer = config.writer_id
    rds = aws.client("rds", config)
    traffic.prepare(traffic.TrafficSpec("oltp_read_write", intensity="low"), config)
    load = threading.Thread(
        target=traffic.run,
        args=(traffic.TrafficSpec("oltp_read_write", intensity="low", duration_s=60, rate=50), config),
        daemon=True,
    )
    load.start()
    try:
        # GIVEN sysbench load, and the writer's current audit file refused by every download
        listed = rds.describe_db_log_files(DBInstanceIdentifier=writer)["DescribeDBLogFiles"]
        doomed = max(listed, key=lambda f: f["LastWritten"])["LogFileName"]
        set_faults(lab.endpoint, refuse_files=doomed)
        seal_active_files(config)  # rotate: the doomed file is sealed and stops growing
        time.sleep(config.seal_after_s + 0.5)  # a minimum, not a race: sealing needs this much quiet

        # WHEN the pipeline runs until the file is FAILED
        def failed_and_sealed() -> dict[str, Any] | None:
            item = t.get_item(table, writer, doomed)
            return item if item and item["state"] == t.FAILED and item.get("sealed") else None

        item = wait_for("FAILED", failed_and_sealed, lab.endpoint)
        # THEN it was tried max_retries + 1 times on its final bytes
        assert item["failures"] == config.stream_max_retries + 1, item
        records = stream_records_for(config, table, doomed)
        # AND more scans under load add no record and no attempt for it
        for _ in range(5):
            scan_and_drain(lab.endpoint)
        still = t.get_item(table, writer, doomed)
        assert still is not None and still["state"] == t.FAILED and still["failures"] == item["failures"]
        assert stream_records_for(config, table, doomed) == records
    finally:
        load.join()
    # WHEN the cause is fixed and an operator retries THEN it is copied, and the backup is exact
    set_faults(lab.endpoint, refuse_files="")
    assert retry_failed(table, [writer]) == [(writer, doomed)]
    catch_up(config, lab.endpoint, timeout_s=DEADLINE_S)
    done = t.get_item(table, writer, doomed)
    assert done is not None and done["state"] == t.BACKED_UP, done
    report = reconcile_target(config)
    assert report.clean, {f.name: f.problems for f in report.files if f.problems}
