"""The code location: every asset, check, job, schedule and resource of the pipeline."""

from dagster import Definitions

from dagster_project import settings
from dagster_project.dbt_project import dbt_cli_resource
from dagster_project.defs.alerts import build_run_failure_alert
from dagster_project.defs.backfills import build_latest_date_after_backfill_sensor
from dagster_project.defs.dbt_models import dbt_models
from dagster_project.defs.published_reports import (
    customer_item_activity_report_parquet,
    published_reports,
)
from dagster_project.defs.raw_extracts import raw_extracts
from dagster_project.defs.schedules import (
    build_daily_schedule,
    build_new_extracts_sensor,
    inactive_customer_reports_job,
)
from dagster_project.defs.warehouse import warehouse_resource


def build_definitions() -> Definitions:
    """The definitions, with resources configured from the environment as it is now."""
    return Definitions(
        assets=[raw_extracts, dbt_models, published_reports, customer_item_activity_report_parquet],
        jobs=[inactive_customer_reports_job],
        schedules=[build_daily_schedule(settings.schedule_cron(), settings.schedule_timezone())],
        sensors=[
            build_new_extracts_sensor(settings.schedule_timezone()),
            build_run_failure_alert(),
            build_latest_date_after_backfill_sensor(),
        ],
        resources={
            "warehouse": warehouse_resource(),
            "dbt": dbt_cli_resource(),
        },
    )


defs = build_definitions()
