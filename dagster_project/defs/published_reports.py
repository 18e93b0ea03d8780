"""Assets that publish the reports where BI tools and sales teams read them (`REPORTS_DIR`).

- `reports.duckdb`: both reports in one DuckDB file that DuckDB 1.4 and newer open (the versions
  BI drivers bundle), updated in proportion to the day (see `dagster_project/reports_database.py`);
- `customer_activity_report.parquet`;
- `inactive_customers.csv`: the call list for sales teams;
- `call_lists/<rep>.csv`: each sales rep's customers to win back, in the order to call them
  (see `dagster_project/call_lists.py`);
- `index.html`: the reports on one page for sales managers (`dagster_project/report_page.py`);
- `customer_item_activity_report.parquet`, on demand only (materialize it in the UI): it is
  about as large as the order history, so writing it every day would cost a daily run in
  proportion to the history;
- `backfills/<as_of_date>/`: the customer report, the customer x item report and the call lists
  for a past date rebuilt by a backfill.

The current files never go back in time: a run for an as-of date older than the one they hold
(a backfill) writes its reports to `backfills/<as_of_date>/` and leaves the current files as
they are, so sales teams keep reading the latest reports. (Daily runs keep no copies: the
customer x item report is about as large as the order history.)

Every file is written beside the old one and renamed over it. A reader holding the old file
keeps a consistent old view; a new connection sees the new file; nobody sees half of one, and
publishing never waits for readers (they never hold the file being written). The two tables
of `reports.duckdb` change together, so a reader of it always sees one as-of date.
"""

import contextlib
import datetime as dt
import decimal
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    FreshnessPolicy,
    MaterializeResult,
    TableColumn,
    TableRecord,
    TableSchema,
    asset,
    multi_asset,
)
from dagster import MetadataValue as MV

from dagster_project import settings
from dagster_project.call_lists import CALL_LISTS_DIR, computed_once, write_call_lists
from dagster_project.defs.warehouse import WAREHOUSE_POOL, WarehouseResource
from dagster_project.extracts import exact_path_sql
from dagster_project.report_page import PAGE_FILE, write_report_page
from dagster_project.reports_database import (
    READER_STORAGE_VERSION,
    Publication,
    ReportsDatabasePublisher,
    replace_atomically,
    sql_path,
)
from dagster_project.reports_database import (
    VIEWS as DATABASE_REPORTS,
)

REPORT_TABLES = ("customer_activity_report", "customer_item_activity_report")
CALL_LIST_TABLE = "inactive_customer_call_list"
REPORTS_DATABASE = "reports.duckdb"
CUSTOMER_REPORT_FILE = "customer_activity_report.parquet"
ITEM_REPORT_FILE = "customer_item_activity_report.parquet"
CALL_LIST_FILE = "inactive_customers.csv"

CUSTOMER_PARQUET_KEY = AssetKey(["published", "customer_activity_report"])
ITEM_PARQUET_KEY = AssetKey(["published", "customer_item_activity_report"])
DATABASE_KEY = AssetKey(["published", "reports_database"])
# The UI warns when the published reports are more than a day old (a daily run was missed), and
# marks them failed after two.
REPORTS_FRESHNESS = FreshnessPolicy.time_window(
    warn_window=dt.timedelta(hours=26), fail_window=dt.timedelta(hours=50)
)
CALL_LIST_KEY = AssetKey(["published", "inactive_customers_csv"])
WIN_BACK_KEY = AssetKey(["published", "win_back_call_lists"])
PAGE_KEY = AssetKey(["published", "report_page"])
WIN_BACK_SCHEMA = TableSchema(
    columns=[
        TableColumn("sales_rep", "string"),
        TableColumn("file", "string"),
        TableColumn("customers", "int"),
        TableColumn("revenue_at_risk", "float"),
    ]
)
BACKFILL_KEY = AssetKey(["published", "backfilled_reports"])
BACKFILL_DIR = "backfills"


