"""Materializes every asset once, in this process, and prints what the reports say.

This is what `make run` calls: `python -m dagster_project.run [--as-of-date YYYY-MM-DD]`.
The run is a run of the code location's job in the Dagster instance (DAGSTER_HOME), executed in
this process: `make ui` shows it on the job's pages. It waits for the instance's other runs to
finish (one run at a time uses the warehouse), after marking failed those whose process is gone
(`dagster_project/runs.py`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import sys
from pathlib import Path

import duckdb

from dagster_project import settings

STATUSES = ("active", "inactive", "never_purchased")


def summarize(warehouse: os.PathLike, reports_dir: os.PathLike, as_of_date: dt.date) -> str:
    """A few lines a person reads after a run: counts by status and where the tables are. The
    date is the run's: a report with no customers (no extract counts yet) has none of its own."""
    from dagster_project.defs.published_reports import (
        BACKFILL_DIR,
        is_backfill,
        latest_published_date,
    )
    from dagster_project.reports_database import reports_are_views

    with duckdb.connect(str(warehouse), read_only=True) as con:
        *counts, at_risk = con.execute(
            "select "
            + ", ".join(f"count(*) filter (where activity_status = '{s}')" for s in STATUSES)
            + ", count(*) filter (where lifecycle_stage = 'at_risk')"
            + " from reports.customer_activity_report"
        ).fetchone()
        # Rows of the extracts kept out of the reports: said here, not only in the step's log.
        quarantined = con.execute(
            "select entity, count(*) from raw.rejected_rows group by entity order by entity"
        ).fetchall()
        published = latest_published_date(con, Path(reports_dir))
        # Views on DuckDB; on Spark, the tables its build wrote, copied in.
        views = reports_are_views(con)
    reports_are = (
        "the views of its schema reports"
        if views
        else "the tables of its schema reports, copied from Spark's build"
    )
    backfill = is_backfill(as_of_date, published)
    lines = [
        f"Customer activity as of {as_of_date}: {sum(counts)} customers",
        *(f"  {status:<16}{count:>6}" for status, count in zip(STATUSES, counts, strict=True)),
        f"Warehouse: {warehouse} (the reports are {reports_are})",
    ]
    if at_risk:
        # The page and the call lists count the active customers past three quarters of their
        # threshold apart: the summary says how many of its active ones they are.
        lines[1] += f"  ({at_risk} of them at risk)"
    if quarantined:
        rows = sum(count for _, count in quarantined)
        lines.insert(
            len(STATUSES) + 1,
            f"Quarantined: {rows} {'row' if rows == 1 else 'rows'} of the extracts ("
            + ", ".join(f"{entity} {count}" for entity, count in quarantined)
            + "), not in the reports: raw.rejected_rows says which file, line and why",
        )
    if backfill:
        # The views stay at the backfill's date: only the daemon's sensor
        # latest_date_after_backfill, or the next run, puts them back.
        lines[-1] += (
            f", as of {as_of_date} until a run as of {published} (the sensor "
            "latest_date_after_backfill starts one when the Dagster daemon runs)"
        )
        lines.append(
            f"Published in {Path(reports_dir) / BACKFILL_DIR / str(as_of_date)}; the current "
            f"reports in {reports_dir} stay as of {published}, a later date"
        )
    else:
        lines.append(
            f"Published in {reports_dir}: index.html (the reports on one page), reports.duckdb "
            "(every report, for BI tools), "
            + ("customer_activity_report.parquet" if views else "every report as <report>.parquet")
            + ", inactive_customers.csv and call_lists/<rep>.csv (whom sales should call)"
        )
    return "\n".join(lines)


JOB_NAME = "inactive_customer_reports"
WORKSPACE_FILE = settings.REPO_ROOT / "workspace.yaml"


