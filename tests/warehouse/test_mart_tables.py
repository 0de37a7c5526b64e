"""Marts are rebuilt, not migrated: a changed registry recreates every mart and rebuilds every day."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import duckdb
import pytest

import schemas.marts as registry
from tests.warehouse.test_marts import build, con, daily_likes, load
from warehouse.mart_tables import recorded_version

__all__ = ["con"]  # the fixture, shared with test_marts

DAYS = [date(2026, 5, d) for d in range(1, 6)]


def _build_ids(con: duckdb.DuckDBPyConnection) -> dict[date, str]:
    return dict(con.execute("SELECT day, build_id FROM build_days").fetchall())


def test_a_changed_mart_definition_rebuilds_every_day(
    con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(con, daily_likes(1, 5))
    said: list[str] = []
    first = build(con, progress=said.append)
    # A warehouse never built: its marts made from the registry, every day built, the version recorded;
    # nothing to announce (no definition changed for anyone).
    assert not any("definitions changed" in line for line in said)
    assert first.mode == "incremental" and first.days == DAYS
    assert recorded_version(con) == registry.MARTS_VERSION

    said.clear()
    # Same definitions: an ordinary incremental build (only the last day, still incomplete, is redone).
    assert build(con, progress=said.append).days == DAYS[-1:]
    assert not any("definitions changed" in line for line in said)
    before = _build_ids(con)

    # Change one mart's definition (as an edit of schemas/marts.py would): a new version.
    revised = tuple(
        replace(m, revision=m.revision + 1) if m.name == "agg_daily_category" else m for m in registry.MARTS
    )
    monkeypatch.setattr(registry, "MARTS", revised)
    monkeypatch.setattr(registry, "MARTS_VERSION", registry._fingerprint())
    old_version = recorded_version(con)
    assert old_version != registry.MARTS_VERSION

    said.clear()
    result = build(con, progress=said.append)  # an incremental build, as `liveops build` runs it
    assert f"mart definitions changed (version {old_version} -> version {registry.MARTS_VERSION})" in said[0]
    assert result.mode == "full" and result.days == DAYS
    after = _build_ids(con)
    assert set(after) == set(DAYS) and all(after[d] == result.build_id != before[d] for d in DAYS)
    assert recorded_version(con) == registry.MARTS_VERSION
    assert con.execute("SELECT sum(likes) FROM agg_daily_headline").fetchone() == (5,)  # rebuilt, not emptied


def test_a_rebuild_that_stops_half_way_starts_over(
    con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(con, daily_likes(1, 5))
    build(con)
    monkeypatch.setattr(registry, "MARTS_VERSION", "changed")
    import flows.marts

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed")

    monkeypatch.setattr(flows.marts, "record_build", crash)
    with pytest.raises(RuntimeError):
        build(con)
    assert recorded_version(con) != "changed"  # not recorded: the next build recreates again
    monkeypatch.undo()
    monkeypatch.setattr(registry, "MARTS_VERSION", "changed")
    said: list[str] = []
    assert build(con, progress=said.append).days == DAYS
    assert "recreating the marts" in said[0] and recorded_version(con) == "changed"
