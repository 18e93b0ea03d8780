"""The pipeline on Apache Spark (DBT_TARGET=spark): the lake the models read, and their reports
brought back for publishing.

The loads validate and quarantine as on DuckDB, into the warehouse file, which keeps the raw
tables, the quarantine and the load ledger as the record of what was read. Before each build on
Spark the dbt step writes those tables to the lake, `LAKE_DIR/raw/<table>/` as Parquet, where
the dbt sources of the Spark target read them (dbt_project/models/staging/_sources.yml). dbt
builds every model on Spark, into Spark's warehouse (`SPARK_WAREHOUSE_DIR/<schema>.db/<table>/`,
Parquet files). The reports it wrote, and the rows a dbt test stored as failures, are then
copied into the warehouse file under the same names as a DuckDB build writes them (as tables,
not views), so that publishing, the asset checks and the metadata the UI shows read them as they
do on DuckDB.

Both folders are local paths or URIs of a filesystem fsspec knows (`s3a://bucket/lake` with
s3fs, `file:///...`): on a cluster they are where the cluster reads and writes. The lake is
written by the step that builds rather than by the loads because an object store has no folder
to rename into place: so no build reads a lake that a killed run left half written.
"""

from __future__ import annotations

from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from dagster_project.extracts import _literal, matching_itself

# The raw tables the models read, and the quarantine, which a user reads beside them.
RAW_TABLES = ("orders", "customers", "items", "load_ledger", "rejected_rows")
# What publishing and the UI read of a build: the reports, and the failures dbt tests stored.
SCHEMAS_READ_AFTER_THE_BUILD = ("reports", "dbt_test__audit")


class Folder:
    """A folder of the lake or of Spark's warehouse: a local path or a URI (`s3a://...`). DuckDB
    reads and writes a remote one through fsspec, registered with the connection."""

    def __init__(self, location: str):
        self.location = location.rstrip("/")
        self.fs, self.path = url_to_fs(self.location)
        self.is_local = isinstance(self.fs, LocalFileSystem)

    def __truediv__(self, name: str) -> Folder:
        return Folder(f"{self.location}/{name}")

    @property
    def name(self) -> str:
        return _last_part(self.path)

    def for_duckdb(self, con) -> str:
        """This folder's name as DuckDB is to read it through `con`: a local path, or the URI
        with the filesystem registered (DuckDB's own S3 reader is an extension that it would
        fetch from the network)."""
        if self.is_local:
            return self.path
        protocol = self.fs.protocol
        # DuckDB registers a filesystem under its first protocol (`s3` for `s3`, `s3a`).
        if not con.filesystem_is_registered(protocol if isinstance(protocol, str) else protocol[0]):
            con.register_filesystem(self.fs)
        return self.location

    def subfolders(self) -> list[Folder]:
        if not self.fs.isdir(self.path):
            return []
        return [
            self / _last_part(entry)
            for entry in sorted(self.fs.ls(self.path, detail=False))
            if self.fs.isdir(entry)
        ]

    def empty(self) -> None:
        """Removes what the folder holds, and makes it when missing (an object store has no
        folders: there it is a prefix)."""
        if self.fs.exists(self.path):
            self.fs.rm(self.path, recursive=True)
        self.fs.makedirs(self.path, exist_ok=True)


def _last_part(path: str) -> str:
    """The last name of a path as fsspec writes it (`/`-separated, on every filesystem)."""
    return path.rstrip("/").rsplit("/", 1)[-1]


def write_raw_tables(con, lake: str) -> dict[str, int]:
    """Writes each raw table of the warehouse behind `con` to `lake/raw/<table>/` as Parquet,
    whole; returns each table's rows."""
    rows = {}
    for table in RAW_TABLES:
        folder = Folder(lake) / "raw" / table
        folder.empty()
        (rows[table],) = con.execute(f"select count(*) from raw.{table}").fetchone()
        target = folder.for_duckdb(con) + "/part-0.parquet"
        con.execute(f"copy raw.{table} to {_literal(target)} (format parquet)")
    return rows


def spark_tables(spark_warehouse: str, schema: str) -> dict[str, Folder]:
    """The tables Spark wrote in `schema`, by name, with the folders of their Parquet files."""
    return {
        folder.name: folder for folder in (Folder(spark_warehouse) / f"{schema}.db").subfolders()
    }


def parquet_files_sql(con, folder: Folder) -> str:
    """The Parquet files of `folder` as a DuckDB glob: the folder's own name taken literally
    (each `*`, `?` and `[` of it as a class of one character), then `*.parquet`."""
    return _literal(matching_itself(folder.for_duckdb(con)) + "/*.parquet")


def copy_spark_results(con, spark_warehouse: str) -> dict[str, int]:
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
                    f"read_parquet({parquet_files_sql(con, folder)})"
                )
                (copied[f"{schema}.{name}"],) = con.execute(
                    f"select count(*) from {relation}"
                ).fetchone()
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return copied
