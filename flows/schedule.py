"""Scheduled operation: the Prefect deployments ``liveops serve`` serves, backfills, and report delivery.

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

The I/O steps are Prefect tasks with retries (all of them are idempotent). The lake admits several
writers, but the hourly run and the report's refresh would only do the same work twice, so their steps
that write the warehouse hold a slot of the global concurrency limit ``liveops-warehouse`` (1 slot, created by
:func:`serve_deployments`); builds are serialised anyway by the lease in the catalog (warehouse/lease.py). Delivery runs after the report's files are written, outside that slot, and its failure
never fails the report.

The deployment flows take no ``Settings`` parameter: a deployment's parameters are stored by the Prefect
server, so the flows load the settings from the environment of the serving process (``LIVEOPS_*``, .env).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import duckdb
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from config.settings import Settings
from flows.build import run_build
from flows.ingest import ingest_once
from flows.quality import run_quality
from flows.report import run_report
from quality.checks import QualityReport
from reports.delivery import (
    DeliveryAttempt,
    DeliveryConfig,
    DeliverySummary,
    ReportFiles,
    SmtpTarget,
    WebhookTarget,
    deliver_report,
)
from reports.i18n import LANGS, Lang
from warehouse.lake import LakeConfig, WarehouseError, open_lake, transaction

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

log = logging.getLogger(__name__)

WAREHOUSE_LIMIT = "liveops-warehouse"
HOURLY_DEPLOYMENT = "hourly-ingest-build/hourly-ingest-build"
REPORT_DEPLOYMENT = "scheduled-report/daily-report"
# Retries of the I/O steps: ingest, build, quality and report are idempotent, so a retry is always safe.
IO_RETRIES = 2
IO_RETRY_DELAYS: list[float] = [30.0, 120.0]
# How long a run waits for the warehouse slot before failing (the other deployment holds it meanwhile).
SLOT_TIMEOUT_S = 2 * 3600.0


# ---------------------------------------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------------------------------------


def describe_quality(result: QualityReport) -> str:
    """A few words on a quality run's outcome (``flows.quality.run_quality``'s result)."""
    return f"{result.status} ({len(result.failures)} expectation(s) failed, {len(result.critical_failures)} critical)"


def report_langs(langs: list[str] | None) -> list[Lang] | None:
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
# Delivery
# ---------------------------------------------------------------------------------------------------------


def delivery_config(settings: Settings) -> DeliveryConfig:
    """The delivery channels the settings configure (none: delivery is off)."""
    webhook = None
    if settings.delivery_webhook_url is not None:
        webhook = WebhookTarget(
            url=settings.delivery_webhook_url,
            format=settings.delivery_webhook_format,
            secret=settings.delivery_webhook_secret,
        )
    smtp = None
    if settings.smtp_host and settings.mail_to:
        smtp = SmtpTarget(
            host=settings.smtp_host,
            port=settings.smtp_port,
            user=settings.smtp_user,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            mail_from=settings.mail_from or f"liveops@{settings.smtp_host}",
            mail_to=tuple(settings.mail_to),
        )
    return DeliveryConfig(
        webhook=webhook,
        smtp=smtp,
        report_base_url=settings.report_base_url,
        attempts=settings.delivery_attempts,
        backoff_s=settings.delivery_backoff.total_seconds(),
    )


def deliver_day(settings: Settings, day: date, sleep: Callable[[float], None] = time.sleep) -> list[DeliveryAttempt]:
    """Deliver the written report of ``day`` over the configured channels (not recorded: see
    :func:`record_deliveries`). A missing report is logged and delivers nothing."""
    config = delivery_config(settings)
    if not config.enabled:
        return []
    files = ReportFiles.in_dir(settings.reports_dir, day)
    try:
        return deliver_report(files, config, sleep=sleep)
    except FileNotFoundError as exc:
        log.warning("nothing delivered for %s: %s", day, exc)
        return []


def record_deliveries(
    lake: LakeConfig, attempts: list[DeliveryAttempt], tries: int = 5, sleep: Callable[[float], None] = time.sleep
) -> bool:
    """Append delivery attempts to the warehouse's ``deliveries`` table.

    The catalog may refuse a commit for a moment (another writer), so this tries a few times. It never raises: a delivery log that cannot be written is logged instead.

    Returns:
        Whether the attempts were recorded.
    """
    if not attempts:
        return True
    columns = ("delivery_id", "day", "channel", "target", "attempt", "success", "error", "attempted_at")
    rows = [[getattr(a, c) for c in columns] for a in attempts]
    for number in range(1, tries + 1):
        try:
            with open_lake(lake) as con, transaction(con):
                con.executemany(
                    f"INSERT INTO deliveries ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows
                )
            return True
        except (duckdb.Error, WarehouseError) as exc:
            if number == tries:
                log.error(
                    "could not record %d delivery attempt(s) in %s: %s (%s)",
                    len(rows), lake.describe(), exc, DeliverySummary.of(attempts).line(),
                )  # fmt: skip
                return False
            sleep(min(30.0, 2.0**number))
    return False


def deliver_and_record(
    settings: Settings, day: date, sleep: Callable[[float], None] = time.sleep
) -> list[DeliveryAttempt]:
    """Deliver the written report of ``day`` and record every attempt in ``deliveries``."""
    attempts = deliver_day(settings, day, sleep)
    record_deliveries(settings.lake, attempts, sleep=sleep)
    return attempts


# ---------------------------------------------------------------------------------------------------------
# Tasks and flows
# ---------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def warehouse_slot() -> Iterator[None]:
    """Hold the one slot of the global concurrency limit ``liveops-warehouse`` (a no-op when the limit does
    not exist, e.g. a flow run without ``liveops serve``)."""
    from prefect.concurrency.sync import concurrency

    with concurrency(WAREHOUSE_LIMIT, occupy=1, timeout_seconds=SLOT_TIMEOUT_S, strict=False):
        yield


@task(name="ingest", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAYS, cache_policy=NO_CACHE)
def ingest_task(settings: Settings) -> dict[str, int]:
    """Drain the topics into the warehouse (bounded: up to the end offsets seen at start)."""
    logger = get_run_logger()
    totals = ingest_once(settings, progress=lambda p: logger.info(p.line()))
    logger.info("ingest done: %s", totals.line())
    return {
        "batches": totals.batches, "messages": totals.messages, "loaded": totals.loaded,
        "duplicates": totals.duplicates, "quarantined": totals.quarantined,
    }  # fmt: skip


@task(name="build", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAYS, cache_policy=NO_CACHE)
def build_task(settings: Settings) -> dict[str, Any]:
    """Incremental build of the marts (the days touched since the last build)."""
    logger = get_run_logger()
    result = run_build(settings, progress=logger.info)
    logger.info(result.line())
    return {"days": [d.isoformat() for d in result.days], "complete_days": result.complete_days}


@task(name="quality", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAYS, cache_policy=NO_CACHE)
def quality_task(settings: Settings, day: date) -> str:
    """Quality checks of ``day``: the day's verdict (``verified`` or ``unverified``)."""
    result = run_quality(settings, day)
    get_run_logger().info("quality of %s: %s", day, describe_quality(result))
    return result.status


