"""The report's narrative: seven sentences written from the figures by templates, in English and Chinese.

No model and no network: each sentence is a template filled from the :class:`~reports.model.Report`.

1. The day in one sentence: DAU, viewers, hours watched, sessions, the peak and when.
2. What moved most against the previous day: the figure with the biggest relative change
   (|value − previous| / |previous|), then the next two.
3. The same weekday last week: DAU and hours watched.
4. Anomalies: every flagged figure with its value, median and direction (or why none could be flagged).
5. What needs attention: an unverified, incomplete or restated day; quality of experience or complaints
   10 % or more worse than the previous day; satisfaction down; anomalies in the bad direction.
6. Campaigns: spend, funnel, CPA, organic sign-ups.
7. Data: late events of the day, quarantined and duplicate messages, the quality gate.
"""

# Chinese text uses full-width punctuation on purpose.
# ruff: noqa: RUF001, RUF002

from __future__ import annotations

from reports.i18n import Lang, change, figure, gap_text, integer, label, money, percent, text, value_label
from reports.model import Figure, Report

# A figure "worsened" enough to be mentioned when it moved this much in the bad direction (relative).
ATTENTION_CHANGE = 0.10
# Figures whose worsening needs attention (QoE, complaints, satisfaction, audience).
WATCHED = ("rebuffering_ratio", "error_exit_rate", "startup_p95_ms", "reports", "report_rate", "csat", "nps")


def _join(items: list[str], lang: Lang) -> str:
    if lang == "zh":
        return "、".join(items)
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _name(key: str, lang: Lang) -> str:
    """A figure's label inside a sentence: English labels lose their capital unless they are acronyms."""
    name = label(key, lang)
    first = name.split(" ")[0]
    if lang == "zh" or first.isupper():
        return name
    return name[0].lower() + name[1:]


def _count(n: int, noun: str) -> str:
    """``1 sign-up``, ``2 sign-ups`` (English)."""
    return f"{integer(n)} {noun}{'' if n == 1 else 's'}"


def _value(f: Figure, currency: str) -> str:
    return figure(f.value, f.kind, currency)


def _overview(r: Report, lang: Lang) -> str:
    v = {
        "dau": integer(r.value("dau")),
        "uv": integer(r.value("unique_viewers")),
        "hours": figure(r.value("hours_watched"), "hours"),
        "sessions": integer(r.value("sessions")),
        "pcu": integer(r.value("pcu")),
        "at": f"{r.pcu_at.strftime('%H:%M')} {r.timezone}",
    }
    if lang == "zh":
        return (
            f"当日活跃用户 {v['dau']} 人，{v['uv']} 名观众在 {v['sessions']} 个会话中共观看 {v['hours']} 小时，"
            f"同时在线峰值 {v['pcu']} 人（{v['at']}）。"
        )
    return (
        f"{v['dau']} users were active, and {v['uv']} viewers watched {v['hours']} hours over {v['sessions']} "
        f"sessions; concurrency peaked at {v['pcu']} at {v['at']}."
    )


def _mover_text(f: Figure, lang: Lang, detail: bool, currency: str) -> str:
    moved = change(f.vs_previous, f.delta_unit, lang, f.kind)
    if detail:
        before, after = figure(f.previous, f.kind, currency), _value(f, currency)
        return (
            f"{label(f.key, lang)}（{moved}，{before} → {after}）"
            if lang == "zh"
            else (f"{_name(f.key, lang)} ({moved}, {before} → {after})")
        )
    return f"{label(f.key, lang)}（{moved}）" if lang == "zh" else f"{_name(f.key, lang)} ({moved})"


def _movers(r: Report, lang: Lang) -> str:
    movers = r.movers()
    if not movers:
        gap = r.figures["dau"].gap_previous
        if gap is not None:
            why = gap_text(gap, "dau", lang)
            return f"不与前一日比较：{why}。" if lang == "zh" else f"No comparison with the previous day: {why}."
        if lang == "zh":
            return "没有前一日的数据可供比较。"
        return "There is no previous day to compare with."
    first = _mover_text(movers[0], lang, detail=True, currency=r.currency)
    rest = [_mover_text(f, lang, detail=False, currency=r.currency) for f in movers[1:3]]
    if lang == "zh":
        tail = f"，其次是{_join(rest, lang)}" if rest else ""
        return f"与前一日相比变化最大的是{first}{tail}。"
    tail = f", followed by {_join(rest, lang)}" if rest else ""
    return f"The biggest move against the previous day was {first}{tail}."


