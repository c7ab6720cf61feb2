"""Reconciliation and backup state as a person reads them: a JSON summary and a chart under out/."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from labkit import aws
from labkit.backup import table as t
from labkit.config import LabConfig
from labkit.verify.reconciliation import Reconciliation, reconcile


def reconcile_target(config: LabConfig, grace_s: float | None = None) -> Reconciliation:
    """Run the reconciliation against the config's target (the local lab or an AWS account).

    Every instance the scanner would cover is checked, so one it never reached shows up. A file not detected
    yet is pending, not undetected, for ``grace_s`` after its last write (default: one scan interval, the
    longest a healthy pipeline takes to see it).
    """
    from labkit.backup.scanner import find_instances

    dynamodb = aws.resource("dynamodb", config)
    rds = aws.client("rds", config)
    engines = config.engine_set
    scanned, _ = find_instances(rds, engines, config.opt_out_tag, config.scheme_tag)
    return reconcile(
        dynamodb.Table(config.names.table),
        aws.client("s3", config),
        rds,
        aws.session(config).get_credentials(),
        config.names.bucket,
        config.log_prefix,
        grace_s=config.scan_interval_s if grace_s is None else grace_s,
        covered={m.instance_id: m.scheme for m in scanned},
        complete=aws.complete_download(config),
    )


def write_report(
    report: Reconciliation, out_dir: Path, extra: dict[str, Any] | None = None
) -> tuple[Path, Path]:
    """out/summary.json and out/backup-state.png: files by state per instance, bytes per instance."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {**report.summary(), **(extra or {})}
    summary["problems"] = {f"{f.instance_id}/{f.file_id}": f.problems for f in report.files if f.problems}
    summary["verdicts"] = {f"{f.instance_id}/{f.file_id}": f.status for f in report.files}
    summary_path = out_dir / "summary.json"
    summary_path.write_text(json.dumps(summary, indent=2, default=str))
    chart_path = out_dir / "backup-state.png"
    reconciliation_figure(report).savefig(chart_path, dpi=110)
    return summary_path, chart_path


def reconciliation_figure(report: Reconciliation) -> Any:
    """Files by state per instance and bytes per instance, as a matplotlib Figure.

    Built without pyplot, so no backend is chosen here: a script saves it to a file, a notebook shows it
    (the workbook's verify step) and nothing is left open in pyplot's figure list.
    """
    from matplotlib.figure import Figure

    states: dict[str, Counter[str]] = defaultdict(Counter)
    sizes: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for f in report.files:
        states[f.instance_id][f.state] += 1
        sizes[f.instance_id][0] += f.size
        sizes[f.instance_id][1] += f.s3_bytes
        sizes[f.instance_id][2] += f.compressed_bytes
    instances = sorted(states) or ["(none)"]
    fig = Figure(figsize=(12, 4.5))
    ax_states, ax_bytes = fig.subplots(1, 2)
    bottom = [0] * len(instances)
    colors = {
        t.BACKED_UP: "#2ca02c",
        t.PARTIAL: "#1f77b4",
        t.DETECTED: "#aec7e8",
        t.COPYING: "#9467bd",
        t.LOST: "#d62728",
        t.FAILED: "#ff7f0e",
        "UNTRACKED": "#7f7f7f",  # a source file or an S3 identity the table has no item for
    }
    for state in (*t.STATES, "UNTRACKED"):
        counts = [states[i][state] for i in instances]
        if any(counts):
            ax_states.bar(instances, counts, bottom=bottom, label=state, color=colors[state])
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    ax_states.yaxis.get_major_locator().set_params(integer=True)
    lost = sum(1 for f in report.files if f.state == t.LOST)
    failed = sum(1 for f in report.files if f.state == t.FAILED)
    ax_states.set_title(f"{len(report.files)} audit files: {lost} LOST, {failed} FAILED")
    ax_states.set_xlabel("DB instance")
    ax_states.set_ylabel("files")
    ax_states.legend()
    width = 0.27
    xs = range(len(instances))
    for n, (label, color) in enumerate(
        (("source", "#7f7f7f"), ("in S3", "#2ca02c"), ("in S3, gzip", "#98df8a"))
    ):
        ax_bytes.bar(
            [x + (n - 1) * width for x in xs],
            [sizes[i][n] / 1e6 for i in instances],
            width,
            label=label,
            color=color,
        )
    ax_bytes.set_xticks(list(xs), instances)
    source, in_s3 = sum(f.size for f in report.files), sum(f.s3_bytes for f in report.files)
    ax_bytes.set_title(f"{in_s3 / 1e6:,.1f} MB of {source / 1e6:,.1f} MB at the source are in S3")
    ax_bytes.set_xlabel("DB instance")
    ax_bytes.set_ylabel("MB")
    ax_bytes.legend()
    for ax in (ax_states, ax_bytes):
        ax.tick_params(axis="x", labelrotation=10, labelsize=8)
    verdict = "clean" if report.clean else "PROBLEMS FOUND"
    fig.suptitle(
        f"Backup reconciliation: {verdict} - {len(report.files)} files, {len(report.lost)} lost, "
        f"{len(report.misattributed)} misattributed, {len(report.undetected)} undetected"
    )
    fig.tight_layout()
    return fig