def publish_copy(con, table: str, destination: Path, copy_options: str) -> int:
    """Writes `table` to `destination` with DuckDB's COPY (e.g. `format parquet`); returns the
    rows written (a report may be a view: counting it again would compute it again)."""
    written = []

    def write(partial: Path) -> None:
        (rows,) = con.execute(
            f"copy (select * from {table}) to {sql_path(partial)} ({copy_options})"
        ).fetchone()
        written.append(rows)

    replace_atomically(write, destination)
    return written[0]


def report_dates(con, reports_dir: Path) -> tuple[dt.date | None, dt.date | None]:
    """The as-of date of the warehouse's reports, and the latest among the published files."""
    (as_of_date,) = con.execute(
        "select max(as_of_date) from reports.customer_activity_report"
    ).fetchone()
    return as_of_date, latest_published_date(con, reports_dir)


def is_backfill(as_of_date: dt.date | None, published: dt.date | None) -> bool:
    """Whether the warehouse's reports are older than the published ones: a backfill."""
    return as_of_date is not None and published is not None and published > as_of_date


def publish_parquet(context, con, table: str, destination: Path) -> dict:
    """Writes the report `reports.<table>` to `destination` as Parquet; returns the metadata of
    its materialization."""
    rows = publish_copy(con, f"reports.{table}", destination, "format parquet")
    (as_of_date,) = con.execute(f"select max(as_of_date)::varchar from reports.{table}").fetchone()
    context.log.info(f"Published {rows} rows to {destination}")
    return {
        "dagster/row_count": rows,
        "as_of_date": str(as_of_date),
        "path": MV.path(str(destination)),
    }


def published_as_of_date(con, path: Path) -> dt.date | None:
    """The as-of date of a published report file, or None where there is none to read."""
    if not path.exists():
        return None
    try:
        if path.suffix == ".duckdb":
            con.execute(f"attach {sql_path(path)} as published_before (read_only)")
            try:
                source = "published_before.customer_activity_report"
                (as_of_date,) = con.execute(f"select max(as_of_date) from {source}").fetchone()
            finally:
                con.execute("detach published_before")
        elif path.suffix == ".csv":
            # The call list, as written by publish_copy: a header, then rows whose first field
            # is the as-of date, the same on every row. Its first row is enough, where reading
            # the file with DuckDB would read all of it (tens of MB at hundreds of thousands of
            # inactive customers).
            with path.open(encoding="utf-8") as call_list:
                call_list.readline()
                first_row = call_list.readline()
            as_of_date = first_row.split(",", 1)[0].strip() or None
        else:
            (as_of_date,) = con.execute(
                f"select max(as_of_date) from read_parquet({exact_path_sql(path)})"
            ).fetchone()
    except Exception:
        # Unreadable (say, a file a user replaced by hand): nothing worth keeping, publish over it.
        return None
    return dt.date.fromisoformat(str(as_of_date)) if as_of_date is not None else None


def latest_published_date(con, reports_dir: Path) -> dt.date | None:
    """The latest as-of date among the current published files: a run for an older date is a
    backfill, and leaves them as they are."""
    dates = [
        published_as_of_date(con, reports_dir / name)
        for name in (CUSTOMER_REPORT_FILE, REPORTS_DATABASE, CALL_LIST_FILE)
    ]
    return max((d for d in dates if d is not None), default=None)


# How many as-of dates the customer report's table of counts goes back: the UI plots numbers by
# the time of the run, which is not the as-of date (a backfill, a run made late), so the counts
# by as-of date are a table, carried from one materialization to the next.
STATUS_HISTORY_DATES = 90
STATUS_HISTORY_KEY = "customers_by_as_of_date"
STATUS_HISTORY_SCHEMA = TableSchema(
    columns=[
        TableColumn("as_of_date", "date"),
        TableColumn("active", "int"),
        TableColumn("inactive", "int"),
        TableColumn("never_purchased", "int"),
        TableColumn("inactive_revenue", "float", description="inactive_lifetime_net_revenue"),
    ]
)
TOP_INACTIVE_SCHEMA = TableSchema(
    columns=[
        # Short names, and the figures before the names: the UI gives a metadata value a narrow
        # column (under 1800 pixels of window, it cuts the table's last columns off).
        TableColumn("customer", "string"),
        TableColumn("revenue", "float", description="lifetime_net_revenue"),
        TableColumn("last purchase", "date"),
        TableColumn("rep", "string"),
        TableColumn("name", "string"),
    ]
)
# The call list's first rows, as the sales team sees them (the columns that tell who to call
# and why: the UI gives a metadata value a narrow column).
CALL_LIST_PREVIEW_ROWS = 10
CALL_LIST_PREVIEW_COLUMNS = (
    "customer_id",
    "customer_name",
    "sales_rep",
    "last_purchase_date",
    "lifetime_net_revenue",
    "items_they_used_to_buy",
)


