"""Ingest: the four Kafka topics into DuckDB, validated, deduplicated, exactly once.

Per micro-batch: read (bounded by the end offsets snapshotted at start), decode and validate with
``transforms.decode``, write rows + quarantine + next offsets in ONE warehouse transaction, and only then
commit the offsets to the Kafka consumer group. On start the source is positioned at the offsets stored in
the warehouse, so a crash anywhere is repaired by simply running again.

:func:`run_ingest` is the loop (plain Python, used by the CLI, the flow and the benchmark);
:func:`ingest_events` is the Prefect flow ``ingest-events`` around it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import polars as pl
from prefect import flow, get_run_logger
from prefect.states import Failed

from liveops.settings import Settings
from schemas.events import Family
from streams.consumer import BatchSource, Offsets, SourceError, SourceUnavailable, open_source
from transforms.decode import decode_messages
from warehouse.loader import LakeWarehouse, WarehouseWriter

log = logging.getLogger(__name__)
_T = TypeVar("_T")
# The start of the message of an ingest-events run that ended because Kafka could not be read.
SOURCE_FAILED = "ingest stopped: "


@dataclass
class IngestProgress:
    """Running totals of one ingest run, passed to the progress callback after every batch."""

    batches: int = 0
    messages: int = 0
    loaded: int = 0
    duplicates: int = 0
    quarantined: int = 0
    lag: int = 0
    started: float = field(default_factory=time.monotonic)
    # Where the ingest thread's time went: waiting for Kafka reads, decoding, loading into DuckDB.
    wait_s: float = 0.0
    decode_s: float = 0.0
    load_s: float = 0.0

    @property
    def rate(self) -> float:
        """Messages per second since the run started."""
        elapsed = time.monotonic() - self.started
        return self.messages / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        return (
            f"batch {self.batches}: {self.messages:,} messages ({self.rate:,.0f}/s), {self.loaded:,} loaded, "
            f"{self.duplicates:,} duplicates, {self.quarantined:,} quarantined, lag {self.lag:,}"
        )


def _lag(ends: Offsets, position: Offsets) -> int:
    return sum(max(0, end - position.get(tp, 0)) for tp, end in ends.items())


def run_ingest(
    source: BatchSource,
    warehouse: WarehouseWriter,
    families: dict[str, Family],
    batch_size: int,
    follow: bool = False,
    stop: threading.Event | None = None,
    progress: Callable[[IngestProgress], None] | None = None,
    poll_timeout_s: float = 10.0,
    retry_s: float = 60.0,
) -> IngestProgress:
    """Consume the topics into the warehouse in micro-batches.

    Args:
        source: where messages come from (positioned here at the warehouse's offsets).
        warehouse: where rows, quarantine and offsets go, one transaction per batch.
        families: topic name -> event family.
        batch_size: maximum messages per batch (bounds memory).
        follow: keep consuming new messages until ``stop`` is set; otherwise drain up to the end offsets
            seen at start and return.
        stop: set it to finish the batch in hand and return (Ctrl-C in the CLI).
        progress: called after every committed batch.
        poll_timeout_s: how long one batch may wait for messages.
        retry_s: when Kafka stops answering (a call fails, or no message comes while some are expected),
            keep retrying for this long, then stop with :class:`SourceError` (what happened, that nothing
            is lost, what to run). Every batch committed before stays committed.

    Raises:
        SourceError: Kafka did not answer for ``retry_s``.
    """
    stop = stop or threading.Event()
    totals = IngestProgress()
    stalled_since: float | None = None

    def stalled(why: str) -> None:
        """Note a failed attempt; give up once Kafka has not answered for ``retry_s``; else wait a second."""
        nonlocal stalled_since
        now = time.monotonic()
        if stalled_since is None:
            stalled_since = now
            log.warning("Kafka did not answer (%s); retrying for up to %.0f s", why, retry_s)
        elif now - stalled_since >= retry_s:
            raise SourceError(
                f"the Kafka broker stopped answering during ingest and did not come back within {retry_s:.0f} s "
                f"({why}). Nothing is lost: {totals.batches:,} batch(es) ({totals.messages:,} messages) of this run "
                "are committed with their offsets. Start the broker again (`liveops status` shows whether it "
                "answers), then rerun `liveops ingest`: it continues where this run stopped."
            )
        stop.wait(1.0)

    def call(fn: Callable[..., _T], *args: Any) -> _T | None:
        """``fn(*args)`` on the Kafka thread; None (after :func:`stalled`) when Kafka did not answer."""
        try:
            return kafka.submit(fn, *args).result()
        except SourceUnavailable as exc:
            stalled(str(exc))
            return None

    # Every call on the Kafka client runs on this one thread (kafka-python's consumer is not thread-safe).
    # It reads batch n+1 while this thread decodes and loads batch n: decoding and loading run in Polars and
    # DuckDB, which release the GIL, so the two overlap on two cores. Offsets stay strictly ordered: batch
    # n+1 is loaded (with its offsets) only after batch n.
    kafka = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka")
    try:
        position = warehouse.read_offsets()
        kafka.submit(source.seek, position).result()
        # Offsets are per partition; a partition never seen starts at 0 (the beginning, retention aside).
        position = {tp: position.get(tp, 0) for tp in kafka.submit(source.partitions).result()}
        ends = None
        while ends is None and not stop.is_set():
            ends = call(source.end_offsets)
        until = ends or {}
        stalled_since = None
        read_to = dict(position)  # how far the reader has been asked to read
        pending: Future[pl.DataFrame] | None = None
        last_commit: Future[None] | None = None
        while not stop.is_set():
            if pending is None:
                if follow:
                    ends = call(source.end_offsets)
                    if ends is None:
                        continue
                    until = ends
                totals.lag = _lag(until, position)
                if totals.lag == 0:
                    if not follow:
                        break
                    stop.wait(1.0)
                    continue
                pending = kafka.submit(source.read_batch, batch_size, until, poll_timeout_s)
            started_at = datetime.now(UTC)
            tick = time.perf_counter()
            try:
                messages = pending.result()
            except SourceUnavailable as exc:
                stalled(str(exc))
                continue
            finally:
                pending = None
                totals.wait_s += time.perf_counter() - tick
            if messages.is_empty():
                stalled(f"no message within {poll_timeout_s:.0f} s while {totals.lag:,} were expected")
                continue
            stalled_since = None
            next_offsets = _next_offsets(messages)
            read_to.update(next_offsets)
            if _lag(until, read_to) > 0 and not stop.is_set():
                pending = kafka.submit(source.read_batch, batch_size, until, poll_timeout_s)
            tick = time.perf_counter()
            decoded = decode_messages(messages, families)
            totals.decode_s += time.perf_counter() - tick
            tick = time.perf_counter()
            result = warehouse.load_batch(
                decoded.valid, decoded.quarantine, next_offsets, messages.height,
                decoded.duplicates_in_batch, decoded.unknown_fields, started_at,
            )  # fmt: skip
            totals.load_s += time.perf_counter() - tick
            # Only after the warehouse commit: tell Kafka (lag tools) how far we are. If this fails or we
            # crash before it, the warehouse's offsets still win on the next start.
            last_commit = kafka.submit(_commit_quietly, source, next_offsets)
            position.update(next_offsets)
            totals.batches += 1
            totals.messages += result.messages
            totals.loaded += result.loaded
            totals.duplicates += result.duplicates
            totals.quarantined += result.quarantined
            totals.lag = _lag(until, position)
            if progress:
                progress(totals)
        if last_commit is not None:
            last_commit.result()  # the consumer group hears of the last batch before we return
    finally:
        # A batch read ahead but not loaded is dropped: the warehouse's offsets say where to start next time.
        kafka.shutdown(wait=True, cancel_futures=True)
    return totals


def _commit_quietly(source: BatchSource, next_offsets: Offsets) -> None:
    try:
        source.commit(next_offsets)
    except Exception as exc:  # the group commit is informational; the warehouse holds the truth
        log.warning("committing offsets to the Kafka consumer group failed (%s); the warehouse has them", exc)


def _next_offsets(messages: pl.DataFrame) -> Offsets:
    """The offset after the last message of each (topic, partition) in the batch."""
    rows = messages.group_by("topic", "partition").agg(pl.col("offset").max()).iter_rows()
    # Kafka's convention, kept in the warehouse too: the offset stored is the NEXT one to read.
    return {(topic, partition): last + 1 for topic, partition, last in rows}


def ingest_once(
    settings: Settings,
    follow: bool = False,
    stop: threading.Event | None = None,
    progress: Callable[[IngestProgress], None] | None = None,
) -> IngestProgress:
    """Run ingest with the Kafka source and the lake that ``settings`` describe."""
    families: dict[str, Family] = {topic: family for family, topic in settings.topics.by_family().items()}  # type: ignore[misc]
    retry_s = settings.kafka_retry_timeout.total_seconds()
    # One Kafka request never waits longer than the whole retry window (at least 1 s, at most 30 s).
    request_timeout_s = min(30.0, max(1.0, retry_s / 2))
    source = open_source(
        settings.kafka_client,
        settings.kafka_client_config(),
        list(families),
        settings.consumer_group,
        request_timeout_s=request_timeout_s,
    )
    try:
        with LakeWarehouse(settings.lake) as warehouse:
            return run_ingest(
                source, warehouse, families, settings.batch_size, follow, stop, progress,
                poll_timeout_s=min(10.0, max(1.0, retry_s / 2)), retry_s=retry_s,
            )  # fmt: skip
    finally:
        source.close()


@flow(name="ingest-events", flow_run_name="ingest-events-{run_label}", log_prints=False)
def ingest_events(settings: Settings, follow: bool = False, run_label: str = "") -> Any:
    """Prefect flow: drain the four topics into the warehouse (or follow them until cancelled).

    When Kafka cannot be read (:class:`SourceError`), the run ends ``Failed`` with the error's one-line
    message as the state's message, and no traceback (nothing is lost: a rerun continues).
    """
    logger = get_run_logger()
    try:
        totals = ingest_once(settings, follow=follow, progress=lambda p: logger.info(p.line()))
    except SourceError as exc:
        return Failed(message=f"{SOURCE_FAILED}{exc}")
    return {
        "batches": totals.batches, "messages": totals.messages, "loaded": totals.loaded,
        "duplicates": totals.duplicates, "quarantined": totals.quarantined,
    }  # fmt: skip
