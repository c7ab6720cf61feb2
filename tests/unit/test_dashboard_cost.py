"""The cost view: the lab's measured audit volume turned into a monthly bill of this pipeline beside
CloudWatch Logs, with every price a parameter."""

from __future__ import annotations

from datetime import timedelta

import pytest
from matplotlib.colors import to_rgba

from labkit.backup import table as t
from labkit.backup.layout import PartKey
from labkit.dashboard.cost import (
    CLOUDWATCH,
    CLOUDWATCH_INGEST_PER_GB,
    CLOUDWATCH_STORAGE_GB_MONTH,
    DAYS_PER_MONTH,
    DEFAULT_COMPRESSION_RATIO,
    EXPORT_INGESTION,
    EXPORT_STORAGE,
    GIB,
    LOG_RETENTION_DAYS,
    PIPELINE,
    PipelineShape,
    Prices,
    cost_chart,
    cost_totals,
    measured_volume,
    monthly_cost,
)
from labkit.dashboard.state import parts_frame, state_frame
from tests.unit.dashboard_items import NOW, item

GB_PER_DAY = 10 * GIB


def line(frame, option: str, name: str):  # type: ignore[no-untyped-def]
    return frame[(frame["option"] == option) & (frame["item"] == name)].iloc[0]


def test_storage_and_ingestion_follow_the_prices() -> None:
    # GIVEN 10 GB of audit log a day, gzip at 20x, a year kept
    frame = monthly_cost(GB_PER_DAY, 20.0, files_per_day=100, retention_days=365)
    # THEN S3 holds a year of compressed parts, CloudWatch ingests a month of raw text
    s3 = line(frame, PIPELINE, "S3 storage (gzip)")
    assert s3["quantity"] == pytest.approx(10 * 365 / 20)
    assert s3["monthly_usd"] == pytest.approx(10 * 365 / 20 * 0.023)
    ingest = line(frame, CLOUDWATCH, "CloudWatch Logs ingestion")
    assert ingest["monthly_usd"] == pytest.approx(10 * DAYS_PER_MONTH * 0.50)
    assert set(frame["option"]) == {PIPELINE, CLOUDWATCH}
    totals = cost_totals(frame)
    assert totals[PIPELINE] < totals[CLOUDWATCH]  # at this volume the pipeline is far cheaper
    assert (frame["monthly_usd"] >= 0).all()


def test_prices_are_parameters() -> None:
    free_s3 = Prices(s3_standard_gb_month=0.0, s3_put_per_1k=0.0)
    frame = monthly_cost(GB_PER_DAY, 20.0, 100, prices=free_s3)
    assert line(frame, PIPELINE, "S3 storage (gzip)")["monthly_usd"] == 0
    assert line(frame, PIPELINE, "S3 PUT requests")["monthly_usd"] == 0
    with pytest.raises(AttributeError):
        free_s3.s3_put_per_1k = 1.0  # type: ignore[misc]  # frozen: a shared default cannot drift


def test_better_compression_lowers_only_the_storage_of_the_pipeline() -> None:
    low, high = monthly_cost(GB_PER_DAY, 5.0, 100), monthly_cost(GB_PER_DAY, 25.0, 100)
    storage = "S3 storage (gzip)"
    assert line(high, PIPELINE, storage)["monthly_usd"] == pytest.approx(
        line(low, PIPELINE, storage)["monthly_usd"] / 5
    )
    ingest = "CloudWatch Logs ingestion"
    assert line(high, CLOUDWATCH, ingest)["monthly_usd"] == line(low, CLOUDWATCH, ingest)["monthly_usd"]


