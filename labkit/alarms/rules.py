"""The alarm rules, defined once: the lab stack makes CloudWatch alarms of them, ``labkit alarms`` evaluates
them against the local lab (labkit.alarms.local), so a workshop sees the alarm that would page on AWS.

Metric names and dimensions come from labkit.backup.metrics (what the handlers emit) and from the AWS
service namespaces (AWS/Lambda, AWS/SQS). Missing data is decided per rule, never left to the default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from labkit.backup import metrics as m
from labkit.config import LabConfig

LAMBDA_NAMESPACE = "AWS/Lambda"
SQS_NAMESPACE = "AWS/SQS"
DEFAULT_LAG_THRESHOLD_S = 1800.0  # 30 min: six 5-minute scans behind
PERIOD_S = 300
GREATER, LESS = "GreaterThanThreshold", "LessThanThreshold"
BREACHING, NOT_BREACHING = "breaching", "notBreaching"


@dataclass(frozen=True)
class MetricRef:
    """One CloudWatch metric: namespace, name and the exact dimension set it is published with."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]

    @property
    def dims(self) -> dict[str, str]:
        return dict(self.dimensions)


def pipeline_metric(name: str, function_key: str) -> MetricRef:
    return MetricRef(m.NAMESPACE, name, tuple(m.dimensions(function_key).items()))


def pipeline_metrics(name: str) -> tuple[MetricRef, ...]:
    """``name`` as every function that emits it publishes it (one metric per ``service`` dimension)."""
    return tuple(pipeline_metric(name, key) for key in m.emitters(name))


@dataclass(frozen=True)
class AlarmRule:
    """One alarm. ``metrics`` with more than one entry are summed (metric math ``SUM(METRICS())``).

    ``local``/``local_arg`` say what stands for the metric on the local lab (labkit.alarms.local): ``lost``,
    ``gaps`` (gap records, labkit.backup.gaps), ``failed``, ``lag``, ``history`` (the tracking table),
    ``queue`` (a queue's visible messages), ``errors`` (the
    local runtime's counter of a function), ``heartbeat`` (the scanner's last run), or ``""`` when the
    local lab has nothing like it (Lambda throttling, stream iterator age).
    """

    key: str
    title: str
    metrics: tuple[MetricRef, ...]
    statistic: str
    comparison: str
    threshold: float
    treat_missing_data: str
    missing_data_why: str
    local: str
    local_arg: str = ""
    period_s: int = PERIOD_S
    evaluation_periods: int = 1

    @property
    def window_s(self) -> int:
        return self.period_s * self.evaluation_periods

    def breaches(self, value: float | None) -> bool:
        """What CloudWatch decides for one value; None is missing data, decided by ``treat_missing_data``."""
        if value is None:
            return self.treat_missing_data == BREACHING
        return value > self.threshold if self.comparison == GREATER else value < self.threshold

    def cloudwatch(self) -> dict[str, Any]:
        """The ``aws.cloudwatch.MetricAlarm`` arguments (Pulumi names), actions and name aside."""
        args: dict[str, Any] = {
            "alarm_description": f"{self.title}. Missing data: {self.treat_missing_data} ({self.missing_data_why})",
            "comparison_operator": self.comparison,
            "threshold": self.threshold,
            "evaluation_periods": self.evaluation_periods,
            "datapoints_to_alarm": self.evaluation_periods,
            "treat_missing_data": self.treat_missing_data,
        }
        if len(self.metrics) == 1:
            (metric,) = self.metrics
            return {
                **args,
                "namespace": metric.namespace,
                "metric_name": metric.name,
                "dimensions": metric.dims,
                "statistic": self.statistic,
                "period": self.period_s,
            }
        queries: list[dict[str, Any]] = [
            {
                "id": f"m{i}",
                "return_data": False,
                "metric": {
                    "namespace": metric.namespace,
                    "metric_name": metric.name,
                    "dimensions": metric.dims,
                    "stat": self.statistic,
                    "period": self.period_s,
                },
            }
            for i, metric in enumerate(self.metrics)
        ]
        queries.append(
            {"id": "total", "expression": "SUM(METRICS())", "label": self.title, "return_data": True}
        )
        return {**args, "metric_queries": queries}


def heartbeat_period_s(lab: LabConfig) -> int:
    """One scan period, rounded up to whole minutes (CloudWatch periods are multiples of 60 s).

    The deployed schedule's period on AWS (scan_schedule), the local ticker's (scan_interval_s) on the lab.
    """
    return max(60, math.ceil(lab.scan_period_s / 60) * 60)


def above(
    key: str,
    title: str,
    metrics: tuple[MetricRef, ...],
    statistic: str,
    threshold: float,
    *,
    why_no_data_is_fine: str,
    local: str = "",
    local_arg: str = "",
) -> AlarmRule:
    """An alarm on a metric that is published only when something happens: above ``threshold`` fires,
    no data is OK (``notBreaching``), with the reason written into the alarm's description."""
    return AlarmRule(
        key=key,
        title=title,
        metrics=metrics,
        statistic=statistic,
        comparison=GREATER,
        threshold=threshold,
        treat_missing_data=NOT_BREACHING,
        missing_data_why=why_no_data_is_fine,
        local=local,
        local_arg=local_arg,
    )


