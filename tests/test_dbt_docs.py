"""What the Dagster UI shows of the dbt project: every data test, model and report column is
described, the reports' columns have types, and an asset's description is its model's, not its
SQL."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from dagster_project.settings import REPO_ROOT

REPORTS_FOLDER = "reports"


@pytest.fixture(scope="module")
def manifest(dbt_manifest) -> dict:
    from dagster_project.dbt_project import dbt_project

    return json.loads(Path(dbt_project.manifest_path).read_text())


def nodes(manifest: dict, resource_type: str) -> list[dict]:
    return [node for node in manifest["nodes"].values() if node["resource_type"] == resource_type]


def report_models(manifest: dict) -> list[dict]:
    return [node for node in nodes(manifest, "model") if node["fqn"][1] == REPORTS_FOLDER]


def test_every_data_test_is_described(manifest):
    tests = nodes(manifest, "test")
    assert len(tests) >= 7
    assert [test["name"] for test in tests if not test["description"].strip()] == []


def test_every_model_is_described(manifest):
    assert [m["name"] for m in nodes(manifest, "model") if not m["description"].strip()] == []


def test_every_report_column_is_described_and_typed(manifest):
    reports = report_models(manifest)
    assert sorted(model["name"] for model in reports) == [
        "activity_kpis_monthly",
        "customer_activity_report",
        "customer_item_activity_report",
        "customer_status_changes",
        "inactive_customer_call_list",
        "inactivity_backtest",
        "win_back_call_list",
    ]
    undocumented = [
        f"{model['name']}.{name}: {'' if column.get('description') else 'description '}"
        f"{'' if column.get('data_type') else 'data_type'}"
        for model in reports
        for name, column in model["columns"].items()
        if not (column.get("description", "").strip() and column.get("data_type"))
    ]
    assert undocumented == []


@pytest.mark.parametrize("view", ["inactive_customer_call_list", "win_back_call_list"])
def test_the_call_lists_declare_their_columns_as_they_are(manifest, hand_built_run, view):
    """The call lists are views without a contract: their declared columns and types must be
    those the warehouse's views have."""
    (call_list,) = [model for model in report_models(manifest) if model["name"] == view]
    declared = [
        (name, column["data_type"].replace(" ", "").lower())
        for name, column in call_list["columns"].items()
    ]
    actual = hand_built_run.query(
        "select column_name, lower(data_type) from information_schema.columns "
        f"where table_schema = 'reports' and table_name = '{view}' "
        "order by ordinal_position"
    )
    assert declared == [(name, data_type.replace(" ", "")) for name, data_type in actual]


def test_the_ui_shows_each_models_description_and_each_tests_description(manifest):
    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    descriptions = {
        key.to_user_string(): graph.get(key).description for key in graph.get_all_asset_keys()
    }
    for model in nodes(manifest, "model"):
        asset = f"{model['schema']}/{model['name']}"
        assert descriptions[asset] == model["description"], asset
        assert "Raw SQL" not in descriptions[asset]

    by_name = {test["name"]: test["description"] for test in nodes(manifest, "test")}
    checks = {key.name: graph.get_check_spec(key).description for key in graph.asset_check_keys}
    assert {name: checks[name] for name in by_name} == by_name


def test_the_dbt_assets_metadata_shows_no_unserializable_object(dbt_manifest):
    """The UI shows a definition metadata value it cannot serialize as "[Class] (unserializable)",
    except dagster-dbt's manifest and translator, which it hides."""
    from dagster._core.definitions.metadata import normalize_metadata

    from dagster_project.definitions import defs

    hidden_by_the_ui = {"dagster_dbt/manifest", "dagster_dbt/dagster_dbt_translator"}
    graph = defs.resolve_asset_graph()
    unserializable = {
        (key.to_user_string(), name)
        for key in graph.get_all_asset_keys()
        for name, value in normalize_metadata(graph.get(key).metadata, allow_invalid=True).items()
        if "(unserializable)" in str(value.value) and name not in hidden_by_the_ui
    }
    assert unserializable == set()


def make_docs(warehouse: Path) -> subprocess.CompletedProcess:
    """`make docs`, as the README gives it, on the warehouse at `warehouse`."""
    return subprocess.run(
        ["make", "--no-print-directory", "docs"],
        cwd=REPO_ROOT,
        env=os.environ | {"WAREHOUSE_PATH": str(warehouse)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_make_docs_writes_one_page_with_every_reports_columns_and_types(hand_built_run):
    completed = make_docs(hand_built_run.warehouse)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    page = REPO_ROOT / "dbt_project" / "target" / "docs" / "static_index.html"
    assert f"dbt docs: {page}" in completed.stdout
    text = page.read_text()
    # The documentation and, from the warehouse's catalog, the report columns' types.
    assert "The customers to win back, per sales rep, in the order to call them" in text
    catalog = json.loads((page.parent / "catalog.json").read_text())
    report = catalog["nodes"]["model.inactive_customers.win_back_call_list"]
    assert report["columns"]["rank_within_rep"]["type"] == "INTEGER"


def test_make_docs_without_a_warehouse_says_to_build_one_first(tmp_path):
    completed = make_docs(tmp_path / "warehouse.duckdb")
    assert completed.returncode == 2
    assert f"No warehouse at {tmp_path / 'warehouse.duckdb'}: run 'make run' first." in (
        completed.stderr
    )
    assert not (tmp_path / "warehouse.duckdb").exists()
