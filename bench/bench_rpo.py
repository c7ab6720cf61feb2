"""RPO per scan mode on the real local lab under sysbench load: audit line written -> an S3 object holds it.

For each mode (a 5-minute schedule, a 1-minute schedule, a 1-minute schedule with the detector tailing)
a fresh local lab runs on the mode's real interval (no time scaling), with sysbench oltp_read_write at a
capped rate on the writer; measuring starts once the schedule's first scan has run (steady state). A probe writes a uniquely tagged statement on the writer every second; a watcher
lists the backup bucket every ``--watch-s`` and opens each new part. A probe's RPO is the time from its
statement returning to the first listing that shows a part holding it, so every figure carries up to one
``--watch-s`` of observation error. The emulator counts the RDS requests it serves (by instance), so each
mode's RDS calls per minute are measured, and set against the account-wide 12 requests/s that every other
RDS client shares: the fleet size printed is 12 x 60 / (calls per minute per instance), for an instance
as busy as the sysbench writer and for one like the reader (a replica: no client traffic, but its audit
file grows with what it replicates), with the scanner's own calls apart.

Prints figures only, never asserts. Usage:
  .venv/bin/python bench/bench_rpo.py [--modes 5min,1min,tail] [--minutes-5min 10] [--minutes 3]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import re
import statistics
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

from labkit import aws, traffic
from labkit.config import load_config
from labkit.local import control
from labkit.ops.lab import runtime_call
from labkit.traffic.lab import LabTarget

RDS_BUDGET_PER_S = 12.0  # RDS API, sustained, per account and Region (REFERENCE.md)
MODES: dict[str, dict[str, Any]] = {
    "5min": {"scan_schedule": "rate(5 minutes)", "scan_interval_s": 300.0, "detector_tailing": False},
    "1min": {"scan_schedule": "rate(1 minute)", "scan_interval_s": 60.0, "detector_tailing": False},
    "tail": {"scan_schedule": "rate(1 minute)", "scan_interval_s": 60.0, "detector_tailing": True},
}
PROBE = re.compile(rb"rpo-probe-([0-9a-f]{8})-(\d+)")


@dataclass
class ModeResult:
    mode: str
    rpo_s: list[float] = field(default_factory=list)
    probes: int = 0
    minutes: float = 0.0
    calls: dict[str, Any] = field(default_factory=dict)
    writer: str = ""
    reader: str = ""
    tps: float = 0.0


def rds_calls(endpoint: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{endpoint}/labkit-api/rds-calls", timeout=10) as response:
        answer: dict[str, Any] = json.load(response)
    return answer


def scans(endpoint: str) -> int:
    """Scheduled scans so far: the lab runtime's scanner invocations."""
    return int(runtime_call(endpoint, "runtime")["scanner"]["invocations"])


