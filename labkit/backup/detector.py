"""Log Detector: compare an instance's audit files with the tracking table and write only what changed.

New file -> a DETECTED item; a file that grew or moved -> its size/LastWritten/name; a file now sealed ->
``sealed``; a file gone -> ``vanished_at``: BACKED_UP only if it was sealed (or a deletion event gave its final
size) and every byte was copied, else LOST, with ``lost_exact`` false when the loss is a lower bound (it
vanished while it could still grow). A look that cannot rule out files born and deleted since the last one
records a gap (:mod:`labkit.backup.gaps`). A deletion event's file and size are evidence: they settle a
tracked file's final size, or record a file no listing ever showed as LOST. An idle scan writes nothing.
Writes are conditional on what was read, so two overlapping scans cannot undo each other.

Why one module past 400 lines: every rule above is a transition of the same tracked item, decided from one
listing and one read of the table, and the conditions of one write depend on what the others read. Kept
together, a reader checks each transition against the others in one place (the queue's message shapes are
in :mod:`labkit.backup.messages`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from labkit.backup import gaps
from labkit.backup import table as t
from labkit.backup.errors import SourceChangedError
from labkit.backup.identity import rds_mysql_file_id, read_head
from labkit.backup.rdsevents import (
    DeletedFile,
)
from labkit.backup.rdslogs import DEFAULT_COMPLETE, INSTANCE_GONE, CompleteDownload, list_log_files
from labkit.backup.rotation import match_rotated, position
from labkit.backup.scanner import InstanceMessage
from labkit.backup.sizing import HistoryCover, HistoryPolicy, assess

log = logging.getLogger(__name__)
WRITER = "detector"  # every write says who made it: the downloader's stream filter passes only ours
# A look that found a file gone happened after its deletion; an RDS event's time may trail the deletion
# itself (by how much is not documented: assumed under 5 minutes), so an item found gone more than this
# before an event's time cannot be that event's file.
EVENT_SLACK_MS = 300_000


@dataclass
class DetectOutcome:
    instance_id: str
    new: int = 0
    changed: int = 0
    sealed: int = 0
    vanished: int = 0
    lost: list[str] = field(default_factory=list)
    writes: int = 0
    rds_calls: int = 0
    instance_gone: bool = False
    unavailable: bool = False
    at_risk_bytes: int = 0  # not copied yet, on an instance that cannot be read now
    revived: list[str] = field(default_factory=list)  # called vanished once, listed again
    conflicts: list[str] = field(default_factory=list)  # an aurora name listed again after it vanished
    lost_lower_bound: int = 0  # of ``lost``: files whose lost bytes are a lower bound (final size unknown)
    gaps: list[str] = field(default_factory=list)  # gap windows recorded by this scan
    unseen: list[str] = field(default_factory=list)  # files known only from a deletion event, recorded LOST
    settled: list[str] = field(default_factory=list)  # vanished files whose final size an event settled
    history: HistoryCover | None = None  # does the kept history cover enough scans (labkit.backup.sizing)


def detect(
    rds: Any,
    table: Any,
    message: InstanceMessage,
    *,
    seal_after_s: float,
    ttl_days: int,
    now: float | None = None,
    credentials: Any = None,
    complete: CompleteDownload = DEFAULT_COMPLETE,
    deleted: DeletedFile | None = None,
    history: HistoryPolicy | None = None,
) -> DetectOutcome:
    """One scan of one instance. ``credentials`` sign DownloadCompleteDBLogFile (reached as ``complete``
    says), used only for a file whose first line the portion API refuses to show. ``deleted``: what the deletion event that asked for this
    scan says (which file, its size), applied as evidence after the listing. ``history``: also judge the
    listing's kept history."""
    now = time.time() if now is None else now
    outcome = DetectOutcome(message.instance_id)
    # the items are read before the listing: every item considered existed before the files were listed,
    # so an item whose file the listing lacks really vanished (a later item is another scan's business)
    items = [i for i in t.live_items(table, message.instance_id) if "vanished_at" not in i]
    for _ in range(3):
        try:
            listed = _listing(rds, message.instance_id, bool(items))
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code == "InvalidDBInstanceState":  # stopped or rebooting: its files wait on its log volume
                outcome.unavailable = True
                outcome.at_risk_bytes = sum(max(0, i["size"] - i["copied_bytes"]) for i in items)
                log.warning(
                    "%s is not available (%s): %d tracked bytes not copied yet wait for it",
                    message.instance_id,
                    exc,
                    outcome.at_risk_bytes,
                )
                return outcome
            if code not in INSTANCE_GONE:
                raise
            outcome.instance_gone = True
            listed = []
        outcome.rds_calls += 1
        heads = _HeadReader(rds, message.instance_id, credentials, complete)
        if message.scheme == "aurora":
            by_sk = {i["sk"]: i for i in items}
            matches = {f["LogFileName"]: by_sk.get(f["LogFileName"]) for f in listed}
        else:
            matches = match_rotated(items, listed, heads.sha)
        outcome.rds_calls += heads.calls
        if not heads.calls or _unmoved(listed, list_log_files(rds, message.instance_id)):
            break
        outcome.rds_calls += 1
        log.info("%s rotated while its files were read: scanning again", message.instance_id)
    else:
        raise SourceChangedError(
            f"{message.instance_id}: files rotated during three scans in a row; retry later"
        )
    newest = max(listed, key=_recency)["LogFileName"] if listed else ""
    seen: set[str] = set()
    for f in listed:
        item = matches.get(f["LogFileName"])
        sealed = _is_sealed(message.scheme, f, newest, now, seal_after_s)
        if item is None:
            seen.add(_record_new(table, message, f, sealed, now, heads, outcome))
            continue
        seen.add(item["sk"])
        wrote = _update_changed(table, item, f, sealed, now)
        outcome.changed += wrote
        outcome.sealed += int(wrote and sealed and not item.get("sealed"))
        outcome.writes += wrote
    finals = _final_sizes(message, deleted)
    gone = [item for item in items if item["sk"] not in seen]
    trigger = None if outcome.instance_gone else _gap_trigger(items, gone, finals)
    if trigger is not None:  # recorded before the files are marked: a crash in between loses no gap
        outcome.gaps.append(_record_gap(table, message, trigger, ttl_days))
    for item in gone:
        outcome.writes += _mark_vanished(table, item, now, ttl_days, outcome, finals.get(item["sk"]))
    if deleted is not None:
        _apply_deletion(
            table, message, deleted, {f["LogFileName"] for f in listed}, gone, now, ttl_days, outcome
        )
    outcome.history = assess(listed, message.scheme, history, now * 1000) if history and listed else None
    return outcome


