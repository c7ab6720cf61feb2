"""Everything the lab stack reads, in one place: Pulumi stack config plus labkit's LabConfig.

Names and pipeline settings come from labkit.config (the local target uses the same object); the stack
config adds only what exists on AWS alone (image tags, sizes, retention of the backups, network range).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

import pulumi

from labkit.alarms import DEFAULT_LAG_THRESHOLD_S
from labkit.config import LabConfig, ResourceNames, load_config
from labkit.resources import FUNCTION_KEYS

ECR_PROJECT = "aurora-log-backup-lab-ecr"
WORLD_CIDRS = ("0.0.0.0/0", "::/0")

# LabConfig's "pipeline settings" block starts here; the Lambdas get all of it as LABKIT_* variables.
FIRST_PIPELINE_FIELD = "engines"


def pipeline_fields() -> list[str]:
    names = [f.name for f in dataclasses.fields(LabConfig)]
    return names[names.index(FIRST_PIPELINE_FIELD) :]


ARCHIVE_CLASSES = ("GLACIER_IR", "GLACIER", "DEEP_ARCHIVE")
# Athena reads objects in these without a restore; it does not read GLACIER (Flexible Retrieval) or
# DEEP_ARCHIVE objects, so parts moved there drop out of `labkit query --target aws` until restored.
INSTANT_CLASSES = ("STANDARD", "STANDARD_IA", "GLACIER_IR")

# Pinned, never the Region's default: that default may move to Aurora MySQL 8.4 ("Aurora MySQL version 8.4
# is the latest major version"), whose cluster parameter group family differs. 3.10 is an Aurora MySQL 3 LTS
# release ("This version is designated as a long-term support (LTS) release": Aurora MySQL release notes,
# "Aurora MySQL database engine updates 2025-07-31 (version 3.10.0)"; 3.10.1 of 2025-09-30 is its latest
# patch in "Database engine updates for Amazon Aurora MySQL version 3"; the current LTS lines are 3.10.* and
# 3.04.*, Aurora User Guide "Aurora MySQL long-term support (LTS) releases").
DEFAULT_AURORA_ENGINE_VERSION = "8.0.mysql_aurora.3.10.1"
# Engine version forms (Aurora User Guide, "Checking or specifying Aurora MySQL engine versions"):
# Aurora MySQL 3 is <mysql-major>.mysql_aurora.<3.minor.patch>, e.g. 8.0.mysql_aurora.3.02.0 (a beta
# may add a fourth part, 3.05.0.1); Aurora MySQL 8.4 is <major>.<minor>, e.g. 8.4.7 ("Aurora MySQL version 8.4
# compatible with MySQL 8.4"). The family name aurora-mysql8.4 follows aurora-mysql8.0's pattern; the docs at
# hand do not spell it out: `aws rds describe-db-engine-versions --engine aurora-mysql --query
# "DBEngineVersions[].DBParameterGroupFamily"` confirms it.
_ENGINE_FAMILIES = (
    (re.compile(r"8\.0\.mysql_aurora\.3\.\d{2}\.\d+(\.\d+)?"), "aurora-mysql8.0"),
    (re.compile(r"8\.4\.\d+"), "aurora-mysql8.4"),
)


def parameter_group_family(engine_version: str) -> str:
    """The cluster parameter group family an Aurora MySQL engine version needs (they must agree, or
    CreateDBCluster fails)."""
    for pattern, family in _ENGINE_FAMILIES:
        if pattern.fullmatch(engine_version):
            return family
    raise ValueError(
        f"auroraEngineVersion {engine_version!r}: not a form this stack knows. Use an Aurora MySQL 3 version, "
        "8.0.mysql_aurora.3.MM.P (parameter group family aurora-mysql8.0; "
        f"default {DEFAULT_AURORA_ENGINE_VERSION}), or an Aurora MySQL 8.4 one, 8.4.N (family aurora-mysql8.4); "
        "`aws rds describe-db-engine-versions --engine aurora-mysql` lists the versions of your Region"
    )


@dataclass(frozen=True)
class BackupRetention:
    """S3 lifecycle of the backups (parts and manifests alike, one bucket default): colder storage, then
    expiry (0 days = never), and Object Lock's default retention."""

    infrequent_access_days: int = 30
    glacier_ir_days: int = 90  # the archive transition (0: none); its class is archive_class
    expiration_days: int = 365
    noncurrent_expiration_days: int = 30
    object_lock_days: int = 0  # 0: no Object Lock; otherwise the default WORM retention
    object_lock_mode: str = "GOVERNANCE"
    archive_class: str = "GLACIER_IR"  # GLACIER_IR is still immediately available; the others need a restore

    @property
    def athena_readable_days(self) -> int | None:
        """Days a part stays queryable by Athena without a restore: until the archive transition when the
        archive class is GLACIER or DEEP_ARCHIVE, else for its whole life (None)."""
        if self.glacier_ir_days and self.archive_class not in INSTANT_CLASSES:
            return self.glacier_ir_days
        return None

    def validate(self) -> None:
        if self.infrequent_access_days < 30:
            raise ValueError("backupInfrequentAccessDays: S3 needs at least 30 days before STANDARD_IA")
        if self.glacier_ir_days and self.glacier_ir_days < self.infrequent_access_days + 30:
            raise ValueError("backupGlacierIrDays: at least 30 days after the STANDARD_IA transition")
        colder = max(self.infrequent_access_days, self.glacier_ir_days)
        if self.expiration_days and self.expiration_days <= colder:
            raise ValueError("backupExpirationDays must come after the last storage-class transition")
        if self.object_lock_mode not in ("GOVERNANCE", "COMPLIANCE"):
            raise ValueError("objectLockMode: GOVERNANCE or COMPLIANCE")
        if self.archive_class not in ARCHIVE_CLASSES:
            raise ValueError(f"the archive class must be one of {', '.join(ARCHIVE_CLASSES)}")
        if self.object_lock_days and self.expiration_days and self.expiration_days < self.object_lock_days:
            # expiry puts a delete marker on a locked object: it vanishes from reads before its lock ends
            raise ValueError(
                f"backupExpirationDays ({self.expiration_days}) must not come before objectLockDays "
                f"({self.object_lock_days}): set both, or use a retentionPreset"
            )


