"""The dbt step when DuckDB runs out of memory under DUCKDB_MEMORY_LIMIT: retried once, then
failed with what to raise."""

import shutil

from dagster import DagsterEventType, materialize

from dagster_project import settings
from dagster_project.dbt_project import dbt_cli_resource
from dagster_project.defs import dbt_models as dbt_models_module
from dagster_project.defs.warehouse import WarehouseResource
from tests.conftest import shipped_instance


def test_a_build_out_of_memory_is_retried_once_then_fails_naming_the_setting(
    hand_built_run, tmp_path, monkeypatch
):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(hand_built_run.warehouse, warehouse)
    monkeypatch.setattr(dbt_models_module, "MEMORY_RETRY_SECONDS", 0)
    # Far too little for any model: every attempt runs out of memory.
    with (
        settings.environment({"WAREHOUSE_PATH": str(warehouse), "DUCKDB_MEMORY_LIMIT": "1MiB"}),
        shipped_instance() as instance,
    ):
        result = materialize(
            [dbt_models_module.dbt_models],
            resources={
                "warehouse": WarehouseResource(database=str(warehouse)),
                "dbt": dbt_cli_resource(),
            },
            run_config={"ops": {"dbt_models": {"config": {"as_of_date": "2024-06-30"}}}},
            raise_on_error=False,
            instance=instance,
        )

    assert not result.success
    events = [e.event_type for e in result.all_events]
    assert events.count(DagsterEventType.STEP_UP_FOR_RETRY) == 1
    (failure,) = result.get_step_failure_events()
    error, messages = failure.step_failure_data.error, []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    message = "\n".join(messages)
    assert "ran out of memory under its limit of 1MiB, twice: raise DUCKDB_MEMORY_LIMIT" in message
