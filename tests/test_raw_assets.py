"""The raw extract assets materialize alone, with or without their checks."""

from dagster import AssetKey, AssetSelection, materialize

from dagster_project.defs.raw_extracts import raw_extracts
from dagster_project.defs.warehouse import WarehouseResource
from tests.conftest import FIXTURES

ITEMS = AssetKey(["raw", "items"])


def test_one_raw_asset_materializes_alone_with_or_without_its_checks(tmp_path, monkeypatch):
    monkeypatch.setenv("RAW_DATA_DIR", str(FIXTURES / "hand_built"))
    resources = {"warehouse": WarehouseResource(database=str(tmp_path / "warehouse.duckdb"))}

    alone = materialize(
        [raw_extracts],
        selection=AssetSelection.assets(ITEMS).without_checks(),
        resources=resources,
    )
    assert alone.success
    assert [e.asset_key for e in alone.get_asset_materialization_events()] == [ITEMS]
    assert alone.get_asset_check_evaluations() == []

    with_checks = materialize(
        [raw_extracts], selection=AssetSelection.assets(ITEMS), resources=resources
    )
    assert with_checks.success
    assert sorted((c.check_name, c.passed) for c in with_checks.get_asset_check_evaluations()) == [
        ("every_loaded_file_still_present", True),
        ("every_row_accounted_for", True),
    ]
