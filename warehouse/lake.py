"""The warehouse's one door: attach the DuckLake, run a transaction, say when the warehouse is busy.

The warehouse is a DuckLake (docs/warehouse.md): a SQL catalog (SQLite by default, PostgreSQL to scale) and
Parquet files under a data path (a local folder or an S3-compatible bucket). Every process opens an
in-memory DuckDB, attaches the lake as ``lake`` and makes it the default database, so the warehouse's SQL
names tables without a prefix. Readers and writers work on snapshots: analysts read while the pipeline
writes, and several processes may write at once (DuckLake retries a commit that does not conflict).

Why SQLite in WAL mode is the default catalog: it needs no server, and in WAL mode a reader never waits on a
writer's commit (measured: with a writer committing 200 batches, a reader's query took 27 ms at the median
in WAL mode against 1.03 s with SQLite's default rollback journal, and the writer ran 2.3x faster).
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import duckdb

from warehouse.conninfo import mask_passwords
from warehouse.extensions import lake_connection, load_lake_extensions

log = logging.getLogger(__name__)
T = TypeVar("T")

LAKE = "lake"  # the name the lake is attached under in every connection


class WarehouseError(Exception):
    """The warehouse cannot be opened or used; the message says what to do (shown without a traceback)."""


class WarehouseBusy(WarehouseError):
    """Another process holds what this one needs (a conflicting commit, the build lease)."""


class CommitConflict(WarehouseBusy):
    """A commit failed because another writer committed at the same moment (SQLite's lock, or DuckLake's
    conflict check): nothing of the transaction was kept, and running it again is safe (:func:`retry_busy`)."""


# What DuckDB says when another writer's commit got in the way (SQLite: "database is locked").
_BUSY_MARKERS = ("database is locked", "transaction conflict", "failed to commit ducklake transaction")


def is_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` is a transient clash with another writer (worth running the transaction again)."""
    return isinstance(exc, CommitConflict) or (
        isinstance(exc, duckdb.Error) and any(m in str(exc).lower() for m in _BUSY_MARKERS)
    )


@dataclass(frozen=True)
class S3Location:
    """An S3-compatible object store for the lake's data files (keys are secrets: never shown)."""

    endpoint: str | None
    key_id: str
    secret: str = field(repr=False)
    region: str = "us-east-1"
    url_style: str = "path"
    use_ssl: bool = True


