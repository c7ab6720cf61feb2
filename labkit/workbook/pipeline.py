"""Workbook steps on the running pipeline: traffic, waiting for the backups, inspecting, verifying.

Local: sysbench and the audit scenarios against the MariaDB stand-ins, and the lab's Lambda runtime is
told to scan now. AWS: the same scripts run on the stack's EC2 test host through SSM, and the scanner's
``live`` alias is invoked; from there on both targets are read the same way (DynamoDB, S3, RDS).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from labkit import aws
from labkit.config import LabConfig
from labkit.dashboard.tables import NUMBER, Table, size, table
from labkit.errors import LabkitError
from labkit.workbook.backups import BytesBar, backups_table, copied_bytes
from labkit.workbook.common import Chart, progress, timed_bar, workbook_config


class TrafficCommandError(LabkitError):
    """The traffic script on the AWS test host did not succeed."""


class ScannerInvokeError(LabkitError):
    """The scanner's ``live`` alias could not be invoked on the AWS target."""


# -- 40 traffic -----------------------------------------------------------------------------------------------
def generate_traffic(
    target: str = "local",
    workload: str = "oltp_read_write",
    intensity: str = "low",
    duration_s: int = 10,
    scenarios: str = "all",
    rate: int = 200,
    stack_name: str = "dev",
) -> Table:
    """sysbench for ``duration_s`` seconds plus the audit scenarios; one row per action and instance."""
    config = workbook_config(target)
    if config.target == "aws":
        return _traffic_on_test_host(config, stack_name, workload, intensity, duration_s, scenarios, rate)
    from labkit import traffic

    spec = traffic.TrafficSpec(workload, intensity=intensity, duration_s=duration_s, rate=rate)
    summaries = []
    with progress(spec.resolved.duration_s, f"{workload} ({intensity})", unit="s") as bar:
        bar.set_postfix_str("preparing tables")
        summaries.append(traffic.prepare(spec, config))

        def tick(t: traffic.ProgressTick) -> None:
            bar.n = min(float(bar.total), t.elapsed_s)
            bar.set_postfix_str(f"{t.tps:,.0f} tps")

        summaries.append(traffic.run(spec, config, on_progress=tick))
        bar.n = bar.total
        if scenarios:
            bar.set_postfix_str(f"scenarios: {scenarios}")
            summaries.extend(traffic.run_scenarios(scenarios, config))
        bar.set_postfix_str("done")
    return traffic_table(summaries)


def traffic_table(summaries: list[Any]) -> Table:
    """TrafficSummary objects as rows: the instance not targeted shows what it got by replication.

    ``tps`` is sysbench's rate, so only its runs have one ("-" elsewhere: a scenario is a few statements)."""
    frame = pd.DataFrame(
        [
            {
                "action": f"{s.action} {s.workload or ''}".strip(),
                "sent to": s.target,
                "instance": entry.instance_id,
                "seconds": round(s.duration_s, 1),
                "tps": None if s.transactions_per_s is None else round(s.transactions_per_s, 1),
                "audit lines": entry.lines,
                "audit bytes": entry.bytes,
            }
            for s in summaries
            for entry in s.audit
        ],
        columns=["action", "sent to", "instance", "seconds", "tps", "audit lines", "audit bytes"],
    )
    lines, written = int(frame["audit lines"].sum()), int(frame["audit bytes"].sum())
    title = f"Traffic: {lines:,} audit lines, {size(written)} written on {frame['instance'].nunique()} instance(s)"
    return table(frame, kinds={"tps": NUMBER}, title=title)


# The test host's scripts (infrastructure/scripts, installed by the stack's user data) name the scenarios
# differently; ``adhoc`` has no counterpart there. The workload itself always runs, as it does locally.
HOST_SCENARIOS: dict[str, str] = {"ddl": "ddl", "users": "users", "failed-logins": "failed-login"}
HOST_PROFILE = "/etc/profile.d/auditlab.sh"  # LAB_PROJECT, LAB_SSM_PREFIX, AWS_REGION (user data writes it)
SSM_POLL_S = 5.0
SSM_GRACE_S = 300.0  # setup_sysbench.sh and the scenarios, on top of the workload's run time


def host_scenarios(scenarios: str) -> str:
    """The test_audit_logs.sh arguments for the workbook's ``scenarios`` ("" = the workload alone)."""
    if scenarios == "all":
        return "all"
    if not scenarios:
        return "workload"
    if scenarios not in HOST_SCENARIOS:
        raise TrafficCommandError(
            f"scenario {scenarios!r} does not run on the AWS test host: choose one of "
            f"{', '.join(HOST_SCENARIOS)}, all, or '' (the workload alone)"
        )
    return f"workload {HOST_SCENARIOS[scenarios]}"


