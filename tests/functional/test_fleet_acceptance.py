"""Acceptance (issue 17): a synthetic fleet of 5 Aurora instances under the emulator's aws RDS profile (its token
bucket, call latency and page rates), backed up by the real pipeline: the scanner, detector and downloader
handlers driven by the local runtime from the schedule, the queue and the table's stream, with the emulator's
deletion events. Correctness only: nothing LOST or FAILED, S3 holds every source byte of every file (those
retention deleted included), the emulator's budget admitted no more calls than its bucket allows, and the
pipeline's own RDS budget (labkit.backup.rdsbudget) held in every window.

No timing is asserted: the waits are on conditions with generous bounds. Retention is applied once the backup
has caught up, so the deletions it raises cannot outrun the copies on a slow machine (a race the bench, not a
test, measures). Nothing is faked but AWS itself (moto's server and the emulator's RDS, over HTTP)."""

from __future__ import annotations

import gzip
import hashlib
import uuid
from pathlib import Path
from typing import Any

import pytest

from labkit import aws
from labkit.backup.layout import PartKey, part_number
from labkit.local.fleet import FleetSpec
from labkit.local.fleet_lab import FleetPipeline
from tests.support.lab_service import wait_for

pytestmark = pytest.mark.slow  # about half a minute of real time: left out of make check, in make test

WAIT_S = 240.0  # generous: what is asserted is "caught up", never "within N seconds"


def stored(lab: FleetPipeline, item: dict[str, Any]) -> bytes:
    """Every byte S3 holds under an item's identity, its parts in order."""
    s3 = aws.client("s3", lab.config)
    prefix = PartKey(
        lab.config.log_prefix, item["cluster_id"], item["pk"], item["date"], item["sk"]
    ).file_prefix
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=lab.config.names.bucket, Prefix=prefix
        )
        for o in page.get("Contents", [])
    ]
    bodies = (
        s3.get_object(Bucket=lab.config.names.bucket, Key=k)["Body"].read()
        for k in sorted(keys, key=part_number)
    )
    return b"".join(gzip.decompress(body) for body in bodies)


def caught_up(lab: FleetPipeline) -> bool:
    """Every file on every instance is in the table with all its bytes copied, and its end is known: sealed,
    all but the newest of each instance (the detector never seals that one). Only then is a deletion's outcome
    the same whichever comes first, the deletion event or the next scan: an unsealed file that vanishes is
    LOST with a lower bound when the scan sees it first (README, "The promise")."""
    assert lab.fleet is not None
    items = {(i["pk"], i["sk"]): i for i in lab.items()}
    files = [(instance_id, f) for instance_id, audit in lab.fleet.audit.items() for f in audit.files()]
    if not all(
        int(items.get((instance_id, f.name), {}).get("copied_bytes", -1)) == f.size
        for instance_id, f in files
    ):
        return False
    unsealed = [key for key in items if not items[key].get("sealed")]
    return all(sum(1 for pk, _ in unsealed if pk == instance_id) <= 1 for instance_id in lab.fleet.audit)


def test_a_five_instance_fleet_under_the_aws_profile_is_backed_up_whole_within_the_budget(
    tmp_path: Path,
) -> None:
    run = uuid.uuid4().hex[:8]
    # GIVEN 5 instances in 2 clusters writing 40 KB/s in all (one busy), four files each, rotating at 60 KB and
    # every 10 s, and the pipeline scanning every 3 s under the aws RDS profile (300 burst, 12/s)
    spec = FleetSpec(
        5,
        40_000.0,
        clusters=2,
        rotate_bytes=60_000,
        rotate_period_s=10.0,
        retention_s=0.0,
        retention_files=0,
        probe_interval_s=2.0,
        prefix=f"acc{run[:4]}",
        run_id=run,
    )
    settings = {
        "project": f"fleet-{run}",
        "rds_profile": "aws",
        "scan_interval_s": 3.0,
        "seal_after_s": 2.0,
    }
    with FleetPipeline(spec, tmp_path, settings) as lab:
        assert lab.fleet is not None
        # WHEN the fleet writes until its files rotated by size and by period (about 15 s), then stops
        wait_for("20 rotations", lambda: lab.fleet.rotations >= 20, WAIT_S, poll_s=0.5)  # type: ignore[union-attr]
        lab.fleet.stop()
        # AND the backup catches up, then retention keeps 6 files per instance (deletion events follow)
        wait_for("every file copied and sealed", lambda: caught_up(lab), WAIT_S, poll_s=1.0)
        lab.fleet.apply_retention(retention_files=6)
        deleted = {(d.instance_id, d.name): d for d in lab.fleet.deleted}
        assert len(deleted) >= 10 and None not in {name for _, name in deleted}

        def settled() -> dict[tuple[str, str], dict[str, Any]] | None:
            items = {(i["pk"], i["sk"]): i for i in lab.items()}
            done = all("vanished_at" in items.get(key, {}) for key in deleted)
            return items if done else None

        items = wait_for("the deletions recorded", settled, WAIT_S, poll_s=1.0)
        # THEN nothing is LOST or FAILED: every deleted file was BACKED_UP before it went
        states = {key: item["state"] for key, item in items.items()}
        bad = {key: item for key, item in items.items() if item["state"] not in ("BACKED_UP", "PARTIAL")}
        assert not bad, bad
        assert all(states[key] == "BACKED_UP" for key in deleted)
        progress = lab.progress()
        assert (progress.lost_files, progress.failed_files, progress.lost) == (0, 0, 0)
        assert progress.copied == progress.produced == lab.fleet.produced
        # AND S3 holds each file's exact bytes: the deleted ones as the ledger hashed them, the rest as on disk
        on_disk = {
            (instance_id, f.name): f.path.read_bytes()
            for instance_id, audit in lab.fleet.audit.items()
            for f in audit.files()
        }
        assert set(items) == set(on_disk) | set(deleted)
        for key, item in items.items():
            data = stored(lab, item)
            if key in deleted:
                assert (len(data), hashlib.sha256(data).hexdigest()) == (
                    deleted[key].size,
                    deleted[key].sha256,
                )
            else:
                assert data == on_disk[key], key
        # AND the budget held: the calls the emulator served, counted by action, are the ones its bucket
        # admitted, and no more than 300 + 12/s x the bucket's age
        calls = lab.rds_calls()
        [usage] = calls["budget"].values()
        assert calls["charged"] == usage["admitted"] <= usage["allowed"]
        assert calls["by_action"].get("DescribeDBLogFiles", 0) > 0
        # AND the pipeline's own budget (10/s under the aws profile) held across all its invocations: no
        # window of its table took more, and every RDS request of the pipeline the emulator charged took a
        # token there (the fleet's set-up lists clusters once, outside the pipeline: the pipeline never calls
        # DescribeDBClusters; a request in flight has its token already, so >=)
        assert lab.config.rds_budget_per_s == 10.0
        dynamodb = aws.client("dynamodb", lab.config)
        pages = dynamodb.get_paginator("scan").paginate(TableName=lab.config.names.budget)
        windows = [
            int(i["n"]["N"]) for page in pages for i in page["Items"] if i["pk"]["S"].startswith("rds#")
        ]
        assert windows and max(windows) <= 10
        assert sum(windows) >= calls["charged"] - calls["by_action"].get("DescribeDBClusters", 0)