def _table(schema: TableSchema, rows: list[tuple]) -> MV:
    """A table for the UI: dates as text, decimals as floats, NULL as empty."""

    def shown(value):
        if value is None:
            return ""
        if isinstance(value, decimal.Decimal):
            return float(value)
        if isinstance(value, dt.date):
            return value.isoformat()
        return value

    names = [column.name for column in schema.columns]
    records = [TableRecord(dict(zip(names, map(shown, row), strict=True))) for row in rows]
    return MV.table(records=records, schema=schema)


def status_history(previous: list[dict], today: dict) -> list[dict]:
    """The counts by as-of date of the materializations before, with `today`'s in place of any
    earlier ones for its date: newest date first, the latest `STATUS_HISTORY_DATES` dates."""
    rows = {row["as_of_date"]: row for row in previous}
    rows[today["as_of_date"]] = today
    newest_first = sorted(rows.values(), key=lambda row: row["as_of_date"], reverse=True)
    return newest_first[:STATUS_HISTORY_DATES]


def _previous_status_history(context, asset_key: AssetKey) -> list[dict]:
    event = context.instance.get_latest_materialization_event(asset_key)
    if event is None or event.asset_materialization is None:
        return []
    table = event.asset_materialization.metadata.get(STATUS_HISTORY_KEY)
    return [dict(record.data) for record in table.records] if table is not None else []


def _activity_metadata(con, history_before: list[dict] | None = None) -> dict:
    """What a person looks at after a run: counts by status, what the inactive ones are worth,
    the most valuable of them, and the counts of the as-of dates before (`history_before`)."""
    (as_of_date, active, inactive, never, inactive_revenue) = con.execute(
        """
        select
            coalesce(max(as_of_date)::varchar, ''),
            count(*) filter (where activity_status = 'active'),
            count(*) filter (where activity_status = 'inactive'),
            count(*) filter (where activity_status = 'never_purchased'),
            coalesce(sum(lifetime_net_revenue) filter (where is_inactive), 0)::double
        from reports.customer_activity_report
        """
    ).fetchone()
    # The head of the call list, from the customer report: the call list is a view, which would
    # be computed again for its first rows.
    top = con.execute(
        """
        select customer_id, lifetime_net_revenue, last_purchase_date, sales_rep, customer_name
        from reports.customer_activity_report
        where is_inactive
        order by lifetime_net_revenue desc, customer_id asc
        limit 10
        """
    ).fetchall()
    today = {
        "as_of_date": as_of_date,
        "active": active,
        "inactive": inactive,
        "never_purchased": never,
        "inactive_revenue": inactive_revenue,
    }
    history = status_history(history_before or [], today)
    names = [column.name for column in STATUS_HISTORY_SCHEMA.columns]
    return {
        "as_of_date": as_of_date,
        "customers_active": active,
        "customers_inactive": inactive,
        "customers_never_purchased": never,
        "inactive_lifetime_net_revenue": inactive_revenue,
        "top_10_inactive_customers": _table(TOP_INACTIVE_SCHEMA, top),
        STATUS_HISTORY_KEY: _table(
            STATUS_HISTORY_SCHEMA, [tuple(row[name] for name in names) for row in history]
        ),
    }


def _call_list_preview(con) -> MV:
    columns = ", ".join(CALL_LIST_PREVIEW_COLUMNS)
    rows = con.execute(
        f"select {columns} from reports.{CALL_LIST_TABLE} limit {CALL_LIST_PREVIEW_ROWS}"
    ).fetchall()
    types = {"last_purchase_date": "date", "lifetime_net_revenue": "float"}
    schema = TableSchema(
        columns=[TableColumn(name, types.get(name, "string")) for name in CALL_LIST_PREVIEW_COLUMNS]
    )
    return _table(schema, rows)


