"""Benchmark of the lake: costs that must not grow with history, and a big day built on the lake vs a file.

    uv run python bench/lake.py                                  # quick: 200k events a day, a 500k-event big day
    uv run python bench/lake.py --big-day-events 10000000        # the issue's 10 M-event day
    uv run python bench/lake.py --day-events 1000000 --rounds 7  # more history per day, more rounds
    uv run python bench/lake.py --skip-big-day                   # part 1 only (or --skip-history: part 2 only)
    uv run python bench/lake.py --skip-big-day --maintain        # part 1 on lakes compacted by maintenance

Part 1, "cost does not grow with history". One simulated run of ``--history-days`` days (about
``--day-events`` valid events a day, seed 42) is loaded into a lake (the real ingest loop over an
in-memory source, Kafka left out, batches of 200,000 messages), and the messages of its latest day into a
second lake: a warehouse with 10 days of history and one with 1 day, both holding the same latest day. Both
get a full marts build. Then, after ``--warmup`` uncounted rounds, for ``--rounds`` rounds, alternating
which lake goes first, each lake is timed on:

- ingest commit: ``LakeWarehouse.load_batch`` of a decoded batch of ``--batch`` messages of the latest day
  (the same messages each round, with fresh event ids, so they are new events and not duplicates; the
  decode is not timed);
- build of one day: ``build_marts`` of the latest day (a range build);
- analyst queries on a read-only connection: a ``v_daily_headline`` lookup of that day, and a count of that
  day's ``raw_viewer_events`` (each the median of a few runs), and the time to attach the lake read-only.

Both lakes receive the same batches, so they keep the same latest day. The median of each figure is
printed for 1 and 10 days and the ratio 10 d / 1 d (target: at most 1.2), with how many of
``raw_viewer_events``' data files a scan of the day cannot skip. ``--maintain`` runs the maintenance steps
(``warehouse.maintenance.maintain``: compaction, snapshot expiry, clean-up) on both lakes before the rounds.

Part 2, "a big day". One simulated day of about ``--big-day-events`` valid events is loaded into a lake,
then its rows are copied into a plain DuckDB file with the same migrations (the single-file warehouse
liveops used before the lake: ``duckdb.connect(path)``, UTC, ``warehouse.migrations.migrate``). The day's
build (``build_marts`` of that day) runs on each in its own process, alternating lake / file for
``--big-rounds`` rounds, and each process reports its build time and its peak RSS (target: the lake no
slower than 1.2x the file, peak RSS at most 3 GiB). Peak RSS is the child's ``VmHWM``.

Every lake and file lives under a temporary folder (``--work``, default the system's), removed at the end.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

# Runnable as `python bench/lake.py` from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb
import polars as pl

from flows.ingest import IngestProgress, ingest_without_kafka
from flows.marts import build_marts
from schemas.events import FAMILIES, MESSAGE_SCHEMA, Family
from streams.memory import arrivals
from streams.simulator import SimConfig, SimMessage, simulate
from transforms.decode import Decoded, decode_messages
from warehouse.extensions import load_lake_extensions
from warehouse.lake import LAKE, LakeConfig, open_lake
from warehouse.loader import LakeWarehouse
from warehouse.maintenance import maintain
from warehouse.migrations import migrate, raw_table

TZ = "UTC"
LATENESS = timedelta(hours=2)
PARTITIONS = 3
BATCH = 200_000
SEED = 42
QUERY_REPEAT = 5
# The tables ingest writes: what a build reads, copied into the single-file warehouse.
INGEST_TABLES = (
    *(raw_table(f) for f in FAMILIES),
    "quarantine",
    "ingest_offsets",
    "ingest_batches",
    "arrival_corrections",
)


def lake_in(folder: Path) -> LakeConfig:
    """A lake under ``folder``: a SQLite catalog and its Parquet files."""
    return LakeConfig(f"sqlite:{folder / 'catalog.sqlite'}", f"{folder / 'files'}/")


def _say(text: str) -> None:
    print(text, flush=True)


def _peak_rss_mb() -> float:
    """This process's peak RSS since it started its program.

    Why not ``getrusage``: Linux carries ``ru_maxrss`` over ``exec``, so a child would report at least the RSS
    of the parent it was forked from. ``VmHWM`` belongs to the process's current memory map only.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _parquet_files(folder: Path) -> int:
    return sum(1 for _ in folder.rglob("*.parquet"))


