"""Shared fixtures: the hand-built extracts, and one real pipeline run over them.

The run is the expensive part (real DuckDB, real dbt, real Dagster), so it happens once per test
session, into a temporary warehouse, and the report tests read what it wrote.
"""

import contextlib
import datetime as dt
import importlib.util
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from dagster_project.settings import SHIPPED_INSTANCE_SETTINGS

FIXTURES = Path(__file__).parent / "fixtures"
HAND_BUILT_AS_OF = dt.date(2024, 6, 30)
BENCHMARKS_DIR = Path(__file__).parent.parent / "benchmarks"


def bench_module():
    """benchmarks/bench.py, a script rather than a package: its baseline (`run_baseline`) and
    its comparison of the pipeline's reports with the baseline's (`differences`)."""
    spec = importlib.util.spec_from_file_location("bench", BENCHMARKS_DIR / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def dbt_project_setting_changed(shipped: str, changed: str):
    """dbt_project.yml with the line `shipped` changed to `changed`, as a user edits it; put
    back after."""
    from dagster_project.build_state import DBT_PROJECT_FILE

    text = DBT_PROJECT_FILE.read_text()
    assert shipped in text
    DBT_PROJECT_FILE.write_text(text.replace(shipped, changed))
    try:
        yield
    finally:
        DBT_PROJECT_FILE.write_text(text)


def business_settings_changed(shipped: tuple[str, ...], changed: tuple[str, ...]):
    """dbt_project.yml with the order types that count as purchases changed from `shipped` to
    `changed`."""

    def setting(order_types):
        return "purchase_order_types: [" + ", ".join(f'"{t}"' for t in order_types) + "]"

    return dbt_project_setting_changed(setting(shipped), setting(changed))


def write_parquet(path: Path, select_sql: str) -> None:
    with duckdb.connect() as con:
        con.execute(f"copy ({select_sql}) to '{path}' (format parquet)")


@pytest.fixture(scope="session")
def hand_built_raw_dir(tmp_path_factory) -> Path:
    """The hand-built extracts, plus their Parquet file (typed columns, as a system writes them).

    C12's orders live only here: two weekly purchases and a void order.
    """
    raw_dir = tmp_path_factory.mktemp("hand_built") / "raw"
    shutil.copytree(FIXTURES / "hand_built", raw_dir, ignore=shutil.ignore_patterns("*.md"))
    write_parquet(
        raw_dir / "orders" / "orders_2024-06-24.parquet",
        """
        select * from (values
            ('P-001', date '2024-06-16', 'C12', 'I3', 2, 10.00::double, 'invoice'),
            ('P-002', date '2024-06-23', 'C12', 'I3', 2, 10.00::double, 'invoice'),
            ('P-003', date '2024-06-23', 'C12', 'I1', 1, 0.00::double, 'void')
        ) as t(order_id, order_date, customer_id, item_id, quantity, amount, order_type)
        """,
    )
    return raw_dir


@pytest.fixture(scope="session")
def dbt_manifest() -> None:
    """The dbt manifest must exist before the Dagster definitions are imported."""
    from dagster_project.dbt_project import prepare_manifest

    prepare_manifest()


@contextlib.contextmanager
def shipped_instance(home: Path | None = None):
    """A Dagster instance with the shipped settings (`.dagster_home/dagster.yaml`: the run queue,
    the `duckdb_warehouse` pool of one slot, run monitoring) in `home`, else a temporary folder."""
    from dagster import DagsterInstance

    with contextlib.ExitStack() as stack:
        if home is None:
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dagster_home")))
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(SHIPPED_INSTANCE_SETTINGS, home / "dagster.yaml")
        yield stack.enter_context(DagsterInstance.from_config(str(home)))


@pytest.fixture
def dagster_home(tmp_path, monkeypatch) -> Path:
    """DAGSTER_HOME, for this test, a folder holding a copy of the shipped `dagster.yaml`."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(SHIPPED_INSTANCE_SETTINGS, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@dataclass(frozen=True)
class PipelineRun:
    warehouse: Path
    reports_dir: Path
    result: object

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql).fetchall()

    def metadata(self, asset_key: str) -> dict:
        """The metadata of the run's one materialization of `asset_key` (`a/b`), as values."""
        (metadata,) = [
            event.materialization.metadata
            for event in self.result.get_asset_materialization_events()
            if event.asset_key.to_user_string() == asset_key
        ]
        return {name: value.value for name, value in metadata.items()}


def run_pipeline(
    raw_dir: Path,
    warehouse: Path,
    reports_dir: Path,
    as_of_date: dt.date,
    selection=None,
    raise_on_error: bool = True,
) -> PipelineRun:
    """Every asset materialized by the run the daily schedule asks for on `as_of_date` (or only
    those of `selection`, an asset selection, as a person may choose in the Dagster UI)."""
    from dagster import build_schedule_context, materialize

    from dagster_project import settings
    from dagster_project.dbt_project import dbt_cli_resource
    from dagster_project.definitions import defs
    from dagster_project.defs.schedules import inactive_customer_reports_job
    from dagster_project.defs.warehouse import WarehouseResource

    scheduled = dt.datetime.combine(as_of_date, dt.time(6, 0), tzinfo=dt.UTC)
    schedule = defs.resolve_schedule_def("daily_reports_schedule")
    (request,) = schedule.evaluate_tick(
        build_schedule_context(scheduled_execution_time=scheduled)
    ).run_requests

    environment = {
        "RAW_DATA_DIR": str(raw_dir),
        "REPORTS_DIR": str(reports_dir),
        # The schedule's run config alone must set the date: a stray AS_OF_DATE would hide a bug.
        "AS_OF_DATE": "1999-01-01",
    }
    with settings.environment(environment), shipped_instance() as instance:
        result = materialize(
            defs.assets,
            selection=selection or inactive_customer_reports_job.selection,
            resources={
                "warehouse": WarehouseResource(database=str(warehouse)),
                "dbt": dbt_cli_resource(),
            },
            run_config=request.run_config,
            tags=request.tags,
            instance=instance,
            raise_on_error=raise_on_error,
        )
    return PipelineRun(warehouse=warehouse, reports_dir=reports_dir, result=result)


@pytest.fixture(scope="session")
def hand_built_run(dbt_manifest, hand_built_raw_dir, tmp_path_factory) -> PipelineRun:
    """Every asset materialized over the hand-built extracts, by the run the daily schedule asks
    for on the as-of date, into a temporary warehouse."""
    out = tmp_path_factory.mktemp("hand_built_run")
    return run_pipeline(
        hand_built_raw_dir, out / "warehouse.duckdb", out / "reports", HAND_BUILT_AS_OF
    )
