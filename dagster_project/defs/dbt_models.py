"""The dbt models as Dagster assets, with dbt's data tests as asset checks."""

import datetime as dt
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Config,
    RetryRequested,
    TableColumn,
    TableRecord,
    TableSchema,
)
from dagster import MetadataValue as MV
from dagster_dbt import (
    DagsterDbtCliRuntimeError,
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)
from dagster_dbt.asset_utils import DAGSTER_DBT_PROJECT_METADATA_KEY
from pydantic import Field

from dagster_project import build_state, settings
from dagster_project.build_plan import BuildPlan
from dagster_project.dbt_project import dbt_profile_env, dbt_project
from dagster_project.defs.run_tags import report_date_tags
from dagster_project.defs.warehouse import WAREHOUSE_POOL, WarehouseResource, is_lock_error
from dagster_project.lake import copy_spark_results, write_raw_tables

DBT_ASSETS_NAME = "dbt_models"
# When another process takes the warehouse between the wait and dbt's connection, the step is
# retried this many times, this far apart: the whole build again, which is idempotent.
LOCK_RETRIES = 3
LOCK_RETRY_SECONDS = 30
# DuckDB may run out of memory under DUCKDB_MEMORY_LIMIT when the models that need most of it
# run at once (seen once in a dozen full builds of 30M order lines at 2 GiB, where they spill to
# disk otherwise): the step is retried once. Out of memory again, it fails, saying what to raise.
MEMORY_RETRIES = 1
MEMORY_RETRY_SECONDS = 5


class ReportDateConfig(Config):
    """Run configuration of the dbt step: the date the reports are computed for."""

    as_of_date: str = Field(
        default="",
        description="YYYY-MM-DD. Empty: the AS_OF_DATE environment variable, else today.",
    )

    def resolve(self) -> str:
        if self.as_of_date.strip():
            return settings.parse_as_of_date(self.as_of_date, "run config as_of_date").isoformat()
        return settings.default_as_of_date().isoformat()


class ReportsDbtTranslator(DagsterDbtTranslator):
    """Keys models by schema and name (`staging/stg_orders`, `reports/customer_activity_report`)
    and groups them by folder, so the UI reads like the dbt project. Sources keep dagster-dbt's
    default key, `<source>/<table>`, which is the raw assets' key."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "model":
            return AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "model":
            return dbt_resource_props["fqn"][1]
        return super().get_group_name(dbt_resource_props)

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> AssetSpec:
        """dagster-dbt's spec without the DbtProject object in its metadata, which the UI shows
        as "[DbtProject] (unserializable)". The steps get the project from this module instead
        (the code references need it)."""
        spec = super().get_asset_spec(manifest, unique_id, project or dbt_project)
        if DAGSTER_DBT_PROJECT_METADATA_KEY not in spec.metadata:
            return spec
        return spec.replace_attributes(
            metadata={
                key: value
                for key, value in spec.metadata.items()
                if key != DAGSTER_DBT_PROJECT_METADATA_KEY
            }
        )

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        """The model's description alone: dagster-dbt appends the model's whole SQL, internal
        comments included, which the asset's code reference (`dbt_project/models/...`) shows."""
        return dbt_resource_props.get("description") or (
            f"dbt {dbt_resource_props['resource_type']} {dbt_resource_props['name']}"
        )

    def get_asset_check_spec(
        self,
        asset_spec: AssetSpec,
        manifest: Mapping[str, Any],
        unique_id: str,
        project: DbtProject | None,
    ) -> AssetCheckSpec | None:
        """dagster-dbt's check, described by the data test's `description:` (dbt's own property
        of a test, which dagster-dbt 0.29 does not read: it reads `meta.description`)."""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        description = manifest["nodes"][unique_id].get("description")
        if spec is None or spec.description or not description:
            return spec
        return spec._replace(description=description)


# dagster-dbt gives every dbt command a folder of its own under the dbt target folder (compiled
# SQL, dbt's parse state): the latest are kept for looking into a run, the rest removed, so that
# a daily schedule does not fill the disk.
DBT_RUN_FOLDERS_KEPT = 30


def is_out_of_memory_error(error: BaseException) -> bool:
    """True for DuckDB's "Out of Memory Error", as dbt reports a model that hit it."""
    return "out of memory error" in str(error).lower()


def forget_old_dbt_runs(target_dir: Path, keep: int = DBT_RUN_FOLDERS_KEPT) -> None:
    """Removes all but the `keep` most recent dbt run folders of this asset in `target_dir`."""
    runs = sorted(target_dir.glob(f"{DBT_ASSETS_NAME}-*"), key=lambda path: path.stat().st_mtime_ns)
    for folder in runs[:-keep] if keep else runs:
        shutil.rmtree(folder, ignore_errors=True)