def _folder_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def _load(lake: LakeConfig, messages: Iterable[SimMessage], topics: dict[str, str]) -> int:
    """Run the real ingest loop over ``messages`` into ``lake`` (Kafka left out); returns the events loaded."""
    with LakeWarehouse(lake) as warehouse:
        return ingest_without_kafka(
            warehouse, arrivals(messages), topics, partitions=PARTITIONS, batch_size=BATCH
        ).loaded


def _full_build(lake: LakeConfig) -> float:
    con = open_lake(lake)
    try:
        return build_marts(con, None, TZ, LATENESS, full=True, progress=lambda _: None).seconds
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------------------
# Part 1: 1 day vs 10 days of history
# ---------------------------------------------------------------------------------------------------------


@dataclass
class History:
    """The two lakes of part 1 and the latest day they share."""

    short: LakeConfig  # the latest day only
    long: LakeConfig  # every day
    day: date
    sample: list[SimMessage]  # messages of the latest day, the stuff of the timed ingest batches
    topics: dict[str, str]
    detail: dict[str, Any] = field(default_factory=dict)


def prepare_history(root: Path, history_days: int, day_events: int, maintained: bool = False) -> History:
    """Simulate ``history_days`` days into one lake and their latest day into another; build both fully.

    With ``maintained``, both lakes then get the maintenance flow's steps (compaction, snapshot expiry, clean-up).
    """
    config = SimConfig(days=history_days, target_events=day_events * history_days, seed=SEED)
    topics = dict(config.topics)
    day = config.start_date + timedelta(days=history_days - 1)
    latest = _day_start(day)
    kept: list[SimMessage] = []

    def tee(messages: Iterator[SimMessage]) -> Iterator[SimMessage]:
        for message in messages:
            if message.event_time >= latest:
                kept.append(message)
            yield message

    long, short = lake_in(root / f"lake-{history_days}d"), lake_in(root / "lake-1d")
    started = time.perf_counter()
    _say(f"part 1: simulating {history_days} days of ~{day_events:,} events into a lake ...")
    loaded_long = _load(long, tee(simulate(config)), topics)
    _say(f"  {loaded_long:,} events loaded in {time.perf_counter() - started:.0f} s; the latest day into another ...")
    loaded_short = _load(short, kept, topics)
    _say(f"  {loaded_short:,} events loaded; full marts builds of both ...")
    long_s, short_s = _full_build(long), _full_build(short)
    _say(f"  built {history_days} days in {long_s:.1f} s, 1 day in {short_s:.1f} s")
    if maintained:
        for lake in (long, short):
            con = open_lake(lake)
            try:
                _say(f"  {maintain(con, timedelta(0)).line()}")
            finally:
                con.close()
    detail = {"loaded_long": loaded_long, "loaded_short": loaded_short}
    return History(short, long, day, kept, topics, detail)


