"""``warehouse.loader.connect``: a failed migration leaves the file free for other processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import warehouse.migrations as migrations
from warehouse.loader import connect


def test_a_failed_migration_closes_the_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "warehouse.duckdb"
    connect(path).close()  # migrated to the current version

    def broken(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("SELECT * FROM no_such_table")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, (999, "broken on purpose", broken)])
    with pytest.raises(duckdb.CatalogException, match="no_such_table") as failure:
        connect(path)
    # The caller still holds the exception, hence its traceback and the frames it references (as a
    # long-running `liveops serve` does while it logs and retries).
    assert failure.tb is not None

    # Another process can open the file: the failed connection does not hold DuckDB's write lock.
    opened = subprocess.run(
        [sys.executable, "-c", f"import duckdb; duckdb.connect({str(path)!r}, read_only=True).close()"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    with duckdb.connect(str(path), read_only=True) as con:
        versions = [row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()]
    assert 999 not in versions
