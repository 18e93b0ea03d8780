"""Runs as users start them: `make run`'s entry point in processes of their own, against an
instance with the shipped settings (the run queue, the `duckdb_warehouse` pool of one slot), killed
at any step, two at once, or waiting for another.

Every process is bounded in time: a run that hangs fails the test instead of hanging it.
"""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from dagster_project.settings import REPO_ROOT

SAMPLE_AS_OF = "2026-11-20"
RUN_TIMEOUT_SECONDS = 300
WAREHOUSE_POOL = "duckdb_warehouse"


def run_environment(home: Path, folder: Path, **extra: str) -> dict[str, str]:
    environment = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "WAREHOUSE_PATH": str(folder / "warehouse.duckdb"),
        "REPORTS_DIR": str(folder / "reports"),
        "AS_OF_DATE": SAMPLE_AS_OF,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        **extra,
    }
    environment.pop("RAW_DATA_DIR", None)  # the shipped sample
    return environment


def start_run(environment: dict[str, str], log: Path) -> subprocess.Popen:
    """`make run`'s entry point in a process (and process group) of its own."""
    with log.open("w") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "dagster_project.run"],
            env=environment,
            cwd=REPO_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def finish(process: subprocess.Popen, log: Path, timeout: float = RUN_TIMEOUT_SECONDS) -> str:
    """Waits for the run (killing its process group past `timeout`); returns its output."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        pytest.fail(f"the run did not end within {timeout} s:\n{log.read_text()[-3000:]}")
    return log.read_text()


def instance_at(home: Path):
    from dagster import DagsterInstance

    return DagsterInstance.from_config(str(home))


def wait_for_step(home: Path, step_key: str, process: subprocess.Popen, timeout: float = 240):
    """The run (the latest of the instance) once its step `step_key` has started."""
    from dagster import DagsterEventType

    deadline = time.monotonic() + timeout
    with instance_at(home) as instance:
        while time.monotonic() < deadline:
            assert process.poll() is None, "the run ended before its step started"
            runs = instance.get_runs(limit=1)
            if runs and any(
                record.dagster_event.step_key == step_key
                for record in instance.all_logs(runs[0].run_id, of_type=DagsterEventType.STEP_START)
            ):
                return runs[0]
            time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    pytest.fail(f"step {step_key} did not start within {timeout} s")


def reports_of(folder: Path) -> dict[str, object]:
    """Everything a reader sees: the warehouse's reports and every published file."""
    reports = folder / "reports"
    with duckdb.connect(str(folder / "warehouse.duckdb"), read_only=True) as con:
        seen = {
            table: con.execute(f"select * from reports.{table} order by all").fetchall()
            for table in ("customer_activity_report", "customer_item_activity_report")
        }
    with duckdb.connect(str(reports / "reports.duckdb"), read_only=True) as con:
        for table in ("customer_activity_report", "customer_item_activity_report"):
            seen[f"published {table}"] = con.execute(
                f"select * from {table} order by all"
            ).fetchall()
    with duckdb.connect() as con:
        seen["parquet"] = con.execute(
            f"select * from '{reports / 'customer_activity_report.parquet'}' order by all"
        ).fetchall()
    with (reports / "inactive_customers.csv").open(newline="") as call_list:
        seen["call list"] = sorted(csv.reader(call_list))
    assert len(seen["customer_activity_report"]) == 150
    return seen


@pytest.fixture(scope="module")
def clean_run(dbt_manifest, tmp_path_factory) -> dict[str, object]:
    """The reports of one run on the sample that nothing interrupted."""
    folder = tmp_path_factory.mktemp("clean_run")
    home = folder / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / ".dagster_home/dagster.yaml").read_text())
    log = folder / "run.log"
    output = finish(start_run(run_environment(home, folder), log), log)
    assert "Customer activity as of 2026-11-20: 150 customers" in output
    return reports_of(folder)


