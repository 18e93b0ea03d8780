"""The Dagster code location: it loads, shows one lineage from extracts to published reports,
and its schedule asks for the reports as of the scheduled day."""

import datetime as dt
import json
import os
import re
from zoneinfo import ZoneInfo

import pytest
from dagster import AssetKey, build_schedule_context, build_sensor_context


@pytest.fixture(scope="module")
def defs(dbt_manifest):
    from dagster_project.definitions import defs

    return defs


def key(path: str) -> AssetKey:
    return AssetKey(path.split("/"))


def test_the_jobs_description_keeps_every_word_when_the_ui_renders_it(defs):
    """The UI renders a job's description as Markdown, where a `<date>` outside a code span is an
    HTML tag: it disappears from the page, leaving `backfills//`."""
    description = defs.resolve_job_def("inactive_customer_reports").description
    outside_code_spans = description.split("`")[::2]
    assert [re.findall(r"<[^>]*>", text) for text in outside_code_spans] == [
        [] for _ in outside_code_spans
    ]
    assert "`REPORTS_DIR/backfills/<as_of_date>/`" in description


def test_the_schedules_and_sensors_say_what_they_run_when_and_for_which_date(defs):
    descriptions = {
        **{schedule.name: schedule.description for schedule in defs.schedules},
        **{sensor.name: sensor.description for sensor in defs.sensors},
    }
    assert descriptions["daily_reports_schedule"] == (
        "Runs the job at '0 6 * * *' (UTC) for the reports as of the scheduled day, the run's "
        "`as_of_date`. DAILY_SCHEDULE_CRON and SCHEDULE_TIMEZONE set the time."
    )
    assert descriptions["new_extracts_sensor"].startswith("Off by default.")
    assert "as of today (in SCHEDULE_TIMEZONE)" in descriptions["new_extracts_sensor"]
    assert "its as-of date" in descriptions["report_run_failure_alert"]
    after_backfill = descriptions["latest_date_after_backfill"]
    assert "the date of the current published reports" in after_backfill


def test_every_asset_is_defined_in_its_group(defs):
    graph = defs.resolve_asset_graph()
    groups = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert groups == {
        "raw/orders": "raw",
        "raw/customers": "raw",
        "raw/items": "raw",
        "raw/load_ledger": "raw",
        "staging/stg_orders": "staging",
        "staging/stg_customers": "staging",
        "staging/stg_items": "staging",
        "intermediate/int_order_lines_current": "intermediate",
        "intermediate/int_orders": "intermediate",
        "intermediate/int_customer_purchase_history": "intermediate",
        "intermediate/int_customer_item_history": "intermediate",
        "intermediate/int_customer_activity": "intermediate",
        "intermediate/int_customer_usual_items": "intermediate",
        "intermediate/int_customer_purchase_dates": "intermediate",
        "intermediate/int_customer_status_changes": "intermediate",
        "intermediate/int_customer_backtest_changes": "intermediate",
        "reports/customer_activity_report": "reports",
        "reports/customer_item_activity_report": "reports",
        "reports/inactive_customer_call_list": "reports",
        "reports/customer_status_changes": "reports",
        "reports/activity_kpis_monthly": "reports",
        "reports/win_back_call_list": "reports",
        "reports/inactivity_backtest": "reports",
        "published/customer_activity_report": "published",
        "published/customer_item_activity_report": "published",
        "published/reports_database": "published",
        "published/inactive_customers_csv": "published",
        "published/backfilled_reports": "published",
        "published/win_back_call_lists": "published",
        "published/report_page": "published",
    }


@pytest.mark.parametrize(
    ("published", "raw"),
    [
        ("published/customer_activity_report", {"raw/orders", "raw/customers", "raw/load_ledger"}),
        (
            "published/customer_item_activity_report",
            {"raw/orders", "raw/customers", "raw/items", "raw/load_ledger"},
        ),
    ],
)
def test_published_reports_trace_back_to_the_raw_extract_assets(defs, published, raw):
    graph = defs.resolve_asset_graph()
    upstream = {k.to_user_string() for k in graph.upstream_key_iterator(key(published))}
    assert {k for k in upstream if k.startswith("raw/")} == raw


