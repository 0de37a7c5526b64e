"""The ingest loop's own settings: what it changes in the process while it runs, and gives back."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from config.settings import Topics
from flows.ingest import _SWITCH_INTERVAL_S, IngestProgress, ingest_without_kafka
from streams.memory import arrivals
from streams.simulator import SimMessage
from tests.conftest import new_lake
from tests.wire import encode, wire_event
from warehouse.loader import LakeWarehouse


def test_the_gil_switch_interval_is_short_while_ingest_runs_and_restored_after(tmp_path: Path) -> None:
    emitted = datetime(2026, 11, 1, 10, tzinfo=UTC)
    messages = [SimMessage("engagement-events", b"k", encode(wire_event("like")), emitted) for _ in range(5)]
    seen: list[float] = []

    def progress(_: IngestProgress) -> None:
        seen.append(sys.getswitchinterval())

    before = sys.getswitchinterval()
    assert before > _SWITCH_INTERVAL_S  # CPython's default, 5 ms
    with LakeWarehouse(new_lake(tmp_path / "w")) as warehouse:
        totals = ingest_without_kafka(
            warehouse, arrivals(messages), Topics().model_dump(), batch_size=2, progress=progress
        )
    assert totals.loaded == 5 and seen and all(s == _SWITCH_INTERVAL_S for s in seen)
    assert sys.getswitchinterval() == before