def test_large_parts_are_counted_as_multipart_uploads() -> None:
    # GIVEN one scan a day on one file: each part holds a whole day (100 GB -> 5 GB gzip, above 8 MB)
    shape = PipelineShape(scan_interval_s=86400, active_files=1)
    big = line(monthly_cost(100 * GIB, 20.0, 0, shape=shape), PIPELINE, "S3 PUT requests")
    small = line(monthly_cost(1024, 20.0, 0, shape=shape), PIPELINE, "S3 PUT requests")
    # THEN a small part is one PUT, a big one is create + parts + complete + the metadata copy
    assert small["quantity"] == pytest.approx(DAYS_PER_MONTH / 1000)
    parts_per_upload = -(-5 * GIB // (8 * 1024 * 1024))
    assert big["quantity"] == pytest.approx(DAYS_PER_MONTH * (3 + parts_per_upload) / 1000, rel=0.01)


def test_measured_volume_turns_the_lab_into_bytes_per_day() -> None:
    # GIVEN two files first seen 10 minutes before their last write, 3 MB in all, and two parts in S3
    state = state_frame(
        [
            item("db-1", "a", t.BACKED_UP, 1_000_000, 1_000_000, written_ago_s=0),
            item("db-2", "b", t.PARTIAL, 2_000_000, 1_000_000, written_ago_s=0),
        ],
        now=NOW,
    )
    parts = parts_frame(
        (
            {
                "Key": PartKey("audit-logs", "c-1", i, "2026-11-26", f).key(1),
                "Size": 50_000,
                "LastModified": NOW,
            },
            {"source-start": "0", "source-end": "1000000"},
        )
        for i, f in (("db-1", "a"), ("db-2", "b"))
    )
    volume = measured_volume(state, parts)
    # THEN 3 MB per 10 minutes is 432 MB a day, at the 20x the parts show
    assert volume["audit_bytes_per_day"] == pytest.approx(3_000_000 * 144)
    assert volume["compression_ratio"] == pytest.approx(20.0) and volume["compression_measured"]
    assert volume["files_per_day"] == pytest.approx(2 * 144)
    assert (volume["instances"], volume["window_s"]) == (2, timedelta(minutes=10).total_seconds())
    frame = monthly_cost(volume["audit_bytes_per_day"], volume["compression_ratio"], volume["files_per_day"])
    assert cost_totals(frame)[PIPELINE] > 0
    # a window given by the caller (e.g. the traffic's duration) replaces the one read from the table
    assert measured_volume(state, parts, window_s=86400)["audit_bytes_per_day"] == pytest.approx(3_000_000)


def test_measured_volume_without_parts_assumes_the_reference_ratio() -> None:
    volume = measured_volume(state_frame([]), parts_frame([]))
    assert volume["compression_ratio"] == DEFAULT_COMPRESSION_RATIO and not volume["compression_measured"]
    assert volume["audit_bytes_per_day"] == 0


def test_cost_chart_has_one_stacked_bar_per_option() -> None:
    frame = monthly_cost(GB_PER_DAY, 20.0, 100)
    fig = cost_chart(frame)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [PIPELINE, CLOUDWATCH]
    series = {c.get_label(): c for c in ax.containers}
    assert set(series) == set(frame["item"])
    ingest = series["CloudWatch Logs ingestion"].patches
    assert ingest[0].get_width() == 0 and ingest[1].get_width() == pytest.approx(10 * DAYS_PER_MONTH * 0.5)
    totals = [t.get_text() for t in ax.texts]
    assert totals == [f"${v:,.2f}/month" for v in cost_totals(frame)]
    assert ingest[1].get_facecolor() != to_rgba("white")


# --- the optional CloudWatch export (lab stack auditLogsToCloudWatch, Security Hub RDS.34; issue 18 item 8) ---


def test_the_cloudwatch_export_is_not_billed_unless_the_stack_setting_is_on() -> None:
    frame = monthly_cost(GB_PER_DAY, 20.0, 100)
    assert not frame["item"].isin([EXPORT_INGESTION, EXPORT_STORAGE]).any()


def test_the_cloudwatch_export_adds_ingestion_and_its_retention_to_the_pipelines_bill() -> None:
    # GIVEN 1 GiB of audit log a day, gzip at 10x (CloudWatch's own compression assumed alike), the export on
    # with the stack's 14 days of log retention
    off = monthly_cost(GIB, 10.0, 100)
    on = monthly_cost(GIB, 10.0, 100, audit_logs_to_cloudwatch=True, log_retention_days=14)
    # THEN every raw byte is ingested once: 730/24 = 30.4167 GB a month at $0.50 = $15.21
    ingest = line(on, PIPELINE, EXPORT_INGESTION)
    assert ingest["quantity"] == pytest.approx(30.416667)
    assert ingest["monthly_usd"] == pytest.approx(15.208333)
    # AND 14 days are kept, compressed: 14 GB / 10 = 1.4 GB-month at $0.03 = $0.042
    storage = line(on, PIPELINE, EXPORT_STORAGE)
    assert storage["quantity"] == pytest.approx(1.4)
    assert storage["monthly_usd"] == pytest.approx(0.042)
    # AND the pipeline's total grows by exactly those two lines; the CloudWatch-only option is unchanged
    assert cost_totals(on)[PIPELINE] == pytest.approx(cost_totals(off)[PIPELINE] + 15.208333 + 0.042)
    assert cost_totals(on)[CLOUDWATCH] == pytest.approx(cost_totals(off)[CLOUDWATCH])


def test_the_export_is_priced_from_the_documented_constants_and_the_prices_parameter() -> None:
    prices = Prices()
    assert prices.cloudwatch_ingest_per_gb == CLOUDWATCH_INGEST_PER_GB == 0.50  # us-east-1, Standard class
    assert prices.cloudwatch_storage_gb_month == CLOUDWATCH_STORAGE_GB_MONTH == 0.03
    assert LOG_RETENTION_DAYS == 14  # the stack's logRetentionDays default (tests/infra agree on it)
    cheaper = Prices(cloudwatch_ingest_per_gb=0.25)
    frame = monthly_cost(GIB, 10.0, 100, cheaper, audit_logs_to_cloudwatch=True)
    assert line(frame, PIPELINE, EXPORT_INGESTION)["monthly_usd"] == pytest.approx(30.416667 * 0.25)


def test_the_chart_gives_the_exports_lines_their_own_colours() -> None:
    frame = monthly_cost(GB_PER_DAY, 20.0, 100, audit_logs_to_cloudwatch=True)
    ax = cost_chart(frame).axes[0]
    colours = {c.get_label(): c.patches[0].get_facecolor() for c in ax.containers}
    assert {EXPORT_INGESTION, EXPORT_STORAGE} <= set(colours)
    assert len(set(colours.values())) == len(colours)  # eleven items, eleven colours