def _week(r: Report, lang: Lang) -> str:
    dau, hours = r.figures["dau"], r.figures["hours_watched"]
    if dau.gap_last_week is not None:
        why = gap_text(dau.gap_last_week, "dau", lang)
        return f"不与上周同日比较：{why}。" if lang == "zh" else f"No comparison with the same day last week: {why}."
    if dau.last_week is None:
        return "没有上周同日的数据可供比较。" if lang == "zh" else "There is no data for the same day last week."
    d = change(dau.vs_last_week, dau.delta_unit, lang)
    h = change(hours.vs_last_week, hours.delta_unit, lang)
    if lang == "zh":
        return f"与上周同日相比，{label('dau', lang)}变化 {d}，观看时长变化 {h}。"
    return f"Against the same day last week, DAU is {d} and hours watched {h}."


def _anomalies(r: Report, lang: Lang) -> str:
    if r.anomaly_days < 7:
        return text("too_few_days", lang, n=r.anomaly_days)
    if not r.anomalies:
        if lang == "zh":
            return f"与此前 {r.anomaly_days} 个有数据的日子相比，没有指标异常。"
        return f"No figure is anomalous against the previous {r.anomaly_days} days with data."
    parts = []
    for a in r.anomalies:
        f = r.figures[a.metric]
        value, median = figure(a.value, f.kind, r.currency), figure(a.median, f.kind, r.currency)
        if lang == "zh":
            parts.append(
                f"{label(a.metric, lang)}为 {value}，{'高于' if a.direction == 'up' else '低于'} {a.days} 天中位数 {median}"
            )
        else:
            parts.append(
                f"{_name(a.metric, lang)} at {value}, {'above' if a.direction == 'up' else 'below'} the median of "
                f"{median} over {a.days} days"
            )
    if lang == "zh":
        return f"有 {len(parts)} 项指标相对此前有数据日子的中位数异常：" + "；".join(parts) + "。"
    noun = "figure is" if len(parts) == 1 else "figures are"
    return f"{len(parts)} {noun} anomalous against the median of the previous days with data: " + "; ".join(parts) + "."


def attention_items(r: Report, lang: Lang) -> list[str]:
    """What needs attention on D, most serious first (empty: nothing)."""
    items: list[str] = []
    gate = r.data_quality.gate
    if r.unverified:
        items.append(
            f"当日数据未验证（{gate.critical} 项关键检查未通过）"
            if lang == "zh"
            else f"the day is UNVERIFIED ({gate.critical} critical data-quality checks failed)"
        )
    if not r.complete:
        items.append(
            "当日数据尚不完整，指标仍会变化"
            if lang == "zh"
            else "the day is incomplete, so its figures will still change"
        )
    if r.restatements:
        items.append("本日数据已被重述" if lang == "zh" else "the day's figures were restated after an earlier report")
    mentioned = set()
    for key in WATCHED:
        f = r.figures[key]
        if f.worsened and (f.relative_change or 0.0) >= ATTENTION_CHANGE:
            mentioned.add(key)
            size = abs(f.vs_previous) if f.vs_previous is not None else None
            moved = change(size, f.delta_unit, lang, f.kind).lstrip("+")
            reason = ""
            if key == "reports" and r.reports_by_reason:
                top = value_label("reason", r.reports_by_reason[0][0], lang)
                reason = f"，主要原因：{top}" if lang == "zh" else f", mostly {top}"
            if lang == "zh":
                items.append(
                    f"{label(key, lang)}较前一日{'上升' if f.better == 'down' else '下降'}（{moved}，现为 {_value(f, r.currency)}{reason}）"
                )
            else:
                items.append(
                    f"{_name(key, lang)} {'up' if f.better == 'down' else 'down'} {moved} to {_value(f, r.currency)}{reason}"
                )
    for a in r.anomalies:
        f = r.figures[a.metric]
        bad = (f.better == "up" and a.direction == "down") or (f.better == "down" and a.direction == "up")
        if bad and a.metric not in mentioned:
            items.append(
                f"{label(a.metric, lang)}异常{'偏高' if a.direction == 'up' else '偏低'}"
                if lang == "zh"
                else f"{_name(a.metric, lang)} is anomalously {'high' if a.direction == 'up' else 'low'}"
            )
    return items


