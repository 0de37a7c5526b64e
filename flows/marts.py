"""The marts build: raw tables -> fact and daily mart tables, one chunk of days at a time.

:func:`build_marts` runs a build: the days to build (``warehouse/rebuild.py``), then for each chunk of
consecutive days read its raw rows (``warehouse/marts.py``), assemble its marts (``transforms/marts.py``,
pure Polars) and write them with the build's bookkeeping (``warehouse/marts.py``).

Why here, a plain function in ``flows/``: the build is the one place that needs both the warehouse's I/O
and the transforms, and ``flows/`` is the layer above both, so ``warehouse/`` imports no transform and
``transforms/`` does no I/O, without handing the computation to the warehouse as callables (a chunk
interleaves reading and computing: a slice of viewer events is condensed before the next is read). It uses
no Prefect: the CLI's ``run_build`` (``flows/build.py``), the Prefect flow ``build-marts`` around it, the
tests and the benchmarks call it as plain code.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import duckdb
import polars as pl

from schemas.marts import MART_TABLES
from transforms.days import days_frame
from transforms.marts import (
    ChunkInputs,
    broadcast_segments,
    chunk_activity,
    chunk_window,
    compute_chunk,
    first_active_days,
    viewer_inputs,
)
from warehouse.mart_tables import never_built, outdated_marts, recreate_marts
from warehouse.marts import (
    BuildMode,
    build_days_rows,
    read_campaign,
    read_engagement,
    read_first_times,
    read_streams,
    read_user_times,
    read_viewer_slices,
    record_build,
    write_chunk,
)
from warehouse.rebuild import (
    DEFAULT_MAX_CLOCK_SKEW,
    days_to_rebuild,
    days_with_data,
    events_per_day,
    offsets_snapshot,
    warehouse_watermark,
)

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

# Default size of a chunk of days computed together (bounded memory): at most this many raw events ...
DEFAULT_CHUNK_EVENTS = 10_000_000
# ... and at most this many days.
DEFAULT_CHUNK_DAYS = 14
# A chunk's viewer events are read in slices of about this many events (by session_id): peak memory is
# bounded by one slice, not by the day (a 10 M-event day reads 5 slices).
DEFAULT_SLICE_EVENTS = 2_000_000


@dataclass(frozen=True)
class BuildResult:
    """What one build did.

    Attributes:
        build_id: id of the run (``build_runs.build_id``, ``build_days.build_id``).
        mode: ``incremental`` (days chosen by :func:`warehouse.rebuild.days_to_rebuild`), ``full`` (every
            day with data) or ``range`` (the days asked for).
        days: the days rebuilt, ascending.
        watermark: the latest ``event_time`` in the warehouse when the build started (None: no data).
        complete_days: how many of ``days`` were complete under the watermark rule.
        events: raw events whose ``event_time`` falls in ``days``.
        rows: rows written per mart table.
        seconds: wall time of the build.
    """

    build_id: str
    mode: BuildMode
    days: list[date]
    watermark: datetime | None
    complete_days: int
    events: int
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def line(self) -> str:
        """One-line human summary."""
        if not self.days:
            return f"{self.mode} build: nothing to rebuild ({self.seconds:.1f} s)"
        span = f"{self.days[0]}..{self.days[-1]}" if len(self.days) > 1 else str(self.days[0])
        rate = self.events / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{self.mode} build of {len(self.days)} day(s) {span}: {self.complete_days} complete, "
            f"{self.events:,} events ({rate:,.0f}/s), {sum(self.rows.values()):,} mart rows in {self.seconds:.1f} s"
        )


def _chunks(days: list[date], events: dict[date, int], max_events: int, max_days: int) -> list[list[date]]:
    """Consecutive days grouped into chunks of at most ``max_days`` days and (beyond one day) ``max_events``."""
    chunks: list[list[date]] = []
    current: list[date] = []
    total = 0
    for day in days:
        n = events.get(day, 0)
        contiguous = bool(current) and day - current[-1] == timedelta(days=1)
        if current and (not contiguous or len(current) >= max_days or total + n > max_events):
            chunks.append(current)
            current, total = [], 0
        current.append(day)
        total += n
    if current:
        chunks.append(current)
    return chunks


def _read_inputs(
    con: duckdb.DuckDBPyConnection, bounds: pl.DataFrame, tz: str, first_active: pl.DataFrame, slices: int
) -> ChunkInputs:
    """A chunk's inputs: its raw rows read with their look-backs, the viewer events condensed slice by slice."""
    window = chunk_window(bounds, tz)
    sessions, condensed = viewer_inputs(
        read_viewer_slices(con, window.start, window.end, window.session_back, slices), window.start, window.end, tz
    )
    activity = chunk_activity(
        read_user_times(con, "viewer", window.activity_start, window.end),
        read_user_times(con, "engagement", window.activity_start, window.end),
        first_active,
        window.activity_day,
        tz,
    )
    return ChunkInputs(
        sessions=sessions,
        viewer_days=condensed,
        engagement=read_engagement(con, window.start, window.end).lazy(),
        campaign=read_campaign(con, window.start, window.end, window.campaign_back).lazy(),
        activity=activity,
    )


