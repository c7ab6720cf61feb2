"""The pipeline's CloudWatch metrics, named once: the handlers emit them, the alarms and dashboards read them.

The handlers publish with aws-lambda-powertools ``Metrics(namespace=NAMESPACE, service=...)`` in the
Embedded Metric Format. Powertools adds one dimension to every metric: ``service`` = the ``service``
argument (an explicit argument wins over ``POWERTOOLS_SERVICE_NAME``, which the stack sets to the function
key), so a metric exists in CloudWatch as (NAMESPACE, name, {"service": SERVICES[function]}). An alarm on
any other dimension set watches a metric nobody writes and never fires: that is why this module exists.

No AWS or powertools import here: the Pulumi stack, the local ``labkit alarms`` and the handlers share it.
"""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE = "AuroraAuditBackup"
SERVICE_DIMENSION = "service"  # the dimension powertools' Metrics adds from its ``service`` argument
SERVICES: dict[str, str] = {
    "scanner": "db-scanner",
    "detector": "log-detector",
    "downloader": "log-downloader",
}

# scanner
INSTANCES_QUEUED = "InstancesQueued"
INSTANCES_SKIPPED = "InstancesSkipped"
SCANNER_HEARTBEAT = "ScannerHeartbeat"  # 1 on every run: its absence is the alarm (a silent pipeline)
# detector
FILES_DETECTED = "FilesDetected"
TABLE_WRITES = "TableWrites"
RDS_CALLS = "RdsCalls"
INSTANCES_UNAVAILABLE = "InstancesUnavailable"
IDENTITY_ANOMALIES = "IdentityAnomalies"
QUIET_LOOKS_SKIPPED = "QuietLooksSkipped"  # scheduled looks skipped at a quiet instance (labkit.backup.looks)
HISTORY_COVER_SCANS = "HistoryCoverScans"  # scan periods an instance's kept audit history covers (sizing)
# detector (vanished before any copy) and downloader (vanished while copying)
FILES_LOST = "FilesLost"
# detector and downloader: a window in which files may have come and gone unseen (labkit.backup.gaps)
GAPS_RECORDED = "GapsRecorded"
# detector and downloader: a scheduled scan put off, a copy handed on (RDS or the pipeline's budget throttled)
THROTTLED = "Throttled"
# downloader
BYTES_COPIED = "BytesCopied"
BACKUP_LAG = "BackupLag"
FILES_FAILED = "FilesFailed"  # a file reached FAILED (copy failed max_failures times in a row)
COMPLETE_DOWNLOAD_FALLBACKS = "CompleteDownloadFallbacks"  # DownloadCompleteDBLogFile refused: paged instead


@dataclass(frozen=True)
class MetricSpec:
    """One metric: its unit (powertools ``MetricUnit`` value) and the functions that emit it."""

    name: str
    unit: str
    emitted_by: tuple[str, ...]
    meaning: str


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec(INSTANCES_QUEUED, "Count", ("scanner",), "instances sent to the detector queue"),
        MetricSpec(INSTANCES_SKIPPED, "Count", ("scanner",), "instances opted out or of another engine"),
        MetricSpec(SCANNER_HEARTBEAT, "Count", ("scanner",), "1 per scanner run, whatever it found"),
        MetricSpec(FILES_DETECTED, "Count", ("detector",), "audit files seen for the first time"),
        MetricSpec(TABLE_WRITES, "Count", ("detector",), "tracking-table writes of one scan"),
        MetricSpec(RDS_CALLS, "Count", ("detector",), "RDS API calls of one scan"),
        MetricSpec(INSTANCES_UNAVAILABLE, "Count", ("detector",), "instances that could not be listed"),
        MetricSpec(
            IDENTITY_ANOMALIES, "Count", ("detector",), "a file called gone came back, or a name reused"
        ),
        MetricSpec(
            QUIET_LOOKS_SKIPPED,
            "Count",
            ("detector",),
            "scheduled looks skipped at quiet Aurora instances (bounded; a change or deletion event wakes them)",
        ),
        MetricSpec(
            HISTORY_COVER_SCANS,
            "None",
            ("detector",),
            "scan periods an instance's kept audit history covers (rotate size x files kept / rate)",
        ),
        MetricSpec(
            FILES_LOST, "Count", ("detector", "downloader"), "files gone before all bytes were copied"
        ),
        MetricSpec(
            GAPS_RECORDED,
            "Count",
            ("detector", "downloader"),
            "windows in which audit files may have been created and deleted unseen",
        ),
        MetricSpec(
            THROTTLED,
            "Count",
            ("detector", "downloader"),
            "scans put off and copies handed on because RDS throttled or the pipeline's RDS budget stayed "
            "spent: nothing is failed, they carry on later",
        ),
        MetricSpec(BYTES_COPIED, "Bytes", ("downloader",), "source bytes written to S3"),
        MetricSpec(
            BACKUP_LAG, "Milliseconds", ("downloader",), "last write of a file -> its bytes all in S3"
        ),
        MetricSpec(FILES_FAILED, "Count", ("downloader",), "files whose copy failed max_failures times"),
        MetricSpec(
            COMPLETE_DOWNLOAD_FALLBACKS,
            "Count",
            ("downloader",),
            "complete downloads refused (not file gone) and paged instead: the REST path is not served",
        ),
    )
}


def dimensions(function_key: str) -> dict[str, str]:
    """The dimensions a metric of this function carries in CloudWatch (what powertools adds)."""
    return {SERVICE_DIMENSION: SERVICES[function_key]}


def emitters(name: str) -> tuple[str, ...]:
    """The functions that emit ``name``; KeyError for a name this module does not define."""
    return METRICS[name].emitted_by
