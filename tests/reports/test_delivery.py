"""Delivery of a written report: a real HTTP server and a real (tiny) SMTP server on 127.0.0.1.

Each test writes a report's three files by hand, delivers them with ``flows.deliver.deliver_and_record``
(the code the scheduled flow, ``liveops deliver`` and ``liveops backfill --deliver`` run) and checks what the
servers received, the ``deliveries`` rows, and that the report's files are untouched.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import json
import socketserver
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from config.settings import Settings
from flows.deliver import deliver_and_record
from reports.delivery import (
    ReportContent,
    WebhookTarget,
    mask_address,
    mask_url,
    to_slack_mrkdwn,
    webhook_request,
)
from streams.broker import free_port
from warehouse.lake import open_lake

DAY = date(2026, 11, 1)
TOKEN = "tok-5ecret-abcdef"
MARKDOWN = """# liveops daily report 2026-11-01

**DAU** 1,204 (+3.1 %) · 观看时长 5,321 h · PCU 312

| metric | value |
|---|---|
| sessions | 2,411 |

See [the dashboard](https://example.com/dash).
"""
HTML = "<!doctype html><html><body><h1>liveops daily report 2026-11-01</h1><p>观看时长</p></body></html>"
SUMMARY = {"date": "2026-11-01", "timezone": "UTC", "complete": True, "headline": {"dau": 1204}}


def no_sleep(seconds: float) -> None:
    """Backoff without waiting (the attempts and their count are what the tests check)."""


# ---------------------------------------------------------------------------------------------------------
# A webhook receiver
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookServer:
    """A real HTTP server recording every POST; answers with ``status`` and ``reply``."""

    port: int
    received: list[Received] = field(default_factory=list)
    status: int = 200
    reply: bytes = b'{"code": 0, "msg": "success"}'
    # When set: the reply is this template with {path} (the request's path and query, as received),
    # {token} (its last path segment or query value) and {quoted} ({path} URL-encoded) filled in: a server
    # that quotes the token back in its error.
    echo: str | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def webhook() -> Iterator[WebhookServer]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            parts = urllib.parse.urlsplit(self.path)
            state.received.append(
                Received(parts.path, urllib.parse.parse_qs(parts.query), dict(self.headers.items()), body)
            )
            reply = state.reply
            if state.echo is not None:
                token = (list(urllib.parse.parse_qs(parts.query).values()) or [[parts.path.rsplit("/", 1)[-1]]])[0][0]
                quoted = urllib.parse.quote(self.path, safe="")
                reply = state.echo.format(path=self.path, token=token, quoted=quoted).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:  # keep pytest's output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = WebhookServer(port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ---------------------------------------------------------------------------------------------------------
# A tiny SMTP server: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT
# ---------------------------------------------------------------------------------------------------------


@dataclass
class SmtpServer:
    port: int
    user: str = "reports"
    password: str = "pa55-word"
    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)


class _SmtpHandler(socketserver.StreamRequestHandler):
    state: SmtpServer

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 127.0.0.1 liveops test SMTP")
        sender, recipients = "", []
        while line := self.rfile.readline():
            command = line.decode("utf-8", "replace").rstrip("\r\n")
            verb, _, argument = command.partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                self.wfile.write(b"250-127.0.0.1\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n")
            elif verb == "HELO":
                self.reply("250 127.0.0.1")
            elif verb == "AUTH":
                _, _, initial = argument.partition(" ")
                _, user, password = base64.b64decode(initial).decode().split("\0")
                ok = (user, password) == (self.state.user, self.state.password)
                if ok:
                    self.state.logins.append(user)
                self.reply("235 2.7.0 accepted" if ok else "535 5.7.8 bad credentials")
            elif verb == "MAIL":
                sender, recipients = argument.split(":", 1)[1].strip().split()[0].strip("<>"), []
                self.reply("250 OK")
            elif verb == "RCPT":
                recipients.append(argument.split(":", 1)[1].strip().strip("<>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                data = bytearray()
                while (chunk := self.rfile.readline()) != b".\r\n":
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                self.state.messages.append((sender, recipients, bytes(data)))
                self.reply("250 OK queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", 0), _SmtpHandler)
    state = SmtpServer(port=server.server_address[1])
    _SmtpHandler.state = state
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ---------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------


def write_report(reports_dir: Path, day: date = DAY) -> dict[Path, bytes]:
    """Write a report's three files; return their bytes (to check they are never touched)."""
    folder = reports_dir / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.html").write_text(HTML, encoding="utf-8")
    (folder / "summary.md").write_text(MARKDOWN, encoding="utf-8")
    (folder / "summary.json").write_text(json.dumps(SUMMARY), encoding="utf-8")
    return {p: p.read_bytes() for p in folder.iterdir()}


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "lake_catalog": f"sqlite:{tmp_path / 'lake' / 'catalog.sqlite'}",
        "lake_data_path": f"{tmp_path / 'lake' / 'files'}/",
        "reports_dir": tmp_path / "reports",
        "kafka_home": tmp_path / "unused-kafka-home",
        "delivery_attempts": 3,
    }
    return Settings(**(values | overrides))