REPORTS_SCHEMA = "reports"
# Not counted after a build: as large as the order history, counting it would cost every daily
# run in proportion to the history (why its Parquet copy, which shows its row count, is written
# on demand only).
UNCOUNTED_REPORTS = ("customer_item_activity_report",)
# The data test whose failing rows (stored by dbt: `store_failures`) the check lists.
FILES_NAMED_AHEAD_TEST = "extracts_dated_after_the_as_of_date"


def _dbt_node(manifest: Mapping[str, Any], event) -> Mapping[str, Any] | None:
    unique_id = event.metadata.get("unique_id")
    return manifest["nodes"].get(unique_id.value) if unique_id is not None else None


def _read_after_the_build(manifest: Mapping[str, Any], node: Mapping[str, Any] | None) -> bool:
    """Whether a dbt event's metadata is completed from the warehouse, which dbt holds until its
    build ends: the reports' (and their checks', which must follow them) and the check that
    lists the extract files named ahead of their time."""
    if node is None:
        return False
    if node["resource_type"] == "test":
        return node["name"] == FILES_NAMED_AHEAD_TEST or any(
            _read_after_the_build(manifest, manifest["nodes"].get(dependency))
            for dependency in node["depends_on"]["nodes"]
        )
    return node["schema"] == REPORTS_SCHEMA


KPI_REPORT = "activity_kpis_monthly"
KPI_MONTHS_SHOWN = 12
KPI_COLUMNS = (
    ("month_start", "string"),
    ("active_at_end", "int"),
    ("inactive_at_end", "int"),
    ("new_customers", "int"),
    ("newly_inactive", "int"),
    ("reactivated", "int"),
    ("recovery_rate", "float"),
    ("attrition_rate", "float"),
)
PLOT_WIDTH = 40


def kpi_plot(months: list[dict]) -> str:
    """Active and inactive customers at each month's end as text bars, which the UI shows as
    they are (markdown), beside newly inactive against reactivated."""
    widest = max((m["active_at_end"] + m["inactive_at_end"] for m in months), default=0) or 1
    lines = ["month     active (#) and inactive (.) at the end | newly inactive / reactivated"]
    for m in months:
        active = round(PLOT_WIDTH * m["active_at_end"] / widest)
        inactive = round(PLOT_WIDTH * m["inactive_at_end"] / widest)
        bar = ("#" * active + "." * inactive).ljust(PLOT_WIDTH)
        lines.append(
            f"{m['month_start'][:7]}   {bar} | {m['newly_inactive']:>6} / {m['reactivated']:<6}"
        )
    return "```\n" + "\n".join(lines) + "\n```"


def kpi_metadata(con, relation: str) -> dict[str, Any]:
    """The last months of the KPI report as a table and a plot, and the latest month's figures
    as numbers, which the UI plots across materializations."""
    names = [name for name, _ in KPI_COLUMNS]
    rows = con.execute(
        f"select {', '.join(names)} from {relation} order by month_start desc limit ?",
        [KPI_MONTHS_SHOWN],
    ).fetchall()
    months = []
    for row in reversed(rows):
        month = dict(zip(names, row, strict=True))
        month["month_start"] = str(month["month_start"])
        for rate in ("recovery_rate", "attrition_rate"):
            month[rate] = None if month[rate] is None else float(month[rate])
        months.append(month)
    metadata: dict[str, Any] = {
        f"last_{KPI_MONTHS_SHOWN}_months": MV.table(
            records=[TableRecord(m) for m in months],
            schema=TableSchema(columns=[TableColumn(name, kind) for name, kind in KPI_COLUMNS]),
        ),
        f"last_{KPI_MONTHS_SHOWN}_months_plot": MV.md(kpi_plot(months)),
    }
    if months:
        latest = months[-1]
        metadata |= {
            f"latest_month_{name}": latest[name]
            for name in ("active_at_end", "inactive_at_end", "newly_inactive", "reactivated")
        }
    return metadata


BACKTEST_REPORT = "inactivity_backtest"
BACKTEST_RULES = ("billing_cycle", "adaptive")
BACKTEST_COLUMNS = (
    ("month_end", "string"),
    ("customers", "int"),
    ("flagged", "int"),
    ("flagged_silent", "int"),
    ("unflagged_silent", "int"),
    ("precision", "float"),
    ("recall", "float"),
)


