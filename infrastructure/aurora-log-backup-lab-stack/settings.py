"""Everything the lab stack reads, in one place: Pulumi stack config plus labkit's LabConfig.

Names and pipeline settings come from labkit.config (the local target uses the same object); the stack
config adds only what exists on AWS alone (image tags, sizes, retention of the backups, network range).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field
from typing import Any

import pulumi

from labkit.alarms import DEFAULT_LAG_THRESHOLD_S
from labkit.config import LabConfig, ResourceNames, load_config

FUNCTION_KEYS: tuple[str, str, str] = ("scanner", "detector", "downloader")
ECR_PROJECT = "aurora-log-backup-lab-ecr"
WORLD_CIDRS = ("0.0.0.0/0", "::/0")

# LabConfig's "pipeline settings" block starts here; the Lambdas get all of it as LABKIT_* variables.
FIRST_PIPELINE_FIELD = "engines"


def pipeline_fields() -> list[str]:
    names = [f.name for f in dataclasses.fields(LabConfig)]
    return names[names.index(FIRST_PIPELINE_FIELD) :]


@dataclass(frozen=True)
class BackupRetention:
    """S3 lifecycle of the backups: colder storage, then expiry (0 days = never)."""

    infrequent_access_days: int = 30
    glacier_ir_days: int = 90
    expiration_days: int = 365
    noncurrent_expiration_days: int = 30
    object_lock_days: int = 0  # 0: no Object Lock; otherwise the default WORM retention
    object_lock_mode: str = "GOVERNANCE"

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


@dataclass(frozen=True)
class StackSettings:
    lab: LabConfig
    ecr_stack: str
    image_tags: dict[str, str]
    live_versions: dict[str, str | None]
    vpc_cidr: str = "10.60.0.0/16"
    retention: BackupRetention = field(default_factory=BackupRetention)
    force_destroy_bucket: bool = True
    log_retention_days: int = 14
    aurora_engine_version: str | None = None  # None: the Region's default Aurora MySQL 3 version
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
    def ssm_prefix(self) -> str:
        return f"/{self.lab.project}/aurora"

    def validate(self) -> None:
        self.retention.validate()
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
        retention=BackupRetention(
            infrequent_access_days=config.get_int("backupInfrequentAccessDays", 30),
            glacier_ir_days=config.get_int("backupGlacierIrDays", 90),
            expiration_days=config.get_int("backupExpirationDays", 365),
            noncurrent_expiration_days=config.get_int("backupNoncurrentExpirationDays", 30),
            object_lock_days=config.get_int("objectLockDays", 0),
            object_lock_mode=config.get("objectLockMode") or "GOVERNANCE",
        ),
        force_destroy_bucket=config.get_bool("forceDestroyBucket", True),
        log_retention_days=config.get_int("logRetentionDays", 14),
        aurora_engine_version=config.get("auroraEngineVersion"),
        aurora_instance_class=config.get("auroraInstanceClass") or "db.t4g.medium",
        test_host_instance_type=config.get("testHostInstanceType") or "t3.small",
        test_host_key_name=config.get("testHostKeyName"),
        test_host_ssh_cidr=config.get("testHostSshCidr"),
        alarm_email=config.get("alarmEmail"),
        backup_lag_alarm_s=config.get_float("backupLagAlarmSeconds", DEFAULT_LAG_THRESHOLD_S),
    )
    settings.validate()
    return settings


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
