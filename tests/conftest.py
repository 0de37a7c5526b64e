"""Shared fixtures: a real Kafka broker for the session, a fresh DuckDB file per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from liveops.settings import Settings
from streams.broker import LocalBroker, free_port

# Prefect and friends must never wait on the network from a test.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def local_broker(home: Path, heap: str = "768m") -> Iterator[LocalBroker]:
    """A real single-node KRaft broker on free ports under ``home``, the code `liveops kafka up` runs; stopped
    on exit. The jars are cached in the repository's `.liveops/jars` (git-ignored), as for users."""
    port = free_port()
    controller = free_port()
    while controller == port:
        controller = free_port()
    broker = LocalBroker(
        home=home, jars_cache=REPO / ".liveops" / "jars", port=port, controller_port=controller, partitions=3,
        heap=heap,
    )  # fmt: skip
    broker.up(timeout=120)
    try:
        yield broker
    finally:
        broker.down()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """The session's broker (:func:`local_broker`)."""
    with local_broker(tmp_path_factory.mktemp("kafka")) as broker:
        yield broker


@pytest.fixture
def settings(tmp_path: Path, kafka_broker: LocalBroker, request: pytest.FixtureRequest) -> Settings:
    """Settings pointing at the session broker, with topic names unique to this test and files under tmp_path."""
    suffix = request.node.name.replace("[", "-").replace("]", "")[:40] + "-" + os.urandom(3).hex()
    return Settings(
        bootstrap_servers=kafka_broker.bootstrap,
        topics={  # type: ignore[arg-type]
            "viewer": f"viewer-{suffix}", "engagement": f"engagement-{suffix}",
            "campaign": f"campaign-{suffix}", "stream": f"stream-{suffix}",
        },
        consumer_group=f"liveops-test-{suffix}",
        duckdb_path=tmp_path / "warehouse.duckdb",
        reports_dir=tmp_path / "reports",
        kafka_home=tmp_path / "unused-kafka-home",
    )  # fmt: skip


@pytest.fixture
def duckdb_path(tmp_path: Path) -> Path:
    """Path of a fresh DuckDB file for this test (not created yet)."""
    return tmp_path / "warehouse.duckdb"
