"""What every command shares: loading the settings, messages on stderr, failing with an exit code."""

from __future__ import annotations

import typer
from pydantic import ValidationError

from liveops.settings import Settings


def load_settings() -> Settings:
    """The settings from the environment and ``.env``; invalid ones end the command with exit code 2."""
    try:
        return Settings()
    except ValidationError as exc:
        typer.secho(f"Invalid settings:\n{exc}", fg="red", err=True)
        raise typer.Exit(2) from exc


def say(message: str) -> None:
    """Progress for a human, on stderr (stdout stays for results)."""
    typer.echo(message, err=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` in red on stderr; return the exit to raise (``raise fail(...)``)."""
    typer.secho(message, fg="red", err=True)
    return typer.Exit(code)
