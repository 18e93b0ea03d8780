"""The shipped sample: the generator still writes it, and `make run`'s entry point builds both
reports from it and prints the summary a newcomer sees."""

import filecmp
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from dagster_project import sample_data, settings
from dagster_project.run import main, summarize

SAMPLE_DIR = settings.REPO_ROOT / "data" / "raw"
EXAMPLE_DIR = settings.REPO_ROOT / "data" / "examples" / "sales_by_customer_detail"


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_the_generator_writes_the_shipped_sample_byte_for_byte(tmp_path):
    counts = sample_data.generate(tmp_path)
    assert counts == {"customers": 150, "orders": 3000, "order_lines": 7748, "order_files": 13}
    assert files_under(tmp_path) == files_under(SAMPLE_DIR)
    _, mismatch, errors = filecmp.cmpfiles(
        SAMPLE_DIR, tmp_path, files_under(SAMPLE_DIR), shallow=False
    )
    assert (mismatch, errors) == ([], [])


def test_the_generator_writes_parquet_with_the_same_rows(tmp_path):
    import duckdb

    sample_data.generate(tmp_path / "csv", customers=40, orders=300, seed=7)
    sample_data.generate(tmp_path / "pq", customers=40, orders=300, seed=7, file_format="parquet")
    with duckdb.connect() as con:
        for entity in ("orders", "customers", "items"):
            csv_rows = con.execute(
                f"select * from read_csv('{tmp_path}/csv/{entity}/*.csv', all_varchar = true) "
                "order by all"
            ).fetchall()
            parquet_rows = con.execute(
                "select columns(*)::varchar "
                f"from read_parquet('{tmp_path}/pq/{entity}/*.parquet') order by all"
            ).fetchall()
            assert parquet_rows == csv_rows, entity
            assert len(csv_rows) > 0


def test_a_run_on_the_sample_prints_the_summary(
    tmp_path, monkeypatch, capsys, dbt_manifest, dagster_home
):
    monkeypatch.delenv("RAW_DATA_DIR", raising=False)
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path / "reports"))
    assert main(["--as-of-date", "2026-11-20"]) == 0

    summary = capsys.readouterr().out.split("\n\n")[-1]
    assert summary.splitlines()[:5] == [
        "Customer activity as of 2026-11-20: 150 customers",
        "  active              97  (11 of them at risk)",
        "  inactive            46",
        "  never_purchased      7",
        f"Warehouse: {tmp_path / 'warehouse.duckdb'} (the reports are the views of its schema "
        "reports)",
    ]
    assert (tmp_path / "reports" / "customer_activity_report.parquet").is_file()


def test_the_readmes_worked_example_publishes_reports_bi_tools_read(
    tmp_path, monkeypatch, capsys, dbt_manifest, dagster_home
):
    """The worked example of docs/extract-mapping.md, as written there: an orders-only folder of
    a foreign export, mapped by its `_mapping.toml`."""
    from tests.conftest import PipelineRun
    from tests.test_published_reports import assert_bi_tools_read_the_reports

    monkeypatch.setenv("RAW_DATA_DIR", str(EXAMPLE_DIR))
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "example.duckdb"))
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path / "example-reports"))
    assert main(["--as-of-date", "2026-11-20"]) == 0

    summary = capsys.readouterr().out.split("\n\n")[-1]
    assert summary.splitlines()[:4] == [
        "Customer activity as of 2026-11-20: 2 customers",
        "  active               2",
        "  inactive             0",
        "  never_purchased      0",
    ]
    reports_dir = tmp_path / "example-reports"
    assert sorted(p.name for p in reports_dir.iterdir()) == [
        "call_lists",
        "customer_activity_report.parquet",
        "inactive_customers.csv",
        "index.html",
        "reports.duckdb",
    ]
    # Orders alone: no sales rep, nobody to win back yet, too little history for the backtest.
    assert [p.name for p in (reports_dir / "call_lists").iterdir()] == ["unassigned.csv"]
    page = (reports_dir / "index.html").read_text()
    assert "Nobody to call: no customer is at risk or inactive." in page
    assert "Not enough history yet" in page
    assert_bi_tools_read_the_reports(PipelineRun(tmp_path / "example.duckdb", reports_dir, None))


