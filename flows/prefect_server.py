"""A local ``prefect server start`` for ``liveops serve`` (Prefect's temporary local mode runs no scheduler)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from runtime.processes import ExitedEarly, NotReadyInTime, start_and_wait

log = logging.getLogger(__name__)


@dataclass
class LocalPrefectServer:
    """A ``prefect server start`` on 127.0.0.1 for as long as ``liveops serve`` runs.

    Prefect's default local mode starts a temporary server that runs no scheduler, so schedules would never
    fire; ``liveops serve`` starts this one instead when ``PREFECT_API_URL`` is not set. If a Prefect
    server already answers on the port, it is used and left running.
    """

    home: Path
    port: int = 4200
    startup_timeout_s: float = 180.0
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def healthy(self) -> bool:
        from prefect.client.orchestration import SyncPrefectClient

        with SyncPrefectClient(self.api_url) as client:
            return client.api_healthcheck() is None

    def start(self, progress: Callable[[str], None] = log.info) -> bool:
        """Start the server unless one answers already; wait until it answers. Returns whether it started."""
        if self.healthy():
            progress(f"Using the Prefect server already answering at {self.api_url}.")
            return False
        self.home.mkdir(parents=True, exist_ok=True)
        log_file = self.home / "server.log"
        env = os.environ | {
            "PREFECT_HOME": str(self.home.resolve()),
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        env.pop("PREFECT_API_URL", None)
        progress(f"Starting a Prefect server at http://127.0.0.1:{self.port} (log: {log_file}) ...")
        argv = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(self.port)]
        try:
            self.process = start_and_wait(
                argv, log_file, self.healthy, self.startup_timeout_s, name="the Prefect server", env=env
            )
        except ExitedEarly as exc:
            raise RuntimeError(f"the Prefect server exited with code {exc.returncode}:\n{exc.tail}") from None
        except NotReadyInTime as exc:
            self.process = exc.process
            self.stop()
            raise RuntimeError(
                f"the Prefect server did not answer within {self.startup_timeout_s:.0f} s (log: {log_file})"
            ) from None
        return True

    def stop(self) -> None:
        """Stop the server this object started (by its PID); harmless otherwise."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