def build_marts(
    con: duckdb.DuckDBPyConnection,
    days: list[date] | None,
    tz: str,
    allowed_lateness: timedelta,
    full: bool = False,
    *,
    max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW,
    progress: Progress | None = None,
    chunk_events: int = DEFAULT_CHUNK_EVENTS,
    chunk_days: int = DEFAULT_CHUNK_DAYS,
    slice_events: int = DEFAULT_SLICE_EVENTS,
) -> BuildResult:
    """Build (or rebuild) the marts of some days.

    Which days: with ``full``, every day with data; else with ``days``, those (clipped to the days with
    data); else the days :func:`warehouse.rebuild.days_to_rebuild` chooses (incremental). Incremental and
    full builds then move the incremental bookmark to the raw rows read; a range build does not (the next
    incremental build still covers everything ingested since the last one).

    Days are computed in chunks of consecutive days (bounded memory: ``chunk_events`` raw events,
    ``chunk_days`` days; the viewer events in slices of ``slice_events`` by session), each read with its
    look-backs: the sessions reaching into it, 30 days of user activity plus every user's first active day,
    38 days of clicks and sign-ups, all stream events. Each chunk's days are replaced in every mart in one
    transaction.

    Args:
        con: the warehouse (read-write, migrated).
        days: days to rebuild (None: incremental, unless ``full``).
        tz: IANA report time zone.
        allowed_lateness: lateness after which a day is complete.
        full: rebuild every day with data.
        max_clock_skew: how far an event may run ahead of its arrival before the watermark caps it (the
            days with data end on the watermark's day).
        progress: called with a line of text after each day is written (else logged).
        chunk_events: soft bound on raw events per chunk.
        chunk_days: bound on days per chunk.
        slice_events: a chunk's viewer events are read in slices of about this many events.

    Returns:
        What was built.
    """
    started = time.monotonic()
    started_at = datetime.now(UTC)
    say = progress or log.info
    build_id = uuid.uuid4().hex
    mode: BuildMode = "full" if full else ("range" if days is not None else "incremental")

    # Marts are rebuilt, not migrated: built under other definitions than the registry's, they are recreated
    # from it and every day is rebuilt (warehouse/mart_tables.py).
    # (A warehouse never built gets its marts from the registry too, silently: its build covers every day.)
    outdated = outdated_marts(con)
    recreated = outdated is not None
    if outdated is not None:
        if not never_built(con):
            say(outdated)
            full, mode = True, "full"
        recreate_marts(con)

    # The bookmark is taken before anything is read: rows ingested meanwhile count as new next time.
    snapshot = offsets_snapshot(con)
    watermark = warehouse_watermark(con, max_clock_skew)
    counts = events_per_day(con, tz)
    available = days_with_data(counts, watermark, tz)
    if full:
        chosen = available
    elif days is not None:
        wanted = set(days)
        chosen = [d for d in available if d in wanted]
        if len(chosen) < len(wanted):
            say(f"skipping {len(wanted) - len(chosen)} day(s) without data")
    else:
        chosen = days_to_rebuild(con, tz, allowed_lateness, max_clock_skew)

    rows: dict[str, int] = dict.fromkeys(MART_TABLES, 0)
    complete_days = 0
    events_total = 0
    if chosen and watermark is not None:
        segments = broadcast_segments(read_streams(con), watermark)
        first_active = first_active_days(read_first_times(con, "viewer"), read_first_times(con, "engagement"), tz)
        per_day = dict(counts.iter_rows())
        for index, chunk in enumerate(_chunks(chosen, per_day, chunk_events, chunk_days)):
            bounds = days_frame(chunk, tz).collect()
            slices = max(1, -(-sum(per_day.get(d, 0) for d in chunk) // slice_events))
            frames = compute_chunk(_read_inputs(con, bounds, tz, first_active, slices), segments, bounds, tz)
            frames["build_days"] = build_days_rows(
                con, bounds, build_id, datetime.now(UTC), watermark, allowed_lateness, max_clock_skew
            )
            written = write_chunk(con, chunk, frames, keep_only=chosen if full and index == 0 else None)
            for table, n in written.items():
                rows[table] += n
            headline = frames["agg_daily_headline"].sort("day")
            status = frames["build_days"].sort("day")
            for h, s in zip(headline.iter_rows(named=True), status.iter_rows(named=True), strict=True):
                complete_days += int(s["complete"])
                events_total += int(s["events"])
                say(
                    f"built {h['day']}: {s['events']:,} events ({s['late_events']:,} late), dau {h['dau']:,}, "
                    f"{h['sessions']:,} sessions, {h['hours_watched']:,.1f} h watched, "
                    f"{'complete' if s['complete'] else 'INCOMPLETE'}"
                )

    record_build(
        con, build_id=build_id, mode=mode, started_at=started_at, finished_at=datetime.now(UTC), days=chosen,
        watermark=watermark, tz=tz, allowed_lateness=allowed_lateness, max_clock_skew=max_clock_skew,
        snapshot=snapshot, recreated=recreated,
    )  # fmt: skip
    return BuildResult(
        build_id=build_id,
        mode=mode,
        days=chosen,
        watermark=watermark,
        complete_days=complete_days,
        events=events_total,
        rows=rows,
        seconds=time.monotonic() - started,
    )
