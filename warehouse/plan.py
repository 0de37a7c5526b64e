"""The operating plan in the warehouse (migration 6): versioned storage and the ``agg_daily_plan`` mart.

``store_plan`` keeps every distinct plan file as a new version (the same file again, by sha256, is a no-op).
``refresh_plan_mart`` recomputes the current version's rows of ``agg_daily_plan`` for every built day of its
targets' periods, leaving other versions' rows as they were. Both run in the pipeline's read-write file;
the build calls the refresh, and so does ``liveops plan load``. The figures themselves are computed by the
caller's ``figures`` (``transforms.plan.plan_figures``): the warehouse imports no transform.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import duckdb
import polars as pl

from schemas.plan import Period, Plan, Target, parse_period
from warehouse.lake import transaction

log = logging.getLogger(__name__)

# The daily figures of each scope kind: (SQL over the marts, filter column). Campaigns are summed over channels.
_SCOPE_SQL = {
    "all": ("SELECT * FROM agg_daily_headline", None),
    "category": ("SELECT * FROM agg_daily_category WHERE category = ?", "category"),
    "channel": ("SELECT * FROM agg_daily_channel WHERE channel_id = ?", "channel_id"),
    "campaign": (
        "SELECT day, sum(impressions) AS impressions, sum(clicks) AS clicks, sum(spend) AS spend, "
        "sum(attributed_signups) AS attributed_signups, sum(attributed_revenue_cents) AS attributed_revenue_cents "
        "FROM agg_daily_campaign WHERE campaign_id = ? GROUP BY day",
        "campaign_id",
    ),
}


class DayFigures(Protocol):
    """What ``agg_daily_plan`` stores of a target's figures on a day (``transforms.plan.PlanFigures``)."""

    @property
    def days_elapsed(self) -> int: ...
    @property
    def days_with_data(self) -> int: ...
    @property
    def period_days(self) -> int: ...
    @property
    def to_date(self) -> float | None: ...
    @property
    def expected_to_date(self) -> float: ...
    @property
    def attainment(self) -> float | None: ...
    @property
    def projected_linear(self) -> float | None: ...
    @property
    def projected_weekday(self) -> float | None: ...
    @property
    def projected(self) -> float | None: ...
    @property
    def projected_variance(self) -> float | None: ...
    @property
    def status(self) -> str: ...


# The figures of a target on a day from its scope's daily figures (None: the day is outside the period).
FiguresOf = Callable[[Target, pl.DataFrame, date], DayFigures | None]


@dataclass(frozen=True)
class StoredPlan:
    version: int
    new: bool


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {str(r[0]) for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def current_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The latest plan version loaded (None: no plan, or a warehouse older than migration 6)."""
    if "plan_versions" not in _tables(con):
        return None
    row = con.execute("SELECT max(version) FROM plan_versions").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def store_plan(con: duckdb.DuckDBPyConnection, plan: Plan, file_name: str) -> StoredPlan:
    """Store ``plan`` as a new version, unless a file with the same sha256 is already stored."""
    row = con.execute("SELECT version FROM plan_versions WHERE sha256 = ?", [plan.sha256]).fetchone()
    if row is not None:
        return StoredPlan(int(row[0]), False)
    with transaction(con):
        version = int(con.execute("SELECT coalesce(max(version), 0) + 1 FROM plan_versions").fetchall()[0][0])
        con.execute(
            "INSERT INTO plan_versions VALUES (?, now(), ?, ?, ?)", [version, file_name, plan.sha256, len(plan.targets)]
        )
        con.executemany(
            "INSERT INTO plan_targets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    version,
                    t.line,
                    t.metric,
                    t.scope,
                    t.period.text,
                    t.period.start,
                    t.period.end,
                    t.target,
                    t.direction,
                    t.kind,
                    t.rule.aggregation,
                    t.note,
                ]
                for t in plan.targets
            ],
        )
    log.info("plan version %d stored from %s (%d targets)", version, file_name, len(plan.targets))
    return StoredPlan(version, True)


def read_targets(con: duckdb.DuckDBPyConnection, version: int) -> list[Target]:
    """The targets of a stored plan version, in line order."""
    rows = con.execute(
        "SELECT line, metric, scope, period, period_start, period_end, target, direction, note "
        "FROM plan_targets WHERE version = ? ORDER BY line",
        [version],
    ).fetchall()
    targets = []
    for line, metric, scope, text, start, end, value, direction, note in rows:
        period = parse_period(text)
        if (period.start, period.end) != (start, end):  # pragma: no cover - stored from the same parser
            period = Period(text, start, end)
        targets.append(Target(int(line), metric, scope, period, float(value), direction, note))
    return targets


def _daily(con: duckdb.DuckDBPyConnection, target: Target) -> pl.DataFrame:
    sql, _ = _SCOPE_SQL[target.scope_kind]
    params: list[Any] = [] if target.scope_id is None else [target.scope_id]
    frame: pl.DataFrame = con.sql(sql, params=params).pl()
    return frame


def refresh_plan_mart(con: duckdb.DuckDBPyConnection, figures: FiguresOf) -> int:
    """Recompute the current plan version's rows of ``agg_daily_plan``; returns the rows written (0: no plan).

    ``figures`` computes each target's figures on each built day (``transforms.plan.plan_figures``).
    """
    version = current_version(con)
    if version is None:
        return 0
    built: list[date] = [r[0] for r in con.execute("SELECT day FROM build_days ORDER BY day").fetchall()]
    rows: list[list[Any]] = []
    for target in read_targets(con, version):
        daily = _daily(con, target)
        for day in built:
            f = figures(target, daily, day)
            if f is None:
                continue
            rows.append(
                [day, version, target.line, target.metric, target.scope, target.period.text, target.period.start,
                 target.period.end, target.direction, target.kind, target.rule.aggregation, target.target,
                 f.days_elapsed, f.days_with_data, f.period_days, f.to_date, f.expected_to_date, f.attainment,
                 f.projected_linear, f.projected_weekday, f.projected, f.projected_variance, f.status]
            )  # fmt: skip
    with transaction(con):
        con.execute("DELETE FROM agg_daily_plan WHERE plan_version = ?", [version])
        if rows:
            con.executemany(f"INSERT INTO agg_daily_plan VALUES ({', '.join('?' * 23)})", rows)
    log.info("agg_daily_plan: %d rows for plan version %d", len(rows), version)
    return len(rows)


def read_plan_rows(con: duckdb.DuckDBPyConnection, day: date) -> tuple[int | None, list[dict[str, Any]]]:
    """The plan version a report of ``day`` uses (the current one) and its ``agg_daily_plan`` rows of the
    period to date (every day from each period's start to ``day``), ordered by line then day."""
    version = current_version(con)
    if version is None:
        return None, []
    relation = con.execute(
        "SELECT * FROM agg_daily_plan WHERE plan_version = ? AND day <= ? AND line IN "
        "(SELECT line FROM agg_daily_plan WHERE plan_version = ? AND day = ?) "
        "AND day >= period_start ORDER BY line, day",
        [version, day, version, day],
    )
    columns = [d[0] for d in relation.description or []]
    return version, [dict(zip(columns, r, strict=True)) for r in relation.fetchall()]


def plan_file_name(path: Path) -> str:
    """The name a plan version records: the file's name (no folder of this machine is stored)."""
    return path.name
