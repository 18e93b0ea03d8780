"""The daily build recomputes only what new extract files touch, and gives exactly the reports a
build from scratch gives; a changed file or a backfill makes it rebuild everything.

The incremental models keep earlier builds' rows (see dbt_project/macros/incremental.sql); the
Dagster step decides how each build goes (dagster_project/build_plan.py), and every model's
materialization says it (`dbt_build`). The published `reports.duckdb` follows: a daily run
applies the day's changes to the previous file, and its reports equal those of a file written
from scratch.
"""

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from dagster_project.build_state import STORAGE_LAYOUT
from tests.conftest import business_settings_changed, run_pipeline

REPORTS = (
    "reports.customer_activity_report",
    "reports.customer_item_activity_report",
    "reports.inactive_customer_call_list",
    "reports.customer_status_changes",
    "reports.activity_kpis_monthly",
    "reports.win_back_call_list",
    "reports.inactivity_backtest",
    "intermediate.int_order_lines_current",
    "intermediate.int_orders",
    "intermediate.int_customer_item_history",
    "intermediate.int_customer_usual_items",
    "intermediate.int_customer_purchase_history",
    "intermediate.int_customer_activity",
    "intermediate.int_customer_purchase_dates",
    "intermediate.int_customer_status_changes",
    "intermediate.int_customer_backtest_changes",
)
PUBLISHED = (
    "customer_activity_report",
    "customer_item_activity_report",
    "win_back_call_list",
    "inactivity_backtest",
    "customer_status_changes",
)
# Seen-everything state: the first build reads the files up to 2024-06-24, whose orders are all
# dated on or before it (orders_2024-06-30.csv holds an order dated 2024-07-05: left out here).
FIRST_DAY = dt.date(2024, 6, 24)
NEXT_DAY = dt.date(2024, 6, 27)
# The next day's extract: a re-sent order with other lines (R-001, C11), an order moved to
# another customer (A-003, from C03 to C04), a new order of a known customer and one of a new
# customer.
NEXT_DAY_ORDERS = """order_id,order_date,customer_id,item_id,line_number,quantity,amount,order_type
R-001,2024-05-30,C11,I3,1,4,44.00,invoice
A-003,2024-05-06,C04,I3,1,5,25.00,invoice
N-001,2024-06-26,C03,I1,1,2,20.00,invoice
N-002,2024-06-27,C99,I2,1,1,70.00,sales_receipt
"""


@pytest.fixture
def first_day_raw(hand_built_raw_dir, tmp_path) -> Path:
    raw = tmp_path / "raw"
    shutil.copytree(hand_built_raw_dir, raw)
    (raw / "orders" / "orders_2024-06-30.csv").unlink()
    return raw


# Numbers that differ by construction between a daily build and one from scratch: the number
# given to each order stored (checked apart, below).
NUMBERS = ("order_number",)
INCREMENTAL_MODELS = (
    "int_order_lines_current",
    "int_orders",
    "int_customer_purchase_history",
    "int_customer_activity",
    "int_customer_item_history",
    "int_customer_usual_items",
)


