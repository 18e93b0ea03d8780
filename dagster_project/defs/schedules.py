"""The job that builds everything, and the daily schedule that runs it."""

from dagster import (
    AssetSelection,
    RunConfig,
    RunRequest,
    ScheduleEvaluationContext,
    define_asset_job,
    schedule,
)

from dagster_project.defs.dbt_models import DBT_ASSETS_NAME, ReportDateConfig

AS_OF_DATE_TAG = "as_of_date"

inactive_customer_reports_job = define_asset_job(
    name="inactive_customer_reports",
    selection=AssetSelection.all(),
    description="Loads the extracts, builds the dbt models and publishes both reports.",
)


def report_run_config(as_of_date: str) -> RunConfig:
    """Run config that computes the reports as of `as_of_date` (YYYY-MM-DD)."""
    return RunConfig(ops={DBT_ASSETS_NAME: ReportDateConfig(as_of_date=as_of_date)})


@schedule(
    job=inactive_customer_reports_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    description="Every day at 06:00 UTC, the reports as of that day.",
)
def daily_reports_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    as_of_date = context.scheduled_execution_time.date().isoformat()
    return RunRequest(
        run_key=as_of_date,
        run_config=report_run_config(as_of_date),
        tags={AS_OF_DATE_TAG: as_of_date},
    )
