"""Delivery of a written daily report to ops staff: a chat webhook and/or e-mail over SMTP.

The only module of liveops that speaks HTTP or SMTP (stdlib ``urllib.request``, ``smtplib`` and ``email``).
It reads the three files a report run wrote (``report.html``, ``summary.md``, ``summary.json`` in
``<reports_dir>/<day>/``) and never writes nor moves them: delivery runs after the files exist, and its
failure never touches them.

Webhook formats (one JSON POST per report):

- ``feishu`` / ``lark``: custom bot, an interactive card (title header, Markdown body);
  signed with the bot's secret when one is configured (``timestamp`` + ``sign`` in the body).
- ``dingtalk``: custom robot, ``msgtype: markdown``; signed when a secret is configured
  (``timestamp`` + ``sign`` in the URL's query).
- ``wecom``: group robot, ``msgtype: markdown`` (at most 4,096 bytes: the summary is cut to fit).
- ``slack``: incoming webhook, ``text`` plus one ``section`` block in Slack's mrkdwn.
- ``json``: a plain document (``day``, ``title``, ``complete``, ``markdown``, ``html_url``/``html_path``,
  ``summary``) for any other receiver.

Every channel is tried a bounded number of times with exponential backoff; every attempt becomes a
:class:`DeliveryAttempt` (the caller records them). Nothing here raises because a delivery failed, and no
log line or attempt record carries a secret: webhook URLs (their tokens sit in the path or the query) are
shown as ``scheme://host/***`` and e-mail addresses as ``o***@example.com``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import SecretStr

log = logging.getLogger(__name__)

WebhookFormat = Literal["feishu", "lark", "dingtalk", "wecom", "slack", "json"]
WEBHOOK_FORMATS: tuple[str, ...] = get_args(WebhookFormat)

# Size limits of the platforms (bytes of UTF-8 unless noted), with room for the JSON around the text.
_BODY_LIMITS: dict[str, int] = {
    "feishu": 18_000,  # the whole request body must stay under 20 KB
    "lark": 18_000,
    "dingtalk": 18_000,  # likewise 20 KB
    "wecom": 4_000,  # markdown.content: at most 4,096 bytes
    "slack": 2_900,  # a section block's text: at most 3,000 characters (counted as bytes here: safe)
}
# Platforms that answer HTTP 200 with an error code in the body.
_ERROR_CODE_KEYS = ("code", "errcode", "StatusCode")
_USER_AGENT = "liveops-delivery/1"
_RESPONSE_LIMIT = 64 * 1024


@dataclass(frozen=True)
class ReportFiles:
    """The files one report run wrote for a day."""

    day: date
    directory: Path

    @classmethod
    def in_dir(cls, reports_dir: Path, day: date) -> ReportFiles:
        """The report of ``day`` under ``reports_dir`` (``<reports_dir>/<day>/``)."""
        return cls(day, reports_dir / day.isoformat())

    @property
    def html(self) -> Path:
        return self.directory / "report.html"

    @property
    def markdown(self) -> Path:
        return self.directory / "summary.md"

    @property
    def summary(self) -> Path:
        return self.directory / "summary.json"

    def missing(self) -> list[Path]:
        """The files delivery needs that do not exist (``summary.json`` is optional)."""
        return [p for p in (self.html, self.markdown) if not p.is_file()]


@dataclass(frozen=True)
class WebhookTarget:
    """A chat webhook. ``url`` holds the platform's token: it is never shown."""

    url: SecretStr
    format: WebhookFormat = "json"
    secret: SecretStr | None = None  # signing secret (Feishu/Lark, DingTalk); ignored by the others
    timeout_s: float = 10.0


@dataclass(frozen=True)
class SmtpTarget:
    """An SMTP relay and the report's recipients."""

    host: str
    mail_from: str
    mail_to: tuple[str, ...]
    port: int = 587
    user: str | None = None
    password: SecretStr | None = None
    starttls: bool = True
    timeout_s: float = 30.0


