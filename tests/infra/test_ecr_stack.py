"""The ECR stack under Pulumi mocks: one hardened repository per Lambda, named by labkit."""

from __future__ import annotations

import json

from pulumi_harness import ACCOUNT, REGION, ProgramRun

from labkit.config import LabConfig

REPO = "aws:ecr/repository:Repository"


def test_one_repository_per_function_named_by_labkit(ecr_run: ProgramRun) -> None:
    names = LabConfig().names
    repos = ecr_run.of_type(REPO)
    assert {key: r["name"] for key, r in repos.items()} == {
        "scanner": names.scanner,
        "detector": names.detector,
        "downloader": names.downloader,
    }


def test_repositories_scan_on_push_with_immutable_tags_and_encryption(ecr_run: ProgramRun) -> None:
    for repo in ecr_run.of_type(REPO).values():
        assert repo["imageTagMutability"] == "IMMUTABLE"
        assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
        assert repo["encryptionConfigurations"][0]["encryptionType"] in ("AES256", "KMS")


def test_lifecycle_keeps_the_configured_number_of_images(ecr_run: ProgramRun) -> None:
    policies = ecr_run.of_type("aws:ecr/lifecyclePolicy:LifecyclePolicy")
    assert sorted(policies) == ["detector-lifecycle", "downloader-lifecycle", "scanner-lifecycle"]
    for policy in policies.values():
        rules = json.loads(policy["policy"])["rules"]
        keep = [r for r in rules if r["selection"]["countType"] == "imageCountMoreThan"]
        assert [r["selection"]["countNumber"] for r in keep] == [7]  # keepImages in the test config
        # ECR requires the tagStatus "any" rule to have the highest priority number
        assert keep[0]["rulePriority"] == max(r["rulePriority"] for r in rules)


def test_only_this_accounts_lambda_functions_may_pull(ecr_run: ProgramRun) -> None:
    for policy in ecr_run.of_type("aws:ecr/repositoryPolicy:RepositoryPolicy").values():
        (statement,) = json.loads(policy["policy"])["Statement"]
        assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
        assert sorted(statement["Action"]) == ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
        source = statement["Condition"]["StringLike"]["aws:sourceArn"]
        assert source == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:*"


def test_outputs_give_each_functions_repository_url(ecr_run: ProgramRun) -> None:
    names = LabConfig().names
    urls = ecr_run.outputs["repositoryUrls"]
    assert urls["downloader"] == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{names.downloader}"
    for key in ("scanner", "detector", "downloader"):
        assert ecr_run.outputs[f"{key}RepositoryUrl"] == urls[key]  # what the Makefile reads
    assert ecr_run.outputs["labProject"] == LabConfig().project
