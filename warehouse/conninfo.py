"""Passwords inside a catalog connection string (``postgres:… password=…``): found once, masked everywhere.

Kept apart from :mod:`warehouse.lake` so that the settings can use it without loading DuckDB.
"""

from __future__ import annotations

import re

MASK = "**********"
# The value of a libpq ``password=`` keyword: up to the next space or quote.
_PASSWORD = re.compile(r"(password=)([^\s\"']+)")


def inline_password(conninfo: str) -> str | None:
    """The password written into a connection string itself, if any."""
    found = _PASSWORD.search(conninfo)
    return found.group(2) if found else None


def mask_passwords(text: str, *secrets: str | None) -> str:
    """``text`` with every ``password=...`` of a connection string, and each of ``secrets``, masked."""
    text = _PASSWORD.sub(rf"\g<1>{MASK}", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text