def table_rows(warehouse: Path) -> dict[str, list]:
    """Each table's rows, its columns in name order (a column added to a table built earlier
    comes last), but for NUMBERS. The order lines' order numbers must identify their orders,
    one number per order and one order per number."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert order_numbering(con) == (True, True)
        rows = {}
        for table in REPORTS:
            columns = sorted(
                c[0] for c in con.execute(f"describe {table}").fetchall() if c[0] not in NUMBERS
            )
            rows[table] = con.execute(
                f"select {', '.join(columns)} from {table} order by all"
            ).fetchall()
        return rows


def order_numbering(con) -> tuple[bool, bool]:
    """Whether every order of int_order_lines_current has one number, and every number one order."""
    return con.execute(
        """
        select
            count(distinct order_number) filter (where order_number is not null)
                = count(distinct (order_id, order_number)),
            count(distinct order_id) = count(distinct (order_id, order_number))
        from intermediate.int_order_lines_current
        """
    ).fetchone()


def order_numbers(warehouse: Path) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return dict(
            con.execute(
                "select distinct order_id, order_number from intermediate.int_order_lines_current"
            ).fetchall()
        )


def published_rows(reports_dir: Path) -> dict[str, list]:
    with duckdb.connect(str(reports_dir / "reports.duckdb"), read_only=True) as con:
        return {t: con.execute(f"select * from {t} order by all").fetchall() for t in PUBLISHED}


def publication(reports_dir: Path, name: str = "reports.duckdb") -> tuple:
    """The history build the published file holds, and its rows replaced since written whole."""
    with duckdb.connect(str(reports_dir / name), read_only=True) as con:
        return con.execute(
            "select history_build_id, rows_replaced_since_written_whole "
            "from intermediate.reports_publication"
        ).fetchone()


def how_built(run) -> str:
    """How the run's dbt build went, as every model's materialization says it."""
    ways = {run.metadata(f"intermediate/{model}")["dbt_build"] for model in INCREMENTAL_MODELS}
    assert len(ways) == 1  # the models agree
    return ways.pop()


def was_incremental(run) -> bool:
    return how_built(run).startswith("incremental: ")


def recomputed_customers(warehouse: Path) -> list[tuple]:
    """The customers the last build recomputed (their ids where the warehouse still has them),
    and whether their customer x item history and their status history changed."""
    return warehouse_rows(
        warehouse,
        """
        select
            coalesce(activity.customer_id, '?'),
            recomputed.item_history_changed,
            recomputed.status_history_changed
        from build_state.recomputed_customers as recomputed
        left join intermediate.int_customer_activity as activity using (customer_key)
        where recomputed.build_number = (select max(build_number) from build_state.builds)
        order by all
        """,
    )


def test_a_daily_build_recomputes_only_the_new_files_orders_and_equals_a_full_build(
    dbt_manifest, first_day_raw, tmp_path
):
    warehouse = tmp_path / "warehouse.duckdb"
    first = run_pipeline(first_day_raw, warehouse, tmp_path / "r1", FIRST_DAY)
    assert first.result.success
    assert not was_incremental(first)

    first_build, _ = publication(tmp_path / "r1")
    first_numbers = order_numbers(warehouse)

    (first_day_raw / "orders" / "orders_2024-06-27.csv").write_text(NEXT_DAY_ORDERS)
    daily = run_pipeline(first_day_raw, warehouse, tmp_path / "r1", NEXT_DAY)
    assert daily.result.success
    assert was_incremental(daily)

    scratch = tmp_path / "scratch.duckdb"
    assert run_pipeline(first_day_raw, scratch, tmp_path / "r3", NEXT_DAY).result.success
    assert table_rows(warehouse) == table_rows(scratch)
    # The day's orders, the re-sent and the moved ones among them, took numbers after the first
    # build's; the other orders kept theirs.
    daily_numbers = order_numbers(warehouse)
    days_orders = {"R-001", "A-003", "N-001", "N-002"}
    assert min(daily_numbers[order] for order in days_orders) > max(first_numbers.values())
    assert {o: n for o, n in daily_numbers.items() if o not in days_orders} == {
        o: n for o, n in first_numbers.items() if o not in days_orders
    }
    # The published file was updated, not written again: the rows of the customers the day
    # touched, C03, C04, C11 and C99, were replaced (5 rows before, 7 after: C03 gains I1, C04
    # gains I3 with A-003, C11's re-sent order lists I3 instead of I1 and I2, C99 is new).
    daily_build, replaced = publication(tmp_path / "r1")
    assert daily_build != first_build
    assert replaced == 7
    # And the rows of those four customers in the customer table, nobody else's. The first run
    # left no previous file: the changes went to a copy of the current one, which is now the
    # previous file.
    published = daily.metadata("published/reports_database")
    assert published["customer_rows_replaced"] == 4
    assert published["how_published"].startswith("Updated from a copy of the published file (")
    assert publication(tmp_path / "r1", "reports.duckdb.previous")[0] == first_build
    # The build recomputed those customers alone, and says why.
    assert recomputed_customers(warehouse) == [
        ("C03", True, True),
        ("C04", True, True),
        ("C11", True, True),
        ("C99", True, True),
    ]
    assert how_built(daily) == ("incremental: new files since the build as of 2024-06-24: 1 orders")
    assert published_rows(tmp_path / "r1") == published_rows(tmp_path / "r3")

    # The moved order left C03 and joined C04; the re-sent one replaced its lines.
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(
            """
            select customer_id, item_id, purchase_count, total_quantity::varchar
            from reports.customer_item_activity_report
            where customer_id in ('C03', 'C11', 'C99') order by all
            """
        ).fetchall() == [
            ("C03", "I1", 1, "2.0000"),
            ("C03", "I3", 1, "5.0000"),
            ("C11", "I3", 1, "4.0000"),
            ("C99", "I2", 1, "1.0000"),
        ]

    # The next day, the previous file, the first build's, takes the changes of both builds since.
    # A day later, 7 of the 13 rows of both files were replaced since they were written whole:
    # past half, so the run writes the file whole again rather than let deleted rows' space add
    # up.
    (first_day_raw / "orders" / "orders_2024-06-28.csv").write_text(
        "order_id,order_date,customer_id,item_id,line_number,quantity,amount\n"
        "N-003,2024-06-28,C99,I2,1,1,70.00\n"
    )
    later_day = NEXT_DAY + dt.timedelta(days=1)
    later = run_pipeline(first_day_raw, warehouse, tmp_path / "r1", later_day)
    assert later.result.success
    assert later.metadata("published/reports_database")["how_published"].startswith(
        "Updated from the previous file (reports.duckdb.previous): replaced the rows of 4 "
    )
    assert publication(tmp_path / "r1")[1] == 7
    latest = run_pipeline(first_day_raw, warehouse, tmp_path / "r1", later_day)
    assert latest.result.success
    assert latest.metadata("published/reports_database")["how_published"] == (
        "Written in full (the current file: over half its rows were replaced since it was "
        "written whole)."
    )
    assert publication(tmp_path / "r1")[1] == 0
    scratch_later = tmp_path / "scratch_later.duckdb"
    assert run_pipeline(first_day_raw, scratch_later, tmp_path / "r4", later_day).result.success
    assert published_rows(tmp_path / "r1") == published_rows(tmp_path / "r4")


def revenue_last_365_days(warehouse: Path, customer_id: str) -> str:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select revenue_last_365_days::varchar from reports.customer_activity_report "
            "where customer_id = ?",
            [customer_id],
        ).fetchone()[0]


def test_a_daily_build_drops_the_orders_that_left_the_revenue_window(
    dbt_manifest, first_day_raw, tmp_path
):
    """No new file, a later date: the revenue over the trailing 365 days still moves. C04's
    order A-005 of 2023-07-01 (100.00) leaves the window on 2024-06-30; A-006 of 2023-07-02
    (200.00) stays in it. C04's purchase dates, and so its status history, stay as they were."""
    # Nor a customer master dated in the days between, which would recompute its customers.
    (first_day_raw / "customers" / "customers_2024-06-30.csv").unlink()
    warehouse = tmp_path / "warehouse.duckdb"
    assert run_pipeline(first_day_raw, warehouse, tmp_path / "r1", FIRST_DAY).result.success
    before = revenue_last_365_days(warehouse, "C04")
    # As a warehouse kept before status histories were told apart in the build's record.
    with duckdb.connect(str(warehouse)) as con:
        con.execute("alter table build_state.recomputed_customers drop status_history_changed")

    later_day = dt.date(2024, 6, 30)
    daily = run_pipeline(first_day_raw, warehouse, tmp_path / "r1", later_day)
    assert daily.result.success
    assert was_incremental(daily)
    assert (before, revenue_last_365_days(warehouse, "C04")) == ("575.00", "475.00")
    assert recomputed_customers(warehouse) == [("C04", False, False)]

    scratch = tmp_path / "scratch.duckdb"
    assert run_pipeline(first_day_raw, scratch, tmp_path / "r2", later_day).result.success
    assert table_rows(warehouse) == table_rows(scratch)
    assert published_rows(tmp_path / "r1") == published_rows(tmp_path / "r2")


