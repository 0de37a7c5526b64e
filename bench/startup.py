"""Start-up time of the CLI against ``python -c "import duckdb"``, in one interleaved run.

Runs, round after round, ``python -c "import duckdb"``, ``liveops --help``, ``liveops query "select 1"``
(against a tiny lake made here, migrated like a real one: the query attaches it read-only) and the *lake
floor*: a bare Python program that does only what any program must do to answer ``select 1`` from the lake
(import DuckDB, load the two extensions from their wheels, attach the catalog, use it), without the CLI.
``liveops`` is the program the install puts beside Python, as users run it. It takes each command's median
wall time and prints the ratios to the duckdb import.
Targets: ``--help`` at most 1.5x the duckdb import, ``query`` at most 2x.

Python's bytecode cache is controlled, not inherited: by default every command runs with a warm cache in a
temporary directory (``PYTHONPYCACHEPREFIX``), as on an installed machine where Python has written its
``.pyc`` files; ``--cold`` also measures every command compiling every module from source (what a shell
with ``PYTHONDONTWRITEBYTECODE=1`` and no cache pays on each run). ``--breakdown`` prints where the floor's
time goes, step by step, in one process.

    uv run python bench/startup.py [--rounds 7] [--cold] [--breakdown] [--against DIR]
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

# The lake floor: what any program answering `select 1` from the lake does, each step timed (ms on stdout).
_FLOOR = """
import sys, time
T = time.perf_counter
steps = []
def step(name, started):
    steps.append((name, (T() - started) * 1000))
t = T(); import duckdb; step("import duckdb", t)
from warehouse.extensions import extension_file, lake_connection
from warehouse.lake import LakeConfig
lake = LakeConfig(sys.argv[1], sys.argv[2])
t = T(); con = lake_connection(); step("connect (no signature check: the wheels' own files)", t)
for name in ("ducklake", "sqlite_scanner"):
    path = extension_file(name)
    t = T(); con.execute(f"LOAD '{path}'"); step(f"LOAD {name} ({path.stat().st_size / 1e6:.0f} MB)", t)
t = T(); con.execute(lake.attach_sql(read_only=True)); step("ATTACH (read-only)", t)
t = T(); con.execute("USE lake"); step("USE lake (DuckLake reads the catalog)", t)
t = T(); con.sql("select 1").fetchall(); step("select 1", t)
for name, ms in steps:
    print(f"{ms:8.1f} ms  {name}")
"""

# Where the CLI's own time goes before it reaches the lake (ms on stdout): the fast path of `liveops query`
# (liveops/launch.py) against what the full command line would pay (Typer, Pydantic, every setting).
_CLI = """
import time
T = time.perf_counter
t = T(); import liveops.launch, liveops.query; a = T()
from config.lake_env import lake_from_environment
lake = lake_from_environment(); b = T()
import liveops.cli; c = T()
import typer._adapters; d = T()  # Typer converts every parameter with Pydantic TypeAdapters
from liveops.console import load_settings
settings = load_settings(); e = T()
print(f"{(a - t) * 1000:8.1f} ms  import liveops.launch, liveops.query (the query's fast path)")
print(f"{(b - a) * 1000:8.1f} ms  the lake's settings alone (config/lake_env.py; imports DuckDB, counted below)")
print(f"{(c - b) * 1000:8.1f} ms  import liveops.cli (Typer, the command modules: not on the fast path)")
print(f"{(d - c) * 1000:8.1f} ms  Typer's parameter conversion (imports Pydantic: not on the fast path)")
print(f"{(e - d) * 1000:8.1f} ms  Settings (pydantic-settings, environment, .env: not on the fast path)")
"""

# What DuckDB's signature check would add to each LOAD (a connection with the check on), for comparison.
_SIGNED = """
import time, duckdb
from warehouse.extensions import disable_network_extensions, extension_file
con = duckdb.connect(); disable_network_extensions(con)
for name in ("ducklake", "sqlite_scanner"):
    t = time.perf_counter(); con.execute(f"LOAD '{extension_file(name)}'")
    print(f"{(time.perf_counter() - t) * 1000:8.1f} ms  LOAD {name} with DuckDB's signature check (not done)")
