"""Time to run the whole workbook headless (papermill, every notebook 00-90) against a throw-away lab.

The issue's budget is 5 minutes on a 2-core machine; this prints the figure (per notebook and in total),
it never asserts it. The lab starts on free ports in a temporary state directory and is stopped by the
cleanup notebook; executed notebooks and HTML exports go to --out.

    .venv/bin/python bench/bench_workbook.py                 # the notebooks' own durations
    .venv/bin/python bench/bench_workbook.py --duration 4    # shorter sysbench run (as the test does)
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from labkit.config import load_config
from labkit.local import control
from labkit.workbook.run import run_workbook


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="out/bench-notebooks", help="executed notebooks [%(default)s]")
    parser.add_argument("--duration", type=int, help="DURATION_S for the traffic notebook (default: its own)")
    parser.add_argument("--no-html", action="store_true", help="skip the HTML exports")
    args = parser.parse_args()

    state_dir = Path(tempfile.mkdtemp(prefix="labkit-bench-workbook-"))
    config = load_config(env={}, state_dir=state_dir, emulator_port=0, db_port=0)
    parameters = {} if args.duration is None else {"DURATION_S": args.duration}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    started = time.monotonic()
    try:
        result = run_workbook(config, Path(args.out), parameters=parameters, export_html=not args.no_html)
    finally:
        control.down(config)  # a no-op when 90_cleanup already stopped it
        shutil.rmtree(state_dir, ignore_errors=True)
    total = time.monotonic() - started
    for run in result.runs:
        print(f"  {run.name:32} {run.seconds:6.1f} s")
    print(f"whole workbook headless: {total:.1f} s ({len(result.runs)} notebooks; lab start included)")


if __name__ == "__main__":
    main()
