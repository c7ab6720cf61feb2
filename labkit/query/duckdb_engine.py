"""The local backend: DuckDB over the emulator's bucket.

The lines of the partitions a query needs are read through boto3 (see :mod:`labkit.query.archive` for why not
httpfs) and parsed as they are loaded (only files changed since the cache last saw them, see
:class:`DuckDBEngine`), with :data:`labkit.query.schema.LINE_PATTERN` and ``regexp_extract``; queries read the
view ``audit_events``: the same columns Athena's RegexSerDe table has, plus ``source_key`` (Athena's
``"$path"``) and the derived columns the saved queries read (``event_time``, ``object_sql``, ``category``,
``parse_ok``: :func:`labkit.query.dialects.derive`), computed here once instead of in every query. An ad-hoc
query that uses those four runs locally only; on Athena the saved queries compute them. ``Engine.sql`` on an
arbitrary statement loads every partition first. DuckDB itself is imported when an engine is built, pandas
when this module is (:func:`labkit.query.connect` imports it only for the local target).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import shutil
import tempfile
import weakref
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from labkit.query.archive import ArchivedFile, Partition, PartText, list_files, list_partitions, read_texts
from labkit.query.dialects import DERIVED_COLUMNS, _lit, derive
from labkit.query.engine import Engine
from labkit.query.errors import QueryError
from labkit.query.queries import PARTITION_SLACK_DAYS, as_date
from labkit.query.schema import COLUMNS, LINE_PATTERN, PARTITION_COLUMNS, TABLE_NAME

log = logging.getLogger(__name__)
_PARTITION_DDL = ", ".join(f'"{name}" VARCHAR' for name in PARTITION_COLUMNS)
BATCH_CHARS = 64 * 1024 * 1024  # text parsed per INSERT: big enough for every thread, small for memory


class DuckDBEngine(Engine):
    """DuckDB over the archive. Queries see ``audit_events``: the partitions this engine loaded, exactly as
    S3 holds them when they were loaded. Parsed lines are kept in ``archive.events``: a compressed in-memory
    database, or, given ``cache``, a DuckDB file that later engines reuse: a file whose parts (keys and
    ETags) are what S3 lists now is not read again, a file whose parts changed is read again whole, a
    file no longer listed is dropped. Each batch is one transaction, and a file's rows are replaced before
    it is read, so a load stopped half-way leaves nothing a later load would double."""

    dialect = "duckdb"

    def __init__(
        self, s3: Any, bucket: str, prefix: str, *, memory_mb: int = 1024, cache: str | Path | None = None
    ) -> None:
        import duckdb

        self.s3, self.bucket, self.prefix = s3, bucket, prefix
        # capped at memory_mb; past that DuckDB moves blocks to a temporary directory of this engine's own,
        # removed with the engine. In memory, the archive is compressed (2.3x smaller, measured on audit lines)
        self.spill_dir = tempfile.mkdtemp(prefix="labkit-duckdb-")
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.spill_dir, ignore_errors=True)
        self.connection = duckdb.connect(
            config={"memory_limit": f"{memory_mb}MB", "temp_directory": self.spill_dir}
        )
        self.cache = self._attach(Path(cache) if cache else None)
        self._loaded: set[Partition] = set()
        self._everything = False
        partition_names = ", ".join(f'"{name}"' for name in PARTITION_COLUMNS)
        self._create_tables(partition_names)
        self.connection.execute(f"CREATE TEMP TABLE loaded_partitions ({_PARTITION_DDL})")
        self.connection.execute(
            f"CREATE TEMP VIEW {TABLE_NAME} AS SELECT * EXCLUDE (file_key) FROM archive.events"
            f" SEMI JOIN loaded_partitions USING ({partition_names})"
        )

    def _attach(self, cache: Path | None) -> Path | None:
        import duckdb

        if cache is not None:
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                self.connection.execute(f"ATTACH {_lit(str(cache))} AS archive")
                return cache
            except (duckdb.Error, OSError) as exc:  # another process holds it: this engine goes without
                log.warning("query cache %s unavailable (%s): reading the archive into memory", cache, exc)
        self.connection.execute("ATTACH ':memory:' AS archive (COMPRESS)")
        return None

    def _create_tables(self, partition_names: str) -> None:
        columns = ", ".join(f"{c.name} {c.duckdb_type}" for c in COLUMNS)
        derived = ", ".join(f"{name} {kind}" for name, kind in DERIVED_COLUMNS.items())
        names = ", ".join(f"'{c.name}'" for c in COLUMNS)
        fields = ", ".join(
            f"r.{c.name} AS {c.name}"
            if c.duckdb_type == "VARCHAR"
            else f"TRY_CAST(r.{c.name} AS {c.duckdb_type}) AS {c.name}"
            for c in COLUMNS
        )
        pattern = "'^" + LINE_PATTERN.replace("'", "''") + "$'"
        # a batch of parts' texts is split into lines in DuckDB, then parsed as one parallel INSERT: the
        # table then holds what Athena's RegexSerDe yields, and the derived columns the saved queries read
        self._stage = (
            "CREATE OR REPLACE TEMP TABLE staged_lines AS SELECT unnest(string_split(text, chr(10))) AS line,"
            f" source_key, {partition_names}, file_key FROM part_texts"
        )
        raw = (
            f"SELECT {fields}, source_key, {partition_names}, file_key FROM"
            f" (SELECT regexp_extract(line, {pattern}, [{names}]) AS r, source_key, {partition_names}, file_key"
            " FROM staged_lines)"
        )
        derived_select = derive("duckdb", raw, extra=("file_key",))
        self._insert = f"INSERT INTO archive.events BY NAME {derived_select}"
        create = (
            f"CREATE TABLE archive.events ({columns}, source_key VARCHAR, {_PARTITION_DDL}, {derived},"
            " file_key VARCHAR);"
            " CREATE TABLE archive.parts (file_key VARCHAR, part_key VARCHAR, etag VARCHAR, prefix VARCHAR);"
        )
        # a cache written by another version of the parsing is rebuilt, never mixed
        version = hashlib.sha256((create + self._insert).encode()).hexdigest()
        self.connection.execute("CREATE TABLE IF NOT EXISTS archive.meta (name VARCHAR, value VARCHAR)")
        found = self.connection.execute("SELECT value FROM archive.meta WHERE name = 'version'").fetchall()
        if found != [(version,)]:
            self.connection.execute(
                "BEGIN; DROP TABLE IF EXISTS archive.events; DROP TABLE IF EXISTS archive.parts;"
                f" {create} DELETE FROM archive.meta; COMMIT"
            )
            self.connection.execute("INSERT INTO archive.meta VALUES ('version', ?)", [version])

    def sql(
        self,
        sql: str,
        *,
        instance: str | None = None,
        since: date | str | None = None,
        until: date | str | None = None,
    ) -> pd.DataFrame:
        if instance or since or until:
            first = as_date(since, date(1970, 1, 1)) - timedelta(days=PARTITION_SLACK_DAYS)
            self.load(instance or None, first, as_date(until, date(9999, 12, 31)))
        elif not self._everything:
            self.load()
            self._everything = True
        return self._execute(sql)

    def close(self) -> None:
        """Detach the cache, free the loaded archive and remove the spill directory (also done when the
        engine is collected)."""
        self.connection.close()
        self._cleanup()

    def sql_loaded(self, sql: str) -> pd.DataFrame:
        """``sql`` over the partitions loaded so far, reading nothing more."""
        return self._execute(sql)

    def _execute(self, sql: str) -> pd.DataFrame:
        import duckdb

        try:
            return self.connection.execute(sql).df()
        except duckdb.Error as exc:
            raise QueryError(f"DuckDB could not run the query: {exc}") from exc

    def _prepare(self, params: dict[str, Any]) -> None:
        until = as_date(params.get("until"), date.today())
        since = as_date(params.get("since"), until - timedelta(days=7))
        instance = params.get("instance") or None
        for one in [instance] if instance is None or isinstance(instance, str) else instance:
            self.load(one, since - timedelta(days=PARTITION_SLACK_DAYS), until)

    def load(self, instance: str | None = None, first: date | None = None, last: date | None = None) -> int:
        """Bring the partitions not loaded yet (only those of ``instance`` and the dates) up to what S3
        holds now, reading only files not already parsed as they are; returns the lines read."""
        partitions = [
            p
            for p in list_partitions(
                self.s3, self.bucket, self.prefix, instance=instance, first_date=first, last_date=last
            )
            if p not in self._loaded
        ]
        files = list_files(self.s3, self.bucket, partitions)
        to_read = self._forget_changed(partitions, files)
        added, batch, size, done = 0, [], 0, 0
        order = {f.key: n for n, f in enumerate(to_read)}
        for text in read_texts(self.s3, self.bucket, to_read):
            batch.append(text)
            size += len(text.text)
            if size >= BATCH_CHARS:  # the files before this text's are whole: recorded with the batch
                complete = to_read[done : order[text.file_key]]
                added, batch, size = added + self.add_texts(batch, complete), [], 0
                done += len(complete)
        added += self.add_texts(batch, to_read[done:])
        self.mark_loaded(partitions)
        return added

    def _forget_changed(self, partitions: list[Partition], files: list[ArchivedFile]) -> list[ArchivedFile]:
        """Drop what the cache holds of files S3 no longer lists as it was parsed; the files to read."""
        prefixes = [p.prefix for p in partitions]
        cached: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for file_key, part_key, etag in self.connection.execute(
            "SELECT file_key, part_key, etag FROM archive.parts WHERE prefix IN (SELECT unnest(?))",
            [prefixes],
        ).fetchall():
            cached[file_key].add((part_key, etag))
        listed = {f.key for f in files}
        to_read = [f for f in files if cached.get(f.key) != set(f.parts)]
        gone = [key for key in cached if key not in listed]
        forget = gone + [f.key for f in to_read]  # also rows a stopped load left without a record
        if forget:
            with self._transaction():
                for table in ("events", "parts"):
                    self.connection.execute(
                        f"DELETE FROM archive.{table} WHERE file_key IN (SELECT unnest(?))", [forget]
                    )
        return to_read

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self.connection.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    def mark_loaded(self, partitions: list[Partition]) -> None:
        """Show ``partitions`` in ``audit_events`` (load does it once a partition is whole)."""
        if partitions:
            self.connection.executemany(
                "INSERT INTO loaded_partitions VALUES (?, ?, ?)",
                [[p.cluster, p.instance, p.date] for p in partitions],
            )
        self._loaded.update(partitions)

    def add_texts(self, texts: list[PartText], complete: Sequence[ArchivedFile] = ()) -> int:
        """Parts' lines parsed into the archive, and the files now whole recorded, in one transaction."""
        columns: dict[str, list[str]] = {"text": [t.text for t in texts]}
        columns["source_key"] = [t.source_key for t in texts]
        for name, field in zip(PARTITION_COLUMNS, ("cluster", "instance", "date"), strict=True):
            columns[name] = [getattr(t.partition, field) for t in texts]
        columns["file_key"] = [t.file_key for t in texts]
        records = [[f.key, key, etag, f.partition.prefix] for f in complete for key, etag in f.parts]
        added = 0
        self.connection.register("part_texts", pd.DataFrame(columns, dtype=object))
        try:
            if texts:  # staged outside the transaction: DuckDB scans a committed table in parallel
                self.connection.execute(self._stage)
                row = self.connection.execute("SELECT count(*) FROM staged_lines").fetchone()
                added = int(row[0]) if row else 0
            with self._transaction():
                if texts:
                    self.connection.execute(self._insert)
                if records:
                    self.connection.executemany("INSERT INTO archive.parts VALUES (?, ?, ?, ?)", records)
        finally:
            self.connection.unregister("part_texts")
            self.connection.execute("DROP TABLE IF EXISTS staged_lines")
        return added

    def add_lines(self, lines: list[str], source_keys: list[str], partition: Partition) -> int:
        """Lines of one partition (tests and benches): each its own text, so each keeps its source key."""
        added = self.add_texts(
            [PartText(partition, key, line) for line, key in zip(lines, source_keys, strict=True)]
        )
        self.mark_loaded([partition])
        return added
