"""Words and numbers for humans, in English (``en``) and Simplified Chinese (``zh``, zh-CN).

Labels of every figure and section, the fixed phrases of the report, and number formatting: rounded,
thousands separators, "—" for null, signed deltas with a real minus sign. Formatting is the same in both
languages (Chinese readers use the same digit grouping); units and phrases differ.
"""

# Chinese text uses full-width punctuation on purpose.
# ruff: noqa: RUF001, RUF002

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Literal

from reports.baseline import Gap
from reports.model import DeltaUnit, Number
from schemas.marts import METRICS, SECTIONS, Kind
from schemas.plan import PLAN_METRICS

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")
HTML_LANG: dict[Lang, str] = {"en": "en", "zh": "zh-CN"}
NULL = "—"
MINUS = "\u2212"

# Labels of the columns the report shows beside the headline figures (the campaign table): (en, zh).
COLUMN_LABELS: dict[str, tuple[str, str]] = {
    "cvr": ("CVR", "转化率"),
    "cpa": ("CPA", "单次获客成本"),
    "roas": ("ROAS", "广告支出回报率"),
    "attributed_revenue_cents": ("Attributed revenue", "归因收入"),
    "viewer_ratio": ("Viewer ratio", "观看开播比"),
    "avg_viewers": ("Average viewers", "平均观众数"),
    "peak_viewers": ("Peak viewers", "峰值观众数"),
}
# Figure labels: (en, zh). The headline figures' come from their declaration (schemas/marts.py).
LABELS: dict[str, tuple[str, str]] = {**{m.key: (m.en, m.zh) for m in METRICS}, **COLUMN_LABELS}
# Every figure a plan may name is labelled (else the report would show a raw key): checked at import.
_UNLABELLED = sorted({m for metrics in PLAN_METRICS.values() for m in metrics} - LABELS.keys())
if _UNLABELLED:
    raise ValueError(f"reports/i18n.py: no label for plan metric(s) {', '.join(_UNLABELLED)}")

