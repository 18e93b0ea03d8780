"""What the dbt builds need to know about each other, kept by the Dagster step in the warehouse's
schema `build_state`, outside the dbt project and the asset graph.

- `build_state.builds`: one row per dbt build the step started: its as-of date, full or not and
  why (build_plan.py), the settings it applied, and when it finished (empty for a build that
  failed, or that built only some of the incremental models);
- `build_state.absorbed_files`: the extract files (and their content hashes) that the last
  finished build absorbed;
- `build_state.recomputed_customers`: the customers each incremental build recomputed, for the
  published copy (reports_database.py), which applies only those changes to its last copy.

Before an incremental build, the step writes the keys it recomputes, one table per set
(`KEY_SETS`); each incremental model names its set (dbt_project/macros/incremental.sql). The
tables exist only while the build runs.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path

import duckdb
import yaml

from dagster_project import settings
from dagster_project.build_plan import BuildPlan, ExtractFile, PreviousBuild, plan_build

SCHEMA = "build_state"
BUILDS = f"{SCHEMA}.builds"
ABSORBED_FILES = f"{SCHEMA}.absorbed_files"
RECOMPUTED_CUSTOMERS = f"{SCHEMA}.recomputed_customers"
# The changes of this many builds are kept for the published copy; an older copy is written whole.
BUILDS_OF_CHANGES_KEPT = 60
# Raised when the stored tables change in a way every row must follow: a warehouse built with
# another layout is rebuilt whole once. 4: the incremental models and their keys kept by this
# module (earlier layouts kept them in dbt models). 5: each customer's purchase dates and
# changes of status. 6: the purchase date before each change, and the backtest's changes. 7: each
# item's purchase dates and usual days between them.
STORAGE_LAYOUT = 7
# The tables and views that earlier layouts kept in dbt models, dropped when a warehouse is
# taken up.
OBSOLETE_RELATIONS = (
    "intermediate.int_extract_files_built",
    "intermediate.int_order_files_built",
    "intermediate.int_orders_to_recompute",
    "intermediate.int_customers_to_recompute",
    "intermediate.int_customer_item_history_base",
    "intermediate.int_customer_item_history_recent",
    "intermediate.int_customer_item_history_recomputed",
    "intermediate.int_customer_item_history_changes",
    "intermediate.int_customer_top_items",
)
# A customer's key, as the dbt macro customer_key computes it.
CUSTOMER_KEY_SQL = "hash(customer_id)"
DBT_PROJECT_FILE = Path(__file__).resolve().parent.parent / "dbt_project" / "dbt_project.yml"

# The sets of keys an incremental build recomputes, in the order they are written (a set may
# read those before it). `new_files` is the temporary table of the files new since the previous
# build; `{first_load}` when the first of them was loaded; `{window_edge}` the orders dated in
# the days the trailing revenue window left or entered between the previous build's as-of date
# and this one's; `{every_customer}` and `{every_item}` whether a master file changed under its
# name.
KEY_SETS = {
    # Orders with lines in the new orders files. New files' rows are the last loaded: a constant
    # filter on the load time lets DuckDB skip the blocks of older loads without reading them.
    "orders_in_new_files": """
        select distinct order_id from raw.orders
        where
            _loaded_at >= {first_load}
            and _source_file in (select source_file from new_files where entity = 'orders')
    """,
    # Every customer that any version of those orders names (an order may move to another).
    "customers_of_new_orders": f"""
        select distinct customer_id, {CUSTOMER_KEY_SQL} as customer_key from raw.orders
        where order_id in (select order_id from {SCHEMA}.orders_in_new_files)
    """,
    # Those, and the customers of master rows that count now and did not at the previous build
    # (every customer, when a customer file changed under its name): a customer's status history
    # follows from their purchase dates and their billing cycle alone.
    "customers_with_changed_status_history": f"""
        select customer_id, customer_key from {SCHEMA}.customers_of_new_orders
        union
        select distinct customer_id, {CUSTOMER_KEY_SQL} from raw.customers
        where
            {{every_customer}}
            or _source_file in (select source_file from new_files where entity = 'customers')
        union
        select customer_id, customer_key from intermediate.int_customer_activity
        where {{every_customer}}
    """,
    # Those of the new orders, and the customers whose revenue over the trailing window moved
    # with the date (their purchase dates and status history did not).
    "customers_with_changed_recent_revenue": f"""
        select customer_id, customer_key from {SCHEMA}.customers_of_new_orders
        union
        select customer_id, customer_key from intermediate.int_customer_purchase_history
        where customer_key in (
            select customer_key from intermediate.int_order_lines_current
            where {{window_edge}}
        )
    """,
    # Every customer whose row in the customer report may read otherwise.
    "customers_to_recompute": f"""
        select customer_id, customer_key from {SCHEMA}.customers_with_changed_status_history
        union
        select customer_id, customer_key from {SCHEMA}.customers_with_changed_recent_revenue
    """,
    # The customers whose usual items may read otherwise: those of the new orders, and those who
    # bought an item of a new item master file (every one, when an item file changed).
    "customers_with_changed_usual_items": f"""
        select customer_id, customer_key from {SCHEMA}.customers_of_new_orders
        union
        select distinct customer_id, customer_key from intermediate.int_customer_item_history
        where
            purchase_count > 0
            and (
                {{every_item}}
                or item_id in (
                    select item_id from raw.items
                    where _source_file in (
                        select source_file from new_files where entity = 'items'
                    )
                )
            )
    """,
}


def business_settings() -> str:
    """The settings the stored rows are computed with: the dbt project's vars (but the as-of
    date) and the storage layout, as text. A build with other settings than the previous one's
    is full."""
    project = yaml.safe_load(DBT_PROJECT_FILE.read_text())
    variables = {k: v for k, v in (project.get("vars") or {}).items() if k != "as_of_date"}
    # The engine too: tables another engine built are not this one's to update; and DuckDB's
    # version, whose hash function makes the customers' keys (macro customer_key).
    return json.dumps(
        {
            "vars": variables,
            "storage_layout": STORAGE_LAYOUT,
            "engine": settings.dbt_target(),
            "duckdb": duckdb.__version__,
        },
        sort_keys=True,
    )


def _exists(con, relation: str) -> bool:
    schema, name = relation.split(".")
    return (
        con.execute(
            "select count(*) from duckdb_tables() where schema_name = ? and table_name = ? "
            "and database_name = current_database()",
            [schema, name],
        ).fetchone()[0]
        > 0
    )


def _ensure_tables(con) -> None:
    con.execute(f"create schema if not exists {SCHEMA}")
    con.execute(
        f"""
        create table if not exists {BUILDS} (
            build_number integer primary key,
            build_id varchar not null,
            as_of_date date not null,
            full_refresh boolean not null,
            reason varchar not null,
            settings varchar not null,
            sees_every_order boolean not null,
            started_at timestamp with time zone not null,
            finished_at timestamp with time zone
        )
        """
    )
    con.execute(
        f"""
        create table if not exists {ABSORBED_FILES} (
            entity varchar not null,
            source_file varchar not null,
            content_sha256 varchar not null
        )
        """
    )
    con.execute(
        f"""
        create table if not exists {RECOMPUTED_CUSTOMERS} (
            build_number integer not null,
            customer_key ubigint not null,
            item_history_changed boolean not null,
            status_history_changed boolean not null
        )
        """
    )
    # Kept by warehouses built before status histories were told apart: their recorded
    # customers count as changed, which publishing then copies again (correct, if more).
    con.execute(
        f"alter table {RECOMPUTED_CUSTOMERS} "
        "add column if not exists status_history_changed boolean default true"
    )


def ledger_files(con) -> list[ExtractFile]:
    return [
        ExtractFile(*row)
        for row in con.execute(
            "select entity, source_file, content_sha256 from raw.load_ledger order by all"
        ).fetchall()
    ]


def previous_build(con) -> PreviousBuild | None:
    """The last finished build, or None: none on record, or a full build started since did not
    finish (failed, or built only some models: the stored tables may hold its rows in part)."""
    if not _exists(con, BUILDS):
        return None
    last = con.execute(
        f"""
        select as_of_date, settings, sees_every_order, build_number from {BUILDS}
        where finished_at is not null order by build_number desc limit 1
        """
    ).fetchone()
    if last is None:
        return None
    (unfinished_full,) = con.execute(
        f"select count(*) from {BUILDS} where build_number > ? and full_refresh", [last[3]]
    ).fetchone()
    if unfinished_full:
        return None
    absorbed = {
        (entity, name): sha
        for entity, name, sha in con.execute(
            f"select entity, source_file, content_sha256 from {ABSORBED_FILES}"
        ).fetchall()
    }
    return PreviousBuild(
        as_of_date=last[0], settings=last[1], saw_every_order=last[2], absorbed=absorbed
    )


def plan(con, as_of_date: dt.date) -> BuildPlan:
    """The plan of the build as of `as_of_date`, from the warehouse's ledger and build record."""
    (latest_order_date,) = con.execute("select max(order_date) from raw.orders").fetchone()
    return plan_build(
        ledger_files(con),
        previous_build(con),
        as_of_date,
        business_settings(),
        latest_order_date,
        settings.dbt_target(),
    )


