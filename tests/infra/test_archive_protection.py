"""The archive survives a config change (issue 18 item 1), asserted on what the lab stack declares under mocks.

Turning Object Lock on later (objectLockDays 0 -> N, or a retention preset) must not touch any input of the
resources that hold the backups: the provider marks ``object_lock_enabled`` on a Bucket as forcing a new
resource, so a bucket that declares it would be replaced under the same name (update fails, or the old bucket
and every backup in it are force-deleted). Identical inputs mean no diff at all, hence no replace, whatever
the provider's schema says. Those resources are also protected (and retained if ever deleted) unless the
explicit lab-teardown setting ``labTeardown`` is on.
"""

from __future__ import annotations

import pytest
from pulumi_harness import LAB_DIR, LAB_PROJECT, ProgramRun, ecr_outputs, lab_config, run_program

BUCKET = ("aws:s3/bucket:Bucket", "backups")
TABLE = ("aws:dynamodb/table:Table", "log-files")
BACKUP_KEY = ("aws:kms/key:Key", "backup-key")
ARCHIVE = (BUCKET, TABLE, BACKUP_KEY)  # what holds the backups, their state, and the key that opens them
LOCK = ("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "backups-object-lock")
VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning", "backups-versioning")


def run(**config: str) -> ProgramRun:
    return run_program(LAB_DIR, LAB_PROJECT, lab_config(**config), ecr_outputs())


@pytest.fixture(scope="module")
def unlocked() -> ProgramRun:
    return run(objectLockDays="0")


@pytest.mark.parametrize(
    "later",
    [
        {"objectLockDays": "30"},
        {"objectLockDays": "400", "backupExpirationDays": "0", "objectLockMode": "COMPLIANCE"},
        {"retentionPreset": "pci-dss"},
        {"retentionPreset": "sox-7y"},
    ],
    ids=["30-days", "400-days-compliance", "pci-dss", "sox-7y"],
)
def test_turning_object_lock_on_later_changes_nothing_that_holds_the_backups(
    unlocked: ProgramRun, later: dict[str, str]
) -> None:
    # GIVEN the lab deployed without Object Lock  WHEN the lock settings change
    locked = run(**later)
    # THEN the bucket, the tracking table and the backup key are declared exactly as before (no diff, no
    # replace), with the same options, and the lock arrives as its own resource once versioning is on
    for key in ARCHIVE:
        assert locked.one(*key) == unlocked.one(*key), key
        assert locked.options[key] == unlocked.options[key], key
    assert "objectLockEnabled" not in locked.one(*BUCKET)  # the provider replaces a bucket when it changes
    lock = locked.options[LOCK]
    versioning_urn = next(u for u in lock["dependencies"] if u.endswith("::backups-versioning"))
    assert versioning_urn  # PutObjectLockConfiguration needs versioning enabled first
    assert LOCK not in {key for key in unlocked.resources}


def test_the_archive_is_protected_retained_and_never_force_destroyed_by_default(unlocked: ProgramRun) -> None:
    for key in ARCHIVE:
        assert unlocked.options[key]["protect"] is True, key
        assert unlocked.options[key]["retainOnDelete"] is True, key
        assert unlocked.options[key]["replaceOnChanges"] == [], key
    assert unlocked.one(*BUCKET).get("forceDestroy") is not True
    assert unlocked.one(*TABLE)["deletionProtectionEnabled"] is True
    # a backup key scheduled for deletion by mistake can be cancelled for the longest window KMS allows
    assert unlocked.one(*BACKUP_KEY)["deletionWindowInDays"] == 30


def test_lab_teardown_unprotects_the_archive_and_lets_destroy_empty_the_bucket() -> None:
    # GIVEN labTeardown on (then `pulumi up`, then `labkit destroy --target aws`)
    teardown = run(labTeardown="true")
    for key in ARCHIVE:
        assert teardown.options[key]["protect"] is False, key
        assert teardown.options[key]["retainOnDelete"] is False, key
    assert teardown.one(*BUCKET)["forceDestroy"] is True
    assert teardown.one(*TABLE)["deletionProtectionEnabled"] is False
    # ... and still no replace-forcing change on the bucket: the teardown `pulumi up` updates in place
    assert teardown.one(*BUCKET)["bucket"] == run().one(*BUCKET)["bucket"]
    assert "objectLockEnabled" not in teardown.one(*BUCKET)


def test_the_old_force_destroy_key_is_refused_with_the_setting_that_replaced_it() -> None:
    with pytest.raises(ValueError, match="labTeardown"):
        run(forceDestroyBucket="true")
