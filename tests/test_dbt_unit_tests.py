"""The dbt unit tests of the business rules (the `unit_tests:` beside the models).

They are not Dagster asset checks, so production runs skip them and this test runs them. dbt
needs the upstream tables to exist for their column types: the hand-built run provides them.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from dagster_project.settings import DBT_PROJECT_DIR

EXPECTED_UNIT_TESTS = {
    "stg_orders_defaults_missing_order_types_and_line_numbers",
    "stg_customers_takes_the_latest_extract",
    "int_order_lines_current_keeps_only_the_latest_version_of_an_order",
    "int_orders_decides_which_orders_are_purchases",
    "int_customer_purchase_history_counts_the_last_365_days",
    "int_customer_activity_takes_customers_from_the_master_and_from_orders",
    "customer_activity_report_applies_the_thresholds_at_their_boundaries",
    "customer_item_activity_report_flags_lapsed_items_by_the_customers_threshold",
    "int_customer_usual_items_names_the_top_items_in_rank_order",
    "inactive_customer_call_list_lists_the_inactive_customers_most_valuable_first",
    "int_customer_item_history_counts_purchases_per_order",
    "int_customer_purchase_dates_measures_the_rhythm_so_far",
    "int_customer_status_changes_follows_lapses_and_returns",
    "customer_activity_report_fits_the_adaptive_threshold_to_each_rhythm",
    "customer_activity_report_keeps_the_billing_cycle_threshold_by_default",
    "customer_status_changes_lists_the_rule_chosen_up_to_the_as_of_date",
    "activity_kpis_monthly_adds_up_a_small_history",
    "win_back_call_list_ranks_each_reps_customers_by_revenue_at_risk",
    "int_customer_backtest_changes_counts_each_period_from_month_end_to_month_end",
    "int_customer_item_history_measures_each_items_rhythm",
    "customer_item_activity_report_tells_regular_items_from_lapsed_and_occasional_ones",
    "win_back_call_list_names_the_regular_items_a_customer_at_risk_stopped_buying",
    # The incremental branches: a daily build's rows for the keys it recomputes.
    "int_order_lines_current_numbers_a_builds_orders_after_the_stored_ones",
    "int_orders_recomputes_only_the_orders_of_the_build",
    "int_customer_purchase_history_recomputes_only_the_customers_of_the_build",
    "int_customer_activity_recomputes_only_the_customers_of_the_build",
    "int_customer_item_history_recomputes_only_the_customers_of_the_build",
    "int_customer_usual_items_names_again_only_the_customers_of_the_build",
    "int_customer_purchase_dates_recomputes_only_the_customers_of_the_build",
    "int_customer_status_changes_recomputes_only_the_customers_of_the_build",
}


def test_dbt_unit_tests_pass(hand_built_run, tmp_path):
    dbt = Path(sys.executable).parent / "dbt"
    completed = subprocess.run(
        [str(dbt), "test", "--select", "test_type:unit", "--target-path", str(tmp_path)],
        cwd=DBT_PROJECT_DIR,
        env={
            **os.environ,
            "WAREHOUSE_PATH": str(hand_built_run.warehouse),
            "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
            "DBT_LOG_PATH": str(tmp_path / "logs"),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-5000:] + completed.stderr[-2000:]
    results = json.loads((tmp_path / "run_results.json").read_text())["results"]
    ran = {result["unique_id"].split(".")[-1]: result["status"] for result in results}
    assert ran == dict.fromkeys(EXPECTED_UNIT_TESTS, "pass")
