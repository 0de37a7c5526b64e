"""Lake maintenance: compact small files, expire old snapshots, delete files nothing refers to any more.

Every ingest batch and every day's marts write new Parquet files (micro-batches make many small ones), and
a replaced day leaves deleted rows behind. Reads slow down as files pile up; maintenance keeps them few:

1. flush rows DuckLake kept inline in the catalog (small commits) into Parquet files;
2. rewrite files with many deleted rows, and merge adjacent small files of a table into larger ones;
3. expire snapshots older than the retention (time travel reaches back that far, no further);
4. delete the files only expired snapshots referred to, and orphaned files of failed writes (older than an
   hour, so that a commit in flight elsewhere keeps its files).

Each step commits on its own, so concurrent ingest and builds keep working; a step that conflicts with one
of their commits fails alone (rerun it later: nothing is lost).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

import duckdb

from warehouse.lake import LAKE

ORPHAN_AGE = timedelta(hours=1)


@dataclass(frozen=True)
class MaintenanceResult:
    """What one maintenance run did."""

    files_before: int
    files_after: int
    rows_flushed: int
    files_merged: int
    snapshots_expired: int
    files_deleted: int
    seconds: float

    def line(self) -> str:
        return (
            f"maintenance: {self.files_before:,} -> {self.files_after:,} data files "
            f"({self.files_merged:,} merged, {self.rows_flushed:,} inlined rows flushed), "
            f"{self.snapshots_expired:,} snapshot(s) expired, {self.files_deleted:,} old file(s) deleted "
            f"in {self.seconds:.1f} s"
        )


def live_files(con: duckdb.DuckDBPyConnection) -> int:
    """Data files of the current snapshot, over every table."""
    row = con.execute(
        f"SELECT count(*) FROM __ducklake_metadata_{LAKE}.ducklake_data_file WHERE end_snapshot IS NULL"
    ).fetchone()
    return int(row[0]) if row else 0


def _seconds(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds()))


def maintain(con: duckdb.DuckDBPyConnection, retention: timedelta) -> MaintenanceResult:
    """Run every maintenance step on the lake ``con`` attaches (read-write), keeping ``retention`` of history."""
    started = time.monotonic()
    before = live_files(con)
    flushed = sum(int(r[2]) for r in con.execute(f"CALL ducklake_flush_inlined_data('{LAKE}')").fetchall())
    rewritten = con.execute(f"CALL ducklake_rewrite_data_files('{LAKE}')").fetchall()
    merged = con.execute(f"CALL ducklake_merge_adjacent_files('{LAKE}')").fetchall()
    expired = con.execute(
        f"CALL ducklake_expire_snapshots('{LAKE}', older_than => now() - to_seconds({_seconds(retention)}))"
    ).fetchall()
    deleted = con.execute(f"CALL ducklake_cleanup_old_files('{LAKE}', cleanup_all => true)").fetchall()
    orphans = con.execute(
        f"CALL ducklake_delete_orphaned_files('{LAKE}', older_than => now() - to_seconds({_seconds(ORPHAN_AGE)}))"
    ).fetchall()
    return MaintenanceResult(
        files_before=before,
        files_after=live_files(con),
        rows_flushed=flushed,
        files_merged=sum(int(r[2]) for r in merged) + sum(int(r[2]) for r in rewritten),
        snapshots_expired=len(expired),
        files_deleted=len(deleted) + len(orphans),
        seconds=time.monotonic() - started,
    )