def test_the_lineage_holds_the_business_entities_alone(defs):
    """Each dbt model reads what its business SQL reads, and nothing that only keeps track of the
    builds (dagster_project/build_state.py keeps that outside the asset graph)."""
    graph = defs.resolve_asset_graph()
    parents = {
        name: {k.to_user_string() for k in graph.get(key(name)).parent_keys}
        for name in (
            "staging/stg_orders",
            "staging/stg_customers",
            "staging/stg_items",
            "intermediate/int_order_lines_current",
            "intermediate/int_orders",
            "intermediate/int_customer_purchase_history",
            "intermediate/int_customer_activity",
            "intermediate/int_customer_item_history",
            "intermediate/int_customer_usual_items",
            "intermediate/int_customer_purchase_dates",
            "intermediate/int_customer_status_changes",
            "reports/customer_activity_report",
            "reports/customer_item_activity_report",
            "reports/inactive_customer_call_list",
            "reports/customer_status_changes",
            "reports/activity_kpis_monthly",
            "intermediate/int_customer_backtest_changes",
            "reports/inactivity_backtest",
            "reports/win_back_call_list",
        )
    }
    assert parents == {
        "staging/stg_orders": {"raw/orders"},
        "staging/stg_customers": {"raw/customers"},
        "staging/stg_items": {"raw/items"},
        "intermediate/int_order_lines_current": {"staging/stg_orders", "raw/load_ledger"},
        "intermediate/int_orders": {"intermediate/int_order_lines_current"},
        "intermediate/int_customer_purchase_dates": {"intermediate/int_orders"},
        "intermediate/int_customer_purchase_history": {
            "intermediate/int_orders",
            "intermediate/int_customer_purchase_dates",
        },
        "intermediate/int_customer_status_changes": {
            "intermediate/int_customer_purchase_dates",
            "intermediate/int_customer_activity",
        },
        "intermediate/int_customer_activity": {
            "staging/stg_customers",
            "intermediate/int_customer_purchase_history",
        },
        "intermediate/int_customer_item_history": {
            "intermediate/int_order_lines_current",
            "intermediate/int_orders",
        },
        "intermediate/int_customer_usual_items": {
            "intermediate/int_customer_item_history",
            "staging/stg_items",
        },
        "reports/customer_activity_report": {"intermediate/int_customer_activity"},
        "reports/customer_item_activity_report": {
            "intermediate/int_customer_item_history",
            "intermediate/int_customer_activity",
            "staging/stg_items",
        },
        "reports/inactive_customer_call_list": {
            "reports/customer_activity_report",
            "intermediate/int_customer_usual_items",
        },
        "reports/customer_status_changes": {"intermediate/int_customer_status_changes"},
        "reports/activity_kpis_monthly": {"intermediate/int_customer_status_changes"},
        "intermediate/int_customer_backtest_changes": {
            "intermediate/int_customer_purchase_dates",
            "intermediate/int_customer_status_changes",
        },
        "reports/inactivity_backtest": {"intermediate/int_customer_backtest_changes"},
        "reports/win_back_call_list": {
            "reports/customer_activity_report",
            "intermediate/int_customer_usual_items",
            "intermediate/int_customer_item_history",
            "staging/stg_items",
        },
    }


def test_dbt_data_tests_are_asset_checks(defs):
    checks = {
        (check.asset_key.to_user_string(), check.name)
        for check in defs.resolve_asset_graph().asset_check_keys
    }
    assert ("reports/customer_activity_report", "unique_customer_activity_report_customer_id") in (
        checks
    )
    assert (
        "raw/orders",
        "source_accepted_values_raw_orders_order_type__invoice__sales_receipt__credit_memo__refund__void",
    ) in checks


