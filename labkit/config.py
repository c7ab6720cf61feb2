"""The lab's one configuration object: the only place that knows the target.

Precedence for every field: explicit argument > ``LABKIT_<FIELD>`` environment variable > the profile's
value (``profile``, local target only) > default.
Resource names and pipeline settings here are the single source for both the local deploy and the
Pulumi stack, so the two cannot drift apart.

Why one module past 400 lines: the fields, their parsing from LABKIT_* variables, the profiles and the
validation are one contract; split, a second module would have to know the fields and the target too.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import ipaddress
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from labkit.errors import ConfigError

Target = Literal["local", "aws"]
NamingScheme = Literal["aurora", "rds-mysql"]
RdsLogApiVersion = Literal["v13", "v19"]  # REST path of DownloadCompleteDBLogFile
RdsProfileName = Literal["fast", "aws"]  # how the emulator's RDS behaves (labkit.local.emulator.rds_budget)
TARGETS: tuple[str, ...] = ("local", "aws")
NAMING_SCHEMES: tuple[str, ...] = ("aurora", "rds-mysql")
ENV_PREFIX = "LABKIT_"
LOCAL_ACCOUNT_ID = "123456789012"  # the emulator's account (moto's default)
# Profiles: settings that go together, below anything given explicitly. "workshop" paces the local lab for the
# workbook and `make lab`: a scan every 10 s and an aurora-named file sealed 5 s after its last write, so a
# notebook sees its backups within a minute. Profiles never apply to the aws target (the stack's schedule).
PROFILES: dict[str, dict[str, Any]] = {
    "": {"scan_spread": 0.0, "quiet_max_skip": 0},
    "workshop": {"scan_interval_s": 10.0, "seal_after_s": 5.0, "scan_spread": 0.0, "quiet_max_skip": 0},
}
DEFAULT_RDS_BUDGET_RPS = 10.0  # of RDS's 12/s per account and Region: 2/s left for other clients
ATHENA_MIN_CUTOFF = 10 * 1024 * 1024  # bytes: the smallest per-query scan limit a workgroup accepts


def _default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "labkit"


@dataclass(frozen=True)
class LabConfig:
    """Everything that varies between a laptop, CI and an AWS account."""

    target: Target = "local"
    region: str = "us-east-1"
    project: str = "aurora-log-backup-lab"
    # S3 bucket names are global: the backup bucket's name carries the account and Region unless given.
    account_id: str = ""  # empty: the emulator's account (local), the caller's account (aws, one STS call)
    bucket: str = ""  # empty: <project>-backups-<account>-<region> (backup_bucket_name)
    # the instance queue the scanner sends to; both deploys set it in the scanner's environment (the stack from
    # the queue it creates, the local runtime from deploy_local); empty: looked up by name (GetQueueUrl)
    queue_url: str = ""

    profile: str = ""  # a PROFILES name: defaults for the local target that explicit settings beat

    # --- local target: emulator and Aurora stand-in -------------------------------------------------
    state_dir: Path = field(default_factory=_default_state_dir)
    endpoint_url: str = ""  # empty: the running local lab's endpoint (local) or AWS's own (aws)
    emulator_port: int = 4566  # taken -> another free port is chosen and recorded in the lab state
    db_port: int = 33061  # writer; the reader gets the next free port
    naming_scheme: NamingScheme = "aurora"  # how the emulator names audit files (see REFERENCE)
    reader_naming_scheme: str = ""  # empty: same as naming_scheme
    audit_events: str = "CONNECT,QUERY,TABLE"
    audit_incl_users: str = ""
    audit_excl_users: str = ""
    audit_rotate_size: int = 8 * 1024 * 1024
    audit_rotations: int = 9
    audit_query_log_limit: int = 4 * 1024 * 1024
    throttle_rate: float = 0.0  # fraction of RDS log-file calls answered with Throttling
    latency_ms: int = 0  # added to every RDS log-file call
    # the emulator's RDS profile: "fast" (no budget, no added latency) or "aws": one token bucket per account
    # and Region for the RDS reads the lab serves (AWS's documented 300 burst, 12/s), a fixed latency per call,
    # pages at a per-file rate (rdstail's published 0.3-0.9 MB/s) and the complete download at a set rate
    # (no public figure: an assumption). The rds_* settings below apply only under "aws"; README lists sources
    rds_profile: RdsProfileName = "fast"
    rds_burst: int = 300
    rds_refill_per_s: float = 12.0
    rds_call_latency_ms: float = 100.0  # assumption
    rds_portion_mb_s: float = 0.6
    rds_complete_mb_s: float = 2.0  # assumption
    start_timeout_s: float = 60.0
    # the emulator raises RDS-EVENT-0610 to the detector's queue when an audit file disappears (as RDS does to
    # the alarm topic the queue is subscribed to), so a file deleted before it was copied is LOST at once
    rds_deletion_events: bool = True
    # the lab service snapshots the emulator's archive and tracking table into state_dir/snapshot this often
    # (and at `labkit local down`), and restores it at `up`: the lab survives a restart, and a kill -9 loses at
    # most this many seconds of table state, which the pipeline's part adoption makes good (0: only at down)
    snapshot_interval_s: float = 10.0

    # --- archive search (labkit query): Athena on aws, DuckDB locally ---------------------------------------
    # Athena's date partition projection starts here (ends at NOW): older backups are invisible to Athena
    query_projection_start: str = "2025-01-01"
    # the Athena workgroup cancels any query scanning more (AWS's minimum is 10 MB); 10 GiB is ~$0.05 a query
    query_bytes_scanned_cutoff: int = 10 * 1024**3
    query_results_days: int = 30  # Athena's result files expire after this many days
    # clusters Athena projects (enum; a query need not name one); empty: the lab's cluster. Instances are not
    # listed: Athena takes them from each query (injected), so every query names its instances
    query_clusters: str = ""
    # the local engine (DuckDB) keeps at most this much of the loaded archive in memory, compressed; the rest
    # goes to a private temporary directory, so a search over a big archive needs disk, not RAM
    query_memory_mb: int = 1024

    # --- pipeline settings, shared with the Pulumi stack ---------------------------------------------
    engines: str = "aurora-mysql"  # comma list the scanner covers
    opt_out_tag: str = "audit-backup:skip"
    scan_schedule: str = "rate(1 minute)"  # RPO: at most a minute plus the copy (cost: labkit.dashboard.cost)
    scan_interval_s: float = 60.0  # local ticker; the schedule above on AWS
    # the scanner delays each instance's message by an offset of its own within this fraction of the scan
    # period (labkit.backup.scanner): looks spread over the period instead of bursting at its top against
    # RDS's throttle. The local profiles set 0 (a lab of two instances has no burst to spread)
    scan_spread: float = 1.0
    # a quiet Aurora instance (looks that found nothing to record) skips up to this many scheduled looks in a
    # row (1, 2, 4, ... : labkit.backup.looks); a change or a deletion event brings it back to every period.
    # 0: off (the local profiles: a notebook wants its instance looked at every time)
    quiet_max_skip: int = 3
    sqs_batch_size: int = 10
    stream_batch_size: int = 10
    max_receive_count: int = 3
    stream_max_retries: int = 3
    # Scaling out the copy (issue 17): the stream mapping's ParallelizationFactor (1-10 concurrent batches per
    # shard; Lambda keeps one partition key - one audit file - in one batch at a time, in order), and how many
    # different files one downloader invocation copies at once. Each paged copy is one DownloadDBLogFilePortion
    # per ~1 MB at ~0.6 MB/s on AWS: ~0.6 RDS requests/s per file copied at once. 2 x 4 = 8 concurrent copies
    # per shard spend ~5 requests/s of the account's 12/s (the rest for the scans and other RDS clients) and
    # page ~5 MB/s, above one busy instance's four files; more lanes would only queue on the RDS budget.
    stream_parallelization_factor: int = 2
    downloader_copy_concurrency: int = 4
    detector_timeout_s: int = 60
    # tailing: after its scan, the detector polls the same instances every tail_poll_s until the next scheduled
    # scan or its own timeout, less tail_margin_s (labkit.backup.tail); more RDS calls for seconds of RPO
    detector_tailing: bool = False
    tail_poll_s: float = 5.0
    tail_margin_s: float = 5.0
    downloader_timeout_s: int = 900
    downloader_memory_mb: int = 512
    tracking_ttl_days: int = 30
    log_prefix: str = "audit-logs"
    seal_after_s: float = (
        3600.0  # aurora scheme: a file not written for this long (and not the newest) is sealed
    )
    scheme_tag: str = "labkit:naming-scheme"  # instance tag naming the file-naming scheme (local emulator)
    scanner_timeout_s: int = 60  # the scheduled scan lists every instance of the engines above
    stream_view_type: str = "NEW_AND_OLD_IMAGES"  # the table stream the downloader reads
    # DownloadCompleteDBLogFile: /v13/ is what the docs show; /v19/ is announced to replace it (v13 said to
    # stop after 2027-03-01, unconfirmed). Timeouts: a stalled download falls back to paging.
    rds_log_api_version: RdsLogApiVersion = "v13"
    complete_connect_timeout_s: float = 10.0
    complete_read_timeout_s: float = 60.0
    # sizing (labkit.backup.sizing): an instance's kept audit history (rotate size x files kept, or Aurora's
    # retention) must cover this many scan periods, else status, notebook 50 and the history-cover alarm say
    # "at risk" and name the setting to change
    history_safe_scans: float = 3.0
    aurora_audit_retention_hours: float = 24.0  # Aurora deletes audit files by age (older docs: 24 h)
    # One RDS request budget for the whole pipeline (labkit.backup.rdsbudget): the requests per second that
    # every invocation of the three functions together may send, counted in a DynamoDB table. RDS allows the
    # account 12/s sustained for all its clients (REFERENCE.md); the default 10 leaves 2/s for the console,
    # monitoring and other tools. 0: that default wherever a bucket exists (the aws target, or the emulator's
    # aws profile), and no budget on the fast emulator, which has none to protect. A request that finds the
    # budget spent waits up to rds_budget_wait_s, then the copy is handed on (never counted as failed).
    rds_budget_rps: float = 0.0
    rds_budget_wait_s: float = 10.0

    @property
    def rds_budget_per_s(self) -> float | None:
        """The pipeline's RDS requests per second (``rds_budget_rps``, or its default); None: no budget."""
        if self.rds_budget_rps > 0:
            return self.rds_budget_rps
        if self.target == "aws" or self.rds_profile == "aws":
            return DEFAULT_RDS_BUDGET_RPS
        return None

    @property
    def engine_set(self) -> set[str]:
        """``engines`` as the set the scanner and verify compare against."""
        return {e.strip() for e in self.engines.split(",") if e.strip()}

    @property
    def cluster_id(self) -> str:
        return f"{self.project}-cluster"

    @property
    def writer_id(self) -> str:
        return f"{self.project}-writer"

    @property
    def reader_id(self) -> str:
        return f"{self.project}-reader"

    @property
    def reader_scheme(self) -> str:
        return self.reader_naming_scheme or self.naming_scheme

    @property
    def database(self) -> str:
        return "labdb"

    @property
    def master_username(self) -> str:
        return "labadmin"

    @property
    def secret_name(self) -> str:
        return f"{self.project}/master"

    @property
    def account(self) -> str:
        """The AWS account the lab lives in; asked of STS only on the aws target when not configured."""
        if self.account_id:
            return self.account_id
        if self.target == "local":
            return LOCAL_ACCOUNT_ID
        return _caller_account(self.endpoint_url or None, self.region)

    @property
    def glue_database(self) -> str:
        """Glue/Athena database of the archive: lowercase letters, digits and underscores only."""
        return re.sub(r"[^a-z0-9_]", "_", self.project.lower()) + "_audit"

    @property
    def archive_clusters(self) -> tuple[str, ...]:
        """The cluster ids whose backups Athena can see (``query_clusters``, or the lab's cluster)."""
        listed = tuple(c.strip() for c in self.query_clusters.split(",") if c.strip())
        return listed or (self.cluster_id,)

    @property
    def athena_workgroup(self) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "-", self.project)[:122] + "-audit"  # Athena: 128 of these

    @property
    def athena_results_bucket(self) -> str:
        """The workgroup's own results bucket (never the backup bucket: Object Lock would lock results)."""
        return backup_bucket_name(self.project, self.account, self.region, purpose="athena")

    @property
    def names(self) -> ResourceNames:
        bucket = self.bucket or backup_bucket_name(self.project, self.account, self.region)
        return ResourceNames.for_project(self.project, bucket=bucket)

    @property
    def scan_period_s(self) -> float:
        """Seconds between two scheduled scans: the local ticker's, or the AWS schedule's rate (a cron
        expression has no fixed period: then scan_interval_s)."""
        if self.target == "local":
            return self.scan_interval_s
        return rate_seconds(self.scan_schedule) or self.scan_interval_s

    @property
    def scan_spread_s(self) -> float:
        """The window the scanner spreads its messages over (``scan_spread`` x the scan period)."""
        return self.scan_spread * self.scan_period_s

    @property
    def detector_function_timeout_s(self) -> int:
        """The detector's Lambda timeout: when tailing, long enough to tail a whole scan period (Lambda's
        maximum is 900 s)."""
        if not self.detector_tailing:
            return self.detector_timeout_s
        return min(900, max(self.detector_timeout_s, int(-(-self.scan_period_s // 1))))

    @property
    def sqs_visibility_timeout_s(self) -> int:
        """AWS asks for at least 6 x the consumer's timeout (a tailing detector holds its batch that long)."""
        return 6 * self.detector_function_timeout_s


@dataclass(frozen=True)
class ResourceNames:
    """Names of the application resources, identical on both targets."""

    bucket: str
    table: str
    budget: str  # the pipeline's RDS request budget (labkit.backup.rdsbudget)
    queue: str
    dlq: str
    stream_failures: str
    schedule_rule: str
    scanner: str
    detector: str
    downloader: str
    alias: str = "live"

    @classmethod
    def for_project(cls, project: str, *, bucket: str) -> ResourceNames:
        """``bucket`` is global, so it is chosen by LabConfig (see backup_bucket_name), not here."""
        return cls(
            bucket=bucket,
            table=f"{project}-log-files",
            budget=f"{project}-rds-budget",
            queue=f"{project}-instances",
            dlq=f"{project}-instances-dlq",
            stream_failures=f"{project}-stream-failures",
            schedule_rule=f"{project}-scan-schedule",
            scanner=f"{project}-db-scanner",
            detector=f"{project}-log-detector",
            downloader=f"{project}-log-downloader",
        )

    @property
    def functions(self) -> tuple[str, str, str]:
        return (self.scanner, self.detector, self.downloader)


_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_RATE_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(schedule: str) -> float | None:
    """The period of an EventBridge ``rate(...)`` expression in seconds; None for anything else (cron)."""
    found = _RATE.fullmatch(schedule.strip())
    if not found:
        return None
    return float(int(found.group(1)) * _RATE_UNIT_S[found.group(2).rstrip("s")])


# --- the backup bucket's name -----------------------------------------------------------------------------
BUCKET_MAX = 63
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", "--x-s3", "--table-s3", ".mrap")
_DIGEST = 8  # hex characters of the project's hash when its name had to be changed


def backup_bucket_name(project: str, account: str, region: str, purpose: str = "backups") -> str:
    """``<project>-<purpose>-<account>-<region>``, within S3's rules (63 characters, DNS-safe, no dots).

    A project name S3 would refuse as is (too long, capitals, other characters) is shortened and cleaned,
    with a hash of the original appended, so two projects never share a bucket.
    """
    tail = f"-{purpose}-{account}-{region}"
    room = BUCKET_MAX - len(tail)
    if room < _DIGEST + 2:
        raise ConfigError(f"region {region!r} is too long for a bucket name: set LABKIT_BUCKET")
    head = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", project.lower())).strip("-")
    if (head + "-").startswith(_RESERVED_PREFIXES):  # whatever follows the head starts with "-"
        head = f"lab-{head}"  # S3 reserves these prefixes
    if head != project or len(head) > room:
        digest = hashlib.sha256(project.encode()).hexdigest()[:_DIGEST]
        kept = head[: room - _DIGEST - 1].rstrip("-")
        head = f"{kept}-{digest}" if kept else digest
    name = head + tail
    if problem := bucket_name_problem(name):  # pragma: no cover - the rules above keep every name valid
        raise ConfigError(f"no valid bucket name for project {project!r} ({problem}): set LABKIT_BUCKET")
    return name


def bucket_name_problem(name: str) -> str | None:
    """Why S3 would refuse ``name`` as a general purpose bucket, or None."""
    if not _BUCKET_NAME.fullmatch(name):
        return "3-63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit"
    if ".." in name or ".-" in name or "-." in name:
        return "no two adjacent periods, no period next to a hyphen"
    try:
        ipaddress.ip_address(name)
        return "not formatted as an IP address"
    except ValueError:
        pass
    if name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES):
        return f"none of S3's reserved prefixes {_RESERVED_PREFIXES} or suffixes {_RESERVED_SUFFIXES}"
    return None


def _caller_account(endpoint_url: str | None, region: str) -> str:
    from labkit import aws  # only the aws target without LABKIT_ACCOUNT_ID/LABKIT_BUCKET gets here

    try:
        return aws.caller_account(endpoint_url, region)
    except Exception as exc:  # botocore's NoCredentialsError, ClientError, EndpointConnectionError ...
        raise ConfigError(
            f"cannot tell which AWS account the lab is in (sts:GetCallerIdentity failed: {exc}); the backup "
            "bucket's name includes it: configure AWS credentials, or set LABKIT_ACCOUNT_ID=<12 digits>, or "
            "LABKIT_BUCKET=<bucket name> (the lab stack's bucketName output)"
        ) from exc


def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(LabConfig)


def _parse(name: str, raw: str, kind: Any) -> Any:
    if typing.get_origin(kind) is typing.Literal:
        allowed = typing.get_args(kind)
        if raw not in allowed:
            raise ConfigError(f"{ENV_PREFIX}{name.upper()}={raw!r}: expected one of {', '.join(allowed)}")
        return raw
    try:
        if kind is Path:
            return Path(raw).expanduser()
        if kind is bool:
            return raw.strip().lower() in ("1", "true", "yes", "on")
        if kind in (int, float, str):
            return kind(raw)
    except ValueError as exc:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind.__name__}") from exc
    raise ConfigError(f"cannot parse {name} of type {kind}")  # pragma: no cover - programming error


def load_config(env: typing.Mapping[str, str] | None = None, **overrides: Any) -> LabConfig:
    """Build the config: explicit argument > LABKIT_* environment variable > default."""
    env = os.environ if env is None else env
    kinds = _field_types()
    values: dict[str, Any] = {}
    for f in dataclasses.fields(LabConfig):
        if f.name in overrides and overrides[f.name] is not None:
            value = overrides.pop(f.name)
            if isinstance(value, str) and kinds[f.name] is not str:
                value = _parse(f.name, value, kinds[f.name])
            values[f.name] = value
            continue
        overrides.pop(f.name, None)
        raw = env.get(ENV_PREFIX + f.name.upper())
        if raw is not None and raw != "":
            values[f.name] = _parse(f.name, raw, kinds[f.name])
    if overrides:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(overrides))}")
    profile = values.get("profile", "")
    if profile not in PROFILES:
        raise ConfigError(f"profile {profile!r}: expected one of {', '.join(repr(p) for p in PROFILES)}")
    if values.get("target", LabConfig.target) == "local":
        values = {**PROFILES[profile], **values}  # what was given beats the profile
    config = LabConfig(**values)
    _validate(config)
    return config


