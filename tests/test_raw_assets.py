"""The raw extract assets materialize alone, with or without their checks."""

import shutil

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


def test_files_not_loaded_are_named_in_the_metadata_and_the_run_log(tmp_path, monkeypatch):
    from dagster import DagsterInstance

    raw_dir = tmp_path / "raw"
    shutil.copytree(FIXTURES / "hand_built", raw_dir, ignore=shutil.ignore_patterns("*.md"))
    (raw_dir / "orders" / "orders_2024-07-31.txt").write_text("renamed by mistake")
    (raw_dir / "orders" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    monkeypatch.setenv("RAW_DATA_DIR", str(raw_dir))
    resources = {"warehouse": WarehouseResource(database=str(tmp_path / "warehouse.duckdb"))}

    with DagsterInstance.ephemeral() as instance:
        result = materialize([raw_extracts], resources=resources, instance=instance)
        logged = [entry.user_message for entry in instance.all_logs(result.run_id)]

    assert result.success
    (orders,) = [
        event.materialization.metadata
        for event in result.get_asset_materialization_events()
        if event.asset_key == AssetKey(["raw", "orders"])
    ]
    assert orders["files_not_loaded"].value == {
        ".DS_Store": "a hidden file, its name starting with a dot",
        "orders_2024-07-31.txt": "not a .csv, .csv.gz or .parquet file",
    }
    assert (
        f"orders: not loaded from {raw_dir / 'orders'}: .DS_Store (a hidden file, its name "
        "starting with a dot); orders_2024-07-31.txt (not a .csv, .csv.gz or .parquet file)"
    ) in logged
