"""The Lambda images install labkit without extras: every handler must import, and run its module-level set-up,
with nothing but boto3 and aws-lambda-powertools. A child interpreter refuses every other third-party package
the project uses (and the local-lab/notebook parts of labkit), then imports the three handlers."""

from __future__ import annotations

import subprocess
import sys

from tests.support.extras import refusing

BLOCKED = (
    "pandas",
    "matplotlib",
    "moto",
    "pulumi",
    "pulumi_aws",
    "typer",
    "rich",
    "pymysql",
    "jupyter",
    "jupyterlab",
    "papermill",
    "voila",
    "werkzeug",
    "flask",
    "tqdm",
    "yaml",
    "labkit.local",
    "labkit.dashboard",
    "labkit.workbook",
    "labkit.traffic",
    "labkit.ops.stacks",
    "labkit.cli",
)

PROBE = refusing(
    BLOCKED,
    "is not in the Lambda image",
    """
    import os
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("scanner", "detector", "downloader"):
        module = __import__(f"labkit.handlers.{name}", fromlist=["lambda_handler"])
        assert callable(module.lambda_handler), name
    print("ok")
    """,
)


def test_every_handler_imports_with_only_the_lambda_runtime_dependencies() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_probe_does_refuse_a_blocked_package() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.replace('print("ok")', "import pandas")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "pandas is not in the Lambda image" in result.stderr
