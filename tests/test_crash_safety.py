"""A load killed at any moment leaves the warehouse as it was before the file it was loading,
and the next load completes with exact counts.

A real process loads real files into a real DuckDB file and is killed with SIGKILL at several
points of its work; the warehouse is then checked, and loaded again.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from dagster_project import sample_data
from dagster_project.extracts import ENTITIES, LoadSettings, load_entity, reconcile

LOADER = """
import sys
from pathlib import Path
import duckdb
from dagster_project.extracts import ENTITIES, LoadSettings, load_entity
con = duckdb.connect(sys.argv[1])
print("connected", flush=True)
load_entity(con, ENTITIES["orders"], Path(sys.argv[2]), settings=LoadSettings(1.0))
con.close()
print("done", flush=True)
"""


@pytest.fixture(scope="module")
def extracts(tmp_path_factory) -> Path:
    """Three years of orders in 13 files, large enough that a load takes a moment."""
    raw = tmp_path_factory.mktemp("crash") / "raw"
    sample_data.generate(raw, customers=2_000, orders=120_000, seed=3)
    return raw


def reference_load(extracts: Path, tmp_path: Path) -> tuple[list[tuple], float]:
    """The counts of an uninterrupted load, and how long it took on this machine."""
    started = time.monotonic()
    with duckdb.connect(str(tmp_path / "reference.duckdb")) as con:
        load_entity(con, ENTITIES["orders"], extracts, settings=LoadSettings(1.0))
        return reconcile(con, ENTITIES["orders"]), time.monotonic() - started


def assert_consistent(warehouse: Path) -> dict[str, object]:
    """Every file the ledger lists is loaded whole; no row belongs to a file it does not list.

    Returns the ledger's load time of each file it lists.
    """
    with duckdb.connect(str(warehouse)) as con:
        tables = {
            row[0] for row in con.execute("select table_name from duckdb_tables()").fetchall()
        }
        if "load_ledger" not in tables:
            return {}
        per_file = reconcile(con, ENTITIES["orders"])
        ledger = {
            name: (rows_loaded, loaded_at)
            for name, rows_loaded, loaded_at in con.execute(
                "select source_file, rows_loaded, loaded_at from raw.load_ledger"
            ).fetchall()
        }
    for source_file, rows_read, rows_loaded, rows_quarantined in per_file:
        assert source_file in ledger, f"rows of {source_file} without a ledger entry"
        assert rows_read == rows_loaded + rows_quarantined, source_file
        assert rows_loaded == ledger[source_file][0], source_file
    return {name: loaded_at for name, (_, loaded_at) in ledger.items()}


def kill_a_load_after(warehouse: Path, extracts: Path, seconds: float) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", LOADER, str(warehouse), str(extracts)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    assert process.stdout.readline() == "connected\n"
    time.sleep(seconds)
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_a_killed_load_leaves_whole_files_and_the_next_load_completes(extracts, tmp_path):
    expected, duration = reference_load(extracts, tmp_path)
    files_complete_at_kill = []
    # Kill points spread over the load, in proportion to how long a load takes here.
    for attempt, share in enumerate([0.02, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9]):
        warehouse = tmp_path / f"warehouse_{attempt}.duckdb"
        kill_a_load_after(warehouse, extracts, share * duration)
        before = assert_consistent(warehouse)
        files_complete_at_kill.append(len(before))

        with duckdb.connect(str(warehouse)) as con:
            load_entity(con, ENTITIES["orders"], extracts, settings=LoadSettings(1.0))
            assert reconcile(con, ENTITIES["orders"]) == expected
        after = assert_consistent(warehouse)
        # Files whole before the kill were not loaded again.
        assert {name: after[name] for name in before} == before

    # The kills fell at different points of the load, some of them between two files.
    assert len(set(files_complete_at_kill)) >= 3, files_complete_at_kill
    assert any(0 < n < len(expected) for n in files_complete_at_kill), files_complete_at_kill