def test_every_warehouse_step_is_in_the_duckdb_pool(defs):
    graph = defs.resolve_asset_graph()
    pools = {graph.get(k).assets_def.node_def.pool for k in graph.get_all_asset_keys()}
    assert pools == {"duckdb_warehouse"}


def test_the_job_builds_every_asset_but_the_on_demand_parquet_file(defs):
    job = defs.resolve_job_def("inactive_customer_reports")
    every_asset = defs.resolve_asset_graph().get_all_asset_keys()
    assert len(every_asset) == 30
    assert job.asset_layer.executable_asset_keys == every_asset - {
        key("published/customer_item_activity_report")
    }


@pytest.mark.parametrize(
    ("scheduled", "as_of_date"),
    [
        (dt.datetime(2026, 11, 24, 6, 0, tzinfo=dt.UTC), "2026-11-24"),
        (dt.datetime(2027, 1, 1, 6, 0, tzinfo=dt.UTC), "2027-01-01"),
    ],
)
def test_the_daily_schedule_asks_for_the_reports_as_of_its_day(defs, scheduled, as_of_date):
    schedule = defs.resolve_schedule_def("daily_reports_schedule")
    assert schedule.cron_schedule == "0 6 * * *"
    request = schedule.evaluate_tick(build_schedule_context(scheduled_execution_time=scheduled))
    (run_request,) = request.run_requests
    assert run_request.run_key == as_of_date
    assert run_request.tags == {
        "as_of_date": as_of_date,
        "trigger": "schedule",
        "dagster/schedule_name": "daily_reports_schedule",
    }
    assert run_request.run_config["ops"] == {"dbt_models": {"config": {"as_of_date": as_of_date}}}


def test_the_schedule_time_and_time_zone_come_from_the_environment(monkeypatch, dbt_manifest):
    from dagster_project.definitions import build_definitions

    monkeypatch.setenv("DAILY_SCHEDULE_CRON", "30 5 * * 1-5")
    monkeypatch.setenv("SCHEDULE_TIMEZONE", "Europe/Berlin")
    schedule = build_definitions().resolve_schedule_def("daily_reports_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == (
        "30 5 * * 1-5",
        "Europe/Berlin",
    )
    scheduled = dt.datetime(2026, 11, 24, 5, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    (request,) = schedule.evaluate_tick(
        build_schedule_context(scheduled_execution_time=scheduled)
    ).run_requests
    assert request.tags == {
        "as_of_date": "2026-11-24",
        "trigger": "schedule",
        "dagster/schedule_name": "daily_reports_schedule",
    }


def test_the_sensor_runs_once_per_new_or_changed_set_of_extract_files(defs, tmp_path, monkeypatch):
    monkeypatch.setenv("RAW_DATA_DIR", str(tmp_path))
    sensor = defs.resolve_sensor_def("new_extracts_sensor")
    orders = tmp_path / "orders"
    orders.mkdir()
    first = orders / "orders_2026-11-23.csv"
    first.write_text("order_id,order_date,customer_id,item_id,quantity,amount\n")
    os.utime(first, ns=(1_000_000_000, 1_000_000_000))
    today = dt.datetime.now(ZoneInfo("UTC")).date().isoformat()

    def tick(cursor):
        return sensor.evaluate_tick(build_sensor_context(cursor=cursor, instance=None))

    one = tick(None)
    (request,) = one.run_requests
    assert request.run_config["ops"] == {"dbt_models": {"config": {"as_of_date": today}}}
    assert request.tags == {
        "as_of_date": today,
        "trigger": "new_extracts",
        "dagster/sensor_name": "new_extracts_sensor",
    }
    assert json.loads(one.cursor) == {"orders/orders_2026-11-23.csv": [56, 1_000_000_000]}

    unchanged = tick(one.cursor)
    assert unchanged.run_requests == []
    assert unchanged.skip_message == "No new or changed extract files"

    second = orders / "orders_2026-11-24.csv"
    second.write_text("order_id,order_date,customer_id,item_id,quantity,amount\n")
    os.utime(second, ns=(2_000_000_000, 2_000_000_000))
    two = tick(unchanged.cursor)
    (request_two,) = two.run_requests
    assert request_two.run_key != request.run_key
    assert json.loads(two.cursor) == {
        "orders/orders_2026-11-23.csv": [56, 1_000_000_000],
        "orders/orders_2026-11-24.csv": [56, 2_000_000_000],
    }


def test_the_shipped_instance_runs_one_pipeline_run_and_one_warehouse_step_at_a_time(
    tmp_path,
):
    import shutil

    from dagster import DagsterInstance

    from dagster_project.settings import REPO_ROOT

    shutil.copy(REPO_ROOT / ".dagster_home" / "dagster.yaml", tmp_path / "dagster.yaml")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        config = instance.get_concurrency_config()
    assert config.run_queue_config.max_concurrent_runs == 1
    assert config.pool_config.default_pool_limit == 1


def test_only_the_latest_dbt_run_folders_are_kept(tmp_path):
    import os

    from dagster_project.defs.dbt_models import forget_old_dbt_runs

    for n in range(5):
        folder = tmp_path / f"dbt_models-run{n}"
        folder.mkdir()
        (folder / "partial_parse.msgpack").write_bytes(b"x")
        os.utime(folder, ns=(n * 10**9, n * 10**9))
    (tmp_path / "manifest.json").write_text("{}")

    forget_old_dbt_runs(tmp_path, keep=2)

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dbt_models-run3",
        "dbt_models-run4",
        "manifest.json",
    ]