@dataclass(frozen=True)
class DeliveryConfig:
    """Where reports go and how hard to try.

    Attributes:
        webhook: the chat webhook (None: none).
        smtp: the e-mail relay and recipients (None: no e-mail).
        report_base_url: where ``reports_dir`` is published over HTTP(S); the link sent is
            ``<report_base_url>/<day>/report.html``. None: the local path of the file is sent instead.
        attempts: tries per channel (at least 1).
        backoff_s: wait before the second try; doubled before each further one.
    """

    webhook: WebhookTarget | None = None
    smtp: SmtpTarget | None = None
    report_base_url: str | None = None
    attempts: int = 3
    backoff_s: float = 5.0

    @property
    def enabled(self) -> bool:
        """At least one channel is configured."""
        return self.webhook is not None or self.smtp is not None


@dataclass(frozen=True)
class DeliveryAttempt:
    """One try to deliver one report over one channel (a row of the ``deliveries`` table)."""

    delivery_id: str
    day: date
    channel: str  # "webhook:<format>" or "email"
    target: str  # masked
    attempt: int
    success: bool
    error: str | None
    attempted_at: datetime


@dataclass(frozen=True)
class ReportContent:
    """What is sent: read once from the report's files."""

    day: date
    title: str
    markdown: str
    html: str
    summary: dict[str, Any] | None
    link: str  # URL of the HTML report, or its local path
    link_is_url: bool

    @property
    def complete(self) -> bool | None:
        value = (self.summary or {}).get("complete")
        return value if isinstance(value, bool) else None

    def link_line(self) -> str:
        """The Markdown line pointing at the full HTML report."""
        if self.link_is_url:
            return f"[Full report (HTML)]({self.link})"
        return f"Full report (HTML): `{self.link}`"


class DeliveryError(RuntimeError):
    """One attempt failed. ``retry`` says whether another attempt can help."""

    def __init__(self, message: str, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


# ---------------------------------------------------------------------------------------------------------
# Reading the report
# ---------------------------------------------------------------------------------------------------------


def read_report(files: ReportFiles, report_base_url: str | None = None) -> ReportContent:
    """Read what delivery sends from the report's files.

    Raises:
        FileNotFoundError: ``report.html`` or ``summary.md`` is missing.
    """
    missing = files.missing()
    if missing:
        raise FileNotFoundError(f"report of {files.day} incomplete: missing {', '.join(str(p) for p in missing)}")
    markdown = files.markdown.read_text(encoding="utf-8")
    summary: dict[str, Any] | None = None
    if files.summary.is_file():
        try:
            loaded = json.loads(files.summary.read_text(encoding="utf-8"))
            summary = loaded if isinstance(loaded, dict) else None
        except json.JSONDecodeError:
            log.warning("summary.json of %s is not valid JSON; delivering without it", files.day)
    if report_base_url:
        link, is_url = f"{report_base_url.rstrip('/')}/{files.day.isoformat()}/report.html", True
    else:
        link, is_url = str(files.html.resolve()), False
    return ReportContent(
        day=files.day,
        title=_title(markdown, files.day, summary),
        markdown=markdown,
        html=files.html.read_text(encoding="utf-8"),
        summary=summary,
        link=link,
        link_is_url=is_url,
    )


def _title(markdown: str, day: date, summary: dict[str, Any] | None) -> str:
    """The summary's first heading, else a fixed title; marked when the day is incomplete."""
    title = f"liveops daily report {day.isoformat()}"
    for line in markdown.splitlines():
        match = re.match(r"#{1,6}\s+(.+?)\s*#*\s*$", line)
        if match:
            title = match.group(1).strip()
            break
    if summary is not None and summary.get("complete") is False and "incomplete" not in title.lower():
        title += " (incomplete)"
    return title


# ---------------------------------------------------------------------------------------------------------
# Webhook payloads
# ---------------------------------------------------------------------------------------------------------


def _cut(text: str, limit: int, tail: str) -> str:
    """``text`` cut at a line boundary so that it plus ``tail`` fits in ``limit`` UTF-8 bytes."""
    if len((text + tail).encode("utf-8")) <= limit:
        return text + tail
    marker = "\n\n… (cut to fit; see the full report)"
    budget = limit - len((tail + marker).encode("utf-8"))
    kept: list[str] = []
    used = 0
    for line in text.splitlines(keepends=True):
        size = len(line.encode("utf-8"))
        if used + size > budget:
            break
        kept.append(line)
        used += size
    return "".join(kept).rstrip() + marker + tail


def _body_text(content: ReportContent, fmt: str) -> str:
    """The Markdown summary with the link to the full report, cut to the platform's size limit."""
    tail = "\n\n" + content.link_line() + "\n"
    text = content.markdown.rstrip()
    limit = _BODY_LIMITS.get(fmt)
    return text + tail if limit is None else _cut(text, limit, tail)


def to_slack_mrkdwn(markdown: str) -> str:
    """Markdown -> Slack mrkdwn: headings and ``**bold**`` to ``*bold*``, links to ``<url|text>``, tables
    kept as preformatted text."""
    out: list[str] = []
    in_table = False
    for line in markdown.splitlines():
        is_table = line.lstrip().startswith("|")
        if is_table != in_table:
            out.append("```")
            in_table = is_table
        if not is_table:
            heading = re.match(r"#{1,6}\s+(.+?)\s*#*\s*$", line)
            if heading:
                line = "*" + re.sub(r"\*\*(.+?)\*\*", r"\1", heading.group(1)) + "*"
            line = re.sub(r"\*\*(.+?)\*\*", r"*\1*", line)
            line = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r"<\2|\1>", line)
        out.append(line)
    if in_table:
        out.append("```")
    return "\n".join(out)


