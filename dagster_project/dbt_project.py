"""The dbt project as Dagster sees it: where it is and where its manifest is prepared."""

import contextlib
import importlib.metadata
import json
import os
import queue
import sys
import threading
import types
from functools import cached_property
from pathlib import Path

from dagster_dbt import DagsterDbtProjectPreparer, DbtCliResource, DbtProject
from dagster_dbt.dbt_project import using_dagster_dev
from packaging import version

from dagster_project import settings
from dagster_project.settings import DBT_PROJECT_DIR

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def installed_dbt_executable() -> Path:
    """The dbt of this Python environment: the one that `make install` put beside the Python
    running the pipeline, whether or not its folder is on PATH (say, `.venv/bin/dagster dev`
    started from a shell that has not activated the environment)."""
    return Path(sys.executable).parent / "dbt"


class InstalledDbtProjectPreparer(DagsterDbtProjectPreparer):
    """dagster-dbt's preparer (`dbt parse`, guarded against processes preparing at once), with
    this environment's dbt rather than the first one on PATH."""

    def _prepare_manifest(self, project: DbtProject) -> None:
        dbt = DbtCliResource(project_dir=project, dbt_executable=str(installed_dbt_executable()))
        dbt.cli(self._prepare_project_cli_args, target_path=project.target_path).wait()


# What the manifest is parsed from: a change to any of these (or a file added or removed, which
# changes its folder) makes it stale.
_PROJECT_FOLDERS = ("models", "macros", "tests", "seeds", "snapshots", "analyses")
_PROJECT_FILES = ("dbt_project.yml", "profiles.yml", "packages.yml", "dependencies.yml")


def _project_sources() -> list[Path]:
    paths = [DBT_PROJECT_DIR / name for name in _PROJECT_FILES]
    for folder in _PROJECT_FOLDERS:
        root = DBT_PROJECT_DIR / folder
        paths += [root, *root.rglob("*")]
    return [path for path in paths if path.exists()]


def dbt_profile_env(warehouse_path: Path) -> dict[str, str]:
    """The environment the dbt profile reads (profiles.yml): the warehouse file, absolute (dbt
    runs in the dbt project folder, where a relative path would mean another file), DuckDB's
    memory limit, and the engine (DBT_TARGET) with, on Spark, the lake and Spark's tables. The
    manifest is parsed and dbt run with the same values, because dbt parses the whole project
    again when one of them has changed."""
    environment = {
        "WAREHOUSE_PATH": str(Path(warehouse_path).resolve()),
        "DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit(),
        "DBT_TARGET": settings.dbt_target(),
    }
    if settings.dbt_target() == "spark":
        environment |= {
            "LAKE_DIR": settings.lake_dir(),
            "SPARK_WAREHOUSE_DIR": settings.spark_warehouse_dir(),
            "SPARK_METASTORE_DIR": str(settings.spark_metastore_dir()),
        }
    return environment


def _profile_inputs() -> dict[str, str]:
    return dbt_profile_env(settings.warehouse_path())


def _profile_stamp() -> Path:
    return Path(dbt_project.manifest_path).with_name("prepared_for.json")


def manifest_is_stale() -> bool:
    """True when the manifest is missing, older than a file of the dbt project, or parsed for
    another warehouse or memory limit."""
    manifest, stamp = Path(dbt_project.manifest_path), _profile_stamp()
    if not manifest.exists() or not stamp.exists():
        return True
    if json.loads(stamp.read_text()) != _profile_inputs():
        return True
    built = manifest.stat().st_mtime_ns
    return any(path.stat().st_mtime_ns > built for path in _project_sources())


def prepare_manifest(force: bool = False) -> None:
    """Writes the dbt manifest that the Dagster definitions are built from, unless it is newer
    than every file of the dbt project: `dbt parse` costs seconds on every run otherwise.

    It parses with the warehouse path and memory limit the runs use, so that dbt's partial-parse
    state matches theirs (dbt parses everything again when a variable its profile reads has
    changed).
    """
    if not force and not manifest_is_stale():
        return
    inputs = _profile_inputs()
    with settings.environment(inputs):
        InstalledDbtProjectPreparer().prepare(dbt_project)
    _profile_stamp().write_text(json.dumps(inputs))


# Under `dagster dev` the manifest is prepared again on every code reload where a file of the dbt
# project changed. Everywhere else (tests, CI, `make run`) it is prepared beforehand (`make
# manifest`, or `prepare_manifest` when a run starts).
if using_dagster_dev():
    prepare_manifest()


