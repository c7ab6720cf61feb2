"""Run ``python -m labkit.cli`` in a child interpreter that refuses pandas, duckdb, pulumi (and the notebook
parts of labkit): what a ``[lab]`` install without the notebook or stack extras has."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

BLOCKED = ("pandas", "duckdb", "pulumi", "pulumi_aws", "matplotlib", "labkit.workbook", "labkit.dashboard")

PROBE = textwrap.dedent(
    """
    import importlib.abc, runpy, sys
    blocked = {blocked!r}

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + ".") for b in blocked):
                raise ImportError(f"{{name}} is not installed (blocked by the test)")
            return None

    sys.meta_path.insert(0, Refuse())
    import labkit.ops
    sys.argv = ["labkit", *{args!r}]
    runpy.run_module("labkit.cli", run_name="__main__", alter_sys=True)
    """
)


def run_blocked(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE.format(blocked=BLOCKED, args=args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
