"""Benchmark of the marts build: one simulated day of N events, ingested, then ``run_build`` timed.

For each size N: simulate one day of about N valid events (the simulator's shape: mostly heartbeats) into
JSON-lines files (kept under ``--data`` and reused by later runs) or straight into Kafka, ingest them into a
fresh lake (a SQLite catalog and its Parquet files under ``--work``; JSON-lines: the ingest's own decode + transactional load, without Kafka; Kafka: the real
``ingest_once`` against the broker of the settings), then time ``run_build`` of that day in a separate
process and print its wall time, peak RSS and raw events per second.

    uv run python bench/build.py                       # N = 10,000,000
    uv run python bench/build.py --events 1000000
    uv run python bench/build.py --sizes 5000000,10000000,20000000
    uv run python bench/build.py --events 1000000 --via kafka   # needs `liveops kafka up`
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

# Runnable as `python bench/build.py` from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from config.settings import Settings, Topics
from streams.simulator import SimConfig, simulate

PARTITIONS = 3
BATCH = 200_000


@dataclass
class Figures:
    """What one phase measured in its own process."""

    seconds: float
    peak_rss_mb: float
    detail: dict[str, Any]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def _config(events: int, topics: dict[str, str] | None = None) -> SimConfig:
    config = SimConfig(days=1, target_events=events, seed=42)
    return replace(config, topics=topics) if topics else config


def simulate_jsonl(events: int, out_dir: Path) -> int:
    """Write the simulated day to ``out_dir`` (skipped when already there). Returns the messages written."""
    from streams.producer import write_jsonl

    done = out_dir / "DONE"
    if done.exists():
        return int(done.read_text())
    counts = write_jsonl(simulate(_config(events)), out_dir)
    total = sum(counts.values())
    done.write_text(str(total))
    return total


def ingest_jsonl(in_dir: Path, settings: Settings) -> dict[str, Any]:
    """Run the real ingest loop over the JSON-lines messages, Kafka left out (``streams.memory``): batches of
    200,000 messages, one transaction each."""
    from flows.ingest import ingest_without_kafka
    from streams.memory import arrivals
    from streams.producer import read_jsonl
    from warehouse.loader import LakeWarehouse

    with LakeWarehouse(settings.lake) as warehouse:
        done = ingest_without_kafka(
            warehouse, arrivals(read_jsonl(in_dir)), SimConfig().topics, partitions=PARTITIONS, batch_size=BATCH
        )
    return {"messages": done.messages, "loaded": done.loaded}


def ingest_kafka(events: int, settings: Settings) -> dict[str, Any]:
    """Produce the simulated day to the settings' topics, then run the real ingest."""
    from flows.ingest import ingest_once
    from streams.broker import create_topics
    from streams.producer import produce

    client = settings.kafka_client_config()
    create_topics(client, list(settings.topics.by_family().values()), PARTITIONS)
    produced = produce(simulate(_config(events, settings.topics.by_family())), client)
    totals = ingest_once(settings)
    return {"messages": produced, "loaded": totals.loaded}


def _phase(name: str, args: tuple[Any, ...], queue: Any) -> None:
    """Child process: run one phase and report its wall time and peak RSS."""
    from flows.build import run_build  # imported before the clock starts (Prefect takes seconds to import)

    started = time.monotonic()
    detail: dict[str, Any]
    if name == "simulate":
        detail = {"messages": simulate_jsonl(*args)}
    elif name == "ingest-jsonl":
        detail = ingest_jsonl(*args)
    elif name == "ingest-kafka":
        detail = ingest_kafka(*args)
    else:
        result = run_build(args[0], full=True, progress=lambda line: print("   ", line, flush=True))
        detail = {"days": len(result.days), "events": result.events, "build_s": result.seconds, "rows": result.rows}
    queue.put(Figures(time.monotonic() - started, _peak_rss_mb(), detail))


