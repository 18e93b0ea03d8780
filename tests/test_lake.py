"""The lake and Spark's warehouse on an object store (`s3a://`), as a Spark cluster has them: the
raw tables written there whole, with no file of an earlier write left to be read twice, and the
tables Spark wrote there copied into the warehouse file. Against an S3 server in this process
(moto), through the same fsspec filesystem (s3fs) a user's `s3a://` folders go through.

The whole pipeline on Spark with both folders named by URIs is in tests/test_spark.py (`file://`:
this machine's Spark has no S3 connector); settings for each form of folder are at the end.
"""

import importlib.util
from pathlib import Path

import duckdb
import pytest

from dagster_project import settings
from dagster_project.lake import RAW_TABLES, copy_spark_results, write_raw_tables

needs_s3 = pytest.mark.skipif(
    importlib.util.find_spec("s3fs") is None or importlib.util.find_spec("moto") is None,
    reason="s3fs (the spark extra) or moto (the dev extra) is not installed",
)


@pytest.fixture(scope="module")
def s3_bucket():
    """An empty bucket on an S3 server of this process, and the environment that points s3fs at
    it, as a user's AWS settings would at theirs."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    environment = {
        "AWS_ACCESS_KEY_ID": "reports",
        "AWS_SECRET_ACCESS_KEY": "reports",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
    }
    with settings.environment(environment):
        import s3fs

        s3 = s3fs.S3FileSystem(skip_instance_cache=True)
        s3.mkdir("lake-bucket")
        yield s3
    server.stop()


def warehouse_with_raw_tables(path: Path):
    """A warehouse file whose raw tables hold 3, 2, 1, 0 and 0 rows."""
    con = duckdb.connect(str(path))
    con.execute("create schema raw")
    for table, rows in zip(RAW_TABLES, (3, 2, 1, 0, 0), strict=True):
        con.execute(
            f"create table raw.{table} as select range as line, 'row ' || range as text "
            f"from range({rows})"
        )
    return con


@pytest.mark.parametrize(
    "form", ["local path", "file URI", pytest.param("s3a URI", marks=needs_s3)]
)
def test_the_raw_tables_are_written_whole_and_alone(form, tmp_path, request):
    """Written twice, over a file an earlier write left in a table's folder: each folder then
    holds this write's rows, once."""
    if form == "s3a URI":
        s3 = request.getfixturevalue("s3_bucket")
        lake, files = "s3a://lake-bucket/lake", s3
        root = "lake-bucket/lake"
    else:
        root = str(tmp_path / "our lake")
        # A file URI is taken literally (a space as a space), as Spark reads it.
        lake = root if form == "local path" else f"file://{root}"
        import fsspec

        files = fsspec.filesystem("file")
    with warehouse_with_raw_tables(tmp_path / "warehouse.duckdb") as con:
        assert write_raw_tables(con, lake) == {
            "orders": 3,
            "customers": 2,
            "items": 1,
            "load_ledger": 0,
            "rejected_rows": 0,
        }
        files.pipe(
            f"{root}/raw/orders/part-1.parquet", files.cat(f"{root}/raw/orders/part-0.parquet")
        )
        con.execute("insert into raw.orders values (3, 'row 3')")
        assert write_raw_tables(con, lake)["orders"] == 4
        for table in RAW_TABLES:
            assert [Path(name).name for name in files.ls(f"{root}/raw/{table}", detail=False)] == [
                "part-0.parquet"
            ], table
        local = tmp_path / "orders.parquet"
        files.get(f"{root}/raw/orders/part-0.parquet", str(local))
        assert con.execute(f"select * from read_parquet('{local}') order by line").fetchall() == [
            (0, "row 0"),
            (1, "row 1"),
            (2, "row 2"),
            (3, "row 3"),
        ]