def host_script(workload: str, intensity: str, duration_s: int, scenarios: str, rate: int) -> str:
    """The shell the SSM command runs: Run Command starts a plain shell, so the lab's profile is read first."""
    return (
        f"set -e; . {HOST_PROFILE}; /opt/auditlab/setup_sysbench.sh; "
        f"/opt/auditlab/test_audit_logs.sh --workload {workload} --intensity {intensity} --time {int(duration_s)} "
        f"--rate {int(rate)} {host_scenarios(scenarios)}"
    )


def _traffic_on_test_host(
    config: LabConfig,
    stack_name: str,
    workload: str,
    intensity: str,
    duration_s: int,
    scenarios: str,
    rate: int,
) -> Table:
    from labkit.ops.stacks import LabStacks

    script = host_script(workload, intensity, duration_s, scenarios, rate)  # refused before any call
    host = LabStacks(stack_name, config, on_output=None).outputs(["lab"])["lab"]["testHostId"]
    budget = duration_s + SSM_GRACE_S
    ssm = aws.client("ssm", config)
    try:
        command_id = ssm.send_command(
            InstanceIds=[host],
            DocumentName="AWS-RunShellScript",
            # the document's own default stops a script after 3600 s, whatever duration_s asks for
            Parameters={"commands": [script], "executionTimeout": [str(int(budget))]},
        )["Command"]["CommandId"]
    except ClientError as exc:
        raise TrafficCommandError(
            f"traffic on test host {host}: SSM refused the command ({exc}); is the host running and "
            "registered with Systems Manager (its SSM agent starts a few minutes after pulumi up)?"
        ) from exc
    deadline = time.monotonic() + budget
    answer: dict[str, Any] = {"Status": "Pending"}
    with timed_bar(budget, f"traffic on {host}") as bar:
        while answer["Status"] in ("Pending", "InProgress", "Delayed"):
            if time.monotonic() > deadline:
                raise TrafficCommandError(
                    f"traffic on test host {host}: still {answer['Status']} after {budget:.0f}s "
                    f"(SSM command {command_id}); see it with aws ssm list-command-invocations "
                    f"--command-id {command_id} --details"
                )
            time.sleep(SSM_POLL_S)
            bar.advance()
            try:
                answer = ssm.get_command_invocation(CommandId=command_id, InstanceId=host)
            except ssm.exceptions.InvocationDoesNotExist:
                continue
    if answer["Status"] != "Success":
        raise TrafficCommandError(
            f"traffic on test host {host}: {answer['Status']}:\n{answer.get('StandardErrorContent', '')[-2000:]}"
        )
    output = pd.DataFrame({"output": answer.get("StandardOutputContent", "").splitlines()[-20:]})
    return table(output, title=f"traffic on {host}: the last lines of its output")


# -- 40/50 waiting for the pipeline ---------------------------------------------------------------------------
DRAIN_POLL_S = 1.0  # local: how often the bar is redrawn while the runtime copies


def wait_for_backups(target: str = "local", timeout_s: float = 180.0, settle_s: float = 30.0) -> Table:
    """Scan now and wait until every sealed audit byte is in S3; a bar of this wait's bytes backed up.

    Local: the files written so far are rotated (sealed) and the lab's runtime scans and drains until a
    scan finds nothing new, the bar redrawn every ``DRAIN_POLL_S`` while it copies. AWS: the scanner's
    ``live`` alias is invoked and the table is polled (at least ``settle_s`` seconds, the time detection
    takes to start).
    """
    from labkit.ops.lab import PipelineNotCaughtUpError, pending_bytes

    config = workbook_config(target)
    started = time.monotonic()
    deadline = started + timeout_s
    rounds = 0
    with progress(None, "bytes backed up", unit="B") as raw:

        def show(pending: int, note: str) -> None:
            bar.show(copied_bytes(_items(config)), pending, note)

        if config.target == "local":
            from labkit.local.state import read_running_state
            from labkit.ops.lab import runtime_call, seal_active_files

            endpoint = read_running_state(config).endpoint
            bar = BytesBar(raw, copied_bytes(_items(config)))  # this wait's bytes count from here
            bar.show(bar.copied_before, 0, "rotating the active audit files")
            seal_active_files(config)  # what was written so far moves to files that no longer grow
            time.sleep(config.seal_after_s + 1)  # not written for seal_after_s: the detector seals them
        else:
            _invoke_scanner(config)
            bar = BytesBar(raw, copied_bytes(_items(config)))
        while True:
            rounds += 1
            if config.target == "local":
                runtime_call(endpoint, "runtime/tick")
                while not runtime_call(
                    endpoint, "runtime/drain", {"timeout": DRAIN_POLL_S}, timeout=DRAIN_POLL_S + 30
                )["idle"]:
                    show(pending_bytes(config), f"scan {rounds}: copying")
                    if time.monotonic() > deadline:
                        break
            else:
                time.sleep(10)
            pending = pending_bytes(config)
            show(pending, f"scan {rounds}, {pending:,} B pending")
            settled = config.target == "local" or time.monotonic() - started >= settle_s
            if pending == 0 and settled:
                break
            if time.monotonic() > deadline:
                raise PipelineNotCaughtUpError(f"{pending:,} bytes still to copy after {timeout_s:.0f}s")
    return backup_progress(config, rounds, time.monotonic() - started)


