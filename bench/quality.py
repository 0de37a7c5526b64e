"""Benchmark of the data-quality gate: one simulated day of N events, its marts build, then its checks.

    uv run python bench/quality.py --events 2000000
    uv run python bench/quality.py --events 2000000 --warehouse ~/q2m-lake   # keep / reuse the lake (a folder)

Simulates one day of about N valid events (``streams.simulator``, seed 42, the same day as bench/build.py),
ingests them with the real ingest loop over an in-memory source (``flows.ingest.ingest_without_kafka``,
Kafka left out). Then, ``--repeat`` times, builds the day's marts (``flows.marts.build_marts``: the daily
build) and checks the day (``quality.checks.check_day``), alternating so that both see the same load on a
shared machine, and prints for the fastest build and the fastest check: DuckDB's time building the frames,
GX's time validating them, the check's wall time (the events' profiles overlap GX), the Data Docs rendering,
the day's events validated per second and the share of the build time. DuckDB's part grows with the day's
events like the build, GX's does not: the share falls as days grow.

With a one-day warehouse the day is never complete (no later event has pushed the watermark past the day's
end plus the allowed lateness), so the freshness suite reports ``day_complete`` and
``marts_built_when_complete`` as failed: expected here, and without effect on the timings.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

# Runnable as `python bench/quality.py` from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from flows.ingest import IngestProgress, ingest_without_kafka
from flows.marts import build_marts
from flows.quality import quality_windows
from quality.checks import QualityReport, check_day
from schemas.events import FAMILIES
from streams.memory import arrivals
from streams.simulator import SimConfig, simulate
from warehouse.lake import LakeConfig, lake_exists, open_lake
from warehouse.loader import LakeWarehouse

TZ = "UTC"
LATENESS = timedelta(hours=2)
BATCH = 200_000
PARTITIONS = 3


def lake_in(folder: Path) -> LakeConfig:
    """A lake under ``folder``: a SQLite catalog and its Parquet files."""
    return LakeConfig(f"sqlite:{folder / 'catalog.sqlite'}", f"{folder / 'files'}/")


def load_day(lake: LakeConfig, events: int) -> None:
    """Simulate one day of about ``events`` valid events into the new lake ``lake``."""
    config = SimConfig(days=1, target_events=events, seed=42)
    started = time.perf_counter()

    def progress(totals: IngestProgress) -> None:
        if totals.messages % 1_000_000 < BATCH:
            print(f"  {totals.messages:,} messages loaded ({time.perf_counter() - started:.0f} s)", flush=True)

    with LakeWarehouse(lake) as warehouse:
        ingest_without_kafka(
            warehouse, arrivals(simulate(config)), config.topics, partitions=PARTITIONS, batch_size=BATCH,
            progress=progress,
        )  # fmt: skip
    print(f"simulated and loaded in {time.perf_counter() - started:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2_000_000, help="valid events in the simulated day")
    parser.add_argument("--repeat", type=int, default=3, help="build + check rounds (the fastest of each is reported)")
    parser.add_argument("--warehouse", type=Path, help="folder of a lake to keep and reuse (default: a temporary one)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="liveops-bench-quality-") as tmp:
        lake = lake_in(args.warehouse or Path(tmp) / "lake")
        if not lake_exists(lake):
            print(f"simulating one day of ~{args.events:,} events into {lake.describe()} ...", flush=True)
            load_day(lake, args.events)
        con = open_lake(lake)
        try:
            day: date = SimConfig().start_date
            per_family = {f: con.sql(f"SELECT count(*) FROM raw_{f}_events").fetchall()[0][0] for f in FAMILIES}
            # Builds and checks alternate, so that both see the same load on a shared machine.
            builds = []
            runs: list[QualityReport] = []
            for i in range(args.repeat):
                builds.append(build_marts(con, [day], TZ, LATENESS))
                docs = Path(tmp) / f"data-docs-{i}"
                report = check_day(con, quality_windows(day, TZ), LATENESS, datetime.now(UTC), docs, store=True)
                runs.append(report)
                print(
                    f"run {i + 1}: build {builds[-1].seconds:.2f} s; quality wall {report.seconds:.2f} s "
                    f"(DuckDB {report.frames_seconds:.2f} s, GX {report.validation_seconds:.2f} s), "
                    f"Data Docs {report.docs_seconds:.2f} s; ratio {report.seconds / builds[-1].seconds:.1%}",
                    flush=True,
                )
        finally:
            con.close()

    build = min(builds, key=lambda b: b.seconds)
    best = min(runs, key=lambda r: r.seconds)
    events = best.events
    print()
    print(f"day {day}: {events:,} events ({', '.join(f'{f} {n:,}' for f, n in per_family.items())})")
    print(f"expectations:               {len(best.results)} in {len(best.suites())} suites")
    print(f"daily build (marts):        {build.seconds:8.2f} s   ({build.events / build.seconds:,.0f} events/s)")
    print(f"quality, DuckDB frames:     {best.frames_seconds:8.2f} s   (grows with the day's events)")
    print(f"quality, GX validation:     {best.validation_seconds:8.2f} s   (about fixed: small frames)")
    print(
        f"quality, wall:              {best.seconds:8.2f} s   ({events / best.seconds:,.0f} events/s validated; "
        "DuckDB's frames overlap GX)"
    )
    print(f"Data Docs rendering:        {best.docs_seconds:8.2f} s   (not counted above)")
    print(f"share of the build:         {best.seconds / build.seconds:8.1%}   (fastest check / fastest build)")
    ratios = sorted(r.seconds / b.seconds for r, b in zip(runs, builds, strict=True))
    print(f"per round:                  {', '.join(f'{x:.1%}' for x in ratios)}")
    failed = [f"{r.suite}.{r.expectation}" for r in best.failures]
    print(f"failed expectations:        {', '.join(failed) or 'none'}")


if __name__ == "__main__":
    main()
