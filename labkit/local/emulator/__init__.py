"""The local AWS account: moto's server with the RDS log-file APIs that moto lacks, on loopback.

A thin WSGI layer sits in front of moto's own app. It answers ``DescribeDBLogFiles``,
``DownloadDBLogFilePortion`` and the REST ``DownloadCompleteDBLogFile`` from the audit files the local
MariaDB servers write, and passes every other request to moto untouched. Instance existence is read from
moto's RDS backend, so deleting an instance through the API makes its logs vanish as on AWS.

Bytes that are not UTF-8: AWS's XML answer can only carry text. What AWS does is unconfirmed (reports show
replacement characters, and a "This file contains binary data" error on some files). This emulator replaces
each invalid byte (and each character XML 1.0 cannot carry) with U+FFFD in ``LogFileData``, counts them in
the ``x-labkit-replaced-bytes`` response header and in its log, and never changes the file on disk:
``DownloadCompleteDBLogFile`` returns the exact bytes.

RDS profiles (:mod:`rds_budget`): the default ``fast`` one answers as fast as it can; ``aws``
spends one token bucket per account and Region on the RDS reads the lab serves (an empty bucket answers
``Throttling`` "Rate exceeded", HTTP 400, at once), adds a fixed latency to every charged call, delivers pages
at a per-file rate and streams the complete download at a set rate. Clock and sleep are injectable.

Modules: ``server`` (the process on loopback), ``rds_api`` (the RDS log-file actions), ``wire`` (their XML),
``control_api`` (``/labkit-api/``), ``logfiles`` (audit files as RDS lists them: rotation and naming),
``portions`` (DownloadDBLogFilePortion's paging), ``deletion_events`` (RDS-EVENT-0610/0611 when a file
or an instance goes), ``rds_budget`` (the profiles).
"""

from labkit.local.emulator.rds_api import ACCOUNT_ID, Faults, LogFileApi, instance_exists
from labkit.local.emulator.server import EmulatorServer
from labkit.local.emulator.wire import xml_safe_text

__all__ = ["ACCOUNT_ID", "EmulatorServer", "Faults", "LogFileApi", "instance_exists", "xml_safe_text"]
