"""Benchmark: `liveops ingest` on each Kafka client against raw drains and a hand-written peer, one broker.

    uv run python bench/ingest.py                                # 1,500,000 messages, 3 rounds
    uv run python bench/ingest.py --messages 100000 --rounds 1   # a quick check

Starts its own Kafka broker (the code `liveops kafka up` runs) in a temporary directory, fills four fresh
topics (3 partitions each) with that many simulated messages (the simulator's mix: duplicates and malformed
messages included), then runs, round after round in the same order (interleaved: the machine's load hits
every contender alike), each contender in a fresh process:

  - raw kafka-python drain: assign, seek to the beginning, poll and discard;
  - raw confluent-kafka drain: assign at the beginning, ``consume(num_messages=...)`` and discard;
  - `liveops ingest` (``flows.ingest.ingest_once``, its public entry, the Prefect wrapper aside) on
    kafka-python, then on confluent-kafka (``kafka_client``), each into a fresh lake (SQLite catalog and
    Parquet files in the temporary directory): validated, deduplicated, exactly once; timed from the start
    of its loop (``IngestProgress.started``), the lake's and consumer's opening shown apart;
  - a hand-written peer: confluent-kafka batches, one bulk JSON decode by DuckDB, an Arrow insert into a
    DuckDB table per batch (no validation beyond "is it JSON", no dedup, at-least-once).

Prints msg/s (median of the rounds) and the ratio of each to the raw kafka-python and raw confluent-kafka
drains, the peak RSS of each process (its own ``ru_maxrss``), and where `liveops ingest`'s thread spent its
time: waiting for the read-ahead batch, decoding, loading, and the rest (the group commit, bookkeeping).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from config.settings import Settings  # noqa: E402
from streams.broker import LocalBroker, create_topics, free_port  # noqa: E402
from streams.producer import produce  # noqa: E402
from streams.simulator import SimConfig, simulate  # noqa: E402

# Each child prints one JSON line: messages, seconds (first read to last message handled), peak RSS.
KAFKA_PYTHON_DRAIN = """
import json, resource, sys, time
from kafka import KafkaConsumer, TopicPartition
config = json.loads(sys.argv[1])
consumer = KafkaConsumer(bootstrap_servers=config["bootstrap"], enable_auto_commit=False,
                         max_partition_fetch_bytes=8 << 20, fetch_max_bytes=64 << 20, max_poll_records=50_000)
tps = [TopicPartition(t, p) for t in config["topics"] for p in consumer.partitions_for_topic(t)]
consumer.assign(tps)
consumer.seek_to_beginning()
ends = consumer.end_offsets(tps)
start = time.perf_counter()
count = 0
while any(consumer.position(tp) < ends[tp] for tp in tps):
    for records in consumer.poll(timeout_ms=500, max_records=50_000).values():
        count += len(records)