def _attention(r: Report, lang: Lang) -> str:
    items = attention_items(r, lang)
    if lang == "zh":
        return "需要关注：" + "；".join(items) + "。" if items else "暂无需要特别关注的问题：播放体验与投诉持平或改善。"
    if not items:
        return "Nothing needs attention: quality of experience and complaints are steady or better."
    return "Needs attention: " + "; ".join(items) + "."


def _campaigns(r: Report, lang: Lang) -> str:
    t = r.campaign_totals
    if t.impressions == 0 and t.clicks == 0 and t.spend == 0 and t.attributed_signups == 0:
        if lang == "zh":
            return f"当日没有投放活动，自然注册 {integer(t.organic_signups)} 人。"
        return f"No campaign delivered on this day; {_count(t.organic_signups, 'organic sign-up')}."
    v = {
        "spend": money(t.spend, r.currency),
        "imp": integer(t.impressions),
        "clicks": integer(t.clicks),
        "ctr": percent(t.ctr, 2),
        "signups": integer(t.attributed_signups),
        "cpa": money(t.cpa, r.currency),
        "organic": integer(t.organic_signups),
        "roas": figure(t.roas, "rate"),
    }
    if lang == "zh":
        return (
            f"投放花费 {v['spend']}，获得 {v['imp']} 次曝光、{v['clicks']} 次点击（点击率 {v['ctr']}），"
            f"带来 {v['signups']} 个归因注册（获客成本 {v['cpa']}，ROAS {v['roas']}），另有自然注册 {v['organic']} 个。"
        )
    return (
        f"Campaigns spent {v['spend']} for {v['imp']} impressions and {v['clicks']} clicks (CTR {v['ctr']}), "
        f"bringing {_count(t.attributed_signups, 'attributed sign-up')} (CPA {v['cpa']}, ROAS {v['roas']}) beside "
        f"{_count(t.organic_signups, 'organic one')}."
    )


def _data(r: Report, lang: Lang) -> str:
    dq = r.data_quality
    gate = dq.gate
    if not gate.ran:
        quality = text("quality_not_run", lang)
    elif gate.failed == 0:
        quality = text("quality_passed", lang)
    elif lang == "zh":
        quality = f"{gate.failed} 项数据质量检查未通过（其中关键 {gate.critical} 项）"
    else:
        quality = f"{gate.failed} data-quality expectations failed ({gate.critical} critical)"
    v = {
        "late": integer(dq.late_events),
        "events": integer(dq.events),
        "q": integer(dq.quarantined),
        "dup": integer(dq.duplicates_dropped),
        "ingested": integer(dq.ingested),
    }
    if lang == "zh":
        return (
            f"数据方面：当日 {v['events']} 个有效事件中有 {v['late']} 个迟到；累计接入 {v['ingested']} 条消息，"
            f"隔离 {v['q']} 条，去重丢弃 {v['dup']} 条；{quality}。"
        )
    return (
        f"Data: {v['late']} of the day's {v['events']} valid events arrived late; of {v['ingested']} messages "
        f"ingested so far, {v['q']} were quarantined and {v['dup']} duplicates dropped; {quality}."
    )


def _plan(r: Report, lang: Lang) -> list[str]:
    """The plan sentence (none without a plan): names the off-track targets."""
    if r.plan is None or not r.plan.entries:
        return []
    off = [f"{_name(e.metric, lang)} ({e.scope}, {e.period})" for e in r.plan.off_track]
    if not off:
        return [text("plan_sentence_ok", lang, version=r.plan.version)]
    return [text("plan_sentence", lang, items=_join(off, lang))]


def narrative(report: Report, lang: Lang) -> list[str]:
    """The narrative of the report, one string per sentence (seven, plus the plan's when a plan is loaded)."""
    return [
        *_plan(report, lang),
        _overview(report, lang),
        _movers(report, lang),
        _week(report, lang),
        _anomalies(report, lang),
        _attention(report, lang),
        _campaigns(report, lang),
        _data(report, lang),
    ]