# Fixed phrases: (en, zh).
TEXT: dict[str, tuple[str, str]] = {
    "plan": ("Plan", "经营计划"),
    "plan_chart": ("Attainment", "达成情况"),
    "plan_version": ("plan version {version}", "计划版本 {version}"),
    "plan_scope": ("Scope", "范围"),
    "plan_period": ("Period", "周期"),
    "plan_target": ("Target", "目标"),
    "plan_to_date": ("To date", "截至当日"),
    "plan_attainment": ("Attainment", "达成率"),
    "plan_projected": ("Projected", "预计"),
    "plan_status": ("Status", "状态"),
    "plan_none_at_risk": ("Every target is on track.", "所有目标均按计划推进。"),
    "plan_legend": (
        "Solid: to date · grey: target path · dashed: projection to the period's end (weekday pattern of the last 4 weeks where there is that much data, else linear).",
        "实线：截至当日 · 灰线：目标路径 · 虚线：至周期末的预计值（有 4 周数据时按星期规律，否则线性）。",
    ),
    "status_on_track": ("on track", "按计划"),
    "status_at_risk": ("at risk", "有风险"),
    "status_off_track": ("off track", "偏离计划"),
    "status_no_data": ("no data", "无数据"),
    "plan_sentence": ("Plan: off track: {items}.", "经营计划偏离：{items}。"),
    "plan_sentence_ok": (
        "Plan (version {version}): no target is off track.",
        "经营计划（版本 {version}）：没有偏离计划的目标。",
    ),
    "title": ("Daily operations report", "直播运营日报"),
    "summary": ("Summary", "概要"),
    "headline": ("Headline", "核心指标"),
    "figure": ("Figure", "指标"),
    "value": ("Value", "数值"),
    "vs_previous": ("vs previous day", "较前一日"),
    "vs_last_week": ("vs same day last week", "较上周同日"),
    "growth": ("Growth", "用户增长"),
    "viewing": ("Viewing", "观看"),
    "content": ("Content", "内容"),
    "qoe": ("Quality of experience", "播放体验"),
    "community": ("Community", "社区互动"),
    "campaigns": ("Campaigns", "营销投放"),
    "data_quality": ("Data quality", "数据质量"),
    "anomalies": ("Anomalies", "异常"),
    "retention": ("Retention", "留存"),
    "retention_heatmap": (
        "Retention by cohort (share of new users active on day N)",
        "分批次留存（新用户在第 N 天仍活跃的比例）",
    ),
    "cohort": ("Cohort", "批次"),
    "size": ("New users", "新用户数"),
    "concurrency": ("Concurrent viewers by minute", "每分钟同时在线观众"),
    "peak": ("peak", "峰值"),
    "sources": ("Traffic sources", "流量来源"),
    "devices": ("Devices", "设备"),
    "countries": ("Countries", "国家/地区"),
    "source": ("Source", "来源"),
    "device": ("Device", "设备"),
    "country": ("Country", "国家/地区"),
    "categories": ("Categories", "分区"),
    "category": ("Category", "分区"),
    "viewer_ratio": ("Viewers per broadcast hour", "观看/开播时长比"),
    "top_channels": ("Top channels by hours watched", "观看时长最高的频道"),
    "top_streams": ("Top streams by hours watched", "观看时长最高的直播"),
    "channel": ("Channel", "频道"),
    "stream": ("Stream", "直播"),
    "stream_title": ("Title", "标题"),
    "avg_viewers": ("Average viewers", "平均观众"),
    "peak_viewers": ("Peak viewers", "峰值观众"),
    "campaign": ("Campaign", "活动"),
    "marketing_channel": ("Channel", "渠道"),
    "funnel": ("Funnel: impressions → clicks → sign-ups", "转化漏斗：曝光 → 点击 → 注册"),
    "log_scale": ("bar length on a logarithmic scale", "条形长度为对数刻度"),
    "reports_by_reason": ("Complaints by reason", "按原因的投诉"),
    "shares_by_target": ("Shares by target", "按目标的分享"),
    "reason": ("Reason", "原因"),
    "target": ("Target", "目标"),
    "count": ("Count", "数量"),
    "ingested": ("Messages ingested (all time)", "累计接入消息"),
    "duplicates_dropped": ("Duplicates dropped (all time)", "累计去重丢弃"),
    "quarantined": ("Quarantined (all time)", "累计隔离消息"),
    "quarantined_by_reason": ("Quarantined by reason (all time)", "按原因的隔离消息（累计）"),
    "events_of_day": ("Valid events on this day", "当日有效事件"),
    "late_events": ("Late events on this day", "当日迟到事件"),
    "future_events": (
        "Arrived on this day stamped in the future (clock ahead)",
        "当日到达但时间戳超前的事件（时钟超前）",
    ),
    "expectations_failed": ("Expectations failed", "未通过的数据校验"),
    "quality_not_run": ("quality checks not run", "数据质量检查未运行"),
    "quality_passed": ("quality checks passed", "数据质量检查通过"),
    "data_docs": ("Data Docs (details of every check)", "Data Docs（各项检查详情）"),
    "critical_failed": ("Critical checks failed", "未通过的关键检查"),
    "unverified_banner": (
        "UNVERIFIED: a critical data-quality check failed for this day; do not rely on these "
        "figures until it is resolved.",
        "未验证：当日有关键数据质量检查未通过，问题解决前请勿依赖这些数据。",
    ),
    "incomplete_banner": (
        "INCOMPLETE DAY: data for this day may still arrive; figures will change.",
        "当日数据不完整：仍可能有数据到达，指标会变化。",
    ),
    "restated_banner": (
        "RESTATED: this day was rebuilt after an earlier report; changed figures:",
        "数据已重述：本日在先前报告之后被重新计算，变化的指标：",
    ),
    "unverified": ("unverified", "未验证"),
    "needs_attention": ("Needs attention", "需要关注"),
    "no_anomalies": ("No figure is anomalous.", "没有指标异常。"),
    "too_few_days": (
        "Anomaly detection needs at least 7 previous days with data (the first day of data does not count); it had {n}.",
        "异常检测至少需要前 7 个有数据的日子（数据的第一天不计），目前只有 {n} 天。",
    ),
    "anomaly_rule": (
        "Flagged when more than 3 robust z-scores from the median of the previous days with data (up to 28, at least 7).",
        "与此前有数据的日子（最多 28 天，至少 7 天）的中位数相差超过 3 个稳健 z 分数即标记为异常。",
    ),
    "median": ("Median (days)", "中位数（天数）"),
    "gap_before_data": ("{day} is before the first day of data", "{day} 早于数据的第一天"),
    "gap_not_built": ("{day} is not built", "{day} 尚未计算"),
    "gap_no_data": ("{day} has no events", "{day} 没有事件数据"),
    "gap_first_day": (
        "{day} is the first day of data (every user was new, and the day may have started part-way)",
        "{day} 是数据的第一天（所有用户都是新用户，且当天可能不完整）",
    ),
    "gap_short_window": (
        "{figure} needs {window} days of data and {day} has {have}",
        "{figure}需要 {window} 天的数据，{day} 只有 {have} 天",
    ),
    "not_compared": ("— not compared", "— 未比较"),
    "sample": ("n = {n}", "n = {n}"),
    "noise": ("move within sampling noise", "变化在抽样误差内"),
    "few": ("too few to compare (under 30 on a day)", "数量太少，不作比较（某日不足 30）"),
    "median_over": ("median {median} over {n} days", "{n} 天中位数 {median}"),
    "median_short": ("median", "中位数"),
    "direction": ("Direction", "方向"),
    "up": ("above", "偏高"),
    "down": ("below", "偏低"),
    "watermark": ("Watermark", "水位线"),
    "timezone": ("Time zone", "时区"),
    "complete": ("complete", "完整"),
    "incomplete": ("incomplete", "不完整"),
    "built_at": ("Built", "计算时间"),
    "generated_at": ("Generated", "生成时间"),
    "d1": ("D1", "次日"),
    "d7": ("D7", "7 日"),
    "d30": ("D30", "30 日"),
    "no_rows": ("None on this day.", "当日无数据。"),
    "total": ("Total", "合计"),
    "money_note": ("Amounts in {code} ({symbol}).", "金额单位：{code}（{symbol}）。"),
    "hours_unit": ("h", "小时"),
    "minutes_unit": ("min", "分钟"),
    "ms_unit": ("ms", "毫秒"),
    "definitions": (
        "Definitions: docs/metrics.md of the liveops repository; every figure is a calendar day of the report time zone.",
        "指标定义见 liveops 代码库的 docs/metrics.md；每个数值按报告时区的自然日计算。",
    ),
    "sessions_col": ("Sessions", "会话"),
    "viewers_col": ("Viewers", "观众"),
    "hours_watched_col": ("Hours watched", "观看小时"),
    "hours_broadcast_col": ("Hours broadcast", "开播小时"),
    "streams_col": ("Streams", "直播数"),
    "follows_col": ("Net follows", "净关注"),
    "suite": ("Suite", "检查集"),
    "expectation": ("Expectation", "检查项"),
    "severity": ("Severity", "级别"),
    "details": ("Details", "详情"),
}


