"""Fixtures of the integration tests (real broker, real servers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.prefect_server import LocalPrefectServer
from streams.broker import free_port


@pytest.fixture
def prefect_api(tmp_path: Path) -> Iterator[str]:
    """A real `prefect server start` on a free loopback port with its own PREFECT_HOME (stopped afterwards)."""
    server = LocalPrefectServer(home=tmp_path / "prefect-server", port=free_port(), startup_timeout_s=300)
    server.start()
    try:
        yield server.api_url
    finally:
        server.stop()
