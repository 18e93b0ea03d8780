"""The dbt project as Dagster sees it: where it is and where its manifest is prepared."""

from dagster_dbt import DbtProject

from dagster_project.settings import DBT_PROJECT_DIR

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# Under `dagster dev` the manifest is rebuilt on every code reload. Everywhere else (tests, CI,
# `make run`) it is prepared beforehand with `dbt parse`; see `prepare_manifest`.
dbt_project.prepare_if_dev()


def prepare_manifest() -> None:
    """Writes the dbt manifest that the Dagster definitions are built from."""
    dbt_project.preparer.prepare(dbt_project)
