"""Tailing on the local runtime: the real detector and downloader handlers, moto's server over HTTP, real
audit files growing on disk while one detector invocation tails them.

Nothing is faked but the scanner (a recorder: no scheduled scan may help, the tail alone must do it) and,
in the first test, the detector (a blocking stand-in, to hold a batch as a tail does). The clocks are real;
the tests wait for conditions with generous bounds and assert order and bytes, never durations.
"""

from __future__ import annotations

import functools
import gzip
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from labkit.backup import table as t
from labkit.backup.layout import part_number
from labkit.backup.scanner import InstanceMessage
from labkit.config import LabConfig, load_config
from labkit.local.deploy import deploy_local
from labkit.local.runtime import LambdaRuntime, emulator_environment
from tests.support import lab_service
from tests.support.emulated import EmulatedAccount, audit_line

TIMEOUT_S = 60.0  # generous bound of every wait
MARGIN_S = 2.0


wait_for = functools.partial(lab_service.wait_for, poll_s=0.05)


def lab_config(account: EmulatedAccount, tmp_path: Path, **settings: Any) -> LabConfig:
    config = load_config(
        endpoint_url=account.url,
        state_dir=tmp_path / "state",
        project=f"lab-{uuid.uuid4().hex[:8]}",  # moto's backends are per process: keep tests apart
        detector_tailing=True,
        tail_poll_s=0.2,
        tail_margin_s=MARGIN_S,
        **settings,
    )
    deploy_local(config)
    return config


@pytest.fixture
def handler_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[LabConfig], None]]:
    """Give the real handlers the lab's config as the lab service does (LABKIT_* and the emulator)."""
    from labkit.handlers import clients
    from labkit.local.control import config_env

    def apply(config: LabConfig) -> None:
        for key, value in {**config_env(config), **emulator_environment(config, config.endpoint_url)}.items():
            monkeypatch.setenv(key, value)
        clients.forget()

    yield apply
    clients.forget()