# Chinese names of the contract's enumerations (English shows the code itself): dimension -> code -> name.
VALUE_LABELS_ZH: dict[str, dict[str, str]] = {
    "reason": {
        "spam": "垃圾信息",
        "abuse": "辱骂骚扰",
        "inappropriate_content": "不当内容",
        "copyright": "侵权",
        "other": "其他",
    },
    "source": {
        "home": "首页",
        "search": "搜索",
        "follow": "关注",
        "recommendation": "推荐",
        "campaign": "广告活动",
        "external": "站外",
        "other": "其他",
        "unknown": "未知",
    },
    "device": {"web": "网页", "ios": "iOS", "android": "安卓", "tv": "电视", "other": "其他", "unknown": "未知"},
    "country": {"unknown": "未知"},
    "target": {"wechat": "微信", "weibo": "微博", "link": "链接", "other": "其他"},
    "marketing_channel": {
        "paid_social": "社交广告",
        "search": "搜索广告",
        "push": "推送",
        "email": "邮件",
        "in_app": "应用内",
        "affiliate": "联盟",
        "other": "其他",
    },
    "category": {
        "gaming": "游戏",
        "music": "音乐",
        "just_chatting": "聊天",
        "outdoor": "户外",
        "education": "教育",
        "shopping": "购物",
        "unknown": "未知",
    },
    "severity": {"critical": "关键", "warning": "警告"},
    "quarantine": {
        "invalid_json": "非法 JSON",
        "not_an_object": "不是对象",
        "missing_field": "缺少字段",
        "wrong_type": "类型错误",
        "out_of_range": "超出范围",
        "bad_timestamp": "时间戳错误",
        "unsupported_schema_version": "不支持的版本",
        "unknown_event_type": "未知事件类型",
    },
}