def warehouse_rows(warehouse: Path, sql: str) -> list[tuple]:
    """The rows a query of the warehouse returns, read-only."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def customer_master(warehouse: Path, *customer_ids: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select customer_id, customer_name, billing_cycle, activity_status "
            "from reports.customer_activity_report where list_contains(?, customer_id) "
            "order by all",
            [list(customer_ids)],
        ).fetchall()


def test_a_daily_build_takes_up_new_customer_master_rows(dbt_manifest, first_day_raw, tmp_path):
    """A new customer extract recomputes the customers it lists, and only them; one changed
    under its name recomputes every customer (it may have dropped some). Both equal a build
    from scratch."""
    warehouse = tmp_path / "warehouse.duckdb"
    assert run_pipeline(first_day_raw, warehouse, tmp_path / "r1", FIRST_DAY).result.success
    assert customer_master(warehouse, "C03", "C98") == [
        ("C03", None, None, "active")  # the master that counts on FIRST_DAY lists only C01
    ]

    # C03 joins the master on a weekly cycle (its last purchase, on 2024-05-20, is then too
    # old), and C98, who never ordered, joins it too.
    new_file = first_day_raw / "customers" / "customers_2024-06-27.csv"
    new_file.write_text(
        "customer_id,customer_name,billing_cycle\nC03,Now Weekly,weekly\nC98,New In Master,weekly\n"
    )
    daily = run_pipeline(first_day_raw, warehouse, tmp_path / "r1", NEXT_DAY)
    assert daily.result.success
    assert was_incremental(daily)
    assert customer_master(warehouse, "C03", "C98") == [
        ("C03", "Now Weekly", "weekly", "inactive"),
        ("C98", "New In Master", "weekly", "never_purchased"),
    ]
    assert recomputed_customers(warehouse) == [("C03", False, True), ("C98", False, True)]
    scratch = tmp_path / "scratch.duckdb"
    assert run_pipeline(first_day_raw, scratch, tmp_path / "r2", NEXT_DAY).result.success
    assert table_rows(warehouse) == table_rows(scratch)
    assert published_rows(tmp_path / "r1") == published_rows(tmp_path / "r2")

    # The same file sent again without C98: the order history stays incremental, and every
    # customer is recomputed (C98, gone from every source, among them).
    every_customer = warehouse_rows(
        warehouse, "select customer_id from intermediate.int_customer_activity order by all"
    )
    new_file.write_text("customer_id,customer_name,billing_cycle\nC03,Now Weekly,weekly\n")
    again = run_pipeline(first_day_raw, warehouse, tmp_path / "r1", NEXT_DAY)
    assert again.result.success
    assert how_built(again) == (
        "incremental: new files since the build as of 2024-06-27: none; changed under their "
        "names: customers"
    )
    assert {(c,) for c, _, _ in recomputed_customers(warehouse)} | {("C98",)} >= set(every_customer)
    assert warehouse_rows(
        warehouse,
        "select count(*) from build_state.recomputed_customers "
        "where customer_key = hash('C98') "
        "and build_number = (select max(build_number) from build_state.builds)",
    ) == [(1,)]
    assert customer_master(warehouse, "C98") == []
    scratch_again = tmp_path / "scratch_again.duckdb"
    assert run_pipeline(first_day_raw, scratch_again, tmp_path / "r3", NEXT_DAY).result.success
    assert table_rows(warehouse) == table_rows(scratch_again)
    assert published_rows(tmp_path / "r1") == published_rows(tmp_path / "r3")


def test_the_published_item_names_follow_the_item_master(dbt_manifest, first_day_raw, tmp_path):
    """reports.duckdb keeps its copy of the item master while the item master is unchanged, and
    takes up a new item extract on the next run; so do the call list's usual items, which a
    daily build names again for the customers who bought an item of the new extract only."""
    warehouse, reports_dir = tmp_path / "warehouse.duckdb", tmp_path / "r1"
    assert run_pipeline(first_day_raw, warehouse, reports_dir, FIRST_DAY).result.success

    def usual_items() -> list[tuple]:
        return warehouse_rows(
            warehouse,
            "select customer_id, items_they_used_to_buy "
            "from intermediate.int_customer_usual_items order by all",
        )

    before = usual_items()
    assert [c for c, items in before if "Refill" in items.split("; ")] == ["C03", "C12"]

    def item_names(con) -> list[tuple]:
        return con.execute(
            "select distinct item_id, item_name from customer_item_activity_report order by all"
        ).fetchall()

    # I3 renamed by an extract of the next day, then a day without item extracts.
    (first_day_raw / "items" / "items_2024-06-25.csv").write_text(
        "item_id,item_name,category\nI3,Refill Pack,Consumables\n"
    )
    for as_of_date in (FIRST_DAY + dt.timedelta(days=1), FIRST_DAY + dt.timedelta(days=2)):
        run = run_pipeline(first_day_raw, warehouse, reports_dir, as_of_date)
        assert run.result.success
        how = run.metadata("published/reports_database")["how_published"]
        assert how.startswith("Updated from ")
        with duckdb.connect(str(reports_dir / "reports.duckdb"), read_only=True) as con:
            assert item_names(con) == [("I1", "Widget"), ("I2", "Gadget"), ("I3", "Refill Pack")]
        with duckdb.connect(str(warehouse), read_only=True) as con:
            con.execute("use reports")
            assert item_names(con) == [("I1", "Widget"), ("I2", "Gadget"), ("I3", "Refill Pack")]
        assert usual_items() == [
            (c, "; ".join("Refill Pack" if i == "Refill" else i for i in items.split("; ")))
            for c, items in before
        ]
        assert was_incremental(run)
    scratch = tmp_path / "scratch.duckdb"
    assert run_pipeline(first_day_raw, scratch, tmp_path / "r2", as_of_date).result.success
    assert table_rows(warehouse) == table_rows(scratch)


def assert_the_next_day_is_rebuilt_whole(first_day_raw: Path, warehouse: Path, tmp_path: Path):
    """The next day's run on `warehouse` recomputes everything, and gives the tables of a build
    from scratch."""
    (first_day_raw / "orders" / "orders_2024-06-27.csv").write_text(NEXT_DAY_ORDERS)
    daily = run_pipeline(first_day_raw, warehouse, tmp_path / "r1", NEXT_DAY)
    assert daily.result.success
    assert not was_incremental(daily)

    scratch = tmp_path / "scratch.duckdb"
    assert run_pipeline(first_day_raw, scratch, tmp_path / "r2", NEXT_DAY).result.success
    assert table_rows(warehouse) == table_rows(scratch)


def test_a_warehouse_an_earlier_version_built_is_rebuilt_whole(
    dbt_manifest, first_day_raw, tmp_path
):
    """An earlier version kept its record of the builds in dbt models, and the customer x item
    history as a view over two tables; its published file held those. The next build recomputes
    everything, drops what that version kept, and writes the published file whole."""
    warehouse = tmp_path / "warehouse.duckdb"
    assert run_pipeline(first_day_raw, warehouse, tmp_path / "r1", FIRST_DAY).result.success
    for database in (warehouse, tmp_path / "r1" / "reports.duckdb"):
        with duckdb.connect(str(database)) as con:
            con.execute("drop schema if exists build_state cascade")
            con.execute(
                "alter table intermediate.int_customer_item_history "
                "rename to int_customer_item_history_base"
            )
            con.execute(
                "create table intermediate.int_customer_item_history_recent as "
                "select * from intermediate.int_customer_item_history_base where false"
            )
            con.execute(
                "create view intermediate.int_customer_item_history as "
                "select * from intermediate.int_customer_item_history_base"
            )
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create table intermediate.int_extract_files_built (entity varchar)")

    assert_the_next_day_is_rebuilt_whole(first_day_raw, warehouse, tmp_path)
    assert warehouse_rows(
        warehouse,
        "select table_name, table_type from information_schema.tables "
        "where table_schema = 'intermediate' and table_name like 'int_customer_item_history%' "
        "or table_name = 'int_extract_files_built'",
    ) == [("int_customer_item_history", "BASE TABLE")]
    assert published_rows(tmp_path / "r1") == published_rows(tmp_path / "r2")


def test_a_warehouse_built_with_another_storage_layout_is_rebuilt_whole(
    dbt_manifest, first_day_raw, tmp_path
):
    """The stored tables' layout is part of the settings a build records: a warehouse built with
    another one (here, order lines stored without their order numbers) is rebuilt whole, so
    that every line has its order's number."""
    warehouse = tmp_path / "warehouse.duckdb"
    assert run_pipeline(first_day_raw, warehouse, tmp_path / "r1", FIRST_DAY).result.success
    with duckdb.connect(str(warehouse)) as con:
        con.execute("alter table intermediate.int_order_lines_current drop column order_number")
        layout, earlier = (
            f'"storage_layout": {STORAGE_LAYOUT}',
            f'"storage_layout": {STORAGE_LAYOUT - 1}',
        )
        (changed,) = con.execute(
            "update build_state.builds set settings = replace(settings, ?, ?) "
            "where contains(settings, ?)",
            [layout, earlier, layout],
        ).fetchone()
        assert changed == 1

    assert_the_next_day_is_rebuilt_whole(first_day_raw, warehouse, tmp_path)
    assert warehouse_rows(
        warehouse,
        "select count(*) from intermediate.int_order_lines_current where order_number is null",
    ) == [(0,)]


