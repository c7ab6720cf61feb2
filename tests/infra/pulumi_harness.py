"""Run the Pulumi programs under mocks (no Pulumi CLI, no AWS) and record what they declare.

The REFERENCE's traps, handled once here:
- the program runs inside a ``@pulumi.runtime.test`` function, which waits for every outstanding RPC and
  re-raises errors from the program and its ``apply`` callbacks;
- ``preview=False``, so every output is known and the recorded inputs are plain values;
- the ECR stack's StackReference is answered in ``new_resource`` with ``{"name": ..., "outputs": ...}``;
- ``set_all_config`` happens before the program is imported (run);
- an invoke the mocks do not know raises instead of silently answering ``{}``;
- resources are keyed by (type, name), and a duplicate key fails the run;
- resource options the engine acts on (protect, retainOnDelete, replaceOnChanges, dependencies) never reach
  ``Mocks.new_resource``: ``OptionRecordingMonitor`` records them from the RegisterResource request.
Tests then assert on plain dicts, outside any callback, so a failing assert fails the test.
"""

from __future__ import annotations

import os
import runpy
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.settings import get_root_resource

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infrastructure"
ECR_DIR = INFRA / "ecr-stack"
LAB_DIR = INFRA / "aurora-log-backup-lab-stack"
ECR_PROJECT = "aurora-log-backup-lab-ecr"
LAB_PROJECT = "aurora-log-backup-lab"

# Not labkit's default region: proves the region flows from the AWS provider, not from a default.
ACCOUNT, REGION, PARTITION = "123456789012", "eu-west-1", "aws"
AZS = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
IMAGE_TAGS = {"scanner": "v1.2.3", "detector": "v1.2.4", "downloader": "v1.2.5"}

# The lab stack's own modules; both stack directories go on sys.path, so module names must not clash.
LAB_MODULES = (
    "settings",
    "network",
    "storage",
    "iam",
    "functions",
    "aurora",
    "test_host",
    "alarms",
    "events",
    "athena",
)
ECR_MODULES = ("repositories",)


