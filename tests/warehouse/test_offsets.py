"""Offsets per partition and the fence against zombies: a stale member's batch is refused, nothing is written
twice, and writers of different partitions never conflict (on both catalogs)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

import warehouse.loader as loader
import warehouse.migrations as migrations
from tests.warehouse.test_lake import T0, likes
from transforms.decode import QUARANTINE_SCHEMA
from warehouse.lake import CommitConflict, LakeConfig, open_lake
from warehouse.loader import LakeWarehouse
from warehouse.offsets import StaleBatch

TOPIC = "engagement-events"
BOTH = pytest.mark.parametrize("lake", ["sqlite", "postgres"], indirect=True)


def batch(prefix: str, partition: int, start: int, n: int) -> pl.DataFrame:
    """``n`` likes read from ``start`` of one partition (ids unique to ``prefix``)."""
    frame = likes(*[(f"{prefix}-{start + i}", T0) for i in range(n)], offset=start)
    return frame.with_columns(kafka_partition=pl.lit(partition, pl.Int32))


def load(writer: LakeWarehouse, frame: pl.DataFrame, partition: int, start: int, *, retried: bool = True) -> Any:
    load = writer.load_batch if retried else writer._load_once
    return load(
        {"engagement": frame}, pl.DataFrame(schema=QUARANTINE_SCHEMA), {(TOPIC, partition): start + frame.height},
        frame.height, 0, 0, datetime.now(UTC), start_offsets={(TOPIC, partition): start},
    )  # fmt: skip


def table_counts(lake: LakeConfig) -> tuple[int, int, list[tuple[Any, ...]]]:
    with open_lake(lake, read_only=True) as con:
        rows = con.execute("SELECT count(*) FROM raw_engagement_events").fetchone()
        batches = con.execute("SELECT count(*) FROM ingest_batches").fetchone()
        offsets = con.execute('SELECT "partition", next_offset, member FROM ingest_offsets ORDER BY 1').fetchall()
    assert rows is not None and batches is not None
    return int(rows[0]), int(batches[0]), offsets


@BOTH
def test_a_stale_members_batch_is_refused_and_writes_nothing(lake: LakeConfig) -> None:
    with LakeWarehouse(lake, member="owner") as owner, LakeWarehouse(lake, member="zombie") as zombie:
        # Both read partition 0 from offset 0 (the zombie stalled; Kafka gave the partition to the owner).
        load(owner, batch("e", 0, 0, 50), 0, 0)
        with pytest.raises(StaleBatch, match=r"engagement-events\[0\] read from 0, lake at 50") as refused:
            load(zombie, batch("e", 0, 0, 50), 0, 0)
        assert refused.value.partitions == {(TOPIC, 0): (0, 50)}
        # The zombie re-seeks to the lake's offset and goes on from there: accepted.
        assert zombie.read_offsets([(TOPIC, 0)]) == {(TOPIC, 0): 50}
        load(zombie, batch("e", 0, 50, 10), 0, 50)
    assert table_counts(lake) == (60, 2, [(0, 60, "zombie")])


@BOTH
def test_two_writers_of_one_partition_at_the_same_moment_conflict_and_the_later_is_refused(
    lake: LakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = LakeWarehouse(lake, member="owner")
    zombie = LakeWarehouse(lake, member="zombie")
    owner.ensure_partitions([(TOPIC, 0)])
    zombie.ensure_partitions([(TOPIC, 0)])
    real_advance: Callable[..., None] = loader.offsets.advance
    interleaved = []

    def advance_then_let_the_owner_commit(con: duckdb.DuckDBPyConnection, *args: Any) -> None:
        # The zombie passed the fence (the lake said 0) but has not committed: now the owner commits.
        real_advance(con, *args)
        if con is zombie.con and not interleaved:
            interleaved.append(True)
            load(owner, batch("e", 0, 0, 40), 0, 0)

    monkeypatch.setattr(loader.offsets, "advance", advance_then_let_the_owner_commit)
    try:
        with pytest.raises(CommitConflict):  # DuckLake: both changed partition 0's offsets table
            load(zombie, batch("e", 0, 0, 30), 0, 0, retried=False)
        with pytest.raises(StaleBatch):  # its retry reads the owner's offset: refused
            load(zombie, batch("e", 0, 0, 30), 0, 0)
    finally:
        owner.close()
        zombie.close()
    assert interleaved
    assert table_counts(lake) == (40, 1, [(0, 40, "owner")])


@BOTH
def test_writers_of_different_partitions_never_conflict(lake: LakeConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    first = LakeWarehouse(lake, member="first")
    second = LakeWarehouse(lake, member="second")
    first.ensure_partitions([(TOPIC, 0), (TOPIC, 1)])
    second.ensure_partitions([(TOPIC, 0), (TOPIC, 1)])
    real_advance: Callable[..., None] = loader.offsets.advance
    commits = []

    def advance_then_let_the_other_commit(con: duckdb.DuckDBPyConnection, *args: Any) -> None:
        real_advance(con, *args)
        if con is first.con and not commits:
            commits.append(load(second, batch("b", 1, 0, 20), 1, 0, retried=False))

    monkeypatch.setattr(loader.offsets, "advance", advance_then_let_the_other_commit)
    # On PostgreSQL not even retried: a conflict would raise. SQLite admits one writer at a time: the first
    # writer's commit finds the database locked by the second's and commits on its retry (warehouse/lake.py).
    sqlite = lake.catalog.startswith("sqlite:")
    try:
        load(first, batch("a", 0, 0, 30), 0, 0, retried=sqlite)
    finally:
        first.close()
        second.close()
    assert table_counts(lake) == (50, 2, [(0, 30, "first"), (1, 20, "second")])


def test_migration_10_moves_each_partitions_offset_to_its_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = LakeConfig(f"sqlite:{tmp_path / 'catalog.sqlite'}", f"{tmp_path / 'files'}/")  # migrated here
    before = [m for m in migrations.MIGRATIONS if m[0] < 10]
    monkeypatch.setattr(migrations, "MIGRATIONS", before)
    with open_lake(lake) as con:
        con.execute("INSERT INTO ingest_offsets VALUES ('viewer-events', 0, 7), ('viewer-events', 1, 9)")
    monkeypatch.undo()
    with open_lake(lake) as con:
        view = con.execute('SELECT topic, "partition", next_offset FROM ingest_offsets ORDER BY ALL').fetchall()
        tables = con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'offsets' ORDER BY 1")
        assert view == [("viewer-events", 0, 7), ("viewer-events", 1, 9)]
        assert tables.fetchall() == [("viewer-events/0",), ("viewer-events/1",)]
    with LakeWarehouse(lake) as writer:  # and ingest goes on from there, fenced
        with pytest.raises(StaleBatch):
            writer.load_batch({}, pl.DataFrame(schema=QUARANTINE_SCHEMA), {("viewer-events", 0): 8}, 1, 0, 0,
                              datetime.now(UTC), start_offsets={("viewer-events", 0): 0})  # fmt: skip
        assert writer.read_offsets() == {("viewer-events", 0): 7, ("viewer-events", 1): 9}