def gap_text(gap: Gap, key: str, lang: Lang) -> str:
    """Why a figure is not compared with a day, as a phrase: ``2026-11-01 is the first day of data (...)``."""
    return text(
        f"gap_{gap.reason}", lang, day=gap.day.isoformat(), figure=label(key, lang), window=gap.window, have=gap.have
    )


def value_label(dimension: str, code: str, lang: Lang) -> str:
    """How a code of an enumeration reads: the code in English, its Chinese name (code) in Chinese."""
    if lang != "zh":
        return code
    name = VALUE_LABELS_ZH.get(dimension, {}).get(code)
    return code if name is None else name


def label(key: str, lang: Lang) -> str:
    """The label of a figure (a headline key, or cvr / cpa / roas / attributed_revenue_cents).

    Raises:
        KeyError: ``key`` has no label (declare it: schemas/marts.py, or COLUMN_LABELS here).
    """
    en, zh = LABELS[key]
    return zh if lang == "zh" else en


def text(key: str, lang: Lang, **values: object) -> str:
    """A fixed phrase, with ``{name}`` placeholders filled from ``values``."""
    en, zh = TEXT[key]
    return (zh if lang == "zh" else en).format(**values)


# ---------------------------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------------------------


def _finite(value: Number | None) -> bool:
    return value is not None and not (isinstance(value, float) and not math.isfinite(value))


def _signed(text_value: str, negative: bool) -> str:
    return (MINUS if negative else "+") + text_value


def integer(value: Number | None) -> str:
    """``1,234`` (rounded); "—" for null."""
    if not _finite(value):
        return NULL
    assert value is not None
    return f"{round(value):,}".replace("-", MINUS)


def decimal(value: Number | None, places: int = 1) -> str:
    """``1,234.5``; "—" for null."""
    if not _finite(value):
        return NULL
    assert value is not None
    return f"{value:,.{places}f}".replace("-", MINUS)


def percent(value: Number | None, places: int = 1) -> str:
    """A share as a percentage: 0.1234 -> ``12.3%``; "—" for null. Small shares keep two significant digits."""
    if not _finite(value):
        return NULL
    assert value is not None
    pct = 100 * value
    if pct != 0 and abs(pct) < 1:
        places = max(places, 2)
    return f"{pct:,.{places}f}%".replace("-", MINUS)


# Symbols of common ISO 4217 codes; a code not listed is written before the amount (``CHF 1,234.56``).
# The yen sign alone means the renminbi here (the default currency); the Japanese yen is ``JP¥``.
CURRENCY_SYMBOLS: dict[str, str] = {
    "CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "JP¥", "HKD": "HK$", "TWD": "NT$", "KRW": "₩",
    "SGD": "S$", "INR": "₹", "AUD": "A$", "CAD": "CA$",
}  # fmt: skip