def run_phase(name: str, *args: Any) -> Figures:
    """Run a phase in a fresh process, so that its peak RSS is its own."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_phase, args=(name, args, queue))
    process.start()
    figures: Figures = queue.get()
    process.join()
    if process.exitcode:
        raise SystemExit(f"phase {name} failed with exit code {process.exitcode}")
    return figures


def lake_mb(folder: Path) -> float:
    """The size of the lake under ``folder``: its catalog (with its WAL) and its data files."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def bench(
    events: int, via: str, data: Path, work: Path, repeat: int = 1, keep: bool = False, baseline: bool = False
) -> dict[str, Any]:
    """Simulate, ingest and build one size; return its figures.

    With ``keep``, the lake stays in ``<work>/n<events>-<via>/lake/`` and a later run with ``keep`` builds
    it again without simulating and ingesting.
    """
    run_dir = work / (f"n{events}-{via}" if keep else f"n{events}-{os.getpid()}")
    run_dir.mkdir(parents=True, exist_ok=True)
    ingested = run_dir / "INGESTED"
    suffix = f"bench-{events}-{os.getpid()}"
    settings = Settings(
        lake_catalog=f"sqlite:{run_dir / 'lake' / 'catalog.sqlite'}",
        lake_data_path=f"{run_dir / 'lake' / 'files'}/",
        topics=Topics(viewer=f"viewer-{suffix}", engagement=f"engagement-{suffix}",
                      campaign=f"campaign-{suffix}", stream=f"stream-{suffix}"),
        consumer_group=f"liveops-{suffix}",
    )  # fmt: skip
    reused = ingested.exists()
    if reused:
        print(f"N = {events:,}: reusing the warehouse kept in {run_dir}", flush=True)
        sim = Figures(0.0, 0.0, {})
        ingest = Figures(0.0, 0.0, {"loaded": int(ingested.read_text())})
    elif via == "jsonl":
        print(f"N = {events:,}: simulating and ingesting via {via} ...", flush=True)
        sim = run_phase("simulate", events, data / f"day-{events}")
        ingest = run_phase("ingest-jsonl", data / f"day-{events}", settings)
    else:
        print(f"N = {events:,}: simulating and ingesting via {via} ...", flush=True)
        sim = Figures(0.0, 0.0, {})
        ingest = run_phase("ingest-kafka", events, settings)
    if keep:
        ingested.write_text(str(ingest.detail["loaded"]))
    took = "by an earlier run" if reused else f"in {ingest.seconds:.1f} s"
    print(f"  ingested {ingest.detail['loaded']:,} events {took}; building ...", flush=True)
    # Rebuilding the day is idempotent: repeat to see past the noise of a busy machine, keep the fastest.
    # The baseline reads the day's viewer events whole (one slice), alternating with the default build.
    unsliced = settings.model_copy(update={"build_slice_events": 10**15})
    runs: list[Figures] = []
    base_runs: list[Figures] = []
    for _ in range(repeat):
        runs.append(run_phase("build", settings))
        if baseline:
            base_runs.append(run_phase("build", unsliced))
    built = min(runs, key=lambda f: float(f.detail["build_s"]))
    base = min(base_runs, key=lambda f: float(f.detail["build_s"])) if base_runs else None
    events_built = int(built.detail["events"])
    warehouse_mb = lake_mb(run_dir / "lake")
    if not keep:
        shutil.rmtree(run_dir)
    return {
        "n": events,
        "events": events_built,
        "simulate_s": sim.seconds,
        "ingest_s": None if reused else ingest.seconds,
        "build_s": built.detail["build_s"],
        "run_build_s": built.seconds,
        "all_build_s": [round(float(f.detail["build_s"]), 1) for f in runs],
        "peak_rss_mb": built.peak_rss_mb,
        "rows_per_s": events_built / built.detail["build_s"] if built.detail["build_s"] else 0.0,
        "mart_rows": sum(built.detail["rows"].values()),
        "warehouse_mb": warehouse_mb,
        "base_build_s": base.detail["build_s"] if base else None,
        "base_peak_rss_mb": base.peak_rss_mb if base else None,
    }


def _seconds(value: float | None) -> str:
    return "kept" if value is None else f"{value:.1f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000, help="valid events in the simulated day")
    parser.add_argument("--sizes", help="comma-separated sizes, e.g. 5000000,10000000,20000000 (overrides --events)")
    parser.add_argument("--via", choices=("jsonl", "kafka"), default="jsonl", help="how events reach the warehouse")
    parser.add_argument("--data", type=Path, default=Path(".liveops/bench"), help="where simulated days are kept")
    parser.add_argument(
        "--work", type=Path, default=Path(".liveops/bench/warehouses"), help="where warehouses are built"
    )
    parser.add_argument(
        "--keep", action="store_true",
        help="keep the warehouses built, and reuse one kept by an earlier run (skips simulating and ingesting)",
    )  # fmt: skip
    parser.add_argument("--repeat", type=int, default=1, help="build the day this many times; report the fastest")
    parser.add_argument(
        "--baseline", action="store_true",
        help="also build the day with its viewer events read whole (no slices), alternating, and print the ratios",
    )  # fmt: skip
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [args.events]

    results = [bench(n, args.via, args.data, args.work, args.repeat, args.keep, args.baseline) for n in sizes]
    print()
    print(
        f"{'N':>12} {'events built':>13} {'ingest s':>9} {'build s':>8} {'run_build s':>12} "
        f"{'peak RSS MB':>12} {'events/s':>10} {'mart rows':>10} {'lake MB':>8}"
    )
    for r in results:
        print(
            f"{r['n']:>12,} {r['events']:>13,} {_seconds(r['ingest_s']):>9} {r['build_s']:>8.1f} {r['run_build_s']:>12.1f} "
            f"{r['peak_rss_mb']:>12,.0f} {r['rows_per_s']:>10,.0f} {r['mart_rows']:>10,} {r['warehouse_mb']:>8,.0f}"
        )
    if args.baseline:
        print("\nBaseline (viewer events read whole), same run:")
        print(f"{'N':>12} {'build s':>8} {'peak RSS MB':>12} {'time sliced/whole':>18} {'RSS sliced/whole':>17}")
        for r in results:
            print(
                f"{r['n']:>12,} {r['base_build_s']:>8.1f} {r['base_peak_rss_mb']:>12,.0f} "
                f"{r['build_s'] / r['base_build_s']:>18.2f} {r['peak_rss_mb'] / r['base_peak_rss_mb']:>17.2f}"
            )
    if args.repeat > 1:
        for r in results:
            print(f"{r['n']:>12,}: build s of each run: {r['all_build_s']}")
    print(
        "\nbuild s: build_marts (read, compute, write one day); run_build s: the build process end to end "
        "(attaching the lake, the build, the plan mart); peak RSS: the build process; lake MB: catalog and "
        "Parquet files."
    )


if __name__ == "__main__":
    main()
