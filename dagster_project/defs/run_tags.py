"""The tags that make a run findable in the UI's Runs list, whoever launched it: the date its
reports are computed for, and whether it rebuilds a past date."""

import datetime as dt

import duckdb

from dagster_project import settings
from dagster_project.defs.published_reports import is_backfill, latest_published_date

AS_OF_DATE_TAG = "as_of_date"
# "true" on a run whose date is older than the published reports': its reports go to
# REPORTS_DIR/backfills/<as_of_date>/ (see `published_reports`).
BACKFILL_TAG = "backfill"
# What started the run: `schedule`, `new_extracts` (the sensor) or `make_run`.
TRIGGER_TAG = "trigger"


def current_reports_date() -> dt.date | None:
    """The as-of date of the current published reports in REPORTS_DIR (None before the first)."""
    with duckdb.connect() as con:
        return latest_published_date(con, settings.reports_dir())


def report_date_tags(as_of_date: str) -> dict[str, str]:
    """The tags of a run computing the reports as of `as_of_date` (YYYY-MM-DD)."""
    tags = {AS_OF_DATE_TAG: as_of_date}
    if is_backfill(dt.date.fromisoformat(as_of_date), current_reports_date()):
        tags[BACKFILL_TAG] = "true"
    return tags
