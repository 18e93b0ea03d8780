"""The whole pipeline on Apache Spark (DBT_TARGET=spark) against the same pipeline on DuckDB, on
the hand-built extracts and on the shipped sample: every report equal, row for row and type for
type, and the same published files.

On Spark the dbt step writes the raw tables to the lake (LAKE_DIR), dbt builds every model on a
local Spark session (one for the whole module: dbt runs in this process), and the reports Spark
built are published from the warehouse file, where the dbt step copies them.

Needs the spark extra (`make install-spark`) and Java 17; skipped, saying which is missing,
without them.
"""

import filecmp
import importlib.util
import shutil
import sys
from pathlib import Path

import duckdb
import pytest

from dagster_project import settings
from dagster_project.build_plan import extract_date
from tests.conftest import HAND_BUILT_AS_OF, run_pipeline

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(shutil.which("java") is None, reason="no Java on this machine"),
    pytest.mark.skipif(
        importlib.util.find_spec("pyspark") is None,
        reason="the spark extra is not installed (make install-spark)",
    ),
]

SAMPLE_DIR = settings.REPO_ROOT / "data" / "raw"
# What the two engines' published files must hold alike (the page differs by its time stamp).
SAME_FILES = ("customer_activity_report.parquet", "inactive_customers.csv")
# The reports in reports.duckdb.
REPORTS_PUBLISHED_ON_SPARK = (
    "customer_activity_report",
    "win_back_call_list",
    "customer_item_activity_report",
    "customer_status_changes",
    "activity_kpis_monthly",
    "inactivity_backtest",
)


def sample_as_of():
    """The date of the sample's newest orders extract."""
    return max(extract_date(path.name) for path in (SAMPLE_DIR / "orders").iterdir())


@pytest.fixture(scope="module")
def spark_warehouse(tmp_path_factory) -> str:
    """One Spark warehouse for the module (the Spark session dbt starts in this process keeps
    the folder it was started with), named by a URI as a cluster's is (`s3a://...`): the
    pipeline reads Spark's tables through fsspec, and keeps Spark's catalog in a local folder."""
    return f"file://{tmp_path_factory.mktemp('spark_warehouse')}"


def run_on(engine: str, raw_dir: Path, out: Path, as_of_date, spark_warehouse: str, lake=None):
    environment = {"DBT_TARGET": engine}
    if engine == "spark":
        environment |= {
            "LAKE_DIR": lake or str(out / "lake"),
            "SPARK_WAREHOUSE_DIR": spark_warehouse,
        }
    with settings.environment(environment):
        return run_pipeline(raw_dir, out / "warehouse.duckdb", out / "reports", as_of_date)


@pytest.fixture(scope="module")
def hand_built_on_spark(dbt_manifest, hand_built_raw_dir, spark_warehouse, tmp_path_factory):
    """The hand-built extracts on Spark, with the lake named by a URI too (the sample's is a
    local path): the dbt step writes it through fsspec and Spark reads it by that URI."""
    out = tmp_path_factory.mktemp("hand_built_on_spark")
    return run_on(
        "spark", hand_built_raw_dir, out, HAND_BUILT_AS_OF, spark_warehouse,
        lake=f"file://{out / 'lake'}",
    )  # fmt: skip


@pytest.fixture(scope="module")
def sample_on_both(dbt_manifest, spark_warehouse, tmp_path_factory):
    as_of_date = sample_as_of()
    return tuple(
        run_on(engine, SAMPLE_DIR, tmp_path_factory.mktemp(f"sample_{engine}"), as_of_date,
               spark_warehouse)
        for engine in ("duckdb", "spark")
    )  # fmt: skip


def reports_of(warehouse: Path) -> list[str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return sorted(
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'reports' and table_catalog = current_database()"
            ).fetchall()
        )


def assert_same_reports(on_duckdb: Path, on_spark: Path) -> None:
    """Every report of the DuckDB warehouse, in the Spark run's, with the same columns of the
    same types and the same rows."""
    reports = reports_of(on_duckdb)
    assert reports == reports_of(on_spark)
    assert len(reports) == 7
    with duckdb.connect(str(on_duckdb), read_only=True) as con:
        con.execute(f"attach '{on_spark}' as spark (read_only)")
        for report in reports:
            columns = con.execute(f"describe reports.{report}").fetchall()
            assert con.execute(f"describe spark.reports.{report}").fetchall() == columns, report
            for first, second in (
                (f"reports.{report}", f"spark.reports.{report}"),
                (f"spark.reports.{report}", f"reports.{report}"),
            ):
                differing = con.execute(
                    f"select count(*) from (select * from {first} except all "
                    f"select * from {second})"
                ).fetchone()[0]
                assert differing == 0, f"{report}: {differing} rows differ"


def assert_same_published_files(on_duckdb: Path, on_spark: Path) -> None:
    for name in SAME_FILES:
        if name.endswith(".csv"):
            assert filecmp.cmp(on_duckdb / name, on_spark / name, shallow=False), name
    calls = sorted(path.name for path in (on_duckdb / "call_lists").iterdir())
    assert calls == sorted(path.name for path in (on_spark / "call_lists").iterdir())
    for name in calls:
        assert filecmp.cmp(
            on_duckdb / "call_lists" / name, on_spark / "call_lists" / name, shallow=False
        ), name
    assert (on_spark / "index.html").is_file()
    with duckdb.connect() as con:
        for name in SAME_FILES:
            if name.endswith(".parquet"):
                duck, spark = (f"read_parquet('{d / name}')" for d in (on_duckdb, on_spark))
                assert con.execute(f"describe select * from {spark}").fetchall() == (
                    con.execute(f"describe select * from {duck}").fetchall()
                )
                assert con.execute(
                    f"select count(*) from (select * from {duck} except all select * from {spark})"
                ).fetchone() == (0,)
        # The file BI tools open: the same reports, read through the same names.
        con.execute(f"attach '{on_duckdb / 'reports.duckdb'}' as duck (read_only)")
        con.execute(f"attach '{on_spark / 'reports.duckdb'}' as spark (read_only)")
        for (report,) in con.execute(
            "select table_name from information_schema.tables "
            "where table_catalog = 'duck' and table_schema = 'main'"
        ).fetchall():
            assert con.execute(
                f"select count(*) from (select * from duck.main.{report} except all "
                f"select * from spark.main.{report})"
            ).fetchone() == (0,), report


