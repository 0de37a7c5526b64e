"""The DuckDB door for ingest: load a decoded batch and its offsets in one transaction.

:class:`WarehouseWriter` is the small interface the ingest flow writes through; :class:`DuckDBWarehouse`
implements it on one DuckDB file. Loading is idempotent: rows are keyed by ``event_id`` (copies already in
the warehouse are ignored and counted), quarantined messages by (topic, partition, offset).
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import duckdb
import polars as pl

from schemas.events import FAMILIES, Family
from warehouse.migrations import migrate, raw_table

log = logging.getLogger(__name__)

Offsets = dict[tuple[str, int], int]


@dataclass(frozen=True)
class BatchResult:
    """What one committed batch did."""

    batch_id: str
    messages: int
    loaded: int
    duplicates: int
    quarantined: int
    unknown_fields: int


class WarehouseWriter(Protocol):
    """Where ingest writes: rows, quarantine and offsets together, atomically."""

    def read_offsets(self) -> Offsets:
        """The next offset to read per (topic, partition), as committed with the rows."""
        ...

    def load_batch(
        self,
        valid: dict[Family, pl.DataFrame],
        quarantine: pl.DataFrame,
        next_offsets: Offsets,
        messages: int,
        duplicates_in_batch: int,
        unknown_fields: int,
        started_at: datetime,
    ) -> BatchResult:
        """Write one batch and its next offsets in one transaction."""
        ...

    def publish(self) -> Path:
        """Make what is committed visible to analysts."""
        ...


def connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file (creating its folder), migrated to the current schema unless read-only."""
    if read_only:
        return duckdb.connect(str(path), read_only=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        migrate(con)
    except BaseException:
        con.close()  # a failed migration must not keep the file locked for every other process
        raise
    return con


def _keep_first_arrival(con: duckdb.DuckDBPyConnection, table: str, now: datetime) -> int:
    """Give rows of ``table`` that ``batch_rows`` holds a copy of the earlier Kafka timestamp of the two.

    An event arrives when its first copy arrives, wherever that copy was read: when a copy of an event
    already loaded carries an earlier ``kafka_timestamp`` (another partition, read later), the kept row takes
    it (the rest of the row, its Kafka position included, stays the first-ingested copy's). Each change is
    recorded in ``arrival_corrections`` (the incremental build rebuilds the days it can change). Runs inside
    the caller's transaction, before the batch's rows are inserted.

    Returns:
        The number of rows whose arrival moved earlier.
    """
    earlier = f"""
        SELECT t.event_id, t.event_time, t.kafka_timestamp AS old_ts, b.kafka_timestamp AS new_ts,
               b.kafka_topic, b.kafka_partition, b.kafka_offset
        FROM {table} t JOIN batch_rows b ON b.event_id = t.event_id
        WHERE b.kafka_timestamp < t.kafka_timestamp
    """
    row = con.execute(
        f"INSERT INTO arrival_corrections SELECT '{table}', event_id, event_time, old_ts, new_ts, kafka_topic, "
        f"kafka_partition, kafka_offset, $now FROM ({earlier})",
        {"now": now},
    ).fetchone()
    corrected = int(row[0]) if row else 0
    if corrected:
        con.execute(
            f"UPDATE {table} SET kafka_timestamp = b.kafka_timestamp FROM batch_rows b "
            f"WHERE {table}.event_id = b.event_id AND b.kafka_timestamp < {table}.kafka_timestamp"
        )
    return corrected


class DuckDBWarehouse:
    """The warehouse in one DuckDB file, with a read-only analyst copy published beside it.

    DuckDB lets no other process open a file (not even read-only) while a process holds it read-write, so
    analysts never open the pipeline's file: they open the analyst copy, which :meth:`publish` replaces
    atomically (write a new file, then rename over the old one; open connections keep the old one).
    """

    def __init__(self, path: Path, analyst_path: Path) -> None:
        self.path = path
        self.analyst_path = analyst_path
        self.con = connect(path)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> DuckDBWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read_offsets(self) -> Offsets:
        rows = self.con.execute('SELECT topic, "partition", next_offset FROM ingest_offsets').fetchall()
        return {(topic, partition): offset for topic, partition, offset in rows}

    def load_batch(
        self,
        valid: dict[Family, pl.DataFrame],
        quarantine: pl.DataFrame,
        next_offsets: Offsets,
        messages: int,
        duplicates_in_batch: int,
        unknown_fields: int,
        started_at: datetime,
    ) -> BatchResult:
        con = self.con
        batch_id = uuid.uuid4().hex
        con.execute("BEGIN TRANSACTION")
        try:
            loaded = 0
            offered = 0
            corrected = 0
            now = datetime.now(UTC)
            max_times = []
            for family in FAMILIES:
                frame = valid.get(family)
                if frame is None or frame.is_empty():
                    continue
                offered += frame.height
                con.register("batch_rows", frame.to_arrow())
                corrected += _keep_first_arrival(con, raw_table(family), now)
                # Copies of events already in the warehouse are ignored by key (at-least-once delivery).
                inserted = con.execute(f"INSERT OR IGNORE INTO {raw_table(family)} SELECT * FROM batch_rows").fetchone()
                con.unregister("batch_rows")
                loaded += int(inserted[0]) if inserted else 0
                max_times.append(frame["event_time"].max())
            if not quarantine.is_empty():
                con.register("batch_quarantine", quarantine.to_arrow())
                con.execute("INSERT OR IGNORE INTO quarantine SELECT * FROM batch_quarantine")
                con.unregister("batch_quarantine")
            if next_offsets:
                con.executemany(
                    'INSERT OR REPLACE INTO ingest_offsets (topic, "partition", next_offset) VALUES (?, ?, ?)',
                    [[topic, partition, offset] for (topic, partition), offset in sorted(next_offsets.items())],
                )
            duplicates = duplicates_in_batch + offered - loaded
            max_event_time = max((t for t in max_times if t is not None), default=None)
            con.execute(
                "INSERT INTO ingest_batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    batch_id, started_at, datetime.now(UTC), messages, loaded, duplicates, quarantine.height,
                    unknown_fields, max_event_time,
                ],
            )  # fmt: skip
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        if corrected:
            log.info("%d duplicate(s) arrived before the copy kept: their arrival is now the earlier one", corrected)
        return BatchResult(batch_id, messages, loaded, duplicates, quarantine.height, unknown_fields)

    def publish(self) -> Path:
        """Checkpoint, then atomically replace the analyst copy with a copy of the warehouse file."""
        self.con.execute("CHECKPOINT")
        self.analyst_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.analyst_path.with_name(f".{self.analyst_path.name}.{os.getpid()}.tmp")
        shutil.copyfile(self.path, tmp)
        os.replace(tmp, self.analyst_path)
        log.info("published the analyst copy %s", self.analyst_path)
        return self.analyst_path
