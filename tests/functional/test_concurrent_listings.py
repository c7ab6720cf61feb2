"""Issue 15 finding 5 through the whole path: other clients list an Aurora instance's audit files while the
pipeline scans and copies and MariaDB's server_audit appends and rotates. The emulator serves every client
on its own thread, as RDS serves the console, monitoring and our Lambdas at once. A listing overtaken by
another one used to rename the live file, which the pipeline then copied again under its new name.

The real emulator over HTTP, real files renamed as server_audit renames them, botocore clients on several
threads, the real detector and downloader cores."""

from __future__ import annotations

import threading
import time
from collections import Counter

from labkit.backup import table as t
from tests.support.emulated import EmulatedAccount, audit_line
from tests.support.pipeline import Pipeline, s3_bytes

ROTATIONS = 25  # files created: ROTATIONS + 1, none deleted, so every byte must arrive exactly once


def test_files_listed_by_other_clients_meanwhile_are_copied_once_each_byte_once(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN an Aurora instance whose server_audit appends and rotates, keeping every file
    directory = account.add_instance("db-c")
    active = directory / "server_audit.log"
    written: list[bytes] = []
    writing = threading.Event()
    writing.set()
    errors: list[BaseException] = []

    def server_audit() -> None:
        try:
            for rotation in range(ROTATIONS + 1):
                for _ in range(30):
                    line = audit_line(len(written))
                    with open(active, "ab") as handle:
                        handle.write(line)
                    written.append(line)
                    time.sleep(0.001)  # a file grows while it is listed
                if rotation == ROTATIONS:
                    break
                for n in range(rotation, 0, -1):
                    (directory / f"server_audit.log.{n}").rename(directory / f"server_audit.log.{n + 1}")
                active.rename(directory / "server_audit.log.1")
                active.touch()
        except BaseException as exc:
            errors.append(exc)
        finally:
            writing.clear()

    # AND four other clients listing the instance's files as fast as the emulator answers
    def other_client() -> None:
        rds = account.client("rds")
        try:
            while writing.is_set():
                rds.describe_db_log_files(DBInstanceIdentifier="db-c")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=server_audit)] + [
        threading.Thread(target=other_client) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    # WHEN the pipeline looks and copies the whole time, then once more after the last write (sealing all)
    try:
        while writing.is_set():
            pipeline.detect("db-c", seal_after_s=3600)
            pipeline.copy_all("db-c")
    finally:
        writing.clear()
        for thread in threads:
            thread.join()
    assert not errors, errors
    pipeline.detect("db-c", seal_after_s=0)
    pipeline.copy_all("db-c")
    # THEN there is one item per file, none vanished or lost (no file was ever deleted): the rotated ones
    # BACKED_UP, the active one (never sealed while written to) copied to its size
    items = t.instance_items(pipeline.table, "db-c")
    states = Counter((i["state"], i["copied_bytes"] == i["size"]) for i in items)
    assert states == {(t.BACKED_UP, True): ROTATIONS, (t.PARTIAL, True): 1}, [
        (i["log_file_name"], i["state"], i["size"], i["copied_bytes"]) for i in items
    ]
    # AND S3 holds every line written, each exactly once, in its file's order
    archived = s3_bytes(pipeline, "db-c")
    lines = Counter(line for data in archived.values() for line in data.splitlines(keepends=True))
    assert lines == Counter(written)
    assert sum(len(data) for data in archived.values()) == sum(len(line) for line in written)
