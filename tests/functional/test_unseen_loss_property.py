"""Property (issue 15): whatever the rotation history, every byte that ever existed is in S3 once, or inside a
LOST item (exact, or a lower bound inside a gap), or inside a reported gap window. Nothing is silent.

Histories are generated: appends, single rotations and bursts of more rotations than MariaDB keeps files
(rds-mysql naming), scans and copies at any point, and the emulator's own deletion watcher looking at drawn
moments; each deletion event it raises is delivered to a scan or dropped. The files are real, the emulator,
the watcher, the detector and the downloader are the lab's own; each file's lines name their generation, so
the test knows every byte's file.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from labkit.backup import gaps
from labkit.backup import table as t
from labkit.backup.detector import detect
from labkit.backup.rdsevents import deleted_file_in
from labkit.backup.scanner import InstanceMessage
from labkit.local.emulator.deletion_events import DeletionWatcher
from tests.support.emulated import EmulatedAccount
from tests.support.pipeline import copy_sealed, stored
from tests.support.rotation import GEN, Server, sha_of_head, shared_pipeline

_instances = itertools.count()

operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 20)),
        st.tuples(st.just("rotate"), st.integers(1, 1)),
        st.tuples(st.just("burst"), st.integers(2, 6)),  # rotations, each after a few lines
        st.tuples(st.just("scan"), st.just(0)),
        st.tuples(st.just("copy"), st.just(0)),
        st.tuples(
            st.just("watch"), st.just(0)
        ),  # the deletion watcher looks (about once a second on the lab)
    ),
    min_size=1,
    max_size=20,
)


class TimedServer(Server):
    """The rotation model, with when each generation was born and deleted (epoch ms, the files' clock)."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.born: dict[int, int] = {0: t.now_ms()}
        self.died: dict[int, int] = {}

    def rotate(self) -> None:
        doomed = self.gens[self.keep] if len(self.gens) > self.keep else None
        super().rotate()
        now = t.now_ms()
        if doomed is not None:
            self.died[doomed] = now
        self.born[self.gens[0]] = now


@settings(
    max_examples=int(os.environ.get("LABKIT_PROPERTY_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(keep=st.integers(1, 3), ops=operations, fates=st.lists(st.booleans(), max_size=40))
@example(keep=2, ops=[("burst", 5), ("scan", 0)], fates=[])  # the burst, every event dropped
@example(keep=1, ops=[("burst", 3), ("watch", 0), ("burst", 3), ("watch", 0), ("scan", 0)], fates=[True] * 6)
@example(  # found by this property: the watcher's event said the last listed size, not the final one
    keep=3,
    ops=[("scan", 0), ("burst", 5), ("burst", 4), ("append", 2), ("rotate", 1), ("watch", 0), ("burst", 2)],
    fates=[],
)
@example(  # found by this property: two deletions alike in name, size and time were taken for one
    keep=2,
    ops=[
        ("burst", 3),
        ("scan", 0),
        ("watch", 0),
        ("scan", 0),
        ("rotate", 1),
        ("copy", 0),
        ("copy", 0),
        ("rotate", 1),
        ("append", 2),
        ("append", 1),
        ("append", 1),
        ("scan", 0),
        ("burst", 2),
    ],
    fates=[True, True],
)
def test_every_byte_is_in_s3_or_lost_or_inside_a_gap(
    account: EmulatedAccount, keep: int, ops: list[tuple[str, int]], fates: list[bool]
) -> None:
    pipeline = shared_pipeline(account)
    instance = f"db-{next(_instances)}"
    server = TimedServer(account.add_instance(instance, scheme="rds-mysql"), keep)
    message = InstanceMessage(instance, f"{instance}-cluster", "aurora-mysql", "rds-mysql")
    events: list[str] = []  # SNS bodies the watcher raised, not delivered yet
    fate = iter(fates)
    watcher = DeletionWatcher(
        lambda: {instance: account.server.app.registered()[instance]},
        lambda _: True,
        events.append,
        region="us-east-1",
        account_id="123456789012",
        topic_arn="arn:aws:sns:us-east-1:123456789012:lab-alarms",
    )

    def scan() -> None:
        detect(account.rds, pipeline.table, message, seal_after_s=0, ttl_days=30)
        while events:  # each event is the scan it asks for, with its evidence, or it is lost on the way
            body = events.pop(0)
            if next(fate, True):
                deleted = deleted_file_in(body)
                detect(account.rds, pipeline.table, message, seal_after_s=0, ttl_days=30, deleted=deleted)

    server.append(3)
    scan()  # the first look: before it, nothing was promised
    watcher.check()  # the watcher's baseline
    for op, arg in ops:
        if op == "append":
            server.append(arg)
        elif op in ("rotate", "burst"):
            for _ in range(arg):
                server.append(2)
                server.rotate()
        elif op == "scan":
            scan()
        elif op == "copy":
            copy_sealed(pipeline, instance)
        else:
            watcher.check()
    watcher.check()
    scan()
    copy_sealed(pipeline, instance)

    items = t.instance_items(pipeline.table, instance)
    recorded = gaps.gaps(pipeline.table, [instance])
    in_s3: dict[int, int] = Counter()
    for item in items:
        data = stored(pipeline, item)
        for gen in {int(g) for g in GEN.findall(data)}:
            assert data == server.content[gen][: len(data)], f"{item['sk']}: not only file g{gen}'s bytes"
            assert not in_s3[gen], f"g{gen}'s bytes are in S3 under two identities"
            in_s3[gen] = len(data)
    by_head = {i["head_sha"]: i for i in items if i.get("head_sha")}
    unseen_sizes = Counter(int(i["size"]) for i in items if i.get("unseen"))
    untracked_gone: Counter[int] = Counter()
    unaccounted = 0
    for gen, content in server.content.items():
        if gen in server.gens or not content:
            continue  # still on the instance (the reconciliation's business), or never held a byte
        missing = len(content) - in_s3[gen]
        item = by_head.get(sha_of_head(content))
        if item is not None:
            assert "vanished_at" in item, item
            if not missing:
                continue
            unaccounted += missing
            assert item["state"] == t.LOST, f"g{gen}: {missing} bytes not in S3, item {item['state']}"
            event(f"a seen file lost, {'exact' if item.get('lost_exact') else 'lower bound'}")
            if item.get("lost_exact"):
                assert item["lost_bytes"] == missing, (gen, item)
            else:  # a lower bound, never more than the truth, and a gap says more may be gone
                assert item["lost_bytes"] <= missing, (gen, item)
                assert any(item["sk"] in g["files"] for g in recorded), f"g{gen}: lower bound, no gap"
            continue
        unaccounted += missing
        untracked_gone[len(content)] += 1
        covered = any(
            int(g["from_ms"]) <= server.born[gen] and server.died[gen] <= int(g["to_ms"]) for g in recorded
        )
        if unseen_sizes[len(content)] > 0:
            unseen_sizes[len(content)] -= 1  # its deletion event recorded it LOST, all its bytes
            event("a file no look saw: LOST from its deletion event")
        else:
            event("a file no look saw: inside a gap window")
            assert covered, f"g{gen} ({len(content)} bytes) came and went unseen, outside every gap"
    assert not +unseen_sizes, f"LOST items for files that never existed: {+unseen_sizes}"
    if unaccounted:  # the verdict a user reads is never "clean" while bytes are unaccounted for
        assert not pipeline.reconcile().clean


def test_the_events_parser_reads_the_watchers_own_wording() -> None:
    from labkit.backup import rdsevents

    event = rdsevents.rds_event(
        "db-1",
        rdsevents.LOG_FILE_DELETED_RETENTION,
        rdsevents.log_file_deleted_message("audit/server_audit.log.3", 1_048_577),
        "us-east-1",
        "123456789012",
        now=1_765_000_000.25,
    )
    body = rdsevents.sns_envelope(event, "arn:aws:sns:us-east-1:123456789012:t")
    deleted = deleted_file_in(body)
    assert deleted is not None
    assert (deleted.name, deleted.size, deleted.at_ms) == (
        "audit/server_audit.log.3",
        1_048_577,
        1_765_000_000_250,
    )
