"""The local lab as one background process: the emulator (the lab's AWS account) and the databases.

moto keeps its state in memory and every notebook runs in its own kernel, so the account must live in a
process that outlives them all. ``python -m labkit.local.service`` is that process; ``labkit local up``
starts it and ``labkit local down`` stops it, and it stops everything it started. The archive and the
tracking table outlive it too: it restores its last snapshot at start, takes one every
``snapshot_interval_s`` and a last one at stop (:mod:`labkit.local.snapshot`).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import threading
import time
from pathlib import Path

from labkit import aws
from labkit.config import LabConfig, load_config
from labkit.local.databases import LocalCluster, MariaDBServer
from labkit.local.emulator import EmulatorServer, Faults
from labkit.local.emulator.rds_budget import RdsProfile
from labkit.local.ports import choose_port
from labkit.local.runtime import LambdaRuntime, control_routes, start_local_pipeline
from labkit.local.snapshot import LabSnapshot, PeriodicSnapshots, Restored
from labkit.local.state import InstanceState, LabState, state_path, write_state

log = logging.getLogger("labkit.local")
SCHEME_TAG = "labkit:naming-scheme"


class LocalLab:
    """Starts and stops the emulator and the Aurora stand-in, and registers one in the other."""

    def __init__(self, config: LabConfig) -> None:
        self.config = config
        self.emulator: EmulatorServer | None = None
        self.cluster: LocalCluster | None = None
        self.runtime: LambdaRuntime | None = None
        self.snapshot: LabSnapshot | None = None  # set once the snapshot is restored: only then taken again
        self.periodic: PeriodicSnapshots | None = None
        self.restored: Restored | None = None

    def start(self) -> LabState:
        config = self.config
        state_dir = Path(config.state_dir)
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        emulator_port = choose_port(config.emulator_port, "the AWS emulator")
        self.emulator = EmulatorServer(
            emulator_port, Faults(config.throttle_rate, config.latency_ms), RdsProfile.from_config(config)
        )
        endpoint = self.emulator.start()
        log.info("emulator listening on %s", endpoint)
        writer_port = choose_port(config.db_port, "the writer instance", avoid={emulator_port})
        reader_wanted = config.db_port + 1 if config.db_port else 0
        reader_port = choose_port(reader_wanted, "the reader instance", avoid={emulator_port, writer_port})
        self.cluster = LocalCluster(config, writer_port, reader_port, master_password(state_dir))
        self.cluster.start()
        schemes = {"writer": config.naming_scheme, "reader": config.reader_scheme}
        instances = [self._instance_state(server, schemes[server.role]) for server in self.cluster.servers]
        self._register(endpoint, instances)
        # the application resources, the last snapshot and the Lambda runtime, before the state says "up"
        self.runtime = start_local_pipeline(config, endpoint, lambda: self._restore(endpoint))
        if self.runtime:
            self.emulator.app.routes.update(control_routes(self.runtime))
            if config.rds_deletion_events:  # a deleted audit file reaches the detector at once, as on AWS
                self.emulator.watch_deletions(config)
        state = LabState(
            pid=os.getpid(),
            endpoint=endpoint,
            state_dir=str(state_dir),
            log_file=str(state_dir / "service.log"),
            started_at=time.time(),
            instances=instances,
            restored=self.restored.to_dict() if self.restored else None,
        )
        write_state(config, state)
        return state

    def _restore(self, endpoint: str) -> None:
        """Bring the last snapshot back (raises SnapshotError: the lab does not start on a corrupt one),
        then snapshot periodically. Never before a restore: an empty account would overwrite the archive."""
        assert self.emulator is not None
        config = self.config.__class__(**{**self.config.__dict__, "endpoint_url": endpoint})
        snapshot = LabSnapshot(config, self.emulator.app.registered)
        self.restored = snapshot.restore()
        self.snapshot = snapshot
        self.periodic = PeriodicSnapshots(snapshot, self.config.snapshot_interval_s)
        self.periodic.start()
        self.emulator.app.routes["snapshot"] = lambda method, body: {"path": str(snapshot.take())}

    def stop(self) -> None:
        if self.periodic:
            self.periodic.stop()
        if self.runtime:
            self.runtime.stop()
        if self.snapshot:  # the pipeline has stopped: the last snapshot is what the next start restores
            try:
                log.info("lab snapshot written: %s", self.snapshot.take())
            except Exception:
                log.exception("the last lab snapshot failed; the previous one is kept")
        if self.cluster:
            self.cluster.stop()
        if self.emulator:
            self.emulator.stop()
        state_path(self.config).unlink(missing_ok=True)

    def _instance_state(self, server: MariaDBServer, scheme: str) -> InstanceState:
        return InstanceState(
            id=server.instance_id,
            cluster=self.config.cluster_id,
            role=server.role,
            port=server.port,
            scheme=scheme,
            audit_dir=str(server.audit_dir),
            datadir=str(server.datadir),
            socket=str(server.socket),
            pid=server.pid,
        )

    def _register(self, endpoint: str, instances: list[InstanceState]) -> None:
        """Create the cluster, its instances and the master secret in the emulator, as on AWS."""
        assert self.emulator is not None and self.cluster is not None
        config = self.config.__class__(**{**self.config.__dict__, "endpoint_url": endpoint})
        rds = aws.client("rds", config)
        writer = instances[0]
        rds.create_db_cluster(
            DBClusterIdentifier=config.cluster_id,
            Engine="aurora-mysql",
            EngineVersion="8.0.mysql_aurora.3.08.0",
            MasterUsername=config.master_username,
            MasterUserPassword=self.cluster.password,
            Port=writer.port,
            DatabaseName=config.database,
            StorageEncrypted=True,
        )
        for inst in instances:
            rds.create_db_instance(
                DBInstanceIdentifier=inst.id,
                DBClusterIdentifier=config.cluster_id,
                Engine="aurora-mysql",
                DBInstanceClass="db.r6g.large",
                Port=inst.port,
                Tags=[{"Key": SCHEME_TAG, "Value": inst.scheme}, {"Key": "role", "Value": inst.role}],
            )
            self.emulator.app.register(inst.id, Path(inst.audit_dir), inst.scheme)
        aws.client("secretsmanager", config).create_secret(
            Name=config.secret_name,
            SecretString=json.dumps(
                {"username": config.master_username, "password": self.cluster.password, "port": writer.port}
            ),
        )


def master_password(state_dir: Path) -> str:
    """A random password made on first start, kept in the state directory (mode 0600), never in code."""
    path = state_dir / "master-password"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(24))
    return path.read_text().strip()


def run_service(config: LabConfig) -> None:
    """Run until SIGTERM/SIGINT, then stop everything that was started."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    lab = LocalLab(config)
    try:
        lab.start()
        log.info("local lab ready")
        stop.wait()
    finally:
        log.info("stopping the local lab")
        lab.stop()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    run_service(load_config())


if __name__ == "__main__":
    main()