def alarm_rules(lab: LabConfig, *, lag_threshold_s: float = DEFAULT_LAG_THRESHOLD_S) -> list[AlarmRule]:
    """Every alarm of the pipeline, for the stack and for ``labkit alarms`` alike."""
    names = lab.names
    functions = {"scanner": names.scanner, "detector": names.detector, "downloader": names.downloader}
    # powertools writes no zero for a metric not added: no data means nothing was lost / failed / late.
    # A pipeline that stopped writes nothing at all; that is the heartbeat's alarm, not these.
    happens = "emitted only when it happens; a stopped pipeline is the heartbeat's alarm"
    lag_ms = lag_threshold_s * 1000
    rules = [
        above(
            "files-lost",
            "Audit files lost before they were copied",
            pipeline_metrics(m.FILES_LOST),
            "Sum",
            0,
            why_no_data_is_fine=happens,
            local="lost",
        ),
        above(
            "gaps",
            "Windows in which audit files may have been created and deleted unseen (gaps)",
            pipeline_metrics(m.GAPS_RECORDED),
            "Sum",
            0,
            why_no_data_is_fine=happens,
            local="gaps",
        ),
        above(
            "files-failed",
            "Audit files whose copy keeps failing (state FAILED)",
            pipeline_metrics(m.FILES_FAILED),
            "Sum",
            0,
            why_no_data_is_fine=happens,
            local="failed",
        ),
        # the REST complete download refused (403: a policy without rds:DownloadCompleteDBLogFile; no route
        # through the RDS endpoint; 5xx): files are paged instead, slower and at a page per MB of the RDS
        # budget. Nothing is lost, but it should not stay unnoticed. No local stand-in: the emulator serves it
        above(
            "complete-download-fallbacks",
            "Complete downloads refused: files paged instead (check rds:DownloadCompleteDBLogFile and the "
            "route to the RDS endpoint)",
            pipeline_metrics(m.COMPLETE_DOWNLOAD_FALLBACKS),
            "Sum",
            0,
            why_no_data_is_fine=happens,
        ),
        above(
            "backup-lag",
            f"Backup lag above {lag_threshold_s:g} s",
            pipeline_metrics(m.BACKUP_LAG),
            "Maximum",
            lag_ms,
            why_no_data_is_fine="emitted per completed copy; a stuck downloader shows as errors or iterator age",
            local="lag",
        ),
        # the detector judges each listing (labkit.backup.sizing): the worst instance of the period counts
        AlarmRule(
            key="history-cover",
            title=(
                f"Audit history kept covers fewer than {lab.history_safe_scans:g} scan periods "
                "(rotation outruns the scans: see labkit status for the setting to change)"
            ),
            metrics=pipeline_metrics(m.HISTORY_COVER_SCANS),
            statistic="Minimum",
            comparison=LESS,
            threshold=lab.history_safe_scans,
            treat_missing_data=NOT_BREACHING,
            missing_data_why="emitted only for a listing with a rotation to measure; a stopped pipeline is "
            "the heartbeat's alarm",
            local="history",
        ),
        # SampleCount of a metric written on every run: a scanner that stopped, lost its schedule or its
        # permissions writes nothing, and that must page, so here missing data is breaching.
        AlarmRule(
            key="scanner-heartbeat",
            title="Scanner silent (no run in two scan intervals)",
            metrics=pipeline_metrics(m.SCANNER_HEARTBEAT),
            statistic="SampleCount",
            comparison=LESS,
            threshold=1,
            treat_missing_data=BREACHING,
            missing_data_why="a silent pipeline is an alarm, not OK",
            local="heartbeat",
            period_s=heartbeat_period_s(lab),
            evaluation_periods=2,
        ),
    ]
    # SQS stops publishing metrics for a queue idle for hours: no data is an empty queue.
    for key, queue, title in (
        ("dlq-not-empty", names.dlq, "Instance messages in the dead-letter queue"),
        ("stream-failures-not-empty", names.stream_failures, "Downloader records in the on-failure queue"),
    ):
        depth = MetricRef(SQS_NAMESPACE, "ApproximateNumberOfMessagesVisible", (("QueueName", queue),))
        rules.append(
            above(
                key,
                title,
                (depth,),
                "Maximum",
                0,
                why_no_data_is_fine="an idle queue publishes no metrics",
                local="queue",
                local_arg=queue,
            )
        )
    # Lambda publishes Errors, Throttles and IteratorAge only for invocations: no invocation, no data.
    invoked = "published only for invocations"
    for key, name in functions.items():
        fn = (("FunctionName", name),)
        rules.append(
            above(
                f"{key}-errors",
                f"{name} invocations failed",
                (MetricRef(LAMBDA_NAMESPACE, "Errors", fn),),
                "Sum",
                0,
                why_no_data_is_fine=invoked,
                local="errors",
                local_arg=key,
            )
        )
        rules.append(
            above(
                f"{key}-throttles",
                f"{name} invocations throttled",
                (MetricRef(LAMBDA_NAMESPACE, "Throttles", fn),),
                "Sum",
                0,
                why_no_data_is_fine=invoked,
            )
        )
    rules.append(
        above(
            "stream-iterator-age",
            f"Downloader behind its stream by more than {lag_threshold_s:g} s",
            (MetricRef(LAMBDA_NAMESPACE, "IteratorAge", (("FunctionName", names.downloader),)),),
            "Maximum",
            lag_ms,
            why_no_data_is_fine=f"{invoked}; a downloader that stopped shows as errors",
        )
    )
    return rules
