"""Running N members of the ingest consumer group: ``liveops ingest --workers N`` (processes of this
machine), or the ``ingest-member`` deployment on a Prefect process work pool (``liveops serve`` registers
it; ``prefect worker start --pool liveops-ingest`` on any machine runs its flow runs: docs/ingest.md).

Each member is a ``liveops ingest`` process of its own (a Python process per member: decoding and loading
then use a core each, which threads of one process could not). Kafka spreads the partitions over them; the
warehouse's per-partition offsets and fence keep the result exactly once whatever the members do (a member
killed, one joining later). Their progress lines reach stderr prefixed with the member's number.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

INGEST_DEPLOYMENT = "ingest-member/ingest-member"


def register_ingest_deployment(pool: str) -> None:
    """Create the process work pool ``pool`` if absent and (re)register the ``ingest-member`` deployment on it.

    The deployment names the flow by module path (``flows.ingest.ingest_member``): a worker runs it with the
    Python environment it was started in, so start workers from a checkout of liveops (``uv run prefect
    worker start --pool ...``) with the ``LIVEOPS_*`` settings in their environment.
    """
    from prefect import deploy, get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.types.entrypoint import EntrypointType

    from flows.ingest import ingest_member

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(pool)
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    deployment = ingest_member.to_deployment(
        name="ingest-member",
        parameters={"follow": True},
        description="One member of the ingest consumer group per run: run several at once to share the partitions.",
        tags=["liveops"],
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    deploy(
        deployment,  # type: ignore[arg-type]  # sync call: to_deployment returned the deployment itself
        work_pool_name=pool, build=False, push=False, print_next_steps_message=False, ignore_warnings=True,
    )  # fmt: skip


@dataclass(frozen=True)
class MemberResult:
    """How one member process ended."""

    number: int
    returncode: int
    last_line: str


def _relay(number: int, stream: object, say: Callable[[str], None], last: dict[int, str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        text = line.rstrip("\n")
        if text:
            last[number] = text
            say(f"[member {number}] {text}")


def run_members(
    workers: int,
    follow: bool,
    say: Callable[[str], None],
    stop: threading.Event,
    env: dict[str, str] | None = None,
) -> list[MemberResult]:
    """Start ``workers`` member processes (each `liveops ingest`), relay their lines, wait for all.

    ``stop`` (Ctrl-C) is passed on: each member finishes its batch in hand and leaves the group.
    """
    command = [sys.executable, "-m", "liveops", "ingest", "--no-prefect", *(["--follow"] if follow else [])]
    last: dict[int, str] = {}
    processes: list[subprocess.Popen[str]] = []
    relays: list[threading.Thread] = []
    child_env = {**os.environ, **(env or {}), "LIVEOPS_INGEST_MEMBER": "1"}
    try:
        for number in range(1, workers + 1):
            process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=child_env,
                start_new_session=True,  # Ctrl-C reaches this process only; it passes the stop on
            )  # fmt: skip
            processes.append(process)
            relay = threading.Thread(target=_relay, args=(number, process.stderr, say, last), daemon=True)
            relay.start()
            relays.append(relay)
        stopped = False
        while any(p.poll() is None for p in processes):
            if stop.wait(0.2) and not stopped:
                stopped = True
                for process in processes:
                    if process.poll() is None:
                        process.send_signal(signal.SIGINT)
    finally:
        for process in processes:
            if process.poll() is None:  # an exception here: do not leave members behind
                process.terminate()
            process.wait()
        for relay in relays:
            relay.join(timeout=5)
    return [MemberResult(n, p.returncode, last.get(n, "")) for n, p in enumerate(processes, start=1)]