def _feishu_sign(secret: str, timestamp: int) -> str:
    # Feishu/Lark: HMAC-SHA256 keyed with "timestamp\nsecret" over an empty message, base64.
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def _dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    # DingTalk: HMAC-SHA256 keyed with the secret over "timestamp\nsecret", base64 (URL-encoded by the caller).
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def webhook_request(
    content: ReportContent, target: WebhookTarget, now: datetime | None = None
) -> tuple[str, dict[str, Any]]:
    """The URL to POST to and the JSON document for ``target``'s platform.

    Args:
        content: the report.
        target: the webhook (its ``format`` decides the document's shape).
        now: the signing time (default: now).
    """
    fmt = target.format
    url = target.url.get_secret_value()
    now = now or datetime.now(UTC)
    secret = target.secret.get_secret_value() if target.secret is not None else None
    text = _body_text(content, fmt)
    doc: dict[str, Any]
    if fmt in ("feishu", "lark"):
        doc = {
            "msg_type": "interactive",
            "card": {
                "config": {"wide_screen_mode": True},
                "header": {
                    "title": {"tag": "plain_text", "content": content.title},
                    "template": "orange" if content.complete is False else "blue",
                },
                "elements": [{"tag": "markdown", "content": text}],
            },
        }
        if secret:
            timestamp = int(now.timestamp())
            doc["timestamp"] = str(timestamp)
            doc["sign"] = _feishu_sign(secret, timestamp)
    elif fmt == "dingtalk":
        # DingTalk shows `title` in the notification and the chat list; the body is the Markdown.
        doc = {"msgtype": "markdown", "markdown": {"title": content.title, "text": text}}
        if secret:
            timestamp_ms = int(now.timestamp() * 1000)
            query = urllib.parse.urlencode({"timestamp": timestamp_ms, "sign": _dingtalk_sign(secret, timestamp_ms)})
            url += ("&" if urllib.parse.urlsplit(url).query else "?") + query
    elif fmt == "wecom":
        doc = {"msgtype": "markdown", "markdown": {"content": text}}
    elif fmt == "slack":
        mrkdwn = to_slack_mrkdwn(text)
        doc = {
            "text": content.title,
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": content.title[:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}},
            ],
        }
    elif fmt == "json":
        doc = {
            "day": content.day.isoformat(),
            "title": content.title,
            "complete": content.complete,
            "markdown": content.markdown,
            "html_url" if content.link_is_url else "html_path": content.link,
            "summary": content.summary,
        }
    else:  # pragma: no cover - settings restrict the format
        raise ValueError(f"unknown webhook format {fmt!r}; one of {', '.join(WEBHOOK_FORMATS)}")
    return url, doc


# ---------------------------------------------------------------------------------------------------------
# Sending
# ---------------------------------------------------------------------------------------------------------