def _final_sizes(message: InstanceMessage, deleted: DeletedFile | None) -> dict[str, int]:
    """File id -> final size, from a deletion event that names it (aurora: a name is an identity)."""
    if deleted is None or deleted.size is None or message.scheme != "aurora":
        return {}
    return {deleted.name: deleted.size}


def _item_recency(item: dict[str, Any]) -> tuple[int, int, list[Any]]:
    """Youngest last: rds-mysql by position (0 = active) then LastWritten; aurora by LastWritten and name."""
    name = str(item["log_file_name"])
    rank = -position(name) if item.get("scheme") == "rds-mysql" else 0
    return (rank, *_recency({"LastWritten": int(item["last_written"]), "LogFileName": name}))


def _gap_trigger(
    items: list[dict[str, Any]], gone: list[dict[str, Any]], finals: dict[str, int]
) -> dict[str, Any] | None:
    """The vanished item that opens a gap, or None: the youngest file known is gone (every listed file is
    newer than anything seen, so any number may have lived in between), or a file vanished before its end
    was known (so may files written after it)."""
    if not gone:
        return None
    youngest = max(items, key=_item_recency)
    if youngest in gone:
        return youngest
    open_ended = [i for i in gone if not i.get("sealed") and i["sk"] not in finals]
    return max(open_ended, key=_item_recency) if open_ended else None


