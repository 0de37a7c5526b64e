"""``liveops serve`` for real: a Prefect server on loopback, the deployments served by a subprocess, each one
triggered once and run to completion against the real broker, the report delivered to a local webhook.

Bounded: every wait has a deadline, and the server and the serve process are always stopped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import typer
from typer.testing import CliRunner

from config.settings import Settings
from flows.deployments import HOURLY_DEPLOYMENT, REPORT_DEPLOYMENT, WAREHOUSE_LIMIT
from flows.ingest import ingest_once
from flows.members import INGEST_DEPLOYMENT
from liveops.ops_cmd import backfill, status
from streams.broker import create_topics
from streams.producer import produce
from streams.simulator import SimConfig, simulate
from tests.conftest import lake_env
from warehouse.lake import open_lake

pytestmark = pytest.mark.kafka

SIMULATION = SimConfig(days=2, users=40, channels=3, campaigns=1, seed=11, target_events=1500)
DAY = date(2026, 11, 1)
RUN_TIMEOUT_S = 420.0
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@pytest.fixture
def webhook_bodies() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local JSON webhook; yields its URL and the documents it received."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook/token-xyz", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def liveops_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The test's settings as the LIVEOPS_* environment of a subprocess."""
    env = {
        "LIVEOPS_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "LIVEOPS_CONSUMER_GROUP": settings.consumer_group,
        **lake_env(settings.lake),
        "LIVEOPS_REPORTS_DIR": str(settings.reports_dir),
        "LIVEOPS_KAFKA_HOME": str(settings.kafka_home),
        "LIVEOPS_REPORT_TIMEZONE": settings.report_timezone,
    }
    for family, topic in settings.topics.by_family().items():
        env[f"LIVEOPS_TOPICS__{family.upper()}"] = topic
    return env | extra


