"""``liveops serve``, ``backfill``, ``deliver`` and ``status``: operating the pipeline (docs/operations.md).

Registered by the main app (``liveops.cli``). Prefect, Kafka and DuckDB are imported inside the commands,
so ``liveops --help`` stays fast.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from liveops.console import day_option, fail, load_settings, say

if TYPE_CHECKING:
    from config.settings import Settings

REPORT_FILES = ("report.html", "summary.md", "summary.json")


# ---------------------------------------------------------------------------------------------------------
# liveops serve
# ---------------------------------------------------------------------------------------------------------


def serve(
    limit: Annotated[
        int | None, typer.Option(help="at most this many flow runs at the same time (default: no limit)")
    ] = None,
    start_server: Annotated[
        bool,
        typer.Option(
            "--start-server/--no-start-server",
            help="when PREFECT_API_URL is unset, start a Prefect server on 127.0.0.1 for as long as serve runs "
            "(Prefect's temporary local server runs no scheduler)",
        ),
    ] = True,
    port: Annotated[int, typer.Option(help="port of the Prefect server serve starts")] = 4200,
    prefect_home: Annotated[
        Path, typer.Option(help="PREFECT_HOME of the Prefect server serve starts (its database and log)")
    ] = Path(".liveops/prefect"),
) -> None:
    """Serve the scheduled deployments until Ctrl-C: hourly ingest + build, and the daily report.

    `hourly-ingest-build` runs every LIVEOPS_INGEST_INTERVAL (default 1 h); `daily-report` runs at
    LIVEOPS_REPORT_TIME (default 02:00) in LIVEOPS_REPORT_TIMEZONE and reports the day before, then delivers
    it (LIVEOPS_DELIVERY_*, LIVEOPS_SMTP_*). With PREFECT_API_URL set, the deployments go to that server;
    otherwise serve starts one on 127.0.0.1:PORT (UI at http://127.0.0.1:PORT) and stops it on exit.
    Stopping serve leaves the schedules active (they run again when serve is back).
    """
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Prefect's client logs every poll of the API at INFO through httpx.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = load_settings()
    # Until Prefect's runner installs its own handler, SIGTERM unwinds normally (stopping the server below).
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from flows.deployments import serve_deployments
        from flows.prefect_server import LocalPrefectServer

        api_url = PREFECT_API_URL.value()
        schedule_line = (
            f"hourly-ingest-build every {settings.ingest_interval}; daily-report at "
            f"{settings.report_time:%H:%M} {settings.report_timezone}"
        )
        if api_url:
            say(f"Serving against the Prefect server at {api_url}: {schedule_line}. Ctrl-C stops.")
            serve_deployments(settings, limit)
            return
        if not start_server:
            say(
                "PREFECT_API_URL is not set: Prefect starts a temporary local server, which runs no scheduler, "
                "so the schedules will not fire (runs can still be started from this process). "
                "Set PREFECT_API_URL or drop --no-start-server."
            )
            serve_deployments(settings, limit)
            return
        server = LocalPrefectServer(home=prefect_home, port=port)
        try:
            server.start(progress=say)
            os.environ["PREFECT_API_URL"] = server.api_url  # inherited by the flow-run subprocesses
            with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
                say(f"Serving against {server.api_url} (UI: http://127.0.0.1:{port}): {schedule_line}. Ctrl-C stops.")
                serve_deployments(settings, limit)
        except RuntimeError as exc:
            raise fail(str(exc)) from exc
        finally:
            server.stop()
    finally:
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------------------------------------------------
# liveops backfill
# ---------------------------------------------------------------------------------------------------------


def backfill(
    from_day: Annotated[date, day_option("first day (report time zone)", "--from")],
    to_day: Annotated[date, day_option("last day, included", "--to")],
    lang: Annotated[
        list[str] | None, typer.Option("--lang", help="report language (repeatable; default: the report's own)")
    ] = None,
    deliver: Annotated[
        bool, typer.Option("--deliver/--no-deliver", help="also deliver each day's report (off by default)")
    ] = False,
) -> None:
    """Rebuild the marts and the reports of a range of days, idempotently.

    The marts of the whole range are rebuilt first, then per day: quality checks and the report's files.
    Rerunning gives the same marts and files. Reports are delivered only with --deliver
    (every rerun delivers again). Exits 1 when a day's quality check, report or delivery failed.
    """

    from flows.backfill import run_backfill

    start, end = from_day, to_day
    if start > end:
        raise fail(f"--from {start} is after --to {end}", 2)
    settings = load_settings()
    days = run_backfill(settings, start, end, langs=lang or None, deliver=deliver, progress=say)
    failed = [d for d in days if not d.ok]
    built = sum(d.built for d in days)
    say(f"backfill done: {built} of {len(days)} day(s) built, {len(failed)} with a failure")
    if failed:
        raise typer.Exit(1)


# ---------------------------------------------------------------------------------------------------------
# liveops deliver
# ---------------------------------------------------------------------------------------------------------


def deliver(
    day: Annotated[date | None, day_option("day of the report (default: yesterday, report time zone)")] = None,
) -> None:
    """Deliver a written report (again) over the configured webhook and/or e-mail, and record it.

    Exits 2 when no channel is configured, 1 when a channel failed after its retries.
    """
    from flows.deliver import deliver_and_record, delivery_config
    from flows.pipeline import report_day
    from reports.delivery import DeliverySummary, ReportFiles

    settings = load_settings()
    if not delivery_config(settings).enabled:
        raise fail(
            "no delivery channel: set LIVEOPS_DELIVERY_WEBHOOK_URL and/or LIVEOPS_SMTP_HOST + LIVEOPS_MAIL_TO", 2
        )
    chosen = day or report_day(settings, datetime.now(UTC))
    files = ReportFiles.in_dir(settings.reports_dir, chosen)
    if files.missing():
        raise fail(f"no report of {chosen} in {files.directory}: write it first", 2)
    summary = DeliverySummary.of(deliver_and_record(settings, chosen))
    say(f"report of {chosen}: {summary.line()}")
    if summary.failed:
        raise typer.Exit(1)


# ---------------------------------------------------------------------------------------------------------
# liveops status
# ---------------------------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else None


def _kafka_status(settings: Settings) -> dict[str, Any]:
    from streams.admin import AdminError, read_consumer_lag, read_group_members

    topics = list(settings.topics.by_family().values())
    try:
        lags = read_consumer_lag(settings.kafka_client_config(), settings.consumer_group, topics)
        members = read_group_members(settings.kafka_client_config(), settings.consumer_group)
    except AdminError as exc:
        return {"reachable": False, "bootstrap_servers": settings.bootstrap_servers, "error": str(exc)}
    return {
        "reachable": True,
        "bootstrap_servers": settings.bootstrap_servers,
        "consumer_group": settings.consumer_group,
        "lag": sum(t.lag for t in lags),
        "members": [
            {
                "client_id": m.client_id, "host": m.host,
                "partitions": [{"topic": t, "partition": p} for t, p in m.partitions],
                "lag": sum(p.lag for t in lags for p in t.partitions if (p.topic, p.partition) in set(m.partitions)),
            }
            for m in members
        ],
        "topics": [
            {
                "topic": t.topic, "exists": t.exists, "end_offset": t.end_offset, "committed": t.committed,
                "lag": t.lag,
                "partitions": [
                    {"partition": p.partition, "end_offset": p.end_offset, "committed": p.committed, "lag": p.lag}
                    for p in t.partitions
                ],
            }
            for t in lags
        ],
    }  # fmt: skip


def _one(con: Any, sql: str) -> tuple[Any, ...] | None:
    rows: list[tuple[Any, ...]] = con.execute(sql).fetchall()
    return rows[0] if rows else None


def _warehouse_status(settings: Settings) -> dict[str, Any]:
    from warehouse.lake import WarehouseError, current_snapshot, lake_exists, open_lake, snapshots
    from warehouse.rebuild import warehouse_watermark

    where = settings.lake.describe()
    if not lake_exists(settings.lake):
        return {"lake": where, "exists": False}
    try:
        con = open_lake(settings.lake, read_only=True)
    except WarehouseError as exc:
        return {"lake": where, "exists": True, "error": str(exc)}
    try:
        con.execute("BEGIN TRANSACTION")  # every figure below from one snapshot
        tables = {
            row[0]
            for row in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database()"
            ).fetchall()
        }
        snapshot = current_snapshot(con)
        latest = snapshots(con, limit=1)
        out: dict[str, Any] = {
            "lake": where, "exists": True, "snapshot": snapshot,
            "snapshot_at": _iso(latest[0][1]) if latest else None,
        }  # fmt: skip
        if "ingest_batches" in tables:
            last = _one(
                con,
                "SELECT committed_at, messages, loaded, duplicates, quarantined FROM ingest_batches "
                "ORDER BY committed_at DESC LIMIT 1",
            )
            totals = _one(
                con,
                "SELECT count(*), coalesce(sum(messages), 0), coalesce(sum(loaded), 0), "
                "coalesce(sum(duplicates), 0), coalesce(sum(quarantined), 0) FROM ingest_batches",
            )
            out["last_ingest"] = (
                None
                if last is None
                else {
                    "committed_at": _iso(last[0]), "messages": last[1], "loaded": last[2], "duplicates": last[3],
                    "quarantined": last[4],
                }
            )  # fmt: skip
            if totals is not None:
                out["ingested"] = {
                    "batches": totals[0], "messages": totals[1], "loaded": totals[2], "duplicates": totals[3],
                    "quarantined": totals[4],
                }  # fmt: skip
        if "raw_viewer_events" in tables:
            out["watermark"] = _iso(warehouse_watermark(con, settings.max_clock_skew))
        if "build_runs" in tables:
            build = _one(
                con,
                "SELECT build_id, mode, finished_at, first_day, last_day, days, watermark FROM build_runs "
                "ORDER BY finished_at DESC LIMIT 1",
            )
            out["last_build"] = (
                None
                if build is None
                else {
                    "build_id": build[0], "mode": build[1], "finished_at": _iso(build[2]),
                    "first_day": build[3].isoformat() if build[3] else None,
                    "last_day": build[4].isoformat() if build[4] else None, "days": build[5],
                    "watermark": _iso(build[6]),
                }
            )  # fmt: skip
        if "build_days" in tables:
            days = con.execute("SELECT day, complete FROM build_days ORDER BY day").fetchall()
            out["days_built"] = {
                "count": len(days),
                "first": days[0][0].isoformat() if days else None,
                "last": days[-1][0].isoformat() if days else None,
                "complete": sum(1 for _, c in days if c),
                "incomplete": [d.isoformat() for d, c in days if not c],
            }
        if "day_status" in tables:
            checked = con.execute("SELECT day, status FROM day_status ORDER BY day").fetchall()
            out["quality"] = {
                "checked": len(checked),
                "verified": sum(1 for _, v in checked if v == "verified"),
                "unverified": [d.isoformat() for d, v in checked if v != "verified"],
                "last": {"day": checked[-1][0].isoformat(), "status": checked[-1][1]} if checked else None,
            }
        if "deliveries" in tables:
            delivered = _one(
                con,
                "SELECT day, channel, target, attempt, success, error, attempted_at FROM deliveries "
                "ORDER BY attempted_at DESC LIMIT 1",
            )
            out["last_delivery"] = (
                None
                if delivered is None
                else {
                    "day": delivered[0].isoformat(), "channel": delivered[1], "target": delivered[2],
                    "attempt": delivered[3], "success": delivered[4], "error": delivered[5],
                    "at": _iso(delivered[6]),
                }
            )  # fmt: skip
        return out
    finally:
        con.close()


def _reports_status(settings: Settings) -> dict[str, Any]:
    root = settings.reports_dir
    written: list[tuple[date, Path]] = []
    if root.is_dir():
        for child in root.iterdir():
            try:
                day = date.fromisoformat(child.name)
            except ValueError:
                continue
            if child.is_dir() and any((child / name).is_file() for name in REPORT_FILES):
                written.append((day, child))
    out: dict[str, Any] = {"reports_dir": str(root), "count": len(written), "last": None}
    if written:
        day, folder = max(written)
        files = [name for name in REPORT_FILES if (folder / name).is_file()]
        at = max((folder / name).stat().st_mtime for name in files)
        out["last"] = {
            "day": day.isoformat(),
            "directory": str(folder),
            "files": files,
            "written_at": _iso(datetime.fromtimestamp(at, UTC)),
        }
    return out


def collect_status(settings: Settings) -> dict[str, Any]:
    """Everything ``liveops status`` shows, as plain values (times in UTC, RFC 3339)."""
    return {
        "at": _iso(datetime.now(UTC)),
        "report_timezone": settings.report_timezone,
        "kafka": _kafka_status(settings),
        "warehouse": _warehouse_status(settings),
        "reports": _reports_status(settings),
    }


def _first_few(items: list[str], n: int = 5) -> str:
    """The first ``n`` items, comma-separated, with " ..." when there are more."""
    return ", ".join(items[:n]) + (" ..." if len(items) > n else "")


def _ago(value: str | None, now: datetime) -> str:
    if value is None:
        return "never"
    at = datetime.fromisoformat(value)
    seconds = max(0.0, (now - at).total_seconds())
    if seconds < 90:
        age = f"{seconds:.0f} s ago"
    elif seconds < 90 * 60:
        age = f"{seconds / 60:.0f} min ago"
    elif seconds < 48 * 3600:
        age = f"{seconds / 3600:.1f} h ago"
    else:
        age = f"{seconds / 86400:.1f} days ago"
    return f"{at:%Y-%m-%d %H:%M:%S} UTC ({age})"


def format_status(status: dict[str, Any]) -> str:
    """``collect_status``'s result as text for a terminal."""
    now = datetime.fromisoformat(status["at"])
    from streams.admin import describe_partitions

    lines = [f"liveops status at {now:%Y-%m-%d %H:%M:%S} UTC (report time zone {status['report_timezone']})", ""]
    kafka = status["kafka"]
    if not kafka["reachable"]:
        lines.append(f"Kafka       UNREACHABLE at {kafka['bootstrap_servers']}: {kafka['error']}")
    else:
        lines.append(
            f"Kafka       reachable at {kafka['bootstrap_servers']}; consumer group {kafka['consumer_group']} "
            f"is {kafka['lag']:,} message(s) behind"
        )
        lines.append(f"  {'topic':<28} {'end offset':>12} {'committed':>12} {'lag':>10}")
        for t in kafka["topics"]:
            if not t["exists"]:
                lines.append(f"  {t['topic']:<28} does not exist (liveops kafka create-topics)")
                continue
            lines.append(f"  {t['topic']:<28} {t['end_offset']:>12,} {t['committed']:>12,} {t['lag']:>10,}")
        members = kafka.get("members", [])
        if members:
            lines.append(f"  {len(members)} member(s) of the group now, the partitions Kafka gave each and their lag:")
            for m in members:
                held = (
                    describe_partitions((p["topic"], p["partition"]) for p in m["partitions"])
                    if m["partitions"]
                    else "no partition"
                )
                lines.append(f"    {m['client_id']} ({m['host']}): {held}; lag {m['lag']:,}")
        else:
            lines.append("  no member of the group is running (no ingest now)")
    lines.append("")
    wh = status["warehouse"]
    if not wh["exists"]:
        lines.append(f"Warehouse   no warehouse at {wh['lake']} yet: run `liveops ingest`")
    elif "error" in wh:
        lines.append(f"Warehouse   {wh['error']}")
    else:
        lines.append(f"Warehouse   {wh['lake']}, snapshot {wh['snapshot']} of {_ago(wh['snapshot_at'], now)}")
        last = wh.get("last_ingest")
        if last:
            lines.append(
                f"  last ingest   batch committed {_ago(last['committed_at'], now)}: {last['messages']:,} messages, "
                f"{last['loaded']:,} loaded, {last['duplicates']:,} duplicates, {last['quarantined']:,} quarantined"
            )
        else:
            lines.append("  last ingest   never")
        total = wh.get("ingested")
        if total:
            lines.append(
                f"  ingested      {total['messages']:,} messages in {total['batches']:,} batch(es): "
                f"{total['loaded']:,} loaded, {total['duplicates']:,} duplicates, {total['quarantined']:,} quarantined"
            )
        watermark = wh.get("watermark")
        shown_mark = (
            f"{datetime.fromisoformat(watermark):%Y-%m-%d %H:%M:%S} UTC" if watermark else "none (no events yet)"
        )
        lines.append(f"  watermark     {shown_mark} (latest event time ingested)")
        build = wh.get("last_build")
        if build:
            span = f"{build['first_day']}..{build['last_day']}" if build["days"] else "no day"
            lines.append(
                f"  last build    {build['mode']} build finished {_ago(build['finished_at'], now)}: "
                f"{build['days']} day(s) {span}"
            )
        else:
            lines.append("  last build    never (liveops build)")
        built = wh.get("days_built")
        if built and built["count"]:
            incomplete = built["incomplete"]
            shown = _first_few(incomplete)
            lines.append(
                f"  days built    {built['count']} ({built['first']}..{built['last']}): {built['complete']} complete"
                + (f", {len(incomplete)} incomplete ({shown})" if incomplete else "")
            )
        quality = wh.get("quality")
        if quality and quality["checked"]:
            unverified = quality["unverified"]
            shown = _first_few(unverified)
            lines.append(
                f"  quality       {quality['checked']} day(s) checked: {quality['verified']} verified"
                + (f", {len(unverified)} UNVERIFIED ({shown}; liveops quality --date D)" if unverified else "")
            )
        elif built and built["count"]:
            lines.append("  quality       no day checked yet (liveops quality --date D)")
        delivery = wh.get("last_delivery")
        if delivery:
            outcome = "delivered" if delivery["success"] else f"FAILED ({delivery['error']})"
            lines.append(
                f"  last delivery report of {delivery['day']} via {delivery['channel']} to {delivery['target']}: "
                f"{outcome}, attempt {delivery['attempt']}, {_ago(delivery['at'], now)}"
            )
    lines.append("")
    reports = status["reports"]
    last_report = reports["last"]
    if last_report is None:
        lines.append(f"Reports     none in {reports['reports_dir']}")
    else:
        lines.append(
            f"Reports     {reports['count']} in {reports['reports_dir']}; last: {last_report['day']} written "
            f"{_ago(last_report['written_at'], now)} ({', '.join(last_report['files'])})"
        )
    return "\n".join(lines)


def status(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of text")] = False,
) -> None:
    """Is the pipeline healthy? Broker, consumer lag, last ingest, last build, watermark, days, last report.

    Reads the warehouse's latest snapshot (attached read-only), so it works while an ingest or a build runs
    and shows every batch committed so far. Exits 1 when Kafka is unreachable.
    """
    settings = load_settings()
    result = collect_status(settings)
    typer.echo(json.dumps(result, indent=2, ensure_ascii=False) if as_json else format_status(result))
    if not result["kafka"]["reachable"]:
        raise typer.Exit(1)
