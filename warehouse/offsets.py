"""Ingest's offsets in the lake: one table per Kafka partition, and the fence that keeps a partition's
batches in order whatever number of consumers write them.

Why one table per partition: a lake table has no row locks. Two writers that change rows of one shared
table conflict on every commit (DuckLake sees both delete the table's inlined rows), so members of a
consumer group, each writing its own partitions, would keep refusing each other. Tables of their own make
writers of different partitions independent, and writers of the *same* partition conflict, which is exactly
what the fence needs.

The fence: a batch read from offset ``start`` of a partition may commit only while the lake's offset of that
partition is still ``start``. A member that lost its partitions while it was stalled (a "zombie": Kafka
gave them to another member after its session timed out) finds the offset moved and its batch is refused
(:class:`StaleBatch`); if both commit at the same moment, their updates of the partition's table conflict,
one is rolled back, and its retry finds the offset moved. Kafka's own fencing covers only Kafka's commits.

Tables are ``offsets."<topic>/<partition>"``, each with one row; the view ``ingest_offsets`` (topic,
partition, next_offset, member, batch_id, committed_at) shows them together for analysts and tools.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import duckdb

from warehouse.lake import LAKE, committed

Offsets = dict[tuple[str, int], int]
Partition = tuple[str, int]

SCHEMA = "offsets"
VIEW = "ingest_offsets"


class StaleBatch(Exception):
    """A batch's partitions moved on in the lake since it was read (another member owns them now)."""

    def __init__(self, partitions: dict[Partition, tuple[int, int]]) -> None:
        self.partitions = partitions  # (topic, partition) -> (batch start, lake offset)
        moved = ", ".join(f"{t}[{p}] read from {start}, lake at {now}" for (t, p), (start, now) in partitions.items())
        super().__init__(f"the batch is stale, another member committed first: {moved}")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_name(partition: Partition) -> str:
    """The offsets table of one partition, qualified by its schema."""
    topic, number = partition
    return f"{SCHEMA}.{_quote(f'{topic}/{number}')}"


def _known(con: duckdb.DuckDBPyConnection) -> set[Partition]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = ?", [LAKE, SCHEMA]
    ).fetchall()
    known = set()
    for (name,) in rows:
        topic, _, number = str(name).rpartition("/")
        known.add((topic, int(number)))
    return known


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """The schema and an empty view (a migration step: runs inside its transaction)."""
    con.execute(f"CREATE SCHEMA {SCHEMA}")
    _create_view(con, [])


def _create_view(con: duckdb.DuckDBPyConnection, partitions: Iterable[Partition]) -> None:
    selects = [
        f'SELECT {_literal(t)} AS topic, {p}::INTEGER AS "partition", next_offset, member, batch_id, committed_at '
        f"FROM {table_name((t, p))}"
        for t, p in sorted(partitions)
    ]
    body = " UNION ALL ".join(selects) or (
        'SELECT NULL::VARCHAR AS topic, NULL::INTEGER AS "partition", NULL::BIGINT AS next_offset, '
        "NULL::VARCHAR AS member, NULL::VARCHAR AS batch_id, NULL::TIMESTAMPTZ AS committed_at WHERE false"
    )
    con.execute(f"CREATE OR REPLACE VIEW main.{VIEW} AS {body}")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def add_partitions(
    con: duckdb.DuckDBPyConnection, partitions: Iterable[Partition], offsets: Offsets | None = None
) -> None:
    """Create the tables of ``partitions`` the lake lacks (inside the caller's transaction), each with its row
    (``next_offset`` from ``offsets``, else NULL: never read), and the view over all of them."""
    known = _known(con)
    new = sorted(set(partitions) - known)
    if not new:
        return
    for tp in new:
        con.execute(
            f"CREATE TABLE {table_name(tp)} (next_offset BIGINT, member VARCHAR, batch_id VARCHAR, committed_at TIMESTAMPTZ)"
        )
        con.execute(f"INSERT INTO {table_name(tp)} VALUES (?, NULL, NULL, NULL)", [(offsets or {}).get(tp)])
    _create_view(con, known | set(new))


def ensure_partitions(con: duckdb.DuckDBPyConnection, partitions: Iterable[Partition]) -> None:
    """Make sure every partition has its offsets table (several members may race to create them: retried)."""
    wanted = set(partitions)
    if wanted <= _known(con):
        return

    committed(con, lambda c: add_partitions(c, wanted), "creating offsets tables")


def read_offsets(con: duckdb.DuckDBPyConnection, partitions: Iterable[Partition] | None = None) -> Offsets:
    """The next offset to read of each partition the lake has read from (of ``partitions``, if given)."""
    rows = con.execute(f'SELECT topic, "partition", next_offset FROM {VIEW} WHERE next_offset IS NOT NULL').fetchall()
    stored = {(str(t), int(p)): int(o) for t, p, o in rows}
    if partitions is None:
        return stored
    wanted = set(partitions)
    return {tp: o for tp, o in stored.items() if tp in wanted}


def advance(
    con: duckdb.DuckDBPyConnection, start: Offsets | None, next_offsets: Offsets, batch_id: str, member: str
) -> None:
    """Move each partition of a batch from ``start`` to ``next_offsets``, inside the caller's transaction
    (``start`` None: the caller is the partitions' only writer, nothing to check).

    Raises:
        StaleBatch: a partition's lake offset is not the batch's start (the caller's transaction must roll
            back; nothing of the batch may be kept).
    """
    now = datetime.now(UTC)
    stale: list[Partition] = []
    for tp, offset in sorted(next_offsets.items()):
        # One statement per partition: it moves the offset only from where the batch started (NULL: never
        # read, the batch starts wherever the log starts); no row changed means another member moved it.
        where = "" if start is None else " WHERE next_offset IS NULL OR next_offset = ?"
        changed = con.execute(
            f"UPDATE {table_name(tp)} SET next_offset = ?, member = ?, batch_id = ?, committed_at = ?{where}",
            [offset, member, batch_id, now, *([] if start is None else [start[tp]])],
        ).fetchone()
        if not changed or changed[0] != 1:
            stale.append(tp)
    if stale and start is not None:
        stored = read_offsets(con, stale)
        raise StaleBatch({tp: (start[tp], stored.get(tp, -1)) for tp in stale})


def record_unread(con: duckdb.DuckDBPyConnection, positions: Offsets, member: str) -> None:
    """Record where partitions never read stand (inside the caller's transaction): a partition whose
    messages all expired before liveops read any has nothing to load, yet draining ingest must see it done."""
    now = datetime.now(UTC)
    for tp, offset in sorted(positions.items()):
        con.execute(
            f"UPDATE {table_name(tp)} SET next_offset = ?, member = ?, committed_at = ? WHERE next_offset IS NULL",
            [offset, member, now],
        )
