"""Ingest as several members of one consumer group, against the real broker and a real PostgreSQL catalog:
three members share six partitions, one is SIGKILLed mid-run, another joins later, and the lake equals one
clean single-process run row for row."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from config.settings import Settings
from flows.ingest import ingest_once
from flows.members import INGEST_DEPLOYMENT
from tests.conftest import lake_settings
from tests.integration.test_exactly_once import another_lake, fill_topics, ingest_env, start_ingest, wait_for_batches
from tests.integration.test_serve import wait_for_run
from tests.lake_contents import assert_same_contents, ledger_totals
from warehouse.lake import LakeConfig, open_lake

pytestmark = pytest.mark.kafka


def fill_six_partitions(settings: Settings, target_events: int, seed: int, partitions: int = 6) -> int:
    return fill_topics(settings, target_events, seed, partitions=partitions, users=4000)


def batches_by_member(lake: LakeConfig) -> dict[str, int]:
    with open_lake(lake, read_only=True) as con:
        rows = con.execute("SELECT member, count(*) FROM ingest_batches GROUP BY member").fetchall()
    return {str(member): int(n) for member, n in rows}


@pytest.mark.parametrize("lake", ["postgres"], indirect=True)
def test_three_members_one_killed_one_joining_later_equal_one_clean_run(
    settings: Settings, lake: LakeConfig, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    produced = fill_six_partitions(settings, target_events=300_000, seed=13)
    assert produced >= 270_000

    clean_lake = another_lake(lake, tmp_path / "clean", request)
    clean = Settings(**(settings.model_dump() | lake_settings(clean_lake) | {"consumer_group": "clean"}))
    assert ingest_once(clean).messages == produced

    env = ingest_env(settings, lake, "members", batch_size=8_000)
    members = [start_ingest(env) for _ in range(3)]
    victim = members[1]
    wait_for_batches(victim, 2)  # it holds partitions and has committed some of them
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    time.sleep(1.0)
    late = start_ingest(env)  # joins while the others are still at work
    survivors = [members[0], members[2], late]
    for member in survivors:
        _, err = member.communicate(timeout=600)
        assert member.returncode == 0, err
    for member in members:
        if member.stderr is not None:
            member.stderr.close()

    assert_same_contents(lake, clean_lake)
    assert ledger_totals(lake) == ledger_totals(clean_lake)
    messages, loaded, duplicates, quarantined = ledger_totals(lake)
    assert messages == produced == loaded + duplicates + quarantined and duplicates > 0
    # The work was shared: the killed member committed batches before it died, and so did at least two others.
    by_member = batches_by_member(lake)
    assert by_member.get(f"{_host()}:{victim.pid}", 0) >= 2, by_member
    assert sum(1 for n in by_member.values() if n > 0) >= 3, by_member


def _host() -> str:
    import socket

    return socket.gethostname()


def test_members_without_partitions_wait_until_the_lake_holds_every_partition(settings: Settings) -> None:
    """More members than partitions (1 per topic, 3 members): the idle ones stay in the group until the lake
    holds every partition, then all end."""
    produced = fill_six_partitions(settings, target_events=4_000, seed=3, partitions=1)
    env = ingest_env(settings, settings.lake, "crowd", batch_size=500)
    crowd = [start_ingest(env) for _ in range(3)]
    for member in crowd:
        _, err = member.communicate(timeout=300)
        assert member.returncode == 0, err
    assert ledger_totals(settings.lake)[0] == produced


def test_ingest_workers_runs_members_that_split_the_partitions(settings: Settings) -> None:
    produced = fill_six_partitions(settings, target_events=120_000, seed=5)
    env = ingest_env(settings, settings.lake, "workers", batch_size=2_000)
    run = subprocess.run(
        [sys.executable, "-m", "liveops", "ingest", "--no-prefect", "--workers", "2"],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "[member 1]" in run.stderr and "[member 2]" in run.stderr
    assert "Traceback" not in run.stderr
    messages, loaded, duplicates, quarantined = ledger_totals(settings.lake)
    assert messages == produced == loaded + duplicates + quarantined
    assert len([n for n in batches_by_member(settings.lake).values() if n > 0]) == 2


@pytest.mark.prefect
def test_runs_of_the_ingest_deployment_on_a_process_worker_share_the_partitions(
    settings: Settings, prefect_api: str, tmp_path: Path
) -> None:
    from prefect import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    produced = fill_six_partitions(settings, target_events=150_000, seed=7)
    env = ingest_env(settings, settings.lake, "prefect-members", batch_size=3_000) | {
        "PREFECT_API_URL": prefect_api,
        "PREFECT_HOME": str(tmp_path / "prefect-client"),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
    }
    # What `liveops serve` does at start: the process work pool and the deployment on it.
    subprocess.run(
        [sys.executable, "-c", "from flows.members import register_ingest_deployment; register_ingest_deployment('members')"],
        env=env, check=True, timeout=180, capture_output=True,
    )  # fmt: skip
    with temporary_settings(updates={PREFECT_API_URL: prefect_api}), get_client(sync_client=True) as client:
        assert client.read_work_pool("members").type == "process"
        runs = [
            run_deployment(INGEST_DEPLOYMENT, parameters={"follow": False}, timeout=0, as_subflow=False)
            for _ in range(3)
        ]
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [str(Path(sys.executable).parent / "prefect"), "worker", "start", "--pool", "members", "--limit", "3"],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 480
        states = [wait_for_run(prefect_api, run.id, deadline) for run in runs]
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
    assert states == ["COMPLETED"] * 3, f"{states}\n{tail}"
    messages, loaded, duplicates, quarantined = ledger_totals(settings.lake)
    assert messages == produced == loaded + duplicates + quarantined
    # The runs ran at once and shared the partitions: batches committed by at least two of them.
    assert len([n for n in batches_by_member(settings.lake).values() if n > 0]) >= 2, batches_by_member(settings.lake)


def test_status_lists_the_groups_members_with_their_partitions(settings: Settings) -> None:
    fill_six_partitions(settings, target_events=3_000, seed=9, partitions=2)
    env = ingest_env(settings, settings.lake, "watched", batch_size=500)
    member = subprocess.Popen(
        [sys.executable, "-m", "liveops", "ingest", "--no-prefect", "--follow"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for_batches(member, 1)
        shown = subprocess.run(
            [sys.executable, "-m", "liveops", "status"], env=env, capture_output=True, text=True, timeout=180, check=False
        )  # fmt: skip
    finally:
        member.send_signal(signal.SIGINT)
        member.communicate(timeout=120)
        if member.stderr is not None:
            member.stderr.close()
    assert shown.returncode == 0, shown.stderr
    assert "1 member(s) of the group now" in shown.stdout, shown.stdout
    line = next(line for line in shown.stdout.splitlines() if f"-{member.pid} (" in line)
    assert f"{settings.topics.viewer}[0,1]" in line and f"{settings.topics.stream}[0,1]" in line
