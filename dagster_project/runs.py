"""Runs of the Dagster instance whose process is gone, and waiting for the runs still going.

Every step that opens the warehouse claims the slot of the `duckdb_warehouse` pool and frees it
when it ends. A run whose process dies (`kill -9`, out of memory, a reboot) frees nothing and
stays STARTED, so every later run would wait for its slot forever. Dagster's own run worker and
its in-process executor record their process id in the run's log ("Started process for run",
"Executing steps in process"); a run in progress whose process is gone is marked failed here and
its slots are freed:
- by `make run` (`dagster_project/run.py`) before it starts, with `release_runs_whose_process_died`;
- by the Dagster daemon's run monitoring (`run_monitoring` in `.dagster_home/dagster.yaml`), for
  which `LocalRunLauncher` tells whether a run's process still runs: Dagster's default launcher
  cannot say, so its monitoring would never notice a dead run.

The instance is this machine's (DAGSTER_HOME): process ids are this machine's too.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus
from dagster._core.launcher.default_run_launcher import DefaultRunLauncher

# The runs that may hold a pool slot or a place among the runs allowed at once.
IN_PROGRESS = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]


@dataclass(frozen=True)
class RunProcess:
    """The process a run's log says it runs in, and when it said so."""

    pid: int
    since: float


# `make run` names its process in the tags of the run it creates, so that no run of its ever
# exists without one: two `make run`s started at once each see the other's process.
PROCESS_TAG = "process_id"


def run_process(instance: DagsterInstance, run_id: str) -> RunProcess | None:
    """The latest process the run's log names, else the one its tags name (None when neither
    names one yet)."""
    for record in reversed(instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)):
        data = record.dagster_event.engine_event_data if record.dagster_event else None
        pid = data.metadata.get("pid") if data and data.metadata else None
        if pid is not None:
            return RunProcess(pid=int(pid.value), since=record.timestamp)
    record = instance.get_run_record_by_id(run_id)
    if record is not None and PROCESS_TAG in record.dagster_run.tags:
        return RunProcess(
            pid=int(record.dagster_run.tags[PROCESS_TAG]),
            since=record.create_timestamp.timestamp(),
        )
    return None


