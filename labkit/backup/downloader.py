"""Log Downloader: copy the bytes of one tracked file that are not in S3 yet, as the next numbered part.

Exactly once, by construction:
- the table's ``copied_bytes`` (with the opaque ``marker`` that points there) is the only truth about what
  S3 holds; part N+1 starts exactly there and its key is fixed by N, so a retry after a crash rewrites the
  same object instead of adding one;
- a lease (``lease_owner`` = the stream record's sequence number, ``lease_until``) keeps two copies of one
  file apart; a redelivery of the same record may take its own lease over;
- the commit is conditional on ``copied_bytes`` and the lease, so a stale copier can never move it.

RDS's DownloadDBLogFilePortion returns text: a page that carries AWS's truncation text or U+FFFD is not the
file's bytes, so that page's lines are taken from DownloadCompleteDBLogFile instead (the marker chain stays).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from labkit.backup import table as t
from labkit.backup.errors import BadInputError, SourceChangedError
from labkit.backup.layout import PartKey
from labkit.backup.rdslogs import Page, download_complete_log_file, iter_portions, list_log_files
from labkit.backup.s3parts import GzipPartWriter

log = logging.getLogger(__name__)
TRUNCATION_TEXT = b"[Your log message was truncated]"
REPLACEMENT = "\ufffd".encode()
GONE_CODES = ("DBLogFileNotFoundFault", "DBInstanceNotFound", "DBInstanceNotFoundFault")
_deserialize = TypeDeserializer().deserialize


@dataclass
class CopyOutcome:
    pk: str
    sk: str
    action: str  # copied | nothing-new | sealed | lost | skipped | busy
    bytes_copied: int = 0
    rds_bytes_fetched: int = 0
    rds_calls: int = 0
    lag_ms: int | None = None
    key: str = ""


@dataclass
class Downloader:
    rds: Any
    s3: Any
    table: Any
    credentials: Any
    bucket: str
    prefix: str
    lease_ms: int
    remaining_ms: Callable[[], int] = lambda: 900_000
    reserve_ms: int = 30_000  # stop paging with this much time left, and commit what was copied
    max_failures: int = 4  # failed copies of one file before it shows as FAILED (stream retries + 1)

    # -- entry point -------------------------------------------------------------------------------------
    def handle_record(self, record: dict[str, Any]) -> CopyOutcome:
        if record.get("eventName") == "REMOVE":  # TTL expiry of a finished item
            keys = record.get("dynamodb", {}).get("Keys", {})
            return CopyOutcome(
                str(keys.get("pk", {}).get("S", "")), str(keys.get("sk", {}).get("S", "")), "skipped"
            )
        try:
            keys = {k: _deserialize(v) for k, v in record["dynamodb"]["Keys"].items()}
            owner = str(record["dynamodb"]["SequenceNumber"])
            pk, sk = str(keys["pk"]), str(keys["sk"])
        except (KeyError, TypeError) as exc:
            raise BadInputError(f"malformed stream record: {exc}") from exc
        return self.copy(pk, sk, owner)

    def copy(self, pk: str, sk: str, owner: str) -> CopyOutcome:
        item = t.get_item(self.table, pk, sk)
        if item is None or item["state"] == t.LOST or "vanished_at" in item:
            return CopyOutcome(pk, sk, "skipped")
        if item["copied_bytes"] >= item["size"]:
            return self._settle(item)
        if item["scheme"] == "rds-mysql" and not item.get("sealed"):
            return CopyOutcome(pk, sk, "skipped")  # its name moves at rotation: copy it once sealed
        if not self._lease(item, owner):
            raise SourceChangedError(f"{pk} {sk}: another copy holds the lease; retry later")
        try:
            return self._copy_leased(item, owner)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in GONE_CODES:
                return self._lost(item, owner, exc.response["Error"]["Code"])
            self._release(item, owner, failure=str(exc))
            raise
        except SourceChangedError:
            self._release(item, owner)  # rotation: not the copy's fault, the retry will find the file
            raise
        except Exception as exc:
            self._release(item, owner, failure=f"{type(exc).__name__}: {exc}")
            raise

    # -- copying -----------------------------------------------------------------------------------------
    def _copy_leased(self, item: dict[str, Any], owner: str) -> CopyOutcome:
        name = self._current_name(item)
        start = item["copied_bytes"]
        number = item["parts"] + 1
        key = PartKey(self.prefix, item["cluster_id"], item["pk"], item["date"], item["sk"]).key(number)
        writer = GzipPartWriter(self.s3, self.bucket, key, start)
        stats = {"calls": 0, "fetched": 0}
        try:
            if item.get("sealed") and start == 0:
                try:
                    marker = self._copy_complete(item, name, writer, stats)
                except ClientError as exc:  # refused before any byte arrived: page it instead
                    if exc.response["Error"]["Code"] in GONE_CODES or writer.source_bytes:
                        raise
                    log.warning(
                        "%s %s: DownloadCompleteDBLogFile failed (%s); paging instead", item["pk"], name, exc
                    )
                    marker = self._copy_pages(item, name, writer, stats)
            elif start > 0 and not item["marker"]:
                marker = self._copy_complete(item, name, writer, stats, skip=start)
            else:
                marker = self._copy_pages(item, name, writer, stats)
            if item["scheme"] == "rds-mysql":
                self._check_still(item, name)
                if writer.source_bytes + start != item["size"]:
                    raise SourceChangedError(
                        f"{name}: copied {writer.source_bytes + start} of {item['size']} bytes"
                    )
            if writer.source_bytes == 0:
                writer.abort()
                self._release(item, owner)
                return CopyOutcome(item["pk"], item["sk"], "nothing-new", rds_calls=stats["calls"])
            part = writer.close(
                {
                    "source-file": name[:512],
                    "source-last-written": str(item["last_written"]),
                    "instance": item["pk"],
                }
            )
        except BaseException:
            writer.abort()
            raise
        end = part.source_end
        self._commit(item, owner, end, marker, number)
        lag = int(time.time() * 1000) - item["last_written"] if end >= item["size"] else None
        return CopyOutcome(
            item["pk"], item["sk"], "copied", end - start, stats["fetched"], stats["calls"], lag, key
        )

    def _copy_pages(
        self, item: dict[str, Any], name: str, writer: GzipPartWriter, stats: dict[str, int]
    ) -> str:
        marker = item["marker"] or "0"
        for page in iter_portions(self.rds, item["pk"], name, marker):
            stats["calls"] += 1
            stats["fetched"] += len(page.data)
            data = page.data
            if TRUNCATION_TEXT in data or REPLACEMENT in data:
                data = self._true_bytes(item, name, item["copied_bytes"] + writer.source_bytes, page, stats)
            writer.write(data)
            marker = page.marker
            if self.remaining_ms() < self.reserve_ms:
                break
        return marker

    def _copy_complete(
        self, item: dict[str, Any], name: str, writer: GzipPartWriter, stats: dict[str, int], skip: int = 0
    ) -> str:
        """One streaming request for a whole sealed file (or, when no marker is known, all past ``skip``)."""
        stats["calls"] += 1
        for chunk in self._complete(item["pk"], name):
            stats["fetched"] += len(chunk)
            if skip:
                cut = min(skip, len(chunk))
                chunk, skip = chunk[cut:], skip - cut
            writer.write(chunk)
        return ""  # the portion marker for this offset is unknown: a later increment streams again

    def _true_bytes(
        self, item: dict[str, Any], name: str, offset: int, page: Page, stats: dict[str, int]
    ) -> bytes:
        """The real bytes of a page's lines, from the complete file (the page's line count is exact)."""
        lines = page.data.count(b"\n")
        stats["calls"] += 1
        collected = bytearray()
        position = 0
        for chunk in self._complete(item["pk"], name):
            stats["fetched"] += len(chunk)
            if position + len(chunk) > offset:
                collected += chunk[max(0, offset - position) :]
                if collected.count(b"\n") >= lines:
                    break
            position += len(chunk)
        end = _nth_newline(collected, lines)
        true = bytes(collected[: end + 1]) if end >= 0 else bytes(collected)
        if true != page.data:
            log.warning(
                "%s %s: page at %d rebuilt from the complete file (%d bytes)",
                item["pk"],
                name,
                offset,
                len(true),
            )
        return true

    def _complete(self, instance_id: str, name: str) -> Iterator[bytes]:
        return download_complete_log_file(self.rds, self.credentials, instance_id, name)

    # -- identity (rds-mysql names move at every rotation) -----------------------------------------------
    def _current_name(self, item: dict[str, Any]) -> str:
        if item["scheme"] != "rds-mysql":
            return str(item["log_file_name"])
        for f in list_log_files(self.rds, item["pk"]):
            if (f["Size"], f["LastWritten"]) == (item["size"], item["last_written"]):
                return str(f["LogFileName"])
        raise SourceChangedError(
            f"{item['pk']} {item['sk']}: not found by size and LastWritten; the detector will tell"
        )

    def _check_still(self, item: dict[str, Any], name: str) -> None:
        if self._current_name(item) != name:
            raise SourceChangedError(f"{item['pk']} {name} rotated during the copy; retrying")

    # -- table transitions -------------------------------------------------------------------------------
    def _lease(self, item: dict[str, Any], owner: str) -> bool:
        now = t.now_ms()
        try:
            self.table.update_item(
                Key={"pk": item["pk"], "sk": item["sk"]},
                UpdateExpression="SET #state = :copying, lease_owner = :me, lease_until = :until",
                ConditionExpression="copied_bytes = :copied AND (attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :me)",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":copying": t.COPYING,
                    ":me": owner,
                    ":until": now + self.lease_ms,
                    ":copied": item["copied_bytes"],
                    ":now": now,
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _commit(self, item: dict[str, Any], owner: str, end: int, marker: str, parts: int) -> None:
        fresh = t.get_item(self.table, item["pk"], item["sk"]) or item
        size = max(fresh["size"], end)
        done = bool(fresh.get("sealed")) and end >= size
        self.table.update_item(
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression=(
                "SET copied_bytes = :end, marker = :marker, parts = :parts, #state = :state, #size = :size, "
                "updated_at = :now, failures = :zero REMOVE lease_owner, lease_until, last_error"
            ),
            ConditionExpression="copied_bytes = :copied AND lease_owner = :me AND #size <= :size",
            ExpressionAttributeNames={"#state": "state", "#size": "size"},
            ExpressionAttributeValues={
                ":end": end,
                ":marker": marker,
                ":parts": parts,
                ":state": t.BACKED_UP if done else t.PARTIAL,
                ":size": size,
                ":now": t.now_ms(),
                ":copied": item["copied_bytes"],
                ":me": owner,
                ":zero": 0,
            },
        )

    def _release(self, item: dict[str, Any], owner: str, failure: str = "") -> None:
        """Give the lease back; a failed copy is counted, and after ``max_failures`` the file is FAILED
        (visible on the dashboard) until a later copy succeeds."""
        failures = int(item.get("failures", 0)) + (1 if failure else 0)
        state = t.PARTIAL if item["copied_bytes"] else t.DETECTED
        if failure and failures >= self.max_failures:
            state = t.FAILED
            log.error("copy of %s %s failed %d times: %s", item["pk"], item["sk"], failures, failure)
        try:
            self.table.update_item(
                Key={"pk": item["pk"], "sk": item["sk"]},
                UpdateExpression="SET #state = :state, failures = :failures, last_error = :error REMOVE lease_owner, lease_until",
                ConditionExpression="lease_owner = :me",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":me": owner,
                    ":state": state,
                    ":failures": failures,
                    ":error": failure[:500],
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def _settle(self, item: dict[str, Any]) -> CopyOutcome:
        """Nothing to copy: a sealed, complete file becomes BACKED_UP (once)."""
        if not item.get("sealed") or item["state"] == t.BACKED_UP:
            return CopyOutcome(item["pk"], item["sk"], "nothing-new")
        try:
            self.table.update_item(
                Key={"pk": item["pk"], "sk": item["sk"]},
                UpdateExpression="SET #state = :done",
                ConditionExpression="copied_bytes = :copied AND attribute_not_exists(lease_owner)",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":done": t.BACKED_UP, ":copied": item["copied_bytes"]},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        return CopyOutcome(item["pk"], item["sk"], "sealed")

    def _lost(self, item: dict[str, Any], owner: str, code: str) -> CopyOutcome:
        now = t.now_ms()
        self.table.update_item(
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression=(
                "SET #state = :lost, lost_bytes = :missing, vanished_at = :now, updated_at = :now "
                f"REMOVE lease_owner, lease_until, {t.LIVE_KEY}"
            ),
            ConditionExpression="lease_owner = :me",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={
                ":lost": t.LOST,
                ":missing": item["size"] - item["copied_bytes"],
                ":now": now,
                ":me": owner,
            },
        )
        log.error(
            "audit file LOST (%s) before it was fully copied: instance=%s file=%s copied=%d of %d bytes",
            code,
            item["pk"],
            item["log_file_name"],
            item["copied_bytes"],
            item["size"],
        )
        return CopyOutcome(item["pk"], item["sk"], "lost")


def _nth_newline(data: bytes | bytearray, n: int) -> int:
    pos = -1
    for _ in range(n):
        pos = data.find(b"\n", pos + 1)
        if pos < 0:
            return -1
    return pos
