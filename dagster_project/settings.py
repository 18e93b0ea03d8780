"""Settings read from the environment, in one place.

Every path is resolved to an absolute path here, once, because the tools that use them resolve
relative paths differently: dbt-duckdb runs from the dbt project folder, Dagster from wherever
the user started it. Both get the same absolute path from these functions.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import urlparse

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"

DEFAULT_RAW_DATA_DIR = "data/raw"
DEFAULT_WAREHOUSE_PATH = "data/warehouse.duckdb"
DEFAULT_REPORTS_DIR = "data/reports"
DEFAULT_LAKE_DIR = "data/lake"
DEFAULT_SPARK_WAREHOUSE_DIR = "data/spark-warehouse"
DEFAULT_SPARK_METASTORE_DIR = "data/spark-metastore"
ENGINES = ("duckdb", "spark")


def _path_from_env(name: str, default: str) -> Path:
    value = os.environ.get(name, "").strip() or default
    path = Path(value).expanduser()
    # Relative defaults are relative to the repository, so the pipeline finds the sample data
    # whatever folder it is started from; relative values a user sets are relative to where
    # they started it, as anywhere else on the command line.
    base = REPO_ROOT if value == default else Path.cwd()
    return (base / path).resolve() if not path.is_absolute() else path


def raw_data_dir() -> Path:
    """`RAW_DATA_DIR`: the folder holding the `orders/`, `customers/` and `items/` extracts."""
    return _path_from_env("RAW_DATA_DIR", DEFAULT_RAW_DATA_DIR)


def warehouse_path() -> Path:
    """`WAREHOUSE_PATH`: the DuckDB file the raw tables and the dbt models live in."""
    return _path_from_env("WAREHOUSE_PATH", DEFAULT_WAREHOUSE_PATH)


def reports_dir() -> Path:
    """`REPORTS_DIR`: where the published report files are written for BI tools."""
    return _path_from_env("REPORTS_DIR", DEFAULT_REPORTS_DIR)


def dbt_target() -> str:
    """`DBT_TARGET`: the engine the dbt models run on, `duckdb` (the default) or `spark`."""
    value = os.environ.get("DBT_TARGET", "").strip().lower() or "duckdb"
    if value not in ENGINES:
        raise ValueError(f"DBT_TARGET: {value!r} is not an engine; expected one of {ENGINES}")
    return value


def _folder_from_env(name: str, default: str) -> str:
    """A folder that may also be a URI (`s3a://bucket/lake`, `file:///data/lake`): a URI as it
    is given, for Spark and fsspec to read, anything else an absolute local path."""
    value = os.environ.get(name, "").strip()
    if "://" in value:
        return value.rstrip("/")
    return str(_path_from_env(name, default))


def lake_dir() -> str:
    """`LAKE_DIR`: on Spark, where each raw table is written as a Parquet folder (`raw/<table>/`)
    for the models to read; a local folder or a URI the cluster reads (`s3a://bucket/lake`)."""
    return _folder_from_env("LAKE_DIR", DEFAULT_LAKE_DIR)


def spark_warehouse_dir() -> str:
    """`SPARK_WAREHOUSE_DIR`: on Spark, where the models' tables go (`<schema>.db/<table>/`); a
    local folder or a URI."""
    return _folder_from_env("SPARK_WAREHOUSE_DIR", DEFAULT_SPARK_WAREHOUSE_DIR)


def spark_metastore_dir() -> Path:
    """`SPARK_METASTORE_DIR`: where a local Spark session keeps its catalog (a Derby database,
    which needs a local folder): the Spark warehouse's folder when that is local, else
    `data/spark-metastore`."""
    warehouse = local_path(spark_warehouse_dir())
    if warehouse is None or os.environ.get("SPARK_METASTORE_DIR", "").strip():
        return _path_from_env("SPARK_METASTORE_DIR", DEFAULT_SPARK_METASTORE_DIR)
    return warehouse


def local_path(folder: str) -> Path | None:
    """The local path a folder setting names (a path, or a `file:` URI, taken literally as Spark
    and fsspec take it: `%20` is not a space); None for a folder elsewhere (`s3a://...`)."""
    if folder.startswith("file://"):
        return Path(urlparse(folder).path)
    return None if "://" in folder else Path(folder)


def parse_as_of_date(value: str, source: str) -> dt.date:
    """Parses a `YYYY-MM-DD` as-of date, naming where a bad value came from."""
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"{source}: {value!r} is not a date; expected YYYY-MM-DD, e.g. 2026-11-20"
        ) from None


def default_as_of_date(today: dt.date | None = None) -> dt.date:
    """`AS_OF_DATE` when set, else today: the date a manual run computes the reports for."""
    value = os.environ.get("AS_OF_DATE", "").strip()
    if value:
        return parse_as_of_date(value, "AS_OF_DATE")
    return today or dt.date.today()


DEFAULT_SCHEDULE_CRON = "0 6 * * *"
DEFAULT_SCHEDULE_TIMEZONE = "UTC"


def schedule_cron() -> str:
    """`DAILY_SCHEDULE_CRON`: when the daily run starts (cron; default 06:00)."""
    return os.environ.get("DAILY_SCHEDULE_CRON", "").strip() or DEFAULT_SCHEDULE_CRON


def schedule_timezone() -> str:
    """`SCHEDULE_TIMEZONE`: the time zone of the schedule, and of 'today' for sensor runs."""
    return os.environ.get("SCHEDULE_TIMEZONE", "").strip() or DEFAULT_SCHEDULE_TIMEZONE


def extract_max_age_hours() -> float:
    """`EXTRACT_MAX_AGE_HOURS`: how long without a new orders extract before the UI warns."""
    return float(os.environ.get("EXTRACT_MAX_AGE_HOURS", "").strip() or 48)


# DuckDB's own default, 80% of the machine, lets a full build of 30M order lines hold 7.4 GiB
# for a 3% gain over this limit (benchmarks/analysis.md): the pipeline shares its machine with
# Dagster and often with BI tools, and past the limit DuckDB spills to disk instead of failing.
DEFAULT_DUCKDB_MEMORY_LIMIT = "3GiB"


def duckdb_memory_limit() -> str:
    """`DUCKDB_MEMORY_LIMIT`: how much memory DuckDB may use before it spills to disk, for the
    loads, dbt and publishing alike (e.g. `2GiB`, `80%`; default 3 GiB)."""
    return os.environ.get("DUCKDB_MEMORY_LIMIT", "").strip() or DEFAULT_DUCKDB_MEMORY_LIMIT


def run_wait_minutes() -> float:
    """`RUN_WAIT_MINUTES`: how long `make run` waits for another run of the instance to finish
    before it gives up (default 60)."""
    text = os.environ.get("RUN_WAIT_MINUTES", "").strip()
    try:
        minutes = float(text or 60)
    except ValueError:
        minutes = -1.0
    if not minutes >= 0:
        raise ValueError(f"RUN_WAIT_MINUTES: {text!r} is not a number of minutes, e.g. 60")
    return minutes


SHIPPED_INSTANCE_SETTINGS = REPO_ROOT / ".dagster_home" / "dagster.yaml"


def dagster_home() -> Path | None:
    """`DAGSTER_HOME`: the folder where Dagster keeps its runs and reads its instance settings
    (`make` sets `.dagster_home`, which holds the pipeline's); None when unset. Dagster wants an
    absolute path to an existing folder: a relative one is taken from where the user started,
    as every path setting here, and a missing one is an error that says how to make it."""
    text = os.environ.get("DAGSTER_HOME", "").strip()
    if not text:
        return None
    path = _path_from_env("DAGSTER_HOME", "")
    if not path.is_dir():
        raise ValueError(
            f"DAGSTER_HOME: {text!r} is not a folder. Dagster keeps its runs there; make it, "
            f"with the pipeline's instance settings: mkdir -p {shlex.quote(str(path))} && "
            f"cp {shlex.quote(str(SHIPPED_INSTANCE_SETTINGS))} {shlex.quote(str(path))}/"
        )
    return path


def failure_webhook_url() -> str:
    """`FAILURE_WEBHOOK_URL`: where a failed run's alert is posted (empty: the UI only)."""
    return os.environ.get("FAILURE_WEBHOOK_URL", "").strip()


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Sets these environment variables for the block (and the processes it starts), then puts
    back what was there."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
