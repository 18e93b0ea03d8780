"""The job that builds everything, and what starts it: the daily schedule, and a sensor that
notices new or changed extract files."""

import datetime as dt
import hashlib
import json
from zoneinfo import ZoneInfo

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunConfig,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    in_process_executor,
    schedule,
    sensor,
)

from dagster_project import settings
from dagster_project.defs.dbt_models import DBT_ASSETS_NAME, ReportDateConfig
from dagster_project.defs.published_reports import ITEM_PARQUET_KEY
from dagster_project.defs.run_tags import AS_OF_DATE_TAG, TRIGGER_TAG
from dagster_project.extracts import ENTITIES, list_extract_files

inactive_customer_reports_job = define_asset_job(
    name="inactive_customer_reports",
    # Everything but the on-demand Parquet copy of the customer x item report, which is as large
    # as the order history (BI tools read that report in reports.duckdb).
    selection=AssetSelection.all() - AssetSelection.assets(ITEM_PARQUET_KEY),
    # Says which date a launch uses. Nothing in it depends on the environment: `make run`'s runs
    # are runs of this same job only while its definition is the UI's.
    description=(
        "Loads the extracts, builds the dbt models and publishes the reports. A launch without "
        "config computes them as of today (the day the run starts), or as of `AS_OF_DATE` where "
        "the code location's environment sets it; the launchpad's config names another date: "
        '`ops: {dbt_models: {config: {as_of_date: "2026-06-30"}}}`. A date older than the '
        "published reports' is a backfill: its reports go to "
        "`REPORTS_DIR/backfills/<as_of_date>/` and the current ones stay as they are. Each run's "
        "tags say its date: `as_of_date`, and `backfill: true` for a backfill."
    ),
    # The three steps run one after the other anyway (each needs the one before, and all share
    # one warehouse file), so a process per step would only add its start-up: seconds each.
    executor_def=in_process_executor,
)


def report_run_config(as_of_date: str) -> RunConfig:
    """Run config that computes the reports as of `as_of_date` (YYYY-MM-DD)."""
    return RunConfig(ops={DBT_ASSETS_NAME: ReportDateConfig(as_of_date=as_of_date)})


def build_daily_schedule(cron: str, timezone: str) -> ScheduleDefinition:
    """The daily run, with the scheduled day as the as-of date."""

    @schedule(
        name="daily_reports_schedule",
        job=inactive_customer_reports_job,
        cron_schedule=cron,
        execution_timezone=timezone,
        default_status=DefaultScheduleStatus.RUNNING,
        description=f"Runs the job at '{cron}' ({timezone}) for the reports as of the scheduled "
        "day, the run's `as_of_date`. DAILY_SCHEDULE_CRON and SCHEDULE_TIMEZONE set the time.",
    )
    def daily_reports_schedule(context: ScheduleEvaluationContext) -> RunRequest:
        as_of_date = context.scheduled_execution_time.date().isoformat()
        return RunRequest(
            run_key=as_of_date,
            run_config=report_run_config(as_of_date),
            tags={AS_OF_DATE_TAG: as_of_date, TRIGGER_TAG: "schedule"},
        )

    return daily_reports_schedule


def extract_listing() -> dict[str, list[int]]:
    """Every extract file of RAW_DATA_DIR (and mapping file) with its size and modification
    time: what the sensor compares between evaluations."""
    raw_data_dir = settings.raw_data_dir()
    listing = {}
    for entity in ENTITIES.values():
        folder = list_extract_files(raw_data_dir / entity.name)
        for path in (*folder.files, *filter(None, [folder.mapping_file])):
            stat = path.stat()
            listing[f"{entity.name}/{path.name}"] = [stat.st_size, stat.st_mtime_ns]
    return listing


def build_new_extracts_sensor(timezone: str) -> SensorDefinition:
    """Starts a run, as of today, when extract files appear or change in RAW_DATA_DIR."""

    @sensor(
        name="new_extracts_sensor",
        job=inactive_customer_reports_job,
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.STOPPED,
        description="Off by default. Once turned on, looks at the extract folders of "
        "RAW_DATA_DIR every minute and runs the job as of today (in SCHEDULE_TIMEZONE) when "
        "extract files or mapping files appear or change.",
    )
    def new_extracts_sensor(context: SensorEvaluationContext):
        listing = extract_listing()
        previous = json.loads(context.cursor) if context.cursor else {}
        changed = sorted(name for name, stat in listing.items() if previous.get(name) != stat)
        cursor = json.dumps(listing, sort_keys=True)
        if not changed:
            return SensorResult(
                skip_reason=SkipReason("No new or changed extract files"), cursor=cursor
            )
        as_of_date = dt.datetime.now(ZoneInfo(timezone)).date().isoformat()
        context.log.info(f"New or changed extract files: {', '.join(changed)}")
        return SensorResult(
            run_requests=[
                RunRequest(
                    run_key=hashlib.sha256(cursor.encode()).hexdigest()[:16],
                    run_config=report_run_config(as_of_date),
                    tags={AS_OF_DATE_TAG: as_of_date, TRIGGER_TAG: "new_extracts"},
                )
            ],
            cursor=cursor,
        )

    return new_extracts_sensor
