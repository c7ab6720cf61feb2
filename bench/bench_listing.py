"""Listing an audit directory (what every DescribeDBLogFiles, download and deletion-watcher look costs the
emulator) with 1..N threads listing at once while a writer appends and rotates, in both naming schemes.

Aurora listings that another listing overtook look again (labkit.local.emulator.logfiles): this prints how much
that costs. Baseline in the same run: one thread, rds-mysql (no naming). Prints figures only, never
asserts. The fast default emulator (no AWS-shaped profile exists yet). Usage:
  .venv/bin/python bench/bench_listing.py [--files 10] [--seconds 2]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from labkit.local.emulator.logfiles import AuditDirectory

LINE = b"20261126 15:29:21,vm,sbtest,127.0.0.1,13,1,QUERY,sbtest,'SELECT 1',0\n"


def writer(directory: Path, keep: int, stop: threading.Event, rotations: list[int]) -> None:
    active = directory / "server_audit.log"
    while not stop.is_set():
        for _ in range(50):
            with open(active, "ab") as handle:
                handle.write(LINE)
        oldest = directory / f"server_audit.log.{keep}"
        oldest.unlink(missing_ok=True)
        for n in range(keep - 1, 0, -1):
            if (directory / f"server_audit.log.{n}").exists():
                (directory / f"server_audit.log.{n}").rename(directory / f"server_audit.log.{n + 1}")
        active.rename(directory / "server_audit.log.1")
        active.write_bytes(LINE)
        rotations[0] += 1
        time.sleep(0.005)


def run(scheme: str, threads: int, files: int, seconds: float) -> tuple[float, int, int]:
    """(listings per second, all threads; names handed out; files created)."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "server_audit.log").write_bytes(LINE)
        audit = AuditDirectory(directory, scheme)
        stop, rotations, counts = threading.Event(), [0], [0] * threads
        names: set[str] = set()

        def lister(slot: int) -> None:
            while not stop.is_set():
                names.update(f.name for f in audit.files())
                counts[slot] += 1

        workers = [threading.Thread(target=writer, args=(directory, files - 1, stop, rotations))]
        workers += [threading.Thread(target=lister, args=(n,)) for n in range(threads)]
        for w in workers:
            w.start()
        time.sleep(seconds)
        stop.set()
        for w in workers:
            w.join()
        getattr(audit, "close", lambda: None)()  # the listing before issue 15 finding 5 had no close()
        return sum(counts) / seconds, len(names), rotations[0] + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10, help="files kept (the active one included)")
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    base, _, _ = run("rds-mysql", 1, args.files, args.seconds)
    print(f"baseline: rds-mysql, 1 thread: {base:,.0f} listings/s ({args.files} files kept, writer rotating)")
    for scheme in ("rds-mysql", "aurora"):
        for threads in (1, 2, 4):
            rate, names, created = run(scheme, threads, args.files, args.seconds)
            named = f", {names} names for {created} files" if scheme == "aurora" else ""
            print(
                f"{scheme:9} {threads} thread(s): {rate:8,.0f} listings/s = {rate / base:4.2f}x baseline{named}"
            )


if __name__ == "__main__":
    main()
