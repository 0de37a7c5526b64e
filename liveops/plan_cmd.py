"""``liveops plan``: check, load and show the operating plan (docs/plan.md).

Registered by the main app (``liveops.cli``) as the ``plan`` sub-command group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from liveops.console import fail, load_settings, say

plan_app = typer.Typer(help="The operating plan: targets and budgets per period (docs/plan.md).")

PlanFile = Annotated[Path, typer.Argument(help="the plan CSV file", show_default=False)]


def _parse(path: Path):  # type: ignore[no-untyped-def]
    from schemas.plan import PlanError, parse_plan

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read the plan {path}: {exc}") from None
    try:
        return parse_plan(text)
    except PlanError as exc:
        for problem in exc.problems:
            typer.secho(f"{path.name}:{problem.line}: {problem.message}", fg="red", err=True)
        raise fail(f"{path.name}: {len(exc.problems)} problem(s); nothing loaded") from None


@plan_app.command("check")
def check(path: PlanFile) -> None:
    """Validate a plan file: every problem with its line number (exit 1). Loads nothing."""
    plan = _parse(path)
    say(f"{path.name}: {len(plan.targets)} target(s), no problem")


@plan_app.command("load")
def load(path: PlanFile) -> None:
    """Validate a plan file and store it as a new plan version (the same file again changes nothing)."""
    from transforms.plan import plan_figures
    from warehouse.lake import open_lake
    from warehouse.plan import plan_file_name, refresh_plan_mart, store_plan

    plan = _parse(path)
    settings = load_settings()
    with open_lake(settings.lake) as con:
        stored = store_plan(con, plan, plan_file_name(path))
        if not stored.new:
            say(f"{path.name} is already plan version {stored.version}: nothing changed")
            return
        rows = refresh_plan_mart(con, plan_figures)
    say(f"{path.name} stored as plan version {stored.version} ({len(plan.targets)} targets, {rows} mart rows)")


@plan_app.command("show")
def show() -> None:
    """List the current plan version's targets (tab-separated on stdout)."""
    from warehouse.lake import open_lake
    from warehouse.plan import current_version, read_targets

    settings = load_settings()
    with open_lake(settings.lake, read_only=True) as con:
        version = current_version(con)
        if version is None:
            raise fail("no plan is loaded: `liveops plan load FILE`")
        say(f"plan version {version}")
        typer.echo("line\tmetric\tscope\tperiod\ttarget\tdirection\tkind")
        for t in read_targets(con, version):
            typer.echo(f"{t.line}\t{t.metric}\t{t.scope}\t{t.period.text}\t{t.target:g}\t{t.direction}\t{t.kind}")
