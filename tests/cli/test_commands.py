"""The CLI as a person meets it: fast start-up, clear errors, query output that reads right."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from liveops.cli import app, demo_day
from liveops.console import analyst_copy_path
from liveops.marts_cmd import display_width, format_csv, format_table
from liveops.settings import Settings
from liveops.simulate_cmd import _DEFAULTS
from streams.simulator import SimConfig

HEAVY = ("prefect", "great_expectations", "polars", "streams.simulator", "flows")
COMMANDS = ["simulate", "ingest", "build", "quality", "report", "query", "serve", "backfill", "deliver",
            "status", "config", "demo", "kafka", "kafka up"]  # fmt: skip


def _modules_after(args: list[str], env: dict[str, str] | None = None) -> tuple[set[str], str]:
    """Run the CLI with ``args`` in a fresh interpreter; the top-level modules it imported, and its output."""
    code = (
        "import sys\n"
        "from liveops.cli import app\n"
        "try:\n"
        f"    app({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('MODULES', ' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=os.environ | (env or {}), check=True
    )
    line = next(x for x in done.stderr.splitlines() if x.startswith("MODULES "))
    return set(line.split()[1:]), done.stdout


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_imports_no_heavy_module(command: str) -> None:
    modules, out = _modules_after([*command.split(), "--help"])
    assert "Usage" in out
    assert not {m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY}


def test_query_select_1_imports_only_duckdb(tmp_path: Path) -> None:
    copy = tmp_path / "a.duckdb"
    duckdb.connect(str(copy)).close()
    modules, out = _modules_after(["query", "select 1"], {"LIVEOPS_ANALYST_PATH": str(copy)})
    assert "duckdb" in modules
    assert out.split() == ["1", "-", "1"]
    assert not {m for m in modules if m.split(".")[0] in {"prefect", "great_expectations", "polars", "flows"}}


def test_simulate_option_defaults_are_the_simulators() -> None:
    sim = SimConfig()
    for name, value in vars(_DEFAULTS).items():
        assert getattr(sim, name) == value, name


def test_analyst_copy_path_agrees_with_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.upper().startswith("LIVEOPS_"):
            monkeypatch.delenv(key)
    assert analyst_copy_path() == Settings().analyst_copy == Path("data/warehouse.analyst.duckdb")
    (tmp_path / ".env").write_text("liveops_duckdb_path=w/main.duckdb\n", encoding="utf-8")
    assert analyst_copy_path() == Settings().analyst_copy == Path("w/main.analyst.duckdb")
    monkeypatch.setenv("LIVEOPS_ANALYST_PATH", "elsewhere/copy.duckdb")
    assert analyst_copy_path() == Settings().analyst_copy == Path("elsewhere/copy.duckdb")


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    path = tmp_path / "analyst.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t (title VARCHAR, n INTEGER)")
        con.execute(
            "INSERT INTO t VALUES ('=HYPERLINK(\"http://x\")', 1), ('+1', 2), ('-2+3', 3), ('@SUM(A1)', 4), "
            "(chr(9) || 'tab', 5), (chr(13) || 'cr', 6), ('plain', -7), ('中文标题', 8)"
        )
        con.execute("INSERT INTO t SELECT 'row ' || i, i FROM range(100) r(i)")
    return path


def _run(copy: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["query", *args], env={"LIVEOPS_ANALYST_PATH": str(copy)})
    return result.exit_code, result.stdout, result.stderr


def test_csv_neutralises_formula_cells_unless_raw(copy: Path) -> None:
    sql = "SELECT title, n FROM t WHERE n <= 8 AND title NOT LIKE 'row %' ORDER BY n"
    code, out, _ = _run(copy, sql, "--format", "csv")
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert [r[0] for r in rows[1:]] == [
        "plain", "'=HYPERLINK(\"http://x\")", "'+1", "'-2+3", "'@SUM(A1)", "'\ttab", "'\rcr", "中文标题",
    ]  # fmt: skip
    assert rows[1][1] == "-7"  # numbers stay numbers
    code, out, _ = _run(copy, sql, "--format", "csv", "--raw-csv")
    assert [r[0] for r in csv.reader(io.StringIO(out))][2] == '=HYPERLINK("http://x")'


def test_csv_and_json_are_never_capped(copy: Path) -> None:
    _, out, _ = _run(copy, "SELECT * FROM t", "--format", "csv", "--limit", "3")
    assert len(list(csv.reader(io.StringIO(out)))) == 1 + 108
    _, out, _ = _run(copy, "SELECT * FROM t", "--format", "json", "--limit", "3")
    assert len(json.loads(out)) == 108


def test_table_limit_says_how_many_more(copy: Path) -> None:
    code, out, err = _run(copy, "SELECT * FROM t", "--limit", "5")
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 2 + 5 + 1
    assert lines[-1].startswith("... 103 more rows")
    assert "(108 rows)" in err
    _, out, _ = _run(copy, "SELECT * FROM t")  # not a terminal: every row
    assert len(out.strip().splitlines()) == 2 + 108


def test_table_aligns_cjk_and_fits_width() -> None:
    text = format_table(["title", "n"], [["中文标题", 1], ["ab", 22]])
    lines = text.splitlines()
    assert display_width("中文标题") == 8
    assert {display_width(line) for line in lines} == {display_width(lines[1])}
    narrow = format_table(["title", "n"], [["x" * 100, 1]], max_width=30)
    assert all(display_width(line) <= 30 for line in narrow.splitlines())
    assert "…" in narrow


def test_syntax_error_is_an_error_not_a_refusal(copy: Path) -> None:
    code, out, err = _run(copy, "SELEC 1")
    assert code == 1
    assert err.startswith("error:") and "syntax error" in err.lower()
    assert "Traceback" not in out + err
    code, _, err = _run(copy, "DROP TABLE t")
    assert code == 2 and err.startswith("refused:")


def test_bad_setting_names_its_variable(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["config"], env={"LIVEOPS_PARTITIONS": "three"})
    assert result.exit_code == 2
    assert "LIVEOPS_PARTITIONS (got 'three')" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_currency_is_an_iso_code() -> None:
    assert Settings().currency == "CNY"
    assert Settings(currency="usd").currency == "USD"
    result = CliRunner().invoke(app, ["config"], env={"LIVEOPS_CURRENCY": "dollars"})
    assert result.exit_code == 2
    assert "LIVEOPS_CURRENCY (got 'dollars')" in result.stderr and "ISO 4217" in result.stderr
    assert "Traceback" not in result.stderr


def test_format_csv_neutralises_header_too() -> None:
    assert format_csv(["=a"], [["x"]]).splitlines()[0] == "'=a"


def test_the_demo_reports_the_last_complete_day() -> None:
    days = [date(2026, 11, d) for d in range(1, 9)]
    assert demo_day(days, set(days[:-1])) == date(2026, 11, 7)  # the last simulated day is still filling up
    assert demo_day(days, set(days)) == date(2026, 11, 8)
    assert demo_day(days, set()) == date(2026, 11, 8)  # nothing complete yet: the last day, flagged incomplete
