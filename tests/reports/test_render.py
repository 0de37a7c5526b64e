"""The human report: HTML and Markdown in English and Chinese, the narrative, escaping, self-containment."""

# ruff: noqa: RUF001

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from reports.i18n import Lang, cents, label, money
from reports.model import Report, read_report
from reports.narrative import narrative
from reports.render import console_summary, escape_markdown, render_html, render_markdown
from reports.summary import build_summary
from tests.conftest import copy_lake
from tests.reports.warehouse import HOSTILE_CATEGORY, HOSTILE_CHANNEL, HOSTILE_TITLE, REPORT_DAY, add_quality_run
from warehouse.lake import LakeConfig, open_lake

GENERATED = datetime(2026, 11, 9, 6, 30, tzinfo=UTC)


@pytest.fixture
def report(con: duckdb.DuckDBPyConnection) -> Report:
    return read_report(con, REPORT_DAY, "UTC")


@pytest.mark.parametrize(
    ("lang", "html_lang", "words"),
    [
        ("en", "en", ["Daily operations report", "2026-11-08 (Sunday)", "Headline", "Retention", "Campaigns"]),
        ("zh", "zh-CN", ["直播运营日报", "2026年11月8日（星期日）", "核心指标", "留存", "营销投放"]),
    ],
)
def test_html_in_each_language(report: Report, lang: Lang, html_lang: str, words: list[str]) -> None:
    html = render_html(report, lang, GENERATED)
    assert html.startswith("<!DOCTYPE html>") and f'<html lang="{html_lang}">' in html
    for word in words:
        assert word in html, word
    # One section per ops responsibility, each with its anchor.
    for section in ("summary", "headline", "anomalies", "growth", "viewing", "content", "qoe", "community",
                    "campaigns", "data-quality"):  # fmt: skip
        assert f'<section id="{section}"' in html, section
    # The five charts are drawn, inline.
    for chart in ("concurrency-chart", "retention-heatmap", "category-chart", "sources-chart", "funnel-chart"):
        assert f'<svg class="chart {chart}"' in html, chart
    assert '<circle class="peak"' in html  # the peak is marked
    assert "quality checks not run" in html or "数据质量检查未运行" in html


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_markdown_fits_a_chat_message(report: Report, lang: Lang) -> None:
    md = render_markdown(report, lang, GENERATED)
    assert len(md) < 4000  # a chat message or an e-mail, not a page
    header = "| Figure | Value | vs previous day | vs same day last week |" if lang == "en" else "| 指标 | 数值 |"
    assert header in md
    assert md.count("\n| ") == 11  # header + ten headline figures
    for sentence in narrative(report, lang):
        assert escape_markdown(sentence) in md
    for anomaly in report.anomalies:
        assert f"**{escape_markdown(label(anomaly.metric, lang))}**" in md


def test_the_html_is_self_contained(report: Report) -> None:
    for lang in ("en", "zh"):
        html = render_html(report, lang, GENERATED)
        # No script, no external resource: no src, no link element, no url(), no @import, no remote href.
        assert not re.search(r"<script|<link|<img|<iframe|<object|<embed|@import|url\(", html, re.IGNORECASE)
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.IGNORECASE)
        # The only absolute URL is the SVG namespace, an identifier that is never fetched.
        assert set(re.findall(r"https?://[^\s\"'<>]+", html)) == {"http://www.w3.org/2000/svg"}
        assert "@media print" in html and "@media (max-width: 640px)" in html
        assert '<meta name="viewport"' in html


def test_strings_from_events_are_escaped(report: Report) -> None:
    for lang in ("en", "zh"):
        html = render_html(report, lang, GENERATED)
        assert "<script" not in html.lower() and "<img" not in html and "<svg onload" not in html
        # Channel id (tables), stream title (tables), category (tables and the SVG bar chart's text).
        assert "&lt;script&gt;document.title=&#39;PWNED&#39;&lt;/script&gt;" in html
        assert "&lt;img src=x onerror=&#34;document.title=&#39;PWNED&#39;&#34;&gt;" in html
        category_chart = html[html.index('<svg class="chart category-chart"') :]
        category_chart = category_chart[: category_chart.index("</svg>")]
        assert "&lt;svg onload=&#34;document" in category_chart
    md = render_markdown(report, "en", GENERATED)
    assert "<script" not in md


def test_escaping_of_markdown() -> None:
    assert escape_markdown("a|b <script>*x*_y_ [l](u) &amp;\nz") == r"a\|b \<script\>\*x\*\_y\_ \[l\](u) \&amp; z"


