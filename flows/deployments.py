"""Scheduled operation: the Prefect deployments ``liveops serve`` serves (thin flows around flows/pipeline.py).

Three deployments (docs/operations.md):

- ``hourly-ingest-build/hourly-ingest-build``: ingest then an incremental build, every
  ``LIVEOPS_INGEST_INTERVAL`` (default one hour). A run due while the previous one still runs is cancelled
  (deployment concurrency limit 1, ``CANCEL_NEW``): the next run catches up anyway.
- ``scheduled-report/daily-report``: at ``LIVEOPS_REPORT_TIME`` (default 02:00) in the report time zone,
  the report of the day before: ingest, incremental build, quality checks, the report's files, then
  delivery (webhook and/or e-mail). Runs queue behind each other (limit 1, ``ENQUEUE``): no report is lost.
- ``lake-maintenance/lake-maintenance``: daily, two hours after the report: compaction of small files,
  expiry of snapshots older than ``LIVEOPS_LAKE_SNAPSHOT_RETENTION``, deletion of unused files.

Beside them, ``serve_deployments`` registers ``ingest-member/ingest-member`` on a Prefect process work pool
(``flows/members.py``): Prefect workers anywhere run its flow runs, each a member of the ingest consumer group.

The flows run :func:`flows.pipeline.run_day`; each of its steps runs as a Prefect task (:func:`run_as_task`), the I/O
steps with retries (all of them are idempotent). The lake admits several
writers, but the hourly run and the report's refresh would only do the same work twice, so their steps
that write the warehouse hold a slot of the global concurrency limit ``liveops-warehouse`` (1 slot, created by
:func:`serve_deployments`); builds are serialised anyway by the lease in the catalog (warehouse/lease.py). Delivery runs after the report's files are written, outside that slot, and its failure
never fails the report.

The deployment flows take no ``Settings`` parameter: a deployment's parameters are stored by the Prefect
server, so the flows load the settings from the environment of the serving process (``LIVEOPS_*``, .env).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, cast

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from config.settings import Settings
from flows.pipeline import DayContext, DayResult, Step, StepFunction, report_day, run_day
from reports.delivery import DeliveryAttempt, DeliverySummary
from warehouse.lake import open_lake

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

WAREHOUSE_LIMIT = "liveops-warehouse"
HOURLY_DEPLOYMENT = "hourly-ingest-build/hourly-ingest-build"
REPORT_DEPLOYMENT = "scheduled-report/daily-report"
# Retries of the I/O steps: ingest, build, quality and report are idempotent, so a retry is always safe.
# Delivery retries inside (bounded, with backoff) and is not retried as a task: a retry would send again.
IO_RETRIES = 2
IO_RETRY_DELAYS: list[float] = [30.0, 120.0]
# How long a run waits for the warehouse slot before failing (the other deployment holds it meanwhile).
SLOT_TIMEOUT_S = 2 * 3600.0


@contextlib.contextmanager
def warehouse_slot() -> Iterator[None]:
    """Hold the one slot of the global concurrency limit ``liveops-warehouse`` (a no-op when the limit does
    not exist, e.g. a flow run without ``liveops serve``)."""
    from prefect.concurrency.sync import concurrency

    with concurrency(WAREHOUSE_LIMIT, occupy=1, timeout_seconds=SLOT_TIMEOUT_S, strict=False):
        yield


def _step_in_task(step: StepFunction, ctx: DayContext) -> tuple[Any, str]:
    """Body of every step's task: the plain step, its progress and outcome to the task run's log."""
    logger = get_run_logger()
    value, detail = step(DayContext(ctx.settings, ctx.day, ctx.langs, ctx.report_time, logger.info, ctx.warehouse_slot))
    logger.info("%s of %s: %s", step.__name__.removesuffix("_step"), ctx.day or "new events", detail)
    return value, detail


def run_as_task(name: Step, step: StepFunction, ctx: DayContext) -> tuple[Any, str]:
    """Run one step of :func:`flows.pipeline.run_day` as the Prefect task ``name`` (the :data:`StepCaller`
    of the flows): retried when it is an I/O step, never cached."""
    retries = 0 if name == "deliver" else IO_RETRIES
    runner = task(name=name, retries=retries, retry_delay_seconds=IO_RETRY_DELAYS, cache_policy=NO_CACHE)(_step_in_task)
    return runner(step, ctx)


def _scheduled_at() -> datetime:
    from prefect.runtime import flow_run

    start = flow_run.scheduled_start_time
    return start.astimezone(UTC) if isinstance(start, datetime) else datetime.now(UTC)


def _hourly_run_name() -> str:
    return "hourly-ingest-build-" + _scheduled_at().strftime("%Y%m%dT%H%MZ")


def _report_run_name() -> str:
    from prefect.runtime import flow_run

    day = flow_run.parameters.get("day")
    return f"daily-report-{day or report_day(Settings(), _scheduled_at())}"


def _raise_if_failed(result: DayResult, what: str) -> None:
    if result.failed:
        raise RuntimeError(f"{what}: {', '.join(result.failed)} failed (see the task runs' logs)")


@flow(name="hourly-ingest-build", flow_run_name=_hourly_run_name, log_prints=False)
def hourly_ingest_build() -> dict[str, Any]:
    """Ingest what is new in Kafka, then rebuild the marts of the days it touched."""
    settings = Settings()
    with warehouse_slot():
        result = run_day(settings, None, ("ingest", "build"), call=run_as_task)
    _raise_if_failed(result, "hourly ingest and build")
    return {"ingest": result.steps["ingest"].detail, "build": result.steps["build"].detail}


@flow(name="lake-maintenance", log_prints=False)
def lake_maintenance() -> dict[str, Any]:
    """Compact the lake's small files, expire old snapshots, delete files nothing refers to any more."""
    from warehouse.maintenance import maintain

    settings = Settings()
    with open_lake(settings.lake) as con:
        result = maintain(con, settings.lake_snapshot_retention)
    get_run_logger().info(result.line())
    return {"files_before": result.files_before, "files_after": result.files_after,
            "snapshots_expired": result.snapshots_expired, "files_deleted": result.files_deleted}  # fmt: skip


