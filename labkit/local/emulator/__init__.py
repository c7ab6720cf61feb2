"""The local AWS account: moto's server with the RDS log-file APIs that moto lacks, on loopback. The
layer, its UTF-8 rule and the RDS profiles are described in :mod:`labkit.local.emulator.rds_api`.

Modules: ``server`` (the process on loopback), ``rds_api`` (the RDS log-file actions), ``wire`` (their XML),
``control_api`` (``/labkit-api/``), ``logfiles`` (audit files as RDS lists them: rotation and naming),
``aurora_files`` (an Aurora instance's files written at once, one AuditDirectory each), ``portions``
(DownloadDBLogFilePortion's paging), ``deletion_events`` (RDS-EVENT-0610/0611 when a file
or an instance goes), ``rds_budget`` (the profiles).
"""

from labkit.local.emulator.rds_api import ACCOUNT_ID, Faults, LogFileApi, instance_exists
from labkit.local.emulator.server import EmulatorServer
from labkit.local.emulator.wire import xml_safe_text

__all__ = ["ACCOUNT_ID", "EmulatorServer", "Faults", "LogFileApi", "instance_exists", "xml_safe_text"]