def test_the_hostile_stream_is_in_the_report(report: Report) -> None:
    assert report.top_streams[0].title == HOSTILE_TITLE and report.top_channels[0].channel_id == HOSTILE_CHANNEL
    assert HOSTILE_CATEGORY in [c.category for c in report.categories]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_narrative_says_what_moved_what_is_anomalous_what_needs_attention(report: Report, lang: Lang) -> None:
    sentences = narrative(report, lang)
    assert 5 <= len(sentences) <= 8
    assert all(s.endswith("." if lang == "en" else "。") for s in sentences)
    text = " ".join(sentences)
    mover = report.movers()[0]
    assert label(mover.key, lang).lower() in text.lower()
    assert report.anomalies
    for anomaly in report.anomalies:
        assert label(anomaly.metric, lang).lower() in text.lower(), anomaly.metric
    assert ("Needs attention" if lang == "en" else "需要关注") in text


def test_the_narrative_of_an_incomplete_unverified_day(report_warehouse: LakeConfig, tmp_path: Path) -> None:
    copy = copy_lake(report_warehouse, tmp_path)
    last = date(2026, 11, 9)  # incomplete: the watermark is within that day
    with open_lake(copy) as con:
        add_quality_run(con, "r1", "2026-11-10 01:00:00+00", False, [("marts", "unique key", "critical")], day=last)
        report = read_report(con, last, "UTC")
    assert not report.complete and report.unverified
    en, zh = " ".join(narrative(report, "en")), " ".join(narrative(report, "zh"))
    assert "UNVERIFIED" in en and "incomplete" in en and "1 data-quality expectations failed (1 critical)" in en
    assert "未验证" in zh and "不完整" in zh
    html = render_html(report, "en", GENERATED)
    assert 'class="banner unverified"' in html and 'class="banner incomplete"' in html
    assert "unique key" in html
    md = render_markdown(report, "zh", GENERATED)
    assert "未验证" in md and "当日数据不完整" in md


def test_the_first_day_has_nothing_to_compare_with(con: duckdb.DuckDBPyConnection) -> None:
    report = read_report(con, date(2026, 10, 31), "UTC")
    assert report.movers() == [] and report.anomalies == () and report.anomaly_days == 0
    text = " ".join(narrative(report, "en"))
    assert "No comparison with the previous day: 2026-10-30 is before the first day of data." in text
    assert "needs at least 7 previous days with data (the first day of data does not count); it had 0" in text
    html = render_html(report, "zh", GENERATED)
    assert "—" in html  # deltas without a base


def test_money_is_marked_with_its_currency() -> None:
    assert money(1234.5, "CNY") == "¥1,234.50"
    assert cents(-300, "USD") == "−$3.00"
    assert money(12, "CHF") == "CHF 12.00"  # no symbol known: the code
    assert money(None, "CNY") == "—" and money(1234.5) == "1,234.50"  # table cells: the header says the unit


@pytest.mark.parametrize(("currency", "symbol"), [("CNY", "¥"), ("USD", "$")])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_report_shows_money_in_the_currency(
    con: duckdb.DuckDBPyConnection, lang: Lang, currency: str, symbol: str
) -> None:
    report = read_report(con, REPORT_DAY, "UTC", currency=currency)
    gift = report.value("gift_value_cents")
    assert isinstance(gift, int) and gift > 0
    shown = f"{symbol}{gift / 100:,.2f}"
    html = render_html(report, lang, GENERATED)
    card = re.search(r'data-metric="gift_value_cents">.*?class="card-value">(.*?)</div>', html, re.DOTALL)
    assert card is not None and card.group(1) == shown
    spend = label("spend", lang)
    assert f'<th class="num">{spend} ({symbol})</th>' in html  # campaign table: the unit in the header
    legend = f"Amounts in {currency} ({symbol})." if lang == "en" else f"金额单位：{currency}（{symbol}）。"
    assert legend in html and "currency units" not in html
    assert money(report.campaign_totals.spend, currency) in " ".join(narrative(report, lang))
    assert money(report.value("spend"), currency) in render_markdown(report, lang, GENERATED)


def test_the_console_summary_uses_the_reports_labels_and_units(con: duckdb.DuckDBPyConnection) -> None:
    report = read_report(con, REPORT_DAY, "UTC")
    summary = build_summary(report, GENERATED)
    lines = console_summary(summary, "CNY")
    gift = next(line for line in lines if "Gift value" in line)
    assert gift.split("Gift value")[1].strip() == f"¥{summary['headline']['gift_value_cents'] / 100:,.2f}"
    assert not any("_cents" in line or "_" in line.split()[0] for line in lines)
    assert len({len(line) - len(line.split()[-1]) for line in lines}) == 1  # values start in one column
    zh = console_summary(summary, "CNY", "zh")
    assert any(line.strip().startswith("礼物金额") for line in zh)
