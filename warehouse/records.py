"""The pipeline's own records in the lake, read and written by flows/: delivery attempts and the build's
per-day completeness flags. Here because warehouse/ is the only code that writes SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import duckdb

DELIVERY_COLUMNS = ("delivery_id", "day", "channel", "target", "attempt", "success", "error", "attempted_at")


def insert_deliveries(con: duckdb.DuckDBPyConnection, attempts: Sequence[object]) -> None:
    """Append delivery attempts (objects with the attributes of :data:`DELIVERY_COLUMNS`) to ``deliveries``,
    in the caller's transaction."""
    rows = [[getattr(a, c) for c in DELIVERY_COLUMNS] for a in attempts]
    placeholders = ", ".join("?" * len(DELIVERY_COLUMNS))
    con.executemany(f"INSERT INTO deliveries ({', '.join(DELIVERY_COLUMNS)}) VALUES ({placeholders})", rows)


def completeness_of_built_days(con: duckdb.DuckDBPyConnection, from_day: date, to_day: date) -> dict[date, bool]:
    """Whether each built day of ``[from_day, to_day]`` was complete at its last build (``build_days``)."""
    rows = con.execute("SELECT day, complete FROM build_days WHERE day BETWEEN ? AND ?", [from_day, to_day]).fetchall()
    return {d: bool(c) for d, c in rows}
