"""Retention presets named after what auditors ask: one `retentionPreset` key sets Object Lock's default
retention and the lifecycle so they agree (nothing expires while locked; PCI's latest 3 months stay
immediately available). Asserted on what the lab stack declares under mocks."""

from __future__ import annotations

import pytest
from pulumi_harness import LAB_DIR, LAB_PROJECT, ProgramRun, ecr_outputs, lab_config, run_program

LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
IMMEDIATE = {"STANDARD", "STANDARD_IA", "GLACIER_IR"}  # readable without a restore


def run(**config: str) -> ProgramRun:
    return run_program(LAB_DIR, LAB_PROJECT, lab_config(**config), ecr_outputs())


def lock_and_rule(run_: ProgramRun) -> tuple[dict, dict]:
    (rule,) = run_.one(LIFECYCLE, "backups-lifecycle")["rules"]
    return run_.one(LOCK, "backups-object-lock")["rule"]["defaultRetention"], rule


@pytest.mark.parametrize(
    ("preset", "days", "archive"),
    [
        ("pci-dss", 365, (90, "GLACIER")),
        ("hipaa-6y", 2192, (365, "DEEP_ARCHIVE")),
        ("sox-7y", 2557, (365, "DEEP_ARCHIVE")),
    ],
)
def test_a_preset_locks_and_expires_the_backups_on_the_same_day(
    preset: str, days: int, archive: tuple[int, str]
) -> None:
    stack = run(retentionPreset=preset)
    # Object Lock from its own resource, never the bucket's replace-forcing flag (issue 18 item 1)
    assert "objectLockEnabled" not in stack.one("aws:s3/bucket:Bucket", "backups")
    lock, rule = lock_and_rule(stack)
    assert lock == {"mode": "GOVERNANCE", "days": days}
    assert rule["expiration"]["days"] == days  # never a delete marker on a still-locked object
    assert rule["filter"]["prefix"] == "audit-logs/"  # parts and manifests (audit-logs/manifests/) alike
    assert [(t["days"], t["storageClass"]) for t in rule["transitions"]] == [(30, "STANDARD_IA"), archive]


def test_pci_dss_keeps_the_latest_three_months_immediately_available() -> None:
    _, rule = lock_and_rule(run(retentionPreset="pci-dss"))
    for transition in rule["transitions"]:
        assert transition["storageClass"] in IMMEDIATE or transition["days"] >= 90


def test_a_preset_keeps_the_lock_mode_a_choice() -> None:
    lock, _ = lock_and_rule(run(retentionPreset="sox-7y", objectLockMode="COMPLIANCE"))
    assert lock == {"mode": "COMPLIANCE", "days": 2557}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"retentionPreset": "gdpr"}, "pci-dss, hipaa-6y, sox-7y"),
        ({"retentionPreset": "pci-dss", "objectLockDays": "30"}, "objectLockDays"),
        ({"objectLockDays": "400", "backupExpirationDays": "365"}, "must not come before objectLockDays"),
    ],
)
def test_retention_that_would_contradict_itself_fails_before_deploying(config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run(**config)


def test_without_a_preset_the_archive_class_stays_glacier_instant_retrieval() -> None:
    stack = run(objectLockDays="365")
    lock, rule = lock_and_rule(stack)
    assert lock["days"] == 365 and rule["expiration"]["days"] == 365
    assert rule["transitions"][-1] == {"days": 90, "storageClass": "GLACIER_IR"}


@pytest.mark.parametrize(
    ("preset", "readable_days"),
    [(None, None), ("pci-dss", 90), ("hipaa-6y", 365), ("sox-7y", 365)],
)
def test_where_a_preset_leaves_athena_behind_it_says_so_when_it_is_chosen(
    caplog: pytest.LogCaptureFixture, lab_modules: None, preset: str | None, readable_days: int | None
) -> None:
    # GIVEN a preset whose archive class Athena cannot read without a restore (GLACIER, DEEP_ARCHIVE)
    # (issue 18 item 7)
    with caplog.at_level("WARNING"):
        run(**({"retentionPreset": preset} if preset else {}))
    import settings  # the program's own module, as this run imported it

    retention = settings.RETENTION_PRESETS[preset] if preset else settings.BackupRetention()
    # THEN the retention knows how long a part stays queryable, and deploying says so out loud
    assert retention.athena_readable_days == readable_days
    warned = [r.getMessage() for r in caplog.records if "Athena" in r.getMessage()]
    if readable_days is None:
        assert warned == []
    else:
        (message,) = warned
        assert f"after {readable_days} days" in message and "restore" in message
