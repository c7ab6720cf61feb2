"""Does an instance keep its audit history long enough for the poller to see every file?

From one DescribeDBLogFiles listing (names, ``Size``, ``LastWritten``) this estimates the instance's audit
rate and how long a byte stays on the instance, in scan periods. Two ways files go:

- **rotations** (RDS for MySQL, and the local lab's MariaDB stand-in in either naming scheme): the plugin
  keeps ``rotations`` old files of ``rotate_size`` bytes and deletes the oldest at each rotation. A byte
  written just before a rotation lives ``rotations`` rotation intervals, so the shortest life of a byte is
  ``rotations × rotate_size / rate``. RDS's option-group defaults (1,000,000 bytes × 9) at 3.7 MB/s keep
  about 2.4 s: less than any scan period. The setting to change is the option group's
  ``SERVER_AUDIT_FILE_ROTATE_SIZE`` and ``SERVER_AUDIT_FILE_ROTATIONS``.
- **retention** (Aurora on AWS): rotation at 100 MB is fixed and files are deleted by age (24 h in older
  docs), or sooner when the instance's log space runs short (RDS-EVENT-0611). No rotation setting helps;
  what the rate puts at risk is that space.

The rate is measured per file stream (Aurora writes about four files at once, ``audit.log.<0-3>.…``;
MariaDB one): the bytes written after the stream's oldest file was last written, over the time from then
to its newest write. ``rotate_size`` and ``rotations`` are the configured values when the caller knows them
(the local lab does), else read off the listing: the largest rotated file and the number of rotated files,
both lower bounds (forced or hourly rotations make smaller files; a young instance has not filled its
rotations yet), so an unknown setting errs towards "at risk".

Pure: no AWS, no pandas; the detector runs it on the listing it already has, ``labkit status``, notebook 50
and the local alarms on the tracking table's live items (the last listing the detector recorded).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

OK, AT_RISK, UNKNOWN = "ok", "at risk", "unknown"
ROTATIONS, RETENTION = "rotations", "retention"
MAX_COVER = 1_000_000.0  # scan periods: "more than enough" is reported as this (a metric cannot be inf)
LAST_WRITTEN_RESOLUTION_MS = 1  # LastWritten is in milliseconds: a shorter spread is taken as 1 ms
# the option group's bounds for MARIADB_AUDIT_PLUGIN (AWS's Appendix.MySQL.Options.AuditPlugin)
MAX_ROTATE_SIZE = 1_000_000_000
MAX_ROTATIONS = 100
SIZE_STEP = 1_000_000  # suggested rotate sizes are whole megabytes (decimal, as the option group's default)
_AURORA_STREAM = re.compile(r"audit\.log\.(\d+)\.")
_POSITION = re.compile(r"\.(\d+)$")


@dataclass(frozen=True)
class RotationSetting:
    """Where the rotation setting lives, named as a person changes it."""

    rotate_size: str = "SERVER_AUDIT_FILE_ROTATE_SIZE"
    rotations: str = "SERVER_AUDIT_FILE_ROTATIONS"
    where: str = "the DB instance's option group (MARIADB_AUDIT_PLUGIN)"


OPTION_GROUP = RotationSetting()
LOCAL_LAB = RotationSetting(
    "LABKIT_AUDIT_ROTATE_SIZE",
    "LABKIT_AUDIT_ROTATIONS",
    "the local lab's MariaDB (server_audit_file_rotate_size / _rotations; `labkit local down`, then up)",
)


@dataclass(frozen=True)
class HistoryPolicy:
    """What "safe" means: the kept history covers at least ``safe_scans`` scan periods.

    ``aurora_retention_s`` None: aurora-named files are deleted by rotation count too (the local lab's
    stand-in is MariaDB). ``rotate_size``/``rotations``: the configured setting when known (None: read off
    the listing)."""

    scan_period_s: float
    safe_scans: float = 3.0
    aurora_retention_s: float | None = 24 * 3600.0
    rotate_size: int | None = None
    rotations: int | None = None
    setting: RotationSetting = OPTION_GROUP

    @classmethod
    def for_lab(cls, config: Any) -> HistoryPolicy:
        """The policy for a LabConfig: on the local lab the files are MariaDB's and their setting is known;
        on AWS Aurora deletes by retention and RDS for MySQL's setting is read off the listing."""
        common = {"scan_period_s": config.scan_period_s, "safe_scans": config.history_safe_scans}
        if config.target == "local":
            return cls(
                **common,
                aurora_retention_s=None,
                rotate_size=config.audit_rotate_size,
                rotations=config.audit_rotations,
                setting=LOCAL_LAB,
            )
        return cls(**common, aurora_retention_s=config.aurora_audit_retention_hours * 3600.0)


