"""What BI tools and sales teams read: the published files in REPORTS_DIR.

The DuckDB file must open in the DuckDB that BI drivers bundle (1.4), read from a separate
environment with that version (`make bi-reader`); publishing must never show a reader half a
state, even while a reader holds the file for the whole of a run.
"""

import csv
import datetime as dt
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from dagster_project.reports_database import VIEWS as DATABASE_VIEWS
from dagster_project.settings import REPO_ROOT
from tests.conftest import run_pipeline

BI_READER_PYTHON = Path(
    os.environ.get("BI_READER_PYTHON", REPO_ROOT / ".venv-duckdb-1.4.4" / "bin" / "python")
)

READ_EVERY_REPORT = """
import json, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print(json.dumps({
    "version": duckdb.__version__,
    "tables": {
        table: [[str(v) for v in row] for row in con.execute(
            f"select * from {table} order by all").fetchall()]
        for table in sys.argv[2:]
    },
}))
"""


def assert_bi_tools_read_the_reports(run) -> None:
    """`reports.duckdb` of `run` opens in DuckDB 1.4 and shows every report in it as the
    warehouse does."""
    if not BI_READER_PYTHON.exists():
        pytest.fail(f"{BI_READER_PYTHON} is missing: `make bi-reader` creates it")
    published = run.reports_dir / "reports.duckdb"
    completed = subprocess.run(
        [
            str(BI_READER_PYTHON),
            "-c",
            READ_EVERY_REPORT,
            str(published),
            *(view.split(".")[1] for view in DATABASE_VIEWS),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    seen = json.loads(completed.stdout)
    assert seen["version"].startswith("1.4.")
    assert len(seen["tables"]) == len(DATABASE_VIEWS)
    for table, rows in seen["tables"].items():
        expected = run.query(f"select * from reports.{table} order by all")
        assert rows == [[str(v) for v in row] for row in expected], table


def test_reports_database_opens_in_the_duckdb_that_bi_drivers_bundle(hand_built_run):
    assert_bi_tools_read_the_reports(hand_built_run)


def test_the_call_list_names_the_inactive_customers_most_valuable_first(hand_built_run):
    csv_text = (hand_built_run.reports_dir / "inactive_customers.csv").read_text()
    assert csv_text.splitlines() == [
        "as_of_date,customer_id,customer_name,email,sales_rep,segment,billing_cycle,"
        "last_purchase_date,days_since_last_purchase,inactive_since,lifetime_net_revenue,"
        "revenue_last_365_days,items_they_used_to_buy",
        "2024-06-30,C05,Annual Lapsed,c05@example.com,Chen,Enterprise,annual,2023-05-01,426,"
        "2024-06-05,400.00,0.00,Gadget",
        "2024-06-30,C02,Boundary Ninety-One,c02@example.com,Ana,SMB,monthly,2024-03-31,91,"
        "2024-06-30,80.00,80.00,Widget",
        "2024-06-30,C07,Zero Value,c07@example.com,Ana,Mid-Market,monthly,2024-02-01,150,"
        "2024-05-02,60.00,60.00,Widget",
        "2024-06-30,C03,Weekly Lapsed,c03@example.com,Ben,SMB,weekly,2024-05-20,41,"
        "2024-06-18,50.00,50.00,Refill",
    ]


READER_LOOP = """
import json, sys, time, duckdb
from pathlib import Path
path, stop, mode = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
CONSISTENT = (
    "select (select max(as_of_date)::varchar from customer_activity_report), "
    "(select max(as_of_date)::varchar from customer_item_activity_report), "
    "(select count(*) from customer_activity_report)"
)
# held: one connection for the whole run; fresh: a new connection for every query, in its own
# process (DuckDB shares one database instance between the connections of a process).
held = duckdb.connect(path, read_only=True) if mode == "held" else None
seen, errors = [], []
print("reading", flush=True)
while True:
    stopping = stop.exists()
    try:
        con = held or duckdb.connect(path, read_only=True)
        seen.append(con.execute(CONSISTENT).fetchone())
        if con is not held:
            con.close()
    except Exception as error:
        errors.append(str(error))
    if stopping:
        break
    time.sleep(0.01)
print(json.dumps({"seen": seen, "errors": errors}), flush=True)
"""


def start_reader(path: Path, stop: Path, mode: str) -> subprocess.Popen:
    reader = subprocess.Popen(
        [sys.executable, "-c", READER_LOOP, str(path), str(stop), mode],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout.readline() == "reading\n"
    return reader


def test_a_reader_holding_the_reports_for_a_whole_run_never_sees_a_mixed_state(
    hand_built_run, hand_built_raw_dir, tmp_path
):
    warehouse = tmp_path / "warehouse.duckdb"
    reports_dir = tmp_path / "reports"
    shutil.copy(hand_built_run.warehouse, warehouse)
    shutil.copytree(hand_built_run.reports_dir, reports_dir)
    stop = tmp_path / "stop"
    published = reports_dir / "reports.duckdb"
    readers = {mode: start_reader(published, stop, mode) for mode in ("held", "fresh")}
    try:
        # A run for the next quarter's end, so that the published data really changes.
        run = run_pipeline(hand_built_raw_dir, warehouse, reports_dir, dt.date(2024, 9, 30))
    finally:
        stop.touch()
        outputs = {mode: reader.communicate(timeout=60)[0] for mode, reader in readers.items()}

    assert run.result.success
    as_of_dates = {}
    for mode, output in outputs.items():
        result = json.loads(output)
        assert result["errors"] == [], (mode, result["errors"][:3])
        assert len(result["seen"]) > 10, mode
        # Both tables always show one as-of date, whichever state the reader sees.
        assert all(a == b for a, b, _ in result["seen"]), mode
        as_of_dates[mode] = [a for a, _, _ in result["seen"]]
    # The held connection keeps the old file throughout; new connections see the new one.
    assert set(as_of_dates["held"]) == {"2024-06-30"}
    assert as_of_dates["fresh"][0] == "2024-06-30"
    assert as_of_dates["fresh"][-1] == "2024-09-30"


def test_the_previous_file_takes_the_days_changes_unless_a_reader_holds_it(
    hand_built_run, hand_built_raw_dir, tmp_path
):
    """A run updates the file published before the current one (reports.duckdb.previous) where
    it lies; a BI tool that opened it before the last run and kept its connection keeps it as
    it was, and the run updates a copy of the current file instead."""
    warehouse = tmp_path / "warehouse.duckdb"
    reports_dir = tmp_path / "reports"
    shutil.copy(hand_built_run.warehouse, warehouse)
    shutil.copytree(hand_built_run.reports_dir, reports_dir)
    published = reports_dir / "reports.duckdb"

    def publish(as_of_date: dt.date) -> str:
        run = run_pipeline(hand_built_raw_dir, warehouse, reports_dir, as_of_date)
        assert run.result.success
        for table in ("customer_activity_report", "customer_item_activity_report"):
            with duckdb.connect(str(published), read_only=True) as con:
                rows = con.execute(f"select * from {table} order by all").fetchall()
            assert rows == run.query(f"select * from reports.{table} order by all"), table
            assert {row[0] for row in rows} == {as_of_date}, table
        return run.metadata("published/reports_database")["how_published"]

    # The order dated 2024-07-05 comes into view: the build recomputes every customer.
    assert publish(dt.date(2024, 9, 30)) == (
        "Written in full (the current file: a build since recomputed every customer)."
    )
    # The previous file, the hand-built run's, is from before that build.
    assert publish(dt.date(2024, 10, 31)).startswith(
        "Updated from a copy of the published file (the previous file: a build since recomputed "
        "every customer)"
    )
    stop = tmp_path / "stop"
    # The file of 2024-09-30, previous now, held by a reader.
    reader = start_reader(reports_dir / "reports.duckdb.previous", stop, "held")
    try:
        held = publish(dt.date(2024, 11, 30))
    finally:
        stop.touch()
        output = json.loads(reader.communicate(timeout=60)[0])
    assert held.startswith(
        "Updated from a copy of the published file (the previous file: held by another process)"
    )
    assert output["errors"] == []
    assert {a for a, _, _ in output["seen"]} == {"2024-09-30"}
    # Released, the previous file (of 2024-10-31) takes the next day's changes.
    assert publish(dt.date(2024, 12, 31)).startswith(
        "Updated from the previous file (reports.duckdb.previous): "
    )
    # A run stopped just after naming the current file as the previous one leaves one file under
    # both names: the next run must not write it, since BI tools read it.
    previous = reports_dir / "reports.duckdb.previous"
    previous.unlink()
    os.link(published, previous)
    assert publish(dt.date(2025, 1, 31)).startswith(
        "Updated from a copy of the published file (the previous file: the current file itself)"
    )
    assert not os.path.samefile(published, previous)


def readme_bi_queries() -> dict[str, str]:
    """The SQL block after each `<!-- bi-query: name -->` marker of the README."""
    text = (REPO_ROOT / "README.md").read_text()
    queries = {}
    for part in text.split("<!-- bi-query: ")[1:]:
        name, rest = part.split(" -->", 1)
        queries[name] = rest.split("```sql\n", 1)[1].split("```", 1)[0]
    return queries


RUN_QUERY = """
import json, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print(json.dumps([[str(v) for v in row] for row in con.execute(sys.argv[2]).fetchall()]))
"""


def test_the_readme_has_one_query_per_bi_tool():
    assert sorted(readme_bi_queries()) == ["duckdb-cli", "evidence", "metabase", "superset"]


@pytest.mark.parametrize(
    ("tool", "expected"),
    [
        (
            "duckdb-cli",
            [["active", "6"], ["inactive", "4"], ["never_purchased", "2"]],
        ),
        (
            "evidence",
            [
                ["Annual Lapsed", "Chen", "2023-05-01", "2024-06-05", "400.00"],
                ["Boundary Ninety-One", "Ana", "2024-03-31", "2024-06-30", "80.00"],
                ["Zero Value", "Ana", "2024-02-01", "2024-05-02", "60.00"],
                ["Weekly Lapsed", "Ben", "2024-05-20", "2024-06-18", "50.00"],
            ],
        ),
        # The at-risk and inactive customers of tests/test_call_lists.py: Ben 600 + 50, Chen
        # 400, Ana 100 + 80 + 60.
        ("metabase", [["Ben", "2", "650.00"], ["Chen", "1", "400.00"], ["Ana", "3", "240.00"]]),
        (
            "superset",
            [["Hardware", "6", "10"], ["Consumables", "2", "3"], ["None", "0", "1"]],
        ),
    ],
)
def test_the_readme_bi_queries_run_on_the_published_file(hand_built_run, tool, expected):
    if not BI_READER_PYTHON.exists():
        pytest.fail(f"{BI_READER_PYTHON} is missing: `make bi-reader` creates it")
    published = str(hand_built_run.reports_dir / "reports.duckdb")
    query = readme_bi_queries()[tool]
    if tool == "duckdb-cli":
        # The command-line tool `make bi-reader` installs beside that Python, as the README
        # has it (`duckdb -readonly ...`), its rows printed as CSV.
        command = [str(BI_READER_PYTHON.parent / "duckdb"), "-readonly", "-csv", "-noheader"]
        command += [published, "-c", query]
    else:
        command = [str(BI_READER_PYTHON), "-c", RUN_QUERY, published, query]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    if tool == "duckdb-cli":
        assert list(csv.reader(io.StringIO(completed.stdout))) == expected
    else:
        assert json.loads(completed.stdout) == expected


def test_a_published_files_date_is_read_from_a_folder_named_like_a_pattern(tmp_path):
    """A reports folder whose name holds `*` is read as itself, not as a pattern that also
    reads the files of the folders beside it."""
    from dagster_project.defs.published_reports import (
        CUSTOMER_REPORT_FILE,
        latest_published_date,
    )

    reports_dir, beside = tmp_path / "reports*", tmp_path / "reports of another business"
    with duckdb.connect() as con:
        for folder, date in ((reports_dir, "2026-11-20"), (beside, "2027-01-31")):
            folder.mkdir()
            con.execute(
                f"copy (select date '{date}' as as_of_date) "
                f"to '{folder / CUSTOMER_REPORT_FILE}' (format parquet)"
            )
        assert latest_published_date(con, reports_dir) == dt.date(2026, 11, 20)
