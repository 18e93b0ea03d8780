"""After a backfill, the warehouse goes back to the latest date.

A backfill (a run for an as-of date older than the published reports') builds the warehouse's
models for its date, files its reports under `REPORTS_DIR/backfills/<as_of_date>/` and leaves the
current published files alone. The warehouse's report views would then show the past date until
the next daily run, and the current published assets would show as unsynced with the models:
this sensor starts, right after a successful backfill, the job again for the date of the current
published reports, which puts the views back to that date and publishes the same reports again.
"""

import datetime as dt

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunStatusSensorContext,
    SensorDefinition,
    SkipReason,
    run_status_sensor,
)

from dagster_project.defs.dbt_models import DBT_ASSETS_NAME
from dagster_project.defs.published_reports import is_backfill
from dagster_project.defs.run_tags import AS_OF_DATE_TAG, TRIGGER_TAG, current_reports_date
from dagster_project.defs.schedules import inactive_customer_reports_job, report_run_config

AFTER_BACKFILL_TRIGGER = "latest_date_after_backfill"


def run_as_of_date(tags: dict, run_config: dict) -> str | None:
    """The as-of date a run was asked for: its tag, else its run config; None when it took the
    default (the AS_OF_DATE environment variable or today), which a backfill never does."""
    if tags.get(AS_OF_DATE_TAG):
        return tags[AS_OF_DATE_TAG]
    config = run_config.get("ops", {}).get(DBT_ASSETS_NAME, {}).get("config", {})
    return str(config.get("as_of_date", "")).strip() or None


def latest_date_request(run_id: str, tags: dict, run_config: dict) -> RunRequest | SkipReason:
    """The run that puts the warehouse back to the latest published date after the run `run_id`,
    when that run was a backfill."""
    as_of_date = run_as_of_date(tags, run_config)
    published = current_reports_date()
    if as_of_date is None or not is_backfill(dt.date.fromisoformat(as_of_date), published):
        return SkipReason(f"Run {run_id} was not a backfill")
    latest = published.isoformat()
    return RunRequest(
        run_key=f"after-backfill-{run_id}",
        run_config=report_run_config(latest),
        tags={AS_OF_DATE_TAG: latest, TRIGGER_TAG: AFTER_BACKFILL_TRIGGER},
    )


def build_latest_date_after_backfill_sensor() -> SensorDefinition:
    @run_status_sensor(
        name="latest_date_after_backfill",
        run_status=DagsterRunStatus.SUCCESS,
        monitored_jobs=[inactive_customer_reports_job],
        request_job=inactive_customer_reports_job,
        default_status=DefaultSensorStatus.RUNNING,
        description="After a successful backfill, runs the job again for the date of the "
        "current published reports, so that the warehouse's report views and the published "
        "assets are as of the latest date again (the backfill's reports stay in "
        "REPORTS_DIR/backfills/<as_of_date>/).",
    )
    def latest_date_after_backfill(context: RunStatusSensorContext):
        run = context.dagster_run
        request = latest_date_request(run.run_id, dict(run.tags), run.run_config)
        if isinstance(request, RunRequest):
            context.log.info(
                f"Run {run.run_id} rebuilt the reports as of "
                f"{run_as_of_date(dict(run.tags), run.run_config)}"
                f": running the job as of {request.tags[AS_OF_DATE_TAG]} again"
            )
        return request

    return latest_date_after_backfill