def test_a_backfills_summary_says_the_warehouse_is_left_at_its_date(tmp_path):
    """After a backfill the warehouse's views show the backfilled date, not the published one."""
    import datetime as dt

    import duckdb

    warehouse, reports = tmp_path / "warehouse.duckdb", tmp_path / "reports"
    reports.mkdir()
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema reports")
        con.execute(
            "create view reports.customer_activity_report as select 'active' as activity_status, "
            "'active' as lifecycle_stage, date '2026-06-30' as as_of_date"
        )
        con.execute("create schema raw")
        con.execute("create table raw.rejected_rows (entity varchar)")
        con.execute(
            "copy (select date '2026-11-20' as as_of_date) "
            f"to '{reports / 'customer_activity_report.parquet'}'"
        )

    lines = summarize(warehouse, reports, dt.date(2026, 6, 30)).splitlines()
    assert lines[4:] == [
        f"Warehouse: {warehouse} (the reports are the views of its schema reports), as of "
        "2026-06-30 until a run as of 2026-11-20 "
        "(the sensor latest_date_after_backfill starts one when the Dagster daemon runs)",
        f"Published in {reports / 'backfills' / '2026-06-30'}; the current reports in {reports} "
        "stay as of 2026-11-20, a later date",
    ]


@pytest.mark.parametrize(
    ("raw_data_dir", "as_of_date"), [(None, "2026-11-20"), ("/my/extracts", "")]
)
def test_the_uis_launches_use_the_date_make_run_uses(raw_data_dir, as_of_date):
    """A launch without config in `make ui` reports the sample as of its date, as `make run` does
    (not today, which would make the next `make run` a backfill); other extracts as of today."""
    environment = {k: v for k, v in os.environ.items() if k not in ("RAW_DATA_DIR", "AS_OF_DATE")}
    if raw_data_dir:
        environment["RAW_DATA_DIR"] = raw_data_dir
    dates = {}
    for target, program in (("ui", "dagster dev"), ("run", "-m dagster_project.run")):
        commands = subprocess.run(
            ["make", "--no-print-directory", "-n", target],
            cwd=settings.REPO_ROOT,
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        (command,) = [line for line in commands.splitlines() if program in line]
        # The command's environment assignments, then what the program would see.
        assignments = command.split(" /", 1)[0]
        dates[target] = subprocess.run(
            ["sh", "-c", f"{assignments} printenv AS_OF_DATE"],
            env=environment,
            capture_output=True,
            text=True,
        ).stdout.strip()
    assert dates == {"ui": as_of_date, "run": as_of_date}


def test_a_run_before_any_extract_counts_says_its_own_date(
    tmp_path, monkeypatch, capsys, dbt_manifest, dagster_home
):
    """The README's worked example as of a date before its only file was extracted: no customer
    yet, and the summary still names the date the run was for."""
    monkeypatch.setenv("RAW_DATA_DIR", str(EXAMPLE_DIR))
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path / "reports"))
    assert main(["--as-of-date", "2026-06-30"]) == 0

    summary = capsys.readouterr().out.split("\n\n")[-1]
    assert summary.splitlines()[:4] == [
        "Customer activity as of 2026-06-30: 0 customers",
        "  active               0",
        "  inactive             0",
        "  never_purchased      0",
    ]


def test_a_run_on_a_bad_extract_ends_with_the_file_line_and_column(
    tmp_path, monkeypatch, capsys, dbt_manifest, dagster_home
):
    orders = tmp_path / "raw" / "orders"
    orders.mkdir(parents=True)
    (orders / "orders_2024-03-01.csv").write_text(
        "order_id,order_date,customer_id,item_id,quantity,amount\n"
        "1,2024-02-29,C1,I1,1,5\n"
        "2,2024-02-30,C1,I1,1,5\n"
    )
    monkeypatch.setenv("RAW_DATA_DIR", str(tmp_path / "raw"))
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path / "reports"))

    assert main(["--as-of-date", "2024-03-01"]) == 1

    path = orders / "orders_2024-03-01.csv"
    assert capsys.readouterr().err.endswith(
        "The run failed:\n"
        "- step raw_extracts: The orders extracts break the contract:\n"
        f"{path}: 1 of 2 rows break the contract (50.0%), more than the 1.0% allowed "
        "(QUARANTINE_MAX_SHARE); nothing of this file was loaded. First problems:\n"
        f"{path}, line 3, column order_date: has '2024-02-30', "
        "expected a date such as 2024-03-01 (or a timestamp whose date part counts)\n"
    )
    assert not (tmp_path / "reports").exists()


