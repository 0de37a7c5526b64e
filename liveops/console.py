"""What every command shares: loading the settings, messages on stderr, failing with an exit code."""

from __future__ import annotations

import typer
from pydantic import SecretStr, ValidationError

from liveops.redact import REDACTOR, url_secrets
from liveops.settings import Settings


def load_settings() -> Settings:
    """The settings from the environment and ``.env``; invalid ones end the command with exit code 2.

    Their secret values are registered with :data:`liveops.redact.REDACTOR`: no log line shows them.
    """
    try:
        settings = Settings()
    except ValidationError as exc:
        typer.secho(f"Invalid settings:\n{exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    register_secrets(settings)
    return settings


def register_secrets(settings: Settings) -> None:
    """Register every secret value of ``settings`` (and the token parts of the webhook URL) for redaction."""
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            REDACTOR.add(value.get_secret_value())
    if settings.delivery_webhook_url is not None:
        REDACTOR.add(*url_secrets(settings.delivery_webhook_url.get_secret_value()))


def say(message: str) -> None:
    """Progress for a human, on stderr (stdout stays for results)."""
    typer.echo(message, err=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` in red on stderr; return the exit to raise (``raise fail(...)``)."""
    typer.secho(message, fg="red", err=True)
    return typer.Exit(code)
