"""Child interpreters that refuse some packages: what an install without an extra (or a Lambda image) has.
:func:`run_blocked` runs ``python -m labkit.cli`` without pandas, duckdb, pulumi and the notebook parts of
labkit, as a ``[lab]`` install would."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

BLOCKED = ("pandas", "duckdb", "pulumi", "pulumi_aws", "matplotlib", "labkit.workbook", "labkit.dashboard")
NOT_INSTALLED = "is not installed (blocked by the test)"


def refusing(blocked: tuple[str, ...], why: str, body: str) -> str:
    """A script that refuses to import ``blocked`` (and their submodules), saying "<name> <why>", then
    runs ``body``."""
    finder = textwrap.dedent(
        f"""
        import importlib.abc, sys
        blocked = {blocked!r}

        class Refuse(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if any(name == b or name.startswith(b + ".") for b in blocked):
                    raise ImportError(f"{{name}} {why}")
                return None

        sys.meta_path.insert(0, Refuse())
        """
    )
    return finder + textwrap.dedent(body)


def cli_script(args: list[str]) -> str:
    return refusing(
        BLOCKED,
        NOT_INSTALLED,
        f"""
        import runpy
        import labkit.ops
        sys.argv = ["labkit", *{args!r}]
        runpy.run_module("labkit.cli", run_name="__main__", alter_sys=True)
        """,
    )


def run_blocked(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", cli_script(args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
