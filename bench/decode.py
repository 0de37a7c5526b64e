"""Benchmark of the decoder alone: µs a message for ``decode_messages`` on simulated values.

Simulates N messages (the simulator's mix: mostly heartbeats, its duplicates and malformed messages), cuts
them into batches like the ingest's, and times, interleaved over several rounds: the whole decoder, and
the strict RFC 8259 pass (orjson) it runs on every value, alone. No broker, no warehouse.

    uv run python bench/decode.py                    # N = 200,000, batches of 50,000, 3 rounds
    uv run python bench/decode.py --messages 1000000 --batch 200000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

# Runnable as `python bench/decode.py` from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl

from liveops.settings import Topics
from schemas.events import MESSAGE_SCHEMA
from streams.simulator import SimConfig, simulate
from transforms.decode import _strict_key_counts, decode_messages


def _batches(n: int, size: int) -> list[pl.DataFrame]:
    rows: list[dict[str, object]] = []
    for i, message in enumerate(simulate(SimConfig(target_events=n))):
        if i >= n:
            break
        rows.append({"topic": message.topic, "partition": 0, "offset": i, "timestamp_ms": 1_790_000_000_000 + i,
                     "key": message.key, "value": message.value})  # fmt: skip
    frame = pl.DataFrame(rows, schema=MESSAGE_SCHEMA)
    return [frame.slice(start, size) for start in range(0, frame.height, size)]


def main() -> None:
    """Print µs a message (median of the rounds) for the decoder and for its strict JSON pass."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    batches = _batches(args.messages, args.batch)
    total = sum(b.height for b in batches)
    families = {topic: family for family, topic in Topics().model_dump().items()}
    figures: dict[str, list[float]] = {"decode_messages": [], "strict JSON pass alone": []}
    for _ in range(args.rounds):
        tick = time.perf_counter()
        for batch in batches:
            decode_messages(batch, families)  # type: ignore[arg-type]
        figures["decode_messages"].append((time.perf_counter() - tick) / total * 1e6)
        tick = time.perf_counter()
        for batch in batches:
            _strict_key_counts(batch["value"])
        figures["strict JSON pass alone"].append((time.perf_counter() - tick) / total * 1e6)
    print(f"{total:,} messages in batches of {args.batch:,}, {args.rounds} rounds")
    for name, values in figures.items():
        print(f"{name:>24}: {statistics.median(values):6.2f} µs/msg (runs: {', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main()
