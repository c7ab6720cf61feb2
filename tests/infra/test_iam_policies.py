"""Every IAM policy document both stacks deploy passes parliament, and grants only what each job needs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from policy_lint import blocking_findings, with_implicit_resource
from pulumi_harness import ACCOUNT, REGION, ProgramRun, stack_config


def all_documents(lab: ProgramRun, ecr: ProgramRun) -> dict[str, str]:
    docs: dict[str, str] = {}
    for name, policy in lab.of_type("aws:iam/rolePolicy:RolePolicy").items():
        docs[f"role policy {name}"] = policy["policy"]
    for name, role in lab.of_type("aws:iam/role:Role").items():
        arn = lab.state[("aws:iam/role:Role", name)]["arn"]
        docs[f"trust policy {name}"] = with_implicit_resource(role["assumeRolePolicy"], arn)
    for name, policy in lab.of_type("aws:s3/bucketPolicy:BucketPolicy").items():
        docs[f"bucket policy {name}"] = policy["policy"]
    for name, policy in lab.of_type("aws:sqs/queuePolicy:QueuePolicy").items():
        docs[f"queue policy {name}"] = policy["policy"]
    for name, policy in ecr.of_type("aws:ecr/repositoryPolicy:RepositoryPolicy").items():
        repo = policy["repository"]
        arn = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{repo}"
        docs[f"repository policy {name}"] = with_implicit_resource(policy["policy"], arn)
    return docs


def test_every_policy_document_is_found(lab_run: ProgramRun, ecr_run: ProgramRun) -> None:
    docs = all_documents(lab_run, ecr_run)
    # 5 role policies + 5 trust policies (functions, test host, auditor) + 2 buckets (backups, Athena
    # results) + 3 queues + 3 repositories
    assert len(docs) == 18, sorted(docs)


def test_parliament_finds_nothing_of_medium_severity_or_above(
    lab_run: ProgramRun, ecr_run: ProgramRun
) -> None:
    problems = {
        name: found
        for name, doc in all_documents(lab_run, ecr_run).items()
        if (found := blocking_findings(doc))
    }
    assert problems == {}


def test_the_parliament_check_catches_a_bad_policy() -> None:
    """The check above can fail: an action on the wrong kind of resource is MEDIUM."""
    bad = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"}
            ],
        }
    )
    assert blocking_findings(bad)


def _allow_statements(run: ProgramRun, policy_name: str) -> list[dict[str, Any]]:
    document = json.loads(run.one("aws:iam/rolePolicy:RolePolicy", policy_name)["policy"])
    return [s for s in document["Statement"] if s["Effect"] == "Allow"]


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


@pytest.mark.parametrize(
    "policy", ["scanner-policy", "detector-policy", "downloader-policy", "test-host-policy"]
)
def test_no_wildcard_actions_and_resource_star_only_where_aws_requires_it(
    lab_run: ProgramRun, lab_modules: None, policy: str
) -> None:
    from iam import STAR_ONLY_ACTIONS

    for statement in _allow_statements(lab_run, policy):
        actions = _as_list(statement["Action"])
        assert not [a for a in actions if "*" in a], statement
        if "*" in _as_list(statement["Resource"]):
            assert set(actions) <= STAR_ONLY_ACTIONS, statement


def _grants(run: ProgramRun, policy: str) -> dict[str, set[str]]:
    grants: dict[str, set[str]] = {}
    for statement in _allow_statements(run, policy):
        for action in _as_list(statement["Action"]):
            grants.setdefault(action, set()).update(_as_list(statement["Resource"]))
    return grants


ENI = {
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}
LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}


def test_each_function_role_grants_exactly_its_jobs_actions(lab_run: ProgramRun) -> None:
    scanner, detector, downloader = (
        _grants(lab_run, f"{k}-policy") for k in ("scanner", "detector", "downloader")
    )
    # the scanner also lists instances that still have live tracked files (a Scan of the live-files index),
    # and once a day reads the backups and writes their manifests (labkit.backup.daily_manifests); every
    # function counts its RDS requests in the shared budget table (dynamodb:UpdateItem on it)
    manifests = {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "kms:Decrypt", "kms:GenerateDataKey"}
    assert (
        set(scanner)
        == {"rds:DescribeDBInstances", "sqs:SendMessage", "dynamodb:Scan", "dynamodb:UpdateItem"}
        | manifests
        | ENI
        | LOGS
    )
    assert (
        set(detector)
        == {
            "rds:DescribeDBLogFiles",
            "rds:DownloadDBLogFilePortion",  # a file's first line, to prove an rds-mysql rename
            "rds:DownloadCompleteDBLogFile",  # that first line when the portion API calls the file binary
            "rds:DescribeDBInstances",  # the instance an RDS deletion event names (engine, tags)
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:Query",
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:ChangeMessageVisibility",
        }
        | ENI
        | LOGS
    )
    assert (
        set(downloader)
        == {
            "rds:DescribeDBLogFiles",
            "rds:DownloadDBLogFilePortion",
            "rds:DownloadCompleteDBLogFile",
            "s3:PutObject",
            "s3:GetObject",
            "s3:AbortMultipartUpload",
            "s3:ListBucket",
            "kms:GenerateDataKey",
            "kms:Decrypt",
            "dynamodb:DescribeStream",
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
            "dynamodb:ListStreams",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            "sqs:SendMessage",
        }
        | ENI
        | LOGS
    )


def test_function_grants_point_at_this_stacks_resources(lab_run: ProgramRun) -> None:
    config = stack_config()
    state = lab_run.state
    queue = state[("aws:sqs/queue:Queue", "instances")]["arn"]
    failures = state[("aws:sqs/queue:Queue", "stream-failures")]["arn"]
    table = state[("aws:dynamodb/table:Table", "log-files")]
    budget = state[("aws:dynamodb/table:Table", "rds-budget")]["arn"]
    bucket = state[("aws:s3/bucket:Bucket", "backups")]["arn"]
    key = state[("aws:kms/key:Key", "backup-key")]["arn"]
    db_instances = f"arn:aws:rds:{REGION}:{ACCOUNT}:db:*"

    scanner, detector, downloader = (
        _grants(lab_run, f"{k}-policy") for k in ("scanner", "detector", "downloader")
    )
    assert scanner["sqs:SendMessage"] == {queue}
    assert scanner["s3:GetObject"] == {f"{bucket}/{config.log_prefix}/*"}
    assert scanner["s3:PutObject"] == {f"{bucket}/{config.log_prefix}/manifests/*"}  # never a part
    assert scanner["s3:ListBucket"] == {bucket} and scanner["kms:GenerateDataKey"] == {key}
    assert scanner["dynamodb:Scan"] == {f"{table['arn']}/index/live-files"}  # the index, not the table
    assert (
        detector["rds:DownloadDBLogFilePortion"]
        == detector["rds:DownloadCompleteDBLogFile"]
        == {db_instances}
    )
    assert detector["rds:DescribeDBLogFiles"] == {db_instances}
    assert detector["rds:DescribeDBInstances"] == {db_instances}  # one instance by id, never "*"
    assert detector["dynamodb:PutItem"] == {table["arn"]}
    assert detector["sqs:ReceiveMessage"] == {queue}
    assert downloader["rds:DownloadCompleteDBLogFile"] == {db_instances}
    assert downloader["s3:PutObject"] == {f"{bucket}/{config.log_prefix}/*"}
    assert downloader["s3:ListBucket"] == {bucket}
    assert downloader["kms:GenerateDataKey"] == {key}
    assert downloader["dynamodb:GetRecords"] == {f"{table['arn']}/stream/*"}
    assert table["streamArn"].startswith(f"{table['arn']}/stream/")
    assert downloader["sqs:SendMessage"] == {failures}
    # the RDS budget: the scanner writes only its table, the others it and the tracking table
    assert scanner["dynamodb:UpdateItem"] == {budget}
    assert detector["dynamodb:UpdateItem"] == downloader["dynamodb:UpdateItem"] == {table["arn"], budget}
    names = config.names
    for key_name, function in (("scanner", names.scanner), ("downloader", names.downloader)):
        logs = _grants(lab_run, f"{key_name}-policy")["logs:PutLogEvents"]
        assert logs == {f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{function}:*"}


def test_test_host_reads_only_the_lab_parameters_and_the_master_secret(lab_run: ProgramRun) -> None:
    grants = _grants(lab_run, "test-host-policy")
    secret = lab_run.state[("aws:rds/cluster:Cluster", "aurora")]["masterUserSecrets"][0]["secretArn"]
    assert grants["secretsmanager:GetSecretValue"] == {secret}
    prefix = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{stack_config().project}/aurora"
    assert grants["ssm:GetParameter"] == {prefix, f"{prefix}/*"}
