"""The Dagster code location: it loads, shows one lineage from extracts to published reports,
and its schedule asks for the reports as of the scheduled day."""

import datetime as dt

import pytest
from dagster import AssetKey, build_schedule_context


@pytest.fixture(scope="module")
def defs(dbt_manifest):
    from dagster_project.definitions import defs

    return defs


def key(path: str) -> AssetKey:
    return AssetKey(path.split("/"))


def test_every_asset_is_defined_in_its_group(defs):
    graph = defs.resolve_asset_graph()
    groups = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert groups == {
        "raw/orders": "raw",
        "raw/customers": "raw",
        "raw/items": "raw",
        "staging/stg_orders": "staging",
        "staging/stg_customers": "staging",
        "staging/stg_items": "staging",
        "intermediate/int_order_lines_current": "intermediate",
        "intermediate/int_orders": "intermediate",
        "intermediate/int_customer_purchase_history": "intermediate",
        "intermediate/int_customer_item_history": "intermediate",
        "intermediate/int_customer_activity": "intermediate",
        "reports/customer_activity_report": "reports",
        "reports/customer_item_activity_report": "reports",
        "reports/inactive_customer_call_list": "reports",
        "published/customer_activity_report": "published",
        "published/customer_item_activity_report": "published",
        "published/reports_database": "published",
        "published/inactive_customers_csv": "published",
    }


@pytest.mark.parametrize(
    ("published", "raw"),
    [
        ("published/customer_activity_report", {"raw/orders", "raw/customers"}),
        ("published/customer_item_activity_report", {"raw/orders", "raw/customers", "raw/items"}),
    ],
)
def test_published_reports_trace_back_to_the_raw_extract_assets(defs, published, raw):
    graph = defs.resolve_asset_graph()
    upstream = {k.to_user_string() for k in graph.upstream_key_iterator(key(published))}
    assert {k for k in upstream if k.startswith("raw/")} == raw


def test_dbt_data_tests_are_asset_checks(defs):
    checks = {
        (check.asset_key.to_user_string(), check.name)
        for check in defs.resolve_asset_graph().asset_check_keys
    }
    assert ("reports/customer_activity_report", "unique_customer_activity_report_customer_id") in (
        checks
    )
    assert ("intermediate/int_orders", "unique_int_orders_order_id") in checks


def test_every_warehouse_step_is_in_the_duckdb_pool(defs):
    graph = defs.resolve_asset_graph()
    pools = {graph.get(k).assets_def.node_def.pool for k in graph.get_all_asset_keys()}
    assert pools == {"duckdb_warehouse"}


def test_the_job_builds_every_asset(defs):
    job = defs.resolve_job_def("inactive_customer_reports")
    assert len(job.asset_layer.executable_asset_keys) == 18


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
    assert run_request.tags["as_of_date"] == as_of_date
    assert run_request.run_config["ops"] == {"dbt_models": {"config": {"as_of_date": as_of_date}}}
