"""A sealed file's rest goes through one complete download when paging it would take more requests: the
RDS budget is spent on requests, not bytes. Real parts: the emulator over HTTP, its aurora naming (a file
keeps its name across MariaDB's rename), botocore's client; the requests are counted by a botocore hook."""

from __future__ import annotations

import os

from labkit.backup import table as t
from labkit.backup.rdslogs import PORTION_MAX_BYTES
from tests.support.emulated import EmulatedAccount
from tests.support.pipeline import Pipeline, append, copy_until_done, only_item, stored


def test_the_rest_of_a_sealed_file_is_one_request_and_s3_equals_the_file(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN a file copied up to its end once (paged, its marker stored), that then grew by 3 MB and rotated
    directory = account.add_instance("db-1")
    active = directory / "server_audit.log"
    append(active, 0, 2_000)
    pipeline.detect("db-1")
    copy_until_done(pipeline, "db-1")
    first = only_item(pipeline)
    assert first["marker"] and 0 < first["copied_bytes"] == first["size"]
    append(active, 2_000, 32_000)
    os.rename(active, directory / "server_audit.log.1")
    append(active, 50_000, 10)  # the newer file: the rotated one is no longer the newest
    pipeline.detect("db-1", seal_after_s=0.0)
    [rotated] = [i for i in t.instance_items(pipeline.table, "db-1") if i["sk"] == first["sk"]]
    assert rotated["sealed"] and rotated["size"] - rotated["copied_bytes"] > 2 * PORTION_MAX_BYTES
    # WHEN the downloader copies it
    requests: list[str] = []
    rds = account.client("rds")
    rds.meta.events.register("before-send.rds", lambda request, **_: requests.append(request.url))
    outcome = pipeline.downloader(rds=rds).copy("db-1", rotated["sk"], "seal-1")
    # THEN one request (the complete download) copied the rest, and S3 holds the file's bytes
    assert outcome.action == "copied" and outcome.rds_calls == 1
    assert len(requests) == 1 and "downloadCompleteLogFile" in requests[0]
    [done] = [i for i in t.instance_items(pipeline.table, "db-1") if i["sk"] == first["sk"]]
    assert done["copied_bytes"] == done["size"]
    assert stored(pipeline, done) == (directory / "server_audit.log.1").read_bytes()
