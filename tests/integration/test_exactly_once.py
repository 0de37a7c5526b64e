"""Exactly once, against the real broker: SIGKILL an ingest at random points, rerun, compare with one clean run.

Also: a broker restart during a run ends with the run completing or with a clear error, and the rerun
completes with nothing lost.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from config.settings import Settings
from flows.ingest import ingest_once
from streams.broker import LocalBroker, create_topics
from streams.producer import produce
from streams.simulator import SimConfig, simulate
from tests.conftest import fresh_lake, lake_env, lake_settings
from tests.lake_contents import assert_same_contents, ledger_totals
from tests.postgres import PASSWORD, PostgresServer
from warehouse.lake import LakeConfig, open_lake

pytestmark = pytest.mark.kafka


def fill_topics(settings: Settings, target_events: int, seed: int, partitions: int = 3, users: int = 3000) -> int:
    config = SimConfig(
        days=2, users=users, channels=12, campaigns=3, seed=seed, target_events=target_events,
        topics=settings.topics.by_family(), duplicate_rate=0.02, malformed_rate=0.002,
    )  # fmt: skip
    create_topics(settings.kafka_client_config(), list(settings.topics.by_family().values()), partitions)
    return produce(simulate(config), settings.kafka_client_config())


def another_lake(lake: LakeConfig, folder: Path, request: pytest.FixtureRequest) -> LakeConfig:
    """A second empty lake of the same kind as ``lake`` (a new PostgreSQL database, or a new SQLite catalog)."""
    if lake.kind == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres")
        return LakeConfig(f"postgres:{server.new_database()}", f"{folder / 'lake-files'}/", PASSWORD)
    return fresh_lake(folder, request.getfixturevalue("lake_template"))


def ingest_env(settings: Settings, lake: LakeConfig, group: str, batch_size: int) -> dict[str, str]:
    return os.environ | {
        "LIVEOPS_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "LIVEOPS_TOPICS__VIEWER": settings.topics.viewer,
        "LIVEOPS_TOPICS__ENGAGEMENT": settings.topics.engagement,
        "LIVEOPS_TOPICS__CAMPAIGN": settings.topics.campaign,
        "LIVEOPS_TOPICS__STREAM": settings.topics.stream,
        **lake_env(lake),
        "LIVEOPS_CONSUMER_GROUP": group,
        "LIVEOPS_BATCH_SIZE": str(batch_size),
        # A killed member's partitions move to the next member after this (the broker's minimum).
        "LIVEOPS_KAFKA_SESSION_TIMEOUT": "PT6S",
    }


def start_ingest(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "liveops", "ingest", "--no-prefect"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_for_batches(proc: subprocess.Popen[str], batches: int) -> None:
    """Read the progress lines until the process has committed ``batches`` batches (or ended)."""
    assert proc.stderr is not None
    seen = 0
    for line in proc.stderr:
        if line.startswith("batch "):
            seen += 1
            if seen >= batches:
                return


@pytest.mark.parametrize("lake", ["sqlite", "postgres"], indirect=True)
def test_sigkill_at_random_points_then_rerun_equals_one_clean_run(
    settings: Settings, lake: LakeConfig, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    produced = fill_topics(settings, target_events=200_000, seed=11)
    assert produced >= 180_000

    clean_lake = another_lake(lake, tmp_path / "clean", request)
    clean = Settings(**(settings.model_dump() | lake_settings(clean_lake) | {"consumer_group": "clean"}))
    totals = ingest_once(clean)
    assert totals.messages == produced

    crashed_lake = lake  # the test's own lake, of the parametrised catalog
    env = ingest_env(settings, crashed_lake, "crashed", batch_size=15_000)
    rng = random.Random(20261126)
    kills = 0
    for _ in range(4):
        proc = start_ingest(env)
        wait_for_batches(proc, rng.randint(1, 3))
        time.sleep(rng.uniform(0.0, 1.5))  # land anywhere: reading, decoding, loading, committing
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        assert proc.stderr is not None
        proc.stderr.close()
    assert kills >= 3
    final = start_ingest(env)
    _, err = final.communicate(timeout=600)
    assert final.returncode == 0, err

    assert_same_contents(crashed_lake, clean_lake)
    assert ledger_totals(crashed_lake) == ledger_totals(clean_lake)
    messages, loaded, duplicates, quarantined = ledger_totals(clean_lake)
    assert messages == produced and loaded + duplicates + quarantined == produced
    assert duplicates > 0 and quarantined > 0


@pytest.mark.parametrize("lake", ["sqlite", "postgres"], indirect=True)
def test_broker_restart_during_a_run_then_rerun_loses_nothing(settings: Settings, kafka_broker: LocalBroker) -> None:
    produced = fill_topics(settings, target_events=60_000, seed=5)
    env = ingest_env(settings, settings.lake, "restart", batch_size=5_000)
    proc = start_ingest(env)
    wait_for_batches(proc, 1)
    # The consumer keeps its connection open across the restart: same ports, same data directory.
    kafka_broker.down()
    kafka_broker.up(timeout=120)
    _, err = proc.communicate(timeout=600)
    if proc.returncode != 0:
        # Either outcome is allowed; a failure must say what happened and what to do.
        assert "Rerun" in err or "rerun" in err, err
    rerun = start_ingest(env)
    _, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    messages, loaded, duplicates, quarantined = ledger_totals(settings.lake)
    assert messages == produced == loaded + duplicates + quarantined
    with open_lake(settings.lake, read_only=True) as con:
        rows = sum(
            con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
            for t in ("raw_viewer_events", "raw_engagement_events", "raw_campaign_events", "raw_stream_events")
        )
    assert rows == loaded