def backtest_metadata(con, relation: str) -> dict[str, Any]:
    """Per inactivity rule, the backtest's last month ends as a table, and the latest month
    end's precision and recall as numbers (plotted by the UI across materializations): the
    evidence a user compares the rules on."""
    names = [name for name, _ in BACKTEST_COLUMNS]
    metadata: dict[str, Any] = {}
    for rule in BACKTEST_RULES:
        rows = con.execute(
            f"select {', '.join(names)} from {relation} where inactivity_rule = ? "
            "order by month_end desc limit ?",
            [rule, KPI_MONTHS_SHOWN],
        ).fetchall()
        month_ends = [
            {
                name: str(value)
                if name == "month_end"
                else (
                    float(value) if name in ("precision", "recall") and value is not None else value
                )
                for name, value in zip(names, row, strict=True)
            }
            for row in reversed(rows)
        ]
        metadata[f"{rule}_last_{KPI_MONTHS_SHOWN}_month_ends"] = MV.table(
            records=[TableRecord(m) for m in month_ends],
            schema=TableSchema(
                columns=[TableColumn(name, kind) for name, kind in BACKTEST_COLUMNS]
            ),
        )
        if month_ends:
            for measure in ("precision", "recall"):
                value = month_ends[-1][measure]
                if value is not None:
                    metadata[f"{rule}_latest_{measure}"] = value
    return metadata


def _metadata_read_after_the_build(con, node: Mapping[str, Any], event) -> dict[str, Any]:
    """What the UI shows beyond dagster-dbt's metadata: a report's row count and as-of date
    (counted here: dagster-dbt's `fetch_row_counts` skips views, which the reports are, and
    needs the adapter that `InstalledDbtCliResource` does not load), and the extract files named
    ahead of their time, when the check fails."""
    relation = f'"{node["schema"]}"."{node["alias"]}"'
    if node["resource_type"] == "model":
        if node["name"] in UNCOUNTED_REPORTS:
            return {}
        if node["name"] in (KPI_REPORT, BACKTEST_REPORT):
            # A few rows, each computed from every customer's history, and read three times
            # below: computed once.
            con.execute(f"create or replace temp table report_rows as select * from {relation}")
            relation = "report_rows"
        (rows, as_of_date) = con.execute(
            f"select count(*), max(as_of_date)::varchar from {relation}"
        ).fetchone()
        metadata = {"dagster/row_count": rows, "as_of_date": as_of_date or ""}
        if node["name"] == KPI_REPORT:
            metadata |= kpi_metadata(con, relation)
        if node["name"] == BACKTEST_REPORT:
            metadata |= backtest_metadata(con, relation)
        if relation == "report_rows":
            con.execute("drop table report_rows")
        return metadata
    if node["name"] == FILES_NAMED_AHEAD_TEST and not event.passed:
        files = con.execute(
            f"select entity, source_file, extracted_on, rows_loaded from {relation} "
            "order by entity, source_file"
        ).fetchall()
        return {
            "files_named_ahead": MV.table(
                records=[
                    TableRecord({"entity": e, "file": f, "extracted_on": str(d), "rows_loaded": n})
                    for e, f, d, n in files
                ],
                schema=TableSchema(
                    columns=[
                        TableColumn("entity", "string"),
                        TableColumn("file", "string"),
                        TableColumn("extracted_on", "string"),
                        TableColumn("rows_loaded", "int"),
                    ]
                ),
            )
        }
    return {}


def _events_completed_after_the_build(
    context, invocation, warehouse: WarehouseResource, build_plan: BuildPlan
):
    """The events of the dbt build, those whose metadata is read from the warehouse held back
    until dbt has closed it. When the build fails, they follow as they are, then the error (the
    warehouse is not read: another process may hold it). Every model's says how it was built."""
    held = []
    way = "full" if build_plan.full else "incremental"
    how_built = {"dbt_build": f"{way}: {build_plan.reason}"}
    try:
        for event in invocation.stream():
            node = _dbt_node(invocation.manifest, event)
            if node is not None and node["resource_type"] == "model":
                event = event.with_metadata({**event.metadata, **how_built})
            if _read_after_the_build(invocation.manifest, node):
                held.append((node, event))
            else:
                yield event
    except DagsterDbtCliRuntimeError:
        yield from (event for _, event in held)
        raise
    with warehouse.get_connection() as con:
        if settings.dbt_target() == "spark":
            copied = copy_spark_results(con, settings.spark_warehouse_dir())
            context.log.info(
                f"Copied {len(copied)} tables Spark built into {warehouse.database}: "
                + ", ".join(f"{name} ({rows} rows)" for name, rows in copied.items())
            )
        for node, event in held:
            extra = _metadata_read_after_the_build(con, node, event)
            if "files_named_ahead" in extra:
                context.log.warning(
                    "Extract files named with a date after the as-of date and today, left aside "
                    "until then: "
                    + ", ".join(r.data["file"] for r in extra["files_named_ahead"].records)
                )
            yield event.with_metadata({**event.metadata, **extra}) if extra else event


def _dbt_env(warehouse: WarehouseResource, as_of_date: str) -> dict[str, str]:
    """The environment of the dbt process: what its profile reads, for the warehouse resource's
    file, and the as-of date. The date goes by environment rather than `--vars`: dbt parses the
    whole project again whenever its vars change, seconds on every daily run."""
    return dbt_profile_env(Path(warehouse.database)) | {"AS_OF_DATE": as_of_date}


