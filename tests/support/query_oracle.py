"""An independent reading of a backup, for checking the query engines: the decompressed parts of each file
joined in part order, each line read by a character scanner written from the format's description (not the
regex the engines use), and each saved query's answer computed with pandas.

Used by tests/functional/test_query_archive.py (lines written by the test) and tests/e2e/test_query_lab.py
(lines MariaDB wrote in the real lab).
"""

from __future__ import annotations

import gzip
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

from labkit.dashboard.audit_lines import categorize
from labkit.query import Engine

# --- the independent reading ---------------------------------------------------------------------------
_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", "0": "\0"}


def read_parts(s3: Any, bucket: str, keys_by_file: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(file key, line) for every line, parts joined in order, decoded with U+FFFD for invalid bytes."""
    out = []
    for file_key, keys in keys_by_file.items():
        data = b"".join(gzip.decompress(s3.get_object(Bucket=bucket, Key=k)["Body"].read()) for k in keys)
        for raw in data.split(b"\n")[: -1 if data.endswith(b"\n") else None]:
            out.append((file_key, raw.removesuffix(b"\r").decode("utf-8", errors="replace")))
    return out


def timestamp(text: str) -> datetime | None:
    if text.isdigit() and text.isascii():
        scale = 1 if len(text) >= 15 else 1000 if len(text) >= 12 else 1_000_000
        return datetime(1970, 1, 1) + timedelta(microseconds=int(text) * scale)
    try:
        if len(text) == 17 and text[8] == " " and text[:8].isdigit():
            return datetime.strptime(text, "%Y%m%d %H:%M:%S")
    except ValueError:
        return None
    return None


def scan(line: str) -> dict[str, Any] | None:
    """One line by hand: eight comma-ended fields, the object (quoted with escapes, or bare), then the rest."""
    fields, i = [], 0
    for _ in range(8):
        j = line.find(",", i)
        if j < 0:
            return None
        fields.append(line[i:j])
        i = j + 1
    ts, server, user, host, conn, qid, op, db = fields
    when = timestamp(ts)
    ok_numbers = all(n == "" or (n.isascii() and n.isdigit()) for n in (conn, qid))
    if when is None or not ok_numbers or not op or not all("A" <= c <= "Z" or c == "_" for c in op):
        return None
    if line.startswith("'", i):
        i += 1
        text: list[str] = []
        while i < len(line) and line[i] != "'":
            if line[i] == "\\":
                if i + 1 == len(line):
                    return None  # a lone backslash at the end
                text.append(_UNESCAPE.get(line[i + 1], line[i + 1]))
                i += 2
            else:
                text.append(line[i])
                i += 1
        i += 1 if i < len(line) else 0  # the closing quote, when the line was not cut
        obj = "".join(text)
    else:
        j = line.find(",", i)
        j = len(line) if j < 0 else j
        obj = line[i:j]
        if "'" in obj:
            return None
        i = j
    retcode, extra = None, ""
    if i < len(line):
        if line[i] != ",":
            return None
        rest = line[i + 1 :].split(",", 1)
        retcode = int(rest[0]) if rest[0].lstrip("-").isdigit() and rest[0] else None
        extra = rest[1] if len(rest) > 1 else ""
    return {
        "event_time": when,
        "username": user,
        "client_host": host,
        "connection_id": int(conn) if conn else None,
        "query_id": int(qid) if qid else None,
        "operation": op,
        "category": categorize(op, obj),
        "retcode": retcode,
        "object": obj,
        "extra": extra,
        "server_host": server,
        "database_name": db,
    }


def expected_events(
    s3: Any, bucket: str, prefix: str, instance: str | None, first_day: date
) -> tuple[pd.DataFrame, list[str]]:
    """Every event of the partitions (dates >= first_day, instance or all) by the independent reading."""
    files: dict[str, list[str]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            parts = dict(seg.split("=", 1) for seg in key.split("/") if "=" in seg)
            if (instance and parts["instance"] != instance) or parts["date"] < first_day.isoformat():
                continue
            files.setdefault(key.rsplit(".part-", 1)[0], []).append(key)
    for keys in files.values():
        keys.sort(key=lambda k: int(k.rsplit(".part-", 1)[1].split(".")[0]))
    rows, unparsed = [], []
    for file_key, line in read_parts(s3, bucket, files):
        event = scan(line)
        if event is None:
            unparsed.append(line)
        else:
            rows.append({**event, "instance": file_key.split("instance=")[1].split("/")[0]})
    return pd.DataFrame(rows), unparsed


COLUMNS = ["event_time", "instance", "username", "client_host", "connection_id", "operation", "category",
           "retcode", "object"]  # fmt: skip


def rows(frame: pd.DataFrame, columns: list[str]) -> Counter[tuple[Any, ...]]:
    def norm(value: Any) -> Any:
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return None
        if isinstance(value, pd.Timestamp):
            return value.to_pydatetime().replace(tzinfo=None)
        return value.item() if hasattr(value, "item") else value

    return Counter(tuple(norm(v) for v in row) for row in frame[columns].itertuples(index=False))


def compare_saved_queries(
    engine: Engine, s3: Any, bucket: str, prefix: str, instance: str, day: date, *, user: str, client_host: str,
    table: str,
) -> dict[str, pd.DataFrame]:  # fmt: skip
    """Run every saved query for ``instance`` on ``day`` and assert each returns the independent reading's
    rows; the engine's answers by query name, and the reading's ("events", "unparsed") for more checks."""
    params = {"instance": instance, "since": day, "until": day}
    events, unparsed = expected_events(s3, bucket, prefix, instance, day - timedelta(days=1))
    start = datetime(day.year, day.month, day.day)
    in_range = events[(events["event_time"] >= start) & (events["event_time"] < start + timedelta(days=1))]
    answers: dict[str, pd.DataFrame] = {"events": events, "unparsed": pd.DataFrame({"line": unparsed})}

    def check(name: str, expected: pd.DataFrame, columns: list[str] = COLUMNS, **extra: Any) -> None:
        got = engine.run(name, **params, **extra)
        assert rows(got, columns) == rows(expected, columns), name
        answers[name if name not in answers else f"{name}:{extra}"] = got

    ddl = in_range.category.isin(["DDL", "DCL"])
    check(
        "failed_logins",
        in_range[
            (in_range.operation == "FAILED_CONNECT")
            | ((in_range.operation == "CONNECT") & in_range.retcode.fillna(0).ne(0))
        ],
    )
    check("ddl_dcl_by_user", in_range[ddl & (in_range.username == user)], user=user)
    check("ddl_dcl_by_user", in_range[ddl])
    check(
        "statements_touching_table",
        in_range[in_range.object.str.lower().str.contains(table.lower(), regex=False)],
        table=table,
    )
    check("session_timeline", in_range[in_range.username == user], user=user)
    check("client_host_activity", in_range[in_range.client_host == client_host], client_host=client_host)
    is_ddl_statement = (in_range.operation == "QUERY_DDL") | (
        (in_range.operation == "QUERY") & (in_range.category == "DDL")
    )
    check(
        "search", in_range[(in_range.username == user) & is_ddl_statement], user=user, operation="QUERY_DDL"
    )
    per_op = in_range.assign(bucket=in_range.event_time.dt.floor("h")).groupby(["bucket", "operation"]).size()
    check("events_per_operation", per_op.rename("events").reset_index(), ["bucket", "operation", "events"])
    top = in_range.groupby("username").agg(
        events=("operation", "size"), sessions=("connection_id", "nunique")
    )
    check("top_users", top.reset_index(), ["username", "events", "sessions"])
    got = engine.run("unparsed_lines", **params)
    assert Counter(got.line) == Counter(unparsed), "unparsed_lines"
    answers["unparsed_lines"] = got
    return answers