@dataclass(frozen=True)
class LakeConfig:
    """Where the lake lives: its catalog (``sqlite:PATH`` or ``postgres:CONNINFO``) and its data path.

    The PostgreSQL password is kept apart from the connection string, in a DuckDB secret, so that it never
    appears in a query's text or an error message.
    """

    catalog: str
    data_path: str
    catalog_password: str | None = field(default=None, repr=False)
    s3: S3Location | None = None

    @property
    def kind(self) -> str:
        """``sqlite`` or ``postgres``."""
        return self.catalog.split(":", 1)[0]

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite catalog file, for the default catalog."""
        return Path(self.catalog.split(":", 1)[1]) if self.kind == "sqlite" else None

    def describe(self) -> str:
        """The catalog and data path as a user may be shown them (no password)."""
        return f"{mask_passwords(self.catalog)} (data: {self.data_path})"

    def check(self) -> None:
        """Refuse a catalog this version cannot use, saying which ones it can."""
        if self.kind not in ("sqlite", "postgres") or ":" not in self.catalog:
            raise WarehouseError(
                f"LIVEOPS_LAKE_CATALOG={self.catalog!r} is not a catalog liveops can use: give "
                "'sqlite:PATH' (the default, no server) or 'postgres:dbname=... host=... port=... user=...'"
            )

    def attach_sql(self, *, read_only: bool = False, snapshot: int | None = None, at: datetime | None = None) -> str:
        """The ``ATTACH`` statement for this lake (the DuckDB CLI, Python and DBeaver run the same one)."""
        options = [f"DATA_PATH {_literal(self.data_path)}"]
        if self.kind == "postgres" and self.catalog_password is not None:
            options.append("META_SECRET 'liveops_catalog'")
        if read_only:
            options.append("READ_ONLY")
        if snapshot is not None:
            options.append(f"SNAPSHOT_VERSION {int(snapshot)}")
        if at is not None:
            options.append(f"SNAPSHOT_TIME {_literal(at.isoformat())}")
        return f"ATTACH {_literal('ducklake:' + self.catalog)} AS {LAKE} ({', '.join(options)})"


def lake_exists(config: LakeConfig) -> bool:
    """Whether the lake has been created (a PostgreSQL catalog is taken to exist: attaching tells)."""
    path = config.sqlite_path
    return path is None or path.exists()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _create_sqlite(path: Path) -> None:
    """Create a new SQLite catalog file in WAL mode (kept in the file), so readers never wait on commits.

    Only ever on a file that does not exist yet: a second SQLite library (Python's) opening a file DuckDB's
    SQLite has open in the same process can corrupt it (closing a file releases every POSIX lock the process
    holds on it), so liveops never touches an existing catalog file except through DuckDB.
    """
    import sqlite3  # here: only a writer creating a lake needs it, not every reader's start-up

    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(path)) as con:
        con.execute("PRAGMA journal_mode=WAL")


def _secrets(con: duckdb.DuckDBPyConnection, config: LakeConfig) -> None:
    if config.kind == "postgres" and config.catalog_password is not None:
        con.execute(
            "CREATE OR REPLACE TEMPORARY SECRET liveops_catalog (TYPE postgres, PASSWORD $password)",
            {"password": config.catalog_password},
        )
    if config.s3 is not None:
        s3 = config.s3
        con.execute(
            "CREATE OR REPLACE TEMPORARY SECRET liveops_s3 (TYPE s3, KEY_ID $key, SECRET $secret, REGION $region, "
            "ENDPOINT $endpoint, URL_STYLE $style, USE_SSL $ssl)",
            {
                "key": s3.key_id, "secret": s3.secret, "region": s3.region, "endpoint": s3.endpoint or "",
                "style": s3.url_style, "ssl": s3.use_ssl,
            },
        )  # fmt: skip


def open_lake(
    config: LakeConfig,
    *,
    read_only: bool = False,
    snapshot: int | None = None,
    at: datetime | None = None,
    migrate: bool = True,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the lake attached as the default database, migrated unless read-only.

    Args:
        config: where the lake lives.
        read_only: attach read-only (analysts, reports); such a connection cannot write by mistake.
        snapshot: read the lake as of this snapshot id (time travel; read-only).
        at: read the lake as of this moment (time travel; read-only).
        migrate: apply missing migrations (writers).

    Raises:
        WarehouseError: the catalog cannot be reached or is not a lake; the message says what to do.
    """
    config.check()
    time_travel = snapshot is not None or at is not None
    read_only = read_only or time_travel
    sqlite_path = config.sqlite_path
    if sqlite_path is not None:
        if read_only and not sqlite_path.exists():
            raise WarehouseError(
                f"no warehouse at {sqlite_path} yet: run `liveops ingest` and `liveops build` first "
                "(or `scripts/demo`), or set LIVEOPS_LAKE_CATALOG to the lake you mean"
            )
        if not read_only and not sqlite_path.exists():
            _create_sqlite(sqlite_path)
    if config.s3 is None and not read_only:
        Path(config.data_path).mkdir(parents=True, exist_ok=True)
    con = lake_connection()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        load_lake_extensions(
            con, sqlite=config.kind == "sqlite", postgres=config.kind == "postgres", httpfs=config.s3 is not None
        )
        _secrets(con, config)

        def attach() -> None:
            try:
                con.execute(config.attach_sql(read_only=read_only, snapshot=snapshot, at=at))
            except duckdb.Error as exc:
                # A new lake being created by another writer at the same moment (SQLite: locked; PostgreSQL:
                # the other's metadata tables appeared meanwhile): try again, it then finds the lake.
                if is_conflict(exc) or (not read_only and "already exists" in str(exc)):
                    raise CommitConflict(mask_passwords(str(exc), config.catalog_password)) from None
                raise WarehouseError(_attach_advice(config, exc)) from None

        retry_busy(attach, "opening the warehouse")
        con.execute(f"USE {LAKE}")
        if migrate and not read_only:
            from warehouse.migrations import migrate as apply_migrations  # (Polars: only writers pay for it)

            # Several writers opening a new lake at once (members of a group starting together) race to
            # migrate it: the loser's commit conflicts, and its retry finds the migrations done.
            retry_busy(lambda: apply_migrations(con), "migrating the warehouse")
    except BaseException:
        con.close()
        raise
    return con


def _attach_advice(config: LakeConfig, exc: duckdb.Error) -> str:
    # DuckDB's message repeats the connection string (a password written into it included): masked here.
    raw = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    text = mask_passwords(raw, config.catalog_password, config.s3.secret if config.s3 else None)
    if "explicitly disabled" in text or "does not exist - and creating" in text:  # read-only, no lake there yet
        return (
            f"no warehouse in {config.describe()} yet: run `liveops ingest` and `liveops build` first, "
            "or set LIVEOPS_LAKE_CATALOG to the lake you mean"
        )
    if "snapshot" in text.lower():
        return f"cannot read the warehouse at that snapshot: {text} (`liveops warehouse snapshots` lists them)"
    return f"cannot open the warehouse {config.describe()}: {text}"


def second_connection(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Another connection to the same attached lake (for a worker thread): lake as default, times in UTC."""
    cursor = con.cursor()
    cursor.execute("SET TimeZone = 'UTC'")
    cursor.execute(f"USE {LAKE}")
    return cursor


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One lake transaction: committed when the block ends, rolled back when it raises.

    A commit that conflicts with another writer's (DuckLake has already retried it) raises
    :class:`WarehouseBusy`; nothing of the block is kept.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException as exc:
        _rollback(con)
        if is_conflict(exc) and not isinstance(exc, WarehouseBusy):
            raise CommitConflict(f"another process was writing to the warehouse at the same moment: {exc}") from exc
        raise
    try:
        con.execute("COMMIT")
    except duckdb.Error as exc:
        _rollback(con)
        if is_conflict(exc):
            raise CommitConflict(f"another process was writing to the warehouse at the same moment: {exc}") from exc
        raise


def retry_busy(work: Callable[[], T], what: str, attempts: int = 10, first_wait_s: float = 0.2) -> T:
    """Run ``work`` (one or more whole transactions), again when it hits a :class:`CommitConflict`.

    Each try waits longer (doubling, with jitter, capped at 10 s): about a minute in all before the last
    conflict is raised. Only transient clashes are retried; anything else (the build lease held by another
    build included) is raised at once.
    """
    wait = first_wait_s
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except (CommitConflict, duckdb.Error) as exc:
            if not is_conflict(exc) or attempt == attempts:
                raise
            log.debug("%s: %s; try %d of %d in %.1f s", what, exc, attempt + 1, attempts, wait)
            time.sleep(wait * random.uniform(0.5, 1.5))
            wait = min(10.0, wait * 2)
    raise AssertionError("unreachable")


def committed(con: duckdb.DuckDBPyConnection, work: Callable[[duckdb.DuckDBPyConnection], T], what: str) -> T:
    """Run ``work(con)`` in one :func:`transaction`, and again (a new transaction) after a commit conflict.

    The one way the warehouse writes a small unit of work: ``committed(con, lambda c: c.execute(...), "what")``.
    ``what`` names the work in the error if the conflicts never end.
    """

    def once() -> T:
        with transaction(con):
            return work(con)

    return retry_busy(once, what)


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.TransactionException):  # a failed COMMIT has already ended it
        con.execute("ROLLBACK")


def current_snapshot(con: duckdb.DuckDBPyConnection) -> int:
    """The id of the lake snapshot this connection reads (the latest one, unless attached at a snapshot)."""
    row = con.execute(f"SELECT id FROM {LAKE}.current_snapshot()").fetchone()
    return int(row[0]) if row else 0


def snapshots(con: duckdb.DuckDBPyConnection, limit: int = 20) -> list[tuple[int, datetime, str]]:
    """The latest snapshots: id, time and what changed, newest first."""
    rows = con.execute(
        f"SELECT snapshot_id, snapshot_time, changes::VARCHAR FROM {LAKE}.snapshots() "
        "ORDER BY snapshot_id DESC LIMIT ?",
        [limit],
    ).fetchall()
    return [(int(i), t, str(c)) for i, t, c in rows]