elapsed = time.perf_counter() - start
consumer.close()
print(json.dumps({"messages": count, "seconds": elapsed,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CONFLUENT_DRAIN = """
import json, resource, sys, time
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
config = json.loads(sys.argv[1])
consumer = Consumer({"bootstrap.servers": config["bootstrap"], "group.id": "bench-raw-confluent",
                     "enable.auto.commit": False, "fetch.max.bytes": 64 << 20,
                     "max.partition.fetch.bytes": 8 << 20})
metadata = consumer.list_topics(timeout=30)
tps = [TopicPartition(t, p, OFFSET_BEGINNING) for t in config["topics"] for p in metadata.topics[t].partitions]
expected = sum(consumer.get_watermark_offsets(tp, timeout=30)[1] for tp in tps)
consumer.assign(tps)
start = time.perf_counter()
count = 0
while count < expected:
    for message in consumer.consume(num_messages=50_000, timeout=1.0):
        if message.error() is None:
            count += 1
elapsed = time.perf_counter() - start
consumer.close()
print(json.dumps({"messages": count, "seconds": elapsed,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

INGEST = """
import json, resource, sys, time
from flows.ingest import ingest_once
from config.settings import Settings
settings = Settings.model_validate_json(sys.argv[1])
start = time.perf_counter()
totals = ingest_once(settings)
ended = time.monotonic()
# From the loop's start (the lake and the consumer open before it, as the drains connect before their clock).
elapsed = ended - totals.started
print(json.dumps({"messages": totals.messages, "seconds": elapsed, "loaded": totals.loaded,
                  "setup_s": time.perf_counter() - start - elapsed,
                  "wait_s": totals.wait_s, "decode_s": totals.decode_s, "load_s": totals.load_s,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

# The peer: what a short script does without the contract: JSON or not, a few envelope columns, one insert.
PEER = """
import json, resource, sys, time
import duckdb, pyarrow as pa
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
config = json.loads(sys.argv[1])
consumer = Consumer({"bootstrap.servers": config["bootstrap"], "group.id": "bench-peer",
                     "enable.auto.commit": False, "fetch.max.bytes": 64 << 20,
                     "max.partition.fetch.bytes": 8 << 20})
metadata = consumer.list_topics(timeout=30)
tps = [TopicPartition(t, p, OFFSET_BEGINNING) for t in config["topics"] for p in metadata.topics[t].partitions]
expected = sum(consumer.get_watermark_offsets(tp, timeout=30)[1] for tp in tps)
consumer.assign(tps)
con = duckdb.connect(config["database"])
con.execute("CREATE TABLE events (topic VARCHAR, kafka_offset BIGINT, event_id VARCHAR, event_type VARCHAR, "
            "event_time TIMESTAMPTZ, user_id VARCHAR, payload JSON)")
start = time.perf_counter()
count = 0
while count < expected:
    batch = [m for m in consumer.consume(num_messages=config["batch"], timeout=1.0) if m.error() is None]
    if not batch:
        continue
    count += len(batch)
    frame = pa.table({
        "topic": pa.array([m.topic() for m in batch], pa.string()),
        "kafka_offset": pa.array([m.offset() for m in batch], pa.int64()),
        "value": pa.array([m.value() for m in batch], pa.binary()),
    })
    con.execute(
        "INSERT INTO events SELECT topic, kafka_offset, j->>'event_id', j->>'event_type', "
        "try_cast(j->>'event_time' AS TIMESTAMPTZ), j->>'user_id', j FROM ("
        "SELECT topic, kafka_offset, try(decode(value)) AS j FROM frame) WHERE json_valid(j)"
    )
    consumer.commit(asynchronous=False)
elapsed = time.perf_counter() - start
rows = con.execute("SELECT count(*) FROM events").fetchone()[0]
consumer.close()
print(json.dumps({"messages": count, "seconds": elapsed, "loaded": rows,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(code: str, arg: str, env: dict[str, str] | None = None) -> dict[str, float]:
    """Run one contender in a fresh Python process; its last stdout line is its JSON result."""
    out = subprocess.run(
        [sys.executable, "-c", code, arg], cwd=REPO, capture_output=True, text=True,
        env=os.environ | {"PYTHONPATH": str(REPO)} | (env or {}),
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"a contender failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _ingest_settings(base: Settings, client: str, lake: Path, group: str) -> str:
    """Settings of one `liveops ingest` run: the client, a fresh lake and a consumer group of its own."""
    settings = base.model_copy(
        update={
            "kafka_client": client,
            "lake_catalog": f"sqlite:{lake / 'catalog.sqlite'}",
            "lake_data_path": f"{lake / 'files'}/",
            "consumer_group": group,
        }
    )
    return settings.model_dump_json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_500_000, help="messages to simulate (default 1,500,000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every contender (default 3; median)")
    parser.add_argument("--batch-size", type=int, default=100_000, help="ingest micro-batch size (the default)")
    args = parser.parse_args()

    results: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="liveops-bench-") as tmp:
        broker = LocalBroker(Path(tmp) / "kafka", REPO / ".liveops" / "jars", port=free_port(),
                             controller_port=free_port(), heap="1g")  # fmt: skip
        print(f"starting a Kafka broker at {broker.bootstrap} ...", file=sys.stderr)
        broker.up(timeout=180)
        try:
            base = Settings(bootstrap_servers=broker.bootstrap, batch_size=args.batch_size)
            topics = list(base.topics.by_family().values())
            create_topics(base.kafka_client_config(), topics, 3)
            config = SimConfig(days=1, users=20_000, channels=60, target_events=args.messages)
            started = time.perf_counter()
            produced = produce(
                itertools.islice(simulate(config), args.messages), base.kafka_client_config(),
                progress=lambda n: print(f"  produced {n:,}", file=sys.stderr), progress_every=250_000,
            )  # fmt: skip
            print(f"produced {produced:,} messages in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            raw = json.dumps({"bootstrap": broker.bootstrap, "topics": topics})
            for round_ in range(args.rounds):
                run_dir = Path(tmp) / f"round-{round_}"
                contenders: dict[str, tuple[str, str]] = {
                    "raw kafka-python drain": (KAFKA_PYTHON_DRAIN, raw),
                    "raw confluent-kafka drain": (CONFLUENT_DRAIN, raw),
                    "liveops ingest, kafka-python": (
                        INGEST, _ingest_settings(base, "kafka-python", run_dir / "lake-kp", f"bench-kp-{round_}")
                    ),
                    "liveops ingest, confluent": (
                        INGEST, _ingest_settings(base, "confluent", run_dir / "lake-cf", f"bench-cf-{round_}")
                    ),
                    "peer: confluent + DuckDB bulk JSON": (
                        PEER, json.dumps({"bootstrap": broker.bootstrap, "topics": topics, "batch": args.batch_size,
                                          "database": str(run_dir / "peer.duckdb")}),
                    ),
                }  # fmt: skip
                run_dir.mkdir()
                for name, (code, arg) in contenders.items():
                    result = run(code, arg)
                    results.setdefault(name, []).append(result)
                    print(f"  round {round_ + 1}: {name}: {result['messages'] / result['seconds']:,.0f} msg/s, "
                          f"peak RSS {result['peak_rss_mib']:,.0f} MiB", file=sys.stderr)  # fmt: skip
        finally:
            broker.down()
    report(results, produced, args.rounds)


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def report(results: dict[str, list[dict[str, Any]]], produced: int, rounds: int) -> None:
    """The table: msg/s (median of the rounds), ratios to both raw drains, peak RSS, and ingest's time split."""
    rate = {name: statistics.median(r["messages"] / r["seconds"] for r in runs) for name, runs in results.items()}
    kp, cf = rate["raw kafka-python drain"], rate["raw confluent-kafka drain"]
    print(f"{produced:,} messages, 4 topics x 3 partitions, {rounds} round(s) interleaved, median msg/s")
    print("| contender | msg/s | vs kafka-python drain | vs confluent drain | peak RSS (MiB, max) |")
    print("|---|---:|---:|---:|---:|")
    for name, runs in results.items():
        peak = max(r["peak_rss_mib"] for r in runs)
        print(f"| {name} | {rate[name]:,.0f} | {rate[name] / kp:.2f}x | {rate[name] / cf:.2f}x | {peak:,.0f} |")
    for name, runs in results.items():
        if "wait_s" not in runs[0]:
            continue
        seconds = _median(runs, "seconds")
        parts = {key: _median(runs, f"{key}_s") for key in ("wait", "decode", "load")}
        rest = seconds - sum(parts.values())
        split = ", ".join(f"{key} {value:.1f} s ({value / seconds:.0%})" for key, value in parts.items())
        print(f"{name}: {seconds:.1f} s: {split}, commit and the rest {rest:.1f} s ({rest / seconds:.0%}); "
              f"loaded {_median(runs, 'loaded'):,.0f} rows; before the loop (lake, consumer) "
              f"{_median(runs, 'setup_s'):.1f} s, not counted (medians of the rounds)")  # fmt: skip


if __name__ == "__main__":
    main()