def start_build(con, build_plan: BuildPlan, build_id: str) -> int:
    """Records the build as started and, for an incremental one, writes the keys it recomputes.
    Returns its number."""
    _ensure_tables(con)
    if build_plan.full:
        for relation in OBSOLETE_RELATIONS:
            con.execute(f"drop table if exists {relation}")
            con.execute(f"drop view if exists {relation}")
    (build_number,) = con.execute(
        f"select coalesce(max(build_number), 0) + 1 from {BUILDS}"
    ).fetchone()
    con.execute(
        f"insert into {BUILDS} values (?, ?, ?, ?, ?, ?, ?, now(), null)",
        [
            build_number,
            build_id,
            build_plan.as_of_date,
            build_plan.full,
            build_plan.reason,
            business_settings(),
            build_plan.sees_every_order,
        ],
    )
    drop_keys(con)
    if not build_plan.full:
        _write_keys(con, build_plan)
    return build_number


def _write_keys(con, build_plan: BuildPlan) -> None:
    window = int(yaml.safe_load(DBT_PROJECT_FILE.read_text())["vars"]["recent_revenue_window_days"])
    dates = sorted([build_plan.previous_as_of_date, build_plan.as_of_date])
    window_edge = (
        f"order_date > date '{dates[0]}' - {window} and order_date <= date '{dates[1]}' - {window}"
    )
    con.execute("create or replace temporary table new_files (entity varchar, source_file varchar)")
    rows = [(e, f) for e, names in build_plan.new_files.items() for f in names]
    if rows:
        con.executemany("insert into new_files values (?, ?)", rows)
    (first_load,) = con.execute(
        "select coalesce(min(loaded_at), now())::varchar from raw.load_ledger "
        "where (entity, source_file) in (select (entity, source_file) from new_files)"
    ).fetchone()
    values = {
        "first_load": f"timestamptz '{first_load}'",
        "window_edge": window_edge,
        "every_customer": str("customers" in build_plan.changed_masters),
        "every_item": str("items" in build_plan.changed_masters),
    }
    for name, query in KEY_SETS.items():
        con.execute(f"create table {SCHEMA}.{name} as {query.format(**values)}")
    con.execute("drop table new_files")