@dataclass(frozen=True)
class HistoryCover:
    """One instance's verdict: how many scan periods its kept history covers, and what to change."""

    scheme: str
    model: str  # ROTATIONS or RETENTION: what deletes its files
    verdict: str  # OK, AT_RISK or UNKNOWN (too little in the listing to measure)
    rate_bps: float | None  # audit bytes per second
    rotate_size: int | None
    rotations: int | None
    setting_from: str  # "configured", "listing" or "" (retention)
    history_s: float | None  # the shortest life of a byte on the instance
    scan_period_s: float
    safe_scans: float
    covered_scans: float | None  # history_s / scan_period_s, at most MAX_COVER
    needed_bytes: int | None  # rotations: what rotate_size x rotations must hold; retention: what 24 h holds
    suggested_rotate_size: int | None = None
    suggested_rotations: int | None = None
    change: str = ""  # the setting to change, in words ("" when nothing needs to)
    note: str = ""  # how it was measured, or what is at risk

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def assess(
    listing: Sequence[Mapping[str, Any]], scheme: str, policy: HistoryPolicy, now_ms: float | None = None
) -> HistoryCover:
    """The verdict for one instance's listing (``LogFileName``, ``Size``, ``LastWritten`` in ms).

    ``now_ms`` only dates the note (how long ago the newest write was); the estimate itself is the
    listing's, so the same listing always gives the same verdict."""
    streams = _streams(listing, scheme)
    rate = _rate(streams)
    idle = ""
    if now_ms is not None and listing:
        quiet_s = (now_ms - max(float(f["LastWritten"]) for f in listing)) / 1000
        idle = f"; newest write {quiet_s:.0f} s ago" if quiet_s >= policy.scan_period_s else ""
    if scheme == "aurora" and policy.aurora_retention_s is not None:
        return _by_retention(scheme, rate, policy, idle)
    rotated = [f for files in streams.values() for f in files[:-1]]
    size, count, source = policy.rotate_size, policy.rotations, "configured"
    if size is None or count is None:
        source = "listing"
        size = size if size is not None else max((int(f["Size"]) for f in rotated), default=None)
        count = count if count is not None else _rotations_listed(streams, scheme)
    base = HistoryCover(
        scheme=scheme,
        model=ROTATIONS,
        verdict=UNKNOWN,
        rate_bps=rate,
        rotate_size=size,
        rotations=count,
        setting_from=source,
        history_s=None,
        scan_period_s=policy.scan_period_s,
        safe_scans=policy.safe_scans,
        covered_scans=None,
        needed_bytes=None,
    )
    if rate is None:
        return replace(base, note="no stream has two files yet: no rotation to measure the audit rate by")
    if size is None or not count:
        if count == 0 and source == "configured":  # the plugin never rotates: nothing is ever deleted
            return replace(base, verdict=OK, covered_scans=MAX_COVER, note="rotations 0: files never rotate")
        return replace(base, note="no rotated file listed yet: the rotate size is not known")
    if rate == 0:
        return replace(
            base, verdict=OK, covered_scans=MAX_COVER, note="nothing written since the last rotation"
        )
    history_s = count * size / rate
    covered = min(MAX_COVER, history_s / policy.scan_period_s)
    needed = policy.safe_scans * policy.scan_period_s * rate
    found = replace(
        base,
        history_s=history_s,
        covered_scans=covered,
        needed_bytes=math.ceil(needed),
        note=f"{count} x {size:,} bytes ({source}) at {rate:,.0f} B/s{idle}",
    )
    if covered >= policy.safe_scans:
        return replace(found, verdict=OK)
    return _suggest(replace(found, verdict=AT_RISK), needed, policy)