"""


def _time(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def _environments(tmp: Path, cold: bool) -> dict[str, dict[str, str]]:
    """The bytecode-cache settings each command runs under: ``warm`` always, ``cold`` when asked."""
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    envs = {"warm": base | {"PYTHONPYCACHEPREFIX": str(tmp / "pycache-warm")}}
    if cold:  # an empty cache that is never written: every module is compiled from source on every run
        envs["cold"] = base | {"PYTHONPYCACHEPREFIX": str(tmp / "pycache-cold"), "PYTHONDONTWRITEBYTECODE": "1"}
    return envs


def main() -> int:
    """Measure and print the medians and the ratios; exit 1 when a target is missed (warm cache)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cold", action="store_true", help="also measure without a bytecode cache")
    parser.add_argument("--breakdown", action="store_true", help="print where the floor's time goes")
    parser.add_argument(
        "--against", type=Path, metavar="DIR",
        help="another checkout of liveops (e.g. a git worktree of an older commit): its --help and query run "
        "interleaved with this one's, on the same interpreter and lake (before/after in one run)",
    )  # fmt: skip
    args = parser.parse_args()
    python = sys.executable
    # The `liveops` program as users run it: the script the install puts beside Python (`python -m liveops`
    # where there is none). `--against` runs both checkouts as `python -m liveops`, from their folders.
    script = Path(python).parent / "liveops"
    liveops = [str(script)] if script.is_file() else [python, "-m", "liveops"]
    module = [python, "-m", "liveops"]
    with tempfile.TemporaryDirectory() as tmp:
        lake = Path(tmp) / "lake"
        catalog, data_path = f"sqlite:{lake / 'catalog.sqlite'}", f"{lake / 'files'}/"
        lake_env = {"LIVEOPS_LAKE_CATALOG": catalog, "LIVEOPS_LAKE_DATA_PATH": data_path}
        envs = {mode: env | lake_env for mode, env in _environments(Path(tmp), args.cold).items()}
        create = "from config.settings import Settings; from warehouse.lake import open_lake; open_lake(Settings().lake).close()"
        subprocess.run([python, "-c", create], env=envs["warm"], check=True)
        commands: dict[str, tuple[list[str], Path | None]] = {
            "import duckdb": ([python, "-c", "import duckdb"], None),
            "--help": ([*liveops, "--help"], None),
            "query": ([*liveops, "query", "select 1"], None),
            "lake floor": ([python, "-c", _FLOOR, catalog, data_path], None),
        }
        if args.against is not None:  # `python -m liveops` imports the package from the working directory
            commands["--help (-m)"] = ([*module, "--help"], None)
            commands["query (-m)"] = ([*module, "query", "select 1"], None)
            commands["--help (against)"] = ([*module, "--help"], args.against.resolve())
            commands["query (against)"] = ([*module, "query", "select 1"], args.against.resolve())
        for cmd, cwd in commands.values():  # fill the warm cache (not counted)
            _time(cmd, envs["warm"], cwd)
        times: dict[tuple[str, str], list[float]] = {(m, n): [] for m in envs for n in commands}
        for _ in range(args.rounds):
            for mode, env in envs.items():
                for name, (cmd, cwd) in commands.items():
                    times[mode, name].append(_time(cmd, env, cwd))
        if args.breakdown:
            print("breakdown of one run (warm cache), in the order a query pays it:")
            for script in (_CLI, _FLOOR, _SIGNED):
                out = subprocess.run(
                    [python, "-c", script, catalog, data_path],
                    env=envs["warm"],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                print(out, end="")
    missed = False
    for mode in envs:
        medians = {name: statistics.median(times[mode, name]) for name in commands}
        base = medians["import duckdb"]
        cache = "warm bytecode cache" if mode == "warm" else "no bytecode cache (compiled from source each run)"
        print(f"medians of {args.rounds} interleaved rounds, {cache}:")
        for name, value in medians.items():
            print(f"  {name:<18} {value:6.3f} s  {value / base:4.2f}x import duckdb")
        for name, target in TARGETS.items():
            ratio = medians[name] / base
            ok = ratio <= target
            if mode == "warm":
                missed |= not ok
            print(f"  {name:<18} {ratio:4.2f}x import duckdb (target <= {target}x): {'ok' if ok else 'MISSED'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
