"""The pipeline on Apache Spark (DBT_TARGET=spark): the lake the models read, and their reports
brought back for publishing.

The loads validate and quarantine as on DuckDB, into the warehouse file, which keeps the raw
tables, the quarantine and the load ledger as the record of what was read. On Spark each of
those tables is then written to the lake, `LAKE_DIR/raw/<table>/` as Parquet, where the dbt
sources of the Spark target read them (dbt_project/models/staging/_sources.yml). dbt builds
every model on Spark, into Spark's warehouse (`SPARK_WAREHOUSE_DIR/<schema>.db/<table>/`, Parquet
files). The reports it wrote, and the rows a dbt test stored as failures, are then copied into
the warehouse file under the same names as a DuckDB build writes them (as tables, not views), so
that publishing, the asset checks and the metadata the UI shows read them as they do on DuckDB.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from dagster_project.extracts import _literal, matching_itself
from dagster_project.reports_database import replace_folder

# The raw tables the models read, and the quarantine, which a user reads beside them.
RAW_TABLES = ("orders", "customers", "items", "load_ledger", "rejected_rows")
# What publishing and the UI read of a build: the reports, and the failures dbt tests stored.
SCHEMAS_READ_AFTER_THE_BUILD = ("reports", "dbt_test__audit")


def write_raw_tables(con, lake: Path) -> dict[str, int]:
    """Writes each raw table of the warehouse behind `con` to `lake/raw/<table>/` as Parquet,
    whole; returns each table's rows. Each folder is written beside the old one and put in its
    place, so that a build never reads half a table."""
    rows = {}
    for table in RAW_TABLES:
        folder = lake / "raw" / table
        partial = folder.with_name(f"{table}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        (rows[table],) = con.execute(f"select count(*) from raw.{table}").fetchone()
        con.execute(
            f"copy raw.{table} to {_literal(str(partial / 'part-0.parquet'))} (format parquet)"
        )
        replace_folder(partial, folder)
    return rows


def spark_tables(spark_warehouse: Path, schema: str) -> dict[str, Path]:
    """The tables Spark wrote in `schema`, by name, with the folders of their Parquet files."""
    root = spark_warehouse / f"{schema}.db"
    if not root.is_dir():
        return {}
    return {folder.name: folder for folder in sorted(root.iterdir()) if folder.is_dir()}


def parquet_files_sql(folder: Path) -> str:
    """The Parquet files of `folder` as a DuckDB glob: the folder's own name taken literally
    (each `*`, `?` and `[` of it as a class of one character), then `*.parquet`."""
    return _literal(matching_itself(str(folder)) + "/*.parquet")


def copy_spark_results(con, spark_warehouse: Path) -> dict[str, int]:
    """Copies the tables Spark wrote in the schemas read after a build into the warehouse behind
    `con`, under their names, replacing what was there (a DuckDB build's views too); returns
    each table's rows. In one transaction: a reader sees the previous build's or this one's."""
    copied = {}
    con.execute("begin")
    try:
        for schema in SCHEMAS_READ_AFTER_THE_BUILD:
            con.execute(f"create schema if not exists {schema}")
            for name, folder in spark_tables(spark_warehouse, schema).items():
                relation = f'{schema}."{name}"'
                (kind,) = con.execute(
                    "select coalesce(max(table_type), '') from information_schema.tables "
                    "where table_catalog = current_database() and table_schema = ? "
                    "and table_name = ?",
                    [schema, name],
                ).fetchone()
                if kind == "VIEW":
                    con.execute(f"drop view {relation}")
                con.execute(
                    f"create or replace table {relation} as select * from "
                    f"read_parquet({parquet_files_sql(folder)})"
                )
                (copied[f"{schema}.{name}"],) = con.execute(
                    f"select count(*) from {relation}"
                ).fetchone()
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return copied
