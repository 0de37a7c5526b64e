"""One day of the pipeline, written once: ingest -> build -> quality -> report -> deliver, as plain functions.

The schedule's flows (flows/deployments.py), ``liveops backfill`` (flows/backfill.py) and ``liveops demo``
all call :func:`run_day`; only how a step is *executed* differs. By default a step is a plain call; the
Prefect flows pass a ``call`` that runs each step as a Prefect task with retries (:func:`flows.deployments.
run_as_task`). This module imports no Prefect.

What happens when a step fails (the rule every caller shares): the failure is recorded in the
:class:`DayResult` (with its exception) and the next steps still run -- a failed ingest, build or quality
check does not hold the report back, because the report says whether its day is complete and verified --
except that ``deliver`` is skipped when ``report`` was asked for and failed (there is nothing to send).
A step that was not asked for is not in the result at all.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal, cast

from config.settings import Settings
from flows.build import run_build
from flows.deliver import deliver_day, record_deliveries
from flows.ingest import ingest_once
from flows.quality import run_quality
from flows.report import run_report
from quality.checks import QualityReport
from reports.delivery import DeliveryAttempt, DeliverySummary
from reports.i18n import LANGS, Lang

log = logging.getLogger(__name__)

Step = Literal["ingest", "build", "quality", "report", "deliver"]
STEPS: tuple[Step, ...] = ("ingest", "build", "quality", "report", "deliver")


def describe_quality(result: QualityReport) -> str:
    """A few words on a quality run's outcome (``flows.quality.run_quality``'s result)."""
    return f"{result.status} ({len(result.failures)} expectation(s) failed, {len(result.critical_failures)} critical)"


def report_langs(langs: Sequence[str] | None) -> list[Lang] | None:
    """``langs`` checked against the report's languages (None: the report's default).

    Raises:
        ValueError: a language the report is not written in.
    """
    if langs is None:
        return None
    unknown = [lang for lang in langs if lang not in LANGS]
    if unknown:
        raise ValueError(f"no report in {', '.join(unknown)}: choose from {', '.join(LANGS)}")
    return [cast(Lang, lang) for lang in langs]


def report_day(settings: Settings, at: datetime) -> date:
    """The day a report run at ``at`` covers: the day before ``at``'s day in the report time zone."""
    return at.astimezone(settings.tz).date() - timedelta(days=1)


# ---------------------------------------------------------------------------------------------------------
# The steps: each takes the day's context and returns (value, a few words on what it did)
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayContext:
    """What the steps of one day need.

    Attributes:
        settings: the pipeline's settings.
        day: the day quality, report and deliver work on (ingest and build need none).
        langs: report languages (None: the report's default).
        report_time: the instant the quality checks judge freshness at (None: now).
        progress: where steps send progress lines.
        warehouse_slot: held while ``deliver`` records its attempts (the schedule's concurrency slot).
    """

    settings: Settings
    day: date | None = None
    langs: Sequence[str] | None = None
    report_time: datetime | None = None
    progress: Callable[[str], None] = log.info
    warehouse_slot: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext

    def the_day(self) -> date:
        if self.day is None:
            raise ValueError("this step needs a day")
        return self.day


StepFunction = Callable[[DayContext], "tuple[Any, str]"]


def ingest_step(ctx: DayContext) -> tuple[Any, str]:
    """Drain the topics into the warehouse (bounded: up to the end offsets seen at start)."""
    totals = ingest_once(ctx.settings, progress=lambda p: ctx.progress("  " + p.line()))
    return totals, totals.line()


def build_step(ctx: DayContext) -> tuple[Any, str]:
    """Incremental build of the marts (the days touched since the last build)."""
    result = run_build(ctx.settings, progress=lambda line: ctx.progress("  " + line))
    return result, result.line()


def quality_step(ctx: DayContext) -> tuple[Any, str]:
    """Quality checks of the day: the :class:`QualityReport` and its verdict in words."""
    result = run_quality(ctx.settings, ctx.the_day(), report_time=ctx.report_time)
    return result, describe_quality(result)


def report_step(ctx: DayContext) -> tuple[Any, str]:
    """Write the report of the day: the paths written."""
    paths = run_report(ctx.settings, ctx.the_day(), report_langs(ctx.langs))
    return paths, "written"


