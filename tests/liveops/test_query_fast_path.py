"""``liveops query``'s start-up fast path (liveops/launch.py): the same result as the Typer command, or Typer.

The fast path reads its arguments and the lake's settings without Typer and Pydantic. These tests hold it
to the full command line: the same settings on many configurations, the same output byte for byte on the
real program, and a hand-over to Typer for everything it does not read exactly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer.main
from pydantic import ValidationError

from config.lake_env import lake_from_environment
from config.settings import Settings
from liveops.cli import app
from liveops.launch import _FLAG_OPTIONS, _VALUE_OPTIONS, parse_query_args
from liveops.query import OutputFormat
from tests.conftest import lake_env
from warehouse.lake import LakeConfig, open_lake, transaction


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No LIVEOPS_ variable and an empty working directory (where a .env would be read)."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.upper().startswith("LIVEOPS_"):
            monkeypatch.delenv(key)
    return tmp_path


# (environment, .env text): each read alone must give exactly Settings().lake.
CONFIGURATIONS: dict[str, tuple[dict[str, str], str]] = {
    "defaults": ({}, ""),
    "environment": ({"LIVEOPS_LAKE_CATALOG": "sqlite:x/c.sqlite", "LIVEOPS_LAKE_DATA_PATH": "x/files/"}, ""),
    "dotenv, quoted and commented": (
        {},
        '# the lake\nLIVEOPS_LAKE_CATALOG="sqlite:y/c.sqlite"  # catalog\nexport LIVEOPS_LAKE_DATA_PATH=y/f/\n',
    ),
    "environment over dotenv": (
        {"LIVEOPS_LAKE_CATALOG": "sqlite:env.sqlite"},
        "LIVEOPS_LAKE_CATALOG=sqlite:dotenv.sqlite\nLIVEOPS_LAKE_DATA_PATH=from-dotenv/\n",
    ),
    "names in any case": ({"liveops_lake_catalog": "sqlite:lower.sqlite"}, "Liveops_Lake_Data_Path=mixed/\n"),
    "postgres, password apart": (
        {"LIVEOPS_LAKE_CATALOG": "postgres:dbname=lake host=db user=ops", "LIVEOPS_LAKE_CATALOG_PASSWORD": "s3cr3t!"},
        "",
    ),
    "postgres, password inline": ({"LIVEOPS_LAKE_CATALOG": "postgres:dbname=lake password=inline-pw"}, ""),
    "s3": (
        {
            "LIVEOPS_LAKE_DATA_PATH": "s3://bucket/lake/",
            "LIVEOPS_LAKE_S3_ENDPOINT": "127.0.0.1:9000",
            "LIVEOPS_LAKE_S3_KEY_ID": "key",
            "LIVEOPS_LAKE_S3_SECRET": "secret-value",
            "LIVEOPS_LAKE_S3_REGION": "eu-west-1",
            "LIVEOPS_LAKE_S3_USE_SSL": "No",
        },
        "",
    ),
    "s3, ssl in words": ({"LIVEOPS_LAKE_DATA_PATH": "s3://b/p/"}, "LIVEOPS_LAKE_S3_USE_SSL=TRUE\n"),
    "s3, ssl off as 0": ({"LIVEOPS_LAKE_DATA_PATH": "s3://b/p/", "LIVEOPS_LAKE_S3_USE_SSL": "0"}, ""),
    "empty values": (
        {"LIVEOPS_LAKE_CATALOG_PASSWORD": "", "LIVEOPS_LAKE_S3_ENDPOINT": "", "LIVEOPS_LAKE_DATA_PATH": "s3://b/"},
        "LIVEOPS_LAKE_S3_SECRET=\n",
    ),
    "other settings are not the lake's": ({"LIVEOPS_BATCH_SIZE": "5", "LIVEOPS_LAKE_CATALOGUE": "typo"}, ""),
}


@pytest.mark.parametrize("name", CONFIGURATIONS)
def test_the_lake_settings_read_alone_are_the_full_settings(
    name: str, clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environ, dotenv = CONFIGURATIONS[name]
    if dotenv:
        (clean_env / ".env").write_text(dotenv, encoding="utf-8")
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    assert lake_from_environment() == Settings().lake


@pytest.mark.parametrize(
    ("environ", "dotenv"),
    [
        ({"LIVEOPS_LAKE_S3_USE_SSL": "maybe"}, ""),  # Settings refuses it, with its message
        ({}, "LIVEOPS_LAKE_CATALOG\n"),  # a name without a value
    ],
)
def test_what_it_cannot_read_exactly_goes_to_the_full_settings(
    environ: dict[str, str], dotenv: str, clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if dotenv:
        (clean_env / ".env").write_text(dotenv, encoding="utf-8")
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    assert lake_from_environment() is None


def test_a_bad_lake_value_is_still_refused_by_the_full_settings(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEOPS_LAKE_S3_USE_SSL", "maybe")
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["select 1"], {"sql": "select 1"}),
        (["-"], {"sql": "-"}),
        (["--format", "csv", "select 1"], {"sql": "select 1", "output": OutputFormat.csv}),
        (["select 1", "--format=json"], {"sql": "select 1", "output": OutputFormat.json}),
        (["-fcsv", "select 1"], {"sql": "select 1", "output": OutputFormat.csv}),
        (["-f", "table", "--limit", "0", "x"], {"sql": "x", "output": OutputFormat.table, "limit": 0}),
        (["--limit=5", "--limit", "7", "x"], {"sql": "x", "limit": 7}),
        (["--raw-csv", "--as-of", "42", "x"], {"sql": "x", "raw_csv": True, "snapshot": 42, "at": None}),
        (
            ["--as-of=2026-11-03T08:00:00Z", "--", "-x"],
            {"sql": "-x", "snapshot": None, "at": datetime(2026, 11, 3, 8, tzinfo=UTC)},
        ),
    ],
)
def test_the_fast_parser_reads_what_typer_reads(args: list[str], expected: dict[str, Any]) -> None:
    assert parse_query_args(args) == expected


@pytest.mark.parametrize(
    "args",
    [
        [], ["a", "b"], ["--help"], ["-h"], ["-v", "x"], ["--verbose", "x"], ["--limit", "-1", "x"],
        ["--limit", "x"], ["--limit", "٣", "x"], ["--format", "xml", "x"], ["--as-of", "soon", "x"],
        ["--raw-csv=1", "x"], ["x", "-f"], ["--lim", "3", "x"], ["-1"],
    ],
)  # fmt: skip
def test_the_fast_parser_hands_anything_else_to_typer(args: list[str]) -> None:
    assert parse_query_args(args) is None


def test_the_fast_parser_knows_every_option_of_the_query_command() -> None:
    command = typer.main.get_command(app).commands["query"]  # type: ignore[attr-defined]
    options = {opt for param in command.params for opt in param.opts if opt.startswith("-")}
    assert options - {"--help"} == set(_VALUE_OPTIONS) | set(_FLAG_OPTIONS)


@pytest.fixture
def titles_lake(lake: LakeConfig) -> LakeConfig:
    with open_lake(lake) as con, transaction(con):
        con.execute("CREATE TABLE t (title VARCHAR, n INTEGER)")
        con.execute("INSERT INTO t VALUES ('=SUM(A1)', 1), ('中文标题', 2), (NULL, 3)")
        con.execute("INSERT INTO t SELECT 'row ' || i, i FROM range(60) r(i)")
    return lake


TYPER_PATH = "import sys; sys.argv[0] = 'liveops'; from liveops.cli import run; run()"
FAST_PATH = "import sys; sys.argv[0] = 'liveops'; from liveops.launch import run; run()"
MODULES = (
    "import sys, atexit; atexit.register(lambda: print('MODULES', *sorted(sys.modules), file=sys.stderr)); " + FAST_PATH
)


def _liveops(code: str, args: list[str], env: dict[str, str], stdin: str = "") -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, input=stdin, capture_output=True, text=True, check=False
    )
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["SELECT title, n FROM t ORDER BY n, title"],
        ["SELECT title, n FROM t ORDER BY n, title", "--limit", "5"],
        ["-f", "csv", "SELECT title FROM t ORDER BY n, title LIMIT 3"],
        ["-f", "csv", "--raw-csv", "SELECT title FROM t ORDER BY n, title LIMIT 3"],
        ["--format=json", "SELECT * FROM t ORDER BY n, title LIMIT 4"],
        ["--as-of", "1", "SELECT count(*) FROM t"],
        ["-"],
        ["selec 1"],
        ["DROP TABLE t"],
        ["SELECT 1; SELECT 2"],
        ["SELECT * FROM missing"],
        ["--as-of", "99999", "SELECT 1"],
        ["--limit", "-3", "SELECT 1"],
        ["--as-of", "soon", "SELECT 1"],
    ],
)
def test_the_program_prints_the_same_on_both_paths(titles_lake: LakeConfig, args: list[str]) -> None:
    env = os.environ | lake_env(titles_lake)
    stdin = "SELECT n FROM t WHERE n < 3 ORDER BY n, title"
    fast = _liveops(FAST_PATH, ["query", *args], env, stdin)
    typer_path = _liveops(TYPER_PATH, ["query", *args], env, stdin)
    assert fast == typer_path
    assert "Traceback" not in fast[2]


def test_the_fast_path_imports_neither_typer_nor_pydantic(titles_lake: LakeConfig) -> None:
    code, out, err = _liveops(MODULES, ["query", "SELECT count(*) AS n FROM t"], os.environ | lake_env(titles_lake))
    assert (code, out.split()) == (0, ["n", "--", "63"])
    modules = {m.split(".")[0] for m in next(x for x in err.splitlines() if x.startswith("MODULES ")).split()[1:]}
    assert "duckdb" in modules
    assert not modules & {"typer", "click", "pydantic", "pydantic_settings", "polars", "prefect"}


def test_a_password_in_an_error_is_masked_on_the_fast_path(clean_env: Path) -> None:
    env = os.environ | {
        "LIVEOPS_LAKE_CATALOG": "postgres:dbname=nowhere host=127.0.0.1 port=9 password=hunter2-inline",
        "LIVEOPS_LAKE_DATA_PATH": f"{clean_env / 'files'}/",
    }
    code, out, err = _liveops(FAST_PATH, ["query", "SELECT 1"], env)
    assert code == 1 and out == ""
    assert "hunter2-inline" not in err and "cannot open the warehouse" in err, err