class InProcessDbt:
    """Stands in for the dbt process that dagster-dbt starts for a command: runs the same
    command with dbt's programmatic entry point (`dbtRunner`) in a thread of this process, and
    hands over its events as the JSON lines the process would print.

    A dbt process costs about 2 s on two cores before it does any work, mostly importing dbt,
    which this process has already imported (dagster-dbt imports it). Only what dagster-dbt
    uses of `subprocess.Popen` is here: `args`, `stdout`, `wait`, `poll`, `returncode`,
    `send_signal`.

    dbt reads its settings from the process environment, which it gets as the process would
    (`env`) for the length of the command: the caller must leave the environment alone until
    the events have all been read.
    """

    def __init__(self, args, stdout=None, stderr=None, env=None, cwd=None):
        self.args = args
        self.returncode: int | None = None
        self._lines: queue.Queue = queue.Queue()
        self.stdout = self._read_lines()
        environment = dict(env or os.environ)
        # dagster-dbt gives these relative to the project folder, where its process would run.
        for name in ("DBT_TARGET_PATH", "DBT_LOG_PATH"):
            if name in environment:
                environment[name] = str(Path(cwd or ".", environment[name]).resolve())
        # The events reach dagster-dbt through the callback: nothing for dbt to print here.
        environment["DBT_LOG_LEVEL"] = "none"
        self._thread = threading.Thread(
            target=self._run, args=(list(args[1:]), environment), name="dbt", daemon=True
        )
        self._thread.start()

    def _run(self, args: list[str], environment: dict[str, str]) -> None:
        from dbt.cli.main import dbtRunner
        from dbt_common.events.functions import msg_to_json

        def forward(message) -> None:
            # As the dbt process prints them: info and above.
            if message.info.level != "debug":
                self._lines.put(msg_to_json(message).encode())

        try:
            with _environment_replaced(environment):
                try:
                    result = dbtRunner(callbacks=[forward]).invoke(args)
                finally:
                    _close_dbt_duckdb()
            # dbt's exit codes: 1 when a node failed, 2 when dbt itself failed.
            self.returncode = 0 if result.success else 1 if result.exception is None else 2
        except BaseException as error:  # reported like a dbt crash, never lost with the thread
            self._lines.put(json.dumps({"info": {"level": "error", "msg": repr(error)}}).encode())
            self.returncode = 2
        finally:
            self._lines.put(None)

    def _read_lines(self):
        class Lines(contextlib.AbstractContextManager):
            closed = False

            def __iter__(inner):
                while (line := self._lines.get()) is not None:
                    yield line

            def __exit__(inner, *exc_info):
                inner.closed = True

        return Lines()

    def wait(self, timeout: float | None = None) -> int | None:
        self._thread.join(timeout)
        return self.returncode

    def poll(self) -> int | None:
        return None if self._thread.is_alive() else self.returncode

    def send_signal(self, signal_number: int) -> None:
        # A thread cannot be interrupted. When a run is terminated, dagster-dbt waits for it a
        # while, then the step stops; dbt goes on until its build ends or the run's process
        # exits (DuckDB's write-ahead log keeps the warehouse consistent either way).
        pass


def _close_dbt_duckdb() -> None:
    """Closes the warehouse as the end of dbt's process would: the next step opens it in this
    process with its own settings, which DuckDB refuses while dbt's database is still open.
    dbt-duckdb (pinned) keeps it in a class attribute of its connection manager after a run."""
    from dbt.adapters.factory import cleanup_connections

    cleanup_connections()
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # not dbt-duckdb: nothing of ours to close
        return
    with DuckDBConnectionManager._LOCK:
        if DuckDBConnectionManager._ENV is not None:
            DuckDBConnectionManager._ENV.close()
            DuckDBConnectionManager._ENV = None


@contextlib.contextmanager
def _environment_replaced(environment: dict[str, str]):
    before = dict(os.environ)
    os.environ.clear()
    os.environ.update(environment)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(before)


# dagster-dbt's dbt resource, run in this process, and minus two probes it makes before every dbt
# command; together about 5.5 s of every run on two cores:
#
# - it starts `dbt --version` to learn the version of dbt: dbt-core is a pinned package of this
#   environment, so its version is read from the package's metadata instead;
# - it loads dbt's macros into an adapter in this process, which only serves fetching row counts
#   and column metadata after the run, which these assets do not ask for (the dbt step adds the
#   reports' row counts itself);
# - it starts a dbt process per command: `InProcessDbt` runs the command here instead.
#
# The first two are private methods of dagster-dbt 0.29 (pinned), and the third replaces the
# `subprocess.Popen` its invocation calls while the command starts: the test suite runs real
# materializations through this resource, so an upgrade that changes them shows there.
class InstalledDbtCliResource(DbtCliResource):
    """Runs the dbt project in `dbt_project/` (models, data tests) for the asset step
    `dbt_models`, with the dbt installed beside this Python (`dbt_executable`).

    It builds into the warehouse file of `WAREHOUSE_PATH` with DuckDB's memory held to
    `DUCKDB_MEMORY_LIMIT`, as of the run's date (`as_of_date` in the run config, else
    `AS_OF_DATE`, else today). The business settings (inactivity thresholds, revenue window)
    are the vars of `dbt_project/dbt_project.yml`; `dbt build` by hand in `dbt_project/` gives
    the same results.
    """

    def cli(self, args, **kwargs):
        from dagster_dbt.core import dbt_cli_invocation

        started_here = types.SimpleNamespace(
            Popen=InProcessDbt, PIPE=None, STDOUT=None, TimeoutExpired=TimeoutError
        )
        real = dbt_cli_invocation.subprocess
        dbt_cli_invocation.subprocess = started_here
        try:
            return super().cli(args, **kwargs)
        finally:
            dbt_cli_invocation.subprocess = real

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None


def dbt_cli_resource() -> InstalledDbtCliResource:
    return InstalledDbtCliResource(
        project_dir=dbt_project, dbt_executable=str(installed_dbt_executable())
    )
