"""The dbt project as Dagster sees it: where it is and where its manifest is prepared."""

import importlib.metadata
import json
from functools import cached_property
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject
from packaging import version

from dagster_project import settings
from dagster_project.settings import DBT_PROJECT_DIR

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# Under `dagster dev` the manifest is rebuilt on every code reload. Everywhere else (tests, CI,
# `make run`) it is prepared beforehand with `dbt parse`; see `prepare_manifest`.
dbt_project.prepare_if_dev()

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
    runs in the dbt project folder, where a relative path would mean another file), and DuckDB's
    memory limit. The manifest is parsed and dbt run with the same values, because dbt parses
    the whole project again when one of them has changed."""
    return {
        "WAREHOUSE_PATH": str(Path(warehouse_path).resolve()),
        "DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit(),
    }


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
        dbt_project.preparer.prepare(dbt_project)
    _profile_stamp().write_text(json.dumps(inputs))


class InstalledDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt resource, minus two probes it makes before every dbt command, about
    3.5 s of a daily run on two cores:

    - it starts `dbt --version` to learn the version of dbt: dbt-core is a pinned package of
      this environment, so its version is read from the package's metadata instead;
    - it loads dbt's macros into an adapter in this process, which only serves fetching row
      counts and column metadata after the run, which these assets do not ask for.

    Both are private methods of dagster-dbt 0.29 (pinned): a test runs a real materialization
    through this resource, so an upgrade that changes them shows there.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None


def dbt_cli_resource() -> InstalledDbtCliResource:
    return InstalledDbtCliResource(project_dir=dbt_project)
