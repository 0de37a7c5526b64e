"""What every command shares: loading the settings, messages on stderr, failing with an exit code.

Kept light: importing this module imports neither pydantic nor the settings (``liveops --help`` pays for
neither); :func:`load_settings` imports them when a command first needs its settings.
"""

from __future__ import annotations

import os
from datetime import date
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from pydantic import ValidationError

    from config.settings import Settings

ENV_PREFIX = "LIVEOPS_"


def _secret(variable: str) -> bool:
    return any(word in variable.lower() for word in ("password", "secret", "webhook", "token", "key"))


def describe_settings_error(exc: ValidationError) -> str:
    """One line per invalid setting, naming its ``LIVEOPS_*`` variable, the value given and what is wrong."""
    lines = []
    for error in exc.errors():
        where = [str(part) for part in error.get("loc", ()) if not isinstance(part, int)]
        variable = ENV_PREFIX + "__".join(where).upper() if where else "(settings)"
        given = error.get("input")
        shown = f" (got {given!r})" if isinstance(given, str | int | float) and not _secret(variable) else ""
        lines.append(f"  {variable}{shown}: {error.get('msg', 'invalid value')}")
    return "\n".join(lines)


def load_settings() -> Settings:
    """The settings from the environment and ``.env``; invalid ones end the command with exit code 2."""
    from pydantic import ValidationError

    from config.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        typer.secho("Invalid settings (environment or .env):\n" + describe_settings_error(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    register_secrets(settings)
    return settings


def register_secrets(settings: Settings) -> None:
    """Register every secret value of ``settings`` (and the token parts of the webhook URL) for redaction.

    After this no log record shows them (:data:`liveops.redact.REDACTOR`).
    """
    from pydantic import SecretStr

    from liveops.redact import REDACTOR, url_secrets

    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            REDACTOR.add(value.get_secret_value())
    if settings.delivery_webhook_url is not None:
        REDACTOR.add(*url_secrets(settings.delivery_webhook_url.get_secret_value()))
    if inline := settings.catalog_inline_password():
        REDACTOR.add(inline)


def say(message: str) -> None:
    """Progress for a human, on stderr (stdout stays for results)."""
    typer.echo(message, err=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` in red on stderr; return the exit to raise (``raise fail(...)``)."""
    typer.secho(message, fg="red", err=True)
    return typer.Exit(code)


def tracked_by_prefect(requested: bool) -> bool:
    """Whether an ad-hoc command runs its Prefect flow: asked for (``--prefect``, the default) AND a Prefect
    API is configured (``PREFECT_API_URL``). Otherwise the same code runs as plain functions: no temporary
    Prefect server is started for a one-off command (that costs seconds and can time out under load).
    """
    return requested and bool(os.environ.get("PREFECT_API_URL", "").strip())


PREFECT_HELP = (
    "with PREFECT_API_URL set, run as the Prefect flow `{flow}` tracked on that server; "
    "otherwise (and with --no-prefect) run directly, without a Prefect server"
)


def parse_day(value: str | date) -> date:
    """A ``YYYY-MM-DD`` option value as a date; a clear error for a malformed or non-existent date."""
    import re
    from datetime import date as date_type

    if isinstance(value, date_type):
        return value
    text = value.strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise typer.BadParameter(f"{value!r} is not a date like 2026-11-01 (YYYY-MM-DD)")
    try:
        return date_type.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"the date {text} does not exist ({exc})") from None


def day_option(help: str, flag: str = "--date") -> Any:
    """The one ``YYYY-MM-DD`` option every command that takes a day uses (``--date``; ``--from`` / ``--to``
    for a range), parsed by :func:`parse_day`."""
    return typer.Option(flag, metavar="YYYY-MM-DD", parser=parse_day, help=help, show_default=False)
