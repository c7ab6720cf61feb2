"""A synthetic Aurora fleet backed up by the real pipeline, under the emulator's aws (or fast) RDS profile.

N instances (labkit.local.fleet: four files written at once each, mostly quiet, some busy, rotation by size and
period, retention by age and count, a probe line per instance every --probe-s) in the emulator; the scanner,
detector and downloader handlers driven by the local runtime from the schedule, the queue and the stream, with
the emulator's deletion events (labkit.local.fleet_lab). Measuring starts at the first scheduled scan and
lasts --minutes; then the writer stops and the last probes get --drain-s to reach S3.

Prints, for the measured window: production and copied MB/s; the backlog (written, not yet in S3 nor LOST) at
start, middle and end; RPO p50/p95/max (a probe's write -> the first bucket listing, every --watch-s, that
shows a part holding it); the RDS requests the emulator served on the account's budget, mean and the highest
60-s window, against the budget, and the throttled answers; invocations, FAILED files and LOST bytes; and the
floor: the shortest look interval the budget allows for the files that grow per look, the best RPO that
gives, and achieved/floor. With --json the last line is one JSON object. Figures only, never asserts.

The pipeline runs with the settings it has on AWS: its RDS budget (LABKIT_RDS_BUDGET_RPS, else 10/s under
the aws profile, none under fast), scans spread over the period (--scan-spread, default 1 as on AWS) and
quiet instances backed off (--quiet-max-skip, default 3 as on AWS).

Usage: .venv/bin/python bench/bench_fleet.py --instances 10 --minutes 2 --mb-s 3 [--profile aws|fast] [--json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import math
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from labkit import aws
from labkit.config import DEFAULT_RDS_BUDGET_RPS
from labkit.local.fleet import FleetSpec
from labkit.local.fleet_lab import FleetPipeline, Progress

MB = 1_000_000
FIGURES = sys.stdout
PROBE = re.compile(rb"fleet-probe-[0-9a-f]+-[A-Za-z0-9-]+-\d+")


class Sampler(threading.Thread):
    """Every second: the emulator's charged (admitted) and throttled RDS calls, as (t, charged, throttled)."""

    def __init__(self, lab: FleetPipeline) -> None:
        super().__init__(name="rds-sampler", daemon=True)
        self.lab, self.samples = lab, []  # type: ignore[var-annotated]
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            calls = self.lab.rds_calls()
            self.samples.append((time.time(), calls["charged"], calls["throttled_total"]))


class Watcher(threading.Thread):
    """Lists the bucket every ``every_s``; notes when each probe tag first shows in a part."""

    def __init__(self, lab: FleetPipeline, every_s: float) -> None:
        super().__init__(name="probe-watcher", daemon=True)
        self.s3, self.bucket = aws.client("s3", lab.config), lab.config.names.bucket
        self.every_s, self.seen, self.keys = every_s, {}, set()  # type: ignore[var-annotated]
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.every_s):
            now = time.time()
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
            for key in [o["Key"] for p in pages for o in p.get("Contents", []) if o["Key"] not in self.keys]:
                self.keys.add(key)
                if key.endswith(".gz"):
                    body = gzip.decompress(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
                    for tag in PROBE.findall(body):
                        self.seen.setdefault(tag.decode(), now)


def say(*parts: Any) -> None:
    print(*parts, file=FIGURES, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)] if ordered else float("nan")


def peak_window(samples: list[tuple[float, int, int]], window_s: float = 60.0) -> tuple[float, float]:
    """The highest mean rate of charged calls over any ``window_s`` of the samples (the whole run if shorter),
    and the window's length actually used."""
    best, used = 0.0, 0.0
    for i, (t0, c0, _) in enumerate(samples):
        j = next((j for j in range(i, len(samples)) if samples[j][0] - t0 >= window_s), None)
        if j is None:
            if i == 0 and len(samples) > 1:  # shorter than one window: the whole run
                t1, c1, _ = samples[-1]
                return (c1 - c0) / max(t1 - t0, 1e-9), t1 - t0
            break
        t1, c1, _ = samples[j]
        if (c1 - c0) / (t1 - t0) > best:
            best, used = (c1 - c0) / (t1 - t0), t1 - t0
    return best, used