def _process_start_time(pid: int) -> float | None:
    """When the process started (Linux, from /proc; None elsewhere or when unknown)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot_time = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, IndexError, StopIteration, ValueError):
        return None
    if fields[0] == "Z":  # a zombie: exited, not yet reaped by its parent
        return float("inf")
    return boot_time + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def is_running(process: RunProcess) -> bool:
    """Whether the run's process still runs: it exists, and did not start after the run named it
    (after a reboot, its id may belong to another process)."""
    try:
        os.kill(process.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    started = _process_start_time(process.pid)
    # /proc counts in clock ticks: a second of slack.
    return started is None or started <= process.since + 1


def describe_run(instance: DagsterInstance, run_id: str) -> str:
    """The run as a person finds it in the UI: id, as-of date, start and process."""
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        return f"run {run_id}"
    run = record.dagster_run
    details = [f"job {run.job_name}", f"status {run.status.value}"]
    # The tag `dagster_project.defs.run_tags` names; not imported, so that the daemon loads this
    # module (the launcher) without the pipeline's definitions.
    if "as_of_date" in run.tags:
        details.append(f"as of {run.tags['as_of_date']}")
    started = record.start_time or record.create_timestamp.timestamp()
    details.append(f"since {dt.datetime.fromtimestamp(started, dt.UTC):%Y-%m-%d %H:%M:%S} UTC")
    process = run_process(instance, run_id)
    if process is not None:
        details.append(f"PID {process.pid}")
    return f"run {run_id} ({', '.join(details)})"


def release_runs_whose_process_died(
    instance: DagsterInstance, log: Callable[[str], None] = print
) -> list[str]:
    """Marks failed every run in progress (or created, not started) whose process is gone, and
    frees the pool slots of those runs and of any finished run still holding one. Returns the runs
    marked failed."""
    failed = []
    statuses = [*IN_PROGRESS, DagsterRunStatus.NOT_STARTED]
    for record in instance.get_run_records(RunsFilter(statuses=statuses)):
        run = record.dagster_run
        process = run_process(instance, run.run_id)
        if process is None or is_running(process):
            continue
        message = (
            f"The process of this run (PID {process.pid}) is gone: killed, out of memory or "
            "the machine restarted. Marked failed, its warehouse pool slot freed."
        )
        described = describe_run(instance, run.run_id)
        instance.report_run_failed(run, message)
        log(f"{described}: {message}")
        failed.append(run.run_id)
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        for run_id in storage.get_concurrency_run_ids():
            run = instance.get_run_by_id(run_id)
            if run is None or run.is_finished:
                storage.free_concurrency_slots_for_run(run_id)
                if run_id not in failed:
                    log(f"Freed the pool slots still held by the finished run {run_id}.")
    return failed


def runs_in_the_way(instance: DagsterInstance, run_id: str) -> list[str]:
    """The runs `run_id` waits for: those in progress, and those created before it that have not
    started yet but whose process runs (another `make run` about to start)."""
    (own,) = instance.get_run_records(RunsFilter(run_ids=[run_id]))
    waiting = []
    statuses = [*IN_PROGRESS, DagsterRunStatus.NOT_STARTED]
    for record in instance.get_run_records(RunsFilter(statuses=statuses)):
        if record.dagster_run.run_id == run_id:
            continue
        if record.dagster_run.status == DagsterRunStatus.NOT_STARTED:
            process = run_process(instance, record.dagster_run.run_id)
            if record.storage_id > own.storage_id or process is None or not is_running(process):
                continue
        waiting.append(record.dagster_run.run_id)
    return waiting


class RunWaitTimeout(Exception):
    """Another run kept the warehouse longer than a run may wait for it."""


def wait_for_runs_in_the_way(
    instance: DagsterInstance,
    run_id: str,
    wait_seconds: float,
    log: Callable[[str], None] = print,
    poll_seconds: float = 2.0,
    report_every_seconds: float = 60.0,
) -> None:
    """Returns once no other run of the instance is in the way of `run_id` (see
    `runs_in_the_way`), freeing the slots of runs whose process died meanwhile; raises
    RunWaitTimeout naming the run in the way after `wait_seconds`."""
    deadline = time.monotonic() + wait_seconds
    reported: dict[str, float] = {}
    while True:
        release_runs_whose_process_died(instance, log)
        in_the_way = runs_in_the_way(instance, run_id)
        if not in_the_way:
            return
        holder = describe_run(instance, in_the_way[0])
        if time.monotonic() >= deadline:
            raise RunWaitTimeout(
                f"Gave up after waiting {wait_seconds / 60:g} minutes for {holder} to finish: "
                "one run at a time uses the warehouse (pool duckdb_warehouse). If that run is "
                "stuck, terminate it in the Dagster UI (Runs) or end its process, then start "
                "this run again (RUN_WAIT_MINUTES sets how long a run waits)."
            )
        if time.monotonic() - reported.get(in_the_way[0], -report_every_seconds) >= (
            report_every_seconds
        ):
            reported[in_the_way[0]] = time.monotonic()
            log(
                f"Waiting for {holder} to finish: one run at a time uses the warehouse "
                "(pool duckdb_warehouse)."
            )
        time.sleep(poll_seconds)


class LocalRunLauncher(DefaultRunLauncher):
    """Dagster's default launcher (a run in a process of the code server), which also tells the
    daemon's run monitoring whether a run's process still runs, from the process id in its log."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        process = run_process(self._instance, run.run_id)
        if process is None:
            # No process named yet: only just starting (the start timeout covers the rest).
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no process recorded yet")
        if is_running(process):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"PID {process.pid} runs")
        logging.getLogger(__name__).info(f"Run {run.run_id}: PID {process.pid} is gone")
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"The process of this run (PID {process.pid}) is gone: killed, out of memory or "
            "the machine restarted",
        )