def test_each_build_on_spark_writes_the_raw_tables_to_the_lake_first(
    hand_built_on_spark, hand_built_run
):
    lake = hand_built_on_spark.warehouse.parent / "lake" / "raw"
    assert sorted(path.name for path in lake.iterdir()) == [
        "customers",
        "items",
        "load_ledger",
        "orders",
        "rejected_rows",
    ]
    # The same rows as the DuckDB run loaded (but the time of the load).
    with duckdb.connect(str(hand_built_run.warehouse), read_only=True) as con:
        for table, loaded_at in (
            ("orders", "_loaded_at"),
            ("customers", "_loaded_at"),
            ("rejected_rows", "loaded_at"),
        ):
            assert con.execute(
                f"select count(*) from (select * exclude ({loaded_at}) from raw.{table} "
                f"except all select * exclude ({loaded_at}) "
                f"from read_parquet('{lake / table}/*.parquet'))"
            ).fetchone() == (0,), table


def test_every_build_on_spark_is_full(hand_built_on_spark):
    how = hand_built_on_spark.metadata("reports/customer_activity_report")["dbt_build"]
    assert how == "full: on Spark every build is a full build"


def test_the_hand_built_reports_on_spark_equal_duckdbs(hand_built_run, hand_built_on_spark):
    assert_same_reports(hand_built_run.warehouse, hand_built_on_spark.warehouse)
    assert_same_published_files(hand_built_run.reports_dir, hand_built_on_spark.reports_dir)


def test_every_report_is_published_as_parquet_on_spark(hand_built_run, hand_built_on_spark):
    reports = reports_of(hand_built_run.warehouse)
    with duckdb.connect(str(hand_built_run.warehouse), read_only=True) as con:
        for report in reports:
            published = f"read_parquet('{hand_built_on_spark.reports_dir / report}.parquet')"
            assert con.execute(f"describe select * from {published}").fetchall() == (
                con.execute(f"describe reports.{report}").fetchall()
            ), report
            assert con.execute(
                f"select count(*) from (select * from reports.{report} except all "
                f"select * from {published})"
            ).fetchone() == (0,), report


def test_the_published_database_on_spark_holds_the_reports_and_its_record_alone(
    hand_built_on_spark,
):
    """No empty schemas beside the reports: the file a BI tool opens lists what it can read."""
    published = hand_built_on_spark.reports_dir / "reports.duckdb"
    with duckdb.connect(str(published), read_only=True) as con:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where database_name = current_database() order by all"
        ).fetchall()
        schemas = con.execute(
            "select schema_name from duckdb_schemas() "
            "where database_name = current_database() order by all"
        ).fetchall()
    assert tables == [
        ("intermediate", "reports_publication"),
        *(("main", report) for report in sorted(REPORTS_PUBLISHED_ON_SPARK)),
    ]
    assert schemas == [("intermediate",), ("main",)]


def test_the_run_summary_says_where_the_reports_are_on_spark(hand_built_on_spark):
    from dagster_project.run import summarize

    summary = summarize(
        hand_built_on_spark.warehouse, hand_built_on_spark.reports_dir, HAND_BUILT_AS_OF
    )
    assert (
        f"Warehouse: {hand_built_on_spark.warehouse} (the reports are the tables of its schema "
        "reports, copied from Spark's build)"
    ) in summary
    assert "every report as <report>.parquet, inactive_customers.csv" in summary


def test_the_sample_reports_on_spark_equal_duckdbs(sample_on_both):
    on_duckdb, on_spark = sample_on_both
    assert_same_reports(on_duckdb.warehouse, on_spark.warehouse)
    assert_same_published_files(on_duckdb.reports_dir, on_spark.reports_dir)


def test_the_benchmark_measures_a_full_run_on_spark(dbt_manifest, tmp_path):
    """`make bench`'s Spark column, on a small data set: a full run on Spark whose reports equal
    the baseline's, with its time, peak memory and Spark settings (no timing judged here)."""
    from tests.conftest import bench_module

    bench = bench_module()
    data_dir = tmp_path / "data" / "20k"
    measured = bench.bench_spark(
        data_dir, bench.generate(data_dir, 20_000), tmp_path, "", log=lambda message: None
    )
    assert measured["rows_differing"] == dict.fromkeys(measured["rows_differing"], 0)
    assert len(measured["rows_differing"]) == 5
    assert measured["full"]["seconds"] > 0 and measured["full"]["peak_rss_mib"] > 0
    # Spark's JVM is measured with the pipeline's processes.
    assert measured["full"]["peak_tree_rss_mib"] > 0
    assert measured["settings"] == bench.SPARK_SETTINGS

    sys.path.insert(0, str(settings.REPO_ROOT / "benchmarks"))
    from report import spark_lines

    table = "\n".join(spark_lines([measured]))
    assert "| Spark full run | Spark / baseline |" in table
    assert f"| {measured['lines']:,} |" in table
    assert "| yes |" in table
    assert f"| {measured['full']['peak_tree_rss_mib']:.0f} MiB | yes |" in table