def test_duckdb_is_held_to_3_gib_unless_told_otherwise(monkeypatch, tmp_path):
    """The pipeline's connections and dbt's get the same limit: 3 GiB by default (which keeps a
    run at 30M order lines under 4 GiB), else DUCKDB_MEMORY_LIMIT."""
    from dagster_project import settings
    from dagster_project.dbt_project import dbt_profile_env
    from dagster_project.defs.warehouse import warehouse_resource

    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    for value, expected in (("", "3.0 GiB"), ("1GiB", "1.0 GiB")):
        monkeypatch.setenv("DUCKDB_MEMORY_LIMIT", value)
        with warehouse_resource().get_connection() as con:
            (limit,) = con.execute("select current_setting('memory_limit')").fetchone()
        assert limit == expected
        assert dbt_profile_env(tmp_path / "warehouse.duckdb")["DUCKDB_MEMORY_LIMIT"] == (
            value or "3GiB"
        )
    # dbt run by hand, without the pipeline's environment, falls back to the same default.
    profile = (settings.DBT_PROJECT_DIR / "profiles.yml").read_text()
    assert f"env_var('DUCKDB_MEMORY_LIMIT', '{settings.DEFAULT_DUCKDB_MEMORY_LIMIT}')" in profile


def test_the_code_location_loads_without_the_environment_on_path(dbt_manifest, tmp_path):
    """`.venv/bin/dagster dev` started from a shell that has not activated the environment:
    dbt is not on PATH, and the manifest is still prepared and the code location loads, with
    this environment's dbt."""
    import subprocess
    import sys
    from pathlib import Path

    from dagster_project.settings import REPO_ROOT

    # What the profile reads passes through, so that the manifest stays prepared for this session.
    names = ("WAREHOUSE_PATH", "DUCKDB_MEMORY_LIMIT")
    profile = {name: os.environ[name] for name in names if name in os.environ}
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **profile}
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "from dagster_project.dbt_project import prepare_manifest; "
            "prepare_manifest(force=True); "
            "from dagster_project.definitions import defs; "
            "print(defs.resources['dbt'].dbt_executable)",
        ],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == str(Path(sys.executable).parent / "dbt")


def test_the_dbt_resource_is_described_for_its_users(defs):
    description = type(defs.resources["dbt"]).__doc__
    assert "dbt_project/" in description and "WAREHOUSE_PATH" in description
    assert "probe" not in description and " s " not in description
