"""The plan section of the daily report: the current plan version's ``agg_daily_plan`` rows of D (docs/plan.md).

Entries are ordered worst first (off track, at risk, on track, no data), then by plan line, so the section
leads with what needs attention. Each entry carries its period-to-date series for the attainment chart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb

from warehouse.plan import read_plan_rows

STATUS_ORDER = {"off_track": 0, "at_risk": 1, "on_track": 2, "no_data": 3}


@dataclass(frozen=True)
class PlanEntry:
    line: int
    metric: str
    scope: str
    period: str
    period_start: date
    period_end: date
    kind: str
    aggregation: str
    direction: str
    target: float
    to_date: float | None
    expected_to_date: float
    attainment: float | None
    projected_linear: float | None
    projected_weekday: float | None
    projected: float | None
    projected_variance: float | None
    status: str
    series: tuple[tuple[date, float | None], ...]


@dataclass(frozen=True)
class PlanSection:
    version: int
    entries: tuple[PlanEntry, ...]

    @property
    def off_track(self) -> tuple[PlanEntry, ...]:
        return tuple(e for e in self.entries if e.status == "off_track")

    @property
    def at_risk(self) -> tuple[PlanEntry, ...]:
        return tuple(e for e in self.entries if e.status == "at_risk")


def _entry(rows: list[dict[str, Any]]) -> PlanEntry:
    last = rows[-1]
    return PlanEntry(
        line=int(last["line"]),
        metric=str(last["metric"]),
        scope=str(last["scope"]),
        period=str(last["period"]),
        period_start=last["period_start"],
        period_end=last["period_end"],
        kind=str(last["kind"]),
        aggregation=str(last["aggregation"]),
        direction=str(last["direction"]),
        target=float(last["target"]),
        to_date=last["to_date"],
        expected_to_date=float(last["expected_to_date"]),
        attainment=last["attainment"],
        projected_linear=last["projected_linear"],
        projected_weekday=last["projected_weekday"],
        projected=last["projected"],
        projected_variance=last["projected_variance"],
        status=str(last["status"]),
        series=tuple((r["day"], r["to_date"]) for r in rows),
    )


def read_plan_section(con: duckdb.DuckDBPyConnection, day: date) -> PlanSection | None:
    """The plan section of the report of ``day``; None when no plan is loaded (the report shows no section)."""
    version, rows = read_plan_rows(con, day)
    if version is None:
        return None
    by_line: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_line.setdefault(int(row["line"]), []).append(row)
    entries = sorted((_entry(r) for r in by_line.values()), key=lambda e: (STATUS_ORDER.get(e.status, 9), e.line))
    return PlanSection(version, tuple(entries))