def _call_list_metadata(con, rows: int, destination: Path, as_of_date) -> dict:
    return {
        "dagster/row_count": rows,
        "as_of_date": str(as_of_date),
        "path": MV.path(str(destination)),
        f"first_{CALL_LIST_PREVIEW_ROWS}_rows": _call_list_preview(con),
    }


def _publish_win_back_call_lists(
    context, con, reports_dir: Path, as_of_date, calls: str
) -> MaterializeResult:
    folder = reports_dir / CALL_LISTS_DIR
    files = write_call_lists(con, folder, calls)
    customers = sum(rows for _, _, rows, _ in files)
    context.log.info(
        f"Published {customers} {'customer' if customers == 1 else 'customers'} to win back in "
        f"{len(files)} {'file' if len(files) == 1 else 'files'} in {folder}"
    )
    return MaterializeResult(
        asset_key=WIN_BACK_KEY,
        metadata={
            "dagster/row_count": customers,
            "as_of_date": str(as_of_date),
            "path": MV.path(str(folder)),
            "files": len(files),
            "per_sales_rep": _table(WIN_BACK_SCHEMA, files),
        },
    )


def how_published(done: Publication, destination: Path) -> str:
    """How `reports.duckdb` was published, in a reader's words (the run log and the asset say
    the same)."""
    if done.written_whole:
        return f"Written in full ({done.reason})."
    source = (
        f"the previous file ({destination.name}.previous)"
        if done.updated_file == "the previous file"
        else f"a copy of the published file ({done.reason})"
    )
    return (
        f"Updated from {source}: replaced the rows of {done.customer_rows_replaced} "
        f"customers in customer_activity_report and {done.rows_replaced} rows of "
        f"{done.customers_changed} customers in customer_item_activity_report."
    )


def _reports_database_metadata(con, done: Publication, destination: Path, as_of_date) -> dict:
    """How `reports.duckdb` was published and its tables' row counts."""
    # The customer x item report is not counted: as large as the order history, counting it
    # would cost every daily run in proportion to the history.
    (customers,) = con.execute("select count(*) from reports.customer_activity_report").fetchone()
    return {
        "as_of_date": str(as_of_date),
        "path": MV.path(str(destination)),
        "readable_by": f"DuckDB 1.4 and newer (storage version {READER_STORAGE_VERSION})",
        "how_published": MV.md(how_published(done, destination)),
        "written_in_full": done.written_whole,
        "customer_rows_replaced": done.customer_rows_replaced,
        "customer_item_rows_replaced": done.rows_replaced,
        "customer_activity_report_rows": customers,
    }


