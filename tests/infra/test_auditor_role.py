"""The auditor role: queries the archive through Athena, reads the backups, and cannot change them.

The policy under test is the exact JSON the lab stack declares (Pulumi mocks). Besides asserting its grants,
one test hands it to moto's IAM evaluator (in-process ``mock_aws`` with IAM authorization on): S3 answers
the auditor's own requests with AccessDenied or data, as AWS would for that document. Faked: AWS itself;
moto's evaluator ignores KMS and most conditions, so the key grants are asserted on the document.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.authorization import enable_iam_authentication
from pulumi_harness import ACCOUNT, REGION, ProgramRun, stack_config

from labkit.query.schema import TABLE_NAME

ROLE = "aws:iam/role:Role"
POLICY = "aws:iam/rolePolicy:RolePolicy"
KEY = "aws:kms/key:Key"
READS = {"s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"}
PART = f"{stack_config().log_prefix}/cluster=c/instance=i/date=2026-12-04/f.part-00001.gz"


def _list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def statements(run: ProgramRun, effect: str) -> list[dict[str, Any]]:
    document = json.loads(run.one(POLICY, "auditor-policy")["policy"])
    return [s for s in document["Statement"] if s["Effect"] == effect]


def grants(run: ProgramRun) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for statement in statements(run, "Allow"):
        for action in _list(statement["Action"]):
            out.setdefault(action, set()).update(_list(statement["Resource"]))
    return out


def test_anyone_in_the_account_allowed_to_may_assume_it(lab_run: ProgramRun) -> None:
    role = lab_run.one(ROLE, "auditor-role")
    assert role["name"] == f"{stack_config().project}-auditor"
    (trust,) = json.loads(role["assumeRolePolicy"])["Statement"]
    assert trust == {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "sts:AssumeRole",
    }


def test_it_queries_only_in_the_audit_workgroup_and_reads_only_the_archive_table(lab_run: ProgramRun) -> None:
    config = stack_config()
    granted = grants(lab_run)
    workgroup = f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/{config.athena_workgroup}"
    athena = {a for a in granted if a.startswith("athena:")}
    assert {"athena:StartQueryExecution", "athena:GetQueryResults", "athena:GetNamedQuery"} <= athena
    assert all(granted[a] == {workgroup} for a in athena)
    glue = {a for a in granted if a.startswith("glue:")}
    assert glue == {"glue:GetDatabase", "glue:GetTable", "glue:GetPartition", "glue:GetPartitions"}
    assert all(
        granted[a]
        == {
            f"arn:aws:glue:{REGION}:{ACCOUNT}:catalog",
            f"arn:aws:glue:{REGION}:{ACCOUNT}:database/{config.glue_database}",
            f"arn:aws:glue:{REGION}:{ACCOUNT}:table/{config.glue_database}/{TABLE_NAME}",
        }
        for a in glue
    )
    for statement in statements(lab_run, "Allow"):  # nothing wildcarded, no Resource "*"
        assert not [a for a in _list(statement["Action"]) if "*" in a], statement
        assert "*" not in _list(statement["Resource"]), statement


def test_it_reads_backups_and_writes_only_query_results_with_keys_used_through_s3(
    lab_run: ProgramRun,
) -> None:
    config = stack_config()
    granted = grants(lab_run)
    backups = f"arn:aws:s3:::{config.names.bucket}"
    results = f"arn:aws:s3:::{config.athena_results_bucket}"
    on_backups = {a for a, resources in granted.items() if any(r.startswith(backups) for r in resources)}
    assert on_backups == READS  # read, list, locate: nothing else touches the backup bucket
    assert granted["s3:GetObject"] == {f"{backups}/{config.log_prefix}/*", f"{results}/results/*"}
    assert granted["s3:PutObject"] == {f"{results}/results/*"}
    backup_key = lab_run.state[(KEY, "backup-key")]["arn"]
    results_key = lab_run.state[(KEY, "query-results-key")]["arn"]
    assert granted["kms:Decrypt"] == {backup_key, results_key}
    assert granted["kms:GenerateDataKey"] == {results_key}  # never encrypts with the backups' key
    for statement in statements(lab_run, "Allow"):
        if any(a.startswith("kms:") for a in _list(statement["Action"])):
            assert statement["Condition"] == {
                "StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
            }


def test_changing_a_backup_is_denied_outright(lab_run: ProgramRun) -> None:
    config = stack_config()
    backups = f"arn:aws:s3:::{config.names.bucket}"
    (deny,) = statements(lab_run, "Deny")
    assert sorted(deny["Resource"]) == [backups, f"{backups}/*"]
    assert {
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:BypassGovernanceRetention",
    } <= set(deny["Action"])


# --- the same document, evaluated ------------------------------------------------------------------------


EVERYTHING = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


@contextmanager
def auditor_account(run: ProgramRun, broad: bool) -> Iterator[Any]:
    """The auditor's S3 client in a moto account whose auditor role carries the stack's policy (and, when
    ``broad``, an allow-everything policy: only the stack's Deny can then keep a backup unchanged)."""
    config = stack_config()
    role = run.one(ROLE, "auditor-role")
    with mock_aws():
        setup = boto3.client("s3", region_name=REGION)
        for bucket in (config.names.bucket, config.athena_results_bucket, "someone-elses-bucket"):
            setup.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        setup.put_object(Bucket=config.names.bucket, Key=PART, Body=b"a")
        setup.put_object(Bucket=config.names.bucket, Key="elsewhere/y", Body=b"b")
        iam = boto3.client("iam", region_name=REGION)
        iam.create_role(RoleName=role["name"], AssumeRolePolicyDocument=role["assumeRolePolicy"])
        policies = {"auditor": run.one(POLICY, "auditor-policy")["policy"]}
        if broad:
            policies["too-much"] = json.dumps(EVERYTHING)
        for name, document in policies.items():
            iam.put_role_policy(RoleName=role["name"], PolicyName=name, PolicyDocument=document)
        creds = boto3.client("sts", region_name=REGION).assume_role(
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role['name']}", RoleSessionName="auditor"
        )["Credentials"]
        auditor = boto3.client(
            "s3",
            region_name=REGION,
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        with enable_iam_authentication():
            yield auditor


def _denied(call: Any, **kwargs: Any) -> bool:
    try:
        call(**kwargs)
    except ClientError as exc:
        return exc.response["Error"]["Code"] == "AccessDenied"
    return False


def test_evaluated_the_auditor_reads_backups_but_cannot_write_or_delete_them(lab_run: ProgramRun) -> None:
    config = stack_config()
    bucket = config.names.bucket
    with auditor_account(lab_run, broad=True) as auditor:
        assert auditor.get_object(Bucket=bucket, Key=PART)["Body"].read() == b"a"
        assert _denied(auditor.put_object, Bucket=bucket, Key=PART, Body=b"forged")
        assert _denied(
            auditor.put_object, Bucket=bucket, Key=f"{config.log_prefix}/new.part-00001.gz", Body=b"x"
        )
        assert _denied(auditor.delete_object, Bucket=bucket, Key=PART)
        assert _denied(auditor.delete_object, Bucket=bucket, Key="elsewhere/y")
        # the allow-everything policy works elsewhere: the stack's Deny is what protects the backups
        auditor.put_object(Bucket="someone-elses-bucket", Key="k", Body=b"ok")


def test_evaluated_nothing_outside_the_grants_is_allowed(lab_run: ProgramRun) -> None:
    config = stack_config()
    results = config.athena_results_bucket
    with auditor_account(lab_run, broad=False) as auditor:
        assert _denied(
            auditor.get_object, Bucket=config.names.bucket, Key="elsewhere/y"
        )  # outside the prefix
        assert _denied(auditor.put_object, Bucket="someone-elses-bucket", Key="k", Body=b"no")
        assert _denied(auditor.put_object, Bucket=results, Key="not-results/q.csv", Body=b"no")
        auditor.put_object(Bucket=results, Key="results/q.csv", Body=b"ok")
        assert auditor.get_object(Bucket=results, Key="results/q.csv")["Body"].read() == b"ok"
        assert auditor.get_object(Bucket=config.names.bucket, Key=PART)["Body"].read() == b"a"
