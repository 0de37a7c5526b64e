"""Numbered, idempotent migrations of the warehouse schema.

The raw tables' columns derive from the event contract (:mod:`schemas.events`). Each migration runs once,
inside a transaction, and is recorded in ``schema_migrations``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import duckdb

from schemas.events import FAMILIES, Family, duckdb_columns

log = logging.getLogger(__name__)


def raw_table(family: Family) -> str:
    """Name of the raw table of a topic family (typed, validated, deduplicated events as received)."""
    return f"raw_{family}_events"


def _raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    for family in FAMILIES:
        columns = ",\n    ".join(f'"{name}" {sql_type}' for name, sql_type in duckdb_columns(family))
        # event_id is the dedup key; the primary key lets `INSERT OR IGNORE` drop copies already loaded.
        con.execute(f"CREATE TABLE {raw_table(family)} (\n    {columns},\n    PRIMARY KEY (event_id)\n)")


def _ledger_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE quarantine (
            kafka_topic VARCHAR NOT NULL,
            kafka_partition INTEGER NOT NULL,
            kafka_offset BIGINT NOT NULL,
            kafka_timestamp TIMESTAMPTZ,
            raw_value BLOB,
            raw_text VARCHAR,
            reason VARCHAR NOT NULL,
            field VARCHAR,
            event_id VARCHAR,
            event_type VARCHAR,
            PRIMARY KEY (kafka_topic, kafka_partition, kafka_offset)
        )
        """
    )
    # The next offset to read per partition, written in the same transaction as the rows it covers.
    con.execute(
        """
        CREATE TABLE ingest_offsets (
            topic VARCHAR NOT NULL,
            "partition" INTEGER NOT NULL,
            next_offset BIGINT NOT NULL,
            PRIMARY KEY (topic, "partition")
        )
        """
    )
    # One row per committed micro-batch: what it read and what became of it. Totals over this table are
    # the data-quality counts of the reports (they do not depend on how messages were cut into batches).
    con.execute(
        """
        CREATE TABLE ingest_batches (
            batch_id VARCHAR PRIMARY KEY,
            started_at TIMESTAMPTZ NOT NULL,
            committed_at TIMESTAMPTZ NOT NULL,
            messages BIGINT NOT NULL,
            loaded BIGINT NOT NULL,
            duplicates BIGINT NOT NULL,
            quarantined BIGINT NOT NULL,
            unknown_fields BIGINT NOT NULL,
            max_event_time TIMESTAMPTZ
        )
        """
    )


MIGRATIONS: list[tuple[int, str, Callable[[duckdb.DuckDBPyConnection], None]]] = [
    (1, "raw tables, one per topic family", _raw_tables),
    (2, "quarantine, offsets and batch ledger", _ledger_tables),
]


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply the migrations this warehouse lacks. Returns the versions applied."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, description VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
    )
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for version, description, step in MIGRATIONS:
        if version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            step(con)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [version, description])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        log.info("warehouse migration %d applied: %s", version, description)
        applied.append(version)
    return applied
