"""No secret in any log line: a log-record factory that replaces known secret values before any handler.

kafka-python logs its whole configuration at DEBUG (SASL password included), and an error message can quote
a webhook URL with its token. The CLI installs :data:`REDACTOR` once (``liveops -v`` included) and registers
the secret values of the settings it loads; every log record created from then on, by any library and for
any handler, carries its message (and traceback) with each of those values replaced by ``***``.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.parse
from typing import Any

MASK = "***"
# Shorter values would mask ordinary words of log lines; no real secret is this short.
MIN_SECRET_LENGTH = 4


def secret_forms(value: str) -> set[str]:
    """The ways a secret can appear in text: as is, as Python's ``repr`` and JSON escape it, URL-encoded."""
    forms = {value, repr(value)[1:-1], json.dumps(value)[1:-1], urllib.parse.quote(value, safe="")}
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def url_secrets(url: str) -> set[str]:
    """A webhook URL and the parts of it that can be a token: its path, each path segment, each query value."""
    found = {url}
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return found
    if parts.path not in ("", "/"):
        found.add(parts.path)
        found.update(segment for segment in parts.path.split("/") if len(segment) >= 8)
    if parts.query:
        found.add(parts.query)
        found.update(v for _, v in urllib.parse.parse_qsl(parts.query) if len(v) >= 8)
    if parts.password:
        found.add(parts.password)
    return found


class Redactor:
    """Known secret values, and the text they are masked in."""

    def __init__(self) -> None:
        self._forms: list[str] = []
        self._lock = threading.Lock()
        self._installed = False

    def add(self, *values: str | None) -> None:
        """Register secret values (None and very short values are ignored)."""
        with self._lock:
            forms = set(self._forms)
            for value in values:
                if value:
                    forms |= secret_forms(value)
            # Longest first: a secret containing another is masked whole.
            self._forms = sorted(forms, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """``text`` with every registered secret replaced by ``***``."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def install(self) -> None:
        """Wrap the log-record factory (once per process) so that every record is redacted when created."""
        with self._lock:
            if self._installed:
                return
            self._installed = True
        previous = logging.getLogRecordFactory()
        formatter = logging.Formatter()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if not self._forms:
                return record
            try:
                message = record.getMessage()
            except Exception:  # a malformed call: let logging report it as usual
                return record
            record.msg, record.args = self.redact(message), None
            if record.exc_info and not record.exc_text:
                record.exc_text = self.redact(formatter.formatException(record.exc_info))
            if record.stack_info:
                record.stack_info = self.redact(record.stack_info)
            return record

        logging.setLogRecordFactory(factory)


REDACTOR = Redactor()
