"""Audit output each sysbench intensity preset produces on the writer: MB/s and lines/s.

Starts a throw-away local lab on free ports (or uses a running one with --state-dir), prepares the
preset's tables, runs oltp_read_write on the writer and prints what the audit meter counted. Prints
figures only; nothing is asserted. Each run is shortened to --seconds (10) unless --full is given.

    .venv/bin/python bench/bench_traffic.py            # low, medium, high x 10 s
    .venv/bin/python bench/bench_traffic.py --full     # the presets' own durations (10/30/60 s)
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
from pathlib import Path

from labkit import traffic
from labkit.config import load_config
from labkit.local import control


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", default="low,medium,high", help="comma list of presets [%(default)s]")
    parser.add_argument("--workload", default="oltp_read_write", choices=traffic.WORKLOADS)
    parser.add_argument("--seconds", type=int, default=10, help="run length per preset [%(default)s]")
    parser.add_argument("--full", action="store_true", help="use each preset's own duration instead")
    parser.add_argument("--state-dir", help="use the lab already running from this state directory")
    args = parser.parse_args()

    own_lab = args.state_dir is None
    state_dir = Path(args.state_dir or tempfile.mkdtemp(prefix="labkit-bench-traffic-"))
    config = load_config(env={}, state_dir=state_dir, emulator_port=0, db_port=0)
    if own_lab:
        control.up(config)
    try:
        print(f"{platform.node()}: {os.cpu_count()} CPU(s); audit rotate size {config.audit_rotate_size:,} B")
        print(
            f"{'preset':8} {'threads':>7} {'tables':>11} {'seconds':>7} {'tps':>9} {'qps':>10} "
            f"{'audit MB/s':>10} {'lines/s':>10} {'bytes/txn':>9}"
        )
        for preset in args.presets.split(","):
            duration = None if args.full else args.seconds
            spec = traffic.TrafficSpec(args.workload, intensity=preset, duration_s=duration)
            size = spec.resolved
            traffic.prepare(spec, config)
            summary = traffic.run(spec, config)
            mb_s, lines_s = summary.audit_rate("writer")
            writer = summary.audit_for("writer")
            per_txn = writer.bytes / summary.transactions if summary.transactions else 0
            print(
                f"{preset:8} {size.threads:>7} {f'{size.tables}x{size.table_size}':>11} "
                f"{summary.duration_s:>7.1f} {summary.transactions_per_s or 0:>9,.0f} "
                f"{summary.queries_per_s or 0:>10,.0f} {mb_s:>10.2f} {lines_s:>10,.0f} {per_txn:>9,.0f}",
                flush=True,
            )
            traffic.cleanup(spec, config)
    finally:
        if own_lab:
            control.down(config)
            shutil.rmtree(state_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