def mask_url(url: str) -> str:
    """``scheme://host[:port]/***``: webhook tokens live in the path or the query, so both are hidden."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "***"
    hidden = "/***" if (parts.path not in ("", "/") or parts.query) else ""
    return f"{parts.scheme or '?'}://{host}{port}{hidden}"


def mask_address(address: str) -> str:
    """``ops@example.com`` -> ``o***@example.com``."""
    local, at, domain = address.partition("@")
    return f"{local[:1]}***{at}{domain}" if at else "***"


def url_token_parts(url: str) -> list[str]:
    """What of a webhook URL can hold its token: the URL, its path and query, each long path segment and
    query value, and a password in it."""
    parts = [url]
    try:
        split = urllib.parse.urlsplit(url)
        password = split.password
    except ValueError:
        return parts
    if split.path not in ("", "/"):
        parts.append(split.path)
        parts += [segment for segment in split.path.split("/") if len(segment) >= 8]
    if split.query:
        parts.append(split.query)
        parts += [value for _, value in urllib.parse.parse_qsl(split.query) if len(value) >= 8]
    if password:
        parts.append(password)
    return parts


def _scrub(message: str, secrets: list[str]) -> str:
    """``message`` with every secret masked: as is, URL-encoded, or escaped as JSON or Python would; cut to
    500 characters (after masking, so no part of a secret is left at the cut)."""
    forms = set()
    for secret in secrets:
        if secret and len(secret) >= 4:
            forms |= {secret, urllib.parse.quote(secret, safe=""), json.dumps(secret)[1:-1], repr(secret)[1:-1]}
    for form in sorted(forms, key=len, reverse=True):
        if len(form) >= 4:
            message = message.replace(form, "***")
    return message[:500]


def _check_response(fmt: str, status: int, body: bytes) -> None:
    """Raise :class:`DeliveryError` when the platform says the message was not accepted."""
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status}", retry=status >= 500 or status in (408, 429))
    if fmt == "slack" or not body.strip():
        return
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return  # a 2xx without JSON: accepted
    if isinstance(doc, dict):
        for key in _ERROR_CODE_KEYS:
            code = doc.get(key)
            if isinstance(code, int) and code != 0:
                detail = doc.get("msg") or doc.get("errmsg") or doc.get("StatusMessage") or ""
                raise DeliveryError(f"{key}={code} {str(detail)[:200]}".strip())


def send_webhook(content: ReportContent, target: WebhookTarget) -> None:
    """POST the report to the webhook once.

    Raises:
        DeliveryError: the request failed or the platform refused the message.
    """
    url, doc = webhook_request(content, target)
    data = json.dumps(doc, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": _USER_AGENT},
    )
    secrets = [*url_token_parts(target.url.get_secret_value()), *url_token_parts(url)]
    if target.secret is not None:
        secrets.append(target.secret.get_secret_value())
    try:
        with urllib.request.urlopen(request, timeout=target.timeout_s) as response:
            status, body = response.status, response.read(_RESPONSE_LIMIT)
    except urllib.error.HTTPError as exc:
        with exc:
            detail = exc.read(200).decode("utf-8", "replace").strip()
        raise DeliveryError(
            _scrub(f"HTTP {exc.code} {detail}".strip(), secrets), retry=exc.code >= 500 or exc.code in (408, 429)
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise DeliveryError(_scrub(f"{type(exc).__name__}: {reason}", secrets)) from None
    try:
        _check_response(target.format, status, body)
    except DeliveryError as exc:  # the platform's message can quote the token back
        raise DeliveryError(_scrub(str(exc), secrets), retry=exc.retry) from None


def email_message(content: ReportContent, target: SmtpTarget) -> EmailMessage:
    """The report as an e-mail: the Markdown summary as the text part, the HTML report as the HTML part."""
    message = EmailMessage()
    message["Subject"] = content.title
    message["From"] = target.mail_from
    message["To"] = ", ".join(target.mail_to)
    message["Date"] = formatdate(usegmt=True)
    domain = target.mail_from.partition("@")[2] or None
    message["Message-ID"] = make_msgid("liveops-report", domain=domain)
    message.set_content(content.markdown.rstrip() + "\n\n" + content.link_line() + "\n", charset="utf-8")
    message.add_alternative(content.html, subtype="html", charset="utf-8")
    return message


def send_email(content: ReportContent, target: SmtpTarget) -> None:
    """Send the report once over SMTP (STARTTLS and login when configured).

    Raises:
        DeliveryError: the relay could not be reached or refused the message.
    """
    message = email_message(content, target)
    password = target.password.get_secret_value() if target.password is not None else ""
    try:
        with smtplib.SMTP(target.host, target.port, timeout=target.timeout_s) as smtp:
            smtp.ehlo()
            if target.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if target.user:
                smtp.login(target.user, password)
            refused = smtp.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"SMTP authentication failed ({exc.smtp_code})", retry=False) from None
    except smtplib.SMTPRecipientsRefused as exc:
        refused_all = ", ".join(mask_address(a) for a in exc.recipients)
        raise DeliveryError(f"every recipient refused: {refused_all}", retry=False) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(_scrub(f"{type(exc).__name__}: {exc}", [password])) from None
    if refused:
        # Accepted for the others: resending would duplicate their copy, so this counts as delivered.
        log.warning("e-mail of %s refused for %s", content.day, ", ".join(mask_address(a) for a in refused))


def _try(
    send: Callable[[], None],
    make: Callable[[int, bool, str | None], DeliveryAttempt],
    attempts: int,
    backoff_s: float,
    sleep: Callable[[float], None],
) -> list[DeliveryAttempt]:
    """Up to ``attempts`` tries of ``send`` with exponential backoff; one record per try."""
    records: list[DeliveryAttempt] = []
    for number in range(1, max(1, attempts) + 1):
        try:
            send()
        except DeliveryError as exc:
            record = make(number, False, str(exc))
            records.append(record)
            last = number >= attempts or not exc.retry
            log.warning(
                "delivery of %s via %s to %s failed (attempt %d/%d): %s%s",
                record.day,
                record.channel,
                record.target,
                number,
                attempts,
                exc,
                "" if last else f"; retrying in {backoff_s * 2 ** (number - 1):.0f} s",
            )
            if last:
                break
            sleep(backoff_s * 2 ** (number - 1))
        else:
            record = make(number, True, None)
            records.append(record)
            log.info("delivered the report of %s via %s to %s", record.day, record.channel, record.target)
            break
    return records


def deliver_report(
    files: ReportFiles,
    config: DeliveryConfig,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> list[DeliveryAttempt]:
    """Deliver a written report over every configured channel; never raises for a failed delivery.

    Args:
        files: the report (written before: its files are only read).
        config: the channels and the retry policy.
        sleep: how to wait between tries (tests pass a no-op).

    Returns:
        Every attempt, in order (empty when no channel is configured).

    Raises:
        FileNotFoundError: the report's files are missing (nothing to deliver).
    """
    if not config.enabled:
        return []
    content = read_report(files, config.report_base_url)
    delivery_id = uuid.uuid4().hex
    records: list[DeliveryAttempt] = []

    def maker(channel: str, target: str) -> Callable[[int, bool, str | None], DeliveryAttempt]:
        def make(attempt: int, success: bool, error: str | None) -> DeliveryAttempt:
            return DeliveryAttempt(delivery_id, files.day, channel, target, attempt, success, error, datetime.now(UTC))

        return make

    if config.webhook is not None:
        webhook = config.webhook
        records += _try(
            lambda: send_webhook(content, webhook),
            maker(f"webhook:{webhook.format}", mask_url(webhook.url.get_secret_value())),
            config.attempts,
            config.backoff_s,
            sleep,
        )
    if config.smtp is not None:
        smtp = config.smtp
        shown = f"smtp://{smtp.host}:{smtp.port} -> {', '.join(mask_address(a) for a in smtp.mail_to)}"
        records += _try(
            lambda: send_email(content, smtp), maker("email", shown), config.attempts, config.backoff_s, sleep
        )
    return records


@dataclass
class DeliverySummary:
    """Per channel: delivered or not, after how many attempts."""

    outcomes: dict[str, tuple[bool, int]] = field(default_factory=dict)

    @classmethod
    def of(cls, attempts: list[DeliveryAttempt]) -> DeliverySummary:
        summary = cls()
        for a in attempts:
            ok, _ = summary.outcomes.get(a.channel, (False, 0))
            summary.outcomes[a.channel] = (ok or a.success, a.attempt)
        return summary

    @property
    def failed(self) -> list[str]:
        return [channel for channel, (ok, _) in self.outcomes.items() if not ok]

    def line(self) -> str:
        if not self.outcomes:
            return "no delivery channel configured"
        return ", ".join(
            f"{channel}: {'delivered' if ok else 'FAILED'} after {n} attempt(s)"
            for channel, (ok, n) in self.outcomes.items()
        )
