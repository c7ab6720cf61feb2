"""What the benches share: one Aurora MySQL instance registered in the emulator over its RDS API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labkit.local.emulator import EmulatorServer


def add_instance(
    server: EmulatorServer,
    rds: Any,
    instance_id: str,
    directory: Path,
    scheme: str,
    cluster_id: str = "bench",
) -> None:
    """A cluster (once) and an instance in the emulator, its audit files read from ``directory``."""
    clusters = rds.describe_db_clusters()["DBClusters"]
    if not any(c["DBClusterIdentifier"] == cluster_id for c in clusters):
        rds.create_db_cluster(
            DBClusterIdentifier=cluster_id,
            Engine="aurora-mysql",
            MasterUsername="a",
            MasterUserPassword="bench-only-0",
        )
    rds.create_db_instance(
        DBInstanceIdentifier=instance_id,
        DBClusterIdentifier=cluster_id,
        Engine="aurora-mysql",
        DBInstanceClass="db.r6g.large",
    )
    server.app.register(instance_id, directory, scheme)