def create_run(instance, as_of_date: str):
    """Creates the run of the code location's job (the location `workspace.yaml` names, as the UI
    loads it) with the run config and tags of `as_of_date`, as the UI's launchpad would: it shows
    on the job's pages. Returns the run and the job to execute it with, in this process."""
    import importlib

    from dagster import RunConfig
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.remote_origin import (
        InProcessCodeLocationOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.workspace.load import location_origins_from_yaml_paths

    from dagster_project.defs.run_tags import AS_OF_DATE_TAG, TRIGGER_TAG
    from dagster_project.defs.schedules import report_run_config
    from dagster_project.runs import PROCESS_TAG

    (origin,) = location_origins_from_yaml_paths([str(WORKSPACE_FILE)])
    # The definitions read the environment when they are built: built again for this run, as in
    # a new process, when this process built them before (the tests run several).
    module_name = origin.loadable_target_origin.module_name
    already_built = module_name in sys.modules
    definitions = importlib.import_module(module_name)
    if already_built:
        definitions = importlib.reload(definitions)
    run_config = RunConfig(
        ops=report_run_config(as_of_date).ops,
        # INFO, not DEBUG: one line per step and per dbt node is what a person follows.
        loggers={"console": {"config": {"log_level": "INFO"}}},
    ).to_config_dict()
    # The code location loaded in this process rather than in a code server of its own: the run
    # executes here, in the foreground.
    in_process = InProcessCodeLocationOrigin(
        origin.loadable_target_origin, location_name=origin.location_name
    )
    with in_process.create_location(instance) as location:
        (repository,) = location.get_repositories().values()
        job = repository.get_full_job(JOB_NAME)
        plan = location.get_execution_plan(
            job, run_config, step_keys_to_execute=None, known_state=None, instance=instance
        ).execution_plan_snapshot
        run = instance.create_run(
            job_name=JOB_NAME,
            run_id=None,
            run_config=run_config,
            status=None,
            tags={
                **job.tags,
                AS_OF_DATE_TAG: as_of_date,
                TRIGGER_TAG: "make_run",
                PROCESS_TAG: str(os.getpid()),
            },
            root_run_id=None,
            parent_run_id=None,
            step_keys_to_execute=plan.step_keys_to_execute,
            execution_plan_snapshot=plan,
            job_snapshot=job.job_snapshot,
            parent_job_snapshot=job.parent_job_snapshot,
            asset_selection=None,
            asset_check_selection=None,
            resolved_op_selection=None,
            op_selection=None,
            # The origin the UI's own launches record: the workspace's code location.
            remote_job_origin=RemoteJobOrigin(
                RemoteRepositoryOrigin(origin, repository.name), JOB_NAME
            ),
            job_code_origin=job.get_python_origin(),
            asset_graph=repository.asset_graph,
        )
    return run, InMemoryJob(definitions.defs.resolve_job_def(JOB_NAME))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def open_instance():
    """The instance of DAGSTER_HOME, its storage created if new. Two runs started at once on a new
    DAGSTER_HOME would both create its SQLite databases and stamp their schema version twice,
    which leaves them unreadable: the first to come creates them, holding a lock, the other
    waits."""
    import fcntl

    from dagster import AssetKey, DagsterInstance

    with open(Path(os.environ["DAGSTER_HOME"]) / ".storage_setup.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        instance = DagsterInstance.get()
        # Each storage (runs, events, schedules) creates its tables on first use.
        instance.get_runs(limit=1)
        instance.get_latest_materialization_event(AssetKey("storage_setup"))
        instance.all_instigator_state()
        return instance


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
        wait_seconds = settings.run_wait_minutes() * 60
        home = settings.dagster_home()
    except ValueError as error:
        # The message names the setting and what to write: a traceback would bury it.
        print(error, file=sys.stderr)
        return 2

    # The definitions are built from the dbt manifest, so it must exist before they load.
    from dagster_project.dbt_project import prepare_manifest

    prepare_manifest()

    from dagster import DagsterInstance
    from dagster._core.events import EngineEventData
    from dagster._core.execution.api import execute_run

    from dagster_project.defs.alerts import step_failures
    from dagster_project.runs import RunWaitTimeout, wait_for_runs_in_the_way

    if home is not None:
        os.environ["DAGSTER_HOME"] = str(home)
        if not (home / "dagster.yaml").exists():
            log(
                f"{home} has no dagster.yaml: this run goes without the pipeline's instance "
                "settings (one run at a time, run monitoring); copy "
                f"{settings.SHIPPED_INSTANCE_SETTINGS} there."
            )
    instance = open_instance() if home is not None else DagsterInstance.ephemeral()
    run, job = create_run(instance, as_of_date)
    # As Dagster's own run worker does: the run's log names its process, so that a later run
    # finds this one failed if the process is killed.
    instance.report_engine_event(
        f"Started process for run (pid: {os.getpid()}).",
        run,
        EngineEventData.in_process(os.getpid()),
    )
    # SIGTERM (`timeout`, a service manager) ends the wait as Ctrl-C does; Dagster then handles
    # both while the run executes.
    previous_handler = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        wait_for_runs_in_the_way(instance, run.run_id, wait_seconds, log)
    except (RunWaitTimeout, KeyboardInterrupt) as error:
        message = str(error) or "Stopped while waiting for another run to finish."
        instance.report_run_failed(run, message)
        log(f"\nThe run failed: {message}")
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    result = execute_run(job, run, instance)
    if not result.success:
        log("\nThe run failed:")
        for step, message in step_failures(result.get_step_failure_events()):
            log(f"- step {step}: {message}")
        return 1
    print()
    print(
        summarize(
            settings.warehouse_path(), settings.reports_dir(), dt.date.fromisoformat(as_of_date)
        )
    )
    # Where the time went, for people watching their daily run and for the benchmark.
    steps = sorted(instance.get_run_step_stats(result.run_id), key=lambda s: s.start_time or 0)
    print(
        "Steps: "
        + ", ".join(f"{s.step_key} {(s.end_time or 0) - (s.start_time or 0):.2f} s" for s in steps)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
