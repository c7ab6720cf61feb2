"""A lab snapshot that cannot be read stops the restore with an error naming the file and the way out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labkit.config import load_config
from labkit.local.snapshot import FORMAT, LabSnapshot, SnapshotError, snapshot_file


def _snapshot(tmp_path: Path, url: str) -> LabSnapshot:
    config = load_config(env={}, state_dir=tmp_path / "lab", endpoint_url=url)
    snapshot_file(config).parent.mkdir(parents=True)
    return LabSnapshot(config, dict)


@pytest.mark.parametrize("text", ["{not json", json.dumps({"format": "something else"})])
def test_an_unreadable_snapshot_is_an_error_naming_the_file_and_fresh(tmp_path: Path, account, text) -> None:  # type: ignore[no-untyped-def]
    snapshot = _snapshot(tmp_path, account.url)
    snapshot_file(snapshot.config).write_text(text)
    with pytest.raises(SnapshotError) as raised:
        snapshot.restore()
    assert str(snapshot_file(snapshot.config)) in str(raised.value)
    assert "labkit local up --fresh" in str(raised.value)
    assert snapshot_file(snapshot.config).read_text() == text  # never silently dropped


def test_a_missing_object_body_is_an_error_naming_the_blob(tmp_path: Path, account) -> None:  # type: ignore[no-untyped-def]
    snapshot = _snapshot(tmp_path, account.url)
    version = {
        "version_id": "v1",
        "is_versioned": True,
        "etag": "e",
        "last_modified": "2026-12-07T00:00:00",
        "size": 1,
        "sha256": "0" * 64,
        "metadata": {},
        "storage_class": "STANDARD",
    }
    document = {
        "format": FORMAT,
        "taken_at": 0,
        "tables": {},
        "buckets": {
            "snapshot-test-bucket": {
                "versioning": "Enabled",
                "objects": [{"key": "k", "versions": [version]}],
            }
        },
    }
    snapshot_file(snapshot.config).write_text(json.dumps(document))
    with pytest.raises(SnapshotError, match=r"0{64} is missing"):
        snapshot.restore()
