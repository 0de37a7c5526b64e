"""The ``liveops`` command line: every job of the pipeline, one sub-command each.

Settings come from ``LIVEOPS_*`` environment variables or a ``.env`` file (see ``liveops config``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from liveops.console import PREFECT_HELP, fail, load_settings, say, tracked_by_prefect
from liveops.launch import configure_logging

if TYPE_CHECKING:
    import threading

    from config.settings import Settings

app = typer.Typer(
    help=(
        "liveops: the analytics pipeline of a live-streaming platform's operations team.\n\n"
        "Kafka events are validated, deduplicated and loaded into DuckDB. "
        "Settings come from LIVEOPS_* environment variables or a .env file; `liveops config` shows them."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _register_commands() -> None:
    from liveops.marts_cmd import build, query
    from liveops.ops_cmd import backfill, deliver, serve, status
    from liveops.quality_cmd import quality
    from liveops.report_cmd import report
    from liveops.simulate_cmd import simulate

    app.command("simulate")(simulate)
    app.command("build")(build)
    app.command("quality")(quality)
    app.command("report")(report)
    app.command("query")(query)
    app.command("serve")(serve)
    app.command("backfill")(backfill)
    app.command("deliver")(deliver)
    app.command("status")(status)


def _register_plan() -> None:
    from liveops.plan_cmd import plan_app

    app.add_typer(plan_app, name="plan", no_args_is_help=True)


def _register_warehouse() -> None:
    from liveops.warehouse_cmd import warehouse_app

    app.add_typer(warehouse_app, name="warehouse", no_args_is_help=True)


kafka_app = typer.Typer(help="Run a real local Apache Kafka broker (KRaft, single node) for development and tests.")
app.add_typer(kafka_app, name="kafka", no_args_is_help=True)


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log debug messages")] = False,
) -> None:
    """liveops command line."""
    configure_logging(verbose)


@app.command()
def config() -> None:
    """Print the effective settings (environment, .env and defaults), secrets masked."""
    typer.echo(json.dumps(load_settings().masked(), indent=2, ensure_ascii=False))


def _broker(settings: Settings):  # type: ignore[no-untyped-def]
    from streams.broker import LocalBroker

    return LocalBroker(
        home=settings.kafka_home, jars_cache=settings.kafka_jars, port=settings.kafka_port,
        controller_port=settings.kafka_controller_port, partitions=settings.partitions,
    )  # fmt: skip


@kafka_app.command("up")
def kafka_up() -> None:
    """Start the local broker (first run: fetch its jars from Maven Central) and wait until it answers."""
    import time

    from streams.broker import BrokerError

    settings = load_settings()
    broker = _broker(settings)
    started_at = time.monotonic()
    try:
        started = broker.up(progress=say)
    except BrokerError as exc:
        raise fail(str(exc)) from exc
    if not started:
        say(f"A liveops Kafka broker is already running (PID {broker.pid()}) at {broker.bootstrap}.")
        return
    say(
        f"Kafka is up at {broker.bootstrap} (PID {broker.pid()}, {time.monotonic() - started_at:.1f} s).\n"
        f"  clients:   LIVEOPS_BOOTSTRAP_SERVERS={broker.bootstrap}\n"
        f"  topics:    liveops kafka create-topics\n"
        f"  logs:      liveops kafka logs   ({broker.log_file})\n"
        f"  stop:      liveops kafka down"
    )


@kafka_app.command("down")
def kafka_down() -> None:
    """Stop the local broker that `kafka up` started (by its recorded PID). Harmless when none runs."""
    broker = _broker(load_settings())
    if broker.down():
        say("Kafka broker stopped.")
    else:
        say("No liveops Kafka broker is running.")


@kafka_app.command("status")
def kafka_status() -> None:
    """Say whether the broker runs; list topics with partition counts and end offsets."""
    from streams.broker import topic_status

    settings = load_settings()
    broker = _broker(settings)
    pid = broker.pid()
    typer.echo(
        f"local broker: {'running, PID ' + str(pid) if pid else 'not running'} (127.0.0.1:{settings.kafka_port})"
    )
    try:
        topics = topic_status(settings.kafka_client_config() | {"bootstrap_timeout_ms": 5000})
    except Exception as exc:  # any client error means "unreachable" here
        raise fail(
            f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}. Start it with `liveops kafka up`."
        ) from exc
    if not topics:
        typer.echo("no topics yet: run `liveops kafka create-topics`")
    for topic in topics:
        offsets = ", ".join(f"p{p}={o}" for p, o in sorted(topic.end_offsets.items()))
        typer.echo(f"{topic.name:<24} partitions={topic.partitions}  messages={topic.messages}  end offsets: {offsets}")


@kafka_app.command("logs")
def kafka_logs(lines: Annotated[int, typer.Option("--lines", "-n", help="how many lines")] = 50) -> None:
    """Print the tail of the local broker's log."""
    typer.echo(_broker(load_settings()).tail(lines))


