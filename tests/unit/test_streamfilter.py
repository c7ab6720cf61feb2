"""The stream filter criteria the stack and the local runtime share, and the matcher the runtime applies
(Lambda's event filtering rules, the subset used here). Also: part keys past five digits."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.backup.errors import BadInputError
from labkit.backup.layout import PartKey, part_number
from labkit.backup.streamfilter import (
    DOWNLOADER_FILTER_CRITERIA,
    downloader_filter_criteria,
    matches_criteria,
    matches_pattern,
)


def record(event: str = "MODIFY", writer: str | None = "detector", new_image: bool = True) -> dict[str, Any]:
    image: dict[str, Any] = {"pk": {"S": "db-1"}, "sk": {"S": "f"}, "size": {"N": "10"}}
    if writer is not None:
        image["writer"] = {"S": writer}
    body: dict[str, Any] = {"Keys": {"pk": {"S": "db-1"}, "sk": {"S": "f"}}, "SequenceNumber": "1"}
    if new_image:
        body["NewImage"] = image
    body["OldImage"] = {**image, "writer": {"S": "downloader"}}
    return {"eventName": event, "eventSource": "aws:dynamodb", "dynamodb": body}


@pytest.mark.parametrize(
    ("rec", "delivered"),
    [
        (record("INSERT", "detector"), True),
        (record("MODIFY", "detector"), True),
        (record("MODIFY", "downloader-continue"), True),
        (record("MODIFY", "downloader"), False),  # the downloader's own lease, commit, release
        (record("MODIFY", None), False),  # a write that names no writer
        (record("REMOVE", new_image=False), False),  # TTL expiry: nothing to copy
        (record("MODIFY", "DETECTOR"), False),  # values match exactly
    ],
)
def test_the_downloader_filter_passes_only_detector_writes_and_hand_overs(
    rec: dict[str, Any], delivered: bool
) -> None:
    assert matches_criteria(DOWNLOADER_FILTER_CRITERIA, rec) is delivered


def test_the_criteria_are_in_the_event_source_mapping_shape() -> None:
    assert set(DOWNLOADER_FILTER_CRITERIA) == {"Filters"}
    [entry] = DOWNLOADER_FILTER_CRITERIA["Filters"]
    assert isinstance(entry["Pattern"], str) and isinstance(json.loads(entry["Pattern"]), dict)
    copy = downloader_filter_criteria()
    copy["Filters"].clear()
    assert DOWNLOADER_FILTER_CRITERIA["Filters"]  # callers get a copy


def test_no_criteria_pass_everything_and_any_filter_may_match() -> None:
    assert matches_criteria(None, record(writer=None))
    assert matches_criteria({"Filters": []}, record(writer=None))
    two = {
        "Filters": [
            {"Pattern": json.dumps({"eventName": ["REMOVE"]})},
            {"Pattern": json.dumps({"eventName": ["INSERT"]})},
        ]
    }
    assert matches_criteria(two, record("INSERT")) and matches_criteria(two, record("REMOVE"))
    assert not matches_criteria(two, record("MODIFY"))


@pytest.mark.parametrize(
    ("pattern", "event", "matched"),
    [
        ({"a": [{"exists": True}]}, {"a": 1}, True),
        ({"a": [{"exists": True}]}, {"b": 1}, False),
        ({"a": [{"exists": False}]}, {"b": 1}, True),
        ({"a": [{"prefix": "det"}]}, {"a": "detector"}, True),
        ({"a": [{"prefix": "det"}]}, {"a": "downloader"}, False),
        ({"a": [{"anything-but": ["x"]}]}, {"a": "y"}, True),
        ({"a": [{"anything-but": ["x"]}]}, {"a": "x"}, False),
        ({"a": [{"anything-but": ["x"]}]}, {}, False),
        ({"a": ["x"]}, {"a": ["y", "x"]}, True),  # a list in the event: any element
        ({"a": [1]}, {"a": "1"}, False),  # types matter
        ({"a": {"b": ["x"]}}, {"a": "x"}, False),
    ],
)
def test_content_filters(pattern: dict[str, Any], event: dict[str, Any], matched: bool) -> None:
    assert matches_pattern(pattern, event) is matched


def test_an_unsupported_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        matches_pattern({"a": [{"numeric": [">", 1]}]}, {"a": 2})


@settings(max_examples=40, deadline=None)
@given(
    writer=st.one_of(st.none(), st.text(max_size=20)), event=st.sampled_from(["INSERT", "MODIFY", "REMOVE"])
)
def test_only_the_two_writer_values_ever_pass(writer: str | None, event: str) -> None:
    delivered = matches_criteria(
        DOWNLOADER_FILTER_CRITERIA, record(event, writer, new_image=event != "REMOVE")
    )
    assert delivered == (event != "REMOVE" and writer in ("detector", "downloader-continue"))


def test_part_numbers_keep_five_digits_and_grow_past_them() -> None:
    key = PartKey("p", "c-1", "db-1", "2026-12-04", "f")
    assert key.key(1).endswith(".part-00001.gz") and part_number(key.key(1)) == 1
    assert key.key(99_999).endswith(".part-99999.gz")
    assert key.key(123_456).endswith(".part-123456.gz") and part_number(key.key(123_456)) == 123_456
    assert part_number("p/x/f.part-00042.gz") == 42
    for bad in ("p/x/f.part-0042.gz", "p/x/f.part-.gz"):
        with pytest.raises(BadInputError):
            part_number(bad)
    with pytest.raises(BadInputError):
        key.key(0)
