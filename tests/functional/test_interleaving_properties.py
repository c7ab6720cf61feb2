"""Property: copiers and detectors interleaved at every AWS call never lose, duplicate or misplace a byte.

Two stream records for one file can be in flight at once (two detector writes, a redelivery, a bisected
batch), and the detector scans while copies run. Here each actor runs in its own thread, and a gate in front
of its AWS clients lets exactly one actor make one call at a time, in an order Hypothesis draws: any
interleaving of two copiers and a detector, with the source growing or evicted in between, and actors killed
at any call (as a Lambda dies at its timeout) then redelivered under the same stream sequence number. An actor
killed at a part write (PutObject, CompleteMultipartUpload) may have had that request on the wire: the very
request (key, bytes, metadata, If-None-Match) reaches S3 later, at a drawn point ("land"), after the pipeline
has settled, or never.

Real parts: the emulator over HTTP, botocore's clients, real files. Faked: nothing but the scheduling (the
gate), death (an exception at a gated call that the code under test cannot catch, as it cannot catch a
killed process) and a late request (the dead actor's call, sent later by the same botocore client). Not
modelled: a lease outliving a live copier (the lease is the function's timeout + 60 s, so a live Lambda copier
cannot see its lease expire).
"""

from __future__ import annotations

import gzip
import itertools
import os
import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from labkit.backup import table as t
from labkit.backup.detector import detect
from labkit.backup.downloader import Downloader
from labkit.backup.layout import PartKey, part_number
from labkit.backup.scanner import InstanceMessage
from labkit.verify import LOST
from tests.support.emulated import EmulatedAccount, audit_line
from tests.support.pipeline import BUCKET, PREFIX, Pipeline

_instances = itertools.count()
_WAIT_S = 120.0  # bounds a hang (a deadlock in the gate), never a speed
PART_WRITES = ("put_object", "complete_multipart_upload")  # the calls that create a part object


class Killed(BaseException):
    """The actor died here. BaseException: the code under test catches Exception, as it cannot catch death."""


class Actor:
    """One invocation on its own thread; every AWS call waits at the gate for the scheduler's go."""

    def __init__(self, name: str, body: Callable[[Actor], Any]) -> None:
        self.name = name
        self._go = threading.Semaphore(0)
        self._back = threading.Semaphore(0)
        self.done = False
        self.killed = False
        self.error: BaseException | None = None
        self.result: Any = None
        self._thread = threading.Thread(target=self._run, args=(body,), daemon=True)
        self._started = False
        self.waiting: LateWrite | None = None  # the call it waits at its gate to make

    def _run(self, body: Callable[[Actor], Any]) -> None:
        self._go.acquire()
        try:
            if self.killed:
                raise Killed(self.name)
            self.result = body(self)
        except BaseException as exc:
            self.error = exc
        finally:
            self.done = True
            self._back.release()

    def gate(self) -> None:
        """Called by the actor's thread before each AWS call."""
        self._back.release()
        self._go.acquire()
        if self.killed:
            raise Killed(self.name)

    def step(self) -> None:
        """Let the actor make its next call (or start); returns when it waits at the gate again or ends."""
        if self.done:
            return
        if not self._started:
            self._started = True
            self._thread.start()
        self._go.release()
        assert self._back.acquire(timeout=_WAIT_S), f"{self.name} hung"

    def kill(self) -> None:
        if self._started and not self.done:
            self.killed = True
            self.step()
        self.done = True