def _fresh_batch(
    sample: list[SimMessage], size: int, round_no: int, topics: dict[str, str]
) -> tuple[Decoded, dict[tuple[str, int], int], int]:
    """``size`` messages spread over ``sample``, with event ids no earlier round used, decoded.

    Offsets are past anything the simulation gave (a billion per round), so the ledger stays sensible.
    """
    step = max(1, len(sample) // size)
    picked = sample[::step][:size]
    tag = f'"event_id":"r{round_no}-'.encode()
    base = 10**9 * (round_no + 1)
    rows = []
    for i, message in enumerate(picked):
        key = message.key
        partition = (key[-1] if key else 0) % PARTITIONS
        value = message.value.replace(b'"event_id":"', tag, 1)
        rows.append((message.topic, partition, base + i, int(message.event_time.timestamp() * 1000), key, value))
    frame = pl.DataFrame(rows, schema=MESSAGE_SCHEMA, orient="row")
    families: dict[str, Family] = {topic: family for family, topic in topics.items()}  # type: ignore[misc]
    decoded = decode_messages(frame, families)
    ends = {
        (topic, partition): offset + 1
        for topic, partition, offset in frame.group_by("topic", "partition").agg(pl.col("offset").max()).rows()
    }
    return decoded, ends, frame.height


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _commit(writer: LakeWarehouse, decoded: Decoded, ends: dict[tuple[str, int], int], messages: int) -> float:
    """The wall time of one batch's ``load_batch`` (its lake transaction, commit included)."""
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    writer.load_batch(
        decoded.valid, decoded.quarantine, ends, messages, decoded.duplicates_in_batch, decoded.unknown_fields,
        started_at,
    )  # fmt: skip
    return time.perf_counter() - started


def _attach_time(lake: LakeConfig) -> float:
    """How long an analyst waits to attach the lake read-only (extensions loaded, catalog attached)."""
    started = time.perf_counter()
    open_lake(lake, read_only=True).close()
    return time.perf_counter() - started


def _query_times(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, float]:
    """Medians of a few runs of the two analyst queries on a read-only connection."""
    lo, hi = _day_start(day), _day_start(day + timedelta(days=1))
    headline = "SELECT * FROM v_daily_headline WHERE day = ?"
    count = "SELECT count(*) FROM raw_viewer_events WHERE event_time >= ? AND event_time < ?"
    h = [_timed(lambda: con.execute(headline, [day]).fetchall()) for _ in range(QUERY_REPEAT)]
    c = [_timed(lambda: con.execute(count, [lo, hi]).fetchall()) for _ in range(QUERY_REPEAT)]
    return {
        "query: headline of the day": statistics.median(h),
        "query: count of the day's viewer events": statistics.median(c),
    }


def day_files(con: duckdb.DuckDBPyConnection, day: date) -> tuple[int, int, int]:
    """``raw_viewer_events``: live data files, those whose ``event_time`` range overlaps ``day`` (a scan of the
    day cannot skip them) and their rows. Ingest writes a file per batch, by arrival: late events widen a
    file's range, so a day's scan also reads neighbouring days' rows."""
    meta = f"__ducklake_metadata_{LAKE}"
    # The catalog keeps statistics as text ('2026-11-10 00:00:02+00'): ISO text compares in time order.
    row = con.execute(
        f"""
        SELECT count(*), count(*) FILTER (WHERE s.min_value < ? AND s.max_value >= ?),
               coalesce(sum(f.record_count) FILTER (WHERE s.min_value < ? AND s.max_value >= ?), 0)
        FROM {meta}.ducklake_data_file f
        JOIN {meta}.ducklake_table t ON t.table_id = f.table_id AND t.end_snapshot IS NULL
        JOIN {meta}.ducklake_column c ON c.table_id = t.table_id AND c.end_snapshot IS NULL
        JOIN {meta}.ducklake_file_column_stats s ON s.data_file_id = f.data_file_id AND s.column_id = c.column_id
        WHERE f.end_snapshot IS NULL AND t.table_name = 'raw_viewer_events' AND c.column_name = 'event_time'
        """,
        [str(_day_start(day + timedelta(days=1))), str(_day_start(day))] * 2,
    ).fetchone()
    return (int(row[0]), int(row[1]), int(row[2])) if row else (0, 0, 0)


def measure_history(
    history: History, rounds: int, batch: int, history_days: int, warmup: int = 1
) -> dict[str, dict[str, list[float]]]:
    """Interleaved rounds on both lakes; returns each figure's timings per lake (``1d``, ``<n>d``).

    The first ``warmup`` rounds are run the same way and not counted (first queries, caches).
    """
    long_name = f"{history_days}d"
    lakes = {"1d": history.short, long_name: history.long}
    writers = {name: LakeWarehouse(lake) for name, lake in lakes.items()}
    readers = {name: open_lake(lake, read_only=True) for name, lake in lakes.items()}
    times: dict[str, dict[str, list[float]]] = {name: {} for name in lakes}
    try:
        for round_no in range(warmup + rounds):
            decoded, ends, messages = _fresh_batch(history.sample, batch, round_no, history.topics)
            order = list(lakes) if round_no % 2 == 0 else list(reversed(lakes))
            last: dict[str, dict[str, float]] = {}
            for name in order:
                writer = writers[name]
                lake = lakes[name]
                now = last[name] = {}
                now["ingest: one batch commit"] = _commit(writer, decoded, ends, messages)
                built = build_marts(writer.con, [history.day], TZ, LATENESS, progress=lambda _: None)
                now["build: one day"] = built.seconds
                now["query: attach read-only"] = _attach_time(lake)
                now.update(_query_times(readers[name], history.day))
                if round_no >= warmup:
                    for key, value in now.items():
                        times[name].setdefault(key, []).append(value)
            line = "; ".join(
                f"{name}: commit {last[name]['ingest: one batch commit']:.2f} s, "
                f"build {last[name]['build: one day']:.2f} s"
                for name in lakes
            )
            label = "warm-up" if round_no < warmup else f"round {round_no - warmup + 1}/{rounds}"
            _say(f"  {label}: {line}")
        for name, reader in readers.items():
            files, overlapping, rows = day_files(reader, history.day)
            _say(
                f"  {name}: raw_viewer_events has {files} data file(s), {overlapping} of them overlap {history.day} "
                f"({rows:,} rows for a scan of the day)"
            )
    finally:
        for reader in readers.values():
            reader.close()
        for writer in writers.values():
            writer.close()
    return times


# ---------------------------------------------------------------------------------------------------------
# Part 2: a big day on the lake vs on a DuckDB file
# ---------------------------------------------------------------------------------------------------------


def prepare_big_day(root: Path, events: int) -> tuple[LakeConfig, Path, date, int]:
    """Load one simulated day of ``events`` into a lake, then copy its ingest tables into a DuckDB file."""
    config = SimConfig(days=1, target_events=events, seed=SEED)
    lake = lake_in(root / "big-lake")
    started = time.perf_counter()
    _say(f"part 2: simulating one day of ~{events:,} events into a lake ...")

    def progress(totals: IngestProgress) -> None:
        if totals.messages % 1_000_000 < BATCH:
            _say(f"  {totals.messages:,} messages loaded ({time.perf_counter() - started:.0f} s)")

    _say("  simulating every message first (the in-memory source holds them) ...")
    with LakeWarehouse(lake) as warehouse:
        loaded = ingest_without_kafka(
            warehouse, arrivals(simulate(config)), config.topics, partitions=PARTITIONS, batch_size=BATCH,
            progress=progress,
        ).loaded  # fmt: skip
    _say(f"  {loaded:,} events loaded in {time.perf_counter() - started:.0f} s; copying them into a DuckDB file ...")
    path = root / "big-file" / "warehouse.duckdb"
    path.parent.mkdir(parents=True)
    copy_to_file(lake, path)
    return lake, path, config.start_date, loaded


def open_file(path: Path) -> duckdb.DuckDBPyConnection:
    """The single-file warehouse as liveops opened it before the lake: the file, in UTC, migrated."""
    con = duckdb.connect(str(path))
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    migrate(con)
    return con


def copy_to_file(lake: LakeConfig, path: Path) -> None:
    """Copy what ingest wrote to ``lake`` into a new DuckDB file with the same migrations."""
    con = open_file(path)
    try:
        load_lake_extensions(con)
        con.execute(lake.attach_sql(read_only=True))
        for table in INGEST_TABLES:
            con.execute(f"INSERT INTO main.{table} SELECT * FROM {LAKE}.{table}")
        con.execute(f"DETACH {LAKE}")
        con.execute("CHECKPOINT")
    finally:
        con.close()


def child_build(kind: str, target: str, day: date) -> None:
    """In a child process: build ``day`` on the lake folder or the DuckDB file ``target``; print the figures."""
    started = time.perf_counter()
    con = open_lake(lake_in(Path(target))) if kind == "lake" else open_file(Path(target))
    try:
        result = build_marts(con, [day], TZ, LATENESS, progress=lambda _: None)
    finally:
        con.close()
    figures = {
        "build_s": result.seconds,
        "process_s": time.perf_counter() - started,
        "peak_rss_mb": _peak_rss_mb(),
        "events": result.events,
    }
    print("FIGURES " + json.dumps(figures), flush=True)


def run_child(kind: str, target: Path, day: date) -> dict[str, Any]:
    """Run :func:`child_build` in a fresh Python process (so that its peak RSS is its own)."""
    command = [sys.executable, __file__, "--child-build", kind, str(target), day.isoformat()]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"the {kind} build failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    line = next(x for x in reversed(done.stdout.splitlines()) if x.startswith("FIGURES "))
    figures: dict[str, Any] = json.loads(line.removeprefix("FIGURES "))
    return figures


def measure_big_day(lake: LakeConfig, path: Path, day: date, rounds: int) -> dict[str, list[dict[str, Any]]]:
    """Alternate lake / file builds of ``day``, each in its own process."""
    folder = Path(lake.data_path).parent
    runs: dict[str, list[dict[str, Any]]] = {"lake": [], "file": []}
    for round_no in range(rounds):
        for kind in ("lake", "file") if round_no % 2 == 0 else ("file", "lake"):
            figures = run_child(kind, folder if kind == "lake" else path, day)
            runs[kind].append(figures)
            _say(
                f"  round {round_no + 1}/{rounds} {kind}: build {figures['build_s']:.1f} s "
                f"(process {figures['process_s']:.1f} s), peak RSS {figures['peak_rss_mb']:,.0f} MB, "
                f"{figures['events']:,} events"
            )
    return runs


# ---------------------------------------------------------------------------------------------------------
# Printing
# ---------------------------------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def history_table(times: dict[str, dict[str, list[float]]]) -> list[str]:
    short, long = list(times)
    lines = [f"{'median of the rounds':<42} {short:>12} {long:>12} {long + '/' + short:>8}  target"]
    for key in times[short]:
        a, b = statistics.median(times[short][key]), statistics.median(times[long][key])
        verdict = "ok" if b / a <= 1.2 else "OVER"
        lines.append(f"{key:<42} {_ms(a):>12} {_ms(b):>12} {b / a:>8.2f}  <= 1.2 {verdict}")
    return lines


def big_day_table(runs: dict[str, list[dict[str, Any]]], events: int) -> list[str]:
    lake_s = statistics.median(r["build_s"] for r in runs["lake"])
    file_s = statistics.median(r["build_s"] for r in runs["file"])
    lake_rss = max(r["peak_rss_mb"] for r in runs["lake"])
    file_rss = max(r["peak_rss_mb"] for r in runs["file"])
    ratio = lake_s / file_s
    each_lake = ", ".join(f"{r['build_s']:.1f}" for r in runs["lake"])
    each_file = ", ".join(f"{r['build_s']:.1f}" for r in runs["file"])
    return [
        f"{'big day: ' + f'{events:,} events':<42} {'lake':>12} {'file':>12} {'lake/file':>9}  target",
        f"{'build of the day (median)':<42} {lake_s:>10.1f} s {file_s:>10.1f} s {ratio:>9.2f}  <= 1.2 "
        + ("ok" if ratio <= 1.2 else "OVER"),
        f"{'peak RSS of the build process (max)':<42} {lake_rss:>9,.0f} MB {file_rss:>9,.0f} MB "
        f"{lake_rss / file_rss:>9.2f}  lake <= 3072 MB " + ("ok" if lake_rss <= 3072 else "OVER"),
        f"{'build s of each round':<42} {each_lake:>12} {each_file:>12}",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--history-days", type=int, default=10, help="days of history of the long lake (part 1)")
    parser.add_argument("--day-events", type=int, default=200_000, help="valid events a simulated day (part 1)")
    parser.add_argument("--batch", type=int, default=20_000, help="messages of the timed ingest batch (part 1)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds of part 1 (medians reported)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted rounds before those of part 1")
    parser.add_argument(
        "--big-day-events", type=int, default=500_000,
        help="valid events of the big day (part 2); the issue's figure is 10000000",
    )  # fmt: skip
    parser.add_argument("--big-rounds", type=int, default=2, help="lake / file build pairs of part 2")
    parser.add_argument(
        "--maintain", action="store_true", help="run lake maintenance on both lakes of part 1 before the rounds"
    )
    parser.add_argument("--skip-history", action="store_true", help="run part 2 only")
    parser.add_argument("--skip-big-day", action="store_true", help="run part 1 only")
    parser.add_argument("--work", type=Path, help="folder for the temporary lakes (default: the system's temp)")
    parser.add_argument("--child-build", nargs=3, metavar=("KIND", "TARGET", "DAY"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_build:
        kind, target, day = args.child_build
        child_build(kind, target, date.fromisoformat(day))
        return

    started = time.perf_counter()
    table: list[str] = []
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="liveops-bench-lake-", dir=args.work) as tmp:
        root = Path(tmp)
        if not args.skip_history:
            history = prepare_history(root, args.history_days, args.day_events, args.maintain)
            _say(f"  timing {args.rounds} rounds (batch of {args.batch:,} messages of {history.day}) ...")
            times = measure_history(history, args.rounds, args.batch, args.history_days, args.warmup)
            files = {
                name: _parquet_files(Path(lake.data_path))
                for name, lake in (("1d", history.short), (f"{args.history_days}d", history.long))
            }
            table += [
                f"Cost against history: {history.detail['loaded_short']:,} vs {history.detail['loaded_long']:,} "
                f"events before the rounds; Parquet files after: {files}",
                *history_table(times),
                "",
            ]
            shutil.rmtree(root / "lake-1d")
            shutil.rmtree(root / f"lake-{args.history_days}d")
        if not args.skip_big_day:
            lake, path, day, loaded = prepare_big_day(root, args.big_day_events)
            sizes = f"lake {_folder_mb(Path(lake.data_path).parent):,.0f} MB, file {_folder_mb(path.parent):,.0f} MB"
            _say(f"  {sizes}; building {day} {args.big_rounds} time(s) each, alternating, one process each ...")
            runs = measure_big_day(lake, path, day, args.big_rounds)
            table += [*big_day_table(runs, loaded), f"{'size on disk':<42} {sizes}", ""]
    print()
    print("\n".join(table))
    print(f"whole benchmark: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