@multi_asset(
    name="published_reports",
    specs=[
        AssetSpec(
            key=CUSTOMER_PARQUET_KEY,
            deps=[AssetKey(["reports", "customer_activity_report"])],
            group_name="published",
            kinds={"parquet"},
            description=f"`reports.customer_activity_report` as `REPORTS_DIR/"
            f"{CUSTOMER_REPORT_FILE}`.",
            skippable=True,
        ),
        AssetSpec(
            key=DATABASE_KEY,
            deps=[AssetKey(view.split(".")) for view in DATABASE_REPORTS],
            group_name="published",
            kinds={"duckdb"},
            description=f"Every report ({', '.join(v.split('.')[1] for v in DATABASE_REPORTS)}) "
            f"in `REPORTS_DIR/{REPORTS_DATABASE}`, readable by DuckDB 1.4 and newer (the "
            "versions BI drivers bundle).",
            freshness_policy=REPORTS_FRESHNESS,
            skippable=True,
        ),
        AssetSpec(
            key=BACKFILL_KEY,
            deps=[
                AssetKey(["reports", table])
                for table in (*REPORT_TABLES, CALL_LIST_TABLE, "win_back_call_list")
            ],
            group_name="published",
            kinds={"parquet", "csv"},
            description=f"The reports of a past date rebuilt by a backfill, in `REPORTS_DIR/"
            f"{BACKFILL_DIR}/<as_of_date>/` (both reports as Parquet, and the call lists); "
            "materialized only by runs for a date older than the current files'. The sensor "
            "`latest_date_after_backfill` then runs the job for the current files' date again, "
            "after which this asset shows as unsynced: it holds a past date by design.",
            skippable=True,
        ),
        AssetSpec(
            key=CALL_LIST_KEY,
            deps=[AssetKey(["reports", CALL_LIST_TABLE])],
            group_name="published",
            kinds={"csv"},
            description=f"The inactive customers to call, as `REPORTS_DIR/{CALL_LIST_FILE}`.",
            skippable=True,
        ),
        AssetSpec(
            key=WIN_BACK_KEY,
            deps=[AssetKey(["reports", "win_back_call_list"])],
            group_name="published",
            kinds={"csv"},
            description=f"Each sales rep's customers to win back (at risk or inactive), in the "
            f"order to call them, as `REPORTS_DIR/{CALL_LISTS_DIR}/<rep>.csv` (customers without "
            "a rep in `unassigned.csv`).",
            skippable=True,
        ),
        AssetSpec(
            key=PAGE_KEY,
            deps=[
                AssetKey(["reports", table])
                for table in (
                    "customer_activity_report",
                    "activity_kpis_monthly",
                    "win_back_call_list",
                    "inactivity_backtest",
                )
            ],
            group_name="published",
            kinds={"html"},
            description=f"`REPORTS_DIR/{PAGE_FILE}`: the reports on one page for sales managers "
            "(customers by stage, month by month, each rep's first calls, the backtest of the "
            "inactivity flag), self-contained: it opens offline in any browser.",
            skippable=True,
        ),
    ],
    can_subset=True,
    # One step publishes everything through one connection to the warehouse.
    pool=WAREHOUSE_POOL,
)
def published_reports(context: AssetExecutionContext, warehouse: WarehouseResource):
    reports_dir = settings.reports_dir()
    selected = context.selected_asset_keys
    with warehouse.get_connection() as con:
        # A backfill: the current files hold a later date than this run's. They stay, and the
        # run's reports go beside them, under their own date.
        as_of_date, later = report_dates(con, reports_dir)
        if is_backfill(as_of_date, later):
            backfill_dir = reports_dir / BACKFILL_DIR / str(as_of_date)
            context.log.warning(
                f"Kept the reports in {reports_dir}: they are as of {later}, later than this "
                f"run's {as_of_date}, whose reports are in {backfill_dir}"
            )
            if BACKFILL_KEY in selected:
                rows = {
                    table: publish_copy(
                        con,
                        f"reports.{table}",
                        backfill_dir / f"{table}.parquet",
                        "format parquet",
                    )
                    for table in REPORT_TABLES
                }
                call_list_rows = publish_copy(
                    con,
                    f"reports.{CALL_LIST_TABLE}",
                    backfill_dir / CALL_LIST_FILE,
                    "format csv, header true",
                )
                call_lists = write_call_lists(con, backfill_dir / CALL_LISTS_DIR)
                # The metadata of the current reports, for the backfill's date.
                yield MaterializeResult(
                    asset_key=BACKFILL_KEY,
                    metadata={
                        **_activity_metadata(con),
                        "path": MV.path(str(backfill_dir)),
                        **{f"{table}_rows": count for table, count in rows.items()},
                        "inactive_customers_csv_rows": call_list_rows,
                        "win_back_call_lists_rows": sum(rows for _, _, rows, _ in call_lists),
                        f"call_list_first_{CALL_LIST_PREVIEW_ROWS}_rows": _call_list_preview(con),
                    },
                )
            return

        # The day's changes are applied to the previous reports.duckdb where it lies or, when
        # it cannot take them, to a copy of the current one, about as large as the history: that
        # copy is made in a thread while the Parquet file and the call list are written.
        with (
            ReportsDatabasePublisher(con, reports_dir / REPORTS_DATABASE)
            if DATABASE_KEY in selected
            else contextlib.nullcontext()
        ) as database:
            if CUSTOMER_PARQUET_KEY in selected:
                metadata = publish_parquet(
                    context, con, "customer_activity_report", reports_dir / CUSTOMER_REPORT_FILE
                )
                history = _previous_status_history(context, CUSTOMER_PARQUET_KEY)
                yield MaterializeResult(
                    asset_key=CUSTOMER_PARQUET_KEY,
                    metadata=metadata | _activity_metadata(con, history),
                )

            if CALL_LIST_KEY in selected:
                destination = reports_dir / CALL_LIST_FILE
                rows = publish_copy(
                    con, f"reports.{CALL_LIST_TABLE}", destination, "format csv, header true"
                )
                context.log.info(f"Published {rows} inactive customers to {destination}")
                yield MaterializeResult(
                    asset_key=CALL_LIST_KEY,
                    metadata=_call_list_metadata(con, rows, destination, as_of_date),
                )

            # The call lists and the page read the same win-back rows, computed once.
            with (
                computed_once(con)
                if WIN_BACK_KEY in selected or PAGE_KEY in selected
                else contextlib.nullcontext()
            ) as calls:
                if WIN_BACK_KEY in selected:
                    yield _publish_win_back_call_lists(context, con, reports_dir, as_of_date, calls)
                if PAGE_KEY in selected:
                    destination = reports_dir / PAGE_FILE
                    write_report_page(con, destination, calls)
                    context.log.info(f"Published the reports' page to {destination}")
                    yield MaterializeResult(
                        asset_key=PAGE_KEY,
                        metadata={
                            "as_of_date": str(as_of_date),
                            "path": MV.path(str(destination)),
                        },
                    )

            if database is not None:
                destination = reports_dir / REPORTS_DATABASE
                # On Spark every report is also published as a Parquet file, for the tools a
                # Spark user reads with; written from the warehouse's copies of Spark's reports.
                parquet_rows = (
                    {
                        report: publish_copy(
                            con, f"reports.{report}", reports_dir / f"{report}.parquet",
                            "format parquet",
                        )
                        for report in (*(v.split(".")[1] for v in DATABASE_REPORTS),
                                       CALL_LIST_TABLE)
                    }
                    if settings.dbt_target() == "spark"
                    else {}
                )  # fmt: skip
                done = database.publish(as_of_date, log=context.log)
                context.log.info(
                    f"Published {', '.join(v.split('.')[1] for v in DATABASE_REPORTS)} to "
                    f"{destination}. " + how_published(done, destination)
                )
                yield MaterializeResult(
                    asset_key=DATABASE_KEY,
                    metadata=_reports_database_metadata(con, done, destination, as_of_date)
                    | {f"{report}_parquet_rows": rows for report, rows in parquet_rows.items()},
                )


