"""The three Lambdas from container images, their `live` aliases, and every event source on the alias.

EventBridge schedule -> scanner:live -> SQS -> detector:live -> DynamoDB stream -> downloader:live.
Each function publishes a version on every image change; the alias moves to it (or to a pinned version),
so rolling back is a config change (LAMBDA-VERSIONING.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
from settings import lambda_environment

from labkit.config import LabConfig

ALIAS = "live"


@dataclass(frozen=True)
class FunctionsArgs:
    lab: LabConfig
    image_uris: dict[str, pulumi.Input[str]]  # key -> repository URL:tag
    live_versions: dict[str, str | None]
    role_arns: dict[str, pulumi.Input[str]]
    role_policies: dict[str, pulumi.Resource]
    log_retention_days: int
    subnet_ids: list[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]
    queue_arn: pulumi.Input[str]
    queue_url: pulumi.Input[str]
    stream_arn: pulumi.Input[str]
    failure_queue_arn: pulumi.Input[str]


def function_sizes(lab: LabConfig) -> dict[str, tuple[int, int | None]]:
    """(timeout seconds, memory MB or None for Lambda's 128 MB default), from labkit's pipeline settings."""
    return {
        "scanner": (lab.scanner_timeout_s, None),
        "detector": (lab.detector_function_timeout_s, None),  # when tailing: a whole scan period
        "downloader": (lab.downloader_timeout_s, lab.downloader_memory_mb),
    }


def downloader_filter_criteria() -> dict[str, Any] | None:
    """The stream filter of labkit.backup.streamfilter, as the mapping's filter_criteria input.

    Only the detector's changes (and a downloader's hand-over) may trigger a copy; the downloader's own
    lease/commit/release writes must not wake it again. Guarded: without that module every change triggers.
    """
    try:
        from labkit.backup import streamfilter
    except ImportError:
        return None
    criteria = getattr(streamfilter, "DOWNLOADER_FILTER_CRITERIA", None) or getattr(
        streamfilter, "STREAM_FILTER", None
    )
    if not criteria:
        return None
    return {"filters": [{"pattern": f["Pattern"]} for f in criteria["Filters"]]}


def log_group_name(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


class BackupFunctions(pulumi.ComponentResource):
    functions: dict[str, aws.lambda_.Function]
    aliases: dict[str, aws.lambda_.Alias]

    def __init__(self, name: str, args: FunctionsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("labkit:lab:BackupFunctions", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        lab, names = args.lab, args.lab.names
        function_names = {
            "scanner": names.scanner,
            "detector": names.detector,
            "downloader": names.downloader,
        }
        self.functions, self.aliases = {}, {}
        # the scanner sends to the queue by URL without needing sqs:GetQueueUrl
        extra_env = {"scanner": {"LABKIT_QUEUE_URL": args.queue_url}}
        for key, (timeout, memory) in function_sizes(lab).items():
            log_group = aws.cloudwatch.LogGroup(
                f"{key}-logs",
                name=log_group_name(function_names[key]),
                retention_in_days=args.log_retention_days,
                opts=child,
            )
            function = aws.lambda_.Function(
                key,
                name=function_names[key],
                package_type="Image",
                image_uri=args.image_uris[key],
                role=args.role_arns[key],
                timeout=timeout,
                memory_size=memory,
                publish=True,
                architectures=["x86_64"],
                environment={"variables": lambda_environment(lab, key, extra_env.get(key))},
                vpc_config={"subnet_ids": args.subnet_ids, "security_group_ids": [args.security_group_id]},
                logging_config={"log_format": "JSON", "log_group": log_group.name},
                # the VPC checks at creation need the ENI grants in place
                opts=pulumi.ResourceOptions(parent=self, depends_on=[args.role_policies[key]]),
            )
            self.aliases[key] = aws.lambda_.Alias(
                f"{key}-{ALIAS}",
                name=ALIAS,
                function_name=function.name,
                function_version=args.live_versions.get(key) or function.version,
                description="what every event source invokes",
                opts=child,
            )
            self.functions[key] = function

        # EventBridge schedule -> scanner:live
        rule = aws.cloudwatch.EventRule(
            "scan-schedule",
            name=names.schedule_rule,
            schedule_expression=lab.scan_schedule,
            description=f"{lab.project}: scan for Aurora MySQL instances to back up",
            opts=child,
        )
        scanner_alias = self.aliases["scanner"]
        aws.lambda_.Permission(
            "scanner-from-schedule",
            action="lambda:InvokeFunction",
            function=self.functions["scanner"].name,
            qualifier=scanner_alias.name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            "scan-schedule-target",
            rule=rule.name,
            arn=scanner_alias.arn,
            retry_policy={"maximum_retry_attempts": 2, "maximum_event_age_in_seconds": 3600},
            opts=child,
        )

        # SQS (one message per instance) -> detector:live, failed messages back to the queue, then the DLQ
        aws.lambda_.EventSourceMapping(
            "detector-from-queue",
            event_source_arn=args.queue_arn,
            function_name=self.aliases["detector"].arn,
            batch_size=lab.sqs_batch_size,
            function_response_types=["ReportBatchItemFailures"],
            opts=child,
        )

        # DynamoDB stream (log file changes) -> downloader:live; a poison record is bisected out, retried a
        # few times, then reported to the failure queue instead of blocking its shard. The filter keeps the
        # downloader's own writes from triggering it again.
        aws.lambda_.EventSourceMapping(
            "downloader-from-stream",
            event_source_arn=args.stream_arn,
            function_name=self.aliases["downloader"].arn,
            starting_position="TRIM_HORIZON",
            batch_size=lab.stream_batch_size,
            bisect_batch_on_function_error=True,
            maximum_retry_attempts=lab.stream_max_retries,
            parallelization_factor=lab.stream_parallelization_factor,  # per file still one batch, in order
            function_response_types=["ReportBatchItemFailures"],
            destination_config={"on_failure": {"destination_arn": args.failure_queue_arn}},
            filter_criteria=downloader_filter_criteria(),
            opts=child,
        )
        self.register_outputs(
            {
                "functionArns": {k: f.arn for k, f in self.functions.items()},
                "aliasArns": {k: a.arn for k, a in self.aliases.items()},
            }
        )
