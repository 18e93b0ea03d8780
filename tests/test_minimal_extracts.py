"""The smallest extract folders a new user starts with: orders alone, a master without the other,
customers who never ordered, an empty item master, masters dated after the as-of date; and the
largest amounts the contract allows. Each must publish every output, and `reports.duckdb` must
open in the DuckDB of BI drivers."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from tests.conftest import run_pipeline
from tests.test_published_reports import assert_bi_tools_read_the_reports

AS_OF = dt.date(2024, 6, 30)

ORDERS = """order_id,order_date,customer_id,item_id,quantity,amount
O1,2024-06-01,C1,I1,1,10.00
O2,2023-01-01,C2,I2,2,20.00
"""
NO_ORDERS = "order_id,order_date,customer_id,item_id,quantity,amount\n"
CUSTOMERS = """customer_id,customer_name,billing_cycle
C1,Alpha,monthly
C2,Beta,
C3,Gamma,
"""
ITEMS = """item_id,item_name,category
I1,Widget,Hardware
I2,Gadget,Hardware
"""
NO_ITEMS = "item_id,item_name,category\n"

# (file, content) per case; the orders file is the same in every case unless given.
CASES = {
    "orders_only": {},
    "orders_and_customers": {"customers/customers_2024-06-01.csv": CUSTOMERS},
    "orders_and_items": {"items/items_2024-06-01.csv": ITEMS},
    "customers_without_orders": {
        "orders/orders_2024-06-01.csv": NO_ORDERS,
        "customers/customers_2024-06-01.csv": CUSTOMERS,
    },
    "empty_item_master": {"items/items_2024-06-01.csv": NO_ITEMS},
    "masters_dated_after_the_as_of_date": {
        "customers/customers_2024-07-01.csv": CUSTOMERS,
        "items/items_2024-07-01.csv": ITEMS,
    },
}

ORDERS_CUSTOMERS = [("C1", None, "active"), ("C2", None, "inactive")]
ORDERS_ITEMS = [("C1", "I1", None), ("C2", "I2", None)]
# Per case: (customer, name, status) of the customer report; (customer, item, item name) of the
# customer x item report.
EXPECTED = {
    "orders_only": (ORDERS_CUSTOMERS, ORDERS_ITEMS),
    "orders_and_customers": (
        [("C1", "Alpha", "active"), ("C2", "Beta", "inactive"), ("C3", "Gamma", "never_purchased")],
        ORDERS_ITEMS,
    ),
    "orders_and_items": (ORDERS_CUSTOMERS, [("C1", "I1", "Widget"), ("C2", "I2", "Gadget")]),
    "customers_without_orders": (
        [
            ("C1", "Alpha", "never_purchased"),
            ("C2", "Beta", "never_purchased"),
            ("C3", "Gamma", "never_purchased"),
        ],
        [],
    ),
    "empty_item_master": (ORDERS_CUSTOMERS, ORDERS_ITEMS),
    "masters_dated_after_the_as_of_date": (ORDERS_CUSTOMERS, ORDERS_ITEMS),
}


def write_extracts(raw_dir: Path, files: dict[str, str]) -> None:
    for name, content in {"orders/orders_2024-06-01.csv": ORDERS, **files}.items():
        path = raw_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


@pytest.mark.parametrize("case", CASES)
def test_minimal_extracts_publish_every_report(case, dbt_manifest, tmp_path):
    write_extracts(tmp_path / "raw", CASES[case])
    run = run_pipeline(tmp_path / "raw", tmp_path / "warehouse.duckdb", tmp_path / "reports", AS_OF)

    assert run.result.success
    assert sorted(path.name for path in run.reports_dir.iterdir()) == [
        "call_lists",
        "customer_activity_report.parquet",
        "inactive_customers.csv",
        "index.html",
        "reports.duckdb",
    ]
    customers, customer_items = EXPECTED[case]
    assert (
        run.query(
            "select customer_id, customer_name, activity_status "
            "from reports.customer_activity_report order by customer_id"
        )
        == customers
    )
    assert (
        run.query(
            "select customer_id, item_id, item_name "
            "from reports.customer_item_activity_report order by customer_id, item_id"
        )
        == customer_items
    )
    assert_bi_tools_read_the_reports(run)


def test_an_orders_only_folder_builds_into_folders_not_made_yet(dbt_manifest, tmp_path):
    """A first run whose warehouse and published files are named in folders that do not exist
    yet (a new machine's WAREHOUSE_PATH and REPORTS_DIR): both are made."""
    write_extracts(tmp_path / "raw", {})
    warehouse = tmp_path / "new" / "warehouse" / "warehouse.duckdb"
    run = run_pipeline(tmp_path / "raw", warehouse, tmp_path / "new" / "reports", AS_OF)

    assert run.result.success
    assert warehouse.is_file()
    assert (run.reports_dir / "reports.duckdb").is_file()
    assert run.query(
        "select customer_id, activity_status from reports.customer_activity_report "
        "order by customer_id"
    ) == [("C1", "active"), ("C2", "inactive")]


# The largest amount and quantity a line may hold (DECIMAL(18, 4)), twice for one customer.
LARGEST_LINES = """order_id,order_date,customer_id,item_id,quantity,amount
O1,2024-01-01,BIG,I1,99999999999999.9999,99999999999999.9999
O2,2024-01-02,BIG,I1,99999999999999.9999,99999999999999.9999
O3,2024-06-01,C1,I1,1,10.00
"""


def test_sums_of_the_largest_lines_do_not_overflow(dbt_manifest, tmp_path):
    write_extracts(tmp_path / "raw", {"orders/orders_2024-06-01.csv": LARGEST_LINES})
    run = run_pipeline(tmp_path / "raw", tmp_path / "warehouse.duckdb", tmp_path / "reports", AS_OF)

    assert run.result.success
    total = Decimal("199999999999999.9998")
    in_cents = Decimal("200000000000000.00")
    customer_revenue = (
        "select customer_id, lifetime_net_revenue, revenue_last_365_days, activity_status "
        "from {} order by customer_id"
    )
    expected_customers = [
        ("BIG", in_cents, in_cents, "inactive"),
        ("C1", Decimal("10.00"), Decimal("10.00"), "active"),
    ]
    assert run.query(customer_revenue.format("reports.customer_activity_report")) == (
        expected_customers
    )
    parquet = run.reports_dir / "customer_activity_report.parquet"
    assert (
        duckdb.sql(customer_revenue.format(f"read_parquet('{parquet}')")).fetchall()
        == expected_customers
    )
    assert run.query(
        "select customer_id, item_id, total_quantity, net_revenue "
        "from reports.customer_item_activity_report order by customer_id"
    ) == [("BIG", "I1", total, in_cents), ("C1", "I1", Decimal("1.0000"), Decimal("10.00"))]
    call_list = (run.reports_dir / "inactive_customers.csv").read_text().splitlines()
    assert call_list[1:] == [
        "2024-06-30,BIG,,,,,,2024-01-02,180,2024-04-02,200000000000000.00,200000000000000.00,I1"
    ]
    assert_bi_tools_read_the_reports(run)
