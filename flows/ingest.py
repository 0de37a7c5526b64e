"""Ingest: the four Kafka topics into the lake, validated, deduplicated, exactly once, by any number of
members of one consumer group.

Each ingest process is a member of the consumer group (``consumer_group``): Kafka spreads the partitions
over the members, and on every assignment the member positions its partitions at the offsets stored in the
warehouse. Per micro-batch: read (bounded by the end offsets snapshotted at start), decode and validate with
``transforms.decode``, write rows + quarantine + next offsets in ONE lake transaction that commits only if
each partition's stored offset is still where the batch started reading (the fence against a member that
lost its partitions while stalled), and only then commit the offsets to the Kafka consumer group (for lag
tools). A crash anywhere is repaired by simply running again; a killed member's partitions move to the
others after the session timeout.

:func:`run_ingest` is the loop (plain Python, used by the CLI, the flow and the benchmark; over a
:class:`streams.memory.MemorySource`, :func:`ingest_without_kafka`, by tests and benchmarks);
:func:`ingest_events` is the Prefect flow ``ingest-events`` around it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from prefect import flow, get_run_logger
from prefect.states import Failed

from config.settings import Settings
from schemas.events import Family
from streams.admin import describe_partitions
from streams.consumer import Batch, BatchSource, Offsets, SourceError, SourceUnavailable, open_source
from streams.memory import MemorySource, SourceMessage
from transforms.decode import decode_messages
from warehouse.loader import LakeWarehouse, WarehouseWriter
from warehouse.offsets import StaleBatch

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
    rebalances: int = 0  # assignment changes seen during a read (what was read then is read again)
    abandoned: int = 0  # messages read before a rebalance and not loaded (their partition's owner reads them)
    refused: int = 0  # messages of batches the warehouse refused (another member had committed them)
    # Every partition this member committed batches of, with the offset it reached.
    partitions: dict[tuple[str, int], int] = field(default_factory=dict)
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


class _Member:
    """The ingest loop's side of consumer-group membership (called back on Kafka's thread).

    The rebalance protocol: on revocation the source first bumps its generation (a batch read before is
    dropped, unloaded), then :meth:`revoked` waits for the batch being decoded or loaded to commit or fail;
    on assignment :meth:`assigned` gives the warehouse's offsets, which the source seeks to. The warehouse's
    fence refuses a batch whose partitions moved on meanwhile (another member committed them).
    """

    def __init__(self, warehouse: WarehouseWriter) -> None:
        self.warehouse = warehouse
        self.in_flight = threading.Lock()  # held while a batch is decoded and loaded
        self.held: list[tuple[str, int]] = []

    def assigned(self, partitions: list[tuple[str, int]]) -> Offsets:
        self.held = sorted(partitions)
        self.warehouse.ensure_partitions(partitions)
        log.info("this member now reads %d partition(s): %s", len(partitions), describe_partitions(partitions))
        return self.warehouse.read_offsets(partitions)

    def revoked(self, partitions: list[tuple[str, int]]) -> None:
        with self.in_flight:
            self.held = []


def _drained(stored: Offsets, until: Offsets) -> bool:
    """Whether the warehouse holds every partition up to its bound (whichever member loaded it)."""
    return all(stored.get(tp, 0) >= end for tp, end in until.items() if end > 0)


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
    """Consume the topics into the warehouse in micro-batches, as a member of the consumer group.

    Args:
        source: where messages come from; joined to the consumer group here, its partitions positioned at
            the warehouse's offsets on each assignment.
        warehouse: where rows, quarantine and offsets go, one transaction per batch.
        families: topic name -> event family.
        batch_size: maximum messages per batch (bounds memory).
        follow: keep consuming new messages until ``stop`` is set; otherwise drain every partition up to the
            end offsets seen at start and return once the warehouse holds them all (whichever member loaded
            them: a member whose partitions are done stays in the group, ready to take over a dead member's).
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

    # Every call on the Kafka client runs on this one thread (the consumers are not thread-safe). It reads
    # batch n+1 while this thread decodes and loads batch n: decoding and loading run in Polars and DuckDB,
    # which release the GIL, so the two overlap on two cores. A partition's batches are loaded in order, and
    # the warehouse refuses one that does not start where the partition's offset stands.
    kafka = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka")
    member = _Member(warehouse)
    try:
        warehouse.ensure_partitions(kafka.submit(source.partitions).result())
        kafka.submit(source.join, member).result()
        ends = None
        while ends is None and not stop.is_set():
            ends = call(source.end_offsets)
        until = ends or {}
        stalled_since = None
        pending: Future[Batch] | None = None
        last_commit: Future[None] | None = None
        checked_at = 0.0
        while not stop.is_set():
            if pending is None:
                if follow:
                    ends = call(source.end_offsets)
                    if ends is None:
                        continue
                    until = ends
                pending = kafka.submit(source.read_batch, batch_size, until, poll_timeout_s)
            started_at = datetime.now(UTC)
            tick = time.perf_counter()
            try:
                batch = pending.result()
            except SourceUnavailable as exc:
                stalled(str(exc))
                continue
            finally:
                pending = None
                totals.wait_s += time.perf_counter() - tick
            totals.lag = batch.remaining
            if batch.rebalanced:
                totals.rebalances += 1
                continue
            messages = batch.messages
            if messages.is_empty():
                if batch.remaining > 0:
                    stalled(f"no message within {poll_timeout_s:.0f} s while {batch.remaining:,} were expected")
                    continue
                stalled_since = None
                # Nothing left in the partitions this member holds: done when the warehouse holds every
                # partition (a member whose partitions are done stays, to take over a dead member's).
                if time.monotonic() - checked_at >= 1.0:
                    checked_at = time.monotonic()
                    stored = warehouse.read_offsets()
                    unread = {tp: o for tp, o in batch.positions.items() if tp not in stored and o > 0}
                    if unread:  # nothing was ever read there (all expired): say where they stand
                        warehouse.record_unread(unread)
                        stored |= unread
                    if not follow and _drained(stored, until):
                        break
                stop.wait(0.5)
                continue
            stalled_since = None
            if batch.remaining > 0 and not stop.is_set():
                pending = kafka.submit(source.read_batch, batch_size, until, poll_timeout_s)
            stale: StaleBatch | None = None
            with member.in_flight:
                if batch.generation != source.generation:
                    totals.abandoned += messages.height  # read before a rebalance: read again by its owner
                    continue
                tick = time.perf_counter()
                decoded = decode_messages(messages, families)
                totals.decode_s += time.perf_counter() - tick
                tick = time.perf_counter()
                next_offsets = batch.next_offsets
                try:
                    result = warehouse.load_batch(
                        decoded.valid, decoded.quarantine, next_offsets, messages.height,
                        decoded.duplicates_in_batch, decoded.unknown_fields, started_at, start_offsets=batch.start,
                    )  # fmt: skip
                except StaleBatch as exc:
                    stale = exc
                totals.load_s += time.perf_counter() - tick
            if stale is not None:
                # Another member committed these partitions first (this one stalled past its session): drop
                # what was read ahead, and read again from the warehouse's offsets.
                log.warning("%s; reading again from the warehouse's offsets", stale)
                totals.refused += messages.height
                if pending is not None:
                    with contextlib.suppress(SourceUnavailable):
                        pending.result()
                    pending = None
                kafka.submit(source.reposition).result()
                continue
            # Only after the warehouse commit: tell Kafka (lag tools) how far we are. If this fails or we
            # crash before it, the warehouse's offsets still win on the next start.
            last_commit = kafka.submit(_commit_quietly, source, next_offsets)
            totals.partitions.update(next_offsets)
            totals.batches += 1
            totals.messages += result.messages
            totals.loaded += result.loaded
            totals.duplicates += result.duplicates
            totals.quarantined += result.quarantined
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
        # After a rebalance a commit of partitions now held by another member fails: expected, harmless.
        log.info("committing offsets to the Kafka consumer group failed (%s); the warehouse has them", exc)


def ingest_once(
    settings: Settings,
    follow: bool = False,
    stop: threading.Event | None = None,
    progress: Callable[[IngestProgress], None] | None = None,
) -> IngestProgress:
    """Run ingest with the Kafka source and the lake that ``settings`` describe."""
    families = families_of(settings.topics.by_family())
    retry_s = settings.kafka_retry_timeout.total_seconds()
    # One Kafka request never waits longer than the whole retry window (at least 1 s, at most 30 s).
    request_timeout_s = min(30.0, max(1.0, retry_s / 2))
    source = open_source(
        settings.kafka_client,
        settings.kafka_client_config(),
        list(families),
        settings.consumer_group,
        request_timeout_s=request_timeout_s,
        session_timeout_s=settings.kafka_session_timeout.total_seconds(),
    )
    try:
        with LakeWarehouse(settings.lake) as warehouse:
            return run_ingest(
                source, warehouse, families, settings.batch_size, follow, stop, progress,
                poll_timeout_s=min(10.0, max(1.0, retry_s / 2)), retry_s=retry_s,
            )  # fmt: skip
    finally:
        source.close()


def families_of(topics: Mapping[str, str]) -> dict[str, Family]:
    """Topic name -> event family, from the settings' family -> topic mapping (``Topics.by_family()``)."""
    return {topic: family for family, topic in topics.items()}  # type: ignore[misc]


def ingest_without_kafka(
    warehouse: WarehouseWriter,
    messages: Iterable[SourceMessage],
    topics: Mapping[str, str],
    *,
    partitions: int = 3,
    batch_size: int = 100_000,
    progress: Callable[[IngestProgress], None] | None = None,
) -> IngestProgress:
    """Run the real ingest loop over ``messages`` held in memory (:class:`streams.memory.MemorySource`):
    simulated days for tests and benchmarks, a JSON-lines file. The warehouse gets what a Kafka ingest of the
    same messages on ``partitions`` partitions per topic would give it.

    Args:
        warehouse: where to write (one transaction per batch).
        messages: the messages in arrival order (``streams.memory.arrivals`` stamps simulated ones).
        topics: topic name per family (``{"viewer": "viewer-events", ...}``).
        partitions: partitions per topic.
        batch_size: messages per batch.
        progress: called after every committed batch.
    """
    families = families_of(topics)
    source = MemorySource(messages, list(families), partitions)
    try:
        return run_ingest(source, warehouse, families, batch_size, progress=progress)
    finally:
        source.close()


@flow(name="ingest-events", flow_run_name="ingest-events-{run_label}", log_prints=False)
def ingest_events(settings: Settings, follow: bool = False, run_label: str = "") -> Any:
    """Prefect flow: drain the four topics into the warehouse (or follow them until cancelled).

    When Kafka cannot be read (:class:`SourceError`), the run ends ``Failed`` with the error's one-line
    message as the state's message, and no traceback (nothing is lost: a rerun continues).
    """
    return _ingest_in_flow(settings, follow, member_detail=False)


def _ingest_in_flow(settings: Settings, follow: bool, member_detail: bool) -> Any:
    """The body of both ingest flows: the run's totals (with ``member_detail``, also its rebalances and the
    partitions it committed), or ``Failed`` with one line when Kafka cannot be read."""
    logger = get_run_logger()
    try:
        totals = ingest_once(settings, follow=follow, progress=lambda p: logger.info(p.line()))
    except SourceError as exc:
        return Failed(message=f"{SOURCE_FAILED}{exc}")
    result: dict[str, Any] = {
        "batches": totals.batches, "messages": totals.messages, "loaded": totals.loaded,
        "duplicates": totals.duplicates, "quarantined": totals.quarantined,
    }  # fmt: skip
    if member_detail:
        result["rebalances"] = totals.rebalances
        result["partitions"] = sorted(f"{topic}[{partition}]" for topic, partition in totals.partitions)
    return result


@flow(name="ingest-member", log_prints=False)
def ingest_member(follow: bool = True) -> Any:
    """Prefect flow: one member of the ingest consumer group (the ``ingest-member`` deployment's runs, on a
    process work pool: each run is a member; run more at once, on this machine or others, to share the
    partitions). Settings come from the environment of the worker that runs it (``LIVEOPS_*``, .env).

    ``follow`` (the deployment's default) keeps consuming until the run is cancelled; without it the run
    drains every partition up to the end offsets seen at its start, with the other members, and ends.
    """
    return _ingest_in_flow(Settings(), follow, member_detail=True)