def _record_gap(table: Any, message: InstanceMessage, trigger: dict[str, Any], ttl_days: int) -> str:
    reason = (
        f"{trigger['log_file_name']} vanished "
        + ("before it was sealed" if not trigger.get("sealed") else "and it was the newest file known")
        + "; files written after it may have been created and deleted before this look"
    )
    return gaps.record(
        table,
        message.instance_id,
        from_ms=int(trigger["last_written"]),
        to_ms=t.now_ms(),
        trigger=trigger,
        reason=reason,
        ttl_days=ttl_days,
    )


def _unmoved(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> bool:
    """No rotation between two listings (so the heads read between them belong to the first): the same
    names, every rotated file unchanged, the active one only grown."""
    old = {f["LogFileName"]: f for f in before}
    new = {f["LogFileName"]: f for f in after}
    if old.keys() != new.keys():
        return False
    for name, f in old.items():
        g = new[name]
        if position(name) == 0:
            if g["Size"] < f["Size"]:
                return False
        elif (g["Size"], g["LastWritten"]) != (f["Size"], f["LastWritten"]):
            return False
    return True


def _listing(rds: Any, instance_id: str, tracked: bool, attempts: int = 3) -> list[dict[str, Any]]:
    """DescribeDBLogFiles sometimes answers empty under load: an empty answer for an instance whose files
    are tracked is asked again before it is believed (believing it would call every file vanished)."""
    for attempt in range(attempts):
        listed = list_log_files(rds, instance_id)
        if listed or not tracked:
            return listed
        time.sleep(0.2 * (attempt + 1))
    return listed


class _HeadReader:
    """Heads of listed files, each read at most once per scan (one small DownloadDBLogFilePortion)."""

    def __init__(self, rds: Any, instance_id: str, credentials: Any, complete: CompleteDownload) -> None:
        self.rds, self.instance_id, self.credentials = rds, instance_id, credentials
        self.complete = complete
        self.cache: dict[str, str | None] = {}
        self.calls = 0

    def sha(self, name: str) -> str | None:
        if name not in self.cache:
            self.calls += 1
            self.cache[name] = read_head(self.rds, self.instance_id, name, self.credentials, self.complete)
        return self.cache[name]


def _recency(f: dict[str, Any]) -> tuple[int, list[Any]]:
    """Newest last: LastWritten, then the name with its numbers compared as numbers (a rotation can give
    the old and the new file the same millisecond)."""
    return f["LastWritten"], [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", f["LogFileName"])]


def _is_sealed(scheme: str, f: dict[str, Any], newest: str, now: float, seal_after_s: float) -> bool:
    if scheme == "rds-mysql":
        return position(f["LogFileName"]) >= 1
    return f["LogFileName"] != newest and (now * 1000 - f["LastWritten"]) >= seal_after_s * 1000


def file_id(message: InstanceMessage, f: dict[str, Any], sha: str | None = None) -> str:
    if message.scheme == "aurora":
        return str(f["LogFileName"])
    if sha is None:
        raise ValueError("an rds-mysql file is identified by its head")
    return rds_mysql_file_id(f["LogFileName"], sha)


def _record_new(
    table: Any,
    message: InstanceMessage,
    f: dict[str, Any],
    sealed: bool,
    now: float,
    heads: _HeadReader,
    outcome: DetectOutcome,
) -> str:
    """Track a listed file no item matched; returns its key ("" when it cannot be tracked yet)."""
    sha = None
    if message.scheme == "rds-mysql":
        sha = heads.sha(f["LogFileName"]) if f["Size"] > 0 else None
        if sha is None:  # empty, or its first line still being written: tracked once it has one
            return ""
    item = _new_item(message, f, sealed, now, sha)
    if not t.conditional(table.put_item, Item=item, ConditionExpression="attribute_not_exists(sk)"):
        return _known_already(table, message, item, f, sealed, now, outcome)
    outcome.new += 1
    outcome.writes += 1
    return str(item["sk"])


def _new_item(
    message: InstanceMessage,
    f: dict[str, Any],
    sealed: bool,
    now: float,
    sha: str | None,
    sk: str | None = None,
) -> dict[str, Any]:
    """A new file's item; ``sk`` given for a file known only from its deletion event (no head to read)."""
    item = {
        "pk": message.instance_id,
        t.LIVE_KEY: message.instance_id,
        "sk": sk or file_id(message, f, sha),
        "cluster_id": message.cluster_id or "none",
        "engine": message.engine,
        "scheme": message.scheme,
        "log_file_name": f["LogFileName"],
        "size": f["Size"],
        "last_written": f["LastWritten"],
        "sealed": sealed,
        "state": t.DETECTED,
        "copied_bytes": 0,
        "marker": "",
        "parts": 0,
        "date": time.strftime("%Y-%m-%d", time.gmtime(now)),
        "first_seen": int(now * 1000),
        "updated_at": int(now * 1000),
        "writer": WRITER,
    }
    if sha is not None:
        item["head_sha"] = sha
    return item


def _known_already(
    table: Any,
    message: InstanceMessage,
    new: dict[str, Any],
    f: dict[str, Any],
    sealed: bool,
    now: float,
    outcome: DetectOutcome,
) -> str:
    """The key exists: a concurrent scan recorded the same file (converge on its item), or an item once
    called vanished is listed again (rds-mysql: the same content, so the same file — bring it back)."""
    current = t.get_item(table, new["pk"], new["sk"])
    if current is None:
        raise SourceChangedError(f"{new['pk']} {new['sk']}: item exists and does not; retry the scan")
    if "vanished_at" not in current:
        log.info("%s %s was recorded by a concurrent scan", new["pk"], new["sk"])
        outcome.writes += _update_changed(table, current, f, sealed, now)
        return str(current["sk"])
    if message.scheme != "rds-mysql":
        # an aurora name is never reused on AWS: say so loudly instead of mixing two files' bytes
        log.error("%s %s is listed again after it vanished; not tracked", new["pk"], new["sk"])
        outcome.conflicts.append(str(new["sk"]))
        return str(current["sk"])
    outcome.writes += _revive(table, current, f, sealed, now, outcome)
    return str(current["sk"])


def _revive(
    table: Any, item: dict[str, Any], f: dict[str, Any], sealed: bool, now: float, outcome: DetectOutcome
) -> int:
    state = t.PARTIAL if item["copied_bytes"] else t.DETECTED
    if not t.conditional(
        table.update_item,
        Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression=(
            f"SET {t.LIVE_KEY} = :pk, #state = :state, #size = :size, last_written = :lw, "
            "log_file_name = :name, sealed = :sealed, updated_at = :now, writer = :writer "
            "REMOVE vanished_at, expires_at, lost_bytes, lost_exact, final_size"
        ),
        ConditionExpression="vanished_at = :vanished",
        ExpressionAttributeNames={"#state": "state", "#size": "size"},
        ExpressionAttributeValues={
            ":pk": item["pk"],
            ":state": state,
            ":size": max(f["Size"], item["size"]),
            ":lw": f["LastWritten"],
            ":name": f["LogFileName"],
            ":sealed": sealed,
            ":now": int(now * 1000),
            ":writer": WRITER,
            ":vanished": item["vanished_at"],
        },
    ):
        return 0
    log.error("%s %s was called vanished but is listed again: tracked again", item["pk"], item["sk"])
    outcome.revived.append(str(item["sk"]))
    return 1


def _update_changed(table: Any, item: dict[str, Any], f: dict[str, Any], sealed: bool, now: float) -> int:
    changes: dict[str, Any] = {}
    if f["Size"] != item["size"] or f["LastWritten"] != item["last_written"]:
        changes.update(size=f["Size"], last_written=f["LastWritten"])
    if f["LogFileName"] != item["log_file_name"]:
        changes["log_file_name"] = f["LogFileName"]
    if sealed and not item.get("sealed"):
        changes["sealed"] = True
    if not changes:
        return 0
    if f["Size"] < item["size"]:
        log.warning(
            "%s %s shrank from %d to %d bytes (same first line)",
            item["pk"],
            item["sk"],
            item["size"],
            f["Size"],
        )
    if item["state"] == t.BACKED_UP and f["Size"] > item["copied_bytes"]:
        changes["state"] = t.PARTIAL  # it grew after all: more to copy
    changes["updated_at"] = int(now * 1000)
    changes["writer"] = WRITER
    names = {f"#{k}": k for k in changes}
    values = {f":{k}": v for k, v in changes.items()}
    values.update({":old_size": item["size"], ":old_name": item["log_file_name"]})
    if not t.conditional(
        table.update_item,
        Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in changes),
        ConditionExpression=(
            "#size_ = :old_size AND log_file_name = :old_name AND attribute_not_exists(vanished_at)"
        ),
        ExpressionAttributeNames={**names, "#size_": "size"},
        ExpressionAttributeValues=values,
    ):
        return 0
    return 1


def _mark_vanished(
    table: Any,
    seen: dict[str, Any],
    now: float,
    ttl_days: int,
    outcome: DetectOutcome,
    final_size: int | None = None,
) -> int:
    """LOST or BACKED_UP is decided from a strongly consistent read, and the write is conditional on the
    values read: an index read can be stale, and a copy can commit between the read and the write.

    BACKED_UP needs the file's end to be known: sealed, or a deletion event's size (``final_size``). A file
    that vanished unsealed may have grown after its last listing, so it is LOST with a lower bound."""
    for _ in range(3):
        item = t.get_item(table, seen["pk"], seen["sk"])
        if item is None or "vanished_at" in item:
            return 0
        if int(item.get("lease_until", 0)) >= int(now * 1000) and item.get("lease_owner"):
            return 0  # a copy in flight decides itself (it sees the file gone and marks it)
        loss = _Loss.of(item, final_size)
        extra: dict[str, Any] = {}
        if final_size is not None:
            extra[":final"] = loss.end
        if not t.conditional(
            table.update_item,
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression=(
                "SET vanished_at = :now, expires_at = :expires, #state = :state, lost_bytes = :lost, "
                "lost_exact = :exact, updated_at = :now, writer = :writer"
                + (", final_size = :final, #size = :final" if final_size is not None else "")
                + f" REMOVE {t.LIVE_KEY}"
            ),
            ConditionExpression=(
                "attribute_not_exists(vanished_at) AND copied_bytes = :copied AND #size = :size "
                "AND (attribute_not_exists(lease_until) OR lease_until < :now)"
            ),
            ExpressionAttributeNames={"#state": "state", "#size": "size"},
            ExpressionAttributeValues={
                ":now": int(now * 1000),
                ":expires": int(now + ttl_days * 86400),
                ":state": t.BACKED_UP if loss.complete else t.LOST,
                ":lost": loss.lost,
                ":exact": loss.exact,
                ":copied": item["copied_bytes"],
                ":size": item["size"],
                ":writer": WRITER,
                **extra,
            },
        ):
            continue  # it changed under us: read again
        outcome.vanished += 1
        if not loss.complete:
            outcome.lost.append(item["sk"])
            outcome.lost_lower_bound += int(not loss.exact)
            log.error(
                "audit file LOST before it was fully copied: instance=%s file=%s copied=%d of %s%d bytes",
                item["pk"],
                item["log_file_name"],
                item["copied_bytes"],
                "" if loss.exact else "at least ",
                loss.end,
            )
        return 1
    return 0


@dataclass(frozen=True)
class _Loss:
    """What a vanished file's item can say: its end (as known), bytes lost, and whether that is exact."""

    end: int
    lost: int
    exact: bool
    complete: bool

    @classmethod
    def of(cls, item: dict[str, Any], final_size: int | None = None) -> _Loss:
        copied, size = int(item["copied_bytes"]), int(item["size"])
        exact = bool(item.get("sealed")) or (final_size is not None and final_size >= size)
        end = max(size, final_size or 0)
        lost = max(0, end - copied)
        return cls(end, lost, exact, exact and lost == 0)


def _apply_deletion(
    table: Any,
    message: InstanceMessage,
    deleted: DeletedFile,
    listed: set[str],
    gone: list[dict[str, Any]],
    now: float,
    ttl_days: int,
    outcome: DetectOutcome,
) -> None:
    """A deletion event's file and size, as evidence: the tracked file it names gets its final size, a
    file no item tracks is recorded LOST (``unseen``), and an event no single file can be tied to (an
    rds-mysql name says nothing of identity, and a file's size only grows, so an unsealed file fits any
    larger deleted one) is noted on the gap that holds it."""
    size = int(deleted.size or 0)
    if message.scheme == "aurora":
        if deleted.name in listed:
            log.warning(
                "%s: a deletion event names %s, which is still listed: ignored",
                message.instance_id,
                deleted.name,
            )
            return
        item = t.get_item(table, message.instance_id, deleted.name)
        if item is None:
            _record_unseen(table, message, deleted.name, deleted, now, ttl_days, outcome)
        elif "vanished_at" in item and deleted.size is not None:
            _settle_final_size(table, item, deleted, outcome)
        return  # a live item not listed: a copy in flight holds it and marks it itself
    if deleted.size is None:  # a shifting name and no size: it may be any file; the gap holds it
        _note_on_gap(table, message.instance_id, deleted, now, 0)
        return
    candidates = _rds_mysql_candidates(table, message.instance_id, gone, deleted)
    if candidates is None:
        return  # this very event was applied already (a redelivery)
    if not candidates:  # sizes only grow: a tracked file's event always has its item as a candidate
        base = str(deleted.name).rsplit(".", 1)[0] if position(deleted.name) else deleted.name
        event_sha = hashlib.sha256(deleted.key.encode()).hexdigest()[:12]  # two alike deletions: two keys
        sk = f"{base}@unseen-{deleted.at_ms}-{size}-{event_sha}"
        _record_unseen(table, message, sk, deleted, now, ttl_days, outcome)
        return
    # Only sealed files of exactly this size can be tied to it, and they are interchangeable (their loss
    # is known already). A file that vanished unsealed fits any later, larger deleted file too — its own
    # event may have been dropped — so it keeps its lower bound and the event goes to the gap.
    if all(c.get("sealed") and int(c["size"]) == size for c in candidates):
        chosen = min(candidates, key=lambda c: int(c.get("first_seen", 0)))
        if "vanished_at" in chosen:
            _settle_final_size(table, chosen, deleted, outcome)
        return
    _note_on_gap(table, message.instance_id, deleted, now, len(candidates))


def _note_on_gap(table: Any, instance_id: str, deleted: DeletedFile, now: float, candidates: int) -> None:
    gap = gaps.containing(table, instance_id, deleted.at_ms or int(now * 1000))
    if gap is not None and gaps.add_event(table, gap, deleted.key):
        log.warning(
            "%s: deletion event for %s (%s bytes) fits %d vanished files; noted on gap %s",
            instance_id,
            deleted.name,
            deleted.size if deleted.size is not None else "?",
            candidates,
            gap["sk"],
        )


def _rds_mysql_candidates(
    table: Any, instance_id: str, gone: list[dict[str, Any]], deleted: DeletedFile
) -> list[dict[str, Any]] | None:
    """Items that may be the deleted file: vanished (or just found gone) and not yet tied to an event,
    whose recorded size fits (a sealed file's size is final; an unsealed one can only have grown)."""
    size = int(deleted.size or 0)
    pool = {i["sk"]: i for i in t.instance_items(table, instance_id) if "vanished_at" in i}
    pool.update({i["sk"]: pool.get(i["sk"], i) for i in gone})
    found = []
    for item in pool.values():
        if int(item.get("vanished_at", deleted.at_ms)) < deleted.at_ms - EVENT_SLACK_MS:
            continue  # found gone long before this deletion happened: another file
        if item.get("deletion_event") == deleted.key:
            return None  # this very event was applied already (a redelivery): nothing more to do
        if item.get("deletion_event") or item.get("unseen"):
            continue
        fits = int(item["size"]) == size if item.get("sealed") else int(item["size"]) <= size
        if fits:
            found.append(item)
    return found


def _record_unseen(
    table: Any,
    message: InstanceMessage,
    sk: str,
    deleted: DeletedFile,
    now: float,
    ttl_days: int,
    outcome: DetectOutcome,
) -> None:
    """A file no listing ever showed, known from its deletion event: LOST, all its bytes (exact when the
    event said its size). Keyed by the event, so a redelivered event records it once."""
    size = int(deleted.size or 0)
    listed = {"LogFileName": deleted.name, "Size": size, "LastWritten": deleted.at_ms or int(now * 1000)}
    item = _new_item(message, listed, True, now, None, sk)
    del item[t.LIVE_KEY]  # nothing left to copy: out of the live index
    item.update(
        {
            "state": t.LOST,
            "vanished_at": int(now * 1000),
            "lost_bytes": size,
            "lost_exact": deleted.size is not None,
            "final_size": size,
            "unseen": True,
            "deletion_event": deleted.key,
            t.TTL_ATTRIBUTE: int(now + ttl_days * 86400),
            "writer": gaps.EVIDENCE_WRITER,
        }
    )
    if not t.conditional(table.put_item, Item=item, ConditionExpression="attribute_not_exists(sk)"):
        return  # recorded already (a redelivered event)
    outcome.unseen.append(sk)
    outcome.lost.append(sk)
    outcome.writes += 1
    log.error(
        "audit file LOST unseen: instance=%s file=%s (%d bytes) was deleted before any look listed it",
        message.instance_id,
        deleted.name,
        size,
    )


def _settle_final_size(
    table: Any, item: dict[str, Any], deleted: DeletedFile, outcome: DetectOutcome
) -> None:
    """A vanished file's event gives its final size: a lower-bound loss becomes exact (and a file that was
    copied to that size becomes BACKED_UP); the event is tied to the item, once."""
    if item.get("deletion_event"):
        return
    was_exact = bool(item.get("lost_exact", item.get("sealed")))
    loss = _Loss.of({**item, "sealed": False}, deleted.size)
    request: dict[str, Any] = {
        "UpdateExpression": "SET deletion_event = :key",
        "ExpressionAttributeValues": {":key": deleted.key, ":copied": item["copied_bytes"]},
    }
    settles = not was_exact and loss.exact  # (an event size below the listed one is not this file's end)
    if settles:
        request["UpdateExpression"] += (
            ", #size = :end, final_size = :end, lost_bytes = :lost, lost_exact = :exact, #state = :state"
        )
        request["ExpressionAttributeNames"] = {"#size": "size", "#state": "state"}
        request["ExpressionAttributeValues"].update(
            {
                ":end": loss.end,
                ":lost": loss.lost,
                ":exact": True,
                ":state": t.BACKED_UP if loss.complete else t.LOST,
            }
        )
    written = t.conditional(
        table.update_item,
        Key={"pk": item["pk"], "sk": item["sk"]},
        ConditionExpression="attribute_not_exists(deletion_event) AND copied_bytes = :copied",
        **request,
    )
    if written and settles:
        outcome.settled.append(str(item["sk"]))
        log.info(
            "%s %s: its deletion event settles its final size, %d bytes", item["pk"], item["sk"], loss.end
        )