def with_profile(config: LabConfig, profile: str) -> LabConfig:
    """A built config under ``profile``, for the settings still at their defaults (local target only).

    A built config does not record what was given explicitly, so a setting equal to its default counts as not
    given. A config that has a profile already, and the aws target, are returned as they are.
    """
    if profile not in PROFILES:
        raise ConfigError(f"profile {profile!r}: expected one of {', '.join(repr(p) for p in PROFILES)}")
    if config.target != "local" or config.profile:
        return config
    defaults = LabConfig()
    values = {k: v for k, v in PROFILES[profile].items() if getattr(config, k) == getattr(defaults, k)}
    return dataclasses.replace(config, profile=profile, **values)


def _is_day(value: str) -> bool:
    try:
        return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)) and bool(datetime.date.fromisoformat(value))
    except ValueError:
        return False


def _validate(config: LabConfig) -> None:
    if config.target not in TARGETS:
        raise ConfigError(f"target {config.target!r}: expected one of {', '.join(TARGETS)}")
    for scheme in (config.naming_scheme, config.reader_scheme):
        if scheme not in NAMING_SCHEMES:
            raise ConfigError(f"naming scheme {scheme!r}: expected one of {', '.join(NAMING_SCHEMES)}")
    if not 0.0 <= config.throttle_rate <= 1.0:
        raise ConfigError(f"throttle_rate {config.throttle_rate}: expected a fraction between 0 and 1")
    if config.rds_burst < 1 or config.rds_refill_per_s < 0 or config.rds_call_latency_ms < 0:
        raise ConfigError(
            "rds_burst must be at least 1, rds_refill_per_s and rds_call_latency_ms not negative"
        )
    if config.rds_portion_mb_s <= 0 or config.rds_complete_mb_s <= 0:
        raise ConfigError("rds_portion_mb_s and rds_complete_mb_s must be positive (MB/s)")
    if not 1 <= config.stream_parallelization_factor <= 10:
        raise ConfigError(
            f"stream_parallelization_factor {config.stream_parallelization_factor}: Lambda accepts 1 to 10"
        )
    if config.rds_budget_rps < 0 or config.rds_budget_wait_s <= 0:
        raise ConfigError(
            "rds_budget_rps must not be negative (0: the default budget) and rds_budget_wait_s must be "
            "positive seconds"
        )
    if config.quiet_max_skip < 0:
        raise ConfigError("quiet_max_skip must not be negative (0: look at every instance every period)")
    if not 0.0 <= config.scan_spread <= 1.0:
        raise ConfigError(f"scan_spread {config.scan_spread}: expected a fraction of the scan period, 0 to 1")
    if config.downloader_copy_concurrency < 1:
        raise ConfigError("downloader_copy_concurrency must be at least 1 (1: one file after another)")
    if config.audit_rotate_size < 4096:
        raise ConfigError("audit_rotate_size must be at least 4096 bytes")
    if config.complete_connect_timeout_s <= 0 or config.complete_read_timeout_s <= 0:
        raise ConfigError("complete_connect_timeout_s and complete_read_timeout_s must be positive seconds")
    if config.query_bytes_scanned_cutoff < ATHENA_MIN_CUTOFF:
        raise ConfigError(
            f"query_bytes_scanned_cutoff {config.query_bytes_scanned_cutoff}: Athena's minimum is "
            f"{ATHENA_MIN_CUTOFF} bytes (10 MB)"
        )
    if not _is_day(config.query_projection_start):
        raise ConfigError(f"query_projection_start {config.query_projection_start!r}: expected YYYY-MM-DD")
    if config.query_results_days < 1:
        raise ConfigError("query_results_days must be at least 1")
    if config.query_memory_mb < 64:
        raise ConfigError(f"query_memory_mb {config.query_memory_mb}: the local engine needs at least 64 MB")
    if config.history_safe_scans < 1:
        raise ConfigError(
            f"history_safe_scans {config.history_safe_scans}: a history shorter than one scan period is never safe"
        )
    if config.aurora_audit_retention_hours <= 0:
        raise ConfigError("aurora_audit_retention_hours must be positive")
    if config.tail_poll_s <= 0 or config.tail_margin_s < 0:
        raise ConfigError("tail_poll_s must be positive and tail_margin_s not negative (seconds)")
    if config.account_id and not re.fullmatch(r"[0-9]{12}", config.account_id):
        raise ConfigError(f"account_id {config.account_id!r}: an AWS account ID is 12 digits")
    if config.bucket and (problem := bucket_name_problem(config.bucket)):
        raise ConfigError(f"bucket {config.bucket!r}: S3 refuses this name; it needs {problem}")


__all__ = [
    "LOCAL_ACCOUNT_ID",
    "NAMING_SCHEMES",
    "PROFILES",
    "TARGETS",
    "LabConfig",
    "ResourceNames",
    "backup_bucket_name",
    "bucket_name_problem",
    "load_config",
    "rate_seconds",
    "with_profile",
]