@pytest.mark.parametrize("step_key", ["raw_extracts", "dbt_models", "published_reports"])
def test_a_run_killed_at_any_step_does_not_hold_back_the_next(
    step_key, clean_run, dagster_home, tmp_path
):
    from dagster import DagsterRunStatus

    environment = run_environment(dagster_home, tmp_path)
    killed = start_run(environment, tmp_path / "killed.log")
    run = wait_for_step(dagster_home, step_key, killed)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    with instance_at(dagster_home) as instance:
        # As a killed process leaves it: still started, and holding the warehouse's slot.
        assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED
        holders = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots
        assert [slot.run_id for slot in holders] == [run.run_id]

    # What a publish killed while it copied the current file leaves behind (`reports_database`).
    (tmp_path / "reports").mkdir(exist_ok=True)
    (tmp_path / "reports" / "reports.duckdb.copying").write_bytes(b"half a copy")

    output = finish(start_run(environment, tmp_path / "next.log"), tmp_path / "next.log")

    assert f"run {run.run_id} (job inactive_customer_reports, status STARTED" in output
    assert f"The process of this run (PID {killed.pid}) is gone" in output
    assert "Customer activity as of 2026-11-20: 150 customers" in output
    assert reports_of(tmp_path) == clean_run
    assert not list((tmp_path / "reports").glob("*.copying"))
    with instance_at(dagster_home) as instance:
        assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.FAILURE
        assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots == []


def test_a_run_ended_by_sigterm_during_dbt_leaves_nothing_behind_and_the_next_completes(
    clean_run, dagster_home, tmp_path
):
    """`timeout make run` (SIGTERM to the process group) while dbt builds."""
    environment = run_environment(dagster_home, tmp_path)
    stopped = start_run(environment, tmp_path / "stopped.log")
    wait_for_step(dagster_home, "dbt_models", stopped)
    os.killpg(stopped.pid, signal.SIGTERM)
    output = finish(stopped, tmp_path / "stopped.log", timeout=120)

    assert stopped.returncode == 1, output[-3000:]
    assert (
        "- step dbt_models: stopped by a signal (SIGTERM or Ctrl-C); run the job again to "
        "complete it" in output
    )
    assert _live_processes_of_group(stopped.pid) == []
    output = finish(start_run(environment, tmp_path / "next.log"), tmp_path / "next.log")
    assert "Customer activity as of 2026-11-20: 150 customers" in output
    assert reports_of(tmp_path) == clean_run


def test_two_runs_started_at_once_run_one_after_the_other(clean_run, dagster_home, tmp_path):
    environment = run_environment(dagster_home, tmp_path)
    first = start_run(environment, tmp_path / "first.log")
    second = start_run(environment, tmp_path / "second.log")
    outputs = [finish(first, tmp_path / "first.log"), finish(second, tmp_path / "second.log")]

    for output in outputs:
        assert "Customer activity as of 2026-11-20: 150 customers" in output, output[-3000:]
    assert reports_of(tmp_path) == clean_run
    with instance_at(dagster_home) as instance:
        records = sorted(instance.get_run_records(), key=lambda record: record.start_time)
    assert [record.dagster_run.is_success for record in records] == [True, True]
    earlier, later = records
    # One after the other, not step by step in turn.
    assert later.start_time >= earlier.end_time
    assert sum(f"Waiting for run {earlier.dagster_run.run_id}" in o for o in outputs) == 1


def test_a_run_waits_for_the_run_in_the_way_names_it_gives_up_and_ends_on_sigterm(
    dbt_manifest, dagster_home, tmp_path
):
    environment = run_environment(dagster_home, tmp_path)
    # A run going nowhere: its process lives, and it holds the warehouse's slot.
    holder = subprocess.Popen(["sleep", "600"])
    try:
        with instance_at(dagster_home) as instance:
            run = a_started_run_in_process(instance, holder.pid, holding_the_slot=True)
        impatient = start_run(
            run_environment(dagster_home, tmp_path / "impatient", RUN_WAIT_MINUTES="0.25"),
            tmp_path / "impatient.log",
        )
        output = finish(impatient, tmp_path / "impatient.log", timeout=120)
        assert impatient.returncode == 1, output[-3000:]
        assert f"Waiting for run {run.run_id} (job inactive_customer_reports, status STARTED" in (
            output
        )
        assert f"PID {holder.pid}) to finish" in output
        assert f"The run failed: Gave up after waiting 0.25 minutes for run {run.run_id}" in output

        # `timeout make run` ends with SIGTERM to the whole process group, here while the run
        # waits: nothing of it stays behind.
        waiting = subprocess.Popen(
            ["make", "--no-print-directory", "run"],
            env=environment,
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            with instance_at(dagster_home) as instance:
                deadline = time.monotonic() + 120
                while len(instance.get_runs()) < 3 and time.monotonic() < deadline:
                    time.sleep(0.2)
            time.sleep(3)
            os.killpg(waiting.pid, signal.SIGTERM)
            deadline = time.monotonic() + 20
            # (polling reaps `make` itself, which would otherwise linger as a zombie)
            while (waiting.poll() is None or _group_alive(waiting.pid)) and (
                time.monotonic() < deadline
            ):
                time.sleep(0.2)
            left = subprocess.run(
                ["ps", "-o", "pid,stat,args", "-g", str(waiting.pid)],
                capture_output=True,
                text=True,
            ).stdout
            assert not _group_alive(waiting.pid), left
        finally:
            if _group_alive(waiting.pid):
                os.killpg(waiting.pid, signal.SIGKILL)
            waiting.wait()
    finally:
        holder.kill()
        holder.wait()


def _live_processes_of_group(pgid: int) -> list[str]:
    """The processes of the group that still run: an exited child whose parent is gone stays a
    zombie where nothing reaps orphans (a container's first process often does not)."""
    listing = subprocess.run(
        ["ps", "-o", "stat=,args=", "-g", str(pgid)], capture_output=True, text=True
    ).stdout
    return [line for line in listing.splitlines() if not line.strip().startswith("Z")]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def a_started_run_in_process(instance, pid: int, holding_the_slot: bool):
    """A run as a run worker leaves it: started, its process named in its log, holding the
    warehouse's slot for its dbt step or not."""
    from dagster import DagsterRunStatus
    from dagster._core.events import EngineEventData
    from dagster._core.test_utils import create_run_for_test

    run = create_run_for_test(instance, job_name="inactive_customer_reports")
    instance.report_engine_event(
        f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid)
    )
    instance.handle_run_event(run.run_id, _run_start_event(run))
    if holding_the_slot:
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
        assert storage.claim_concurrency_slot(WAREHOUSE_POOL, run.run_id, "dbt_models").is_claimed
    assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED
    return run


