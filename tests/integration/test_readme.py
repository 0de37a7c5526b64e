"""The README's commands, in the README's order, as a new user runs them against a real broker and a fresh
lake: each exits 0, shows no traceback and no httpx or telemetry line, and a command that answers prints
its answer on stdout."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from config.settings import Settings
from tests.conftest import REPO, lake_env

SECTIONS = ("## The local Kafka broker", "## Simulating traffic, ingesting it, querying it", "## Operating it")
# Not run here: the broker's own life cycle (the tests' session broker stands in for it) and the commands
# that run until Ctrl-C.
SKIPPED = ("kafka up", "kafka down", "kafka logs", "kafka status", "--follow", "liveops serve")
# Commands whose answer is the point: their stdout must not be empty.
ANSWERS = ("query", "warehouse info", "status", "report", "quality", "simulate --days 1 --out")


def readme_commands() -> list[list[str]]:
    """The ``uv run liveops …`` lines of the README's sections above, in order, as argument lists."""
    commands: list[list[str]] = []
    section, in_block = "", False
    for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line.strip()
        elif line.startswith("```"):
            in_block = not in_block
        elif (
            in_block and section in SECTIONS and line.startswith("uv run liveops ")
            and not any(s in line for s in SKIPPED)
        ):  # fmt: skip
            commands.append(shlex.split(line, comments=True)[3:])
    return commands


def test_the_readme_lists_the_commands_this_test_runs() -> None:
    names = [" ".join(c[:2]) for c in readme_commands()]
    assert names[0] == "kafka create-topics" and "ingest" in names and "build" in names
    assert any(n.startswith("query") for n in names) and "warehouse maintain" in names


def test_the_readme_commands_work_as_written(settings: Settings, tmp_path: Path) -> None:
    work = tmp_path / "clone"
    work.mkdir()
    (work / "plans").symlink_to(REPO / "plans")  # the README's commands run from the repository's folder
    topics = settings.topics.by_family()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LIVEOPS_")},
        **lake_env(settings.lake),
        "LIVEOPS_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "LIVEOPS_CONSUMER_GROUP": settings.consumer_group,
        "LIVEOPS_REPORTS_DIR": str(work / "data" / "reports"),
        "LIVEOPS_KAFKA_HOME": str(settings.kafka_home),
        "PYTHONPATH": str(REPO),
        **{f"LIVEOPS_TOPICS__{family.upper()}": topic for family, topic in topics.items()},
    }
    for args in readme_commands():
        shown = "liveops " + " ".join(args)
        run = subprocess.run(
            [sys.executable, "-m", "liveops", *args], cwd=work, env=env, capture_output=True, text=True,
            timeout=900, check=False,
        )  # fmt: skip
        output = run.stdout + run.stderr
        assert run.returncode == 0, f"{shown} exited {run.returncode}:\n{output[-3000:]}"
        assert "Traceback" not in output, f"{shown}:\n{output[-3000:]}"
        assert "httpx" not in output and "HTTP Request" not in output, f"{shown}:\n{output[-3000:]}"
        assert "telemetry" not in output.lower(), f"{shown}:\n{output[-3000:]}"
        if any(" ".join(args).startswith(a) for a in ANSWERS):
            assert run.stdout.strip(), f"{shown} printed nothing on stdout:\n{run.stderr[-2000:]}"
    summary = work / "data" / "reports" / "2026-11-02" / "summary.json"
    assert summary.is_file()