def incremental_models(manifest: Mapping[str, Any]) -> set[AssetKey]:
    """The asset keys of the incremental models: those that absorb new extract files."""
    translator = ReportsDbtTranslator()
    return {
        translator.get_asset_key(node)
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"].get("materialized") == "incremental"
    }


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    name=DBT_ASSETS_NAME,
    # Tests on the dbt sources become checks on the raw assets, so the UI shows them there.
    dagster_dbt_translator=ReportsDbtTranslator(
        settings=DagsterDbtTranslatorSettings(
            enable_source_tests_as_checks=True,
            # Each asset links to its model's file, in place of the SQL in its description.
            enable_code_references=True,
        )
    ),
    # Unit tests check the SQL, not the data: the test suite runs them, production runs skip them.
    exclude="test_type:unit",
    pool=WAREHOUSE_POOL,
)
def dbt_models(
    context: AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    config: ReportDateConfig,
):
    as_of_date = config.resolve()
    context.log.info(f"Building the reports as of {as_of_date}")
    # However the run was launched (the UI's launchpad too), its tags say its date.
    context.instance.add_run_tags(context.run.run_id, report_date_tags(as_of_date))
    # Full or incremental, decided here once (dagster_project/build_plan.py), with the keys an
    # incremental build recomputes written for the models to read.
    with warehouse.get_connection() as con:
        build_plan = build_state.plan(con, dt.date.fromisoformat(as_of_date))
        build_number = build_state.start_build(con, build_plan, context.run.run_id)
        files = build_state.ledger_files(con)
        if settings.dbt_target() == "spark":
            # The models on Spark read the raw tables from the lake (dagster_project/lake.py).
            lake = settings.lake_dir()
            written = write_raw_tables(con, lake)
            context.log.info(
                f"Wrote the raw tables to {lake}/raw for Spark: "
                + ", ".join(f"{table} ({rows} rows)" for table, rows in written.items())
            )
    context.log.info(
        f"dbt build {'--full-refresh' if build_plan.full else '(incremental)'}: {build_plan.reason}"
    )
    context.instance.add_run_tags(
        context.run.run_id, {"dbt_build": "full" if build_plan.full else "incremental"}
    )
    # dbt opens the warehouse in its own process: wait here, with a message naming the holder,
    # while another process holds it, rather than let dbt fail on the lock.
    warehouse.wait_until_free()
    try:
        with settings.environment(_dbt_env(warehouse, as_of_date)):
            # No manifest.json or run_results.json: nothing reads them, and writing them costs
            # a fraction of a second on every run (the events carry the results).
            invocation = dbt.cli([*build_plan.dbt_build_args(), "--no-write-json"], context=context)
            # dbt runs in this process (see InProcessDbt) and reads this environment until it
            # has finished: it stays in place while the events stream.
            yield from _events_completed_after_the_build(context, invocation, warehouse, build_plan)
        # Only a build of every incremental model has absorbed the new files: after one of
        # some, the next build recomputes them all again (a full one, when this one was full).
        left_out = incremental_models(invocation.manifest) - set(context.selected_asset_keys)
        if left_out:
            context.log.warning(
                "This build left out "
                + ", ".join(sorted(key.to_user_string() for key in left_out))
                + ": the next build of every model recomputes what this one did."
            )
        else:
            with warehouse.get_connection() as con:
                build_state.finish_build(con, build_plan, build_number, files)
        forget_old_dbt_runs(Path(invocation.target_path).parent)
    except DagsterDbtCliRuntimeError as error:
        if is_lock_error(error):
            context.log.warning(
                f"dbt could not lock the warehouse {warehouse.database}: another process took "
                f"it. Retrying the step in {LOCK_RETRY_SECONDS} s."
            )
            raise RetryRequested(
                max_retries=LOCK_RETRIES, seconds_to_wait=LOCK_RETRY_SECONDS
            ) from error
        if is_out_of_memory_error(error):
            limit = settings.duckdb_memory_limit()
            if context.retry_number < MEMORY_RETRIES:
                context.log.warning(
                    f"DuckDB ran out of memory under its limit of {limit} "
                    f"(DUCKDB_MEMORY_LIMIT). Retrying the step in {MEMORY_RETRY_SECONDS} s."
                )
                raise RetryRequested(
                    max_retries=MEMORY_RETRIES, seconds_to_wait=MEMORY_RETRY_SECONDS
                ) from error
            raise RuntimeError(
                f"DuckDB ran out of memory under its limit of {limit}, twice: raise "
                "DUCKDB_MEMORY_LIMIT (past it DuckDB spills to disk, but not every operation "
                f"can).\n{error}"
            ) from error
        raise
