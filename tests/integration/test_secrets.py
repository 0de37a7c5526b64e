"""No secret in any output at any log level: ``liveops -v`` run for real, in a subprocess.

kafka-python logs its whole configuration at DEBUG, SASL password included; the CLI's log-record factory
(liveops/redact.py) masks every secret value of the settings in every record.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from liveops.redact import Redactor, secret_forms
from streams.broker import free_port

# A backslash and both quotes: Python's repr and JSON escape it, so the masking must know those forms too.
PASSWORD = "hunter2\\s3cr3t'\"pw"
TOKEN = "tok-5ecret-abcdef"
CATALOG_PASSWORD = "pg-cat4log-pw"


def run_cli(tmp_path: Path, *args: str, catalog: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LIVEOPS_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",  # nothing listens: kafka-python retries, logs
        "LIVEOPS_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "LIVEOPS_SASL_MECHANISM": "PLAIN",
        "LIVEOPS_SASL_USERNAME": "reporter",
        "LIVEOPS_SASL_PASSWORD": PASSWORD,
        "LIVEOPS_DELIVERY_WEBHOOK_URL": f"https://chat.example.invalid/hooks/{TOKEN}?sign=abc",
        "LIVEOPS_LAKE_CATALOG": catalog or f"sqlite:{tmp_path / 'lake' / 'catalog.sqlite'}",
        "LIVEOPS_LAKE_DATA_PATH": f"{tmp_path / 'lake' / 'files'}/",
        "LIVEOPS_LAKE_CATALOG_PASSWORD": CATALOG_PASSWORD,
        "LIVEOPS_REPORTS_DIR": str(tmp_path / "reports"),
    }
    return subprocess.run(
        [sys.executable, "-m", "liveops", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def assert_no_secret(text: str) -> None:
    for form in {*secret_forms(PASSWORD), "s3cr3t", TOKEN, CATALOG_PASSWORD}:
        assert form not in text, form


@pytest.mark.parametrize("args", [("-v", "status"), ("-v", "config"), ("-v", "status", "--json")])
def test_verbose_cli_output_holds_no_secret(tmp_path: Path, args: tuple[str, ...]) -> None:
    done = run_cli(tmp_path, *args)
    assert_no_secret(done.stdout)
    assert_no_secret(done.stderr)
    if args[1] == "status":
        assert done.returncode == 1  # Kafka unreachable
        # kafka-python did log its configuration: the password was there to mask.
        assert "'sasl_plain_password': '***'" in done.stderr


def test_a_postgres_catalog_password_is_never_shown(tmp_path: Path) -> None:
    catalog = f"postgres:dbname=lake host=127.0.0.1 port={free_port()} user=liveops"  # nothing listens there
    done = run_cli(tmp_path, "-v", "status", "--json", catalog=catalog)
    assert_no_secret(done.stdout + done.stderr)
    warehouse = json.loads(done.stdout)["warehouse"]
    assert "cannot open the warehouse postgres:dbname=lake" in warehouse["error"], warehouse  # the error is shown
    config = run_cli(tmp_path, "config", catalog=catalog)
    assert config.returncode == 0 and json.loads(config.stdout)["lake_catalog_password"] == "**********"


def test_the_redactor_masks_messages_arguments_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    redactor = Redactor()
    redactor.add(PASSWORD, None, "ab")  # None and too short values are ignored
    before = logging.getLogRecordFactory()
    redactor.install()
    log = logging.getLogger("tests.redact")
    caplog.set_level(logging.DEBUG)
    try:
        log.debug("config %s and %r, tab", {"sasl_plain_password": PASSWORD}, PASSWORD)
        try:
            raise ValueError(f"login failed with {PASSWORD}")
        except ValueError:
            log.exception("failed")
        text = caplog.text
        assert "config {'sasl_plain_password': '***'} and '***', tab" in text
        assert "login failed with ***" in text  # the traceback
        assert_no_secret(text)
    finally:
        logging.setLogRecordFactory(before)
