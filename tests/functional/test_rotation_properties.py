"""Property: whatever the rotation history between scans, no byte of file X is stored under file Y's identity,
no file's bytes are stored twice, and every byte a scan saw is either in S3 or counted LOST.

Histories are generated (Hypothesis): appends, MariaDB rotations with 1-3 kept files, clock steps backwards,
scans and copies in any order, any number of rotations between two scans, files of equal size and equal
LastWritten. Each file's lines name their file ("generation"), so S3's bytes say whose they are.
"""

from __future__ import annotations

import itertools
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.backup import table as t
from tests.support.emulated import EmulatedAccount
from tests.support.pipeline import copy_sealed, stored
from tests.support.rotation import GEN, Server, sha_of_head, shared_pipeline

_instances = itertools.count()

operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 30)),
        st.tuples(st.just("rotate"), st.just(0)),
        st.tuples(st.just("scan"), st.just(0)),
        st.tuples(st.just("copy"), st.just(0)),
        st.tuples(st.just("clock"), st.integers(1, 5)),
    ),
    min_size=1,
    max_size=24,
)


@settings(
    max_examples=int(os.environ.get("LABKIT_PROPERTY_EXAMPLES", "30")),  # more for a deep run
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(keep=st.integers(1, 3), ops=operations)
def test_rotation_histories_never_misattribute_duplicate_or_silently_lose(
    account: EmulatedAccount, keep: int, ops: list[tuple[str, int]]
) -> None:
    pipeline = shared_pipeline(account)
    instance = f"db-{next(_instances)}"
    server = Server(account.add_instance(instance, scheme="rds-mysql"), keep)
    observed: dict[int, int] = {}  # generation -> bytes a scan saw it hold (with a complete first line)

    def scan() -> None:
        for gen in server.gens:
            if b"\n" in server.content[gen]:
                observed[gen] = len(server.content[gen])
        pipeline.detect(instance, scheme="rds-mysql")

    for op, arg in ops:
        if op == "append":
            server.append(arg)
        elif op == "rotate":
            server.rotate()
        elif op == "scan":
            scan()
        elif op == "copy":
            copy_sealed(pipeline, instance)
        else:
            server.clock_back(arg)
    scan()
    copy_sealed(pipeline, instance)

    items = t.instance_items(pipeline.table, instance)
    holders: dict[int, list[str]] = {}
    for item in items:
        data = stored(pipeline, item)
        if not data:
            continue
        gens = {int(g) for g in GEN.findall(data)}
        assert len(gens) == 1, f"{item['sk']} holds bytes of files {gens}"
        [gen] = gens
        assert data == server.content[gen][: len(data)], f"{item['sk']}: not file g{gen}'s bytes"
        holders.setdefault(gen, []).append(item["sk"])
    assert all(len(v) == 1 for v in holders.values()), f"bytes stored under two identities: {holders}"

    by_head = {i.get("head_sha"): i for i in items}
    for gen, seen in observed.items():
        item = by_head.get(sha_of_head(server.content[gen]))
        assert item is not None, f"file g{gen} was seen with {seen} bytes but is not tracked"
        data = stored(pipeline, item)
        if gen in server.gens:
            if server.gens.index(gen) >= 1:  # sealed, still on the instance: copied whole
                assert data == server.content[gen] and item["state"] == t.BACKED_UP, item
        else:  # gone: what was not copied is counted LOST
            assert "vanished_at" in item, item
            assert len(data) == item["copied_bytes"]
            assert item["size"] >= seen, f"g{gen}: {seen} bytes seen, only {item['size']} accounted"
            if item["copied_bytes"] < item["size"]:
                assert item["state"] == t.LOST and item["lost_bytes"] == item["size"] - item["copied_bytes"]