def _invoke_scanner(config: LabConfig) -> None:
    """Start a scan now (asynchronously, as the schedule would) through the ``live`` alias."""
    lam = aws.client("lambda", config)
    name, alias = config.names.scanner, config.names.alias
    try:
        lam.invoke(FunctionName=name, Qualifier=alias, InvocationType="Event")
    except ClientError as exc:
        raise ScannerInvokeError(
            f"could not invoke {name}:{alias} ({exc}): deploy the lab stack first (deploy_lab_stack)"
        ) from exc


def backup_progress(config: LabConfig, rounds: int, seconds: float) -> Table:
    """Files per state and bytes copied, after the wait; what a surprising state means, under it."""
    from labkit.ops.backup import progress_row

    return backups_table(progress_row(config, rounds, seconds), _items(config))


def _items(config: LabConfig) -> list[dict[str, Any]]:
    from labkit.ops.backup import items

    return items(config)


# -- 50 inspect -----------------------------------------------------------------------------------------------
def inspect_backup_state(target: str = "local") -> pd.DataFrame:
    """One row per tracked audit file (the tracking table), as the dashboards read it."""
    from labkit.dashboard.state import backup_state

    return backup_state(workbook_config(target))


def backup_gaps(target: str = "local") -> pd.DataFrame:
    """Windows in which audit files may have been created and deleted unseen (``labkit gaps``)."""
    from labkit.dashboard.state import backup_gaps as gaps

    return gaps(workbook_config(target))


def backup_parts(target: str = "local") -> pd.DataFrame:
    """One row per S3 part object: the source byte range it holds, compressed size, when it was written."""
    from labkit.dashboard.state import backup_parts as parts

    return parts(workbook_config(target))


def history_cover(target: str = "local") -> pd.DataFrame:
    """Per instance: does the audit history it keeps cover ``history_safe_scans`` scan periods, and if
    not, which setting to change (labkit.backup.sizing, on the last listing the detector recorded)."""
    from labkit.backup.sizing import HistoryPolicy
    from labkit.dashboard.risk import history_cover_table

    config = workbook_config(target)
    return history_cover_table(_items(config), HistoryPolicy.for_lab(config))


def summarize_backup_state(state: pd.DataFrame, parts: pd.DataFrame) -> dict[str, Any]:
    """The figures a run is judged by: files backed up, bytes in S3, LOST files and bytes."""
    from labkit.ops.backup import summarize

    return summarize(state.to_dict(orient="records"), parts.to_dict(orient="records"))


# -- 60 verify ------------------------------------------------------------------------------------------------
@dataclass
class Verification:
    """The reconciliation as a notebook shows it: a verdict, one row per file, a chart, recorded values."""

    summary: pd.DataFrame
    files: pd.DataFrame
    chart: Chart  # files by state and bytes per instance
    values: dict[str, Any] = field(default_factory=dict)

    def _view(self) -> Any:
        from labkit.dashboard.tables import figures_table

        verdict = "clean: every audit byte in S3, exactly once" if self.values.get("clean") else "NOT clean"
        return figures_table(self.values, f"Reconciliation {verdict}")

    def _repr_html_(self) -> str:
        return str(self._view()._repr_html_())

    def __repr__(self) -> str:
        return repr(self._view())


def verify_backups(target: str = "local") -> Verification:
    """Every detected file's S3 parts hold exactly its bytes, none twice (``labkit verify``)."""
    from labkit.verify import reconcile_target, reconciliation_figure

    report = reconcile_target(workbook_config(target))
    values = report.summary()
    files = pd.DataFrame(
        [
            {
                "instance": f.instance_id,
                "file": f.name,
                "state": f.state,
                "source bytes": f.size,
                "in S3": f.s3_bytes,
                "parts": f.parts,
                "gzip bytes": f.compressed_bytes,
                "pending": f.pending,
                "source checked": f.source_checked,
                "problems": "; ".join(f.problems) or "-",
            }
            for f in report.files
        ]
    )
    return Verification(pd.DataFrame([values]), files, Chart(reconciliation_figure(report)), values)