class Watcher(threading.Thread):
    """Lists the bucket every ``every_s``; the first time a probe tag shows in a new part, notes when."""

    def __init__(self, config: Any, run_id: str, every_s: float) -> None:
        super().__init__(name="rpo-watcher", daemon=True)
        self.s3, self.bucket = aws.client("s3", config), config.names.bucket
        self.run_id, self.every_s = run_id.encode(), every_s
        self.seen: dict[int, float] = {}
        self.keys: set[str] = set()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.every_s):
            now = time.time()
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
            new = [o["Key"] for p in pages for o in p.get("Contents", []) if o["Key"] not in self.keys]
            for key in new:
                self.keys.add(key)
                if not key.endswith(".gz"):
                    continue
                body = gzip.decompress(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
                for run_id, number in PROBE.findall(body):
                    if run_id == self.run_id:
                        self.seen.setdefault(int(number), now)


def run_mode(mode: str, minutes: float, rate: int, watch_s: float, drain_s: float) -> ModeResult:
    settings = MODES[mode]
    result = ModeResult(mode)
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(
            state_dir=tmp,
            emulator_port=0,
            db_port=0,
            audit_rotate_size=256 * 1024 * 1024,  # no rotation during a run: the RPO of the active file
            tail_poll_s=5.0,
            tail_margin_s=5.0,
            **settings,
        )
        state, _ = control.up(config)
        try:
            target = LabTarget.resolve(config)
            writer, reader = target.login("writer"), target.login("reader")
            result.writer, result.reader = writer.instance_id, reader.instance_id
            measure_s = minutes * 60
            warmup_s = settings["scan_interval_s"] + 30
            spec = traffic.TrafficSpec(
                "oltp_read_write",
                intensity="low",
                duration_s=int(warmup_s + 2 * measure_s + drain_s),
                rate=rate,
            )
            traffic.prepare(spec, config)
            ticks: list[float] = []  # tps, one a second; the run is cut short by the lab going down
            sysbench = threading.Thread(
                target=_run_quietly, args=(spec, config, ticks), name="sysbench", daemon=True
            )
            sysbench.start()
            run_id = uuid.uuid4().hex[:8]
            watcher = Watcher(config, run_id, watch_s)
            watcher.start()
            # the window is whole scan periods, from one scheduled scan to another (both seen within a
            # second of their start): the first scan (the runtime's ticker starts one interval after the lab)
            # opens it, so a tail runs in tailing mode and no probe waits more than one interval
            periods = max(1, round(measure_s / settings["scan_interval_s"]))
            while scans(state.endpoint) < 1:
                time.sleep(1)
            written: dict[int, float] = {}
            connection = writer.connect()
            calls_before, started = rds_calls(state.endpoint), time.monotonic()
            n = 0
            while scans(state.endpoint) < 1 + periods:
                with connection.cursor() as cursor:
                    cursor.execute(f"SELECT 'rpo-probe-{run_id}-{n}'")
                written[n] = time.time()
                n += 1
                time.sleep(max(0.0, started + n - time.monotonic()))
            calls_after, ended = rds_calls(state.endpoint), time.monotonic()
            connection.close()
            deadline = time.monotonic() + drain_s  # the last probes wait for the next scan
            while len(watcher.seen) < len(written) and time.monotonic() < deadline:
                time.sleep(1)
            watcher.stop.set()
            watcher.join(30)
            result.minutes = (ended - started) / 60
            result.probes = len(written)
            result.rpo_s = [watcher.seen[i] - written[i] for i in written if i in watcher.seen]
            result.calls = {
                key: {
                    k: calls_after[key].get(k, 0) - calls_before[key].get(k, 0)
                    for k in calls_after[key]
                    if calls_after[key].get(k, 0) - calls_before[key].get(k, 0)
                }
                for key in ("by_action", "by_instance")
            }
            result.tps = statistics.mean(ticks) if ticks else 0.0
        finally:
            control.down(config)
    return result


def _run_quietly(spec: traffic.TrafficSpec, config: Any, ticks: list[float]) -> None:
    # the lab goes down under it at the end of the measurement: its failure then is expected
    with contextlib.suppress(Exception):
        traffic.run(spec, config, on_progress=lambda tick: ticks.append(tick.tps))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(result: ModeResult, watch_s: float) -> None:
    per_min = {k: v / result.minutes for k, v in result.calls["by_instance"].items()}
    busy, quiet = per_min.get(result.writer, 0.0), per_min.get(result.reader, 0.0)
    account = per_min.get("", 0.0)
    budget = RDS_BUDGET_PER_S * 60
    print(
        f"\n== {result.mode}: {MODES[result.mode]} (real interval, no time scaling; {result.minutes:.1f} min "
        "measured, whole scan periods)"
    )
    print(f"  sysbench: {result.tps:.0f} tps on the writer")
    if result.rpo_s:
        print(
            f"  RPO over {len(result.rpo_s)} of {result.probes} probes: p50 {statistics.median(result.rpo_s):.1f} s, "
            f"p95 {percentile(result.rpo_s, 0.95):.1f} s, max {max(result.rpo_s):.1f} s "
            f"(+/- {watch_s:.1f} s observation)"
        )
    missing = result.probes - len(result.rpo_s)
    if missing:
        print(f"  {missing} probes not in S3 by the end of the wait (counted nowhere above)")
    print(
        f"  RDS calls/min: writer (sysbench) {busy:.1f}, reader (replica) {quiet:.1f}, scanner (account) "
        f"{account:.1f}; by action: "
        + ", ".join(f"{k} {v / result.minutes:.1f}" for k, v in sorted(result.calls["by_action"].items()))
    )
    fleet_busy = int((budget - account) / busy) if busy else 0
    fleet_quiet = int((budget - account) / quiet) if quiet else 0
    print(
        f"  fleet within 12 req/s (minus the scanner's): {fleet_busy} instances as busy as the writer, "
        f"{fleet_quiet} like the reader (no headroom left for any other RDS client)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--modes", default="5min,1min,tail")
    parser.add_argument(
        "--minutes", type=float, default=3.0, help="measured minutes of the 1-minute modes (whole periods)"
    )
    parser.add_argument(
        "--minutes-5min", type=float, default=10.0, help="measured minutes of the 5-min mode (whole periods)"
    )
    parser.add_argument("--rate", type=int, default=50, help="sysbench transactions/s on the writer")
    parser.add_argument("--watch-s", type=float, default=0.5, help="bucket listing interval")
    args = parser.parse_args()
    results = []
    for mode in args.modes.split(","):
        minutes = args.minutes_5min if mode == "5min" else args.minutes
        drain = MODES[mode]["scan_interval_s"] + 60
        print(f"running {mode} for {minutes} min (+ up to {drain:.0f} s for the last probes) ...", flush=True)
        result = run_mode(mode, minutes, args.rate, args.watch_s, drain)
        report(result, args.watch_s)
        results.append(result)
    print("\nsummary (s):  mode   p50    p95    max   RDS calls/min (busy instance)")
    for r in results:
        if r.rpo_s:
            busy = r.calls["by_instance"].get(r.writer, 0) / r.minutes
            print(
                f"  {r.mode:>5} {statistics.median(r.rpo_s):6.1f} {percentile(r.rpo_s, 0.95):6.1f} "
                f"{max(r.rpo_s):6.1f}   {busy:.1f}"
            )


if __name__ == "__main__":
    main()
