"""infrastructure/images.mk: the dry run shows the release commands, and a run with fake tools makes them.

There is no Docker engine, Pulumi CLI or AWS account here: fakes that log their arguments stand in for
docker, pulumi and aws, so the order and the arguments of the real calls are checked, not just printed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from images_make import REGISTRY, fake_tools, make

FUNCTIONS = ("scanner", "detector", "downloader")


def test_dry_run_shows_build_tag_push_and_config_set_in_order() -> None:
    result = make("-n", "build-and-push-versioned", "VERSION=v1.2.3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()

    def index(fragment: str) -> int:
        found = [i for i, line in enumerate(lines) if fragment in line]
        assert found, f"{fragment!r} not in:\n{result.stdout}"
        return found[0]

    builds = [
        index(
            f"docker build --platform linux/amd64 --provenance=false -f lambdas/{fn}/Dockerfile "
            f"-t labkit/{fn}:v1.2.3 ."
        )
        for fn in FUNCTIONS
    ]
    urls = [
        index(f"pulumi stack output --cwd infrastructure/ecr-stack --stack dev {fn}RepositoryUrl)")
        for fn in FUNCTIONS
    ]
    tags = [
        index(f'docker tag labkit/{fn}:v1.2.3 "$url:v1.2.3" && docker push "$url:v1.2.3"') for fn in FUNCTIONS
    ]
    login = index("aws ecr get-login-password")
    configs = [
        index(
            f"pulumi config set --cwd infrastructure/aurora-log-backup-lab-stack --stack dev {fn}ImageTag v1.2.3"
        )
        for fn in FUNCTIONS
    ]
    assert max(builds) < login < min(tags) < max(tags) < min(configs)
    assert all(u < t for u, t in zip(urls[1:], tags[1:], strict=True))


def _calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return [line for line in log.read_text().splitlines() if " info" not in line and "sts " not in line]


def test_release_with_fake_tools_builds_pushes_and_pins_the_version(tmp_path: Path) -> None:
    tools = fake_tools(tmp_path)
    result = make("build-and-push-versioned", "VERSION=v2.0.1", *(f"{k}={v}" for k, v in tools.items()))
    assert result.returncode == 0, result.stdout + result.stderr
    calls = _calls(tmp_path)
    builds = [c for c in calls if c.startswith("docker build")]
    assert [b.split(" -t ")[1] for b in builds] == [f"labkit/{fn}:v2.0.1 ." for fn in FUNCTIONS]
    pushes = [c for c in calls if c.startswith("docker push")]
    assert pushes == [f"docker push {REGISTRY}/aurora-log-backup-lab-{fn}:v2.0.1" for fn in FUNCTIONS]
    assert f"docker login --username AWS --password-stdin {REGISTRY}" in calls
    assert "aws ecr get-login-password --region eu-west-1" in calls
    config_sets = [c for c in calls if c.startswith("pulumi config set")]
    assert config_sets == [
        f"pulumi config set --cwd infrastructure/aurora-log-backup-lab-stack --stack dev {fn}ImageTag v2.0.1"
        for fn in FUNCTIONS
    ]
    order = [calls.index(x) for x in (builds[-1], pushes[0], pushes[-1], config_sets[0])]
    assert order == sorted(order)


@pytest.mark.parametrize(
    ("version", "message"),
    [("", "VERSION is required"), ("1.2.3", "not a semantic version"), ("v1.2", "not a semantic version")],
)
def test_release_refuses_a_missing_or_malformed_version_before_building(
    tmp_path: Path, version: str, message: str
) -> None:
    tools = fake_tools(tmp_path)
    result = make("build-and-push-versioned", f"VERSION={version}", *(f"{k}={v}" for k, v in tools.items()))
    assert result.returncode != 0
    assert message in result.stderr
    assert not (tmp_path / "calls.log").exists()


def test_missing_docker_is_named_with_its_install_step() -> None:
    result = make("build", "IMG_DOCKER=labkit-no-such-docker")
    assert result.returncode != 0
    assert "docker not found: install Docker Engine" in result.stderr


def test_a_stopped_docker_daemon_is_reported(tmp_path: Path) -> None:
    tools = fake_tools(tmp_path, docker_daemon=False)
    result = make("build", f"IMG_DOCKER={tools['IMG_DOCKER']}")
    assert result.returncode != 0
    assert "daemon is not reachable" in result.stderr


def test_missing_pulumi_is_named_with_its_install_step() -> None:
    for target in ("get-ecr-urls", "update-pulumi-config", "version-info"):
        result = make(target, "IMG_PULUMI=labkit-no-such-pulumi")
        assert result.returncode != 0, target
        assert "pulumi not found: install the CLI (curl -fsSL https://get.pulumi.com | sh)" in result.stderr


def test_missing_aws_credentials_are_reported(tmp_path: Path) -> None:
    tools = fake_tools(tmp_path, credentials=False)
    result = make("push-images", *(f"{k}={v}" for k, v in tools.items()))
    assert result.returncode != 0
    assert "no usable AWS credentials" in result.stderr
    assert not [c for c in _calls(tmp_path) if c.startswith("docker push")]


def test_clean_images_without_docker_succeeds_so_make_clean_works_everywhere() -> None:
    result = make("clean-images", "IMG_DOCKER=labkit-no-such-docker")
    assert result.returncode == 0, result.stderr
    assert "no local images to remove" in result.stdout


def test_clean_images_removes_only_the_labkit_images(tmp_path: Path) -> None:
    tools = fake_tools(tmp_path)
    docker = Path(tools["IMG_DOCKER"])
    docker.write_text(docker.read_text().replace("exit 0", '[ "$1" = images ] && echo abc123\nexit 0'))
    result = make("clean-images", f"IMG_DOCKER={docker}")
    assert result.returncode == 0, result.stderr
    calls = _calls(tmp_path)
    assert "docker images -q --filter reference=labkit/*" in calls
    assert "docker rmi -f abc123" in calls
