"""Assets that load the raw extract files into the warehouse's `raw` schema.

Their keys (`raw/orders`, `raw/customers`, `raw/items`) are the keys dagster-dbt gives the dbt
sources of the same name, so the UI shows one lineage graph from extract files to reports.
Each carries a reconciliation check: every row read from every file is either in the raw table
or in quarantine (`raw.rejected_rows`), never lost and never twice.
"""

import datetime as dt

from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Failure,
    MaterializeResult,
    multi_asset,
)
from dagster import MetadataValue as MV

from dagster_project import settings
from dagster_project.defs.warehouse import WAREHOUSE_POOL, WarehouseResource
from dagster_project.extracts import (
    ENTITIES,
    LOAD_LEDGER_TABLE,
    ExtractError,
    LoadSettings,
    _literal,
    load_entity,
    quarantine_counts,
    reconcile,
)

RECONCILIATION_CHECK = "every_row_accounted_for"
FILES_PRESENT_CHECK = "every_loaded_file_still_present"
ORDERS_ARRIVING_CHECK = "new_orders_extract_arrived_recently"


LEDGER_KEY = AssetKey(["raw", "load_ledger"])


def raw_asset_key(entity_name: str) -> AssetKey:
    return AssetKey(["raw", entity_name])


def _markdown_table(header: tuple[str, ...], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def _orders_arriving_check(con, key: AssetKey) -> AssetCheckResult:
    max_age = dt.timedelta(hours=settings.extract_max_age_hours())
    (newest,) = con.execute(
        f"select max(loaded_at) from {LOAD_LEDGER_TABLE} where entity = 'orders'"
    ).fetchone()
    age = dt.datetime.now(dt.UTC) - newest if newest else None
    return AssetCheckResult(
        asset_key=key,
        check_name=ORDERS_ARRIVING_CHECK,
        passed=age is not None and age <= max_age,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "newest_orders_extract_loaded_at": str(newest),
            "hours_since": round(age.total_seconds() / 3600, 1) if age else -1.0,
            "max_age_hours": settings.extract_max_age_hours(),
        },
    )