@task(name="report", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAYS, cache_policy=NO_CACHE)
def report_task(settings: Settings, day: date, langs: list[str] | None) -> bool:
    """Write the report of ``day``."""
    run_report(settings, day, report_langs(langs))
    get_run_logger().info("report of %s written to %s", day, ReportFiles.in_dir(settings.reports_dir, day).directory)
    return True


@task(name="deliver", cache_policy=NO_CACHE)
def deliver_task(settings: Settings, day: date) -> list[DeliveryAttempt]:
    """Deliver the written report (bounded retries with backoff inside; never fails)."""
    try:
        attempts = deliver_day(settings, day)
    except Exception:  # delivery must never fail the report; its own failures are already caught inside
        get_run_logger().exception("delivery of %s broke off", day)
        return []
    get_run_logger().info("delivery of %s: %s", day, DeliverySummary.of(attempts).line())
    return attempts


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


@flow(name="hourly-ingest-build", flow_run_name=_hourly_run_name, log_prints=False)
def hourly_ingest_build() -> dict[str, Any]:
    """Ingest what is new in Kafka, then rebuild the marts of the days it touched."""
    settings = Settings()
    with warehouse_slot():
        ingested = ingest_task(settings)
        built = build_task(settings)
    return {"ingest": ingested, "build": built}


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
    problems: list[str] = []
    with warehouse_slot():
        steps = [ingest_task, build_task] if refresh else []
        for step in steps:
            if step(settings, return_state=True).is_failed():
                problems.append(f"{step.name} failed")
        quality = quality_task(settings, day, return_state=True)
        if quality.is_failed():
            problems.append("quality failed")
        written = report_task(settings, day, langs)
    attempts: list[DeliveryAttempt] = []
    if written and deliver:
        attempts = deliver_task(settings, day)
        if attempts:
            with warehouse_slot():
                record_deliveries(settings.lake, attempts)
        failed = DeliverySummary.of(attempts).failed
        if failed:
            # The report's files are written and stay; a failed delivery is reported, not fatal.
            logger.warning("report of %s written but not delivered via %s", day, ", ".join(failed))
    if problems:
        raise RuntimeError(f"report of {day} written, but {', '.join(problems)} (see the task runs' logs)")
    return {
        "day": day.isoformat(), "quality": quality.result(), "report": written,
        "delivered": DeliverySummary.of(attempts).line() if attempts else None,
    }  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# Deployments and serving