def drop_keys(con) -> None:
    for name in KEY_SETS:
        con.execute(f"drop table if exists {SCHEMA}.{name}")


def finish_build(con, build_plan: BuildPlan, build_number: int, files: Iterable[ExtractFile]):
    """Records the build as finished: the files it absorbed and, for an incremental build, the
    customers it recomputed (from its keys, which are then dropped)."""
    con.execute("begin")
    try:
        con.execute(
            f"update {BUILDS} set finished_at = now() where build_number = ?", [build_number]
        )
        con.execute(f"delete from {ABSORBED_FILES}")
        absorbed = [
            (f.entity, f.source_file, f.content_sha256) for f in build_plan.files_to_absorb(files)
        ]
        if absorbed:
            con.executemany(f"insert into {ABSORBED_FILES} values (?, ?, ?)", absorbed)
        if not build_plan.full:
            con.execute(
                f"""
                insert into {RECOMPUTED_CUSTOMERS}
                select ?, customer_key,
                       customer_key in (select customer_key from {SCHEMA}.customers_of_new_orders),
                       customer_key in (
                           select customer_key from {SCHEMA}.customers_with_changed_status_history
                       )
                from (
                    select customer_key from {SCHEMA}.customers_to_recompute
                    union
                    select customer_key from {SCHEMA}.customers_with_changed_usual_items
                )
                """,
                [build_number],
            )
        con.execute(
            f"delete from {RECOMPUTED_CUSTOMERS} where build_number <= ?",
            [build_number - BUILDS_OF_CHANGES_KEPT],
        )
        drop_keys(con)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
