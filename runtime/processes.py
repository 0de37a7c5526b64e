"""Start a long-running server subprocess and wait until it is ready: the one loop behind the local Kafka
broker (``streams.broker``) and the local Prefect server (``flows.prefect_server``).

It lives in ``runtime/`` (imports nothing of liveops) because streams/ may not import flows/ nor the
other way round; both need the same start, poll and fail-clearly logic.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


class StartupError(RuntimeError):
    """A server subprocess did not become ready."""


class ExitedEarly(StartupError):
    """The subprocess exited before it was ready (``returncode``; ``tail``: the end of its output)."""

    def __init__(self, name: str, returncode: int, tail: str) -> None:
        self.returncode = returncode
        self.tail = tail
        super().__init__(f"{name} exited with code {returncode} before it was ready:\n{tail}")


class NotReadyInTime(StartupError):
    """The subprocess still runs but was not ready within ``timeout_s`` (the caller decides how to stop it)."""

    def __init__(self, name: str, timeout_s: float, process: subprocess.Popen[bytes]) -> None:
        self.timeout_s = timeout_s
        self.process = process
        super().__init__(f"{name} was not ready within {timeout_s:.0f} s")


def output_tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a process's output file ('' when there is none)."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def start_and_wait(
    argv: Sequence[str],
    output: Path,
    ready: Callable[[], bool],
    timeout_s: float,
    *,
    name: str | None = None,
    env: Mapping[str, str] | None = None,
    on_start: Callable[[subprocess.Popen[bytes]], None] | None = None,
    poll_s: float = 0.5,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session (stdout and stderr appended to ``output``, no stdin) and poll
    ``ready()`` until it answers True.

    Args:
        argv: the command.
        output: the file the process's output is appended to (its tail goes into the error).
        ready: True once the server answers (called every ``poll_s`` seconds).
        timeout_s: how long to wait for ``ready``.
        name: what the errors call the process (default: ``argv[0]``).
        env: the process's environment (default: this one's).
        on_start: called with the process right after it started (e.g. to record its PID).

    Returns:
        The running process.

    Raises:
        ExitedEarly: the process exited before ``ready`` answered True.
        NotReadyInTime: ``ready`` did not answer True in time; the process is left running for the caller.
    """
    label = name or argv[0]
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("ab") as out:
        process = subprocess.Popen(
            list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None, start_new_session=True,
        )  # fmt: skip
    if on_start is not None:
        on_start(process)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ExitedEarly(label, process.returncode, output_tail(output))
        if ready():
            return process
        time.sleep(poll_s)
    raise NotReadyInTime(label, timeout_s, process)
