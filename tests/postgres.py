"""A real PostgreSQL server for the lake's catalog in tests: Debian's package, ``initdb`` and ``pg_ctl`` on a
free port under a temporary folder (run as the ``postgres`` user when the tests run as root)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from streams.broker import free_port


def _bin(name: str) -> str:
    """A PostgreSQL program: on PATH, else in Debian's versioned folder (``/usr/lib/postgresql/<v>/bin``)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise RuntimeError(f"PostgreSQL's {name} is not installed: apt-get install postgresql")
    return candidates[-1]


@dataclass(frozen=True)
class PostgresServer:
    """A running server: its port and socket folder; :meth:`new_database` gives each test its own database."""

    port: int
    socket_dir: Path
    user: str

    def psql(self, sql: str, database: str = "postgres") -> None:
        subprocess.run(
            [_bin("psql"), "-h", str(self.socket_dir), "-p", str(self.port), "-U", self.user, "-d", database,
             "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
            check=True, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    def new_database(self) -> str:
        """Create an empty database; returns its libpq connection string (over TCP, with a password)."""
        name = "lake_" + uuid.uuid4().hex[:12]
        self.psql(f"CREATE DATABASE {name}")
        return f"dbname={name} host=127.0.0.1 port={self.port} user={self.user}"


PASSWORD = "test-catalog-secret"


def _as_postgres(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return [shutil.which("runuser") or "runuser", "-u", "postgres", "--", *command]


@contextmanager
def postgres_server(home: Path) -> Iterator[PostgresServer]:
    """Start a PostgreSQL server under ``home`` (initdb, then pg_ctl on a free port); stopped on exit."""
    data, sockets = home / "data", home / "sockets"
    sockets.mkdir(parents=True)
    user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() == 0:
        uid, gid = pwd.getpwnam("postgres").pw_uid, pwd.getpwnam("postgres").pw_gid
        os.chown(home, uid, gid)
        os.chown(sockets, uid, gid)
        home.chmod(0o755)
        for parent in home.parents:  # postgres must be able to reach its folder
            if parent == Path("/"):
                break
            parent.chmod(parent.stat().st_mode | 0o711)
    pwfile = home / "pwfile"
    pwfile.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        os.chown(pwfile, uid, gid)
    subprocess.run(
        _as_postgres([_bin("initdb"), "-D", str(data), "-U", user, "--pwfile", str(pwfile), "-A", "scram-sha-256",
                      "--auth-local", "trust", "-E", "UTF8", "--no-instructions"]),
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    port = free_port()
    subprocess.run(
        _as_postgres([_bin("pg_ctl"), "-D", str(data), "-l", str(home / "server.log"), "-w", "-t", "60",
                      "-o", f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1", "start"]),
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    try:
        yield PostgresServer(port, sockets, user)
    finally:
        subprocess.run(
            _as_postgres([_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
            check=False, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