def retention_cover(rate_bps: float, policy: HistoryPolicy) -> HistoryCover:
    """The verdict for an Aurora instance writing ``rate_bps`` audit bytes a second, without a listing:
    what a planned volume means for the scan period and the instance's log space (notebook 80's fleet
    table). ``policy.aurora_retention_s`` must be set (the AWS policy)."""
    if policy.aurora_retention_s is None:
        raise ValueError("retention_cover needs a policy with aurora_retention_s (HistoryPolicy on AWS)")
    return _by_retention("aurora", rate_bps, policy, "")


def _by_retention(scheme: str, rate: float | None, policy: HistoryPolicy, idle: str) -> HistoryCover:
    retention_s = float(policy.aurora_retention_s or 0.0)
    covered = min(MAX_COVER, retention_s / policy.scan_period_s)
    held = None if rate is None else math.ceil(rate * retention_s)
    space = (
        ""
        if held is None
        else f": at {rate:,.0f} B/s that is {held / 1e9:,.2f} GB of the instance's log space"
    )
    note = (
        f"rotation (100 MB) is fixed; files go by retention ({retention_s / 3600:g} h), or sooner when the "
        f"log space runs short (RDS-EVENT-0611){space}{idle}"
    )
    found = HistoryCover(
        scheme=scheme,
        model=RETENTION,
        verdict=OK if covered >= policy.safe_scans else AT_RISK,
        rate_bps=rate,
        rotate_size=None,
        rotations=None,
        setting_from="",
        history_s=retention_s,
        scan_period_s=policy.scan_period_s,
        safe_scans=policy.safe_scans,
        covered_scans=covered,
        needed_bytes=held,
        note=note,
    )
    if found.verdict == AT_RISK:
        most = retention_s / policy.safe_scans
        return replace(
            found, change=f"scan at least every {most:,.0f} s (no Aurora setting keeps files longer)"
        )
    return found


def _suggest(found: HistoryCover, needed: float, policy: HistoryPolicy) -> HistoryCover:
    """The smallest change that keeps ``needed`` bytes: a larger rotate size first (the file count kept),
    then more files once the size is at its maximum; none when even the maximum cannot."""
    needed *= 1 + 1e-9  # the check divides again: keep a rounding error from landing just below
    rotations = max(1, found.rotations or 1)
    size = _round_up(needed / rotations)
    if size > MAX_ROTATE_SIZE:
        rotations = min(MAX_ROTATIONS, math.ceil(needed / MAX_ROTATE_SIZE))
        size = _round_up(needed / rotations)
    s = policy.setting
    if size > MAX_ROTATE_SIZE:
        most_s = MAX_ROTATE_SIZE * MAX_ROTATIONS / (policy.safe_scans * float(found.rate_bps or 1))
        return replace(
            found,
            change=f"no rotation setting keeps {policy.safe_scans:g} scan periods at this rate: scan at "
            f"least every {most_s:,.0f} s, or audit less (server_audit_events / excl_users)",
        )
    return replace(
        found,
        suggested_rotate_size=size,
        suggested_rotations=rotations,
        change=f"{s.rotate_size}={size} and {s.rotations}={rotations} in {s.where} (keeps "
        f"{size * rotations / 1e6:,.0f} MB: {policy.safe_scans:g} scan periods of {policy.scan_period_s:g} s)",
    )