# What auditors ask, as Object Lock + lifecycle that agree. Days cover leap years (6 y = 6 x 365 + 2).
# The presets archive to GLACIER or DEEP_ARCHIVE, which Athena does not read: older parts drop out of the
# archive queries (pci-dss after 90 days, hipaa-6y and sox-7y after 365) until restored; `labkit verify
# --manifests` says the same of them. Deploying with one logs that warning (see athena_readable_days). For
# queries over the whole retention, set the keys yourself: the archive class stays GLACIER_IR.
RETENTION_PRESETS: dict[str, BackupRetention] = {
    # PCI DSS v4.0.1 10.5.1: 12 months of audit logs, the latest 3 immediately available; older may be archived
    "pci-dss": BackupRetention(
        infrequent_access_days=30,
        glacier_ir_days=90,
        archive_class="GLACIER",
        expiration_days=365,
        object_lock_days=365,
    ),
    # HIPAA documentation: 6 years; the last year instantly readable, then the cheapest archive
    "hipaa-6y": BackupRetention(
        infrequent_access_days=30,
        glacier_ir_days=365,
        archive_class="DEEP_ARCHIVE",
        expiration_days=6 * 365 + 2,
        object_lock_days=6 * 365 + 2,
    ),
    # SOX convention: 7 years, likewise
    "sox-7y": BackupRetention(
        infrequent_access_days=30,
        glacier_ir_days=365,
        archive_class="DEEP_ARCHIVE",
        expiration_days=7 * 365 + 2,
        object_lock_days=7 * 365 + 2,
    ),
}
_PRESET_KEYS = (
    "backupInfrequentAccessDays",
    "backupGlacierIrDays",
    "backupExpirationDays",
    "objectLockDays",
)


