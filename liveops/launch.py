"""The ``liveops`` program's entry point: a fast path for ``liveops query``, the full command line otherwise.

The full command line (``liveops.cli``, on Typer) imports Typer and, to convert its parameters, Pydantic:
~0.1 s before any work, and as much again for the settings. ``liveops query`` is the command analysts run
again and again, often from scripts, so a plain ``liveops query SQL [--format F] [--limit N] [--raw-csv]
[--as-of X]`` with readable lake settings runs here without either: the same :func:`liveops.query.execute`
as the Typer command, with the lake's settings read by :mod:`config.lake_env`.

Everything else goes to Typer unchanged: ``--help``, global options (``-v``), an option this parser does
not know or a value it would have to reject (Typer then prints its usual usage error), and settings that
only the full settings can read. So the fast path decides nothing on its own: it either does exactly what
the Typer command would do, or hands over to it.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# The query command's options, by every spelling Typer accepts: name -> keyword of execute().
_VALUE_OPTIONS = {"--format": "output", "-f": "output", "--limit": "limit", "--as-of": "as_of"}
_FLAG_OPTIONS = {"--raw-csv": "raw_csv"}
_FORMATS = ("table", "csv", "json")


def quiet_third_parties() -> None:
    """Switch off telemetry and chatty third-party loggers for every command (set before Prefect loads).

    ``DO_NOT_TRACK`` and ``PREFECT_SERVER_ANALYTICS_ENABLED`` are only defaults: a user who sets them keeps
    their value. The ``httpx`` logger would print one ``INFO HTTP Request`` line per call to a Prefect API.
    """
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def configure_logging(verbose: bool) -> None:
    """What every command does first: quiet third parties, mask secrets in every log record, log to stderr."""
    from liveops.redact import REDACTOR

    quiet_third_parties()
    # Every log record, from any library, has the settings' secret values masked (liveops/redact.py).
    REDACTOR.install()
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    # kafka-python logs every connection at INFO; keep the terminal for our own messages.
    # Its connection errors are reported by liveops itself, with what to do about them.
    logging.getLogger("kafka").setLevel(logging.DEBUG if verbose else logging.CRITICAL)
    # Great Expectations logs its own start-up at INFO (dozens of "Skipping registering function" lines).
    logging.getLogger("great_expectations").setLevel(logging.DEBUG if verbose else logging.WARNING)


def parse_query_args(args: Sequence[str]) -> dict[str, Any] | None:
    """The keyword arguments of :func:`liveops.query.execute` for ``liveops query ARGS``, or ``None`` when
    Typer must read them (``--help``, an unknown option, a value Typer would refuse, not one SQL argument)."""
    from liveops.query import AsOfError, OutputFormat, parse_as_of

    found: dict[str, Any] = {}
    positional: list[str] = []
    rest = list(args)
    while rest:
        token = rest.pop(0)
        if token == "--":
            positional += rest
            break
        if token == "-" or not token.startswith("-"):
            positional.append(token)
            continue
        name, has_value, value = (
            token.partition("=") if token.startswith("--") else (token[:2], bool(token[2:]), token[2:])
        )
        if name in _FLAG_OPTIONS and not has_value:
            found[_FLAG_OPTIONS[name]] = True
        elif name in _VALUE_OPTIONS:
            if not has_value:
                if not rest:
                    return None
                value = rest.pop(0)
            found[_VALUE_OPTIONS[name]] = value
        else:
            return None
    if len(positional) != 1:
        return None
    if "output" in found:
        if found["output"] not in _FORMATS:
            return None
        found["output"] = OutputFormat(found["output"])
    if "limit" in found:
        limit = found["limit"]
        if not (limit.isascii() and limit.isdigit()):
            return None
        found["limit"] = int(limit)
    if "as_of" in found:
        try:
            found["snapshot"], found["at"] = parse_as_of(found.pop("as_of"))
        except AsOfError:
            return None
    return {"sql": positional[0], **found}


def _fast_query(args: Sequence[str]) -> int | None:
    """Run ``liveops query ARGS`` without Typer and Pydantic; ``None`` when the full command line must."""
    query = parse_query_args(args)
    if query is None:
        return None
    from config.lake_env import lake_from_environment

    lake = lake_from_environment()
    if lake is None:
        return None
    from liveops.query import execute
    from liveops.redact import REDACTOR
    from warehouse.conninfo import inline_password

    configure_logging(verbose=False)
    REDACTOR.add(*(s for s in (lake.catalog_password, lake.s3.secret if lake.s3 else None) if s))
    if inline := inline_password(lake.catalog):
        REDACTOR.add(inline)
    return execute(lake, **query)


def run() -> None:
    """The ``liveops`` command."""
    argv = sys.argv[1:]
    if argv[:1] == ["query"] and (code := _fast_query(argv[1:])) is not None:
        raise SystemExit(code)
    from liveops.cli import run as run_cli

    run_cli()