def s3_bytes(account: EmulatedAccount, config: LabConfig, instance_id: str) -> dict[str, bytes]:
    """Per file: its parts in S3, in part order, unzipped and joined."""
    s3, bucket = account.client("s3"), config.names.bucket
    parts: dict[str, list[tuple[int, bytes]]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=config.log_prefix):
        for obj in page.get("Contents", []):
            if f"/instance={instance_id}/" not in obj["Key"] or ".part-" not in obj["Key"]:
                continue
            body = gzip.decompress(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
            name = unquote(obj["Key"].rsplit("/", 1)[1].rsplit(".part-", 1)[0])
            parts.setdefault(name, []).append((part_number(obj["Key"]), body))
    return {k: b"".join(body for _, body in sorted(v)) for k, v in parts.items()}


def items(account: EmulatedAccount, config: LabConfig, instance_id: str) -> list[dict[str, Any]]:
    table = account.session.resource("dynamodb", endpoint_url=account.url).Table(config.names.table)
    return t.instance_items(table, instance_id)


def test_a_held_detector_batch_does_not_hold_up_the_queue_or_the_stream(
    account: EmulatedAccount, tmp_path: Path
) -> None:
    # GIVEN a detector that holds its first batch (as a tail does) until another batch and a downloader
    # invocation happened meanwhile, or a minute passed
    config = lab_config(account, tmp_path, scan_interval_s=3600.0)
    other_batch, downloaded = threading.Event(), threading.Event()
    seen_while_held: list[bool] = []

    def detector(event: dict[str, Any], context: Any) -> None:
        if any(r["body"] == "held" for r in event["Records"]):
            seen_while_held.append(other_batch.wait(TIMEOUT_S) and downloaded.wait(TIMEOUT_S))
        else:
            other_batch.set()

    runtime = LambdaRuntime(
        config,
        scanner=lambda event, context: None,
        detector=detector,
        downloader=lambda event, context: downloaded.set(),
        poll_interval_s=0.05,
    )
    runtime.start()
    try:
        sqs = account.client("sqs")
        queue = sqs.get_queue_url(QueueName=config.names.queue)["QueueUrl"]
        sqs.send_message(QueueUrl=queue, MessageBody="held")
        wait_for("the held batch delivered", lambda: runtime.stats()["detector"]["invocations"] == 1)
        # WHEN another instance's message and a table change arrive while it is held
        sqs.send_message(QueueUrl=queue, MessageBody="another instance")
        account.client("dynamodb").put_item(
            TableName=config.names.table,
            Item={"pk": {"S": "db-9"}, "sk": {"S": "f"}, "writer": {"S": "detector"}},
        )
        # THEN both were handled while the first batch was still held, and everything drains
        assert runtime.drain(TIMEOUT_S * 2)
        assert seen_while_held == [True]
        assert runtime.stats()["detector"]["invocations"] == 2
        assert runtime.stats()["downloader"]["invocations"] >= 1
    finally:
        runtime.stop()


@pytest.mark.parametrize(
    "limit",
    [
        pytest.param({"scan_interval_s": 20.0}, id="until-the-next-schedule"),
        pytest.param({"scan_interval_s": 3600.0, "detector_timeout_s": 15}, id="until-the-timeout"),
    ],
)
def test_one_tailing_invocation_copies_growth_written_while_it_runs(
    account: EmulatedAccount,
    tmp_path: Path,
    handler_env: Callable[[LabConfig], None],
    limit: dict[str, Any],
) -> None:
    from labkit.handlers import detector as detector_handler
    from labkit.handlers import downloader as downloader_handler

    # GIVEN the real detector (tailing) and downloader on the local runtime, no scheduled scan, and an
    # instance whose active audit file already holds some lines
    config = lab_config(account, tmp_path, **limit)
    handler_env(config)
    directory = account.add_instance("db-1")
    active = directory / "server_audit.log"
    active.write_bytes(b"".join(audit_line(i) for i in range(50)))
    scans: list[Any] = []
    returned: list[tuple[float, int, float]] = []  # (time, context's remaining ms, message sent at)

    def detector(event: dict[str, Any], context: Any) -> Any:
        answer = detector_handler.lambda_handler(event, context)
        sent = min(int(r["attributes"]["SentTimestamp"]) for r in event["Records"]) / 1000
        returned.append((time.time(), context.get_remaining_time_in_millis(), sent))
        return answer

    runtime = LambdaRuntime(
        config,
        scanner=lambda event, context: scans.append(event),
        detector=detector,
        downloader=downloader_handler.lambda_handler,
        poll_interval_s=0.05,
        first_tick_s=3600.0,
    )
    runtime.start()
    try:
        sqs = account.client("sqs")
        queue = sqs.get_queue_url(QueueName=config.names.queue)["QueueUrl"]
        sqs.send_message(
            QueueUrl=queue,
            MessageBody=InstanceMessage("db-1", "db-1-cluster", "aurora-mysql", "aurora").body(),
        )
        wait_for("the file tracked", lambda: items(account, config, "db-1"))
        # WHEN the file grows three times during that one invocation
        line = 50
        for _ in range(3):
            with open(active, "ab") as handle:
                handle.write(b"".join(audit_line(i) for i in range(line, line + 40)))
            line += 40
            size = active.stat().st_size
            # THEN each growth is copied without another message: the tail saw it, the downloader copied it
            wait_for(
                f"{size} bytes copied",
                lambda size=size: [i for i in items(account, config, "db-1") if i["copied_bytes"] == size],
            )
            assert returned == []  # still the same invocation
        assert runtime.drain(TIMEOUT_S * 2)
    finally:
        runtime.stop()
    # ... the bytes in S3 are the file's bytes, once
    assert list(s3_bytes(account, config, "db-1").values()) == [active.read_bytes()]
    # ... from one detector invocation, no scanner run and no error
    stats = runtime.stats()
    assert (stats["detector"]["invocations"], stats["detector"]["errors"], scans) == (1, 0, [])
    # ... which returned before the next schedule and before its timeout
    ended_at, remaining_ms, sent_at = returned[0]
    assert remaining_ms > 0
    assert ended_at < sent_at + config.scan_period_s