def test_changed_business_settings_rebuild_everything(dbt_manifest, first_day_raw, tmp_path):
    """A build with other business settings (the dbt vars) than the previous build's recomputes
    every stored row. Here the first build counted invoices alone as purchases; the next counts
    sales receipts too, among them C03's A-004 of an earlier file, which a daily build of the
    new files alone would leave as it was."""
    warehouse = tmp_path / "warehouse.duckdb"
    with business_settings_changed(("invoice", "sales_receipt"), ("invoice",)):
        assert run_pipeline(first_day_raw, warehouse, tmp_path / "r0", FIRST_DAY).result.success
    query = "select is_purchase from intermediate.int_orders where order_id = 'A-004'"
    assert warehouse_rows(warehouse, query) == [(False,)]

    assert_the_next_day_is_rebuilt_whole(first_day_raw, warehouse, tmp_path)
    assert warehouse_rows(warehouse, query) == [(True,)]


def test_a_build_on_another_duckdb_version_rebuilds_everything(
    dbt_manifest, first_day_raw, tmp_path, monkeypatch
):
    """The customers' keys are DuckDB's hash of their ids, which a new DuckDB version may
    compute otherwise: the first build after an upgrade recomputes every stored row."""
    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.setattr(duckdb, "__version__", "0.0.1")
    assert run_pipeline(first_day_raw, warehouse, tmp_path / "r0", FIRST_DAY).result.success
    monkeypatch.undo()

    assert_the_next_day_is_rebuilt_whole(first_day_raw, warehouse, tmp_path)