@flow(name="scheduled-report", flow_run_name=_report_run_name, log_prints=False)
def scheduled_report(
    day: date | None = None, langs: list[str] | None = None, refresh: bool = True, deliver: bool = True
) -> dict[str, Any]:
    """The daily report: refresh the warehouse, check quality, write the report's files, deliver them.

    A failed refresh or quality check does not hold the report back (ops staff get the report of what the
    warehouse has, which says whether the day is complete and verified); the run then ends failed, after
    the report. A failed delivery is recorded and logged and does not fail the run.

    Args:
        day: the day to report (default: the day before the scheduled time, in the report time zone).
        langs: languages of the report (default: the report's own default).
        refresh: ingest and build first, so the report sees everything in Kafka at run time.
        deliver: send the report over the configured channels once its files are written.
    """
    logger = get_run_logger()
    settings = Settings()
    day = day or report_day(settings, _scheduled_at())
    refreshing: list[Step] = ["ingest", "build"] if refresh else []
    steps: list[Step] = [*refreshing, "quality", "report"]
    with warehouse_slot():
        result = run_day(settings, day, steps, langs=langs, call=run_as_task)
    result.raise_failure("report")  # no report written: the run fails with the report's own error
    attempts: list[DeliveryAttempt] = []
    if deliver:
        delivered = run_day(settings, day, ["deliver"], call=run_as_task, warehouse_slot=warehouse_slot)
        outcome = delivered.steps["deliver"]
        attempts = outcome.value or getattr(outcome.error, "attempts", [])
        if outcome.failed:
            # The report's files are written and stay; a failed delivery is reported, not fatal.
            failed = DeliverySummary.of(attempts).failed or ["delivery"]
            logger.warning("report of %s written but not delivered via %s", day, ", ".join(failed))
    problems = [f"{step} failed" for step in result.failed]
    if problems:
        raise RuntimeError(f"report of {day} written, but {', '.join(problems)} (see the task runs' logs)")
    quality = result.value("quality")
    return {
        "day": day.isoformat(), "quality": quality.status if quality is not None else None, "report": True,
        "delivered": DeliverySummary.of(attempts).line() if attempts else None,
    }  # fmt: skip


def deployments(settings: Settings) -> list[RunnerDeployment]:
    """The three deployments with their schedules and concurrency limits (see the module's docstring)."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.schedules import Cron, Interval
    from prefect.types.entrypoint import EntrypointType

    def deployment(flow: Any, name: str, schedule: Any, on_collision: Any, description: str) -> RunnerDeployment:
        """One of liveops' deployments: one run at a time (``on_collision`` says what a second one does)."""
        limit = ConcurrencyLimitConfig(limit=1, collision_strategy=on_collision)
        made = flow.to_deployment(
            name=name, schedule=schedule, concurrency_limit=limit, description=description, tags=["liveops"],
            entrypoint_type=EntrypointType.MODULE_PATH,
        )  # fmt: skip
        # `to_deployment` is sync-compatible: called from sync code it returns the deployment itself.
        return cast("RunnerDeployment", made)

    at = settings.report_time
    return [
        deployment(
            hourly_ingest_build, "hourly-ingest-build",
            Interval(settings.ingest_interval, anchor_date=datetime(2020, 1, 1, tzinfo=UTC), timezone="UTC"),
            ConcurrencyLimitStrategy.CANCEL_NEW, "Ingest what is new in Kafka, then an incremental build of the marts.",
        ),
        deployment(
            scheduled_report, "daily-report", Cron(f"{at.minute} {at.hour} * * *", timezone=settings.report_timezone),
            ConcurrencyLimitStrategy.ENQUEUE, "The report of the day before (report time zone), then its delivery.",
        ),
        deployment(
            lake_maintenance, "lake-maintenance",
            Cron(f"{at.minute} {(at.hour + 2) % 24} * * *", timezone=settings.report_timezone),
            ConcurrencyLimitStrategy.CANCEL_NEW, "Compaction, snapshot expiry and clean-up of the lake's files.",
        ),
    ]  # fmt: skip


def ensure_warehouse_limit() -> None:
    """Create (or reset to 1 slot) the global concurrency limit the flows' warehouse steps hold."""
    from prefect import get_client

    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(WAREHOUSE_LIMIT, 1)


def serve_deployments(settings: Settings, limit: int | None = None) -> None:
    """Serve the deployments until SIGINT/SIGTERM (blocking); their runs execute in subprocesses of this one.

    Args:
        settings: the schedules' settings (the runs load theirs from the same environment).
        limit: at most this many flow runs at once (None: no limit beyond the deployments' own).
    """
    from prefect import serve

    from flows.members import register_ingest_deployment

    ensure_warehouse_limit()
    register_ingest_deployment(settings.ingest_pool)
    # Without this, stopping `serve` would pause the schedules on the server.
    serve(*deployments(settings), pause_on_shutdown=False, limit=limit)
