"""Materializes every asset once, in this process, and prints what the reports say.

This is what `make run` calls: `python -m dagster_project.run [--as-of-date YYYY-MM-DD]`.
The run is recorded in the Dagster instance (DAGSTER_HOME), so `make ui` shows it afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import duckdb

from dagster_project import settings

STATUSES = ("active", "inactive", "never_purchased")


def summarize(warehouse: os.PathLike, reports_dir: os.PathLike) -> str:
    """A few lines a person reads after a run: counts by status and where the tables are."""
    from dagster_project.defs.published_reports import BACKFILL_DIR, latest_published_date

    with duckdb.connect(str(warehouse), read_only=True) as con:
        as_of_date, *counts = con.execute(
            "select max(as_of_date), "
            + ", ".join(f"count(*) filter (where activity_status = '{s}')" for s in STATUSES)
            + " from reports.customer_activity_report"
        ).fetchone()
        published = latest_published_date(con, Path(reports_dir))
    lines = [
        f"Customer activity as of {as_of_date}: {sum(counts)} customers",
        *(f"  {status:<16}{count:>6}" for status, count in zip(STATUSES, counts, strict=True)),
        f"Warehouse: {warehouse} (views reports.customer_activity_report, "
        "reports.customer_item_activity_report)",
    ]
    if published is not None and as_of_date is not None and published > as_of_date:
        lines.append(
            f"Published in {Path(reports_dir) / BACKFILL_DIR / str(as_of_date)}; the current "
            f"reports in {reports_dir} stay as of {published}, a later date"
        )
    else:
        lines.append(
            f"Published in {reports_dir}: reports.duckdb (both reports, for BI tools), "
            "customer_activity_report.parquet, "
            "inactive_customers.csv (the call list for sales)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--as-of-date",
        default="",
        help="YYYY-MM-DD; default: the AS_OF_DATE environment variable, else today",
    )
    args = parser.parse_args(argv)
    try:
        as_of_date = (
            settings.parse_as_of_date(args.as_of_date, "--as-of-date")
            if args.as_of_date
            else settings.default_as_of_date()
        ).isoformat()
    except ValueError as error:
        # The message names the setting and the format to write: a traceback would bury it.
        print(error, file=sys.stderr)
        return 2

    # The definitions are built from the dbt manifest, so it must exist before they load.
    from dagster_project.dbt_project import prepare_manifest

    prepare_manifest()

    from dagster import DagsterInstance, RunConfig

    from dagster_project.definitions import build_definitions
    from dagster_project.defs.alerts import step_failures
    from dagster_project.defs.schedules import AS_OF_DATE_TAG, report_run_config

    instance = (
        DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral()
    )
    job = build_definitions().resolve_job_def("inactive_customer_reports")
    result = job.execute_in_process(
        # INFO, not DEBUG: one line per step and per dbt node is what a person follows.
        run_config=RunConfig(
            ops=report_run_config(as_of_date).ops,
            loggers={"console": {"config": {"log_level": "INFO"}}},
        ),
        instance=instance,
        tags={AS_OF_DATE_TAG: as_of_date},
        raise_on_error=False,
    )
    if not result.success:
        print("\nThe run failed:", file=sys.stderr)
        for step, message in step_failures(result.get_step_failure_events()):
            print(f"- step {step}: {message}", file=sys.stderr)
        return 1
    print()
    print(summarize(settings.warehouse_path(), settings.reports_dir()))
    # Where the time went, for people watching their daily run and for the benchmark.
    steps = sorted(instance.get_run_step_stats(result.run_id), key=lambda s: s.start_time or 0)
    print(
        "Steps: "
        + ", ".join(f"{s.step_key} {(s.end_time or 0) - (s.start_time or 0):.2f} s" for s in steps)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