# ---------------------------------------------------------------------------------------------------------


def deployments(settings: Settings) -> list[RunnerDeployment]:
    """The three deployments with their schedules and concurrency limits (see the module's docstring)."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.schedules import Cron, Interval
    from prefect.types.entrypoint import EntrypointType

    at = settings.report_time
    hourly = hourly_ingest_build.to_deployment(
        name="hourly-ingest-build",
        schedule=Interval(settings.ingest_interval, anchor_date=datetime(2020, 1, 1, tzinfo=UTC), timezone="UTC"),
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW),
        description="Ingest what is new in Kafka, then an incremental build of the marts.",
        tags=["liveops"],
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    report = scheduled_report.to_deployment(
        name="daily-report",
        schedule=Cron(f"{at.minute} {at.hour} * * *", timezone=settings.report_timezone),
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE),
        description="The report of the day before (report time zone), then its delivery.",
        tags=["liveops"],
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    maintenance = lake_maintenance.to_deployment(
        name="lake-maintenance",
        schedule=Cron(f"{at.minute} {(at.hour + 2) % 24} * * *", timezone=settings.report_timezone),
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW),
        description="Compaction, snapshot expiry and clean-up of the lake's files.",
        tags=["liveops"],
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    # `to_deployment` is sync-compatible: called from sync code it returns the deployment itself.
    return [cast("RunnerDeployment", d) for d in (hourly, report, maintenance)]


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


@dataclass
class LocalPrefectServer:
    """A ``prefect server start`` on 127.0.0.1 for as long as ``liveops serve`` runs.

    Prefect's default local mode starts a temporary server that runs no scheduler, so schedules would never
    fire; ``liveops serve`` starts this one instead when ``PREFECT_API_URL`` is not set. If a Prefect
    server already answers on the port, it is used and left running.
    """

    home: Path
    port: int = 4200
    startup_timeout_s: float = 180.0
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def healthy(self) -> bool:
        from prefect.client.orchestration import SyncPrefectClient

        with SyncPrefectClient(self.api_url) as client:
            return client.api_healthcheck() is None

    def start(self, progress: Callable[[str], None] = log.info) -> bool:
        """Start the server unless one answers already; wait until it answers. Returns whether it started."""
        if self.healthy():
            progress(f"Using the Prefect server already answering at {self.api_url}.")
            return False
        self.home.mkdir(parents=True, exist_ok=True)
        log_file = self.home / "server.log"
        env = os.environ | {
            "PREFECT_HOME": str(self.home.resolve()),
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        env.pop("PREFECT_API_URL", None)
        progress(f"Starting a Prefect server at http://127.0.0.1:{self.port} (log: {log_file}) ...")
        with log_file.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-20:])
                raise RuntimeError(f"the Prefect server exited with code {self.process.returncode}:\n{tail}")
            if self.healthy():
                return True
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the Prefect server did not answer within {self.startup_timeout_s:.0f} s (log: {log_file})")

    def stop(self) -> None:
        """Stop the server this object started (by its PID); harmless otherwise."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


