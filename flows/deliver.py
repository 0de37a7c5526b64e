"""Delivery of a written report: the channels the settings configure, sending, and the record of attempts.

Used by every path that delivers (the daily flow, ``liveops deliver``, ``liveops backfill --deliver``,
through :func:`flows.pipeline.run_day`'s ``deliver`` step). The record is written by
``warehouse.records`` (SQL lives in warehouse/).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date

import duckdb

from config.settings import Settings
from reports.delivery import (
    DeliveryAttempt,
    DeliveryConfig,
    DeliverySummary,
    ReportFiles,
    SmtpTarget,
    WebhookTarget,
    deliver_report,
)
from warehouse.lake import LakeConfig, WarehouseError, open_lake, transaction
from warehouse.records import insert_deliveries

log = logging.getLogger(__name__)


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

    The catalog may refuse a commit for a moment (another writer), so this tries a few times. It never
    raises: a delivery log that cannot be written is logged instead.

    Returns:
        Whether the attempts were recorded.
    """
    if not attempts:
        return True
    for number in range(1, tries + 1):
        try:
            with open_lake(lake) as con, transaction(con):
                insert_deliveries(con, attempts)
            return True
        except (duckdb.Error, WarehouseError) as exc:
            if number == tries:
                log.error(
                    "could not record %d delivery attempt(s) in %s: %s (%s)",
                    len(attempts), lake.describe(), exc, DeliverySummary.of(attempts).line(),
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
