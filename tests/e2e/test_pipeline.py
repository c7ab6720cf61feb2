"""The whole pipeline on the real local lab: MariaDB audit files under sysbench, the three handlers driven
by the lab's Lambda runtime from their event sources, then bytes in S3 compared with bytes on disk."""

from __future__ import annotations

import gzip
import json
import time
import urllib.request
from pathlib import Path

import pytest

from labkit import aws, traffic
from labkit.backup import table as t
from labkit.config import LabConfig
from labkit.local.state import LabState
from labkit.ops.lab import catch_up, seal_active_files
from labkit.verify import reconcile_target

pytestmark = pytest.mark.e2e


def test_every_audit_byte_reaches_s3_exactly_once_in_both_schemes(
    lab: LabState, lab_config: LabConfig
) -> None:
    # GIVEN audit traffic on the writer (aurora names) and the reader (rds-mysql names)
    traffic.prepare(traffic.TrafficSpec("oltp_read_write", intensity="low"), lab_config)
    traffic.run(traffic.TrafficSpec("oltp_read_write", intensity="low", duration_s=4, rate=300), lab_config)
    traffic.run(
        traffic.TrafficSpec("oltp_read_only", intensity="low", duration_s=3, target="reader"), lab_config
    )
    traffic.run_scenarios("all", lab_config)
    time.sleep(lab_config.seal_after_s + 0.5)
    seal_active_files(lab_config)
    # WHEN the pipeline runs until a scan finds nothing new
    catch_up(lab_config, lab.endpoint, timeout_s=240)
    # THEN the reconciliation is clean, nothing was lost, every sealed file is BACKED_UP
    report = reconcile_target(lab_config)
    assert report.clean, {f.name: f.problems for f in report.files if f.problems}
    assert not report.lost
    schemes = {f.instance_id for f in report.files}
    assert schemes == {lab_config.writer_id, lab_config.reader_id}
    # AND, read back from S3 and decompressed, each file equals the bytes on the database's disk
    table = (
        aws.session(lab_config).resource("dynamodb", endpoint_url=lab.endpoint).Table(lab_config.names.table)
    )
    s3 = aws.client("s3", lab_config)
    on_disk = _log_files(lab.endpoint)
    compared = 0
    for item in t.all_items(table):
        path = next((f["path"] for f in on_disk[item["pk"]] if f["name"] == item["log_file_name"]), None)
        if path is None or not item.get("sealed"):
            continue
        keys = sorted(
            o["Key"]
            for o in s3.list_objects_v2(
                Bucket=lab_config.names.bucket, Prefix=f"{lab_config.log_prefix}/cluster="
            )["Contents"]
            if f"instance={item['pk']}/" in o["Key"]
            and o["Key"].split("/")[-1].startswith(_segment(item["sk"]) + ".part-")
        )
        backed_up = b"".join(
            gzip.decompress(s3.get_object(Bucket=lab_config.names.bucket, Key=k)["Body"].read()) for k in keys
        )
        assert backed_up == Path(path).read_bytes(), item["log_file_name"]
        assert item["state"] == t.BACKED_UP
        compared += 1
    assert compared >= 2
    # AND `labkit verify` agrees, with exit code 0
    import os
    import subprocess
    import sys

    from labkit.local import control

    env = {**os.environ, **control.config_env(lab_config)}
    cli = subprocess.run(
        [sys.executable, "-m", "labkit.cli", "verify", "--json", "--out", str(Path(lab.state_dir) / "out")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert json.loads(cli.stdout)["clean"] is True


def _segment(file_id: str) -> str:
    from labkit.backup.layout import safe_segment

    return safe_segment(file_id)


def _log_files(endpoint: str) -> dict[str, list[dict[str, str]]]:
    with urllib.request.urlopen(f"{endpoint}/labkit-api/logfiles") as response:
        return json.load(response)


def test_an_idle_scan_writes_nothing_to_the_table(lab: LabState, lab_config: LabConfig) -> None:
    catch_up(lab_config, lab.endpoint, timeout_s=120)
    table = (
        aws.session(lab_config).resource("dynamodb", endpoint_url=lab.endpoint).Table(lab_config.names.table)
    )
    before = {(i["pk"], i["sk"]): i["updated_at"] for i in t.all_items(table)}
    request = urllib.request.Request(f"{lab.endpoint}/labkit-api/runtime/tick", data=b"{}", method="POST")
    urllib.request.urlopen(request).close()
    request = urllib.request.Request(
        f"{lab.endpoint}/labkit-api/runtime/drain", data=b'{"timeout": 30}', method="POST"
    )
    urllib.request.urlopen(request).close()
    after_items = t.all_items(table)
    after = {(i["pk"], i["sk"]): i["updated_at"] for i in after_items}
    # the lab's own connections still append to the active files; a sealed file's item is never rewritten
    sealed = {(i["pk"], i["sk"]) for i in after_items if i.get("sealed")}
    assert sealed, "expected sealed files from the previous test"
    assert {k for k in sealed if before.get(k) != after[k]} == set()


def test_a_malformed_message_ends_in_the_dlq_without_holding_back_its_batch(
    lab: LabState, lab_config: LabConfig
) -> None:
    # GIVEN a batch with one malformed message and one for a real instance, on the real queue
    sqs = aws.client("sqs", lab_config)
    queue = sqs.get_queue_url(QueueName=lab_config.names.queue)["QueueUrl"]
    dlq = sqs.get_queue_url(QueueName=lab_config.names.dlq)["QueueUrl"]
    body = json.dumps(
        {
            "instance_id": lab_config.writer_id,
            "cluster_id": lab_config.cluster_id,
            "engine": "aurora-mysql",
            "scheme": "aurora",
        }
    )
    sqs.send_message_batch(
        QueueUrl=queue,
        Entries=[{"Id": "bad", "MessageBody": "{not json"}, {"Id": "good", "MessageBody": body}],
    )
    # WHEN the lab's runtime has driven the real detector until the queue is empty
    deadline = time.monotonic() + 300  # bounds a hang only: a busy machine just takes longer
    poison: list[dict[str, object]] = []
    while time.monotonic() < deadline and not poison:
        poison = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
    # THEN the malformed message is in the DLQ, alone, and the detector's counters show its failures
    assert [m["Body"] for m in poison] == ["{not json"]
    with urllib.request.urlopen(f"{lab.endpoint}/labkit-api/runtime") as response:
        stats = json.load(response)
    assert stats["detector"]["item_failures"] >= 1
    assert (
        sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]["ApproximateNumberOfMessages"]
        == "0"
    )
