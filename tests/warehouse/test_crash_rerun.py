"""A crash between the lake write and the commits, in milliseconds: the real ingest loop over an in-memory
source dies at a chosen point of a chosen batch (a failing double), and a rerun over the same source gives
exactly the warehouse of one clean run. (tests/integration/test_exactly_once.py SIGKILLs a real ingest.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import duckdb
import pytest

from flows.ingest import families_of, ingest_without_kafka, run_ingest
from schemas.events import Family
from streams.consumer import Batch, Membership, Offsets, Partition
from streams.memory import MemorySource, SourceMessage, arrivals
from streams.simulator import SimConfig, simulate
from tests.conftest import new_lake
from tests.lake_contents import assert_same_contents, batches, ledger_totals
from warehouse.lake import LakeConfig
from warehouse.loader import BatchResult, LakeWarehouse

CONFIG = SimConfig(days=1, users=60, channels=3, campaigns=1, seed=11, duplicate_rate=0.05, malformed_rate=0.01)
BATCH = 400
CRASH_AT = 3  # the batch that crashes (1-based)


class Crash(BaseException):
    """The process dies here (a BaseException, like SystemExit: nothing on the way catches it)."""


class _CrashingConnection:
    """The lake connection, raising :class:`Crash` on the ``crash_batch``-th batch's ``statement``."""

    def __init__(self, con: duckdb.DuckDBPyConnection, statement: str, crash_batch: int) -> None:
        self._con = con
        self._statement = statement
        self._crash_batch = crash_batch
        self._batches = 0  # the ledger rows inserted: the batch being written

    def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        if query.startswith("INSERT INTO ingest_batches"):
            self._batches += 1
        if self._batches == self._crash_batch and query.startswith(self._statement):
            raise Crash(f"died at {self._statement!r} of batch {self._batches}")
        return self._con.execute(query, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


class CrashingWarehouse(LakeWarehouse):
    """The lake writer, dying inside the ``crash_batch``-th batch's transaction (at ``statement``: the ledger
    row, written last before the commit, or the ``COMMIT`` itself) or right after it committed (``after``)."""

    def __init__(self, lake: LakeConfig, point: str, crash_batch: int) -> None:
        super().__init__(lake)
        self.point = point
        self.crash_batch = crash_batch
        self.committed = 0
        if point in ("INSERT INTO ingest_batches", "COMMIT"):
            self.con = cast(duckdb.DuckDBPyConnection, _CrashingConnection(self.con, point, crash_batch))

    def load_batch(self, *args: Any, **kwargs: Any) -> BatchResult:
        result = super().load_batch(*args, **kwargs)
        self.committed += 1
        if self.point == "after the lake commit" and self.committed == self.crash_batch:
            raise Crash("died after the lake commit, before the Kafka commit")
        return result


class CrashingSource:
    """The in-memory source, dying in the Kafka commit of the ``crash_batch``-th batch (every call after it
    fails too: the process is gone)."""

    def __init__(self, inner: MemorySource, crash_batch: int) -> None:
        self.inner = inner
        self.crash_batch = crash_batch
        self.commits = 0
        self.dead = False

    def _alive(self) -> None:
        if self.dead:
            raise Crash("the process died in a Kafka commit")

    def partitions(self) -> list[Partition]:
        return self.inner.partitions()

    def assignment(self) -> list[Partition]:
        return self.inner.assignment()

    @property
    def generation(self) -> int:
        return self.inner.generation

    def join(self, membership: Membership) -> None:
        self.inner.join(membership)

    def reposition(self) -> None:
        self.inner.reposition()

    def end_offsets(self) -> Offsets:
        self._alive()
        return self.inner.end_offsets()

    def seek(self, offsets: Offsets) -> None:
        self.inner.seek(offsets)

    def read_batch(self, max_messages: int, until: Offsets, timeout_s: float) -> Batch:
        self._alive()
        return self.inner.read_batch(max_messages, until, timeout_s)

    def commit(self, next_offsets: Offsets) -> None:
        self._alive()
        self.commits += 1
        if self.commits == self.crash_batch:
            self.dead = True
            raise Crash("died in the Kafka commit")
        self.inner.commit(next_offsets)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(scope="module")
def messages() -> list[SourceMessage]:
    return list(arrivals(simulate(CONFIG)))


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, messages: list[SourceMessage]) -> LakeConfig:
    """One clean run of the same messages."""
    lake = new_lake(tmp_path_factory.mktemp("clean"))
    with LakeWarehouse(lake) as warehouse:
        totals = ingest_without_kafka(warehouse, messages, CONFIG.topics, batch_size=BATCH)
    assert totals.batches > CRASH_AT + 1  # the crash falls in the middle of the run
    return lake


@pytest.mark.parametrize(
    "point", ["INSERT INTO ingest_batches", "COMMIT", "after the lake commit", "in the Kafka commit"]
)
def test_a_crash_between_the_lake_write_and_the_commits_then_a_rerun_equals_one_clean_run(
    tmp_path: Path, messages: list[SourceMessage], clean: LakeConfig, point: str
) -> None:
    families: dict[str, Family] = families_of(CONFIG.topics)
    source = MemorySource(messages, list(families))
    lake = new_lake(tmp_path / "crashed")
    in_kafka_commit = point == "in the Kafka commit"
    crashing_source = CrashingSource(source, CRASH_AT)
    warehouse = LakeWarehouse(lake) if in_kafka_commit else CrashingWarehouse(lake, point, CRASH_AT)
    try:
        with pytest.raises(Crash):
            run_ingest(crashing_source if in_kafka_commit else source, warehouse, families, BATCH)
    finally:
        warehouse.close()  # the dead process's connection goes, its open transaction with it
    inside = point in ("INSERT INTO ingest_batches", "COMMIT")
    if in_kafka_commit:  # the loading thread may commit the batch read ahead before it hears of the death
        assert batches(lake) in (CRASH_AT, CRASH_AT + 1)
    else:
        assert batches(lake) == (CRASH_AT - 1 if inside else CRASH_AT)
    with LakeWarehouse(lake) as rerun:
        if not inside:
            # The consumer group never heard of the last batch the lake holds: the rerun must start from
            # the lake's offsets, not the group's.
            assert source.committed != rerun.read_offsets()
        run_ingest(source, rerun, families, BATCH)
    assert_same_contents(lake, clean)
    assert ledger_totals(lake) == ledger_totals(clean)
    assert ledger_totals(clean)[0] == len(messages)
    assert source.committed == {tp: o for tp, o in source.end_offsets().items() if o > 0}
