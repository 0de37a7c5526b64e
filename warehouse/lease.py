"""A lease in the lake's catalog: one marts build at a time, whichever process or machine starts it.

A build replaces each day's marts in its own transaction; two builds at once would each be correct alone
but could interleave their days (and both would do the work). The lease is a row of ``leases``: taken in
a lake transaction, released at the end, and stale after its expiry (a build that died cannot hold it for
ever; a live one renews it as it goes). Two processes may both see no lease and insert one in the same
instant (appends to one table do not conflict in DuckLake), so after committing each reads the live rows
again: the earliest (acquired_at, holder) keeps the lease, the other withdraws its row and is refused.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import duckdb

from warehouse.lake import WarehouseBusy, committed

BUILD = "marts-build"
TTL = timedelta(minutes=30)


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _live(con: duckdb.DuckDBPyConnection, name: str, now: datetime) -> list[tuple[str, datetime, datetime]]:
    rows = con.execute(
        "SELECT holder, acquired_at, expires_at FROM leases WHERE name = ? AND expires_at > ? "
        "ORDER BY acquired_at, holder",
        [name, now],
    ).fetchall()
    return [(str(h), a, e) for h, a, e in rows]


class Lease:
    """A lease held by this process: :meth:`renew` it during long work."""

    def __init__(self, con: duckdb.DuckDBPyConnection, name: str, holder: str, ttl: timedelta) -> None:
        self.con, self.name, self.holder, self.ttl = con, name, holder, ttl

    def renew(self) -> None:
        until = datetime.now(UTC) + self.ttl
        sql = "UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ?"
        committed(self.con, lambda c: c.execute(sql, [until, self.name, self.holder]), "build lease")

    def release(self) -> None:
        sql = "DELETE FROM leases WHERE name = ? AND holder = ?"
        committed(self.con, lambda c: c.execute(sql, [self.name, self.holder]), "build lease")


def _refusal(name: str, holder: str, acquired: datetime, expires: datetime) -> WarehouseBusy:
    return WarehouseBusy(
        f"another {name} is running ({holder}, since {acquired:%Y-%m-%d %H:%M:%S} UTC): wait for it to finish "
        f"(its lease expires at {expires:%H:%M:%S} UTC if it died)"
    )


@contextmanager
def lease(con: duckdb.DuckDBPyConnection, name: str = BUILD, ttl: timedelta = TTL) -> Iterator[Lease]:
    """Hold the lease ``name`` for the block.

    Raises:
        WarehouseBusy: another holder has it (the message says who, since when, and when it expires).
    """
    holder = _holder()
    now = datetime.now(UTC)

    def take(c: duckdb.DuckDBPyConnection) -> None:
        live = _live(c, name, now)
        if live:
            raise _refusal(name, *live[0])
        c.execute("DELETE FROM leases WHERE name = ? AND expires_at <= ?", [name, now])
        c.execute("INSERT INTO leases VALUES (?, ?, ?, ?)", [name, holder, now, now + ttl])

    committed(con, take, "build lease")  # a commit clash is retried; a lease held by another build is not
    first = _live(con, name, datetime.now(UTC))
    held = Lease(con, name, holder, ttl)
    if first and first[0][0] != holder:  # lost an exact race: withdraw
        held.release()
        raise _refusal(name, *first[0])
    try:
        yield held
    finally:
        held.release()
