"""``runtime.processes.start_and_wait`` with real tiny subprocesses: ready, exited early, not ready in time."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from runtime.processes import ExitedEarly, NotReadyInTime, start_and_wait


def test_a_process_that_becomes_ready_is_returned_running(tmp_path: Path) -> None:
    flag = tmp_path / "ready"
    script = f"import pathlib, time; time.sleep(0.3); pathlib.Path({str(flag)!r}).touch(); time.sleep(30)"
    process = start_and_wait([sys.executable, "-c", script], tmp_path / "out.log", flag.exists, 20.0, poll_s=0.05)
    try:
        assert flag.exists() and process.poll() is None
    finally:
        process.kill()
        process.wait()


def test_a_process_that_exits_early_gives_its_code_and_output(tmp_path: Path) -> None:
    script = "import sys; print('port already taken', flush=True); sys.exit(3)"
    with pytest.raises(ExitedEarly) as caught:
        start_and_wait([sys.executable, "-c", script], tmp_path / "out.log", lambda: False, 20.0, name="the server")
    assert caught.value.returncode == 3
    assert "port already taken" in caught.value.tail
    assert str(caught.value).startswith("the server exited with code 3 before it was ready")


def test_a_process_never_ready_is_left_to_the_caller(tmp_path: Path) -> None:
    with pytest.raises(NotReadyInTime) as caught:
        start_and_wait([sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "o.log", lambda: False, 0.5)
    process = caught.value.process
    assert process.poll() is None
    process.kill()
    process.wait()