def deliveries(settings: Settings) -> list[dict[str, Any]]:
    with open_lake(settings.lake, read_only=True) as con:
        cursor = con.execute("SELECT * FROM deliveries ORDER BY attempted_at, attempt")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def content(
    markdown: str = MARKDOWN, link: str = "https://reports.example.com/2026-11-01/report.html"
) -> ReportContent:
    return ReportContent(DAY, "liveops daily report 2026-11-01", markdown, HTML, SUMMARY, link, link_is_url=True)


LINK = "https://reports.example.com/daily/2026-11-01/report.html"
PATHS = {
    "feishu": f"/open-apis/bot/v2/hook/{TOKEN}",
    "lark": f"/open-apis/bot/v2/hook/{TOKEN}",
    "dingtalk": f"/robot/send?access_token={TOKEN}",
    "wecom": f"/cgi-bin/webhook/send?key={TOKEN}",
    "slack": f"/services/T000/B000/{TOKEN}",
    "json": f"/hooks/liveops/{TOKEN}",
}
REPLIES = {
    "feishu": b'{"code": 0, "msg": "success", "data": {}}',
    "lark": b'{"code": 0, "msg": "success", "data": {}}',
    "dingtalk": b'{"errcode": 0, "errmsg": "ok"}',
    "wecom": b'{"errcode": 0, "errmsg": "ok"}',
    "slack": b"ok",
    "json": b"",
}


def check_shape(fmt: str, request: Received) -> None:
    """The JSON document each platform expects."""
    doc = request.json()
    if fmt in ("feishu", "lark"):
        assert doc["msg_type"] == "interactive"
        assert doc["card"]["header"]["title"] == {"tag": "plain_text", "content": "liveops daily report 2026-11-01"}
        (element,) = doc["card"]["elements"]
        assert element["tag"] == "markdown"
        assert "**DAU** 1,204" in element["content"]
        assert element["content"].rstrip().endswith(f"[Full report (HTML)]({LINK})")
        assert "sign" not in doc
    elif fmt == "dingtalk":
        assert doc == {
            "msgtype": "markdown",
            "markdown": {"title": "liveops daily report 2026-11-01", "text": doc["markdown"]["text"]},
        }
        assert "观看时长" in doc["markdown"]["text"] and LINK in doc["markdown"]["text"]
    elif fmt == "wecom":
        assert doc["msgtype"] == "markdown"
        assert set(doc["markdown"]) == {"content"}
        assert len(doc["markdown"]["content"].encode()) <= 4096
        assert LINK in doc["markdown"]["content"]
    elif fmt == "slack":
        assert doc["text"] == "liveops daily report 2026-11-01"
        header, section = doc["blocks"]
        assert header["type"] == "header"
        assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
        assert "*DAU* 1,204" in section["text"]["text"]
        assert f"<{LINK}|Full report (HTML)>" in section["text"]["text"]
        assert "```" in section["text"]["text"]  # the table, preformatted
    else:
        assert doc == {
            "day": "2026-11-01", "title": "liveops daily report 2026-11-01", "complete": True,
            "markdown": MARKDOWN, "html_url": LINK, "summary": SUMMARY,
        }  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# Webhooks
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["feishu", "lark", "dingtalk", "wecom", "slack", "json"])
def test_webhook_receives_exactly_one_delivery_in_the_platform_shape(
    tmp_path: Path, webhook: WebhookServer, fmt: str
) -> None:
    files = write_report(tmp_path / "reports")
    webhook.reply = REPLIES[fmt]
    settings = make_settings(
        tmp_path,
        delivery_webhook_url=webhook.url(PATHS[fmt]),
        delivery_webhook_format=fmt,
        report_base_url="https://reports.example.com/daily/",
    )

    attempts = deliver_and_record(settings, DAY, sleep=no_sleep)

    assert len(webhook.received) == 1
    request = webhook.received[0]
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    check_shape(fmt, request)
    assert [(a.attempt, a.success) for a in attempts] == [(1, True)]
    (row,) = deliveries(settings)
    assert row["day"] == DAY and row["channel"] == f"webhook:{fmt}" and row["success"] and row["error"] is None
    assert row["target"] == f"http://127.0.0.1:{webhook.port}/***"
    assert {p: p.read_bytes() for p in files} == files


