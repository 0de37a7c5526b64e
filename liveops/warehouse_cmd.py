"""``liveops warehouse``: where the lake is and how to attach it, its snapshots, and its maintenance.

Registered by the main app (``liveops.cli``) as the ``warehouse`` sub-command group.
"""

from __future__ import annotations

from typing import Annotated

import typer

from liveops.console import load_settings, say

warehouse_app = typer.Typer(
    help="The warehouse (a DuckLake): where it lives, how analysts attach it, its snapshots, maintenance."
)


@warehouse_app.command("info")
def info() -> None:
    """Print where the lake lives and the exact statements that attach it from DuckDB (CLI, Python, DBeaver).

    The statements never contain a password: a PostgreSQL catalog's password goes in a DuckDB secret
    (docs/warehouse.md shows how).
    """
    import duckdb

    from warehouse.extensions import extension_file

    settings = load_settings()
    lake = settings.lake
    needed = ["ducklake", "sqlite_scanner" if lake.kind == "sqlite" else "postgres_scanner"]
    if lake.s3 is not None:
        needed.append("httpfs")
    typer.echo(f"catalog:   {lake.describe()}")
    typer.echo(f"DuckDB {duckdb.__version__} with the extensions {', '.join(needed)} (from the installed wheels)")
    typer.echo("attach (read-only, as analysts should), in the DuckDB CLI or duckdb.connect().execute(...):")
    for name in needed:
        typer.echo(f"  LOAD '{extension_file(name)}';")
    typer.echo(f"  {lake.attach_sql(read_only=True)};")
    typer.echo("  USE lake;")


@warehouse_app.command("snapshots")
def snapshots(
    limit: Annotated[int, typer.Option("--limit", min=1, help="how many of the latest snapshots")] = 20,
) -> None:
    """List the latest lake snapshots (id, time, what changed): `liveops query --as-of ID` reads one."""
    from warehouse.lake import open_lake
    from warehouse.lake import snapshots as list_snapshots

    settings = load_settings()
    with open_lake(settings.lake, read_only=True) as con:
        rows = list_snapshots(con, limit)
    typer.echo("snapshot\ttime (UTC)\tchanges")
    for snapshot_id, at, changes in rows:
        typer.echo(f"{snapshot_id}\t{at:%Y-%m-%d %H:%M:%S}\t{changes}")


@warehouse_app.command("maintain")
def maintain() -> None:
    """Compact small files, expire snapshots older than LIVEOPS_LAKE_SNAPSHOT_RETENTION, delete unused files.

    Safe while ingest and builds run (each step commits on its own; one that conflicts fails alone and the
    next run does it). `liveops serve` runs it daily.
    """
    from warehouse.lake import open_lake
    from warehouse.maintenance import maintain as run_maintenance

    settings = load_settings()
    say(f"Maintaining {settings.lake.describe()} ...")
    with open_lake(settings.lake) as con:
        result = run_maintenance(con, settings.lake_snapshot_retention)
    typer.echo(result.line())