# ---------------------------------------------------------------------------------------------------------
# Backfill
# ---------------------------------------------------------------------------------------------------------


@dataclass
class BackfillDay:
    """What a backfill did for one day."""

    day: date
    built: bool = False
    complete: bool | None = None
    quality: str = "skipped"
    report: str = "skipped"
    delivery: str = "off"

    @property
    def ok(self) -> bool:
        return not any(s.startswith("FAILED") for s in (self.quality, self.report, self.delivery))

    def line(self) -> str:
        built = "no data" if not self.built else ("built, complete" if self.complete else "built, incomplete")
        return f"{self.day}: {built}; quality {self.quality}; report {self.report}; delivery {self.delivery}"


def _days(from_day: date, to_day: date) -> list[date]:
    return [from_day + timedelta(days=n) for n in range((to_day - from_day).days + 1)]


def run_backfill(
    settings: Settings,
    from_day: date,
    to_day: date,
    langs: list[str] | None = None,
    deliver: bool = False,
    progress: Callable[[str], None] = log.info,
) -> list[BackfillDay]:
    """Rebuild the marts of ``[from_day, to_day]``, then per day: quality checks and the report, and
    delivery when asked. Idempotent: a rerun leaves the same marts and report files.

    The build covers the whole range at once (its chunks share their look-back reads); a day's failing
    quality check or report is reported and the next day goes on.

    Raises:
        ValueError: ``from_day`` is after ``to_day``.
    """
    if from_day > to_day:
        raise ValueError(f"--from {from_day} is after --to {to_day}")
    days = _days(from_day, to_day)
    progress(f"Backfill of {len(days)} day(s) {from_day}..{to_day}: building the marts ...")
    result = run_build(settings, from_day, to_day, progress=lambda line: progress("  " + line))
    progress("  " + result.line())
    built = set(result.days)
    complete = _complete_days(settings, result.days)
    outcome: list[BackfillDay] = []
    for number, day in enumerate(days, 1):
        entry = BackfillDay(day, built=day in built, complete=complete.get(day))
        if entry.built:
            entry.quality = _attempt(functools.partial(run_quality, settings, day), describe_quality)
            report = functools.partial(run_report, settings, day, report_langs(langs))
            entry.report = _attempt(report, lambda _: "written")
            if deliver and entry.report == "written":
                attempts = deliver_and_record(settings, day)
                summary = DeliverySummary.of(attempts)
                entry.delivery = summary.line() if not summary.failed else "FAILED: " + summary.line()
        outcome.append(entry)
        progress(f"[{number}/{len(days)}] {entry.line()}")
    return outcome


def _attempt(step: Callable[[], Any], describe: Callable[[Any], str]) -> str:
    try:
        return describe(step())
    except Exception as exc:  # one day's failure must not stop the others; it is reported
        log.exception("backfill step failed")
        return f"FAILED ({type(exc).__name__}: {exc})"


def _complete_days(settings: Settings, days: list[date]) -> dict[date, bool]:
    if not days:
        return {}
    with open_lake(settings.lake, read_only=True) as con:
        rows = con.execute(
            "SELECT day, complete FROM build_days WHERE day BETWEEN ? AND ?", [min(days), max(days)]
        ).fetchall()
    return {d: bool(c) for d, c in rows}
