"""Test factories: one ``make_*(**overrides)`` per event family, and frames typed by the event contract.

Add new factories at the end of this module, under a header of your own.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from schemas.events import Family, polars_schema

# ---------------------------------------------------------------------------------------------------------
# Viewer / engagement events and sessions (tests/transforms: sessions, days, audience, qoe)
# ---------------------------------------------------------------------------------------------------------

_ids = itertools.count(1)

BASE_TIME = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def ts(text: str) -> datetime:
    """A UTC datetime from ``YYYY-MM-DD HH:MM[:SS]`` (read as UTC): ``ts("2026-03-08 05:00")``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def day(text: str) -> date:
    """A date from ``YYYY-MM-DD``."""
    return date.fromisoformat(text)


def _envelope(event_type: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    n = next(_ids)
    return {
        "event_id": f"e{n:06d}",
        "event_type": event_type,
        "event_time": BASE_TIME,
        "schema_version": 1,
        "user_id": "u1",
        "is_anonymous": False,
        "kafka_topic": None,
        "kafka_partition": 0,
        "kafka_offset": n,
        "kafka_timestamp": None,
        **overrides,
    }


def make_viewer_event(**overrides: Any) -> dict[str, Any]:
    """A valid viewer event as a row dict (a ``session_start`` unless ``event_type`` says otherwise).

    Fields that the chosen ``event_type`` does not carry are null; a string ``event_time`` is read by :func:`ts`.
    """
    event_type = overrides.get("event_type", "session_start")
    if isinstance(overrides.get("event_time"), str):
        overrides = {**overrides, "event_time": ts(overrides["event_time"])}
    row: dict[str, Any] = {
        "session_id": "s1",
        "stream_id": "st1",
        "channel_id": "c1",
        "country": None,
        "device": None,
        "source": None,
        "campaign_id": None,
        "startup_ms": None,
        "buffering_ms": None,
        "bitrate_kbps": None,
        "reason": None,
    }
    if event_type == "session_start":
        row.update(country="FR", device="web", source="home", startup_ms=1000)
    elif event_type == "heartbeat":
        row.update(buffering_ms=0, bitrate_kbps=3000)
    elif event_type == "session_end":
        row.update(reason="user_left")
    return {**_envelope(event_type, overrides), **row, **overrides}


def make_engagement_event(**overrides: Any) -> dict[str, Any]:
    """A valid engagement event as a row dict (a ``like`` unless ``event_type`` says otherwise)."""
    event_type = overrides.get("event_type", "like")
    if isinstance(overrides.get("event_time"), str):
        overrides = {**overrides, "event_time": ts(overrides["event_time"])}
    return {**_envelope(event_type, overrides), "stream_id": "st1", "channel_id": "c1", **overrides}


def events_frame(family: Family, rows: Iterable[Mapping[str, Any]]) -> pl.LazyFrame:
    """Rows typed by the contract's schema of ``family`` (columns missing from a row are null)."""
    schema = polars_schema(family)
    data = [{name: row.get(name) for name in schema} for row in rows]
    return pl.LazyFrame(data, schema=schema)


def viewer_frame(*rows: Mapping[str, Any]) -> pl.LazyFrame:
    """Viewer events typed as ``polars_schema("viewer")``."""
    return events_frame("viewer", rows)


def engagement_frame(*rows: Mapping[str, Any]) -> pl.LazyFrame:
    """Engagement events typed as ``polars_schema("engagement")``."""
    return events_frame("engagement", rows)


def session_events(
    session_id: str,
    start: datetime | str | None,
    end: datetime | str | None,
    *,
    heartbeats: Iterable[datetime | str] = (),
    **attrs: Any,
) -> list[dict[str, Any]]:
    """The viewer events of one session: an optional start, heartbeats, an optional end.

    ``attrs`` apply to every event (e.g. ``user_id``, ``stream_id``); a start-only attribute such as
    ``source`` is only put on the ``session_start``.
    """
    start_only = {"country", "device", "source", "campaign_id", "startup_ms"}
    common = {k: v for k, v in attrs.items() if k not in start_only and k != "reason"}
    rows: list[dict[str, Any]] = []
    if start is not None:
        start_attrs = {k: v for k, v in attrs.items() if k != "reason"}
        rows.append(
            make_viewer_event(event_type="session_start", session_id=session_id, event_time=start, **start_attrs)
        )
    rows += [
        make_viewer_event(event_type="heartbeat", session_id=session_id, event_time=t, **common) for t in heartbeats
    ]
    if end is not None:
        end_attrs = {**common, **({"reason": attrs["reason"]} if "reason" in attrs else {})}
        rows.append(make_viewer_event(event_type="session_end", session_id=session_id, event_time=end, **end_attrs))
    return rows


def minutes_after(t: datetime, minutes: float) -> datetime:
    """``t`` plus a number of minutes."""
    return t + timedelta(minutes=minutes)


# ---------------------------------------------------------------------------------------------------------
# Stream and campaign events, hand-made sessions (tests/transforms: content, engagement, campaigns)
# ---------------------------------------------------------------------------------------------------------


def _with_time(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``overrides`` with a string ``event_time`` read by :func:`ts`."""
    if isinstance(overrides.get("event_time"), str):
        return {**overrides, "event_time": ts(overrides["event_time"])}
    return dict(overrides)


def make_stream_event(**overrides: Any) -> dict[str, Any]:
    """A valid stream event as a row dict (a ``stream_start`` in ``gaming`` unless overridden).

    ``category`` is set for ``stream_start`` / ``category_change`` and ``title`` for ``stream_start`` only.
    """
    overrides = _with_time(overrides)
    event_type = overrides.get("event_type", "stream_start")
    row: dict[str, Any] = {"stream_id": "st1", "channel_id": "c1", "category": None, "title": None}
    if event_type in ("stream_start", "category_change"):
        row["category"] = "gaming"
    if event_type == "stream_start":
        row["title"] = "a stream"
    return {**_envelope(event_type, overrides), **row, **overrides}


def make_campaign_event(**overrides: Any) -> dict[str, Any]:
    """A valid campaign event as a row dict (an ``impression`` of campaign ``cA`` on ``paid_social``).

    ``creative_id`` / ``cost_micros`` (0) are set for impressions and clicks, ``amount_cents`` (0) for
    purchases.
    """
    overrides = _with_time(overrides)
    event_type = overrides.get("event_type", "impression")
    row: dict[str, Any] = {"campaign_id": "cA", "channel": "paid_social"}
    if event_type in ("impression", "click"):
        row.update(creative_id="cr1", cost_micros=0)
    if event_type == "purchase":
        row["amount_cents"] = 0
    return {**_envelope(event_type, overrides), **row, **overrides}


def stream_frame(*rows: Mapping[str, Any]) -> pl.LazyFrame:
    """Stream events typed as ``polars_schema("stream")``."""
    return events_frame("stream", rows)


def campaign_frame(*rows: Mapping[str, Any]) -> pl.LazyFrame:
    """Campaign events typed as ``polars_schema("campaign")``."""
    return events_frame("campaign", rows)


SESSION_COLUMNS = {
    "session_id": pl.String(),
    "user_id": pl.String(),
    "stream_id": pl.String(),
    "channel_id": pl.String(),
    "started_at": pl.Datetime("us", "UTC"),
    "ended_at": pl.Datetime("us", "UTC"),
}


def sessions_frame(*rows: tuple[str, str, str | None, str | None, datetime | str, datetime | str]) -> pl.LazyFrame:
    """A hand-made session frame (the columns of ``build_sessions`` that content metrics use).

    Each row is ``(session_id, user_id, stream_id, channel_id, started_at, ended_at)``; times may be
    strings read by :func:`ts`.
    """
    data = [(*row[:4], *(ts(t) if isinstance(t, str) else t for t in row[4:])) for row in rows]
    return pl.LazyFrame(data, schema=SESSION_COLUMNS, orient="row")
