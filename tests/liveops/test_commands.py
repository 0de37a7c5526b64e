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

import pytest
from typer.testing import CliRunner

from config.settings import Settings
from liveops.cli import app, demo_day
from liveops.query import display_width, format_csv, format_table
from liveops.simulate_cmd import _DEFAULTS
from streams.simulator import SimConfig
from tests.conftest import lake_env
from warehouse.lake import LakeConfig, current_snapshot, open_lake, transaction

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


def test_query_select_1_imports_only_duckdb(lake: LakeConfig) -> None:
    modules, out = _modules_after(["query", "select 1"], lake_env(lake))
    assert "duckdb" in modules
    assert out.split() == ["1", "-", "1"]
    assert not {m for m in modules if m.split(".")[0] in {"prefect", "great_expectations", "polars", "flows"}}


def test_simulate_option_defaults_are_the_simulators() -> None:
    sim = SimConfig()
    for name, value in vars(_DEFAULTS).items():
        assert getattr(sim, name) == value, name


def test_query_reads_the_lake_the_settings_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.upper().startswith("LIVEOPS_"):
            monkeypatch.delenv(key)

    def refusal() -> str:
        result = CliRunner().invoke(app, ["query", "select 1"])
        assert result.exit_code == 1, result.output
        return result.stderr

    assert Settings().lake.catalog == "sqlite:data/lake/catalog.sqlite"
    assert "no warehouse at data/lake/catalog.sqlite" in refusal()
    (tmp_path / ".env").write_text("liveops_lake_catalog=sqlite:w/main.sqlite\n", encoding="utf-8")
    assert Settings().lake.catalog == "sqlite:w/main.sqlite" and "no warehouse at w/main.sqlite" in refusal()
    monkeypatch.setenv("LIVEOPS_LAKE_CATALOG", "sqlite:elsewhere/c.sqlite")
    assert "no warehouse at elsewhere/c.sqlite" in refusal()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]  # a read-only query creates no lake


def test_a_warehouse_error_is_one_line_without_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEOPS_")}
    env["LIVEOPS_LAKE_CATALOG"] = "mysql:host=db"
    done = subprocess.run(
        [sys.executable, "-m", "liveops", "build", "--no-prefect"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("warehouse: ") and "'mysql:host=db' is not a catalog liveops can use" in last, last


@pytest.fixture
def table_lake(lake: LakeConfig) -> LakeConfig:
    """The test's lake with a table ``t`` of awkward titles (formulas, control characters, CJK) and 100 rows."""
    with open_lake(lake) as con, transaction(con):
        con.execute("CREATE TABLE t (title VARCHAR, n INTEGER)")
        con.execute(
            "INSERT INTO t VALUES ('=HYPERLINK(\"http://x\")', 1), ('+1', 2), ('-2+3', 3), ('@SUM(A1)', 4), "
            "(chr(9) || 'tab', 5), (chr(13) || 'cr', 6), ('plain', -7), ('中文标题', 8)"
        )
        con.execute("INSERT INTO t SELECT 'row ' || i, i FROM range(100) r(i)")
    return lake


def _run(lake: LakeConfig, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["query", *args], env=lake_env(lake))
    return result.exit_code, result.stdout, result.stderr


def test_query_as_of_reads_an_earlier_snapshot(table_lake: LakeConfig) -> None:
    with open_lake(table_lake) as con:
        before = current_snapshot(con)
        con.execute("INSERT INTO t VALUES ('later', 1000)")
    count = "SELECT count(*) AS n FROM t"
    assert json.loads(_run(table_lake, count, "-f", "json")[1]) == [{"n": 109}]
    assert json.loads(_run(table_lake, count, "-f", "json", "--as-of", str(before))[1]) == [{"n": 108}]
    code, _, err = _run(table_lake, count, "--as-of", "2001-01-01")  # before the lake existed
    assert code == 1 and "Traceback" not in err and "snapshot" in err, err
    code, _, err = _run(table_lake, count, "--as-of", "last tuesday")
    assert code == 2 and "neither a snapshot id" in err


def test_csv_neutralises_formula_cells_unless_raw(table_lake: LakeConfig) -> None:
    sql = "SELECT title, n FROM t WHERE n <= 8 AND title NOT LIKE 'row %' ORDER BY n"
    code, out, _ = _run(table_lake, sql, "--format", "csv")
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert [r[0] for r in rows[1:]] == [
        "plain", "'=HYPERLINK(\"http://x\")", "'+1", "'-2+3", "'@SUM(A1)", "'\ttab", "'\rcr", "中文标题",
    ]  # fmt: skip
    assert rows[1][1] == "-7"  # numbers stay numbers
    code, out, _ = _run(table_lake, sql, "--format", "csv", "--raw-csv")
    assert [r[0] for r in csv.reader(io.StringIO(out))][2] == '=HYPERLINK("http://x")'


def test_csv_and_json_are_never_capped(table_lake: LakeConfig) -> None:
    _, out, _ = _run(table_lake, "SELECT * FROM t", "--format", "csv", "--limit", "3")
    assert len(list(csv.reader(io.StringIO(out)))) == 1 + 108
    _, out, _ = _run(table_lake, "SELECT * FROM t", "--format", "json", "--limit", "3")
    assert len(json.loads(out)) == 108


def test_table_limit_says_how_many_more(table_lake: LakeConfig) -> None:
    code, out, err = _run(table_lake, "SELECT * FROM t", "--limit", "5")
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 2 + 5 + 1
    assert lines[-1].startswith("... 103 more rows")
    assert "(108 rows)" in err
    _, out, _ = _run(table_lake, "SELECT * FROM t")  # not a terminal: every row
    assert len(out.strip().splitlines()) == 2 + 108


def test_table_aligns_cjk_and_fits_width() -> None:
    text = format_table(["title", "n"], [["中文标题", 1], ["ab", 22]])
    lines = text.splitlines()
    assert display_width("中文标题") == 8
    assert {display_width(line) for line in lines} == {display_width(lines[1])}
    narrow = format_table(["title", "n"], [["x" * 100, 1]], max_width=30)
    assert all(display_width(line) <= 30 for line in narrow.splitlines())
    assert "…" in narrow


def test_syntax_error_is_an_error_not_a_refusal(table_lake: LakeConfig) -> None:
    code, out, err = _run(table_lake, "SELEC 1")
    assert code == 1
    assert err.startswith("error:") and "syntax error" in err.lower()
    assert "Traceback" not in out + err
    code, _, err = _run(table_lake, "DROP TABLE t")
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
