"""Render the report: one self-contained HTML file and a Markdown summary, in English or Chinese.

HTML (``templates/report.html.j2``): inline CSS and inline SVG charts (:mod:`reports.charts`), no script,
no font, image or style from any other host; responsive (one column on a phone) and printable (print CSS).
Jinja2 autoescape is on, so every string that comes from events (channel ids, stream titles, categories)
is escaped wherever it appears; the SVG charts escape their own text.

Markdown (``templates/summary.md.j2``): fits a chat message or an e-mail: the state of the day, the
narrative, the headline table and the anomalies. Strings are escaped for Markdown (a backslash before
``\\ ` * _ [ ] < > | &``), so a chat client that renders Markdown shows them as text.

Both outputs depend only on the model and ``generated_at``: rendering twice gives the same text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from reports import charts, i18n
from reports.baseline import Gap
from reports.i18n import Lang
from reports.model import METRICS, SECTION_FIGURES, Figure, Report
from reports.narrative import attention_items, narrative
from reports.plan_chart import plan_chart
from reports.summary import rfc3339
from schemas.marts import KEY_FIGURES, Kind

TEMPLATES = Path(__file__).resolve().parent / "templates"
TOP_SPLITS = 10
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|&])")


@dataclass(frozen=True)
class Card:
    """One figure as the report shows it: formatted value and deltas, and whether each delta is good news."""

    key: str
    label: str
    value: str
    vs_previous: str
    vs_last_week: str
    tone_previous: str
    tone_last_week: str
    anomaly: str | None
    sample: str | None = None
    why_previous: str | None = None
    why_last_week: str | None = None


def _tone(figure: Figure, change: float | None, noise: bool = False) -> str:
    """``good``, ``bad`` or ``flat`` (no change, not comparable, within a survey's sampling noise, or a
    figure without a good direction)."""
    if change is None or change == 0 or figure.better is None or noise:
        return "flat"
    return "good" if (change > 0) == (figure.better == "up") else "bad"


def card(figure: Figure, lang: Lang, currency: str | None = None) -> Card:
    """The card of one figure (amounts of money marked with ``currency``)."""
    anomaly = None
    if figure.anomaly is not None:
        word = i18n.text(figure.anomaly.direction, lang)
        median = i18n.figure(figure.anomaly.median, figure.kind, currency)
        anomaly = f"{word} · {i18n.text('median_short', lang)} {median} ({figure.anomaly.days})"
    return Card(
        key=figure.key,
        label=i18n.label(figure.key, lang),
        value=i18n.figure(figure.value, figure.kind, currency),
        vs_previous=i18n.change(figure.vs_previous, figure.delta_unit, lang, figure.kind),
        vs_last_week=i18n.change(figure.vs_last_week, figure.delta_unit, lang, figure.kind),
        tone_previous=_tone(figure, figure.vs_previous, figure.noise_previous),
        tone_last_week=_tone(figure, figure.vs_last_week, figure.noise_last_week),
        anomaly=anomaly,
        sample=None if figure.sample is None else i18n.text("sample", lang, n=i18n.integer(figure.sample)),
        why_previous=_why(figure, figure.gap_previous, figure.noise_previous, lang),
        why_last_week=_why(figure, figure.gap_last_week, figure.noise_last_week, lang),
    )


def _why(figure: Figure, gap: Gap | None, noise: bool, lang: Lang) -> str | None:
    """Why a delta is "—" (no full baseline) or toned down (sampling noise); None when it is plain."""
    if gap is not None:
        return i18n.gap_text(gap, figure.key, lang)
    if not noise:
        return None
    return i18n.text("few" if figure.kind == "count" else "noise", lang)


def comparison_notes(report: Report, lang: Lang, keys: Sequence[str]) -> list[str]:
    """Why figures of ``keys`` are not compared, each reason once: ``vs previous day · vs same day last
    week: MAU needs 30 days of data and 2026-11-08 has 9`` (the comparisons it holds for, then the reason)."""
    heads: dict[str, list[str]] = {}
    for key in keys:
        f = report.figures[key]
        for head, gap in (("vs_previous", f.gap_previous), ("vs_last_week", f.gap_last_week)):
            if gap is not None:
                shown = heads.setdefault(i18n.gap_text(gap, key, lang), [])
                if i18n.text(head, lang) not in shown:
                    shown.append(i18n.text(head, lang))
    colon = "：" if lang == "zh" else ": "  # noqa: RUF001 (Chinese full-width colon)
    return [f"{' · '.join(names)}{colon}{reason}" for reason, names in heads.items()]


def escape_markdown(value: object) -> str:
    """Text safe inside Markdown: special characters backslash-escaped, line breaks flattened."""
    flat = " ".join(str(value).split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", flat)


def _charts(report: Report, lang: Lang) -> dict[str, Markup]:
    t = i18n.text
    categories = [
        charts.Bar(
            i18n.value_label("category", c.category, lang),
            c.hours_watched,
            f"{i18n.decimal(c.hours_watched)} / {i18n.decimal(c.hours_broadcast)} {t('hours_unit', lang)}",
            c.hours_broadcast,
        )
        for c in report.categories
    ]
    total = sum(s.sessions for s in report.sources)
    sources = [
        charts.Bar(
            i18n.value_label("source", s.value, lang),
            s.sessions,
            f"{i18n.integer(s.sessions)} · {i18n.percent(s.sessions / total if total else None)}",
        )
        for s in report.sources
    ]
    legend = (t("hours_watched_col", lang), t("hours_broadcast_col", lang))
    drawn: dict[str, Markup] = {"retention": charts.retention_heatmap(report.retention, lang)}
    # Each chart but the heat map twice: wide, and a phone variant the page shows instead below 640 px.
    for suffix, width in (("", charts.WIDTH), ("_narrow", charts.NARROW)):
        drawn["concurrency" + suffix] = charts.concurrency_chart(report.curve, lang, width)
        drawn["categories" + suffix] = charts.bar_chart(
            categories, t("categories", lang), "category-chart", legend, width
        )
        drawn["sources" + suffix] = charts.bar_chart(sources, t("sources", lang), "sources-chart", width=width)
        drawn["funnel" + suffix] = charts.funnel_chart(report.campaign_totals, lang, width)
    return drawn


_SCOPED_KINDS: dict[str, Kind] = {"cvr": "share", "cpa": "money", "roas": "decimal", "viewer_ratio": "decimal",
                                        "avg_viewers": "decimal", "peak_viewers": "count",
                                        "attributed_revenue_cents": "cents"}  # fmt: skip


def _plan(report: Report, lang: Lang, with_charts: bool) -> list[dict[str, Any]]:
    """The plan entries as the report shows them (worst first); empty without a plan."""
    if report.plan is None:
        return []
    rows = []
    for e in report.plan.entries:
        spec = METRICS.get(e.metric)
        kind = _SCOPED_KINDS.get(e.metric, spec.kind if spec else "decimal")
        rows.append(
            {
                "label": i18n.label(e.metric, lang),
                "scope": e.scope,
                "period": e.period,
                "kind": e.kind,
                "direction": "≥" if e.direction == "at_least" else "≤",
                "target": i18n.figure(e.target, kind, report.currency),
                "to_date": i18n.figure(e.to_date, kind, report.currency),
                "expected": i18n.figure(e.expected_to_date, kind, report.currency),
                "attainment": i18n.percent(e.attainment),
                "projected": i18n.figure(e.projected, kind, report.currency),
                "status": e.status,
                "status_text": i18n.text(f"status_{e.status}", lang),
                "chart": plan_chart(e, lang) if with_charts else None,
            }
        )
    return rows


def _context(report: Report, lang: Lang, generated_at: datetime) -> dict[str, Any]:
    tz_now = report.built_at.astimezone(report.pcu_at.tzinfo)
    return {
        "r": report,
        "lang": lang,
        "html_lang": i18n.HTML_LANG[lang],
        "day_text": i18n.day_text(report.day, lang),
        "headline": [card(report.figures[k], lang, report.currency) for k in KEY_FIGURES],
        "sections": {
            name: [card(report.figures[k], lang, report.currency) for k in keys]
            for name, keys in SECTION_FIGURES.items()
        },
        "narrative": narrative(report, lang),
        "headline_notes": comparison_notes(report, lang, KEY_FIGURES),
        "section_notes": {name: comparison_notes(report, lang, keys) for name, keys in SECTION_FIGURES.items()},
        "attention": attention_items(report, lang),
        "plan": _plan(report, lang, with_charts=False),
        "anomalies": [
            {
                "metric": a.metric,
                "label": i18n.label(a.metric, lang),
                "value": i18n.figure(a.value, report.figures[a.metric].kind, report.currency),
                "median": i18n.figure(a.median, report.figures[a.metric].kind, report.currency),
                "days": a.days,
                "direction": i18n.text(a.direction, lang),
                "arrow": "▲" if a.direction == "up" else "▼",
            }
            for a in report.anomalies
        ],
        "generated_at": rfc3339(generated_at),
        "watermark": i18n.stamp(report.watermark.astimezone(report.pcu_at.tzinfo)),
        "built_at": i18n.stamp(tz_now),
        "restated_keys": sorted({k for s in report.restatements for k in s.changed}),
        "devices": report.devices[:TOP_SPLITS],
        "countries": report.countries[:TOP_SPLITS],
        "t": lambda key, **values: i18n.text(key, lang, **values),
        "label": lambda key: i18n.label(key, lang),
        "vl": lambda dimension, code: i18n.value_label(dimension, code, lang),
        "integer": i18n.integer,
        "decimal": i18n.decimal,
        "percent": i18n.percent,
        "money": i18n.money,
        "cents": i18n.cents,
        "money_note": i18n.money_unit(report.currency, lang),
        # A money column's header: "Spend (¥)"; its cells are plain amounts.
        "money_label": lambda key: f"{i18n.label(key, lang)} ({i18n.currency_symbol(report.currency)})",
    }


def _environment(autoescape: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = escape_markdown
    return env


_HTML = _environment(autoescape=True)
_MARKDOWN = _environment(autoescape=False)


def render_html(report: Report, lang: Lang, generated_at: datetime) -> str:
    """The report as one self-contained HTML page."""
    context = _context(report, lang, generated_at)
    context["charts"] = _charts(report, lang)
    context["plan"] = _plan(report, lang, with_charts=True)
    return _HTML.get_template("report.html.j2").render(context)


# The figures the console summary shows (``liveops report``, the demo), in this order.
CONSOLE_FIGURES = ("dau", "unique_viewers", "sessions", "hours_watched", "pcu", "acu", "new_users", "gift_value_cents",
                   "spend")  # fmt: skip


def console_summary(summary: Mapping[str, Any], currency: str, lang: Lang = "en") -> list[str]:
    """A few headline figures of ``summary.json`` as the report words them, one aligned line each.

    A terminal reader gets the report's labels and units (``Gift value  ¥114,300.00``), not the JSON's keys
    and raw cents, so what they read there matches what the report shows.
    """
    headline = summary["headline"]
    rows = [(i18n.label(k, lang), i18n.figure(headline.get(k), METRICS[k].kind, currency)) for k in CONSOLE_FIGURES]
    width = max(_columns(name) for name, _ in rows)
    return [f"  {name}{' ' * (width - _columns(name))}  {value}" for name, value in rows]


def _columns(value: str) -> int:
    """Terminal columns of ``value``: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in value)


def render_markdown(report: Report, lang: Lang, generated_at: datetime) -> str:
    """The Markdown summary (chat or e-mail): state of the day, narrative, headline table, anomalies."""
    return _MARKDOWN.get_template("summary.md.j2").render(_context(report, lang, generated_at))
