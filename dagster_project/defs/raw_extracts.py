"""Assets that load the raw extract files into the warehouse's `raw` schema.

Their keys (`raw/orders`, `raw/customers`, `raw/items`) are the keys dagster-dbt gives the dbt
sources of the same name, so the UI shows one lineage graph from extract files to reports.
"""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Failure,
    MaterializeResult,
    multi_asset,
)
from dagster import MetadataValue as MV
from dagster_duckdb import DuckDBResource

from dagster_project import settings
from dagster_project.defs.warehouse import WAREHOUSE_POOL
from dagster_project.extracts import ENTITIES, ExtractError, load_entity


def raw_asset_key(entity_name: str) -> AssetKey:
    return AssetKey(["raw", entity_name])


@multi_asset(
    name="raw_extracts",
    specs=[
        AssetSpec(
            key=raw_asset_key(entity.name),
            description=f"{entity.description} Loaded from `RAW_DATA_DIR/{entity.name}/`.",
            group_name="raw",
            kinds={"duckdb", "csv", "parquet"},
            skippable=True,
        )
        for entity in ENTITIES.values()
    ],
    can_subset=True,
    # One step loads every entity, so the loads never compete for the warehouse file.
    pool=WAREHOUSE_POOL,
)
def raw_extracts(context: AssetExecutionContext, warehouse: DuckDBResource):
    raw_data_dir = settings.raw_data_dir()
    with warehouse.get_connection() as con:
        for entity in ENTITIES.values():
            key = raw_asset_key(entity.name)
            if key not in context.selected_asset_keys:
                continue
            try:
                result = load_entity(con, entity, raw_data_dir)
            except ExtractError as error:
                # The message names file, line and column: that is what the user needs to see,
                # not a stack trace. The raw table keeps its previous contents.
                raise Failure(
                    description=f"The {entity.name} extracts break the contract:\n{error}",
                    allow_retries=False,
                ) from error
            context.log.info(
                f"Loaded {result.row_count} rows from {len(result.files)} file(s) "
                f"into {result.table}"
            )
            yield MaterializeResult(
                asset_key=key,
                metadata={
                    "dagster/row_count": result.row_count,
                    "table": result.table,
                    "source_folder": MV.path(str(raw_data_dir / entity.name)),
                    "source_file_count": len(result.files),
                    "rows_per_file": MV.md(
                        "| file | rows |\n|---|---|\n"
                        + "".join(f"| {name} | {n} |\n" for name, n in result.rows_per_file.items())
                    ),
                },
            )
