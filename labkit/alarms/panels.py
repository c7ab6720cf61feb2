"""The CloudWatch dashboard's panels, defined beside the alarm rules whose inputs they show.

Each panel names the local chart (labkit.dashboard.charts) it stands for, so both targets show the same picture.
"""

from __future__ import annotations

from dataclasses import dataclass

from labkit.alarms.rules import LAMBDA_NAMESPACE, SQS_NAMESPACE, MetricRef, pipeline_metrics
from labkit.backup import metrics as m
from labkit.config import LabConfig


@dataclass(frozen=True)
class Panel:
    """A dashboard panel; ``chart`` names the local chart (labkit.dashboard.charts) it stands for."""

    title: str
    metrics: tuple[MetricRef, ...]
    statistic: str
    chart: str = ""


def dashboard_panels(lab: LabConfig) -> list[Panel]:
    """The CloudWatch dashboard: the local dashboard's charts that have a metric, then the alarms' inputs.

    The compression ratio and loss risk charts read S3 and the table; no metric stands for them.
    """
    names = lab.names
    fn = {"scanner": names.scanner, "detector": names.detector, "downloader": names.downloader}
    states = (
        pipeline_metrics(m.FILES_DETECTED) + pipeline_metrics(m.FILES_LOST) + pipeline_metrics(m.FILES_FAILED)
    )
    return [
        Panel("Audit files by backup state", states, "Sum", "files_by_state"),
        Panel(
            "Audit bytes backed up over time",
            pipeline_metrics(m.BYTES_COPIED),
            "Sum",
            "bytes_backed_up_over_time",
        ),
        Panel("Backup lag", pipeline_metrics(m.BACKUP_LAG), "Maximum", "backup_lag"),
        Panel(
            "Audit history kept, in scan periods (worst instance)",
            pipeline_metrics(m.HISTORY_COVER_SCANS),
            "Minimum",
        ),
        Panel(
            "Scanner runs",
            pipeline_metrics(m.SCANNER_HEARTBEAT) + pipeline_metrics(m.INSTANCES_QUEUED),
            "Sum",
        ),
        Panel(
            "Function errors and throttles",
            tuple(
                MetricRef(LAMBDA_NAMESPACE, metric, (("FunctionName", name),))
                for name in fn.values()
                for metric in ("Errors", "Throttles")
            ),
            "Sum",
        ),
        Panel(
            "Messages waiting in the failure queues",
            tuple(
                MetricRef(SQS_NAMESPACE, "ApproximateNumberOfMessagesVisible", (("QueueName", q),))
                for q in (names.dlq, names.stream_failures)
            ),
            "Maximum",
        ),
        Panel(
            "Downloader stream iterator age",
            (MetricRef(LAMBDA_NAMESPACE, "IteratorAge", (("FunctionName", names.downloader),)),),
            "Maximum",
        ),
    ]
