"""Start-up time of the CLI against ``python -c "import duckdb"``, in one interleaved run.

Runs, round after round, ``python -c "import duckdb"``, ``liveops --help`` and ``liveops query "select 1"``
(against a tiny lake made here: the query attaches it read-only), takes each command's median wall time and prints the two ratios.
Targets: ``--help`` at most 1.5x the duckdb import, ``query`` at most 2x.

    uv run python bench/startup.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"--help": 1.5, "query": 2.0}


def _time(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    """Measure and print the medians and the ratios; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    python = sys.executable
    liveops = [python, "-m", "liveops"]
    with tempfile.TemporaryDirectory() as tmp:
        lake = Path(tmp) / "lake"
        env = os.environ | {
            "LIVEOPS_LAKE_CATALOG": f"sqlite:{lake / 'catalog.sqlite'}",
            "LIVEOPS_LAKE_DATA_PATH": f"{lake / 'files'}/",
        }
        create = "from liveops.settings import Settings; from warehouse.lake import open_lake; open_lake(Settings().lake).close()"
        subprocess.run([python, "-c", create], env=env, check=True)
        commands = {
            "import duckdb": [python, "-c", "import duckdb"],
            "--help": [*liveops, "--help"],
            "query": [*liveops, "query", "select 1"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, cmd in commands.items():
                times[name].append(_time(cmd, env))
    medians = {name: statistics.median(values) for name, values in times.items()}
    base = medians["import duckdb"]
    print(f"medians of {args.rounds} interleaved rounds:")
    for name, value in medians.items():
        print(f"  {name:<14} {value:6.3f} s")
    missed = False
    for name, target in TARGETS.items():
        ratio = medians[name] / base
        ok = ratio <= target
        missed |= not ok
        print(f"  {name:<14} {ratio:4.2f}x import duckdb (target <= {target}x): {'ok' if ok else 'MISSED'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
