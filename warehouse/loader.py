"""The lake door for ingest: load a decoded batch and its offsets in one lake transaction.

:class:`WarehouseWriter` is the small interface the ingest flow writes through; :class:`LakeWarehouse`
implements it on the DuckLake. Loading is idempotent: a raw row is keyed by its ``event_id`` and the UTC day
of its ``event_time`` (copies already in the warehouse are not inserted and are counted), a quarantined
message by (topic, partition, offset).

Why the key includes the event's day: a lake table has no primary key, so a copy is found by a join, and a
join against the whole history would cost more with every day stored. A copy of an event carries the same
``event_time`` (it is the same record, delivered again), so it falls on the same day; the join reads only
the batch's days, and the raw tables are partitioned by that day (migration 9), so DuckLake opens only
those days' files. A
message that reuses an ``event_id`` with an ``event_time`` on another day is a different row (docs/ingest.md).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

import duckdb
import polars as pl

from schemas.events import FAMILIES, Family
from warehouse import offsets
from warehouse.lake import LakeConfig, committed, open_lake, retry_busy, second_connection, transaction
from warehouse.migrations import raw_table

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

    def read_offsets(self, partitions: Iterable[tuple[str, int]] | None = None) -> Offsets:
        """The next offset to read per (topic, partition), as committed with the rows (of ``partitions``)."""
        ...

    def ensure_partitions(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Make sure the warehouse can record the offsets of ``partitions``."""
        ...

    def record_unread(self, positions: Offsets) -> None:
        """Record the position of partitions the warehouse has no offset for (nothing to read in them)."""
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
        start_offsets: Offsets | None = None,
    ) -> BatchResult:
        """Write one batch and its next offsets in one transaction.

        Raises:
            StaleBatch: a partition's stored offset is not the batch's ``start_offsets`` (another member
                committed it first): nothing was written. Without ``start_offsets`` (a loader that is the
                only writer of its partitions: tests that load by hand) there is no such check.
        """
        ...


def _day_ranges(frame: pl.DataFrame) -> str:
    """A filter on ``t.event_time`` covering exactly the UTC days of the batch's events (one range per run of
    consecutive days): it lets the scan skip every other day's files."""
    days = sorted(frame.select(pl.col("event_time").dt.convert_time_zone("UTC").dt.date().unique()).to_series())
    runs: list[list[date]] = []
    for day in days:
        if runs and (day - runs[-1][1]).days == 1:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    ranges = [
        f"(t.event_time >= TIMESTAMPTZ '{lo.isoformat()} 00:00:00+00' "
        f"AND t.event_time < TIMESTAMPTZ '{(hi + timedelta(days=1)).isoformat()} 00:00:00+00')"
        for lo, hi in runs
    ]
    return "(" + " OR ".join(ranges) + ")" if ranges else "FALSE"


# The same event: the same event_id on the same UTC day (the loader's key; see the module docstring).
_SAME_EVENT = "t.event_id = b.event_id AND date_trunc('day', t.event_time) = date_trunc('day', b.event_time)"


