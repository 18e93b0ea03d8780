"""A process outside Dagster holding the warehouse makes a step wait and say so, not fail."""

import contextlib
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

from dagster_project.defs.warehouse import WarehouseResource
from tests.conftest import shipped_instance

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_a_step_waits_for_a_reader_holding_the_warehouse_and_names_it(tmp_path, caplog):
    warehouse = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(warehouse), "2.5"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline() == "holding\n"

    resource = WarehouseResource(database=str(warehouse), lock_wait_seconds=60)
    with caplog.at_level(logging.WARNING), resource.get_connection() as con:
        con.execute("create table written_after_the_reader_left as select 1 as x")
    holder.wait()

    waits = [r.getMessage() for r in caplog.records if "held by another process" in r.getMessage()]
    assert waits, "the step should say why it waits"
    assert waits[0] == (
        f"The warehouse {warehouse} is held by another process (PID {holder.pid}); trying "
        "again in 1 s. BI tools and shells should read the published copy "
        "(REPORTS_DIR/reports.duckdb) instead."
    )


def test_a_step_gives_up_after_its_wait(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(warehouse), "10"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline() == "holding\n"
    try:
        resource = WarehouseResource(database=str(warehouse), lock_wait_seconds=2)
        try:
            with resource.get_connection():
                raise AssertionError("the connection should not open while the file is held")
        except duckdb.IOException as error:
            assert "lock" in str(error).lower()
    finally:
        holder.kill()
        holder.wait()


HOLD_UNTIL_RELEASED = """
import sys, time, duckdb
from pathlib import Path
con = duckdb.connect(sys.argv[1], read_only=True)
print("holding", flush=True)
while not Path(sys.argv[2]).exists():
    time.sleep(0.05)
"""


class WarehouseTakenAfterTheWait(WarehouseResource):
    """Another process takes the warehouse just after the dbt step's first wait and holds it until
    the step comes back to the warehouse: the race the step cannot wait out, because dbt opens the
    file in its own process."""

    scratch_dir: str

    def _release_when_taken(self) -> bool:
        taken, released = Path(self.scratch_dir) / "taken", Path(self.scratch_dir) / "released"
        if taken.exists():
            released.touch()
        return taken.exists()

    @contextlib.contextmanager
    def get_connection(self):
        self._release_when_taken()
        with super().get_connection() as con:
            yield con

    def wait_until_free(self) -> None:
        if self._release_when_taken():
            super().wait_until_free()
            return
        taken, released = Path(self.scratch_dir) / "taken", Path(self.scratch_dir) / "released"
        super().wait_until_free()
        taken.touch()
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_UNTIL_RELEASED, self.database, str(released)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout.readline() == "holding\n"


def test_the_dbt_step_is_retried_when_another_process_takes_the_warehouse(
    hand_built_run, tmp_path, monkeypatch
):
    from dagster import DagsterEventType, materialize

    from dagster_project.dbt_project import InstalledDbtCliResource, dbt_project
    from dagster_project.defs import dbt_models as dbt_models_module

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(hand_built_run.warehouse, warehouse)
    monkeypatch.setattr(dbt_models_module, "LOCK_RETRY_SECONDS", 1)

    # The retried step claims the warehouse's pool slot again, on the shipped instance settings.
    with shipped_instance() as instance:
        result = materialize(
            [dbt_models_module.dbt_models],
            resources={
                "warehouse": WarehouseTakenAfterTheWait(
                    database=str(warehouse), scratch_dir=str(tmp_path)
                ),
                "dbt": InstalledDbtCliResource(project_dir=dbt_project),
            },
            run_config={"ops": {"dbt_models": {"config": {"as_of_date": "2024-06-30"}}}},
            instance=instance,
        )

    assert result.success
    events = [e.event_type for e in result.all_events]
    assert events.count(DagsterEventType.STEP_UP_FOR_RETRY) == 1
    assert events.count(DagsterEventType.STEP_RESTARTED) == 1
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from reports.customer_activity_report").fetchone() == (
            12,
        )
