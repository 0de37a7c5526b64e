"""The lake's extensions load from the installed wheels, and a DuckLake catalog on SQLite works end to end."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from liveops.query import QueryRefused, check_read_only
from warehouse.extensions import ExtensionUnavailableError, extension_file, lake_connection, load_lake_extensions

_READER = textwrap.dedent(
    """
    import sys, time
    import duckdb
    from warehouse.extensions import load_lake_extensions
    catalog, data, deadline = sys.argv[1], sys.argv[2], time.monotonic() + 30
    seen = []
    while time.monotonic() < deadline:
        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")  # stdout carries the result
        load_lake_extensions(con)
        con.execute(f"ATTACH 'ducklake:sqlite:{catalog}' AS lake (DATA_PATH '{data}', READ_ONLY)")
        n, total = con.execute("SELECT count(*), coalesce(sum(a), 0) FROM lake.t").fetchone()
        con.close()
        assert total == n * (n + 1) // 2, (n, total)  # a committed prefix 1..n, never half a commit
        seen.append(n)
        if len(seen) == 1:
            print("ready", flush=True)
        if n >= 20:
            break
        time.sleep(0.02)
    print(len(seen), len(set(seen)), max(seen))
    """
)


def _attach(con: duckdb.DuckDBPyConnection, tmp_path: Path, *, read_only: bool = False) -> None:
    options = f"DATA_PATH '{tmp_path / 'data'}/'" + (", READ_ONLY" if read_only else "")
    con.execute(f"ATTACH 'ducklake:sqlite:{tmp_path / 'catalog.sqlite'}' AS lake ({options})")


def test_extensions_load_from_the_wheels_with_network_loading_off() -> None:
    with duckdb.connect() as con:
        load_lake_extensions(con, postgres=True, httpfs=True)
        loaded = {
            row[0] for row in con.execute("SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall()
        }
        settings = dict(
            con.execute(
                "SELECT name, value FROM duckdb_settings() "
                "WHERE name IN ('autoinstall_known_extensions', 'autoload_known_extensions')"
            ).fetchall()
        )
    assert {"ducklake", "sqlite_scanner", "postgres_scanner", "httpfs"} <= loaded
    assert settings == {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
    assert extension_file("ducklake").parent.name == f"v{duckdb.__version__}"


def test_optional_extensions_are_loaded_only_when_asked() -> None:
    with duckdb.connect() as con:
        load_lake_extensions(con)
        loaded = {
            row[0] for row in con.execute("SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall()
        }
    assert {"ducklake", "sqlite_scanner"} <= loaded
    assert not {"postgres_scanner", "httpfs"} & loaded


def test_a_postgres_catalog_does_not_load_the_sqlite_scanner() -> None:
    # Each LOAD checks a ~35 MB signature: an extension the lake does not use costs start-up time.
    with duckdb.connect() as con:
        load_lake_extensions(con, sqlite=False, postgres=True)
        loaded = {
            row[0] for row in con.execute("SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall()
        }
    assert {"ducklake", "postgres_scanner"} <= loaded
    assert not {"sqlite_scanner", "httpfs"} & loaded


def test_the_lake_connection_loads_the_wheels_files_and_nothing_by_itself(tmp_path: Path) -> None:
    # No signature check on this connection (the wheels' own files, see warehouse/extensions.py), so it must
    # load nothing on its own, and `liveops query` must refuse a LOAD or INSTALL of anything else.
    with lake_connection() as con:
        settings = dict(
            con.execute(
                "SELECT name, value FROM duckdb_settings() WHERE name IN "
                "('allow_unsigned_extensions', 'autoinstall_known_extensions', 'autoload_known_extensions')"
            ).fetchall()
        )
        assert settings == {
            "allow_unsigned_extensions": "true",
            "autoinstall_known_extensions": "false",
            "autoload_known_extensions": "false",
        }
        load_lake_extensions(con)
        _attach(con, tmp_path)
        con.execute("CREATE TABLE lake.t AS SELECT 1 AS a")
        assert con.execute("SELECT a FROM lake.t").fetchall() == [(1,)]
        with pytest.raises(duckdb.Error, match="httpfs"):  # not loaded, and not installed or loaded by itself
            con.execute("SELECT * FROM read_csv('https://example.invalid/a.csv')").fetchall()
    for statement in (f"LOAD '{tmp_path / 'evil.duckdb_extension'}'", "INSTALL spatial", "FORCE INSTALL httpfs"):
        with pytest.raises(QueryRefused):
            check_read_only(statement)


def test_an_unknown_extension_is_a_clear_error() -> None:
    with pytest.raises(ExtensionUnavailableError, match="unknown DuckDB extension 'spatial'"):
        extension_file("spatial")


def test_a_ducklake_catalog_on_sqlite_is_written_and_read(tmp_path: Path) -> None:
    with duckdb.connect() as con:
        load_lake_extensions(con)
        _attach(con, tmp_path)
        con.execute("CREATE TABLE lake.t (a INTEGER, s VARCHAR)")
        con.execute("INSERT INTO lake.t VALUES (1, 'x'), (2, '直播')")  # small: DuckLake may inline it
        con.execute("INSERT INTO lake.t SELECT i, 'bulk' FROM range(3, 10003) AS r(i)")
    assert list((tmp_path / "data").rglob("*.parquet")), "DuckLake wrote no Parquet data file"
    with duckdb.connect() as con:
        load_lake_extensions(con)
        _attach(con, tmp_path, read_only=True)
        assert con.execute("SELECT a, s FROM lake.t WHERE a <= 3 ORDER BY a").fetchall() == [
            (1, "x"),
            (2, "直播"),
            (3, "bulk"),
        ]
        assert con.execute("SELECT count(*), sum(a) FROM lake.t").fetchone() == (10002, 10002 * 10003 // 2)


def test_another_process_reads_committed_snapshots_while_this_one_writes(tmp_path: Path) -> None:
    with duckdb.connect() as con:
        load_lake_extensions(con)
        _attach(con, tmp_path)
        con.execute("CREATE TABLE lake.t (a INTEGER)")
        con.execute("INSERT INTO lake.t VALUES (1)")
        reader = subprocess.Popen(
            [sys.executable, "-c", _READER, str(tmp_path / "catalog.sqlite"), f"{tmp_path / 'data'}/"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert reader.stdout is not None
            ready = reader.stdout.readline()
            assert ready == "ready\n", reader.communicate(timeout=60)[1]  # it read once: now write while it reads
            for a in range(2, 21):
                con.execute("BEGIN")
                con.execute("INSERT INTO lake.t VALUES (?)", [a])
                con.execute("COMMIT")
                time.sleep(0.05)
            out, err = reader.communicate(timeout=60)
        finally:
            if reader.poll() is None:
                reader.kill()
                reader.communicate()
    assert reader.returncode == 0, err
    reads, distinct, last = (int(x) for x in out.split())
    assert last == 20
    assert distinct >= 2, f"the reader saw one snapshot only ({reads} reads): it did not read while we wrote"
