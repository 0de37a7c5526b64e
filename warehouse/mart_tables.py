"""The mart tables as the registry declares them: created from ``schemas/marts.py``, rebuilt, never migrated.

Marts can be recomputed from the raw tables, so they are treated as dbt treats models: each build records
the registry's version (:data:`schemas.marts.MARTS_VERSION`) in ``mart_versions``. A build that finds
another version recorded (or none: a warehouse the registry never built) first drops and recreates every mart
table from the registry's DDL, in one transaction, and then rebuilds every day with data; the version is
recorded only when that build has finished, so a build that crashes half-way recreates and rebuilds again
next time. Durable tables (raw, offsets, ledgers, quality results, deliveries) keep their numbered
migrations (``warehouse/migrations.py``).

Analyst views over the marts (``v_*``) name their tables and are bound when queried, so they see the new
tables (and, for ``SELECT h.*`` views, their new columns) without being recreated.
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

import schemas.marts as registry
from warehouse.lake import committed


def recorded_version(con: duckdb.DuckDBPyConnection) -> str | None:
    """The registry version the last finished build wrote (None: no build since migration 11)."""
    row = con.execute("SELECT version FROM mart_versions ORDER BY recorded_at DESC LIMIT 1").fetchone()
    return None if row is None else str(row[0])


def never_built(con: duckdb.DuckDBPyConnection) -> bool:
    """No build has run on this warehouse yet (its marts are the empty tables of migration 3)."""
    row = con.execute("SELECT count(*) FROM build_runs").fetchone()
    return row is None or row[0] == 0


def outdated_marts(con: duckdb.DuckDBPyConnection) -> str | None:
    """Why the marts must be recreated (a line to print), or None when they follow the registry's version."""
    recorded = recorded_version(con)
    if recorded == registry.MARTS_VERSION:
        return None
    was = "none recorded" if recorded is None else f"version {recorded}"
    return (
        f"mart definitions changed ({was} -> version {registry.MARTS_VERSION}): "
        "recreating the marts and rebuilding every day"
    )


def recreate_marts(con: duckdb.DuckDBPyConnection) -> None:
    """Drop every mart table and create it again, empty, from the registry (one transaction, retried)."""

    def recreate(c: duckdb.DuckDBPyConnection) -> None:
        for mart in registry.MARTS:
            c.execute(f"DROP TABLE IF EXISTS {mart.name}")
            c.execute(mart.ddl())

    committed(con, recreate, "recreating the marts")


def record_version(con: duckdb.DuckDBPyConnection, build_id: str, recreated: bool) -> None:
    """Record that build ``build_id`` finished writing the marts under the registry's version."""
    con.execute(
        "INSERT INTO mart_versions VALUES (?, ?, ?, ?)",
        [registry.MARTS_VERSION, datetime.now(UTC), build_id, recreated],
    )
