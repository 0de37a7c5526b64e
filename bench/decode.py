"""Benchmark of the decoder alone: µs a message for ``decode_messages`` on simulated values.

Simulates N messages (the simulator's mix: mostly heartbeats, its duplicates and malformed messages), cuts
them into batches of the ingest's default size (``LIVEOPS_BATCH_SIZE``, 100,000), and times, interleaved over several rounds: the whole decoder; the
decoder with its typed fast path off (the vectorised rules on every message, as the decoder worked before
the fast path); and, as the baseline, ``orjson.loads`` alone on every value (parse only, no rule, no
frame). It prints µs a message and the ratio of each to the baseline. No broker, no warehouse.

    uv run python bench/decode.py                    # N = 200,000, batches of 100,000, 3 rounds
    uv run python bench/decode.py --messages 1000000 --batch 50000

``--against REV`` also times the decoder of a git revision, loaded from ``git show`` into this process: the
packages that revision imports must be installed (the decoder before the native fast path used msgspec).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# Runnable as `python bench/decode.py` from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson
import polars as pl

from config.settings import Settings, Topics
from schemas.events import MESSAGE_SCHEMA
from streams.simulator import SimConfig, simulate
from transforms.decode import decode_messages


def _batches(n: int, size: int) -> list[pl.DataFrame]:
    rows: list[dict[str, object]] = []
    for i, message in enumerate(simulate(SimConfig(target_events=n))):
        if i >= n:
            break
        rows.append({"topic": message.topic, "partition": 0, "offset": i, "timestamp_ms": 1_790_000_000_000 + i,
                     "key": message.key, "value": message.value})  # fmt: skip
    frame = pl.DataFrame(rows, schema=MESSAGE_SCHEMA)
    return [frame.slice(start, size) for start in range(0, frame.height, size)]


def _orjson_alone(batch: pl.DataFrame) -> None:
    """The baseline: parse every value with orjson, keep nothing (a value that is not JSON is skipped)."""
    loads, error = orjson.loads, orjson.JSONDecodeError
    for value in batch["value"].to_list():
        try:
            loads(value)
        except (error, TypeError):
            continue


def _decoder_at(revision: str) -> Callable[..., object]:
    """``decode_messages`` as the decoder was at a git revision (loaded from ``git show``, not checked out)."""
    root = Path(__file__).resolve().parents[1]
    source = subprocess.run(
        ["git", "show", f"{revision}:transforms/decode.py"], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as file:
        file.write(source)
    spec = importlib.util.spec_from_file_location("decode_at_revision", file.name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    Path(file.name).unlink()
    decode: Callable[..., object] = module.decode_messages
    return decode


def main() -> None:
    """Print µs a message (median of the rounds) of the decoder, the rules path alone and orjson alone."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=Settings.model_fields["batch_size"].default)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-rules", action="store_true", help="skip the (slow) rules-only contender")
    parser.add_argument("--against", metavar="REV", help="also time the decoder of this git revision (e.g. main)")
    args = parser.parse_args()
    batches = _batches(args.messages, args.batch)
    total = sum(b.height for b in batches)
    families = {topic: family for family, topic in Topics().model_dump().items()}
    contenders: dict[str, Callable[[pl.DataFrame], object]] = {
        "decode_messages": lambda b: decode_messages(b, families),  # type: ignore[arg-type]
        "orjson.loads alone": _orjson_alone,
    }
    if args.against:
        before = _decoder_at(args.against)
        contenders[f"decoder at {args.against}"] = lambda b: before(b, families)
        before(batches[0].head(1000), families)  # builds its cached decoders
    if not args.no_rules:
        contenders["rules path only"] = lambda b: decode_messages(b, families, fast=False)  # type: ignore[arg-type]
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    decode_messages(batches[0].head(1000), families)  # type: ignore[arg-type]  # builds the cached decoders
    for _ in range(args.rounds):
        for name, run in contenders.items():
            tick, cpu_tick = time.perf_counter(), time.process_time()
            for batch in batches:
                run(batch)
            wall[name].append((time.perf_counter() - tick) / total * 1e6)
            cpu[name].append((time.process_time() - cpu_tick) / total * 1e6)
    print(f"{total:,} messages in batches of {args.batch:,}, {args.rounds} rounds (interleaved)")
    print("wall: elapsed time; cpu: this process's CPU time, all its threads (steadier on a busy machine)")
    for label, figures in (("wall", wall), ("cpu", cpu)):
        baseline = statistics.median(figures["orjson.loads alone"])
        for name, values in figures.items():
            median = statistics.median(values)
            runs = ", ".join(f"{v:.2f}" for v in values)
            print(
                f"{label:>4} {name:>20}: {median:6.2f} µs/msg  {median / baseline:5.2f}x orjson alone  (runs: {runs})"
            )
        if args.against:
            old = figures[f"decoder at {args.against}"]
            ratios = [before / after for before, after in zip(old, figures["decode_messages"], strict=True)]
            print(f"{label:>4} decode_messages is {statistics.median(ratios):.2f}x as fast as the decoder at "
                  f"{args.against} (median of the rounds' ratios: {', '.join(f'{r:.2f}' for r in ratios)})")  # fmt: skip


if __name__ == "__main__":
    main()