class Gated:
    """A client (or the table resource) whose calls wait at the actor's gate; reads of attributes pass."""

    def __init__(self, inner: Any, actor: Actor) -> None:
        self._inner, self._actor = inner, actor

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr) or name in ("meta", "exceptions", "get_paginator", "can_paginate"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self._actor.waiting = LateWrite(self._actor.name, attr, name, args, kwargs)
            self._actor.gate()
            self._actor.waiting = None
            return attr(*args, **kwargs)

        return call


class LateWrite:
    """A call an actor waits to make; for a dead actor's part write, a request it had on the wire, sent later
    by the same botocore client exactly as it was (same key, body, metadata, If-None-Match)."""

    def __init__(self, actor: str, send: Callable[..., Any], name: str, args: Any, kwargs: Any) -> None:
        self.actor, self.send, self.name, self.args, self.kwargs = actor, send, name, args, kwargs

    def land(self) -> str:
        """Deliver it; nobody reads the answer (its sender is dead): returns what S3 said, for the record."""
        try:
            self.send(*self.args, **self.kwargs)
        except ClientError as exc:
            return str(exc.response["Error"]["Code"])
        return "written"


# copier steps dominate: the sequences that matter put two copiers' calls side by side with growth between
operations = st.lists(
    st.one_of(
        st.tuples(st.just("step"), st.sampled_from(["A", "A", "B", "B", "D"])),
        st.tuples(st.just("append"), st.integers(1, 400)),
        st.tuples(st.just("kill"), st.sampled_from(["A", "B", "D"])),
        st.tuples(st.just("evict"), st.just(0)),
        st.tuples(st.just("cut"), st.sampled_from(["A", "B"])),  # dies at its part write, sent or not
        st.tuples(st.just("land"), st.integers(0, 3)),  # the in-flight part write of that index reaches S3
    ),
    min_size=1,
    max_size=80,
)


class World:
    def __init__(self, pipeline: Pipeline, account: EmulatedAccount, instance: str) -> None:
        self.pipeline, self.account, self.instance = pipeline, account, instance
        self.directory = account.add_instance(instance)
        self.active = self.directory / "server_audit.log"
        self.content = b""
        self.line = 0
        self.evicted = False
        self.actors: dict[str, Actor] = {}
        self.owners = {"A": 0, "B": 0}
        self.redeliver: set[str] = set()
        self.sequence = itertools.count(1_000_001)  # apart from the settling copies' (Pipeline.copy_all)
        self.in_flight: list[LateWrite] = []  # part writes of dead actors, not landed yet
        self.landed: list[tuple[str, str]] = []  # (request, what S3 said)
        self.committed: dict[int, tuple[str, dict[str, str], bytes]] = {}  # part -> ETag, metadata, body

    def record_commits(self) -> None:
        """Each part as it is when the table first counts it, to compare with what S3 holds at the end."""
        items = t.instance_items(self.pipeline.table, self.instance)
        if not items:
            return
        item = items[0]
        for number in range(len(self.committed) + 1, int(item["parts"]) + 1):
            key = PartKey(PREFIX, item["cluster_id"], item["pk"], item["date"], item["sk"]).key(number)
            answer = self.pipeline.s3.get_object(Bucket=BUCKET, Key=key)
            self.committed[number] = (answer["ETag"], answer["Metadata"], answer["Body"].read())

    def land(self, index: int) -> None:
        """The in-flight request of that index (oldest first) reaches S3; with none of that index, none does."""
        if index < len(self.in_flight):
            late = self.in_flight.pop(index)
            self.landed.append((f"{late.actor} {late.name} {late.kwargs['Key']}", late.land()))

    def kill(self, slot: str) -> None:
        """The invocation dies at its current call; the stream redelivers its record. Dying at a part write,
        its request may have been on the wire: it may reach S3 later (``land``)."""
        actor = self.actors.pop(slot, None)
        if actor is not None:
            waiting = actor.waiting if not actor.done else None
            if waiting is not None and waiting.name in PART_WRITES:
                self.in_flight.append(waiting)
            actor.kill()
            if slot != "D" and actor.killed:
                self.redeliver.add(slot)

    def append(self, lines: int) -> None:
        if self.evicted:
            return
        data = b"".join(audit_line(self.line + i, "SELECT 'a, b' /*x*/") for i in range(lines))
        self.line += lines
        with open(self.active, "ab") as handle:
            handle.write(data)
        self.content += data

    def evict(self) -> None:
        if not self.evicted and self.active.exists():
            self.active.unlink()
            self.evicted = True

    def spawn(self, slot: str) -> Actor:
        if slot == "D":
            return Actor("D", self._detect)
        if slot not in self.redeliver:  # a new stream record; a redelivery keeps the dead one's number
            self.owners[slot] = next(self.sequence)
        self.redeliver.discard(slot)
        owner = str(self.owners[slot])
        return Actor(f"{slot}#{owner}", lambda actor: self._copy(actor, owner))

    def _detect(self, actor: Actor) -> Any:
        message = InstanceMessage(self.instance, f"{self.instance}-cluster", "aurora-mysql", "aurora")
        return detect(
            Gated(self.account.rds, actor),
            Gated(self.pipeline.table, actor),
            message,
            seal_after_s=0.0,
            ttl_days=30,
            credentials=self.account.session.get_credentials(),
        )

    def _copy(self, actor: Actor, owner: str) -> Any:
        items = t.instance_items(self.pipeline.table, self.instance)  # which item the record names
        if not items:
            return None
        downloader = Downloader(
            rds=Gated(self.account.rds, actor),
            s3=Gated(self.pipeline.s3, actor),
            table=Gated(self.pipeline.table, actor),
            credentials=self.account.session.get_credentials(),
            bucket=BUCKET,
            prefix=PREFIX,
            lease_ms=600_000,
        )
        return downloader.copy(items[0]["pk"], items[0]["sk"], owner)

    def run(self, ops: list[tuple[str, Any]]) -> None:
        for op, arg in ops:
            if op == "append":
                self.append(arg)
            elif op == "evict":
                self.evict()
            elif op == "step":
                actor = self.actors.get(arg)
                if actor is None or actor.done:
                    actor = self.actors[arg] = self.spawn(arg)
                actor.step()
                self.record_commits()
            elif op == "land":
                self.land(arg)
            elif op == "cut":  # the copier runs to its next part write and dies with the request on the wire
                actor = self.actors.get(arg)
                if actor is None or actor.done:
                    actor = self.actors[arg] = self.spawn(arg)
                while not actor.done and not (actor.waiting and actor.waiting.name in PART_WRITES):
                    actor.step()
                    self.record_commits()
                self.kill(arg)
            else:
                self.kill(arg)
        for actor in self.actors.values():  # whatever is still running runs to its end
            while not actor.done:
                actor.step()
                self.record_commits()
        for slot in sorted(self.redeliver):  # the stream retries a dead invocation's record, to its end
            actor = self.spawn(slot)
            while not actor.done:
                actor.step()
                self.record_commits()


def _parts(pipeline: Pipeline, item: dict[str, Any]) -> list[tuple[int, dict[str, str], bytes]]:
    prefix = PartKey(PREFIX, item["cluster_id"], item["pk"], item["date"], item["sk"]).file_prefix
    listed = pipeline.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    out = []
    for key in sorted((o["Key"] for o in listed), key=part_number):
        answer = pipeline.s3.get_object(Bucket=BUCKET, Key=key)
        out.append((part_number(key), answer["Metadata"], gzip.decompress(answer["Body"].read())))
    return out


@settings(
    max_examples=int(os.environ.get("LABKIT_PROPERTY_EXAMPLES", "20")),  # more for a deep run
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(initial=st.integers(1, 300), ops=operations, land_rest=st.booleans())
# two copiers both past their first read of the item, a scan of new bytes between their reads: without the
# lease, both write part N+1 and A's shorter one lands last, while B (the last to take the lease) commits its
# longer end: the bytes between are in no part
@example(
    initial=5,
    ops=[("step", "A")] * 4
    + [("append", 50)]
    + [("step", "D")] * 4
    + [("step", "B")] * 4
    + [("step", "B"), ("step", "A"), ("step", "B"), ("step", "B"), ("step", "A"), ("step", "A")],
    land_rest=False,
)
# a late write: A (record 1) dies with its PutObject of part 1 on the wire; the file grows, a scan sees it, the
# redelivered record 1 commits part 1 (longer), B commits part 2; only then A's request reaches S3 (refused)
@example(
    initial=20,
    ops=[("step", "A")] * 4  # A#1 read the item and a page, took the lease; waits to send part 1 (0-1610)
    + [("kill", "A"), ("append", 30)]
    + [("step", "D")] * 3  # a scan sees 50 lines
    + [("step", "A")] * 7  # redelivered A#1 writes and commits part 1 (0-4040)
    + [("append", 10)]
    + [("step", "D")] * 3
    + [("step", "B")] * 7  # B#2 writes and commits part 2 (4040-4850)
    + [("land", 0)],  # A#1's PutObject of part 1 reaches S3
    land_rest=False,
)
def test_interleaved_copiers_and_detectors_store_each_byte_once_or_count_it_lost(
    account: EmulatedAccount, initial: int, ops: list[tuple[str, Any]], land_rest: bool
) -> None:
    pipeline = _pipeline(account)
    world = World(pipeline, account, f"db-{next(_instances)}")
    world.append(initial)
    pipeline.detect(world.instance)
    world.run(ops)

    # the pipeline settles: a scan, then the stream's copies until nothing is left
    seen_before_settling = len(world.content)
    pipeline.detect(world.instance)
    pipeline.copy_all(world.instance)
    pipeline.detect(world.instance)
    world.record_commits()
    if land_rest:  # the requests still on the wire reach S3 after everything is committed
        while world.in_flight:
            world.land(0)
    for request, answer in world.landed:
        event(f"late write {request.split()[1]}: {answer}")

    [item] = t.instance_items(pipeline.table, world.instance)
    parts = _parts(pipeline, item)
    # THEN no committed part was ever replaced or changed (a late write is refused: If-None-Match)
    assert sorted(world.committed) == list(range(1, item["parts"] + 1)), (world.committed.keys(), item)
    for number, (etag, meta, body) in world.committed.items():
        key = PartKey(PREFIX, item["cluster_id"], item["pk"], item["date"], item["sk"]).key(number)
        now = pipeline.s3.get_object(Bucket=BUCKET, Key=key)
        assert (now["ETag"], now["Metadata"]) == (etag, meta), f"part {number} replaced after its commit"
        assert now["Body"].read() == body, f"part {number} changed after its commit: {world.landed}"
    # ... and no byte is in two parts (committed or not)
    ranges = sorted((int(meta["source-start"]), int(meta["source-end"]), n) for n, meta, _ in parts)
    for (_, end, first), (start, _, second) in itertools.pairwise(ranges):
        assert start >= end, f"parts {first} and {second} both hold bytes {start}-{end}"
    committed = [p for p in parts if p[0] <= item["parts"]]
    # THEN the committed parts are numbered 1..parts, contiguous, and hold the file's own bytes
    assert [p[0] for p in committed] == list(range(1, item["parts"] + 1)), (parts, item)
    position = 0
    for number, meta, data in committed:
        assert int(meta["source-start"]) == position, f"part {number} starts at {meta['source-start']}"
        assert int(meta["source-end"]) == position + len(data), f"part {number}: metadata != its bytes"
        position += len(data)
    stored = b"".join(p[2] for p in committed)
    assert position == item["copied_bytes"], (position, item)
    assert stored == world.content[: len(stored)], "S3 holds bytes that are not the file's"
    # an uncommitted part (a copier died between its S3 write and its commit) holds true bytes from there on
    for number, meta, data in parts[len(committed) :]:
        assert number == item["parts"] + 1, f"orphan part {number} past the next one: {item}"
        assert int(meta["source-start"]) == item["copied_bytes"]
        assert int(meta["source-end"]) == item["copied_bytes"] + len(data), (
            f"part {number}: metadata != its bytes"
        )
        assert world.content[item["copied_bytes"] : item["copied_bytes"] + len(data)] == data
    if world.evicted:
        # nothing silent: what was not copied is counted LOST, and nothing the scans saw is forgotten
        assert item["state"] == t.LOST or item["copied_bytes"] == item["size"], item
        assert item.get("lost_bytes", 0) == item["size"] - item["copied_bytes"], item
        assert item["size"] <= len(world.content)
    else:
        assert stored == world.content == world.active.read_bytes()[: len(stored)]
        assert item["copied_bytes"] == item["size"] == seen_before_settling, item
    mine = [f for f in pipeline.reconcile().files if f.instance_id == world.instance]
    assert mine, "verify does not see the file"
    for check in mine:  # labkit verify agrees: nothing missing, duplicated or misattributed
        assert check.ok or (world.evicted and check.kinds == {LOST}), (check.kinds, check.problems)


_pipelines: dict[int, Pipeline] = {}


def _pipeline(account: EmulatedAccount) -> Pipeline:
    """One table and bucket per test run (examples use distinct instances)."""
    key = id(account)
    if key not in _pipelines:
        _pipelines.clear()
        _pipelines[key] = Pipeline(account)
    return _pipelines[key]


def test_a_dead_copiers_write_landing_after_its_redelivery_committed_changes_nothing(
    account: EmulatedAccount,
) -> None:
    # GIVEN copier A (record 1) about to write part 1 when its invocation dies with the request on the wire
    pipeline = _pipeline(account)
    world = World(pipeline, account, f"db-{next(_instances)}")
    world.append(20)
    pipeline.detect(world.instance)
    first = Actor("A#1", lambda actor: world._copy(actor, "1"))
    for _ in range(4):
        first.step()  # read the item, a page, took the lease; waiting to send part 1
    # WHEN the file grows, a scan sees it, and the redelivered record 1 copies and commits everything
    world.append(30)
    pipeline.detect(world.instance)
    pipeline.downloader().copy(*_keys(pipeline, world.instance), "1")
    # ... and only then the dead invocation's request reaches S3
    while not first.done:
        first.step()
    pipeline.copy_all(world.instance)
    # THEN S3 still holds every byte exactly once
    [item] = t.instance_items(pipeline.table, world.instance)
    stored = b"".join(data for _, _, data in _parts(pipeline, item))
    assert item["copied_bytes"] == len(world.content)
    assert stored == world.content, f"S3 holds {len(stored)} bytes of {len(world.content)}"


def _keys(pipeline: Pipeline, instance: str) -> tuple[str, str]:
    [item] = t.instance_items(pipeline.table, instance)
    return item["pk"], item["sk"]