def currency_symbol(code: str) -> str:
    """How an amount in ``code`` is marked: its symbol (``¥``), else the code itself (``CHF``)."""
    return CURRENCY_SYMBOLS.get(code, code)


def money(value: Number | None, currency: str | None = None) -> str:
    """Currency units with two decimals: ``1,234.56``; with a currency ``¥1,234.56`` / ``−¥3.00`` /
    ``CHF 1,234.56``. Tables mark the currency once in their header and pass none."""
    amount = decimal(value, 2)
    if currency is None or amount == NULL:
        return amount
    symbol = currency_symbol(currency)
    sign, digits = (MINUS, amount[1:]) if amount.startswith(MINUS) else ("", amount)
    return f"{sign}{symbol}{' ' if symbol.isalpha() else ''}{digits}"


def cents(value: Number | None, currency: str | None = None) -> str:
    """Integer cents as currency units: 123456 -> ``1,234.56`` (``¥1,234.56`` with a currency)."""
    return money(None if value is None else value / 100, currency)


def money_unit(code: str, lang: Lang) -> str:
    """The money legend: ``Amounts in CNY (¥).`` / ``金额单位：CNY（¥）。``"""
    return text("money_note", lang, code=code, symbol=currency_symbol(code))


def figure(value: Number | None, kind: Kind, currency: str | None = None) -> str:
    """A figure's value for humans, by its kind (amounts of money marked with ``currency`` when given)."""
    match kind:
        case "count" | "signed" | "ms":
            return integer(value)
        case "hours" | "minutes" | "decimal":
            return decimal(value, 1)
        case "share":
            return percent(value)
        case "score":
            return decimal(value, 1)
        case "rate":
            return decimal(value, 2)
        case "money":
            return money(value, currency)
        case "cents":
            return cents(value, currency)
    return decimal(value)


def change(value: float | None, unit: DeltaUnit, lang: Lang, kind: Kind = "count") -> str:
    """A delta for humans: ``+12.3%``, ``−0.45 pp`` (zh ``个百分点``), ``+3.0 pts`` (zh ``分``), ``+12``."""
    if not _finite(value):
        return NULL
    assert value is not None
    negative = value < 0
    size = abs(value)
    if unit == "pct":
        return _signed(f"{size:,.1f}%", negative)
    if unit == "pp":
        body = f"{size:,.2f}"
        return _signed(body + (" 个百分点" if lang == "zh" else " pp"), negative)
    if unit == "pts":
        return _signed(f"{size:,.1f}" + (" 分" if lang == "zh" else " pts"), negative)
    return _signed(figure(size, kind), negative)


def day_text(day: date, lang: Lang) -> str:
    """``2026-11-08 (Sunday)`` / ``2026年11月8日（星期日）``."""
    if lang == "zh":
        weekday = "一二三四五六日"[day.weekday()]
        return f"{day.year}年{day.month}月{day.day}日（星期{weekday}）"
    return f"{day.isoformat()} ({day.strftime('%A')})"


def clock(instant: datetime) -> str:
    """``20:15`` (the instant's own time zone)."""
    return instant.strftime("%H:%M")


def stamp(instant: datetime) -> str:
    """``2026-11-08 20:15 UTC+08:00`` / ``... UTC``: an instant with its offset."""
    offset = instant.strftime("%z")
    zone = "UTC" if offset in ("+0000", "") else f"UTC{offset[:3]}:{offset[3:]}"
    return f"{instant.strftime('%Y-%m-%d %H:%M')} {zone}"


# Every report section is titled in both languages (its figures come from schemas/marts.py): checked at import.
_UNTITLED = [section for section in SECTIONS if section not in TEXT]
if _UNTITLED:
    raise ValueError(f"reports/i18n.py: no title for report section(s) {', '.join(_UNTITLED)}")
