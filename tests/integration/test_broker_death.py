"""A broker that dies during `liveops ingest`: bounded retries, then one clear line, no traceback, nothing lost.

The test has its own real broker (the session's must stay up for the other tests): it is stopped while a
`liveops ingest --follow` runs, and started again for the rerun that loads the rest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import Settings
from streams.broker import LocalBroker, free_port
from tests.conftest import lake_env, lake_settings, local_broker
from tests.integration.test_ingest import produce
from tests.wire import encode, wire_event
from warehouse.lake import LakeConfig, open_lake

pytestmark = pytest.mark.kafka


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker of this test's own: the test stops it."""
    with local_broker(tmp_path / "kafka", heap="512m") as own:
        yield own


@pytest.mark.parametrize("lake", ["sqlite", "postgres"], indirect=True)
def test_a_broker_dying_mid_run_ends_ingest_with_one_line_and_a_rerun_loads_everything(
    tmp_path: Path, broker: LocalBroker, lake: LakeConfig
) -> None:
    settings = Settings(bootstrap_servers=broker.bootstrap, **lake_settings(lake))  # type: ignore[arg-type]
    produce(settings, [("engagement", encode(wire_event("like"))) for _ in range(300)])
    env = {
        **os.environ,
        "LIVEOPS_BOOTSTRAP_SERVERS": broker.bootstrap,
        **lake_env(lake),
        "LIVEOPS_BATCH_SIZE": "50",
        "LIVEOPS_KAFKA_RETRY_TIMEOUT": "PT8S",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "liveops", "ingest", "--follow"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or []), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 90
        while not any(line.startswith("batch ") for line in lines) and time.monotonic() < deadline:
            assert proc.poll() is None, "".join(lines)
            time.sleep(0.2)
        assert any(line.startswith("batch ") for line in lines), "".join(lines)
        broker.down()
        began = time.monotonic()
        code = proc.wait(timeout=120)
        waited = time.monotonic() - began
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    stderr = "".join(lines)
    assert code == 1, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert "stopped answering" in last and "Nothing is lost" in last and "rerun `liveops ingest`" in last, last
    assert 8 <= waited < 90  # it retried for the window (8 s), then stopped: bounded

    broker.up(timeout=120)
    again = subprocess.run(
        [sys.executable, "-m", "liveops", "ingest", "--no-prefect"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    with open_lake(lake, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw_engagement_events").fetchone() == (300,)
        assert con.execute("SELECT sum(messages) FROM ingest_batches").fetchone() == (300,)


@pytest.mark.parametrize("args", [("ingest",), ("ingest", "--no-prefect")])
def test_an_unreachable_broker_ends_ingest_with_one_line_also_under_prefect(
    tmp_path: Path, lake: LakeConfig, args: tuple[str, ...]
) -> None:
    env = {
        **os.environ,
        "LIVEOPS_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",  # nothing listens there
        **lake_env(lake),
    }
    done = subprocess.run(
        [sys.executable, "-m", "liveops", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    assert any(
        "cannot reach Kafka" in line and "liveops kafka up" in line and not line[:4].isdigit()
        for line in done.stderr.splitlines()
    ), done.stderr