def read_retention(config: pulumi.Config) -> BackupRetention:
    """``retentionPreset`` sets Object Lock and lifecycle together (objectLockMode stays a choice: GOVERNANCE
    by default, so a lab can still be torn down; COMPLIANCE when nobody, root included, may shorten it);
    without a preset, each key on its own. A preset's archive class is GLACIER or DEEP_ARCHIVE: Athena
    stops reading a part at its archive transition (warned at deploy)."""
    mode = config.get("objectLockMode") or "GOVERNANCE"
    preset = config.get("retentionPreset")
    if preset is not None:
        if preset not in RETENTION_PRESETS:
            raise ValueError(f"retentionPreset {preset!r}: one of {', '.join(RETENTION_PRESETS)}")
        clashing = [key for key in _PRESET_KEYS if config.get(key) is not None]
        if clashing:
            raise ValueError(
                f"retentionPreset {preset} sets {', '.join(clashing)}: remove those keys, or the preset"
            )
        retention = dataclasses.replace(
            RETENTION_PRESETS[preset],
            object_lock_mode=mode,
            noncurrent_expiration_days=config.get_int("backupNoncurrentExpirationDays", 30),
        )
        if retention.athena_readable_days is not None:
            pulumi.log.warn(
                f"retentionPreset {preset}: parts move to {retention.archive_class} after "
                f"{retention.athena_readable_days} days, which Athena does not read; queries see only the "
                "newer parts until older ones are restored (keys set without a preset keep GLACIER_IR)"
            )
        return retention
    return BackupRetention(
        infrequent_access_days=config.get_int("backupInfrequentAccessDays", 30),
        glacier_ir_days=config.get_int("backupGlacierIrDays", 90),
        expiration_days=config.get_int("backupExpirationDays", 365),
        noncurrent_expiration_days=config.get_int("backupNoncurrentExpirationDays", 30),
        object_lock_days=config.get_int("objectLockDays", 0),
        object_lock_mode=mode,
    )


@dataclass(frozen=True)
class StackSettings:
    lab: LabConfig
    ecr_stack: str
    image_tags: dict[str, str]
    live_versions: dict[str, str | None]
    vpc_cidr: str = "10.60.0.0/16"
    retention: BackupRetention = field(default_factory=BackupRetention)
    # labTeardown: the one switch that lets `pulumi destroy` (labkit destroy --target aws) delete the archive.
    # Off: the backup bucket, tracking table and backup key are protected and retained, the bucket is never
    # force-destroyed. On (then `pulumi up`, which records it): unprotected, the bucket emptied on destroy
    # (COMPLIANCE-locked objects only once their days are over).
    lab_teardown: bool = False
    log_retention_days: int = 14  # every CloudWatch log group the stack creates
    # auditLogsToCloudWatch: also publish the cluster's audit log to CloudWatch Logs (RDS export "audit"),
    # which Security Hub control RDS.34 and the Config rule rds-aurora-mysql-audit-logging-enabled check for.
    # Off by default: the backups in S3 are the record, the export costs CloudWatch ingestion (README,
    # "Security Hub RDS.34"; notebook 80 prices it).
    audit_logs_to_cloudwatch: bool = False
    aurora_engine_version: str = DEFAULT_AURORA_ENGINE_VERSION
    aurora_instance_class: str = "db.t4g.medium"
    test_host_instance_type: str = "t3.small"
    test_host_key_name: str | None = None
    test_host_ssh_cidr: str | None = None
    alarm_email: str | None = None  # subscribed to the alarm topic (confirm the mail AWS sends)
    backup_lag_alarm_s: float = DEFAULT_LAG_THRESHOLD_S

    @property
    def names(self) -> ResourceNames:
        return self.lab.names

    @property
    def aurora_parameter_group_family(self) -> str:
        return parameter_group_family(self.aurora_engine_version)

    @property
    def ssm_prefix(self) -> str:
        return f"/{self.lab.project}/aurora"

    def validate(self) -> None:
        self.retention.validate()
        parameter_group_family(self.aurora_engine_version)
        network = ipaddress.ip_network(self.vpc_cidr)
        if network.prefixlen > 20:
            raise ValueError(f"vpcCidr {self.vpc_cidr}: needs at least a /20 for four /24 subnets")
        if self.test_host_ssh_cidr is not None:
            ssh = ipaddress.ip_network(self.test_host_ssh_cidr, strict=False)
            if ssh.prefixlen == 0 or str(ssh) in WORLD_CIDRS:
                raise ValueError("testHostSshCidr must not open SSH to the world; use SSM Session Manager")
        if self.alarm_email is not None and "@" not in self.alarm_email:
            raise ValueError(
                f"alarmEmail {self.alarm_email!r}: an e-mail address, or unset for no subscription"
            )
        if self.backup_lag_alarm_s <= 0:
            raise ValueError("backupLagAlarmSeconds must be positive")