def test_signed_feishu_and_dingtalk_requests_carry_a_valid_signature(tmp_path: Path, webhook: WebhookServer) -> None:
    write_report(tmp_path / "reports")
    secret = "SEC-signing-secret"
    webhook.reply = REPLIES["feishu"]
    feishu = make_settings(
        tmp_path, delivery_webhook_url=webhook.url(PATHS["feishu"]), delivery_webhook_format="feishu",
        delivery_webhook_secret=secret,
    )  # fmt: skip
    deliver_and_record(feishu, DAY, sleep=no_sleep)
    doc = webhook.received[-1].json()
    key = f"{doc['timestamp']}\n{secret}".encode()
    assert doc["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()

    webhook.reply = REPLIES["dingtalk"]
    dingtalk = make_settings(
        tmp_path, delivery_webhook_url=webhook.url(PATHS["dingtalk"]), delivery_webhook_format="dingtalk",
        delivery_webhook_secret=secret,
    )  # fmt: skip
    deliver_and_record(dingtalk, DAY, sleep=no_sleep)
    query = webhook.received[-1].query
    assert query["access_token"] == [TOKEN]
    digest = hmac.new(secret.encode(), f"{query['timestamp'][0]}\n{secret}".encode(), hashlib.sha256).digest()
    assert query["sign"] == [base64.b64encode(digest).decode()]
    assert all(r["success"] for r in deliveries(dingtalk))


def test_rerun_delivers_again(tmp_path: Path, webhook: WebhookServer) -> None:
    """Delivery is not deduplicated: each run of a report sends it (documented in docs/operations.md)."""
    write_report(tmp_path / "reports")
    settings = make_settings(tmp_path, delivery_webhook_url=webhook.url(PATHS["json"]), delivery_webhook_format="json")
    deliver_and_record(settings, DAY, sleep=no_sleep)
    deliver_and_record(settings, DAY, sleep=no_sleep)
    assert len(webhook.received) == 2
    rows = deliveries(settings)
    assert len(rows) == 2 and len({r["delivery_id"] for r in rows}) == 2


def test_without_the_html_link_the_local_path_is_sent(tmp_path: Path, webhook: WebhookServer) -> None:
    write_report(tmp_path / "reports")
    settings = make_settings(tmp_path, delivery_webhook_url=webhook.url(PATHS["json"]), delivery_webhook_format="json")
    deliver_and_record(settings, DAY, sleep=no_sleep)
    doc = webhook.received[0].json()
    assert doc["html_path"] == str((tmp_path / "reports" / "2026-11-01" / "report.html").resolve())
    assert "html_url" not in doc


def test_http_500_is_retried_then_recorded_and_the_report_stays(tmp_path: Path, webhook: WebhookServer) -> None:
    files = write_report(tmp_path / "reports")
    webhook.status, webhook.reply = 500, b"upstream down"
    settings = make_settings(
        tmp_path, delivery_webhook_url=webhook.url(PATHS["wecom"]), delivery_webhook_format="wecom"
    )

    attempts = deliver_and_record(settings, DAY, sleep=no_sleep)

    assert len(webhook.received) == 3  # delivery_attempts
    assert [a.success for a in attempts] == [False, False, False]
    rows = deliveries(settings)
    assert [(r["attempt"], r["success"]) for r in rows] == [(1, False), (2, False), (3, False)]
    assert all(r["error"].startswith("HTTP 500") for r in rows)
    assert {p: p.read_bytes() for p in files} == files


def test_connection_refused_is_recorded_without_the_token(tmp_path: Path) -> None:
    files = write_report(tmp_path / "reports")
    port = free_port()  # nothing listens there
    settings = make_settings(
        tmp_path, delivery_webhook_url=f"http://127.0.0.1:{port}/robot/send?access_token={TOKEN}",
        delivery_webhook_format="dingtalk", delivery_attempts=2,
    )  # fmt: skip

    attempts = deliver_and_record(settings, DAY, sleep=no_sleep)

    assert [a.success for a in attempts] == [False, False]
    rows = deliveries(settings)
    assert len(rows) == 2 and not any(r["success"] for r in rows)
    assert "refused" in rows[0]["error"].lower()
    assert all(TOKEN not in str(value) for r in rows for value in r.values())
    assert {p: p.read_bytes() for p in files} == files


def test_an_error_code_in_a_200_answer_is_a_failure(tmp_path: Path, webhook: WebhookServer) -> None:
    write_report(tmp_path / "reports")
    webhook.reply = b'{"errcode": 310000, "errmsg": "keywords not in content"}'
    settings = make_settings(
        tmp_path, delivery_webhook_url=webhook.url(PATHS["dingtalk"]), delivery_webhook_format="dingtalk",
        delivery_attempts=1,
    )  # fmt: skip
    deliver_and_record(settings, DAY, sleep=no_sleep)
    (row,) = deliveries(settings)
    assert not row["success"] and row["error"] == "errcode=310000 keywords not in content"


@pytest.mark.parametrize(
    ("fmt", "status", "echo"),
    [
        ("json", 403, "forbidden: no hook at {path}"),
        ("slack", 404, "invalid_token {token}"),
        ("wecom", 200, '{{"errcode": 93000, "errmsg": "invalid webhook url, key={token}"}}'),
        ("dingtalk", 200, '{{"errcode": 300001, "errmsg": "token is not exist: {token}"}}'),
        ("feishu", 400, '{{"code": 19001, "msg": "param invalid: incoming webhook access token invalid {quoted}"}}'),
    ],
)
def test_a_token_the_server_echoes_is_neither_stored_nor_shown(
    tmp_path: Path, webhook: WebhookServer, fmt: str, status: int, echo: str
) -> None:
    from liveops.ops_cmd import collect_status, format_status

    write_report(tmp_path / "reports")
    webhook.status, webhook.echo = status, echo
    settings = make_settings(
        tmp_path, delivery_webhook_url=webhook.url(PATHS[fmt]), delivery_webhook_format=fmt, delivery_attempts=1,
        bootstrap_servers=f"127.0.0.1:{free_port()}",
    )  # fmt: skip
    deliver_and_record(settings, DAY, sleep=no_sleep)
    # The server did quote the token back.
    assert TOKEN in urllib.parse.unquote(echo.format(path=webhook.received[0].path, token=TOKEN, quoted=TOKEN))
    (row,) = deliveries(settings)
    assert not row["success"] and row["error"]
    assert "***" in row["error"]
    assert all(TOKEN not in str(value) and urllib.parse.quote(TOKEN) not in str(value) for value in row.values())

    shown = collect_status(settings)
    assert shown["warehouse"]["last_delivery"]["error"] == row["error"]
    assert TOKEN not in json.dumps(shown) and TOKEN not in format_status(shown)


def test_a_4xx_answer_is_not_retried(tmp_path: Path, webhook: WebhookServer) -> None:
    write_report(tmp_path / "reports")
    webhook.status, webhook.reply = 404, b"no_service"
    settings = make_settings(
        tmp_path, delivery_webhook_url=webhook.url(PATHS["slack"]), delivery_webhook_format="slack"
    )
    deliver_and_record(settings, DAY, sleep=no_sleep)
    assert len(webhook.received) == 1
    (row,) = deliveries(settings)
    assert row["error"] == "HTTP 404 no_service"


def test_no_report_files_nothing_delivered(tmp_path: Path, webhook: WebhookServer) -> None:
    settings = make_settings(tmp_path, delivery_webhook_url=webhook.url(PATHS["json"]), delivery_webhook_format="json")
    assert deliver_and_record(settings, DAY, sleep=no_sleep) == []
    assert webhook.received == []


def test_no_channel_configured_nothing_delivered(tmp_path: Path) -> None:
    write_report(tmp_path / "reports")
    assert deliver_and_record(make_settings(tmp_path), DAY, sleep=no_sleep) == []
    assert not (tmp_path / "lake").exists()


# ---------------------------------------------------------------------------------------------------------
# E-mail
# ---------------------------------------------------------------------------------------------------------


def test_email_sends_html_with_the_markdown_as_text_part(tmp_path: Path, smtp: SmtpServer) -> None:
    files = write_report(tmp_path / "reports")
    settings = make_settings(
        tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False, smtp_user=smtp.user,
        smtp_password=smtp.password, mail_from="liveops@example.com", mail_to="ops@example.com, lead@example.com",
    )  # fmt: skip

    attempts = deliver_and_record(settings, DAY, sleep=no_sleep)

    assert [(a.channel, a.success) for a in attempts] == [("email", True)]
    assert smtp.logins == [smtp.user]
    (sender, recipients, data) = smtp.messages[0]
    assert len(smtp.messages) == 1
    assert sender == "liveops@example.com" and recipients == ["ops@example.com", "lead@example.com"]
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == "liveops daily report 2026-11-01"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    # SMTP carries CRLF line ends.
    assert text.get_content().replace("\r\n", "\n").startswith(MARKDOWN.rstrip())
    assert html.get_content().strip() == HTML
    (row,) = deliveries(settings)
    assert row["target"] == f"smtp://127.0.0.1:{smtp.port} -> o***@example.com, l***@example.com"
    assert {p: p.read_bytes() for p in files} == files


def test_email_bad_password_fails_once_and_is_recorded(tmp_path: Path, smtp: SmtpServer) -> None:
    files = write_report(tmp_path / "reports")
    settings = make_settings(
        tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False, smtp_user=smtp.user,
        smtp_password="wrong-password", mail_to="ops@example.com",
    )  # fmt: skip
    attempts = deliver_and_record(settings, DAY, sleep=no_sleep)
    assert [(a.attempt, a.success) for a in attempts] == [(1, False)]  # credentials do not get better by retrying
    (row,) = deliveries(settings)
    assert row["error"] == "SMTP authentication failed (535)" and "wrong-password" not in str(row)
    assert smtp.messages == []
    assert {p: p.read_bytes() for p in files} == files


def test_webhook_and_email_fail_independently(tmp_path: Path, webhook: WebhookServer) -> None:
    write_report(tmp_path / "reports")
    settings = make_settings(
        tmp_path, delivery_webhook_url=webhook.url(PATHS["json"]), delivery_webhook_format="json",
        smtp_host="127.0.0.1", smtp_port=free_port(), smtp_starttls=False, mail_to="ops@example.com",
        delivery_attempts=2,
    )  # fmt: skip
    deliver_and_record(settings, DAY, sleep=no_sleep)
    rows = deliveries(settings)
    assert [(r["channel"], r["success"]) for r in rows] == [("webhook:json", True), ("email", False), ("email", False)]


# ---------------------------------------------------------------------------------------------------------
# Pieces
# ---------------------------------------------------------------------------------------------------------


def test_wecom_summary_is_cut_to_4096_bytes_and_keeps_the_link() -> None:
    long = "# Report\n\n" + "".join(f"- 频道 {n}: 观看 {n * 7} 小时\n" for n in range(2000))
    target = WebhookTarget(SecretStr("http://127.0.0.1:1/x?key=k"), "wecom")
    _, doc = webhook_request(content(long), target)
    text = doc["markdown"]["content"]
    assert len(text.encode()) <= 4096
    assert "cut to fit" in text
    assert text.rstrip().endswith("[Full report (HTML)](https://reports.example.com/2026-11-01/report.html)")


def test_masking() -> None:
    assert mask_url(f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}") == "https://oapi.dingtalk.com/***"
    assert mask_url("https://hooks.slack.com/services/T/B/x") == "https://hooks.slack.com/***"
    assert mask_address("ops@example.com") == "o***@example.com"
    masked = make_settings(Path("/tmp"), delivery_webhook_url=f"https://x.test/{TOKEN}", smtp_password="pw").masked()
    assert TOKEN not in json.dumps(masked) and '"pw"' not in json.dumps(masked)


def test_slack_mrkdwn() -> None:
    assert to_slack_mrkdwn("## Top **channels**\n[a](https://x/y)") == "*Top channels*\n<https://x/y|a>"