@kafka_app.command("create-topics")
def kafka_create_topics(
    partitions: Annotated[int | None, typer.Option(help="partitions per topic (default: LIVEOPS_PARTITIONS)")] = None,
) -> None:
    """Create the four topics of the event contract (names from settings); existing ones are left alone."""
    from streams.broker import BrokerError, create_topics

    settings = load_settings()
    names = list(settings.topics.by_family().values())
    try:
        created = create_topics(
            settings.kafka_client_config() | {"bootstrap_timeout_ms": 10000},
            names,
            partitions or settings.partitions,
        )
    except BrokerError as exc:
        raise fail(str(exc)) from exc
    for name in names:
        say(f"{name}: {'created' if name in created else 'exists'}")


@app.command()
def ingest(
    follow: Annotated[
        bool, typer.Option("--follow", help="keep consuming new messages until Ctrl-C (default: drain and stop)")
    ] = False,
    prefect: Annotated[
        bool, typer.Option("--prefect/--no-prefect", help=PREFECT_HELP.format(flow="ingest-events"))
    ] = True,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="run this many members of the consumer group as processes here (Kafka splits the partitions)",
        ),
    ] = 1,
) -> None:
    """Consume the four topics into the warehouse (a DuckLake): validate, quarantine bad messages, drop duplicates, exactly once.

    Each ingest process is a member of the consumer group LIVEOPS_CONSUMER_GROUP: start more (here with
    --workers N, or on other machines, or as Prefect flow runs: docs/ingest.md) and Kafka splits the
    partitions between them. By default it drains every partition up to the end offsets seen at start, then
    stops (for scheduled runs). Each micro-batch is written with its offsets in one lake transaction, so an
    interrupted run is repaired by running again. Ctrl-C finishes the batch in hand and exits cleanly.
    Analysts see each batch as soon as it is committed (`liveops query` reads the lake's latest snapshot).
    """
    import signal
    import threading

    from flows.ingest import SOURCE_FAILED, IngestProgress, ingest_events, ingest_once
    from streams.consumer import SourceError

    settings = load_settings()
    stop = threading.Event()

    def on_sigint(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        say("Stopping after the batch in hand (Ctrl-C again to abort; a rerun repairs anything) ...")
        stop.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        if workers > 1:
            _ingest_members(workers, follow, stop)
            return
        if tracked_by_prefect(prefect) and not follow:
            from prefect.client.schemas.objects import State

            state = ingest_events(settings, follow=False, run_label=_now_label(), return_state=True)
            assert isinstance(state, State)  # a sync flow returns its state, not an awaitable
            if state.is_failed() and (state.message or "").startswith(SOURCE_FAILED):
                raise fail(str(state.message))  # Kafka could not be read: one line, no traceback
            say(f"ingest done: {state.result()}")
            return
        result = ingest_once(settings, follow=follow, stop=stop, progress=lambda p: say(p.line()))
    except SourceError as exc:
        raise fail(str(exc)) from exc
    finally:
        signal.signal(signal.SIGINT, previous)
    assert isinstance(result, IngestProgress)
    say(f"ingest done: {result.line()}")


def _ingest_members(workers: int, follow: bool, stop: threading.Event) -> None:
    from flows.members import run_members

    say(f"starting {workers} members of the consumer group (Kafka splits the partitions between them) ...")
    results = run_members(workers, follow, say, stop)
    failed = [r for r in results if r.returncode != 0]
    if failed:
        raise fail(
            f"{len(failed)} of {workers} members failed: "
            + "; ".join(f"member {r.number}: {r.last_line or f'exit {r.returncode}'}" for r in failed)
            + ". Nothing is lost: rerun `liveops ingest` to continue."
        )
    say(f"ingest done: {workers} members")


def _now_label() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


_register_commands()
_register_plan()
_register_warehouse()


def run() -> None:
    """The ``liveops`` command: the app, with the warehouse's errors (busy, unreachable, missing) caught once,
    here, and shown as one line that says what to do, instead of a traceback."""
    try:
        app()
    except Exception as exc:
        from warehouse.lake import WarehouseError  # here, not above: `--help` need not load DuckDB

        if not isinstance(exc, WarehouseError):
            raise
        from liveops.redact import REDACTOR

        typer.secho(REDACTOR.redact(f"warehouse: {exc}"), fg="red", err=True)
        raise SystemExit(1) from None


DEMO_PLAN = Path(__file__).resolve().parents[1] / "plans" / "demo-plan.csv"


def _load_demo_plan(settings: Settings) -> None:
    """Store the sample plan (plans/demo-plan.csv) as a plan version; the same file again changes nothing."""
    from schemas.plan import PlanError, parse_plan
    from warehouse.lake import open_lake
    from warehouse.plan import plan_file_name, store_plan

    if not DEMO_PLAN.is_file():
        return
    try:
        plan = parse_plan(DEMO_PLAN.read_text(encoding="utf-8"))
    except PlanError as exc:
        say(f"The sample plan {DEMO_PLAN.name} is not valid ({exc}): the report has no plan section.")
        return
    with open_lake(settings.lake) as con:
        stored = store_plan(con, plan, plan_file_name(DEMO_PLAN))
    if stored.new:
        say(f"Loaded the sample plan {DEMO_PLAN.name} as plan version {stored.version}.")
    else:
        say(f"The sample plan {DEMO_PLAN.name} is already plan version {stored.version}.")


def demo_day(days: Sequence[date], complete: Collection[date]) -> date:
    """The day the demo reports: the last complete one. The very last day of a simulation is still filling
    up (its late events have not all arrived), so its figures would be low and its checks would fail;
    the last day stands in only when no day is complete yet."""
    return next((d for d in reversed(days) if d in complete), days[-1])


@app.command()
def demo(
    days: Annotated[int, typer.Option(help="days of simulated traffic")] = 8,
    users: Annotated[int, typer.Option(help="simulated users")] = 3000,
) -> None:
    """The main job end to end: Kafka up, simulated traffic (first run only), ingest, marts, checks, report.

    Brings up the local Kafka broker, creates the topics, simulates eight days of platform traffic (ordinary
    text: no test strings), ingests it, builds the marts, checks the last complete day's data and writes its
    report in English and Chinese, then prints the paths and the headline figures. A second run reuses the broker, the topics and the data
    already there: it only ingests and builds what is new, and writes the report again.
    """
    import time

    from streams.broker import BrokerError, create_topics, topic_status
    from streams.producer import produce
    from streams.simulator import SimConfig, simulate

    settings = load_settings()
    started = time.monotonic()
    broker = _broker(settings)
    try:
        if broker.up(progress=say):
            say(f"Kafka is up at {broker.bootstrap}.")
        else:
            say(f"Kafka already runs at {broker.bootstrap}.")
        config = settings.kafka_client_config()
        names = list(settings.topics.by_family().values())
        create_topics(config, names, settings.partitions)
    except BrokerError as exc:
        raise fail(str(exc)) from exc
    existing = sum(t.messages for t in topic_status(config) if t.name in names)
    if existing == 0:
        # Plain text: an ops person reading the demo should see a normal day (the hostile strings are for tests).
        sim = SimConfig(days=days, users=users, topics=settings.topics.by_family(), hostile_text=False)
        say(f"Simulating {days} days of platform traffic for {users:,} users into Kafka ...")
        produced = produce(simulate(sim), config, progress=lambda n: say(f"  produced {n:,} messages"))
        say(f"Produced {produced:,} messages.")
    else:
        say(f"The topics already hold {existing:,} messages: not simulating again.")
    from flows.pipeline import run_day

    say("Ingesting into DuckDB ...")
    ingested = run_day(settings, None, ["ingest"], progress=say)
    ingested.raise_failure("ingest")
    say(f"Ingested: {ingested.steps['ingest'].detail}.")

    from reports.model import complete_days
    from warehouse.lake import open_lake
    from warehouse.rebuild import data_days, warehouse_watermark

    _load_demo_plan(settings)
    say("Building the marts (only the days new events touched) ...")
    run_day(settings, None, ["build"], progress=say).raise_failure("build")
    with open_lake(settings.lake, read_only=True) as con:
        built_days = data_days(con, settings.report_timezone, settings.max_clock_skew)
        complete = complete_days(con)
        # The demo's present is its simulation's: freshness is judged at the simulated clock, not the wall's.
        simulated_now = warehouse_watermark(con, settings.max_clock_skew)
    if not built_days:
        raise fail("The warehouse holds no events: nothing to report.")
    last = demo_day(built_days, complete)
    if last != built_days[-1]:
        say(f"Reporting {last}, the last complete day ({built_days[-1]} may still receive events).")
    say(f"Checking the data quality of {last} ...")
    checked = run_day(settings, last, ["quality", "report"], langs=["en", "zh"], report_time=simulated_now)
    paths_extra: list[Path] = []
    verdict = "quality checks did not run"
    quality_outcome = checked.steps["quality"]
    if quality_outcome.failed:  # the report is still written; it says the checks did not run
        say(f"Quality checks of {last} failed to run ({quality_outcome.error}); the report says so.")
    else:
        quality = quality_outcome.value
        say(f"Quality checks of {last}: {quality_outcome.detail}")
        verdict = "VERIFIED by the quality gate" if quality.verified else "UNVERIFIED: a critical quality check failed"
        if quality.data_docs is not None:
            docs = quality.data_docs
            paths_extra.append(docs.relative_to(Path.cwd()) if docs.is_relative_to(Path.cwd()) else docs)
    checked.raise_failure("report")
    paths: list[Path] = checked.value("report")
    summary = json.loads((settings.reports_dir / last.isoformat() / "summary.json").read_text(encoding="utf-8"))
    from reports.render import console_summary

    say(f"Done in {time.monotonic() - started:.0f} s.")
    typer.echo(  # the result, on stdout (progress went to stderr)
        f"Report of {last} "
        f"({'complete' if summary['complete'] else 'incomplete: more events may still arrive'}; {verdict}):\n"
        + "\n".join(console_summary(summary, settings.currency))
        + "\n"
        + "\n".join(f"  {path}" for path in [*paths, *paths_extra])
        + f'\n  warehouse: {settings.lake.describe()}   (try: uv run liveops query "SELECT * FROM v_daily_headline")'
    )