def _keep_first_arrival(con: duckdb.DuckDBPyConnection, table: str, days: str, now: datetime) -> int:
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
        FROM {table} t JOIN batch_rows b ON {_SAME_EVENT}
        WHERE {days} AND b.kafka_timestamp < t.kafka_timestamp
    """
    row = con.execute(
        f"INSERT INTO arrival_corrections SELECT '{table}', event_id, event_time, old_ts, new_ts, kafka_topic, "
        f"kafka_partition, kafka_offset, $now FROM ({earlier})",
        {"now": now},
    ).fetchone()
    corrected = int(row[0]) if row else 0
    if corrected:
        con.execute(
            f"UPDATE {table} AS t SET kafka_timestamp = b.kafka_timestamp FROM batch_rows b "
            f"WHERE {days} AND {_SAME_EVENT} AND b.kafka_timestamp < t.kafka_timestamp"
        )
    return corrected


class LakeWarehouse:
    """Ingest's writer on the lake: rows, quarantine, offsets and the batch ledger in one lake transaction.

    Each partition's next offset is its own table (warehouse/offsets.py), so writers of different partitions
    never conflict, and a batch commits only if its partitions' offsets are still where it started reading
    (the fence against a member that lost its partitions while stalled).

    Args:
        lake: the lake to write.
        member: who writes (host and process, recorded with each partition's offset).
    """

    def __init__(self, lake: LakeConfig, member: str | None = None) -> None:
        self.lake = lake
        self.member = member or f"{socket.gethostname()}:{os.getpid()}"
        self.con = open_lake(lake)
        # The rebalance listener reads offsets from Kafka's thread while this one loads: its own cursor.
        self._reader = second_connection(self.con)
        self._reader_lock = threading.Lock()
        self._has_tables: set[tuple[str, int]] = set()  # partitions known to have their offsets table

    def close(self) -> None:
        self._reader.close()
        self.con.close()

    def __enter__(self) -> LakeWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read_offsets(self, partitions: Iterable[tuple[str, int]] | None = None) -> Offsets:
        with self._reader_lock:
            return offsets.read_offsets(self._reader, partitions)

    def ensure_partitions(self, partitions: Iterable[tuple[str, int]]) -> None:
        wanted = set(partitions)
        if wanted <= self._has_tables:
            return
        with self._reader_lock:
            offsets.ensure_partitions(self._reader, wanted)
        self._has_tables |= wanted

    def record_unread(self, positions: Offsets) -> None:
        """Record the position of partitions the lake has no offset for (nothing to read in them)."""
        self.ensure_partitions(positions)

        committed(self.con, lambda c: offsets.record_unread(c, positions, self.member), "recording offsets")

    def load_batch(
        self,
        valid: dict[Family, pl.DataFrame],
        quarantine: pl.DataFrame,
        next_offsets: Offsets,
        messages: int,
        duplicates_in_batch: int,
        unknown_fields: int,
        started_at: datetime,
        start_offsets: Offsets | None = None,
    ) -> BatchResult:
        self.ensure_partitions(next_offsets)
        # Another writer committing at the same moment (a build, SQLite's one-writer lock) only delays it.
        return retry_busy(
            lambda: self._load_once(
                valid,
                quarantine,
                next_offsets,
                messages,
                duplicates_in_batch,
                unknown_fields,
                started_at,
                start_offsets,
            ),
            "ingest batch",
        )

    def _load_once(
        self,
        valid: dict[Family, pl.DataFrame],
        quarantine: pl.DataFrame,
        next_offsets: Offsets,
        messages: int,
        duplicates_in_batch: int,
        unknown_fields: int,
        started_at: datetime,
        start_offsets: Offsets | None = None,
    ) -> BatchResult:
        con = self.con
        batch_id = uuid.uuid4().hex
        loaded = 0
        offered = 0
        corrected = 0
        with transaction(con):
            # First the fence: a stale batch writes nothing (and its partitions' tables conflict with the
            # owner's commit if both commit at the same moment).
            offsets.advance(con, start_offsets, next_offsets, batch_id, self.member)
            now = datetime.now(UTC)
            max_times = []
            for family in FAMILIES:
                frame = valid.get(family)
                if frame is None or frame.is_empty():
                    continue
                offered += frame.height
                table = raw_table(family)
                days = _day_ranges(frame)
                con.register("batch_rows", frame.to_arrow())
                corrected += _keep_first_arrival(con, table, days, now)
                # Copies of events already in the warehouse are not inserted (at-least-once delivery).
                inserted = con.execute(
                    f"INSERT INTO {table} SELECT b.* FROM batch_rows b "
                    f"WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {days} AND {_SAME_EVENT})"
                ).fetchone()
                con.unregister("batch_rows")
                loaded += int(inserted[0]) if inserted else 0
                max_times.append(frame["event_time"].max())
            if not quarantine.is_empty():
                con.register("batch_quarantine", quarantine.to_arrow())
                con.execute(
                    "INSERT INTO quarantine SELECT b.* FROM batch_quarantine b WHERE NOT EXISTS (SELECT 1 FROM "
                    "quarantine t WHERE t.kafka_topic = b.kafka_topic AND t.kafka_partition = b.kafka_partition "
                    "AND t.kafka_offset = b.kafka_offset "
                    "AND t.kafka_offset >= (SELECT min(kafka_offset) FROM batch_quarantine))"
                )
                con.unregister("batch_quarantine")
            duplicates = duplicates_in_batch + offered - loaded
            max_event_time = max((t for t in max_times if t is not None), default=None)
            con.execute(
                "INSERT INTO ingest_batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    batch_id, started_at, datetime.now(UTC), messages, loaded, duplicates, quarantine.height,
                    unknown_fields, max_event_time, self.member,
                ],
            )  # fmt: skip
        if corrected:
            log.info("%d duplicate(s) arrived before the copy kept: their arrival is now the earlier one", corrected)
        return BatchResult(batch_id, messages, loaded, duplicates, quarantine.height, unknown_fields)