@asset(
    key=ITEM_PARQUET_KEY,
    deps=[AssetKey(["reports", "customer_item_activity_report"])],
    group_name="published",
    kinds={"parquet"},
    description=f"`reports.customer_item_activity_report` as `REPORTS_DIR/{ITEM_REPORT_FILE}`, "
    "written on demand only: it is about as large as the order history, so the daily job "
    "leaves it out (BI tools read the report in `reports.duckdb`).",
    pool=WAREHOUSE_POOL,
)
def customer_item_activity_report_parquet(
    context: AssetExecutionContext, warehouse: WarehouseResource
) -> MaterializeResult:
    reports_dir = settings.reports_dir()
    with warehouse.get_connection() as con:
        as_of_date, later = report_dates(con, reports_dir)
        if is_backfill(as_of_date, later):
            raise RuntimeError(
                f"The warehouse holds the reports as of {as_of_date} (a backfill), older than "
                f"the published ones ({later}): run the job inactive_customer_reports for "
                f"{later} or later first. The backfill's own file is in "
                f"{reports_dir / BACKFILL_DIR / str(as_of_date)}."
            )
        metadata = publish_parquet(
            context, con, "customer_item_activity_report", reports_dir / ITEM_REPORT_FILE
        )
    return MaterializeResult(metadata=metadata)