def test_a_runs_summary_says_how_many_rows_were_quarantined_and_where_to_see_them(
    tmp_path, monkeypatch, capsys, dbt_manifest, dagster_home
):
    """A share of bad rows the settings allow is kept out of the reports: the summary says so,
    rather than only the step's log."""
    orders = tmp_path / "raw" / "orders"
    orders.mkdir(parents=True)
    (orders / "orders_2024-03-01.csv").write_text(
        "order_id,order_date,customer_id,item_id,quantity,amount\n"
        "1,2024-02-29,C1,I1,1,5\n"
        "2,2024-02-30,C2,I1,1,5\n"
        "3,2024-02-29,C3,I1,1,not a number\n"
        "4,2024-02-28,C4,I1,1,5\n"
    )
    monkeypatch.setenv("RAW_DATA_DIR", str(tmp_path / "raw"))
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("QUARANTINE_MAX_SHARE", "0.5")
    assert main(["--as-of-date", "2024-03-01"]) == 0

    summary = capsys.readouterr().out.split("\n\n")[-1]
    assert summary.splitlines()[:5] == [
        "Customer activity as of 2024-03-01: 2 customers",
        "  active               2",
        "  inactive             0",
        "  never_purchased      0",
        "Quarantined: 2 rows of the extracts (orders 2), not in the reports: raw.rejected_rows "
        "says which file, line and why",
    ]


@pytest.mark.parametrize(
    ("environment", "arguments", "message"),
    [
        ({"AS_OF_DATE": "garbage"}, [], "AS_OF_DATE: 'garbage'"),
        ({}, ["--as-of-date", "2026-02-30"], "--as-of-date: '2026-02-30'"),
    ],
)
def test_a_bad_as_of_date_prints_what_to_write_and_nothing_else(environment, arguments, message):
    completed = subprocess.run(
        [sys.executable, "-m", "dagster_project.run", *arguments],
        env=os.environ | environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (completed.returncode, completed.stdout) == (2, "")
    assert completed.stderr == f"{message} is not a date; expected YYYY-MM-DD, e.g. 2026-11-20\n"


@pytest.mark.parametrize("value", ["abc", "-5"])
def test_a_bad_run_wait_prints_what_to_write_and_nothing_else(value, dagster_home):
    completed = subprocess.run(
        [sys.executable, "-m", "dagster_project.run", "--as-of-date", "2026-11-20"],
        env=os.environ | {"RUN_WAIT_MINUTES": value},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (completed.returncode, completed.stdout) == (2, "")
    assert completed.stderr == f"RUN_WAIT_MINUTES: {value!r} is not a number of minutes, e.g. 60\n"
    # Nothing was started: no run is left behind in the instance.
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        assert instance.get_runs() == []


def test_a_missing_dagster_home_prints_how_to_make_it_and_nothing_else(tmp_path):
    home = tmp_path / "not made" / "dagster home"
    completed = subprocess.run(
        [sys.executable, "-m", "dagster_project.run", "--as-of-date", "2026-11-20"],
        env=os.environ | {"DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (completed.returncode, completed.stdout) == (2, "")
    assert completed.stderr == (
        f"DAGSTER_HOME: '{home}' is not a folder. Dagster keeps its runs there; make it, with the "
        f"pipeline's instance settings: mkdir -p '{home}' && "
        f"cp {shlex.quote(str(settings.SHIPPED_INSTANCE_SETTINGS))} '{home}'/\n"
    )
    assert not home.parent.exists()


def test_a_relative_dagster_home_without_settings_runs_and_says_what_it_lacks(
    tmp_path, monkeypatch, capsys, dbt_manifest
):
    """Taken from where the run starts, as every path setting; Dagster alone refuses a relative
    DAGSTER_HOME. Without the shipped dagster.yaml the run goes on Dagster's defaults, and says
    so."""
    (tmp_path / "home").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", "home")
    monkeypatch.delenv("RAW_DATA_DIR", raising=False)
    monkeypatch.setenv("WAREHOUSE_PATH", "warehouse.duckdb")
    monkeypatch.setenv("REPORTS_DIR", "reports")
    assert main(["--as-of-date", "2026-11-20"]) == 0
    assert (
        f"{tmp_path / 'home'} has no dagster.yaml: this run goes without the pipeline's instance "
        "settings (one run at a time, run monitoring); copy "
        f"{settings.SHIPPED_INSTANCE_SETTINGS} there.\n"
    ) in capsys.readouterr().err
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        assert [run.status.value for run in instance.get_runs()] == ["SUCCESS"]