def floor(spec: FleetSpec, budget_rps: float, profile: Any) -> dict[str, float]:
    """The shortest look interval T the budget allows, and the best p95 RPO it gives (derived, not measured).

    Per look interval T: the scanner's DescribeDBInstances pages (ceil(N/100)), one DescribeDBLogFiles per
    instance, and one portion call per file that grew (g_i = the files instance i wrote to in T, at most its
    streams); on top, per second, one page per MB written (a grown file's bytes past its first page) and one
    call per rotated file (its sealed end). T_min = per-look calls / (budget - per-second calls); None when
    the per-second calls alone exceed the budget (saturation: no look interval keeps up). A byte waits up to
    one interval for the next look, so p95 ~ 0.95 T, plus the look's and the copy's call latency and the page
    transfer of one look's growth of the busiest file."""
    rates = spec.rates()
    total = sum(rates)
    rotations = total / spec.rotate_bytes + (
        spec.instances * spec.streams / spec.rotate_period_s if spec.rotate_period_s else 0.0
    )
    per_second = total / MB + rotations
    spare = budget_rps - per_second
    if spare <= 0:
        return {"t_min_s": math.inf, "rpo_floor_s": math.inf, "per_second": per_second, "per_look": math.nan}
    t = 1.0
    for _ in range(50):  # g_i depends on T: iterate to the fixed point
        grown = sum(min(spec.streams, r * t / spec.line_bytes) for r in rates)
        per_look = math.ceil(spec.instances / 100) + spec.instances + grown
        t = per_look / spare
    latency = 2 * profile.call_latency_ms / 1000 if profile.throttles else 0.0
    transfer = (max(rates) / spec.streams * t) / (profile.portion_mb_s * MB) if profile.throttles else 0.0
    return {
        "t_min_s": t,
        "rpo_floor_s": 0.95 * t + latency + transfer,
        "per_second": per_second,
        "per_look": per_look,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", type=int, required=True)
    parser.add_argument("--minutes", type=float, required=True, help="measured minutes (fractions allowed)")
    parser.add_argument("--mb-s", type=float, required=True, help="total audit MB/s (10^6 B) over the fleet")
    parser.add_argument("--profile", choices=("aws", "fast"), default="aws")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    parser.add_argument("--scan-s", type=float, default=60.0, help="the scan schedule (the stack's: 1 min)")
    parser.add_argument("--clusters", type=int, default=0, help="0: one per 50 instances")
    parser.add_argument("--rotate-mb", type=float, default=10.0, help="rotation size (Aurora: 100 MB)")
    parser.add_argument("--rotate-period-s", type=float, default=600.0, help="rotation period (Aurora: 1 h)")
    parser.add_argument("--retention-s", type=float, default=1800.0, help="retention by age (Aurora: 24 h)")
    parser.add_argument("--retention-files", type=int, default=64, help="files kept per instance (0: no cap)")
    parser.add_argument("--probe-s", type=float, default=5.0, help="a probe line per instance every ...")
    parser.add_argument("--seal-after-s", type=float, default=10.0, help="LABKIT_SEAL_AFTER_S")
    parser.add_argument("--scan-spread", type=float, default=1.0, help="LABKIT_SCAN_SPREAD (AWS: 1)")
    parser.add_argument("--quiet-max-skip", type=int, default=3, help="LABKIT_QUIET_MAX_SKIP (AWS: 3)")
    parser.add_argument(
        "--tail-poll-s",
        type=float,
        default=0.0,
        help="tail each scanned instance every ... s until its next scan (LABKIT_DETECTOR_TAILING; 0: off)",
    )
    parser.add_argument("--watch-s", type=float, default=1.0, help="bucket listing interval for the probes")
    parser.add_argument("--drain-s", type=float, default=None, help="default: one scan period + 60 s")
    args = parser.parse_args()
    if args.instances < 1 or args.minutes <= 0 or args.mb_s < 0:
        parser.error(
            "--instances >= 1, --minutes > 0 and --mb-s >= 0 (e.g. --instances 10 --minutes 2 --mb-s 3)"
        )
    logging.disable(logging.WARNING)  # throttling and retries would flood the figures
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"  # the handlers' EMF lines (stdout) too
    budget_env = os.environ.get("LABKIT_RDS_BUDGET_RPS")
    budget_rps = (
        float(budget_env) if budget_env else (DEFAULT_RDS_BUDGET_RPS if args.profile == "aws" else 0.0)
    )
    run_id = uuid.uuid4().hex[:8]
    spec = FleetSpec(
        args.instances,
        args.mb_s * MB,
        clusters=args.clusters or max(1, args.instances // 50),
        rotate_bytes=int(args.rotate_mb * MB),
        rotate_period_s=args.rotate_period_s,
        retention_s=args.retention_s,
        retention_files=args.retention_files,
        probe_interval_s=args.probe_s,
        prefix="fleet",
        run_id=run_id,
    ).validate()
    settings: dict[str, Any] = {
        "project": f"fleet-{run_id}",
        "rds_profile": args.profile,
        "scan_interval_s": args.scan_s,
        "seal_after_s": args.seal_after_s,
    }
    settings.update(
        rds_budget_rps=budget_rps, scan_spread=args.scan_spread, quiet_max_skip=args.quiet_max_skip
    )
    if args.tail_poll_s > 0:  # looks between the scans, paced by the budget
        settings.update(detector_tailing=True, tail_poll_s=args.tail_poll_s)
    drain_s = args.scan_s + 60 if args.drain_s is None else args.drain_s
    print(
        f"fleet: {args.instances} instances in {spec.clusters} cluster(s), {args.mb_s} MB/s in all "
        f"({sum(1 for r in spec.rates() if r == spec.rates()[0])} busy at {spec.rates()[0] / MB:.3f} MB/s each, "
        f"the rest at {spec.rates()[-1] / MB:.4f}), {spec.streams} files at once each; rotation at "
        f"{args.rotate_mb} MB and every {args.rotate_period_s:.0f} s, retention {args.retention_s:.0f} s / "
        f"{args.retention_files} files; profile {args.profile}; scan every {args.scan_s:.0f} s",
        flush=True,
    )
    print(
        f"pipeline: RDS budget {f'{budget_rps:g} req/s' if budget_rps else 'none (fast profile)'}"
        f"{' (LABKIT_RDS_BUDGET_RPS)' if budget_env else ''}; scans spread over {args.scan_spread:g} of the "
        f"period; quiet instances skip at most {args.quiet_max_skip} looks; "
        + (f"tailing every {args.tail_poll_s:g} s" if args.tail_poll_s > 0 else "no tailing"),
        flush=True,
    )
    quiet = open(os.devnull, "w")  # noqa: SIM115 - closed below
    sys.stdout = quiet  # the handlers print their EMF metric lines to stdout; figures go to FIGURES
    try:
        figures = run(args, spec, settings, drain_s)
    finally:
        sys.stdout = FIGURES
        quiet.close()
    figures["rds_budget_rps"], figures["scan_spread"] = budget_rps, args.scan_spread
    figures["quiet_max_skip"], figures["tail_poll_s"] = args.quiet_max_skip, args.tail_poll_s
    if args.json:
        print(json.dumps(figures, sort_keys=True))


def run(
    args: argparse.Namespace, spec: FleetSpec, settings: dict[str, Any], drain_s: float
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, FleetPipeline(spec, Path(tmp), settings) as lab:
        assert lab.fleet is not None and lab.runtime is not None
        profile = lab.server.app.profile if lab.server else None
        sampler, watcher = Sampler(lab), Watcher(lab, args.watch_s)
        sampler.start()
        watcher.start()
        while lab.runtime.stats()["scanner"]["invocations"] < 1:
            time.sleep(0.2)
        measure_s = args.minutes * 60
        started = time.time()
        progress = {"start": lab.progress()}
        time.sleep(measure_s / 2)
        progress["middle"] = lab.progress()
        time.sleep(max(0.0, started + measure_s - time.time()))
        ended = time.time()
        progress["end"] = lab.progress()
        lab.fleet.stop()
        probes = [p for p in lab.fleet.probes if started <= p.written_at <= ended]
        deadline = time.time() + drain_s
        while time.time() < deadline and any(p.tag not in watcher.seen for p in probes):
            time.sleep(1.0)
        watcher.stop.set()
        sampler.stop.set()
        watcher.join(30)
        sampler.join(30)
        stats = lab.runtime.stats()
        return report(args, spec, lab, progress, probes, watcher, sampler, stats, started, ended, profile)


def report(
    args: argparse.Namespace,
    spec: FleetSpec,
    lab: FleetPipeline,
    progress: dict[str, Progress],
    probes: list[Any],
    watcher: Watcher,
    sampler: Sampler,
    stats: dict[str, Any],
    started: float,
    ended: float,
    profile: Any,
) -> dict[str, Any]:
    duration = ended - started
    start, middle, end = progress["start"], progress["middle"], progress["end"]
    produced = (end.produced - start.produced) / duration / MB
    copied = (end.copied - start.copied) / duration / MB
    say(f"\nmeasured {duration:.0f} s from the first scheduled scan")
    say(
        f"  production {produced:.3f} MB/s, copied {copied:.3f} MB/s (copied / produced {copied / produced if produced else math.nan:.2f})"
    )
    say(
        f"  backlog (written, not in S3 nor LOST): start {start.backlog / MB:.2f} MB, middle "
        f"{middle.backlog / MB:.2f} MB, end {end.backlog / MB:.2f} MB"
    )
    rpo = [watcher.seen[p.tag] - p.written_at for p in probes if p.tag in watcher.seen]
    missing = len(probes) - len(rpo)
    p50 = statistics.median(rpo) if rpo else math.nan
    p95, worst = percentile(rpo, 0.95), max(rpo) if rpo else math.nan
    say(
        f"  RPO over {len(rpo)} of {len(probes)} probes: p50 {p50:.1f} s, p95 {p95:.1f} s, max {worst:.1f} s "
        f"(+/- {args.watch_s:g} s observation)"
        + (f"; {missing} not in S3 after the drain" if missing else "")
    )
    window = [s for s in sampler.samples if started <= s[0] <= ended]
    mean_rps = (
        (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0]) if len(window) > 1 else math.nan
    )
    peak, used = peak_window(window)
    throttled = window[-1][2] - window[0][2] if len(window) > 1 else 0
    calls = lab.rds_calls()
    budget = float(lab.config.rds_budget_per_s or DEFAULT_RDS_BUDGET_RPS)
    say(
        f"  RDS requests served on the account's budget: mean {mean_rps:.2f}/s, highest "
        f"{'60-s window' if used >= 60 else f'window ({used:.0f} s: the run is shorter than 60 s)'} "
        f"{peak:.2f}/s, against the budget {budget:g}/s (the emulator's bucket: "
        f"{profile.burst if profile else '?'} burst, {profile.refill_per_s if profile else '?'}/s; "
        f"{'enforced' if profile and profile.throttles else 'not enforced: fast profile'})"
    )
    say(
        f"  throttled answers: {throttled} in the window ({calls['throttled_total']} in all, by action {calls['throttled']})"
    )
    by_action = ", ".join(f"{k} {v}" for k, v in sorted(calls["by_action"].items()))
    say(f"  RDS calls by action (whole run, set-up included): {by_action}")
    invocations = {k: stats[k]["invocations"] for k in ("scanner", "detector", "downloader")}
    say(
        f"  invocations: {invocations}; FAILED files {end.failed_files}; LOST files {end.lost_files}, LOST bytes {end.lost}"
    )
    derived = floor(spec, budget, profile)
    achieved = p95 / derived["rpo_floor_s"] if derived["rpo_floor_s"] not in (0, math.inf) else math.nan
    say(
        f"  floor (derived): {derived['per_look']:.0f} calls per look of the fleet + {derived['per_second']:.2f}/s "
        f"of paging and sealed ends -> shortest look interval {derived['t_min_s']:.1f} s within {budget:g}/s, "
        f"best p95 RPO {derived['rpo_floor_s']:.1f} s; achieved p95 / floor = {achieved:.2f}"
    )
    say(
        f"  (the pipeline looks every {args.scan_s:.0f} s, its schedule"
        + (
            f", and tails every {args.tail_poll_s:g} s in between"
            if args.tail_poll_s > 0
            else f": a schedule-bound p95 is about {0.95 * args.scan_s:.0f} s plus the copy (--tail-poll-s "
            "looks in between)"
        )
        + ")"
    )
    return {
        "instances": spec.instances,
        "minutes": duration / 60,
        "production_mb_s": produced,
        "copied_mb_s": copied,
        "backlog_start_bytes": start.backlog,
        "backlog_middle_bytes": middle.backlog,
        "backlog_end_bytes": end.backlog,
        "rpo_p50_s": p50,
        "rpo_p95_s": p95,
        "rpo_max_s": worst,
        "probes": len(probes),
        "probes_missing": missing,
        "rpo_floor_s": derived["rpo_floor_s"],
        "look_interval_floor_s": derived["t_min_s"],
        "achieved_over_floor": achieved,
        "rds_rps_mean": mean_rps,
        "rds_rps_peak_60s": peak,
        "rds_peak_window_s": used,
        "throttled": throttled,
        "invocations": invocations,
        "failed_files": end.failed_files,
        "lost_files": end.lost_files,
        "lost_bytes": end.lost,
        "profile": args.profile,
        "scan_s": args.scan_s,
    }


if __name__ == "__main__":
    main()
