"""Headless Chromium (Debian's ``chromium``), offline, for the tests that open a page in a real browser."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PNG = b"\x89PNG\r\n\x1a\n"


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium once, offline: no network service, no first-run, no sync; DNS resolves nothing."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: install it with `apt-get install -y chromium` (CI's .ci/run does)")
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}", *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=True)


def artifacts_dir(tmp_path: Path, name: str) -> Path:
    """``$LIVEOPS_TEST_ARTIFACTS/<name>/`` when that variable is set (CI keeps it), else under ``tmp_path``."""
    root = os.environ.get("LIVEOPS_TEST_ARTIFACTS")
    folder = (Path(root).resolve() if root else tmp_path / "test-artifacts") / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder
