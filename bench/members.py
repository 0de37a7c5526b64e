"""Benchmark: ingest with 1, 2 and 3 members of one consumer group on the same data, in one run.

    uv run python bench/members.py --events 600000 --rounds 2

Starts its own Kafka broker in a temporary directory and fills four topics of six partitions each with the
simulator. Then, for each round, runs `liveops ingest --workers K` for K = 1, 2, 3 (order reversed every
other round, so drift in the machine's load falls on every K alike), each into a new lake with its own
consumer group, and prints:

- msg/s (median over the rounds) and the ratio to one member;
- CPU seconds per message of the whole run (all member processes; user + system), and what that implies:
  on a machine per member (no shared cores) the rate could grow up to K x the one-member rate as long as the
  CPU per message stays flat;
- the lag (messages not yet in the lake) sampled every second, as a small timeline.

Each run uses the default catalog (a new SQLite file); the members' commits then take turns on SQLite's one
writer lock (retried), which the figures include.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402

from config.settings import Settings  # noqa: E402
from streams.broker import LocalBroker, create_topics, free_port  # noqa: E402
from streams.producer import produce  # noqa: E402
from streams.simulator import SimConfig, simulate  # noqa: E402
from warehouse.lake import LakeConfig, WarehouseError, open_lake  # noqa: E402


@dataclass
class Run:
    members: int
    seconds: float
    cpu_s: float
    lag: list[int]


def lake_lag(lake: LakeConfig, total: int) -> int | None:
    """Messages not yet in the lake (None while the lake does not exist yet)."""
    try:
        with open_lake(lake, read_only=True) as con:
            row = con.execute("SELECT coalesce(sum(next_offset), 0) FROM ingest_offsets").fetchone()
    except (WarehouseError, duckdb.Error):  # not there yet, or still being migrated
        return None
    return total - int(row[0]) if row else None


def one_run(members: int, env: dict[str, str], lake: LakeConfig, total: int) -> Run:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "liveops", "ingest", "--no-prefect", "--workers", str(members)],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lag: list[int] = []
    while proc.poll() is None:
        time.sleep(1.0)
        value = lake_lag(lake, total)
        if value is not None:
            lag.append(value)
    _, err = proc.communicate()
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"ingest --workers {members} failed:\n{err[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(members, seconds, cpu, lag)


def timeline(lag: list[int], width: int = 12) -> str:
    step = max(1, len(lag) // width)
    return " ".join(f"{v / 1000:.0f}k" for v in lag[::step])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=600_000, help="simulated events to ingest (default 600000)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each member count (default 2)")
    parser.add_argument("--batch-size", type=int, default=50_000, help="LIVEOPS_BATCH_SIZE of the members")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="liveops-bench-members-") as tmp:
        broker = LocalBroker(Path(tmp) / "kafka", REPO / ".liveops" / "jars", port=free_port(),
                             controller_port=free_port(), heap="1g")  # fmt: skip
        print(f"starting a Kafka broker at {broker.bootstrap} ...", file=sys.stderr)
        broker.up(timeout=180)
        try:
            settings = Settings(bootstrap_servers=broker.bootstrap)
            topics = settings.topics.by_family()
            create_topics(settings.kafka_client_config(), list(topics.values()), 6)
            print(f"producing ~{args.events:,} simulated events into 4 topics x 6 partitions ...", file=sys.stderr)
            sim = SimConfig(days=3, users=20_000, channels=40, campaigns=5, seed=7, target_events=args.events,
                            topics=topics)  # fmt: skip
            total = produce(simulate(sim), settings.kafka_client_config())
            runs: list[Run] = []
            for round_no in range(args.rounds):
                order = [1, 2, 3] if round_no % 2 == 0 else [3, 2, 1]
                for members in order:
                    name = f"r{round_no}-m{members}"
                    folder = Path(tmp) / name
                    catalog = f"sqlite:{folder / 'catalog.sqlite'}"
                    lake = LakeConfig(catalog, f"{folder / 'files'}/")
                    env = os.environ | {
                        "LIVEOPS_BOOTSTRAP_SERVERS": broker.bootstrap, "LIVEOPS_LAKE_CATALOG": catalog,
                        "LIVEOPS_LAKE_DATA_PATH": lake.data_path, "LIVEOPS_CONSUMER_GROUP": f"bench-{name}",
                        "LIVEOPS_BATCH_SIZE": str(args.batch_size), "DO_NOT_TRACK": "1",
                        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                    }  # fmt: skip
                    print(f"round {round_no + 1}: {members} member(s) ...", file=sys.stderr)
                    runs.append(one_run(members, env, lake, total))
        finally:
            broker.down()
    print(f"\n{total:,} messages, 4 topics x 6 partitions, batch {args.batch_size:,}, {os.cpu_count()} cores, "
          f"{args.rounds} round(s), median shown\n")  # fmt: skip
    print("| members | msg/s | vs 1 member | CPU s | CPU µs/msg | lag over time (sampled each second) |")
    print("|---:|---:|---:|---:|---:|---|")
    base = statistics.median(total / r.seconds for r in runs if r.members == 1)
    for members in (1, 2, 3):
        mine = [r for r in runs if r.members == members]
        rate = statistics.median(total / r.seconds for r in mine)
        cpu = statistics.median(r.cpu_s for r in mine)
        print(f"| {members} | {rate:,.0f} | {rate / base:.2f}x | {cpu:.1f} | {cpu / total * 1e6:.1f} | "
              f"{timeline(mine[0].lag)} |")  # fmt: skip
    print(
        "\nCPU µs/msg that stays flat as members are added means the work splits without overhead: on a machine "
        "per member the rate could grow with the members until the broker or the catalog is the bottleneck; on "
        "this machine the cores are shared, so the rate cannot exceed what the cores give."
    )


if __name__ == "__main__":
    main()
