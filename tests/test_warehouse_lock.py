"""A process outside Dagster holding the warehouse makes a step wait and say so, not fail."""

import logging
import subprocess
import sys

import duckdb

from dagster_project.defs.warehouse import WarehouseResource

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