def _reconciliation_check(con, entity, key: AssetKey) -> AssetCheckResult:
    per_file = reconcile(con, entity)
    unbalanced = [row for row in per_file if row[1] != row[2] + row[3]]
    names = ", ".join(_literal(row[0]) for row in unbalanced)
    return AssetCheckResult(
        asset_key=key,
        check_name=RECONCILIATION_CHECK,
        passed=not unbalanced,
        severity=AssetCheckSeverity.ERROR,
        # The loads never leave a file half-written: rows went missing or were doubled in the
        # warehouse after their load. Loading the files again puts back exactly what they hold.
        description=None
        if not unbalanced
        else f"{entity.table} and the quarantine do not hold the rows read from {names}: the "
        "warehouse was changed after their load. To load them again, run "
        f"`delete from {LOAD_LEDGER_TABLE} where entity = '{entity.name}' and source_file in "
        f"({names})` on the warehouse, then the pipeline.",
        metadata={
            "files": len(per_file),
            "unbalanced_files": len(unbalanced),
            "per_file": MV.md(
                _markdown_table(
                    ("file", "rows read", "loaded", "quarantined"), unbalanced or per_file
                )
            ),
        },
    )


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
    ]
    + [
        AssetSpec(
            key=LEDGER_KEY,
            description="The load ledger, `raw.load_ledger`: one row per extract file loaded "
            "(size, content hash, rows read, loaded and quarantined). The incremental order "
            "models read it to find the files that are new since their last build.",
            group_name="raw",
            kinds={"duckdb"},
            skippable=True,
        )
    ],
    check_specs=[
        AssetCheckSpec(
            name=RECONCILIATION_CHECK,
            asset=raw_asset_key(entity.name),
            description="Per source file: rows read = rows loaded + rows quarantined.",
            # A difference means rows were lost or doubled: nothing downstream may use them.
            blocking=True,
        )
        for entity in ENTITIES.values()
    ]
    + [
        AssetCheckSpec(
            name=ORDERS_ARRIVING_CHECK,
            asset=raw_asset_key("orders"),
            description="Warns when no new or changed orders extract has arrived within "
            "EXTRACT_MAX_AGE_HOURS (default 48): the reports may be going stale upstream.",
        )
    ]
    + [
        AssetCheckSpec(
            name=FILES_PRESENT_CHECK,
            asset=raw_asset_key(entity.name),
            description="Warns when files loaded before are gone from the folder "
            "(their rows stay in the warehouse).",
        )
        for entity in ENTITIES.values()
    ],
    can_subset=True,
    # One step loads every entity, so the loads never compete for the warehouse file.
    pool=WAREHOUSE_POOL,
)
def raw_extracts(context: AssetExecutionContext, warehouse: WarehouseResource):
    raw_data_dir = settings.raw_data_dir()
    load_settings = LoadSettings.from_env()
    with warehouse.get_connection() as con:
        for entity in ENTITIES.values():
            key = raw_asset_key(entity.name)
            if key not in context.selected_asset_keys:
                continue
            try:
                result = load_entity(con, entity, raw_data_dir, settings=load_settings)
            except ExtractError as error:
                # The message names file, line and column: that is what the user needs to see,
                # not a stack trace (the loader's frames, which Dagster prints for a chained
                # cause, say nothing about the file). Files loaded before this one stay loaded.
                raise Failure(
                    description=f"The {entity.name} extracts break the contract:\n{error}",
                    allow_retries=False,
                ) from None
            context.log.info(
                f"{entity.name}: {len(result.loaded)} new or changed file(s) read, "
                f"{result.row_count} rows loaded, {result.quarantined_count} quarantined; "
                f"{len(result.unchanged)} file(s) unchanged"
            )
            if result.missing:
                context.log.warning(
                    f"{entity.name}: {len(result.missing)} file(s) loaded before are gone from "
                    f"{raw_data_dir / entity.name}; their rows stay: {', '.join(result.missing)}"
                )
            if result.not_loaded:
                context.log.warning(
                    f"{entity.name}: not loaded from {raw_data_dir / entity.name}: "
                    + "; ".join(f"{name} ({why})" for name, why in result.not_loaded)
                )
            # This run's counts are zero on a day without new files: the totals say what the
            # warehouse holds.
            (total_rows,) = con.execute(f"select count(*) from {entity.table}").fetchone()
            (total_files,) = con.execute(
                f"select count(*) from {LOAD_LEDGER_TABLE} where entity = ?", [entity.name]
            ).fetchone()
            quarantined_by_rule = quarantine_counts(con, entity)
            yield MaterializeResult(
                asset_key=key,
                metadata={
                    "dagster/row_count": total_rows,
                    "table": entity.table,
                    "source_folder": MV.path(str(raw_data_dir / entity.name)),
                    "source_file_count": len(result.files),
                    "files_read": len(result.loaded),
                    "files_unchanged": len(result.unchanged),
                    "files_missing": MV.json(list(result.missing)),
                    "files_not_loaded": MV.json(dict(result.not_loaded)),
                    "rows_loaded": result.row_count,
                    "rows_quarantined": result.quarantined_count,
                    "files_loaded_total": total_files,
                    "rows_quarantined_total": sum(quarantined_by_rule.values()),
                    "quarantined_by_rule": MV.json(quarantined_by_rule),
                    "files_read_this_run": MV.md(
                        _markdown_table(
                            ("file", "rows read", "loaded", "quarantined"),
                            [
                                (f.source_file, f.rows_read, f.rows_loaded, f.rows_quarantined)
                                for f in result.loaded
                            ],
                        )
                    ),
                },
            )
            checks = [
                AssetCheckResult(
                    asset_key=key,
                    check_name=FILES_PRESENT_CHECK,
                    passed=not result.missing,
                    severity=AssetCheckSeverity.WARN,
                    metadata={"files_missing": MV.json(list(result.missing))},
                ),
                *([_orders_arriving_check(con, key)] if entity.name == "orders" else []),
                _reconciliation_check(con, entity, key),
            ]
            # A user may materialize an asset without some of its checks.
            yield from (
                check
                for check in checks
                if AssetCheckKey(key, check.check_name) in context.selected_asset_check_keys
            )
        if LEDGER_KEY in context.selected_asset_keys:
            files = dict(
                con.execute(
                    f"select entity, count(*) from {LOAD_LEDGER_TABLE} group by entity"
                ).fetchall()
            )
            yield MaterializeResult(
                asset_key=LEDGER_KEY,
                metadata={
                    "dagster/row_count": sum(files.values()),
                    "files_by_entity": MV.json(files),
                },
            )