def test_a_file_changed_under_its_name_rebuilds_everything(dbt_manifest, first_day_raw, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    assert run_pipeline(first_day_raw, warehouse, tmp_path / "r1", FIRST_DAY).result.success
    # The first extract sent again, without order A-010 (C07's only purchase).
    first_file = first_day_raw / "orders" / "orders_2024-05-31.csv"
    first_file.write_text(
        "".join(line for line in first_file.open() if not line.startswith("A-010,"))
    )

    again = run_pipeline(first_day_raw, warehouse, tmp_path / "r2", FIRST_DAY)
    assert again.result.success
    assert not was_incremental(again)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(
            "select count(*) from intermediate.int_orders where order_id = 'A-010'"
        ).fetchone() == (0,)
    scratch = tmp_path / "scratch.duckdb"
    assert run_pipeline(first_day_raw, scratch, tmp_path / "r3", FIRST_DAY).result.success
    assert table_rows(warehouse) == table_rows(scratch)


def test_a_daily_build_after_a_backfill_equals_a_full_build(dbt_manifest, first_day_raw, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    assert run_pipeline(first_day_raw, warehouse, tmp_path / "r1", FIRST_DAY).result.success
    # A backfill for a date before the Parquet extract, then the next daily run.
    backfill = run_pipeline(first_day_raw, warehouse, tmp_path / "r1", dt.date(2024, 6, 1))
    assert backfill.result.success
    assert not was_incremental(backfill)
    (first_day_raw / "orders" / "orders_2024-06-27.csv").write_text(NEXT_DAY_ORDERS)
    daily = run_pipeline(first_day_raw, warehouse, tmp_path / "r1", NEXT_DAY)
    assert daily.result.success
    # The state the backfill left is not the daily one: everything is built again, and the
    # published file is written whole.
    assert not was_incremental(daily)
    assert publication(tmp_path / "r1")[1] == 0

    scratch = tmp_path / "scratch.duckdb"
    assert run_pipeline(first_day_raw, scratch, tmp_path / "r3", NEXT_DAY).result.success
    assert table_rows(warehouse) == table_rows(scratch)
    assert published_rows(tmp_path / "r1") == published_rows(tmp_path / "r3")


# The next day's extract with an order whose lines name two customers.
NEXT_DAY_ORDERS_WITH_AN_ORDER_OF_TWO_CUSTOMERS = (
    NEXT_DAY_ORDERS
    + "X-001,2024-06-26,C03,I1,1,1,10.00,invoice\nX-001,2024-06-26,C04,I2,2,1,10.00,invoice\n"
)


def quarantined_orders(warehouse: Path) -> list[tuple]:
    return warehouse_rows(
        warehouse,
        "select source_file, source_line, rule, message from raw.rejected_rows "
        "where entity = 'orders' order by all",
    )


def assert_the_order_of_two_customers_is_quarantined(warehouse: Path) -> None:
    message = (
        "order X-001 names 2 customers in orders_2024-06-27.csv: C03, C04 (every line of an "
        "order must name one customer; all its lines are quarantined)"
    )
    assert quarantined_orders(warehouse) == [
        ("orders_2024-06-27.csv", line, "order_names_two_customers", message) for line in (6, 7)
    ]
    assert warehouse_rows(
        warehouse,
        "select source_file, rows_read, rows_loaded, rows_quarantined from raw.load_ledger "
        "where source_file = 'orders_2024-06-27.csv'",
    ) == [("orders_2024-06-27.csv", 6, 4, 2)]


def build_without_the_order_of_two_customers(first_day_raw: Path, tmp_path: Path) -> Path:
    """A warehouse built from scratch on the same extracts but for the order's lines."""
    raw = tmp_path / "raw_without_the_order"
    shutil.copytree(first_day_raw, raw)
    (raw / "orders" / "orders_2024-06-27.csv").write_text(NEXT_DAY_ORDERS)
    scratch = tmp_path / "scratch.duckdb"
    assert run_pipeline(raw, scratch, tmp_path / "r_scratch", NEXT_DAY).result.success
    return scratch


def test_an_order_whose_lines_name_two_customers_is_quarantined_and_the_rest_built(
    dbt_manifest, first_day_raw, tmp_path
):
    """The order's lines go to quarantine, named by order, file and customers; the rest of the
    file gives the reports it would give without them. Deleting the file changes nothing: its
    rows, loaded or quarantined, stay."""
    warehouse = tmp_path / "warehouse.duckdb"
    assert run_pipeline(first_day_raw, warehouse, tmp_path / "r1", FIRST_DAY).result.success
    new_file = first_day_raw / "orders" / "orders_2024-06-27.csv"
    new_file.write_text(NEXT_DAY_ORDERS_WITH_AN_ORDER_OF_TWO_CUSTOMERS)
    daily = run_pipeline(first_day_raw, warehouse, tmp_path / "r1", NEXT_DAY)
    assert daily.result.success
    assert was_incremental(daily)
    assert_the_order_of_two_customers_is_quarantined(warehouse)
    scratch = build_without_the_order_of_two_customers(first_day_raw, tmp_path)
    assert table_rows(warehouse) == table_rows(scratch)
    assert published_rows(tmp_path / "r1") == published_rows(tmp_path / "r_scratch")

    new_file.unlink()
    again = run_pipeline(first_day_raw, warehouse, tmp_path / "r1", NEXT_DAY)
    assert again.result.success
    assert again.metadata("raw/orders")["files_missing"] == ["orders_2024-06-27.csv"]
    assert_the_order_of_two_customers_is_quarantined(warehouse)
    assert table_rows(warehouse) == table_rows(scratch)
    assert published_rows(tmp_path / "r1") == published_rows(tmp_path / "r_scratch")


def test_a_warehouse_that_stored_an_order_of_two_customers_is_taken_up(
    dbt_manifest, first_day_raw, tmp_path, monkeypatch
):
    """An earlier version loaded the order's lines, and its build stopped on them every day
    after (keeping the lines it had stored). The next run quarantines them, once, as a load
    does now, even with the file deleted, and gives the reports of a build from scratch."""
    from dagster_dbt import DagsterDbtCliRuntimeError

    from dagster_project import extracts

    warehouse = tmp_path / "warehouse.duckdb"
    assert run_pipeline(first_day_raw, warehouse, tmp_path / "r1", FIRST_DAY).result.success
    new_file = first_day_raw / "orders" / "orders_2024-06-27.csv"
    new_file.write_text(NEXT_DAY_ORDERS_WITH_AN_ORDER_OF_TWO_CUSTOMERS)
    with monkeypatch.context() as earlier_version:
        earlier_version.setattr(
            extracts,
            "_lines_of_orders_naming_two_customers_sql",
            lambda *_: (
                "select null::bigint as _line, null::varchar[] as _customers_of_order where false"
            ),
        )
        earlier_version.setattr(
            extracts, "_quarantine_loaded_orders_naming_two_customers", lambda *_: 0
        )
        with pytest.raises(DagsterDbtCliRuntimeError) as failure:
            run_pipeline(first_day_raw, warehouse, tmp_path / "r1", NEXT_DAY)
    assert "order X-001 names two customers on its lines: C03 and C04" in str(failure.value)
    # That version kept no record of its builds where this one does.
    with duckdb.connect(str(warehouse)) as con:
        con.execute("drop table raw.rules_checked")
        con.execute("drop schema build_state cascade")
    new_file.unlink()

    taken_up = run_pipeline(first_day_raw, warehouse, tmp_path / "r1", NEXT_DAY)
    assert taken_up.result.success
    assert not was_incremental(taken_up)
    assert_the_order_of_two_customers_is_quarantined(warehouse)
    new_file.write_text(NEXT_DAY_ORDERS_WITH_AN_ORDER_OF_TWO_CUSTOMERS)
    scratch = build_without_the_order_of_two_customers(first_day_raw, tmp_path)
    assert table_rows(warehouse) == table_rows(scratch)
    assert published_rows(tmp_path / "r1") == published_rows(tmp_path / "r_scratch")


def test_two_customers_sharing_a_key_stop_the_daily_build(dbt_manifest, first_day_raw, tmp_path):
    """The daily builds select customers' rows by key: two ids with one key (here forced, as MD5
    would hardly ever give it) would mix their rows, so the key's uniqueness test stops the
    build, and the published reports stay as they were."""
    from dagster_dbt import DagsterDbtCliRuntimeError

    warehouse = tmp_path / "warehouse.duckdb"
    assert run_pipeline(first_day_raw, warehouse, tmp_path / "r", FIRST_DAY).result.success
    with duckdb.connect(str(warehouse)) as con:
        assert con.execute(
            "update intermediate.int_customer_activity set customer_key = ("
            "    select customer_key from intermediate.int_customer_activity"
            "    where customer_id = 'C01'"
            ") where customer_id = 'C02'"
        ).fetchone() == (1,)
    before = published_rows(tmp_path / "r")

    (first_day_raw / "orders" / "orders_2024-06-27.csv").write_text(NEXT_DAY_ORDERS)
    with pytest.raises(DagsterDbtCliRuntimeError) as failure:
        run_pipeline(first_day_raw, warehouse, tmp_path / "r", NEXT_DAY)
    assert "unique_int_customer_activity_customer_key" in str(failure.value)
    assert published_rows(tmp_path / "r") == before


def test_a_build_of_some_models_leaves_the_new_files_to_the_next_build_of_all(
    dbt_manifest, first_day_raw, tmp_path
):
    """A person materializes the raw assets and int_orders alone (a subset of the dbt step, in
    the Dagster UI): the new file is not recorded as absorbed, so the next daily run reads its
    orders in every model and gives the reports of a build from scratch."""
    from dagster import AssetKey, AssetSelection

    warehouse = tmp_path / "warehouse.duckdb"
    assert run_pipeline(first_day_raw, warehouse, tmp_path / "r1", FIRST_DAY).result.success

    def files_absorbed() -> list[tuple]:
        return warehouse_rows(
            warehouse, "select entity, source_file from build_state.absorbed_files order by all"
        )

    absorbed = files_absorbed()
    (first_day_raw / "orders" / "orders_2024-06-27.csv").write_text(NEXT_DAY_ORDERS)
    subset = AssetSelection.groups("raw") | AssetSelection.assets(
        AssetKey(["intermediate", "int_orders"])
    )
    partial = run_pipeline(first_day_raw, warehouse, tmp_path / "r1", NEXT_DAY, selection=subset)
    assert partial.result.success
    assert files_absorbed() == absorbed

    daily = run_pipeline(first_day_raw, warehouse, tmp_path / "r1", NEXT_DAY)
    assert daily.result.success
    assert was_incremental(daily)
    assert ("orders", "orders_2024-06-27.csv") in files_absorbed()
    scratch = tmp_path / "scratch.duckdb"
    assert run_pipeline(first_day_raw, scratch, tmp_path / "r2", NEXT_DAY).result.success
    assert table_rows(warehouse) == table_rows(scratch)
    assert published_rows(tmp_path / "r1") == published_rows(tmp_path / "r2")


def test_a_full_build_that_did_not_finish_makes_the_next_build_full(
    dbt_manifest, first_day_raw, tmp_path
):
    """A backfill of some models alone rebuilds them from scratch as of its date: the next
    build of every model must be full too, or those models would keep the backfill's rows."""
    from dagster import AssetKey, AssetSelection

    warehouse = tmp_path / "warehouse.duckdb"
    assert run_pipeline(first_day_raw, warehouse, tmp_path / "r1", FIRST_DAY).result.success
    subset = AssetSelection.groups("raw") | AssetSelection.assets(
        AssetKey(["intermediate", "int_orders"])
    )
    backfill = run_pipeline(
        first_day_raw, warehouse, tmp_path / "r1", dt.date(2024, 6, 1), selection=subset
    )
    assert backfill.result.success
    assert_the_next_day_is_rebuilt_whole(first_day_raw, warehouse, tmp_path)


def test_the_ids_a_daily_build_reads_scattered_are_stored_uncompressed(hand_built_run):
    """A daily build reads its customers' order lines and customer x item rows wherever they lie
    in those tables, and DuckDB decodes a compressed text block whole for one row of it: their
    ids are stored uncompressed (the models' contracts). Undeclared, DuckDB compresses even the
    fixture's few ids (the order lines' customer ids)."""
    assert hand_built_run.query(
        """
        select table_name, column_name, list(distinct compression order by compression)
        from (
            select 'int_order_lines_current' as table_name, *
            from pragma_storage_info('intermediate.int_order_lines_current')
            union all by name
            select 'int_customer_item_history' as table_name, *
            from pragma_storage_info('intermediate.int_customer_item_history')
        )
        where column_name in ('order_id', 'customer_id', 'item_id') and segment_type = 'VARCHAR'
        group by all
        order by all
        """
    ) == [
        ("int_customer_item_history", "customer_id", ["Uncompressed"]),
        ("int_customer_item_history", "item_id", ["Uncompressed"]),
        ("int_order_lines_current", "customer_id", ["DICT_FSST"]),
        ("int_order_lines_current", "item_id", ["Uncompressed"]),
        ("int_order_lines_current", "order_id", ["Uncompressed"]),
    ]