def _round_up(value: float) -> int:
    return max(SIZE_STEP, math.ceil(value / SIZE_STEP) * SIZE_STEP)


def _streams(listing: Iterable[Mapping[str, Any]], scheme: str) -> dict[str, list[Mapping[str, Any]]]:
    """Files per stream, oldest first: rds-mysql is one stream ordered by position (``.N`` … ``.1``, then
    the active file); aurora names carry their stream (``audit.log.<k>.…``), ordered by LastWritten."""
    streams: dict[str, list[Mapping[str, Any]]] = {}
    for f in listing:
        name = str(f["LogFileName"])
        found = _AURORA_STREAM.search(name) if scheme == "aurora" else None
        streams.setdefault(found.group(1) if found else "", []).append(f)
    for files in streams.values():
        if scheme == "aurora":
            files.sort(key=lambda f: (float(f["LastWritten"]), str(f["LogFileName"])))
        else:
            files.sort(key=lambda f: -_position(str(f["LogFileName"])))
    return streams


def _rate(streams: Mapping[str, list[Mapping[str, Any]]]) -> float | None:
    """Bytes per second: per stream, what was written after its oldest file's last write, over the time to
    its newest write; streams too short to measure are taken to write as fast as the measured ones."""
    rates = []
    for files in streams.values():
        if len(files) < 2:
            continue
        written = sum(int(f["Size"]) for f in files[1:])
        times = [float(f["LastWritten"]) for f in files]
        spread_ms = max(max(times) - min(times), LAST_WRITTEN_RESOLUTION_MS)
        rates.append(written * 1000 / spread_ms)
    if not rates:
        return None
    return sum(rates) * len(streams) / len(rates)


def _rotations_listed(streams: Mapping[str, list[Mapping[str, Any]]], scheme: str) -> int | None:
    if scheme == "aurora":
        return max((len(files) - 1 for files in streams.values()), default=0) or None
    positions = [_position(str(f["LogFileName"])) for files in streams.values() for f in files]
    return max(positions, default=0) or None


def _position(name: str) -> int:
    found = _POSITION.search(name)
    return int(found.group(1)) if found else 0


def listings_from_items(items: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """The last listing the detector recorded, per instance: (scheme, listing) from the tracking table's
    live items (files not vanished), in DescribeDBLogFiles' shape."""
    found: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    for item in items:
        if "vanished_at" in item or "log_file_name" not in item:
            continue
        _, files = found.setdefault(str(item["pk"]), (str(item.get("scheme", "aurora")), []))
        files.append(
            {
                "LogFileName": str(item["log_file_name"]),
                "Size": int(item.get("size", 0)),
                "LastWritten": int(item.get("last_written", 0)),
            }
        )
    return found


def history_rows(
    items: Iterable[Mapping[str, Any]], policy: HistoryPolicy, now_ms: float | None = None
) -> list[dict[str, Any]]:
    """One row per instance: the kept history (rotate size x files kept, or Aurora's retention) in scan
    periods, judged on the last listing the detector recorded (the table's live items), and what to change."""
    rows = []
    for instance, (scheme, listing) in sorted(listings_from_items(items).items()):
        h = assess(listing, scheme, policy, now_ms)
        rows.append(
            {
                "instance_id": instance,
                "scheme": scheme,
                "verdict": h.verdict,
                "covered_scans": None if h.covered_scans is None else round(h.covered_scans, 3),
                "history_s": None if h.history_s is None else round(h.history_s, 1),
                "scan_period_s": h.scan_period_s,
                "audit_rate_bps": None if h.rate_bps is None else round(h.rate_bps),
                "rotate_size": h.rotate_size,
                "rotations": h.rotations,
                "setting_from": h.setting_from,
                "change": h.change,
                "note": h.note,
            }
        )
    return rows