def read_settings(config: pulumi.Config, region: str, account_id: str) -> StackSettings:
    """Read the stack config once (called from __main__); ``region`` and ``account_id`` are the AWS
    provider's, so the backup bucket is named for the account and Region it is created in."""
    lab = load_config(
        target="aws",
        region=region,
        account_id=account_id,
        project=config.get("labProject"),
        bucket=config.get("backupBucket"),  # optional override of <project>-backups-<account>-<region>
        audit_events=config.get("auditEvents"),
    )
    if config.get("forceDestroyBucket") is not None:
        raise ValueError(
            "forceDestroyBucket is gone: the archive is protected unless labTeardown is true "
            "(`pulumi config set labTeardown true`, `pulumi up`, then `labkit destroy --target aws`)"
        )
    missing = [key for key in FUNCTION_KEYS if not config.get(f"{key}ImageTag")]
    if missing:
        raise ValueError(
            f"no image tag for {', '.join(missing)}: push images first with "
            "`make build-and-push-versioned VERSION=v1.0.0` (it sets <function>ImageTag in this stack)"
        )
    settings = StackSettings(
        lab=lab,
        ecr_stack=config.get("ecrStack")
        or f"{pulumi.get_organization() or 'organization'}/{ECR_PROJECT}/{pulumi.get_stack()}",
        image_tags={key: config.require(f"{key}ImageTag") for key in FUNCTION_KEYS},
        live_versions={key: config.get(f"{key}LiveVersion") for key in FUNCTION_KEYS},
        vpc_cidr=config.get("vpcCidr") or "10.60.0.0/16",
        retention=read_retention(config),
        lab_teardown=config.get_bool("labTeardown", False),
        log_retention_days=config.get_int("logRetentionDays", 14),
        audit_logs_to_cloudwatch=config.get_bool("auditLogsToCloudWatch", False),
        aurora_engine_version=_configured(config, "auroraEngineVersion", DEFAULT_AURORA_ENGINE_VERSION),
        aurora_instance_class=config.get("auroraInstanceClass") or "db.t4g.medium",
        test_host_instance_type=config.get("testHostInstanceType") or "t3.small",
        test_host_key_name=config.get("testHostKeyName"),
        test_host_ssh_cidr=config.get("testHostSshCidr"),
        alarm_email=config.get("alarmEmail"),
        backup_lag_alarm_s=config.get_float("backupLagAlarmSeconds", DEFAULT_LAG_THRESHOLD_S),
    )
    settings.validate()
    return settings


def _configured(config: pulumi.Config, key: str, default: str) -> str:
    """The key's value if it is set at all (an empty string too, so validation can refuse it)."""
    value = config.get(key)
    return default if value is None else value


def lambda_environment(
    lab: LabConfig, function_key: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """LABKIT_* variables that make ``load_config()`` inside a handler equal to this stack's config."""
    env: dict[str, Any] = {
        "LABKIT_TARGET": "aws",
        "LABKIT_PROJECT": lab.project,
        "LABKIT_REGION": lab.region,
        "LABKIT_ACCOUNT_ID": lab.account,
        "LABKIT_BUCKET": lab.names.bucket,  # the name the stack created, whatever decided it
    }
    for name in pipeline_fields():
        env[f"LABKIT_{name.upper()}"] = str(getattr(lab, name))
    env["POWERTOOLS_SERVICE_NAME"] = function_key
    env.update(extra or {})
    return env
