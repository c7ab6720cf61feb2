"""A stream batch copied per file (labkit.handlers.by_file): files at once (bounded), one file in order, and
the partial batch response Lambda retries from. The record handler is a fake: the rules hold for any work."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from hypothesis import given
from hypothesis import strategies as st

from labkit.handlers.by_file import process_by_file

HANG_S = 30.0  # bounds a deadlock, never a speed


def record(seq: int, sk: str) -> dict[str, Any]:
    return {
        "eventName": "MODIFY",
        "dynamodb": {
            "SequenceNumber": str(1000 + seq),
            "Keys": {"pk": {"S": "db-1"}, "sk": {"S": sk}},
        },
    }


def batch(files: list[str]) -> dict[str, Any]:
    return {"Records": [record(n, sk) for n, sk in enumerate(files)]}


def sk_of(rec: Any) -> str:
    return str(rec.raw_event["dynamodb"]["Keys"]["sk"]["S"])


def test_different_files_are_copied_at_once_but_no_more_than_the_bound() -> None:
    # GIVEN three files in one batch and a bound of 2; the first two copies wait for each other
    barrier = threading.Barrier(2, timeout=HANG_S)
    lock = threading.Lock()
    active, peak = [0], [0]

    def handler(rec: Any) -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        if sk_of(rec) in ("a", "b"):
            barrier.wait()  # opens only if a and b are in the handler together
        with lock:
            active[0] -= 1

    # WHEN the batch is processed
    response = process_by_file(batch(["a", "b", "c"]), handler, concurrency=2)
    # THEN two files ran at once, never three, and nothing failed
    assert not barrier.broken
    assert peak[0] == 2
    assert response == {"batchItemFailures": []}


def test_a_failed_record_fails_its_files_later_records_unattempted_and_spares_other_files() -> None:
    # GIVEN a batch a, b, a, a, b where a's second record fails
    attempted: list[tuple[str, str]] = []
    lock = threading.Lock()

    def handler(rec: Any) -> None:
        seq = rec.raw_event["dynamodb"]["SequenceNumber"]
        with lock:
            attempted.append((sk_of(rec), seq))
        if seq == "1002":
            raise RuntimeError("copy failed")

    # WHEN it is processed with files at once
    response = process_by_file(batch(["a", "b", "a", "a", "b"]), handler, concurrency=4)
    # THEN a's third record was never attempted, and it is reported failed with the second
    assert ("a", "1003") not in attempted
    assert response == {"batchItemFailures": [{"itemIdentifier": "1002"}, {"itemIdentifier": "1003"}]}
    # ... and b's records all ran, in order
    assert [s for k, s in attempted if k == "b"] == ["1001", "1004"]


def test_a_batch_whose_every_record_failed_fails_whole_as_powertools_does() -> None:
    def handler(rec: Any) -> None:
        raise RuntimeError("down")

    with pytest.raises(BatchProcessingError, match="All records failed"):
        process_by_file(batch(["a", "b", "a"]), handler, concurrency=2)


@given(
    files=st.lists(st.sampled_from("abcde"), min_size=1, max_size=12),
    failing=st.sets(st.integers(0, 11)),
    concurrency=st.integers(1, 4),
)
def test_for_every_batch_each_file_runs_in_order_and_fails_from_its_first_failure_on(
    files: list[str], failing: set[int], concurrency: int
) -> None:
    attempted: dict[str, list[int]] = {}
    lock = threading.Lock()

    def handler(rec: Any) -> None:
        n = int(rec.raw_event["dynamodb"]["SequenceNumber"]) - 1000
        with lock:
            attempted.setdefault(sk_of(rec), []).append(n)
        if n in failing:
            raise RuntimeError("fails")

    try:
        response = process_by_file(batch(files), handler, concurrency=concurrency)
        reported = {int(f["itemIdentifier"]) - 1000 for f in response["batchItemFailures"]}
    except BatchProcessingError:
        reported = set(range(len(files)))
    for sk in set(files):
        mine = [n for n, f in enumerate(files) if f == sk]
        failed_at = next((i for i, n in enumerate(mine) if n in failing), None)
        # each file's records were attempted in order, up to and including its first failure
        assert attempted[sk] == (mine if failed_at is None else mine[: failed_at + 1])
        # ... and the file's reported failures are exactly that record and the ones after it
        assert {n for n in reported if files[n] == sk} == (
            set() if failed_at is None else set(mine[failed_at:])
        )


def _written(seq: int, sk: str, last_written: int | None) -> dict[str, Any]:
    rec = record(seq, sk)
    if last_written is not None:
        rec["dynamodb"]["NewImage"] = {"sk": {"S": sk}, "last_written": {"N": str(last_written)}}
    return rec


@given(
    st.lists(
        st.tuples(st.sampled_from("abcdef"), st.one_of(st.none(), st.integers(0, 10**13))),
        min_size=1,
        max_size=25,
    )
)
def test_files_start_oldest_first_and_each_file_keeps_its_order(
    rows: list[tuple[str, int | None]],
) -> None:
    # GIVEN a batch in any order, its records' images saying when each file was last written
    event = {"Records": [_written(n, sk, written) for n, (sk, written) in enumerate(rows)]}
    seen: list[tuple[str, str]] = []
    process_by_file(
        event,
        lambda rec: seen.append((sk_of(rec), rec.raw_event["dynamodb"]["SequenceNumber"])),
        concurrency=1,
    )
    # THEN one worker takes the files oldest first (no image: last), each file's records in sequence order
    oldest: dict[str, float] = {}
    for sk, written in rows:
        oldest.setdefault(sk, float("inf"))
        if written is not None:
            oldest[sk] = min(oldest[sk], written)
    started = list(dict.fromkeys(sk for sk, _ in seen))
    assert [oldest[sk] for sk in started] == sorted(oldest[sk] for sk in started)
    for sk in started:
        seqs = [int(seq) for s, seq in seen if s == sk]
        assert seqs == sorted(seqs)
    assert len(seen) == len(rows)
