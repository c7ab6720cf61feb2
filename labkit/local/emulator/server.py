"""The local AWS account on loopback: moto's server with the log-file layer (rds_api) in front, in a
background thread, and the watcher that raises RDS's deletion events."""

from __future__ import annotations

import logging
import threading
import time

from labkit.backup.rdsevents import alarm_topic_name
from labkit.config import LabConfig
from labkit.local.emulator.deletion_events import DeletionWatcher
from labkit.local.emulator.rds_api import ACCOUNT_ID, Faults, LogFileApi, instance_exists
from labkit.local.emulator.rds_budget import Clock, RdsProfile
from labkit.local.emulator.wire import Sleep


class EmulatorServer:
    """moto's server plus the log-file layer, on a loopback port, in a background thread."""

    def __init__(
        self,
        port: int,
        faults: Faults | None = None,
        profile: RdsProfile | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        self.app = LogFileApi(
            DomainDispatcherApplication(create_backend_app), faults, profile, clock=clock, sleep=sleep
        )
        self._server = make_server(
            "127.0.0.1", port, self.app, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="emulator", daemon=True
        )
        self.deletions: DeletionWatcher | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> str:
        self._thread.start()
        return self.url

    def watch_deletions(self, config: LabConfig, interval_s: float = 1.0) -> DeletionWatcher:
        """Raise RDS's deletion events (SNS-wrapped, as the alarm topic delivers them) into the detector's
        queue of ``config``'s lab when a registered instance's audit file or the instance disappears."""
        import boto3

        region = config.region
        sqs = boto3.client(
            "sqs",
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

        def publish(body: str) -> None:
            url = sqs.get_queue_url(QueueName=config.names.queue)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=body)

        self.deletions = DeletionWatcher(
            self.app.registered,
            lambda instance_id: instance_exists(instance_id, region),
            publish,
            region=region,
            account_id=ACCOUNT_ID,
            topic_arn=f"arn:aws:sns:{region}:{ACCOUNT_ID}:{alarm_topic_name(config.project)}",
            interval_s=interval_s,
        )
        self.deletions.start()
        return self.deletions

    def stop(self) -> None:
        if self.deletions:
            self.deletions.stop()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        for audit in self.app.registered().values():
            audit.close()  # the descriptors held on named audit files
