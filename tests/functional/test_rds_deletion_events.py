"""RDS's deletion events reach the detector: a file deleted before it was copied is LOST at once, without
waiting for the next scan. The emulator raises the event (SNS-wrapped, as the alarm topic delivers it to
the detector's queue) when an audit file disappears; the real detector handler runs from the local
Lambda runtime; everything goes over HTTP to moto's server."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from labkit.alarms import ALARM, OK, alarm_rules, evaluate, read_local
from labkit.backup import rdsevents
from labkit.backup import table as t
from labkit.backup.detector import detect
from labkit.backup.messages import instance_for_event, parse_message
from labkit.backup.scanner import InstanceMessage
from labkit.config import LabConfig, load_config
from labkit.local.runtime import LambdaRuntime
from tests.support import lab_service
from tests.support.emulated import audit_line
from tests.support.handler_events import Context, sqs_event
from tests.support.lab_service import wait_for
from tests.support.rotation import rotate_files

config = lab_service.config  # a deployed lab in the emulator, its own project name
handler_env = lab_service.handler_env  # the lab service's environment, fresh handler clients

SCHEME_TAG = "labkit:naming-scheme"


def items(account, config: LabConfig, instance_id: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    table = account.session.resource("dynamodb", endpoint_url=account.url).Table(config.names.table)
    return t.instance_items(table, instance_id)


def test_an_event_for_a_deleted_file_marks_it_lost_through_the_same_scan(account, config: LabConfig) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a tracked file, never copied, that is then deleted upstream
    directory = account.add_instance("db-1")
    (directory / "server_audit.log").write_bytes(b"".join(audit_line(i) for i in range(20)))
    table = account.session.resource("dynamodb", endpoint_url=account.url).Table(config.names.table)
    first = InstanceMessage("db-1", "db-1-cluster", "aurora-mysql", "aurora")
    assert detect(account.rds, table, first, seal_after_s=3600, ttl_days=30).new == 1
    (directory / "server_audit.log").unlink()
    # WHEN RDS's event for it arrives, SNS-wrapped
    event = rdsevents.rds_event(
        "db-1", rdsevents.LOG_FILE_DELETED_STORAGE, "deleted", "us-east-1", "123456789012"
    )
    body = rdsevents.sns_envelope(event, "arn:aws:sns:us-east-1:123456789012:lab-alarms")
    message = parse_message(
        body,
        lambda i: instance_for_event(
            account.rds, table, i, {"aurora-mysql"}, "audit-backup:skip", SCHEME_TAG
        ),
    )
    # THEN it is that instance's scan, and the scan calls the file LOST with every byte missing
    assert message == first
    outcome = detect(account.rds, table, message, seal_after_s=3600, ttl_days=30)
    (item,) = t.instance_items(table, "db-1")
    assert (outcome.lost, item["state"], item["lost_bytes"]) == ([item["sk"]], t.LOST, item["size"])


def test_the_instance_lookup_follows_the_scanners_rules(account, config: LabConfig) -> None:  # type: ignore[no-untyped-def]
    table = account.session.resource("dynamodb", endpoint_url=account.url).Table(config.names.table)
    account.add_instance("tagged")
    account.add_instance("opted-out")
    account.add_instance("other-engine", engine="postgres")
    arn = "arn:aws:rds:us-east-1:123456789012:db:{}"
    account.rds.add_tags_to_resource(
        ResourceName=arn.format("tagged"), Tags=[{"Key": SCHEME_TAG, "Value": "rds-mysql"}]
    )
    account.rds.add_tags_to_resource(
        ResourceName=arn.format("opted-out"), Tags=[{"Key": "audit-backup:skip", "Value": "true"}]
    )

    def lookup(instance_id: str) -> InstanceMessage | None:
        return instance_for_event(
            account.rds, table, instance_id, {"aurora-mysql"}, "audit-backup:skip", SCHEME_TAG
        )

    assert lookup("tagged") == InstanceMessage("tagged", "tagged-cluster", "aurora-mysql", "rds-mysql")
    assert lookup("opted-out") is None
    assert lookup("other-engine") is None
    assert lookup("never-existed") is None
    # a deleted instance is known by its tracked files, which must still be settled
    table.put_item(
        Item={
            "pk": "gone",
            t.LIVE_KEY: "gone",
            "sk": "f",
            "cluster_id": "none",
            "engine": "aurora-mysql",
            "scheme": "rds-mysql",
        }
    )
    assert lookup("gone") == InstanceMessage("gone", "", "aurora-mysql", "rds-mysql")


@pytest.mark.parametrize("scheme", ["aurora", "rds-mysql"])
def test_an_evicted_file_is_lost_without_a_scan(
    account, config: LabConfig, handler_env: None, scheme: str
) -> None:  # type: ignore[no-untyped-def]
    from labkit.handlers import detector as detector_handler

    # GIVEN the local runtime driving the real detector, a downloader that copies nothing, no scheduled
    # scan, and the emulator raising RDS's deletion events into the detector's queue
    directory = account.add_instance("db-1", scheme=scheme)
    account.rds.add_tags_to_resource(
        ResourceName="arn:aws:rds:us-east-1:123456789012:db:db-1", Tags=[{"Key": SCHEME_TAG, "Value": scheme}]
    )
    scans: list[Any] = []
    runtime = LambdaRuntime(
        config,
        scanner=lambda event, context: scans.append(event),
        detector=detector_handler.lambda_handler,
        downloader=lambda event, context: None,
        poll_interval_s=0.05,
    )
    oldest = directory / "server_audit.log.1"
    oldest.write_bytes(b"".join(audit_line(i) for i in range(30)))
    active = directory / "server_audit.log"
    active.write_bytes(b"".join(audit_line(i) for i in range(30, 40)))
    account.server.watch_deletions(config, interval_s=0.2)
    runtime.start()
    try:
        # the files are tracked (one scanner message, as a scan would send)
        sqs = account.client("sqs")
        queue = sqs.get_queue_url(QueueName=config.names.queue)["QueueUrl"]
        sqs.send_message(
            QueueUrl=queue, MessageBody=InstanceMessage("db-1", "db-1-cluster", "aurora-mysql", scheme).body()
        )
        wait_for("both files tracked", lambda: len(items(account, config, "db-1")) == 2)
        # WHEN the oldest file is evicted before anything was copied (MariaDB's rotation deletes the oldest)
        size = oldest.stat().st_size
        os.unlink(oldest)
        # THEN its item turns LOST with all its bytes, with no scanner run in between
        lost = wait_for(
            "the evicted file LOST",
            lambda: [i for i in items(account, config, "db-1") if i["state"] == t.LOST],
        )
        assert [(i["size"], i["lost_bytes"]) for i in lost] == [(size, size)]
        assert scans == []
        assert account.server.deletions.published >= 1
        live = [i for i in items(account, config, "db-1") if i["state"] != t.LOST]
        assert [i["size"] for i in live] == [active.stat().st_size]  # the active file is not touched
        # and `labkit alarms` shows FilesLost firing, with nothing in the DLQ (the event was no poison)
        states = {r.rule.key: r.state for r in evaluate(alarm_rules(config), read_local(config))}
        assert (states["files-lost"], states["dlq-not-empty"]) == (ALARM, OK)
    finally:
        runtime.stop()


def test_without_a_queue_the_watch_only_logs(account, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a lab whose pipeline is not deployed (no detector queue)
    config = load_config(
        endpoint_url=account.url, state_dir=tmp_path / "s", project=f"nolab-{uuid.uuid4().hex[:6]}"
    )
    directory = account.add_instance("db-2")
    (directory / "server_audit.log").write_bytes(audit_line(1))
    watcher = account.server.watch_deletions(config, interval_s=3600)
    # WHEN a file disappears  THEN nothing is delivered and nothing fails
    (directory / "server_audit.log").unlink()
    assert watcher.check() == 0


@pytest.mark.parametrize("scheme", ["aurora", "rds-mysql"])
def test_a_rotation_raises_one_event_only_when_it_deletes_a_file(account, scheme: str) -> None:  # type: ignore[no-untyped-def]
    from labkit.backup.messages import parse_message as parse
    from labkit.local.emulator import instance_exists
    from labkit.local.emulator.deletion_events import DeletionWatcher

    # GIVEN an instance keeping two rotated files, watched
    directory = account.add_instance("db-3", scheme=scheme)
    (directory / "server_audit.log").write_bytes(audit_line(0))
    sent: list[str] = []
    watcher = DeletionWatcher(
        account.server.app.registered,
        lambda i: instance_exists(i, "us-east-1"),
        sent.append,
        region="us-east-1",
        account_id="123456789012",
        topic_arn="arn:aws:sns:us-east-1:123456789012:lab-alarms",
        interval_s=3600,
    )
    watcher.check()
    # WHEN files rotate without anything being deleted  THEN no event
    rotate_files(directory, keep=2, first=audit_line(1))
    rotate_files(directory, keep=2, first=audit_line(2))
    assert watcher.check() == 0 and sent == []
    # WHEN a rotation deletes the oldest  THEN exactly one deletion event for that instance, which parses
    rotate_files(directory, keep=2, first=audit_line(3))
    assert watcher.check() == 1
    known = InstanceMessage("db-3", "", "aurora-mysql", scheme)
    assert [parse(body, {"db-3": known}.get) for body in sent] == [known]
    # WHEN the instance is deleted through the API  THEN one instance-deletion event, once
    account.rds.delete_db_instance(DBInstanceIdentifier="db-3", SkipFinalSnapshot=True)
    assert watcher.check() == 1 and watcher.check() == 0
    assert "#RDS-EVENT-0003" in sent[-1]


@pytest.mark.parametrize("scheme", ["aurora", "rds-mysql"])
def test_a_file_listed_by_a_client_and_deleted_between_two_looks_still_raises_its_event(
    account,  # type: ignore[no-untyped-def]
    scheme: str,
) -> None:
    from labkit.local.emulator import instance_exists
    from labkit.local.emulator.deletion_events import DeletionWatcher

    # GIVEN a watched instance, looked at once
    directory = account.add_instance("db-4", scheme=scheme)
    (directory / "server_audit.log").write_bytes(audit_line(0))
    sent: list[str] = []
    watcher = DeletionWatcher(
        account.server.app.registered,
        lambda i: instance_exists(i, "us-east-1"),
        sent.append,
        region="us-east-1",
        account_id="123456789012",
        topic_arn="arn:aws:sns:us-east-1:123456789012:lab-alarms",
        interval_s=3600,
    )
    watcher.check()
    # WHEN a file appears, a client lists it (as the detector would, to track it), and it is deleted, all
    # before the watcher's next look (MariaDB rotating faster than the watch interval)
    brief = directory / "server_audit.log.1"
    brief.write_bytes(audit_line(1))
    listed = account.rds.describe_db_log_files(DBInstanceIdentifier="db-4")["DescribeDBLogFiles"]
    assert len(listed) == 2
    brief.unlink()
    # THEN the next look still raises its deletion event
    assert watcher.check() == 1 and len(sent) == 1


@pytest.mark.parametrize(
    ("event_id", "scans"),
    [
        ("RDS-EVENT-0610", 1),  # log file deleted (retention)
        ("RDS-EVENT-0611", 1),  # log file deleted (storage)
        ("RDS-EVENT-0003", 1),  # the DB instance deleted
        ("RDS-EVENT-0006", 0),  # the DB instance restarted
        ("RDS-EVENT-0004", 0),  # the DB instance shut down
    ],
)
def test_with_every_category_subscribed_only_the_deletion_events_reach_a_scan(  # type: ignore[no-untyped-def]
    account, config: LabConfig, handler_env: None, monkeypatch: pytest.MonkeyPatch, event_id: str, scans: int
) -> None:
    from labkit.handlers import detector as handler

    # GIVEN an instance of the lab, and the subscription delivering every category of its events (issue 18
    # item 2), SNS-wrapped as the alarm topic delivers them to the detector's queue
    directory = account.add_instance("db-1")
    (directory / "server_audit.log").write_bytes(b"".join(audit_line(i) for i in range(5)))
    event = rdsevents.rds_event("db-1", event_id, "an event", "us-east-1", "123456789012")
    body = rdsevents.sns_envelope(event, "arn:aws:sns:us-east-1:123456789012:lab-alarms")
    scanned: list[InstanceMessage] = []
    real_scan = handler.scan

    def scan(message: InstanceMessage, deleted: Any = None) -> Any:
        scanned.append(message)
        return real_scan(message, deleted)

    monkeypatch.setattr(handler, "scan", scan)
    # WHEN the real detector handler gets it
    answer = handler.lambda_handler(sqs_event(body, sent_ms=1_700_000_000_000), Context())
    # THEN a deletion event runs the instance's scan (its file is tracked), any other is dropped, not failed
    assert answer == {"batchItemFailures": []}
    assert [m.instance_id for m in scanned] == ["db-1"] * scans
    assert len(items(account, config, "db-1")) == scans
