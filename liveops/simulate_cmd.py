"""``liveops simulate``: generate realistic platform traffic into Kafka (or into JSON-lines files).

Registered by the main app (``liveops.cli``) as the ``simulate`` command.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Annotated

import typer

from liveops.console import load_settings

if TYPE_CHECKING:
    from streams.simulator import SimMessage

# The option defaults: those of ``streams.simulator.SimConfig`` (a test keeps them equal). Spelled out here
# so that ``liveops --help`` need not import the simulator (and Polars with it).
_DEFAULTS = SimpleNamespace(
    start_date=date(2026, 11, 1),
    days=1,
    users=2000,
    channels=20,
    campaigns=4,
    seed=7,
    duplicate_rate=0.01,
    late_rate=0.005,
    malformed_rate=0.001,
    hostile_text=True,
)


class _Tally:
    """Counts messages as they pass, and reports progress on stderr every few seconds."""

    def __init__(self, every_seconds: float = 2.0) -> None:
        self.every = every_seconds
        self.started = time.monotonic()
        self.total = 0
        self.per_topic: Counter[str] = Counter()
        self.malformed: Counter[str] = Counter()
        self.duplicates: Counter[str] = Counter()
        self.late: Counter[str] = Counter()

    def wrap(self, messages: Iterable[SimMessage]) -> Iterator[SimMessage]:
        next_report = self.started + self.every
        per_topic, total = self.per_topic, 0
        try:
            for message in messages:
                topic = message.topic
                per_topic[topic] += 1
                if message.malformed_reason is not None:
                    self.malformed[topic] += 1
                elif message.duplicate:
                    self.duplicates[topic] += 1
                elif message.late:
                    self.late[topic] += 1
                total += 1
                if total % 10_000 == 0:
                    self.total = total
                    now = time.monotonic()
                    if now >= next_report:
                        next_report = now + self.every
                        typer.echo(f"  {total:>12,} messages  {self.rate():>9,.0f}/s", err=True)
                yield message
        finally:
            self.total = total

    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    def rate(self) -> float:
        return self.total / self.elapsed()

    def summary(self) -> str:
        lines = [f"{'topic':<28}{'messages':>12}{'malformed':>11}{'duplicates':>12}{'late':>8}"]
        for topic in sorted(self.per_topic):
            lines.append(
                f"{topic:<28}{self.per_topic[topic]:>12,}{self.malformed[topic]:>11,}"
                f"{self.duplicates[topic]:>12,}{self.late[topic]:>8,}"
            )
        lines.append(
            f"{'total':<28}{self.total:>12,}{sum(self.malformed.values()):>11,}"
            f"{sum(self.duplicates.values()):>12,}{sum(self.late.values()):>8,}"
        )
        lines.append(f"{self.total:,} messages in {self.elapsed():.1f} s: {self.rate():,.0f} messages/s")
        return "\n".join(lines)


def _start_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date like 2026-11-01", param_hint="--start-date") from exc


def simulate(
    days: Annotated[int, typer.Option(min=1, help="days to simulate")] = _DEFAULTS.days,
    start_date: Annotated[
        str | None,
        typer.Option(
            metavar="YYYY-MM-DD",
            help=f"first simulated day (UTC) [default: {_DEFAULTS.start_date}]",
            show_default=False,
        ),
    ] = None,
    users: Annotated[int, typer.Option(min=1, help="registered users at the start (new ones sign up daily)")] = (
        _DEFAULTS.users
    ),
    channels: Annotated[int, typer.Option(min=1, help="broadcasting channels")] = _DEFAULTS.channels,
    campaigns: Annotated[int, typer.Option(min=0, help="marketing campaigns (0: no campaign events)")] = (
        _DEFAULTS.campaigns
    ),
    seed: Annotated[int, typer.Option(help="random seed: the same options give the same bytes")] = _DEFAULTS.seed,
    duplicate_rate: Annotated[
        float, typer.Option(min=0.0, max=0.5, help="share of messages re-sent later with identical bytes")
    ] = _DEFAULTS.duplicate_rate,
    late_rate: Annotated[
        float, typer.Option(min=0.0, max=0.5, help="share of events emitted 1-48 h after their event_time")
    ] = _DEFAULTS.late_rate,
    malformed_rate: Annotated[
        float,
        typer.Option(min=0.0, max=0.5, help="extra messages breaking the contract, cycling through every reason code"),
    ] = _DEFAULTS.malformed_rate,
    hostile_text: Annotated[
        bool,
        typer.Option(
            "--hostile-text/--plain-text",
            help="titles, chat and comments also hold markup, script, SQL metacharacters and very long strings "
            "(for tests); --plain-text: ordinary text only, as a normal day has",
        ),
    ] = _DEFAULTS.hostile_text,
    target_events: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="aim for about this many events in total (scales sessions per day, and users when needed)",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            file_okay=False,
            help="write <topic>.jsonl files into this directory instead of producing to Kafka",
        ),
    ] = None,
    replay: Annotated[
        Path | None,
        typer.Option(
            "--replay",
            exists=True,
            file_okay=False,
            help="produce the messages of a directory written by --out (same bytes, same order, the files' "
            "topic names) instead of simulating",
        ),
    ] = None,
) -> None:
    """Simulate the platform's traffic (streams, viewing sessions, engagement, campaigns) into Kafka.

    Follows the event contract (docs/contract.md); the same options always give the same bytes.

    Like real at-least-once delivery, it includes duplicates, late events and malformed messages.

    Topic names and the broker come from the settings (`liveops config`). Start the broker first:
    `liveops kafka up`, then `liveops kafka create-topics`.

    --out DIR writes JSON-lines files instead (no broker needed); --replay DIR sends such files to Kafka.
    """
    from streams.simulator import SimConfig
    from streams.simulator import simulate as generate_traffic

    settings = load_settings()
    first_day = _start_date(start_date) or _DEFAULTS.start_date
    try:
        config = SimConfig(
            start_date=first_day, days=days, users=users, channels=channels, campaigns=campaigns, seed=seed,
            duplicate_rate=duplicate_rate, late_rate=late_rate, malformed_rate=malformed_rate,
            target_events=target_events, topics=settings.topics.by_family(), hostile_text=hostile_text,
        )  # fmt: skip
    except ValueError as exc:
        typer.secho(f"Invalid options: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc

    if out is not None and replay is not None:
        typer.secho(
            "--out and --replay exclude each other: replay files to Kafka, or write new ones.", fg="red", err=True
        )
        raise typer.Exit(2)

    destination = str(out) if out is not None else f"Kafka at {settings.bootstrap_servers}"
    tally = _Tally()
    if replay is not None:
        from streams.producer import read_jsonl

        try:
            messages = tally.wrap(read_jsonl(replay))
        except FileNotFoundError as exc:
            typer.secho(str(exc), fg="red", err=True)
            raise typer.Exit(2) from exc
        typer.echo(f"Replaying {replay} -> {destination}", err=True)
    else:
        last_day = date.fromordinal(first_day.toordinal() + days - 1)
        typer.echo(
            f"Simulating {days} day(s), {first_day} to {last_day}: ~{config.sessions_per_day:,.0f} viewing "
            f"sessions/day, {config.initial_users:,} users, {channels} channels, {campaigns} campaigns, "
            f"seed {seed} -> {destination}",
            err=True,
        )
        messages = tally.wrap(generate_traffic(config))
    try:
        if out is not None:
            from streams.producer import write_jsonl

            write_jsonl(messages, out)
        else:
            from streams.producer import ProduceError, produce

            try:
                produce(messages, settings.kafka_client_config())
            except ProduceError as exc:
                typer.secho(
                    f"{exc}.\nIs the broker running, with the topics? Start it with `liveops kafka up` and "
                    "`liveops kafka create-topics` (see `liveops kafka status`), or write files with --out DIR.",
                    fg="red",
                    err=True,
                )
                raise typer.Exit(1) from exc
    except KeyboardInterrupt:
        typer.secho(f"Interrupted after {tally.total:,} messages.", fg="yellow", err=True)
        raise typer.Exit(130) from None
    except ValueError as exc:  # a replayed file that is not in the format of --out
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(tally.summary())
    typer.echo(f"Written to {destination}.", err=True)
