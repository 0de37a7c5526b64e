"""Benchmark: liveops ingest end to end versus a raw kafka-python drain of the same topics.

    uv run python bench/ingest.py --events 2000000

Starts its own Kafka broker (the one `liveops kafka up` runs) in a temporary directory, fills four fresh
topics with the simulator, then, in the same run and each in a fresh process:

  (a) baseline: a raw kafka-python drain of the topics (assign + seek to beginning, consume and discard);
  (b) `liveops ingest` (the drain loop without the Prefect wrapper) into a new lake (SQLite catalog and Parquet
      files in the temporary directory).

Prints events/s of both, their ratio (b)/(a), and the peak RSS of each process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from liveops.settings import Settings  # noqa: E402
from streams.broker import LocalBroker, create_topics, free_port  # noqa: E402
from streams.producer import produce  # noqa: E402
from streams.simulator import SimConfig, simulate  # noqa: E402

DRAIN = """
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
print(json.dumps({"messages": count, "seconds": elapsed,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

INGEST = """
import json, resource, sys, time
from flows.ingest import ingest_once
from liveops.settings import Settings
settings = Settings.model_validate_json(sys.argv[1])
start = time.perf_counter()
totals = ingest_once(settings)
elapsed = time.perf_counter() - start
print(json.dumps({"messages": totals.messages, "seconds": elapsed, "loaded": totals.loaded,
                  "wait_s": totals.wait_s, "decode_s": totals.decode_s, "load_s": totals.load_s,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(code: str, arg: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", code, arg], cwd=REPO, capture_output=True, text=True, check=True,
        env=os.environ | {"PYTHONPATH": str(REPO)},
    )  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2_000_000, help="events to simulate (default 2,000,000)")
    parser.add_argument("--batch-size", type=int, default=100_000, help="ingest micro-batch size")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="liveops-bench-") as tmp:
        broker = LocalBroker(Path(tmp) / "kafka", REPO / ".liveops" / "jars", port=free_port(),
                             controller_port=free_port(), heap="1g")  # fmt: skip
        print(f"starting a Kafka broker at {broker.bootstrap} ...", file=sys.stderr)
        broker.up(timeout=120)
        try:
            settings = Settings(
                bootstrap_servers=broker.bootstrap, lake_catalog=f"sqlite:{Path(tmp) / 'lake' / 'catalog.sqlite'}",
                lake_data_path=f"{Path(tmp) / 'lake' / 'files'}/", consumer_group="bench", batch_size=args.batch_size,
            )  # fmt: skip
            topics = list(settings.topics.by_family().values())
            create_topics(settings.kafka_client_config(), topics, 3)
            config = SimConfig(days=1, users=20_000, channels=60, target_events=args.events)
            started = time.perf_counter()
            produced = produce(
                simulate(config), settings.kafka_client_config(),
                progress=lambda n: print(f"  produced {n:,}", file=sys.stderr), progress_every=250_000,
            )  # fmt: skip
            print(f"produced {produced:,} messages in {time.perf_counter() - started:.1f} s", file=sys.stderr)

            drain = run(DRAIN, json.dumps({"bootstrap": broker.bootstrap, "topics": topics}))
            ingest = run(INGEST, settings.model_dump_json())
        finally:
            broker.down()

    a = drain["messages"] / drain["seconds"]
    b = ingest["messages"] / ingest["seconds"]
    print(f"messages:                     {produced:,}")
    print(
        f"(a) raw kafka-python drain:   {a:>10,.0f} msg/s  ({drain['seconds']:.1f} s, peak RSS {drain['peak_rss_mib']:,.0f} MiB)"
    )
    print(
        f"(b) liveops ingest -> lake:   {b:>10,.0f} msg/s  ({ingest['seconds']:.1f} s, peak RSS {ingest['peak_rss_mib']:,.0f} MiB)"
    )
    print(f"ratio (b)/(a):                {b / a:.2f}")
    print(
        f"ingest thread: waiting for Kafka {ingest['wait_s']:.1f} s, decoding {ingest['decode_s']:.1f} s, "
        f"loading {ingest['load_s']:.1f} s (reads overlap decoding and loading)"
    )


if __name__ == "__main__":
    main()
