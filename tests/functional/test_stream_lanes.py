"""The stream source's ParallelizationFactor against moto's server: lanes by item key, run at once.

Fake downloader (it records what it was given); the runtime is stepped by hand (``poll_stream``) or drained,
and a barrier (its timeout bounds a hang, never a speed) proves that lanes run at once: it opens only when
every lane's first batch is in the function together.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from labkit.config import LabConfig, load_config
from labkit.local.deploy import deploy_local
from labkit.local.runtime import LambdaRuntime
from labkit.local.runtime.streams import lane_of

HANG_S = 60.0  # bounds a deadlock, never a speed


def lab(account: Any, tmp_path: Path, factor: int) -> tuple[LabConfig, LambdaRuntime, list[Any]]:
    config = load_config(
        endpoint_url=account.url,
        state_dir=tmp_path,
        project=f"lab-{uuid.uuid4().hex[:8]}",
        stream_batch_size=100,
        stream_max_retries=2,
        stream_parallelization_factor=factor,
    )
    deploy_local(config)
    calls: list[Any] = []
    runtime = LambdaRuntime(config, _idle, _idle, lambda e, c: calls[0](e), retry_delay_s=0.0)
    runtime.resolve()
    runtime.filter_criteria = {"Filters": []}  # every change is delivered
    return config, runtime, calls


def _idle(event: dict[str, Any], context: Any) -> None:
    return None


def key(sk: str) -> dict[str, Any]:
    return {"pk": {"S": "instance-1"}, "sk": {"S": sk}}


def lane(sk: str, lanes: int) -> int:
    return lane_of({"dynamodb": {"Keys": key(sk)}}, lanes)


def write(account: Any, config: LabConfig, sk: str, n: int) -> None:
    account.client("dynamodb").put_item(
        TableName=config.names.table, Item={**key(sk), "n": {"N": str(n)}, "writer": {"S": "detector"}}
    )


def sk_of(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["Keys"]["sk"]["S"])


def test_lanes_run_at_once_and_one_file_is_never_in_two_batches_nor_out_of_order(
    account: Any, tmp_path: Path
) -> None:
    # GIVEN a factor of 3 and twelve files, each changed three times, interleaved in the stream
    config, runtime, calls = lab(account, tmp_path, factor=3)
    files = [f"f{i:03d}" for i in range(12)]
    for n in range(3):
        for sk in files:
            write(account, config, sk, n)
    lanes_used = {lane(sk, 3) for sk in files}
    barrier = threading.Barrier(len(lanes_used), timeout=HANG_S)
    lock = threading.Lock()
    busy: set[str] = set()
    overlaps: list[str] = []
    seen: dict[str, list[int]] = {}
    first_call_lanes: set[int] = set()

    def downloader(event: dict[str, Any]) -> None:
        sks = [sk_of(r) for r in event["Records"]]
        with lock:
            overlaps.extend(sk for sk in set(sks) if sk in busy)
            busy.update(sks)
            lanes = {lane(sk, 3) for sk in sks}
            first = not lanes & first_call_lanes
            first_call_lanes.update(lanes)
        if first:
            barrier.wait()  # every lane's first batch is in the function at the same time
        with lock:
            for r in event["Records"]:
                seen.setdefault(sk_of(r), []).append(int(r["dynamodb"]["NewImage"]["n"]["N"]))
            busy.difference_update(sks)

    calls.append(downloader)
    # WHEN the stream is polled until it goes quiet
    passes = 0
    while runtime.poll_stream():
        passes += 1
        assert passes < 20
    # THEN the lanes ran at once (the barrier opened), every change arrived once and each file's in order
    assert not barrier.broken and len(lanes_used) > 1
    assert seen == {sk: [0, 1, 2] for sk in files}
    # ... and no file was ever in two batches at once
    assert overlaps == []
    # ... one invocation per lane for the one read
    assert runtime.stats()["downloader"]["invocations"] == len(lanes_used)


def test_the_checkpoint_waits_for_the_first_unfinished_record_of_any_lane(
    account: Any, tmp_path: Path
) -> None:
    # GIVEN a factor of 2, one file per lane, written b, a, b, b: the second record (file a) is the
    # first of its lane
    config, runtime, calls = lab(account, tmp_path, factor=2)
    a, b = next(
        (x, y) for x in ("a0", "a1", "a2", "a3") for y in ("b0", "b1", "b2", "b3") if lane(x, 2) != lane(y, 2)
    )
    for n, sk in enumerate([b, a, b, b]):
        write(account, config, sk, n)
    delivered: list[tuple[str, int]] = []
    lock = threading.Lock()

    def downloader(event: dict[str, Any]) -> None:
        with lock:
            delivered.extend((sk_of(r), int(r["dynamodb"]["NewImage"]["n"]["N"])) for r in event["Records"])
        if any(sk_of(r) == a for r in event["Records"]) and not restarted.is_set():
            runtime.stop()  # the runtime stops while file a's batch waits for its retry
            raise RuntimeError("file a fails")

    restarted = threading.Event()
    calls.append(downloader)
    # WHEN one pass runs: lane b finishes all three of its records, lane a stops mid-retry
    runtime.poll_stream()
    assert sorted(delivered) == sorted([(b, 0), (a, 1), (b, 2), (b, 3)])
    # AND the runtime starts again
    delivered.clear()
    restarted.set()
    runtime.start()
    try:
        assert runtime.drain(HANG_S)
    finally:
        runtime.stop()
    # THEN it reads again from file a's record: b's first record (before it) is not delivered again,
    # b's later ones are (at least once, as on Lambda), and a's comes again
    assert sorted(delivered) == sorted([(a, 1), (b, 2), (b, 3)])


@pytest.mark.parametrize("factor", [0, 11])
def test_a_factor_lambda_refuses_is_refused_with_its_range(factor: int) -> None:
    from labkit.errors import ConfigError

    with pytest.raises(ConfigError, match="1 to 10"):
        load_config(env={}, stream_parallelization_factor=factor)