def _run_start_event(run):
    from dagster import DagsterEvent, DagsterEventType

    return DagsterEvent(DagsterEventType.RUN_START.value, job_name=run.job_name)


def a_process_that_is_gone() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_the_daemons_run_monitoring_fails_a_run_whose_process_is_gone(tmp_path):
    import logging

    from dagster import DagsterRunStatus, RunsFilter
    from dagster._daemon.monitoring.run_monitoring import monitor_started_run

    from tests.conftest import shipped_instance

    with shipped_instance(tmp_path / "home") as instance:
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0
        gone = a_started_run_in_process(instance, a_process_that_is_gone(), holding_the_slot=True)
        alive = a_started_run_in_process(instance, os.getpid(), holding_the_slot=False)
        for run in (gone, alive):
            (record,) = instance.get_run_records(RunsFilter(run_ids=[run.run_id]))
            # What the daemon does with each started run at every poll.
            monitor_started_run(instance, None, record, logging.getLogger("monitoring"))

        assert instance.get_run_by_id(gone.run_id).status == DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(alive.run_id).status == DagsterRunStatus.STARTED

        # `make run` frees at once the slot the daemon frees a little after the run ended.
        from dagster_project.runs import release_runs_whose_process_died

        messages = []
        assert release_runs_whose_process_died(instance, messages.append) == []
        assert messages == [f"Freed the pool slots still held by the finished run {gone.run_id}."]
        assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots == []


def test_a_process_id_taken_again_after_a_restart_is_not_the_runs(tmp_path):
    from dagster_project.runs import RunProcess, is_running

    assert is_running(RunProcess(pid=os.getpid(), since=time.time()))
    if Path("/proc/self/stat").exists():
        # This process started long after a run named its id: another process.
        assert not is_running(RunProcess(pid=os.getpid(), since=0.0))
    assert not is_running(RunProcess(pid=a_process_that_is_gone(), since=time.time()))


def test_a_run_created_a_moment_before_is_in_the_way_before_it_logs_its_process(tmp_path):
    """Two `make run`s started at once: the one created first has not yet logged its process when
    the second looks, and must still be waited for (its tags name its process)."""
    from dagster._core.test_utils import create_run_for_test

    from dagster_project.runs import PROCESS_TAG, runs_in_the_way
    from tests.conftest import shipped_instance

    with shipped_instance(tmp_path / "home") as instance:
        first = create_run_for_test(
            instance, job_name="inactive_customer_reports", tags={PROCESS_TAG: str(os.getpid())}
        )
        second = create_run_for_test(
            instance, job_name="inactive_customer_reports", tags={PROCESS_TAG: str(os.getpid())}
        )
        assert runs_in_the_way(instance, second.run_id) == [first.run_id]
        assert runs_in_the_way(instance, first.run_id) == []
        gone = create_run_for_test(
            instance,
            job_name="inactive_customer_reports",
            tags={PROCESS_TAG: str(a_process_that_is_gone())},
        )
        assert sorted(runs_in_the_way(instance, gone.run_id)) == sorted(
            [first.run_id, second.run_id]
        )
