"""Search the archive with Athena: a Glue table over the backup prefix, a workgroup, the saved queries.

The table reads the parts where the pipeline writes them, through **partition projection**: Athena computes
each partition's location from ``storage.location.template`` and the query's predicates, so no crawler and
no MSCK REPAIR ever run and new days are queryable at once. The template is *derived* from
:class:`labkit.backup.layout.PartKey` (a key rendered with placeholder values), and :func:`layout_problems`
checks a real key against the projection, so a change to the layout cannot silently hide backups.

Projection per partition column:

- ``date``: type date, format ``yyyy-MM-dd``, from ``query_projection_start`` to NOW, one day apart;
- ``instance``: injected, so Athena takes the values from the query and *every query must name its
  instances* (``instance = ...``): the saved queries do, and a query that does not fails fast instead of
  listing every instance of a year;
- ``cluster``: enum of ``LabConfig.archive_clusters`` (the lab's cluster unless listed), so a query need not
  name it.

Columns and the line pattern come from :mod:`labkit.query.schema`, the named queries from
:mod:`labkit.query.queries`; nothing about the audit line is defined here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import pulumi
import pulumi_aws as aws
from iam import AuditorGrants
from storage import kms_key, lock_down_bucket

from labkit.backup.layout import PartKey, safe_segment
from labkit.config import LabConfig
from labkit.query.queries import QUERIES
from labkit.query.schema import COLUMNS, LINE_PATTERN, PARTITION_COLUMNS, PARTITION_TYPES, TABLE_NAME

REGEX_SERDE = "org.apache.hadoop.hive.serde2.RegexSerDe"
TEXT_INPUT = "org.apache.hadoop.mapred.TextInputFormat"  # reads .gz parts by their extension
TEXT_OUTPUT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
RESULTS_PREFIX = "results"
DATE_FORMAT = "yyyy-MM-dd"  # Java DateTimeFormatter, as Athena reads it
_JAVA_TO_STRFTIME = {"yyyy": "%Y", "MM": "%m", "dd": "%d"}

# PartKey fields rendered with placeholders: what the layout puts where, without knowing its format here
_PLACEHOLDERS = {"cluster_id": "Zcluster0", "instance_id": "Zinstance0", "date": "Zdate0"}


def layout_template(prefix: str) -> dict[str, str]:
    """PartKey field -> partition column, plus ``"template"``: the part's directory with ``${column}``
    where the layout puts that field. Read off a key the layout itself renders."""
    rendered = PartKey(prefix, file_id="file", **_PLACEHOLDERS).file_prefix
    directory = rendered.rsplit("/", 1)[0] + "/"
    columns: dict[str, str] = {}
    for field, placeholder in _PLACEHOLDERS.items():
        segment = next((s for s in directory.split("/") if s.endswith(f"={placeholder}")), None)
        if segment is None:
            raise ValueError(f"the layout puts {field} outside a name=value segment: {rendered}")
        columns[field] = segment.split("=", 1)[0]
        directory = directory.replace(f"={placeholder}/", f"=${{{columns[field]}}}/")
    if sorted(columns.values()) != sorted(PARTITION_COLUMNS):
        raise ValueError(
            f"labkit.query.schema's partition columns {PARTITION_COLUMNS} are not the layout's "
            f"{tuple(columns.values())}"
        )
    return {**columns, "template": directory}


def projection_parameters(lab: LabConfig, bucket: str) -> dict[str, str]:
    """The table parameters that turn partition projection on, for the backups in ``bucket``."""
    layout = layout_template(lab.log_prefix)
    cluster, instance, day = layout["cluster_id"], layout["instance_id"], layout["date"]
    return {
        "projection.enabled": "true",
        f"projection.{day}.type": "date",
        f"projection.{day}.format": DATE_FORMAT,
        f"projection.{day}.range": f"{lab.query_projection_start},NOW",
        f"projection.{day}.interval": "1",
        f"projection.{day}.interval.unit": "DAYS",
        f"projection.{instance}.type": "injected",
        f"projection.{cluster}.type": "enum",
        f"projection.{cluster}.values": ",".join(safe_segment(c) for c in lab.archive_clusters),
        "storage.location.template": f"s3://{bucket}/{layout['template']}",
    }


def strftime_format(java_format: str) -> str:
    """Athena's date format as Python's, for the few tokens this table uses; anything else is refused."""
    tokens = re.findall(r"yyyy|MM|dd|[^A-Za-z]+|[A-Za-z]+", java_format)
    unknown = [t for t in tokens if t.isalpha() and t not in _JAVA_TO_STRFTIME]
    if unknown:
        raise ValueError(f"date format {java_format!r}: no translation for {unknown}")
    return "".join(_JAVA_TO_STRFTIME.get(t, t) for t in tokens)


def projected_location(parameters: Mapping[str, str], values: Mapping[str, str]) -> str:
    """The location Athena computes for one partition: the template with each ``${column}`` replaced."""
    location = parameters["storage.location.template"]
    for column, value in values.items():
        location = location.replace(f"${{{column}}}", value)
    return location


def layout_problems(
    parameters: Mapping[str, str], bucket: str, key: str, cluster: str, instance: str, day: date
) -> list[str]:
    """Why Athena would not find ``key`` (a part of ``instance`` in ``cluster`` written on ``day``), or []."""
    columns = layout_template("prefix")  # column names only
    by_type = {f: parameters.get(f"projection.{c}.type") for f, c in columns.items() if f != "template"}
    problems = []
    if by_type != {"cluster_id": "enum", "instance_id": "injected", "date": "date"}:
        problems.append(f"projection types {by_type}")
    day_column, cluster_column = columns["date"], columns["cluster_id"]
    start, end = parameters.get(f"projection.{day_column}.range", ",").split(",", 1)
    if not (start and date.fromisoformat(start) <= day and end == "NOW"):
        problems.append(f"day {day} outside the projected range {start},{end}")
    segment = safe_segment(cluster)
    if segment not in parameters.get(f"projection.{cluster_column}.values", "").split(","):
        problems.append(f"cluster {cluster!r} not among the projected clusters")
    values = {
        cluster_column: segment,
        columns["instance_id"]: instance,
        day_column: day.strftime(strftime_format(parameters.get(f"projection.{day_column}.format", ""))),
    }
    location = projected_location(parameters, values)
    if location != f"s3://{bucket}/{key.rsplit('/', 1)[0]}/":
        problems.append(f"Athena would read {location}, the part is s3://{bucket}/{key}")
    return problems


def glue_columns() -> list[dict[str, str]]:
    return [{"name": c.name, "type": c.athena_type, "comment": c.doc[:255]} for c in COLUMNS]


def named_query_text(name: str) -> tuple[str, str]:
    """(SQL with ``?`` execution parameters, description naming them in order) of one saved query."""
    query = QUERIES[name]
    sql, order = query.render_named(TABLE_NAME)
    description = f"{query.description} Execution parameters, in order: {', '.join(order)}."
    return sql, description[:1024]


@dataclass(frozen=True)
class ArchiveQueryArgs:
    lab: LabConfig
    backup_bucket: pulumi.Input[str]  # the backup bucket's name


class ArchiveQuery(pulumi.ComponentResource):
    """Glue database and table over the backups, an enforced Athena workgroup with its own encrypted
    results bucket, and the saved queries as named queries."""

    def __init__(self, name: str, args: ArchiveQueryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("labkit:lab:ArchiveQuery", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        lab = args.lab

        # results: their own key and bucket (the backup bucket may be WORM-locked; results are disposable)
        self.key = kms_key(
            "query-results-key",
            f"alias/{lab.project}-query-results",
            f"{lab.project}: SSE-KMS for Athena query results",
            child,
        )
        self.results_bucket = aws.s3.Bucket(
            "query-results", bucket=lab.athena_results_bucket, force_destroy=True, opts=child
        )
        bucket_id = self.results_bucket.id
        lock_down_bucket("query-results", self.results_bucket, self.key, self)
        aws.s3.BucketLifecycleConfiguration(
            "query-results-lifecycle",
            bucket=bucket_id,
            rules=[
                {
                    "id": "expire-query-results",
                    "status": "Enabled",
                    "filter": {"prefix": f"{RESULTS_PREFIX}/"},
                    "expiration": {"days": lab.query_results_days},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
                }
            ],
            opts=child,
        )
        self.results_location = self.results_bucket.bucket.apply(lambda b: f"s3://{b}/{RESULTS_PREFIX}/")

        self.workgroup = aws.athena.Workgroup(
            "audit-workgroup",
            name=lab.athena_workgroup,
            description=f"{lab.project}: search the audit log archive (labkit query --target aws)",
            state="ENABLED",
            force_destroy=True,  # its named queries and history go with the stack
            configuration={
                "enforce_workgroup_configuration": True,  # clients cannot pick another location or no encryption
                "publish_cloudwatch_metrics_enabled": True,
                "bytes_scanned_cutoff_per_query": lab.query_bytes_scanned_cutoff,
                "requester_pays_enabled": False,
                "engine_version": {"selected_engine_version": "Athena engine version 3"},
                "result_configuration": {
                    "output_location": self.results_location,
                    "encryption_configuration": {"encryption_option": "SSE_KMS", "kms_key_arn": self.key.arn},
                    "expected_bucket_owner": lab.account,
                },
            },
            opts=child,
        )

        self.database = aws.glue.CatalogDatabase(
            "audit-database",
            name=lab.glue_database,
            description=f"{lab.project}: the audit log archive, read in place (partition projection)",
            opts=child,
        )
        location = pulumi.Output.from_input(args.backup_bucket).apply(lambda b: f"s3://{b}/{lab.log_prefix}/")
        self.table = aws.glue.CatalogTable(
            "audit-events",
            name=TABLE_NAME,
            database_name=self.database.name,
            table_type="EXTERNAL_TABLE",
            description="One row per audit line (parsed by labkit.query.schema's pattern; a line it cannot "
            "read is a row with operation NULL, never dropped)",
            parameters=pulumi.Output.from_input(args.backup_bucket).apply(
                lambda b: {"EXTERNAL": "TRUE", "classification": "text", **projection_parameters(lab, b)}
            ),
            partition_keys=[{"name": c, "type": PARTITION_TYPES[c]} for c in PARTITION_COLUMNS],
            storage_descriptor={
                "location": location,
                "input_format": TEXT_INPUT,
                "output_format": TEXT_OUTPUT,
                "compressed": True,
                "columns": glue_columns(),
                "ser_de_info": {
                    "name": "audit-line",
                    "serialization_library": REGEX_SERDE,
                    "parameters": {"input.regex": LINE_PATTERN},
                },
            },
            opts=child,
        )

        self.named_queries: dict[str, aws.athena.NamedQuery] = {}
        for query_name in QUERIES:
            sql, description = named_query_text(query_name)
            self.named_queries[query_name] = aws.athena.NamedQuery(
                f"query-{query_name}",
                name=query_name,
                description=description,
                database=self.database.name,
                workgroup=self.workgroup.name,
                query=sql,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.table]),
            )
        self.register_outputs(
            {
                "workgroup": self.workgroup.name,
                "database": self.database.name,
                "table": self.table.name,
                "resultsLocation": self.results_location,
            }
        )

    def auditor_grants(
        self, lab: LabConfig, backup_bucket_arn: pulumi.Input[str], backup_key_arn: pulumi.Input[str]
    ) -> pulumi.Output[AuditorGrants]:
        """What the auditor role may touch: this workgroup, table and results, the backups read-only."""
        return pulumi.Output.all(
            backup_bucket_arn, backup_key_arn, self.results_bucket.arn, self.key.arn
        ).apply(
            lambda a: AuditorGrants(
                workgroup=lab.athena_workgroup,
                database=lab.glue_database,
                table=TABLE_NAME,
                backup_bucket_arn=a[0],
                log_prefix=lab.log_prefix,
                backup_key_arn=a[1],
                results_bucket_arn=a[2],
                results_prefix=RESULTS_PREFIX,
                results_key_arn=a[3],
            )
        )
