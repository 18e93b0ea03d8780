"""The dbt project on Apache Spark (DBT_TARGET=spark): the same models, unchanged, build the same
reports as on DuckDB.

The hand-built extracts are loaded and validated by the pipeline on DuckDB (`hand_built_run`);
their raw tables are written as Parquet folders into a lake (LAKE_DIR/raw/<table>), which the
Spark target's sources read; dbt builds every model on a local Spark session; every report
table Spark wrote must equal the DuckDB warehouse's, row for row and type for type.

Needs the spark extra (`make install-spark`) and Java 17; skipped, saying which is missing,
without them.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from dagster_project.settings import DBT_PROJECT_DIR
from tests.conftest import HAND_BUILT_AS_OF

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(shutil.which("java") is None, reason="no Java on this machine"),
    pytest.mark.skipif(
        importlib.util.find_spec("pyspark") is None,
        reason="the spark extra is not installed (make install-spark)",
    ),
]

RAW_TABLES = ("orders", "customers", "items", "load_ledger", "rejected_rows")


def write_lake(warehouse: Path, lake: Path) -> None:
    """The warehouse's raw tables, each as a Parquet folder of the lake."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table in RAW_TABLES:
            folder = lake / "raw" / table
            folder.mkdir(parents=True)
            con.execute(f"copy raw.{table} to '{folder / 'part-0.parquet'}' (format parquet)")


@pytest.fixture(scope="module")
def spark_tables(hand_built_run, tmp_path_factory) -> Path:
    """Spark's warehouse folder after `dbt build` of every model on the hand-built lake."""
    out = tmp_path_factory.mktemp("spark")
    write_lake(hand_built_run.warehouse, out / "lake")
    environment = {
        **os.environ,
        "DBT_TARGET": "spark",
        "LAKE_DIR": str(out / "lake"),
        "SPARK_WAREHOUSE_DIR": str(out / "spark-warehouse"),
        "AS_OF_DATE": HAND_BUILT_AS_OF.isoformat(),
        "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
    }
    built = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "build",
            "--full-refresh",
            "--exclude",
            "test_type:unit",
            "--target-path",
            str(out / "target"),
            "--log-path",
            str(out / "logs"),
        ],
        cwd=DBT_PROJECT_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert built.returncode == 0, built.stdout[-6000:] + built.stderr[-3000:]
    return out / "spark-warehouse"


def duckdb_reports(warehouse: Path) -> list[str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return sorted(
            name
            for (name,) in con.execute(
                "select view_name from duckdb_views() where schema_name = 'reports' "
                "union select table_name from duckdb_tables() where schema_name = 'reports'"
            ).fetchall()
        )


def test_spark_builds_every_report(hand_built_run, spark_tables):
    built = sorted(path.name for path in (spark_tables / "reports.db").iterdir())
    assert built == duckdb_reports(hand_built_run.warehouse)
    assert len(built) == 7


def test_every_report_on_spark_equals_the_duckdb_one(hand_built_run, spark_tables):
    with duckdb.connect(str(hand_built_run.warehouse), read_only=True) as con:
        for report in duckdb_reports(hand_built_run.warehouse):
            on_spark = f"read_parquet('{spark_tables / 'reports.db' / report}/*.parquet')"
            columns = con.execute(f"describe reports.{report}").fetchall()
            spark_columns = con.execute(f"describe select * from {on_spark}").fetchall()
            # The same names, in the same order, of the same types.
            assert [c[:2] for c in spark_columns] == [c[:2] for c in columns], report
            rows = con.execute(f"select count(*) from reports.{report}").fetchone()[0]
            assert rows > 0, report
            for first, second in (
                (f"reports.{report}", on_spark),
                (on_spark, f"reports.{report}"),
            ):
                differing = con.execute(
                    f"select count(*) from (select * from {first} except all "
                    f"select * from {second})"
                ).fetchone()[0]
                assert differing == 0, f"{report}: {differing} of {rows} rows differ"