def rounded(value: Any) -> Any:
    """``value`` with every float rounded to 9 significant digits: DuckDB's parallel sums may differ in the
    last bits from one run to the next."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v) for v in value]
    return value


def wait_for_run(api_url: str, run_id: UUID, deadline: float) -> str:
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            state = client.read_flow_run(run_id).state
            if state is not None and state.type.value in TERMINAL:
                return str(state.type.value)
            time.sleep(1.0)
    return "TIMEOUT"


@pytest.mark.prefect
def test_serve_runs_both_deployments_against_a_prefect_server(
    settings: Settings, prefect_api: str, webhook_bodies: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    from prefect import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    config = settings.kafka_client_config()
    create_topics(config, list(settings.topics.by_family().values()), 3)
    assert produce(simulate(replace(SIMULATION, topics=settings.topics.by_family())), config) > 1000
    hook_url, received = webhook_bodies

    log_path = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEOPS_")}
    env |= liveops_env(
        settings,
        LIVEOPS_DELIVERY_WEBHOOK_URL=hook_url,
        LIVEOPS_DELIVERY_WEBHOOK_FORMAT="json",
        LIVEOPS_REPORT_TIME="02:30",
    )
    env |= {
        "PREFECT_API_URL": prefect_api,
        "PREFECT_HOME": str(tmp_path / "prefect-client"),
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    with log_path.open("wb") as log:
        serve = subprocess.Popen(
            [sys.executable, "-m", "liveops", "serve"],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip

    def serve_log() -> str:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-60:])

    try:
        with temporary_settings(updates={PREFECT_API_URL: prefect_api}), get_client(sync_client=True) as client:
            deadline = time.monotonic() + 120
            deployments: dict[str, Any] = {}
            while time.monotonic() < deadline and len(deployments) < 3:
                assert serve.poll() is None, f"liveops serve exited early:\n{serve_log()}"
                for name in (HOURLY_DEPLOYMENT, REPORT_DEPLOYMENT, INGEST_DEPLOYMENT):
                    try:
                        deployments[name] = client.read_deployment_by_name(name)
                    except Exception:  # not registered yet
                        time.sleep(1.0)
            assert len(deployments) == 3, f"deployments not registered in time:\n{serve_log()}"
            # Group members for Prefect workers: on the process work pool, following by default.
            member = deployments[INGEST_DEPLOYMENT]
            assert member.work_pool_name == "liveops-ingest" and member.parameters == {"follow": True}
            assert client.read_work_pool("liveops-ingest").type == "process"

            hourly, report = deployments[HOURLY_DEPLOYMENT], deployments[REPORT_DEPLOYMENT]
            assert [s.schedule.interval.total_seconds() for s in hourly.schedules] == [3600.0]
            ((cron,),) = [[s.schedule] for s in report.schedules]
            assert (cron.cron, cron.timezone) == ("30 2 * * *", "UTC")
            for deployment, strategy in ((hourly, "CANCEL_NEW"), (report, "ENQUEUE")):
                assert deployment.global_concurrency_limit.limit == 1
                assert deployment.concurrency_options.collision_strategy.value == strategy
            assert client.read_global_concurrency_limit_by_name(WAREHOUSE_LIMIT).limit == 1

            # Two runs at once: the deployment's limit (1, CANCEL_NEW) lets one run and cancels the other.
            first, second = (run_deployment(HOURLY_DEPLOYMENT, timeout=0, as_subflow=False) for _ in range(2))
            deadline = time.monotonic() + RUN_TIMEOUT_S
            states = sorted(wait_for_run(prefect_api, run.id, deadline) for run in (first, second))
            assert states == ["CANCELLED", "COMPLETED"], f"hourly-ingest-build runs ended {states}:\n{serve_log()}"

            report_run = run_deployment(
                REPORT_DEPLOYMENT, parameters={"day": DAY.isoformat()}, timeout=0, as_subflow=False
            )
            state = wait_for_run(prefect_api, report_run.id, time.monotonic() + RUN_TIMEOUT_S)
            assert state == "COMPLETED", f"daily-report ended {state}:\n{serve_log()}"
            assert client.read_flow_run(report_run.id).name == f"daily-report-{DAY}"
    finally:
        serve.terminate()  # SIGTERM: Prefect's runner shuts down gracefully
        try:
            serve.wait(timeout=60)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait(timeout=10)

    with temporary_settings(updates={PREFECT_API_URL: prefect_api}), get_client(sync_client=True) as client:
        # pause_on_shutdown=False: stopping serve leaves the schedules active.
        assert not client.read_deployment_by_name(HOURLY_DEPLOYMENT).paused
        assert not client.read_deployment_by_name(REPORT_DEPLOYMENT).paused

    with open_lake(settings.lake, read_only=True) as con:
        batches = con.execute("SELECT count(*), sum(loaded) FROM ingest_batches").fetchone()
        assert batches is not None and batches[0] >= 1 and batches[1] > 1000
        built = [row[0] for row in con.execute("SELECT day FROM build_days ORDER BY day").fetchall()]
        assert DAY in built
        rows = con.execute("SELECT day, channel, target, success FROM deliveries").fetchall()
        # The report run checked the day's quality before writing the report.
        checked = con.execute("SELECT day, status FROM day_status").fetchall()
    assert [day for day, _ in checked] == [DAY] and checked[0][1] in ("verified", "unverified")

    folder = settings.reports_dir / DAY.isoformat()
    assert (folder / "report.html").is_file() and (folder / "data-docs" / "index.html").is_file()
    assert (folder / "summary.md").is_file() and (folder / "summary.json").is_file()
    assert len(received) == 1 and received[0]["day"] == DAY.isoformat()
    assert rows == [(DAY, "webhook:json", f"http://127.0.0.1:{hook_url.split(':')[2].split('/')[0]}/***", True)]


def test_backfill_is_idempotent_and_status_reports_the_pipeline(settings: Settings) -> None:
    config = settings.kafka_client_config()
    create_topics(config, list(settings.topics.by_family().values()), 3)
    produce(simulate(replace(SIMULATION, topics=settings.topics.by_family())), config)
    ingest_once(settings)
    app = typer.Typer()
    app.command()(backfill)
    app.command()(status)
    runner = CliRunner()
    env = liveops_env(settings)
    folder = settings.reports_dir / DAY.isoformat()

    snapshots: list[int] = []  # the lake snapshot each run's report was built from

    def backfill_once() -> tuple[str, Any, Any]:
        result = runner.invoke(app, ["backfill", "--from", "2026-10-31", "--to", DAY.isoformat()], env=env)
        assert result.exit_code == 0, result.output
        summary = json.loads((folder / "summary.json").read_text()) if (folder / "summary.json").exists() else {}
        summary.pop("generated_at", None)
        snapshots.append(summary.pop("warehouse_snapshot"))
        with open_lake(settings.lake, read_only=True) as con:
            marts = con.execute("SELECT * FROM agg_daily_headline ORDER BY day").fetchall()
        return result.output, rounded(summary), rounded(marts)

    output, summary, marts = backfill_once()
    assert "[1/2] 2026-10-31: no data; quality skipped; report skipped" in output
    day_line = next(line for line in output.splitlines() if line.startswith("[2/2] 2026-11-01: built, complete;"))
    assert "; quality verified (" in day_line or "; quality unverified (" in day_line
    assert "report written" in day_line and (folder / "report.html").is_file()
    assert "backfill done: 1 of 2 day(s) built, 0 with a failure" in output
    assert backfill_once()[1:] == (summary, marts)  # a rerun gives the same marts and report
    # Each report names the snapshot it read: the lake at the first run's snapshot still holds its marts.
    assert isinstance(snapshots[0], int) and snapshots[1] > snapshots[0]
    with open_lake(settings.lake, snapshot=snapshots[0]) as con:
        assert rounded(con.execute("SELECT * FROM agg_daily_headline ORDER BY day").fetchall()) == marts

    text = runner.invoke(app, ["status"], env=env)
    assert text.exit_code == 0, text.output
    assert (
        f"Kafka       reachable at {settings.bootstrap_servers}; consumer group {settings.consumer_group} is 0 "
        in text.output
    )
    assert "days built    1 (2026-11-01..2026-11-01): 1 complete" in text.output
    assert "quality       1 day(s) checked: " in text.output
    doc = json.loads(runner.invoke(app, ["status", "--json"], env=env).output)
    assert doc["kafka"]["lag"] == 0 and all(t["exists"] for t in doc["kafka"]["topics"])
    assert doc["warehouse"]["exists"] and doc["warehouse"]["lake"] == settings.lake.describe()
    assert doc["warehouse"]["snapshot"] >= snapshots[1] and doc["warehouse"]["snapshot_at"]
    assert doc["warehouse"]["last_ingest"]["loaded"] > 1000
    assert doc["warehouse"]["last_build"]["mode"] == "range"
    assert doc["reports"]["count"] == 1
    assert doc["warehouse"]["quality"]["checked"] == 1 and doc["warehouse"]["quality"]["last"]["day"] == "2026-11-01"
