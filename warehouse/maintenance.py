"""Lake maintenance: compact small files, expire old snapshots, delete files nothing refers to any more.

Every ingest batch and every day's marts write new Parquet files (micro-batches make many small ones), and
a replaced day leaves deleted rows behind. Reads slow down as files pile up; maintenance keeps them few:

1. flush rows DuckLake kept inline in the catalog (small commits) into Parquet files;
2. rewrite files with many deleted rows, and merge adjacent small files of a table into larger ones;
3. expire snapshots older than the retention (time travel reaches back that far, no further);
4. delete the files only expired snapshots referred to, and orphaned files of failed writes (older than an
   hour, so that a commit in flight elsewhere keeps its files).

Each step commits on its own, so concurrent ingest and builds keep working; a step that clashes with one of
their commits is retried, and one that still fails is reported while the others run (the next run does it).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import duckdb

from warehouse.lake import LAKE, CommitConflict, WarehouseError, is_conflict, retry_busy

log = logging.getLogger(__name__)

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
    failed: tuple[str, ...] = ()

    def line(self) -> str:
        failed = f"; FAILED (next run retries): {', '.join(self.failed)}" if self.failed else ""
        return (
            f"maintenance: {self.files_before:,} -> {self.files_after:,} data files "
            f"({self.files_merged:,} merged, {self.rows_flushed:,} inlined rows flushed), "
            f"{self.snapshots_expired:,} snapshot(s) expired, {self.files_deleted:,} old file(s) deleted "
            f"in {self.seconds:.1f} s{failed}"
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
    """Run every maintenance step on the lake ``con`` attaches (read-write), keeping ``retention`` of history.

    A step that clashes with another writer's commit is retried (:func:`warehouse.lake.retry_busy`); one
    that still fails is reported in :attr:`MaintenanceResult.failed` and the other steps run anyway.
    """
    started = time.monotonic()
    before = live_files(con)
    failed: list[str] = []

    def once(sql: str) -> list[tuple[Any, ...]]:
        try:
            return con.execute(sql).fetchall()
        except duckdb.Error as exc:
            if is_conflict(exc):
                raise CommitConflict(str(exc)) from exc
            raise

    def step(name: str, sql: str) -> list[tuple[Any, ...]]:
        try:
            return retry_busy(lambda: once(sql), f"maintenance: {name}", attempts=4)
        except (duckdb.Error, WarehouseError) as exc:
            log.warning("maintenance step %s failed (the next run does it): %s", name, exc)
            failed.append(name)
            return []

    keep, orphan_age = _seconds(retention), _seconds(ORPHAN_AGE)
    flushed = step("flush inlined rows", f"CALL ducklake_flush_inlined_data('{LAKE}')")
    rewritten = step("rewrite files with deletes", f"CALL ducklake_rewrite_data_files('{LAKE}')")
    merged = step("merge small files", f"CALL ducklake_merge_adjacent_files('{LAKE}')")
    expired = step(
        "expire snapshots", f"CALL ducklake_expire_snapshots('{LAKE}', older_than => now() - to_seconds({keep}))"
    )
    deleted = step("delete old files", f"CALL ducklake_cleanup_old_files('{LAKE}', cleanup_all => true)")
    orphans = step(
        "delete orphaned files",
        f"CALL ducklake_delete_orphaned_files('{LAKE}', older_than => now() - to_seconds({orphan_age}))",
    )
    return MaintenanceResult(
        files_before=before,
        files_after=live_files(con),
        rows_flushed=sum(int(r[2]) for r in flushed),
        files_merged=sum(int(r[2]) for r in merged) + sum(int(r[2]) for r in rewritten),
        snapshots_expired=len(expired),
        files_deleted=len(deleted) + len(orphans),
        seconds=time.monotonic() - started,
        failed=tuple(failed),
    )