def _arn(service: str, resource: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{account}:{resource}"


def fake_state(typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The id and the computed outputs AWS would return for a resource."""
    if typ == "aws:s3/bucket:Bucket":
        bucket = inputs["bucket"]
        return bucket, {"arn": f"arn:{PARTITION}:s3:::{bucket}", "bucket": bucket}
    if typ == "aws:sqs/queue:Queue":
        url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{inputs['name']}"
        return url, {"arn": _arn("sqs", inputs["name"]), "url": url}
    if typ == "aws:dynamodb/table:Table":
        arn = _arn("dynamodb", f"table/{inputs['name']}")
        return inputs["name"], {"arn": arn, "streamArn": f"{arn}/stream/2026-11-26T00:00:00.000"}
    if typ == "aws:lambda/function:Function":
        arn = _arn("lambda", f"function:{inputs['name']}")
        return inputs["name"], {"arn": arn, "version": "7", "qualifiedArn": f"{arn}:7"}
    if typ == "aws:lambda/alias:Alias":
        return f"{name}-id", {"arn": _arn("lambda", f"function:{inputs['functionName']}:{inputs['name']}")}
    if typ == "aws:iam/role:Role":
        return inputs["name"], {"arn": f"arn:{PARTITION}:iam::{ACCOUNT}:role/{inputs['name']}"}
    if typ == "aws:kms/key:Key":  # one id per key, so a grant on the wrong key shows
        key_id = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
        return key_id, {"arn": _arn("kms", f"key/{key_id}"), "keyId": key_id}
    if typ == "aws:cloudwatch/eventRule:EventRule":
        return inputs["name"], {"arn": _arn("events", f"rule/{inputs['name']}")}
    if typ == "aws:cloudwatch/logGroup:LogGroup":
        return inputs["name"], {"arn": _arn("logs", f"log-group:{inputs['name']}")}
    if typ == "aws:ecr/repository:Repository":
        repo = inputs["name"]
        return repo, {
            "arn": _arn("ecr", f"repository/{repo}"),
            "repositoryUrl": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repo}",
        }
    if typ == "aws:rds/cluster:Cluster":
        cid = inputs["clusterIdentifier"]
        return cid, {
            "arn": _arn("rds", f"cluster:{cid}"),
            "endpoint": f"{cid}.cluster-abc.{REGION}.rds.amazonaws.com",
            "readerEndpoint": f"{cid}.cluster-ro-abc.{REGION}.rds.amazonaws.com",
            "port": 3306,
            "engineVersion": inputs.get("engineVersion") or "8.0.mysql_aurora.3.05.2",  # None: the default
            "masterUserSecrets": [
                {
                    "secretArn": _arn("secretsmanager", "secret:rds!cluster-1234-AbCdEf"),
                    "secretStatus": "active",
                    "kmsKeyId": "",
                }
            ],
        }
    if typ == "aws:rds/clusterInstance:ClusterInstance":
        return inputs["identifier"], {"arn": _arn("rds", f"db:{inputs['identifier']}")}
    if typ == "aws:ec2/instance:Instance":
        return "i-0123456789abcdef0", {"arn": _arn("ec2", "instance/i-0123456789abcdef0")}
    return f"{name}-id", {"arn": _arn("mock", f"{typ}/{name}")}


INVOKES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": lambda _: {
        "accountId": ACCOUNT,
        "arn": f"arn:{PARTITION}:iam::{ACCOUNT}:user/tester",
        "userId": "AIDA",
        "id": ACCOUNT,
    },
    "aws:index/getRegion:getRegion": lambda _: {"name": REGION, "region": REGION, "id": REGION},
    "aws:index/getPartition:getPartition": lambda _: {
        "partition": PARTITION,
        "dnsSuffix": "amazonaws.com",
        "id": PARTITION,
    },
    "aws:index/getAvailabilityZones:getAvailabilityZones": lambda _: {
        "names": AZS,
        "zoneIds": ["euw1-az1", "euw1-az2", "euw1-az3"],
        "id": REGION,
    },
    # every endpoint service in every zone; tests/infra/test_network_zones.py narrows it per run
    "aws:ec2/getVpcEndpointService:getVpcEndpointService": lambda args: {
        "serviceName": args["serviceName"],
        "serviceType": args.get("serviceType", "Interface"),
        "availabilityZones": AZS,
        "id": args["serviceName"],
    },
    "aws:ssm/getParameter:getParameter": lambda args: {
        "name": args["name"],
        "value": "ami-0123456789abcdef0",
        "type": "String",
        "id": args["name"],
    },
}


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(
        self,
        stack_outputs: dict[str, Any] | None = None,
        invokes: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] | None = None,
    ) -> None:
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}
        self.options: dict[tuple[str, str], dict[str, Any]] = {}
        self.known_invokes = {**INVOKES, **(invokes or {})}
        self.state: dict[tuple[str, str], dict[str, Any]] = {}
        self.stack_references: list[str] = []
        self.stack_outputs = stack_outputs or {}
        self.invokes: list[tuple[str, dict[str, Any]]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if args.typ == "pulumi:pulumi:StackReference":
            self.stack_references.append(args.name)
            return args.name, {"name": args.name, "outputs": self.stack_outputs}
        key = (args.typ, args.name)
        if key in self.resources:
            raise AssertionError(f"two resources named {key}")
        self.resources[key] = dict(args.inputs)
        resource_id, computed = fake_state(args.typ, args.name, args.inputs)
        self.state[key] = {**args.inputs, **computed}
        return resource_id, self.state[key]

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        self.invokes.append((args.token, dict(args.args)))
        if args.token not in self.known_invokes:
            raise NotImplementedError(
                f"unmocked invoke {args.token}: add it to tests/infra/pulumi_harness.py"
            )
        return self.known_invokes[args.token](args.args)


class OptionRecordingMonitor(MockMonitor):
    """The mock monitor, also recording the options of each resource (keyed like the mocks' resources)."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recording = mocks

    def RegisterResource(self, request: Any) -> Any:  # the gRPC method it stands in for
        self.recording.options[(request.type, request.name)] = {
            "protect": bool(request.protect),
            "retainOnDelete": bool(request.retainOnDelete),
            "replaceOnChanges": list(request.replaceOnChanges),
            "deleteBeforeReplace": bool(request.deleteBeforeReplace),
            "dependencies": list(request.dependencies),
        }
        return super().RegisterResource(request)


@dataclass
class ProgramRun:
    resources: dict[tuple[str, str], dict[str, Any]]
    state: dict[tuple[str, str], dict[str, Any]]
    outputs: dict[str, Any]
    stack_references: list[str]
    invokes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    options: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def of_type(self, typ: str) -> dict[str, dict[str, Any]]:
        """name -> inputs of every resource of one type."""
        return {name: inputs for (t, name), inputs in self.resources.items() if t == typ}

    def one(self, typ: str, name: str) -> dict[str, Any]:
        assert (typ, name) in self.resources, f"no {typ} named {name}; have {sorted(self.of_type(typ))}"
        return self.resources[(typ, name)]

    def id_of(self, typ: str, name: str) -> str:
        self.one(typ, name)
        return fake_state(typ, name, self.resources[(typ, name)])[0]


def run_program(
    stack_dir: Path,
    project: str,
    config: dict[str, str],
    stack_outputs: dict[str, Any] | None = None,
    invokes: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] | None = None,
) -> ProgramRun:
    """Run one stack's __main__.py under fresh mocks and return what it declared and exported.
    ``invokes`` replaces some of the mocked data sources (by token) for this run."""
    # LABKIT_* variables of the developer's shell must not leak into the program's load_config()
    leaked = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("LABKIT_")}
    try:
        return _run(stack_dir, project, config, stack_outputs, invokes)
    finally:
        os.environ.update(leaked)


def _run(
    stack_dir: Path,
    project: str,
    config: dict[str, str],
    stack_outputs: dict[str, Any] | None,
    invokes: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] | None = None,
) -> ProgramRun:
    mocks = RecordingMocks(stack_outputs, invokes)
    pulumi.runtime.set_mocks(
        mocks,
        project=project,
        stack="dev",
        preview=False,
        organization="organization",
        monitor=OptionRecordingMonitor(mocks),
    )
    pulumi.runtime.set_all_config(config)
    for module in LAB_MODULES + ECR_MODULES:  # a fresh import per run: the program reads config at import
        sys.modules.pop(module, None)
    root = get_root_resource()
    root.outputs.clear()  # the root stack outlives set_mocks; drop the previous program's exports
    exported: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[None]:
        sys.path.insert(0, str(stack_dir))
        try:
            runpy.run_path(str(stack_dir / "__main__.py"), run_name="__main__")
        finally:
            sys.path.remove(str(stack_dir))
        return pulumi.Output.from_input(dict(root.outputs)).apply(exported.update)

    program()
    return ProgramRun(
        mocks.resources, mocks.state, exported, mocks.stack_references, mocks.invokes, mocks.options
    )


def stack_config(**overrides: Any) -> Any:
    """The LabConfig the lab stack builds under these mocks: aws target, the mocked account and Region."""
    from labkit.config import load_config

    return load_config(env={}, **{"target": "aws", "region": REGION, "account_id": ACCOUNT, **overrides})


def ecr_outputs(project: str = LAB_PROJECT) -> dict[str, Any]:
    names = stack_config(project=project).names
    repos = {"scanner": names.scanner, "detector": names.detector, "downloader": names.downloader}
    return {
        "labProject": project,
        "repositoryUrls": {k: f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{v}" for k, v in repos.items()},
    }


def lab_config(**extra: str) -> dict[str, str]:
    config = {f"{LAB_PROJECT}:{key}ImageTag": tag for key, tag in IMAGE_TAGS.items()}
    config["aws:region"] = REGION
    config.update({f"{LAB_PROJECT}:{k}": v for k, v in extra.items()})
    return config


def alias_arns(run: ProgramRun) -> dict[str, str]:
    names = stack_config().names
    functions = {"scanner": names.scanner, "detector": names.detector, "downloader": names.downloader}
    return {key: f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{fn}:live" for key, fn in functions.items()}