@needs_s3
def test_the_tables_spark_wrote_on_s3_are_copied_into_the_warehouse(s3_bucket, tmp_path):
    """Spark's layout (`<schema>.db/<table>/part-*.parquet` with a `_SUCCESS` file): a report
    that the previous DuckDB build left as a view becomes a table of Spark's rows; the failures
    of a dbt test are copied too; a schema Spark did not write is left alone."""
    s3 = s3_bucket
    spark_warehouse = "s3a://lake-bucket/spark-warehouse"
    with duckdb.connect() as scratch:
        for name, query in (
            ("reports.db/customer_activity_report/part-00000-a.snappy.parquet",
             "select 'C1' as customer_id, 'inactive' as activity_status"),
            ("reports.db/customer_activity_report/part-00001-a.snappy.parquet",
             "select 'C2' as customer_id, 'active' as activity_status"),
            ("dbt_test__audit.db/unique_report_customer_id/part-00000-b.snappy.parquet",
             "select 'C9' as unique_field, 2 as n_records"),
            ("staging.db/stg_orders/part-00000-c.snappy.parquet", "select 1 as line"),
        ):  # fmt: skip
            local = tmp_path / "part.parquet"
            scratch.execute(f"copy ({query}) to '{local}' (format parquet)")
            s3.put_file(str(local), f"lake-bucket/spark-warehouse/{name}")
        s3.pipe("lake-bucket/spark-warehouse/reports.db/customer_activity_report/_SUCCESS", b"")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("create schema reports")
        con.execute(
            "create view reports.customer_activity_report as "
            "select 'C0' as customer_id, 'active' as activity_status"
        )
        assert copy_spark_results(con, spark_warehouse) == {
            "reports.customer_activity_report": 2,
            "dbt_test__audit.unique_report_customer_id": 1,
        }
        assert con.execute(
            "select * from reports.customer_activity_report order by customer_id"
        ).fetchall() == [("C1", "inactive"), ("C2", "active")]
        assert con.execute(
            "select table_type from information_schema.tables "
            "where table_name = 'customer_activity_report'"
        ).fetchall() == [("BASE TABLE",)]
        assert con.execute(
            "select * from dbt_test__audit.unique_report_customer_id"
        ).fetchall() == [("C9", 2)]
        assert con.execute(
            "select count(*) from information_schema.schemata where schema_name = 'staging'"
        ).fetchone() == (0,)


def test_spark_folders_are_local_paths_or_uris(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("LAKE_DIR", "SPARK_WAREHOUSE_DIR", "SPARK_METASTORE_DIR"):
        monkeypatch.delenv(name, raising=False)
    # The defaults, in the repository; Spark's catalog beside its tables.
    assert settings.lake_dir() == str(settings.REPO_ROOT / "data" / "lake")
    assert settings.spark_metastore_dir() == settings.REPO_ROOT / "data" / "spark-warehouse"
    # A relative folder is the user's, from where they started.
    monkeypatch.setenv("LAKE_DIR", "my-lake")
    assert settings.lake_dir() == str(tmp_path / "my-lake")
    # A URI stays as given (but a trailing slash); a local catalog for a remote warehouse.
    monkeypatch.setenv("LAKE_DIR", "s3a://bucket/lake/")
    monkeypatch.setenv("SPARK_WAREHOUSE_DIR", "s3a://bucket/warehouse")
    assert settings.lake_dir() == "s3a://bucket/lake"
    assert settings.spark_warehouse_dir() == "s3a://bucket/warehouse"
    assert settings.spark_metastore_dir() == settings.REPO_ROOT / "data" / "spark-metastore"
    # A file URI is taken literally, as Spark takes it: a space is a space, `%20` is `%20`.
    monkeypatch.setenv("SPARK_WAREHOUSE_DIR", f"file://{tmp_path}/our warehouse")
    assert settings.spark_metastore_dir() == tmp_path / "our warehouse"
    monkeypatch.setenv("SPARK_WAREHOUSE_DIR", f"file://{tmp_path}/our%20warehouse")
    assert settings.spark_metastore_dir() == tmp_path / "our%20warehouse"
    monkeypatch.setenv("SPARK_METASTORE_DIR", "catalog")
    assert settings.spark_metastore_dir() == tmp_path / "catalog"
