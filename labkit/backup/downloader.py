"""Log Downloader: copy the bytes of one tracked file that are not in S3 yet, as the next numbered part.

Exactly once, by construction:
- the table's ``copied_bytes`` is the only truth about what S3 holds; part N+1 starts exactly there and its
  key is fixed by N, so a retry after a crash rewrites the same object instead of adding one. ``marker`` is
  the opaque portion marker of source offset ``marker_at`` (<= ``copied_bytes``; empty when unknown);
- a lease (``lease_owner`` = the stream record's sequence number, ``lease_until``) keeps two copies of one
  file apart; it is taken just before the first byte goes to S3, so a copy that finds nothing (or no whole
  line) writes nothing;
- the commit is conditional on ``copied_bytes`` and the lease, so a stale copier can never move it, and it
  never goes past the size the detector listed.

Parts end at line ends. Athena reads every part on its own, so a line split over two parts would be two
broken rows in every search. An aurora file is copied while it grows, and its listed size can fall inside a
line being written: the bytes after the last newline are held back (read, not written), ``copied_bytes`` is
committed at the line end, and the next copy, woken by the detector's write of new bytes or of the seal,
reads that line again from its start. New bytes without a newline write nothing at all (no lease, no part,
no table write, so nothing wakes the downloader again until the detector does). A sealed file is copied to
its size, since its last line may have no newline; a stop for time ends at a line end too. A part that an
earlier attempt (an older version) wrote ending inside a line is adopted as it is; the next part then
starts with the rest of that line.

Every write names its writer (``writer``): the stream's filter criteria (:mod:`labkit.backup.streamfilter`)
wake the downloader only for the detector's writes and for a commit that hands unfinished work on.

RDS's DownloadDBLogFilePortion returns text: a page that carries AWS's truncation text or U+FFFD is not the
file's bytes, so that page is rebuilt from DownloadCompleteDBLogFile by byte range (:mod:`.pagerebuild`).

Throttling slows a copy down and never fails it: RDS's own Throttling answer (after botocore's retries) and
the pipeline's RDS budget staying spent (:mod:`.rdsbudget`) commit what was copied, to the last whole page,
and hand the rest on (``copystate.hand_on`` when no byte was copied), with no failure counted. The rest of a
sealed file is one complete download when paging it would take more than one request.

Why one module past 400 lines: the lease, the copy, part adoption and the conditional commit are one
exactly-once protocol over one item, read together; the page rebuild (:mod:`.pagerebuild`), the table
transitions (:mod:`.copystate`) and the part writer (:mod:`.s3parts`) are already their own modules.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from labkit.backup import copystate, gaps, identity
from labkit.backup import table as t
from labkit.backup.errors import BadInputError, PartMismatchError, SourceChangedError
from labkit.backup.layout import PartKey
from labkit.backup.pagerebuild import needs_rebuild, nth_newline, page_extent, split_page
from labkit.backup.rdsbudget import THROTTLE_CODES, BudgetWaitExceeded, is_throttled
from labkit.backup.rdslogs import (
    DEFAULT_COMPLETE,
    GONE_CODES,
    PORTION_MAX_BYTES,
    CompleteDownload,
    Page,
    download_complete_log_file,
    iter_portions,
    list_log_files,
)
from labkit.backup.s3parts import GzipPartWriter, PartExistsError, WrittenPart, existing_part

log = logging.getLogger(__name__)
_deserialize = TypeDeserializer().deserialize


@dataclass
class CopyOutcome:
    pk: str
    sk: str
    action: str  # copied | nothing-new | sealed | lost | skipped | failed | throttled (handed on)
    bytes_copied: int = 0
    rds_bytes_fetched: int = 0
    rds_calls: int = 0
    lag_ms: int | None = None
    key: str = ""
    gap: str = ""  # the gap a file lost unsealed opened (its key), see labkit.backup.gaps


class _Lease:
    """Taken on the first byte written (a conditional write), released by the commit or on failure."""

    def __init__(self, downloader: Downloader, item: dict[str, Any], owner: str) -> None:
        self.downloader, self.item, self.owner = downloader, item, owner
        self.held = False

    def take(self) -> None:
        if not self.held:
            if not self.downloader._lease(self.item, self.owner):
                raise SourceChangedError(
                    f"{self.item['pk']} {self.item['sk']}: another copy holds the lease; retry later"
                )
            self.held = True


class _Part:
    """The part being written: takes the lease before its first byte, never passes ``limit``, and ends at a
    line end. The bytes after the last newline read so far (``tail``: at most one line) are held back and
    written only once a newline follows them, or, for a sealed file, when the copy reaches ``limit`` (a sealed
    file may end without a newline, and nothing will follow it)."""

    def __init__(self, writer: GzipPartWriter, lease: _Lease, start: int, limit: int, sealed: bool) -> None:
        self.writer, self.lease, self.start, self.limit, self.sealed = writer, lease, start, limit, sealed
        self.tail = bytearray()
        self.out_of_time = False  # stopped early: the next invocation carries on

    @property
    def end(self) -> int:
        """Where the part ends in the source: what the commit records as copied."""
        return self.start + self.writer.source_bytes

    @property
    def position(self) -> int:
        """The next source byte to read (held-back bytes were read, not written)."""
        return self.end + len(self.tail)

    @property
    def full(self) -> bool:
        return self.position >= self.limit

    def write(self, data: bytes) -> int:
        """Take what fits below the limit; returns how many bytes were taken (written or held back)."""
        data = data[: max(0, self.limit - self.position)]
        cut = data.rfind(b"\n") + 1
        if cut:
            self._emit(bytes(self.tail))
            self._emit(data[:cut])
            self.tail = bytearray(data[cut:])
        else:
            self.tail += data
        if self.sealed and self.full:
            self._emit(bytes(self.tail))
            self.tail = bytearray()
        return len(data)

    def _emit(self, data: bytes) -> None:
        if data:
            self.lease.take()
            self.writer.write(data)


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
    reserve_ms: int = 30_000  # stop copying with this much time left, and commit what was copied
    max_failures: int = 4  # failed copies of one file before it shows as FAILED (stream retries + 1)
    ttl_days: int = 30  # how long a LOST item is kept (TTL), like the detector's vanished items
    on_failed: Callable[[dict[str, Any]], None] = lambda item: None  # a file just became FAILED (metric)
    # the complete download was refused and the file is paged instead (item, error code; a metric)
    on_fallback: Callable[[dict[str, Any], str], None] = lambda item, code: None
    complete: CompleteDownload = DEFAULT_COMPLETE  # how DownloadCompleteDBLogFile is reached

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
        if copystate.gave_up(item, owner):  # this record used up its attempts on these bytes: stop, quietly
            return CopyOutcome(pk, sk, "failed")
        lease = _Lease(self, item, owner)
        try:
            return self._copy_leased(item, lease)
        except (ClientError, BudgetWaitExceeded) as exc:
            if is_throttled(exc):  # slowed down, never failed: the next invocation carries on from here
                log.warning("%s %s: throttled before a byte was copied, handed on: %s", pk, sk, exc)
                copystate.hand_on(self.table, item, owner, lease.held)
                return CopyOutcome(pk, sk, "throttled")
            if isinstance(exc, ClientError) and exc.response["Error"]["Code"] in GONE_CODES:
                return self._lost(item, owner, exc.response["Error"]["Code"])
            self._release(item, lease, failure=str(exc))
            raise
        except SourceChangedError:
            self._release(item, lease)  # rotation: not the copy's fault, the retry will find the file
            raise
        except Exception as exc:
            self._release(item, lease, failure=f"{type(exc).__name__}: {exc}")
            raise

    # -- copying -----------------------------------------------------------------------------------------
    def _copy_leased(self, item: dict[str, Any], lease: _Lease) -> CopyOutcome:
        name = self._current_name(item)  # rds-mysql: proven by the file's first line
        start = item["copied_bytes"]
        number = item["parts"] + 1
        key = PartKey(self.prefix, item["cluster_id"], item["pk"], item["date"], item["sk"]).key(number)
        writer = GzipPartWriter(self.s3, self.bucket, key, start)
        part = _Part(writer, lease, start, item["size"], bool(item.get("sealed")))
        stats = {"calls": 0, "fetched": 0}
        try:
            if item.get("sealed") and (start == 0 or item["size"] - start > PORTION_MAX_BYTES):
                # one request for the rest of a sealed file instead of one a MB: less of the RDS budget
                marker, marker_at = self._complete_or_pages(item, name, part, stats, skip=start)
            elif start > 0 and not item["marker"]:
                marker, marker_at = self._complete_or_pages(item, name, part, stats, skip=start)
            else:
                marker, marker_at = self._copy_pages(item, name, part, stats)
            if item["scheme"] == "rds-mysql":
                self._check_still(item, name)
                if not part.out_of_time and part.position != item["size"]:
                    raise SourceChangedError(f"{name}: copied {part.position} of {item['size']} bytes")
            if part.writer.source_bytes == 0:  # nothing new (or no whole line yet): no lease, no part
                part.writer.abort()
                return CopyOutcome(item["pk"], item["sk"], "nothing-new", rds_calls=stats["calls"])
            meta = {
                "source-file": name[:512],
                "source-last-written": str(item["last_written"]),
                "instance": item["pk"],
            }
            adopted = False
            try:
                written = part.writer.close(meta)
            except PartExistsError:  # an earlier attempt at this part wrote it: adopt it, never replace it
                written, adopted = self._adopt(item, key, start), True
                if written.source_end != part.end:  # its end is not where our marker points
                    marker, marker_at = "", 0
        except BaseException:
            part.writer.abort()
            raise
        end = written.source_end
        more = (part.out_of_time or adopted) and end < item["size"]  # someone must carry on from end
        self._commit(item, lease.owner, end, marker, marker_at, number, more)
        caught_up = end >= item["size"] or (part.full and end == part.end)  # all but a held-back line
        lag = int(time.time() * 1000) - item["last_written"] if caught_up else None
        return CopyOutcome(
            item["pk"], item["sk"], "copied", end - start, stats["fetched"], stats["calls"], lag, key
        )

    def _adopt(self, item: dict[str, Any], key: str, start: int) -> WrittenPart:
        """The part an earlier attempt wrote (it died before its commit, or its request reached S3 late):
        its bytes are this file's from ``start``, so the commit records its end instead of our copy's."""
        written = existing_part(self.s3, self.bucket, key)
        if written.source_start != start:
            raise PartMismatchError(
                f"{key} starts at byte {written.source_start}, the table says {start}: "
                "run `labkit verify` and report it"
            )
        log.warning("%s: adopted from an earlier attempt (bytes %d-%d)", key, start, written.source_end)
        return written

    def _out_of_time(self, part: _Part) -> bool:
        if self.remaining_ms() < self.reserve_ms:
            part.out_of_time = True
        return part.out_of_time

    def _copy_pages(
        self, item: dict[str, Any], name: str, part: _Part, stats: dict[str, int]
    ) -> tuple[str, int]:
        """Page from the stored marker; returns the marker to store and the source offset it points at: the
        last page boundary at or before the part's end (a held-back partial line is read again next time)."""
        marker = item["marker"] or "0"
        at = int(item.get("marker_at", item["copied_bytes"])) if item["marker"] else 0
        kept = marker, at
        try:
            for page in iter_portions(self.rds, item["pk"], name, marker):
                stats["calls"] += 1
                stats["fetched"] += len(page.data)
                data, certain = page.data, True
                if needs_rebuild(data):
                    rebuilt = self._true_bytes(item, name, at, page, stats, part)
                    if rebuilt is None:  # out of time: this page waits for the next invocation
                        break
                    data, certain = rebuilt
                skip = part.position - at  # the marker may point before copied_bytes (a page cut at size)
                taken = part.write(data[skip:]) if skip < len(data) else 0
                if part.end >= at:
                    kept = marker, at
                if not certain or skip + taken < len(data):
                    break  # the page's end is unknown, or the listed size ends inside it: keep its marker
                marker, at = page.marker, at + len(data)
                if part.end >= at:
                    kept = marker, at
                if part.full or (part.writer.source_bytes and self._out_of_time(part)):
                    break
        except (ClientError, BudgetWaitExceeded) as exc:
            if not is_throttled(exc) or not part.writer.source_bytes:
                raise
            # throttled with bytes in hand: commit them (to the last whole page) and hand the rest on
            log.warning("%s %s: throttled at byte %d, handing on: %s", item["pk"], name, part.position, exc)
            part.out_of_time = True
        return kept

    def _complete_or_pages(
        self, item: dict[str, Any], name: str, part: _Part, stats: dict[str, int], skip: int = 0
    ) -> tuple[str, int]:
        """The complete download, or paging from the start (past ``skip``) when it is refused before any byte
        of this part arrived. Nobody could confirm that the REST path is served through the RDS interface
        endpoint, and an IAM policy may lack rds:DownloadCompleteDBLogFile: any refusal but "file gone" (403,
        a 404 that is no DBLogFileNotFoundFault, 5xx, no connection) pages instead, and is counted."""
        try:
            return self._copy_complete(item, name, part, stats, skip=skip)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            # gone: the lost path; throttled: handed on (a refusal would page, spending more); mid-part: retried
            if code in GONE_CODES or code in THROTTLE_CODES or part.position > part.start:
                raise
            log.warning(
                "%s %s: DownloadCompleteDBLogFile refused (%s); paging instead", item["pk"], name, exc
            )
            self.on_fallback(item, code)
            return self._copy_pages(item, name, part, stats)

    def _copy_complete(
        self, item: dict[str, Any], name: str, part: _Part, stats: dict[str, int], skip: int = 0
    ) -> tuple[str, int]:
        """One streaming request for a whole sealed file (or, when no marker is known, all past ``skip``)."""
        stats["calls"] += 1
        for chunk in self._complete(item["pk"], name):
            stats["fetched"] += len(chunk)
            if skip:
                cut = min(skip, len(chunk))
                chunk, skip = chunk[cut:], skip - cut
            part.write(chunk)
            if part.full or (part.writer.source_bytes and self._out_of_time(part)):
                break
        return "", 0  # the portion marker for this offset is unknown: a later increment streams again

    def _true_bytes(
        self, item: dict[str, Any], name: str, offset: int, page: Page, stats: dict[str, int], part: _Part
    ) -> tuple[bytes, bool] | None:
        """The source bytes a page stands for, from offset: (bytes, whether its end is certain), or None
        when time ran out. Rebuilt by byte range, never past the page: bytes written since stay out."""
        lines, fragment = split_page(page.data)
        last_page_of_sealed = bool(item.get("sealed")) and not page.pending
        wanted = item["size"] - offset if last_page_of_sealed else None
        stats["calls"] += 1
        collected = bytearray()
        position = 0
        for chunk in self._complete(item["pk"], name):
            stats["fetched"] += len(chunk)
            if position + len(chunk) > offset:
                collected += chunk[max(0, offset - position) :]
            position += len(chunk)
            if wanted is not None:
                if len(collected) >= wanted:
                    break
            else:
                end = nth_newline(collected, lines) if lines else -1
                if (end >= 0 or not lines) and len(collected) - (end + 1) >= len(fragment):
                    break
            if part.writer.source_bytes and self._out_of_time(part):
                return None
        if wanted is not None:  # the last page of a sealed file ends where the file ends
            true, certain = bytes(collected[:wanted]), len(collected) >= wanted
        else:
            true, certain = page_extent(bytes(collected), page, lines, fragment)
        if true != page.data:
            log.warning(
                "%s %s: page at %d rebuilt from the complete file (%d bytes%s)",
                item["pk"],
                name,
                offset,
                len(true),
                "" if certain else ", its end left for the next read",
            )
        return true, certain

    def _complete(self, instance_id: str, name: str) -> Iterator[bytes]:
        return download_complete_log_file(
            self.rds, self.credentials, instance_id, name, settings=self.complete
        )

    # -- identity (rds-mysql names move at every rotation) -----------------------------------------------
    def _current_name(self, item: dict[str, Any]) -> str:
        """An rds-mysql file's name now: the listed file with its (Size, LastWritten), proven by its head.
        Two sealed files can share size and millisecond: each candidate's head decides, never list order."""
        if item["scheme"] != "rds-mysql":
            return str(item["log_file_name"])
        candidates = [
            str(f["LogFileName"])
            for f in list_log_files(self.rds, item["pk"])
            if (f["Size"], f["LastWritten"]) == (item["size"], item["last_written"])
        ]
        if not item.get("head_sha") and len(candidates) == 1:
            return candidates[0]  # an item from before heads were recorded
        for name in candidates:
            if self._head(item, name) == item.get("head_sha"):
                return name
        raise SourceChangedError(
            f"{item['pk']} {item['sk']}: no listed file has its size, LastWritten and first line; "
            "the detector will tell"
        )

    def _head(self, item: dict[str, Any], name: str) -> str | None:
        return identity.read_head(self.rds, item["pk"], name, self.credentials, self.complete)

    def _check_still(self, item: dict[str, Any], name: str) -> None:
        if self._current_name(item) != name:
            raise SourceChangedError(f"{item['pk']} {name} rotated during the copy; retrying")

    # -- table transitions (labkit.backup.copystate) ------------------------------------------------------
    def _lease(self, item: dict[str, Any], owner: str) -> bool:
        return copystate.take_lease(self.table, item, owner, self.lease_ms)

    def _commit(
        self, item: dict[str, Any], owner: str, end: int, marker: str, marker_at: int, parts: int, more: bool
    ) -> None:
        copystate.commit(self.table, item, owner, end, marker, marker_at, parts, more)

    def _release(self, item: dict[str, Any], lease: _Lease, failure: str = "") -> None:
        if copystate.release(self.table, item, lease.owner, lease.held, failure, self.max_failures):
            self.on_failed(item)

    def _settle(self, item: dict[str, Any]) -> CopyOutcome:
        """Nothing to copy: a sealed, complete file becomes BACKED_UP (once)."""
        if not item.get("sealed") or item["state"] == t.BACKED_UP:
            return CopyOutcome(item["pk"], item["sk"], "nothing-new")
        copystate.settle(self.table, item)
        return CopyOutcome(item["pk"], item["sk"], "sealed")

    def _lost(self, item: dict[str, Any], owner: str, code: str) -> CopyOutcome:
        gap = ""
        if not item.get("sealed"):  # its end is unknown, and files after it may have come and gone
            gap = gaps.record(
                self.table,
                item["pk"],
                from_ms=int(item["last_written"]),
                to_ms=t.now_ms(),
                trigger=item,
                reason=f"{item['log_file_name']} vanished while being copied, before it was sealed",
                ttl_days=self.ttl_days,
            )
        if not copystate.mark_lost(self.table, item, owner, self.ttl_days):
            return CopyOutcome(item["pk"], item["sk"], "skipped")  # another copy or the detector decided
        log.error(
            "audit file LOST (%s) before it was fully copied: instance=%s file=%s copied=%d of %s%d bytes",
            code,
            item["pk"],
            item["log_file_name"],
            item["copied_bytes"],
            "" if item.get("sealed") else "at least ",
            item["size"],
        )
        return CopyOutcome(item["pk"], item["sk"], "lost", gap=gap)
