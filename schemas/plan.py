"""The operating plan's file format (docs/plan.md): one CSV line per target, parsed and validated.

Columns (a header line names them, in any order): ``metric``, ``scope``, ``period``, ``target``,
``direction``, and an optional free-text ``note``. Blank lines and lines whose first cell starts with ``#``
are skipped. Every problem is reported with its line number; nothing is half-parsed.

This module is pure: it reads text, it never opens the warehouse.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

Aggregation = Literal["sum", "mean", "ratio"]
Direction = Literal["at_least", "at_most"]
ScopeKind = Literal["all", "category", "channel", "campaign"]
DIRECTIONS: tuple[Direction, ...] = ("at_least", "at_most")
COLUMNS = ("metric", "scope", "period", "target", "direction")


@dataclass(frozen=True)
class MetricRule:
    """How a planned metric is accumulated over a period.

    ``sum``: the daily values are added up. ``mean``: the daily values are averaged (DAU, PCU, ...).
    ``ratio``: recomputed from its parts, never averaged: Σ numerator / Σ denominator, where the daily
    numerator is ``column * weight * scale`` (``weight`` recovers a part the marts keep only as a ratio:
    rebuffering ratio * hours watched) and the daily denominator is ``den``.
    """

    aggregation: Aggregation
    column: str
    den: str | None = None
    weight: str | None = None
    scale: float = 1.0


def _s(column: str) -> MetricRule:
    return MetricRule("sum", column)


def _m(column: str) -> MetricRule:
    return MetricRule("mean", column)


_HEADLINE_SUMS = (
    "new_users", "sessions", "hours_watched", "chat_messages", "likes", "shares", "follows", "unfollows",
    "net_follows", "gift_value_cents", "subscription_revenue_cents", "purchase_revenue_cents", "reports",
    "hours_broadcast", "impressions", "clicks", "spend", "attributed_signups", "organic_signups",
)  # fmt: skip
_HEADLINE_MEANS = (
    "dau", "wau", "mau", "unique_viewers", "pcu", "acu", "chatters", "paying_users", "streams_live",
    "active_channels", "startup_p50_ms", "startup_p95_ms",
)  # fmt: skip

# The metrics a plan can name, per scope kind.
PLAN_METRICS: dict[ScopeKind, dict[str, MetricRule]] = {
    "all": {
        **{k: _s(k) for k in _HEADLINE_SUMS},
        **{k: _m(k) for k in _HEADLINE_MEANS},
        "stickiness": MetricRule("ratio", "dau", den="mau"),
        "avg_watch_minutes": MetricRule("ratio", "hours_watched", den="unique_viewers", scale=60.0),
        "rebuffering_ratio": MetricRule("ratio", "rebuffering_ratio", den="hours_watched", weight="hours_watched"),
        "engagement_rate": MetricRule("ratio", "chatters", den="unique_viewers"),
        "report_rate": MetricRule("ratio", "reports", den="unique_viewers", scale=1000.0),
        "ctr": MetricRule("ratio", "clicks", den="impressions"),
    },
    "category": {
        "hours_watched": _s("hours_watched"),
        "hours_broadcast": _s("hours_broadcast"),
        "streams_live": _m("streams_live"),
        "viewer_ratio": MetricRule("ratio", "hours_watched", den="hours_broadcast"),
    },
    "channel": {
        **{k: _s(k) for k in ("hours_watched", "hours_broadcast", "follows", "unfollows", "net_follows")},
        "peak_viewers": _m("peak_viewers"),
        "avg_viewers": MetricRule("ratio", "hours_watched", den="hours_broadcast"),
    },
    "campaign": {
        **{k: _s(k) for k in ("impressions", "clicks", "spend", "attributed_signups", "attributed_revenue_cents")},
        "ctr": MetricRule("ratio", "clicks", den="impressions"),
        "cvr": MetricRule("ratio", "attributed_signups", den="clicks"),
        "cpa": MetricRule("ratio", "spend", den="attributed_signups"),
        "roas": MetricRule("ratio", "attributed_revenue_cents", den="spend", scale=0.01),
    },
}
# Headline figures whose parts the marts do not keep: they cannot be recomputed over a period.
NOT_PLANNABLE = {
    "error_exit_rate": "its parts (session ends by reason) are not kept in the marts",
    "csat": "its parts (survey responses) are not kept in the marts",
    "nps": "its parts (survey responses) are not kept in the marts",
    "pcu_at": "it is an instant, not a figure",
}


@dataclass(frozen=True)
class Period:
    """A closed range of report-timezone calendar days, with the text it was written as."""

    text: str
    start: date
    end: date

    @property
    def days(self) -> int:
        """Calendar days in the period (a DST change does not change the count: days are dates)."""
        return (self.end - self.start).days + 1

    def overlaps(self, other: Period) -> bool:
        return self.start <= other.end and other.start <= self.end


@dataclass(frozen=True)
class Target:
    """One line of the plan.

    Attributes:
        line: its line number in the file. metric, scope (``all`` or ``kind:id``), period, target value,
        direction. kind: ``budget`` (spend, at most) or ``target``. note: free text.
    """

    line: int
    metric: str
    scope: str
    period: Period
    target: float
    direction: Direction
    note: str = ""

    @property
    def scope_kind(self) -> ScopeKind:
        return "all" if self.scope == "all" else self.scope.split(":", 1)[0]  # type: ignore[return-value]

    @property
    def scope_id(self) -> str | None:
        return None if self.scope == "all" else self.scope.split(":", 1)[1]

    @property
    def rule(self) -> MetricRule:
        return PLAN_METRICS[self.scope_kind][self.metric]

    @property
    def kind(self) -> Literal["budget", "target"]:
        return "budget" if self.metric == "spend" and self.direction == "at_most" else "target"


@dataclass(frozen=True)
class Plan:
    targets: tuple[Target, ...]
    sha256: str


@dataclass(frozen=True)
class PlanProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class PlanError(ValueError):
    """The plan file has problems; ``problems`` lists them all, by line."""

    def __init__(self, problems: list[PlanProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: p.line)
        super().__init__("\n".join(str(p) for p in self.problems))


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_period(text: str) -> Period:
    """``2026-11`` (a month), ``2026-W47`` (an ISO week, Monday to Sunday) or ``2026-11-01..2026-11-15``.

    Raises:
        ValueError: none of these, or a date that does not exist, or a range that ends before it starts.
    """
    value = text.strip()
    if m := _MONTH.match(value):
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise ValueError(f"bad month {value!r}")
        start = date(year, month, 1)
        end = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
        return Period(value, start, end)
    if m := _WEEK.match(value):
        try:
            start = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        except ValueError:
            raise ValueError(f"bad ISO week {value!r}") from None
        return Period(value, start, start + timedelta(days=6))
    if ".." in value:
        first, _, last = value.partition("..")
        if not (_DAY.match(first) and _DAY.match(last)):
            raise ValueError(f"bad date range {value!r}: write YYYY-MM-DD..YYYY-MM-DD")
        try:
            start, end = date.fromisoformat(first), date.fromisoformat(last)
        except ValueError:
            raise ValueError(f"bad date in range {value!r}") from None
        if end < start:
            raise ValueError(f"range {value!r} ends before it starts")
        return Period(value, start, end)
    raise ValueError(f"bad period {value!r}: write a month (2026-11), an ISO week (2026-W47) or a range (a..b)")


def _scope(text: str) -> str:
    value = text.strip()
    if value in ("", "all"):
        return "all"
    kind, sep, ident = value.partition(":")
    if not sep or kind not in PLAN_METRICS or kind == "all" or not ident.strip():
        raise ValueError(f"unknown scope {value!r}: write all, category:NAME, channel:ID or campaign:ID")
    return f"{kind}:{ident.strip()}"


def parse_plan(text: str) -> Plan:
    """Parse and validate a plan file's text.

    Raises:
        PlanError: every problem found, each with its line number (the plan is all or nothing).
    """
    problems: list[PlanProblem] = []
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    targets: list[Target] = []
    for row in reader:
        line = reader.line_num
        if not row or not any(c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = [c.strip().lower() for c in row]
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                problems.append(PlanProblem(line, f"the header lacks the column(s) {', '.join(missing)}"))
                break
            continue
        if len(row) > len(header):
            problems.append(PlanProblem(line, f"{len(row)} cells, the header has {len(header)}"))
            continue
        cells = dict(zip(header, [c.strip() for c in row] + [""] * (len(header) - len(row)), strict=True))
        before = len(problems)
        try:
            scope = _scope(cells["scope"])
        except ValueError as exc:
            problems.append(PlanProblem(line, str(exc)))
            scope = ""
        metric = cells["metric"]
        if scope:
            kind: ScopeKind = "all" if scope == "all" else scope.split(":", 1)[0]  # type: ignore[assignment]
            if metric in NOT_PLANNABLE and kind == "all":
                problems.append(PlanProblem(line, f"metric {metric!r} cannot be planned: {NOT_PLANNABLE[metric]}"))
            elif metric not in PLAN_METRICS[kind]:
                known = ", ".join(sorted(PLAN_METRICS[kind]))
                where = "" if kind == "all" else f" for a {kind} scope"
                problems.append(PlanProblem(line, f"unknown metric {metric!r}{where} (known: {known})"))
        try:
            period = parse_period(cells["period"])
        except ValueError as exc:
            problems.append(PlanProblem(line, str(exc)))
        try:
            value = float(cells["target"])
            if not math.isfinite(value):
                raise ValueError
        except ValueError:
            problems.append(PlanProblem(line, f"bad target {cells['target']!r}: write a plain number (0.05, 12000)"))
        direction = cells["direction"]
        if direction not in DIRECTIONS:
            problems.append(PlanProblem(line, f"bad direction {direction!r}: write at_least or at_most"))
        if len(problems) == before:
            targets.append(Target(line, metric, scope, period, value, direction, cells.get("note", "")))  # type: ignore[arg-type]
    if header is None and not problems:
        problems.append(PlanProblem(1, "the file is empty: it needs a header line and one line per target"))
    for i, a in enumerate(targets):
        for b in targets[:i]:
            if a.metric == b.metric and a.scope == b.scope and a.period.overlaps(b.period):
                problems.append(
                    PlanProblem(
                        a.line,
                        f"{a.metric} ({a.scope}) {a.period.text} overlaps {b.period.text} of line {b.line}",
                    )
                )
    if problems:
        raise PlanError(problems)
    return Plan(tuple(targets), hashlib.sha256(text.encode("utf-8")).hexdigest())
