"""The dbt profile as dbt-duckdb applies it: its database opened once, its `settings` again on
every cursor (each model's statements run on a cursor of their own)."""

import duckdb
import jinja2
import yaml
from dbt.adapters.duckdb.credentials import DuckDBCredentials
from dbt.adapters.duckdb.environments import Environment

from dagster_project.settings import DBT_PROJECT_DIR


def profile_output(warehouse, memory_limit: str) -> dict:
    """The profile's output with its `env_var` calls rendered for this warehouse and limit."""
    values = {"WAREHOUSE_PATH": str(warehouse), "DUCKDB_MEMORY_LIMIT": memory_limit}
    template = jinja2.Template((DBT_PROJECT_DIR / "profiles.yml").read_text())
    rendered = template.render(env_var=lambda name, default=None: values.get(name, default))
    (profile,) = yaml.safe_load(rendered).values()
    return profile["outputs"][profile["target"]]


def test_a_cursor_opened_after_duckdb_spilled_to_disk_still_works(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()
    output = profile_output(warehouse, "64MiB")
    output.pop("type"), output.pop("threads")
    credentials = DuckDBCredentials.from_dict(output)
    connection = Environment.initialize_db(credentials)
    try:
        first = Environment.initialize_cursor(credentials, connection.cursor())
        # A sort larger than the memory limit: DuckDB spills it beside the warehouse file.
        first.execute(
            "create table warehouse.main.sorted as "
            "select range as n, random() as r from range(6000000) order by r"
        )
        assert (tmp_path / "warehouse.duckdb.tmp").exists()
        second = Environment.initialize_cursor(credentials, connection.cursor())
        assert second.execute("select count(*) from sorted").fetchone() == (6000000,)
    finally:
        connection.close()