def deliver_step(ctx: DayContext) -> tuple[Any, str]:
    """Deliver the written report over the configured channels and record the attempts (inside the
    context's warehouse slot). Channels that failed after their retries make the step fail."""
    day = ctx.the_day()
    attempts = deliver_day(ctx.settings, day)
    if attempts:
        with ctx.warehouse_slot():
            record_deliveries(ctx.settings.lake, attempts)
    summary = DeliverySummary.of(attempts)
    if summary.failed:
        raise DeliveryFailed(attempts)
    return attempts, summary.line()


class DeliveryFailed(RuntimeError):
    """A channel failed after its retries (the attempts are recorded; the report's files stay)."""

    def __init__(self, attempts: list[DeliveryAttempt]) -> None:
        self.attempts = attempts
        super().__init__(DeliverySummary.of(attempts).line())


STEP_FUNCTIONS: dict[Step, StepFunction] = {
    "ingest": ingest_step,
    "build": build_step,
    "quality": quality_step,
    "report": report_step,
    "deliver": deliver_step,
}


# ---------------------------------------------------------------------------------------------------------
# run_day
# ---------------------------------------------------------------------------------------------------------


@dataclass
class StepOutcome:
    """What one step did: ``done`` with its value and a few words, or ``failed`` with the error, or
    ``skipped`` (with the reason)."""

    step: Step
    status: Literal["done", "failed", "skipped"]
    detail: str
    value: Any = None
    error: BaseException | None = None

    @property
    def failed(self) -> bool:
        return self.status == "failed"


@dataclass
class DayResult:
    """What :func:`run_day` did, step by step (in the order they ran)."""

    day: date | None
    steps: dict[Step, StepOutcome] = field(default_factory=dict)

    @property
    def failed(self) -> list[Step]:
        """The steps that failed."""
        return [name for name, outcome in self.steps.items() if outcome.failed]

    @property
    def ok(self) -> bool:
        return not self.failed

    def value(self, step: Step) -> Any:
        """The value a step returned (None when it did not run or failed)."""
        outcome = self.steps.get(step)
        return outcome.value if outcome is not None else None

    def raise_failure(self, step: Step) -> None:
        """Raise the error ``step`` failed with, unchanged (for callers that stop on that step's failure)."""
        outcome = self.steps.get(step)
        if outcome is not None and outcome.error is not None:
            raise outcome.error

    def line(self) -> str:
        return f"{self.day}: " + "; ".join(f"{o.step} {o.status} ({o.detail})" for o in self.steps.values())


StepCaller = Callable[[Step, StepFunction, DayContext], "tuple[Any, str]"]


def call_directly(name: Step, step: StepFunction, ctx: DayContext) -> tuple[Any, str]:
    """Run a step as a plain call (the default :data:`StepCaller`)."""
    return step(ctx)


def run_day(
    settings: Settings,
    day: date | None,
    steps: Sequence[Step] = STEPS,
    *,
    langs: Sequence[str] | None = None,
    report_time: datetime | None = None,
    progress: Callable[[str], None] = log.info,
    call: StepCaller = call_directly,
    warehouse_slot: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext,
) -> DayResult:
    """Run ``steps`` (in the pipeline's order, whatever order they are given in) for ``day``.

    Never raises for a step's failure: it is recorded in the result (see the module's docstring for which
    steps still run after it). ``call`` decides how a step is executed (plainly, or as a Prefect task).

    Raises:
        ValueError: an unknown step, or a step that needs a day without one.
    """
    unknown = [s for s in steps if s not in STEP_FUNCTIONS]
    if unknown:
        raise ValueError(f"unknown step(s) {', '.join(unknown)}: choose from {', '.join(STEPS)}")
    ctx = DayContext(settings, day, langs, report_time, progress, warehouse_slot)
    if day is None and any(s in steps for s in ("quality", "report", "deliver")):
        raise ValueError("quality, report and deliver need a day")
    result = DayResult(day)
    for name in [s for s in STEPS if s in steps]:
        if name == "deliver" and "report" in result.steps and result.steps["report"].failed:
            result.steps[name] = StepOutcome(name, "skipped", "the report was not written")
            continue
        try:
            value, detail = call(name, STEP_FUNCTIONS[name], ctx)
        except Exception as exc:  # one step's failure is recorded; the caller decides what it means
            log.warning("%s of %s failed: %s", name, day, exc, exc_info=True)
            result.steps[name] = StepOutcome(name, "failed", f"{type(exc).__name__}: {exc}", error=exc)
        else:
            result.steps[name] = StepOutcome(name, "done", detail, value)
    return result
