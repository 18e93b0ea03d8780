"""Daily builds are right, on random sequences of days: after every day, the reports of the
warehouse built day by day equal those of a warehouse built from scratch on the same extracts,
and both equal the reports of the baseline script (benchmarks/baseline.sql), which computes them
from the extract files with DuckDB alone and shares no code with the pipeline.

Hypothesis writes the days of a small business (four customers in the master and one found only
in orders, three items in the master and one not): new orders of every type, orders re-sent
with other lines (and at times another customer), files dated earlier than the last one, an
orders file changed under its name, new customer and item master files, order lines dated after
the as-of date, backfills (a run for a date before the latest), and a business setting
changed between builds (which order types count as purchases). Each day runs the real
pipeline (every asset, as the daily schedule asks) on one persistent warehouse, and again on a
fresh one. Only the public interface is read: extract files in, report tables out.

Profiles: the default runs a few short sequences, the same ones every time (derandomized; a
few minutes, in `make test`); `HYPOTHESIS_PROFILE=nightly` runs many longer ones, new every
night. Failures are not shrunk (each attempt would cost a whole sequence of runs): the failure
lists every day's extract files and as-of date instead.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import os
import shutil
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, Phase, example, given, note, settings
from hypothesis import strategies as st

from tests.conftest import bench_module, business_settings_changed, run_pipeline

NIGHTLY = os.environ.get("HYPOTHESIS_PROFILE") == "nightly"
settings.register_profile(
    "daily_builds",
    max_examples=6,
    derandomize=True,
    deadline=None,
    database=None,
    # A sequence costs two pipeline runs a day: shrinking a failure would take many more.
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=(HealthCheck.function_scoped_fixture, HealthCheck.too_slow),
)
# New sequences every night; a failure prints the blob that replays it (@reproduce_failure).
settings.register_profile(
    "nightly",
    parent=settings.get_profile("daily_builds"),
    max_examples=40,
    derandomize=False,
    print_blob=True,
)
PROFILE = settings.get_profile("nightly" if NIGHTLY else "daily_builds")
DAYS_PER_SEQUENCE = 10 if NIGHTLY else 5

# tmp_path is one folder for every sequence Hypothesis tries: each gets a folder of its own.
SEQUENCE_NUMBERS = itertools.count(1)
REPORTS = (
    "customer_activity_report",
    "customer_item_activity_report",
    "customer_status_changes",
    "activity_kpis_monthly",
    "inactivity_backtest",
)
SHIPPED_PURCHASE_ORDER_TYPES = ("invoice", "sales_receipt")
FIRST_DAY = dt.date(2024, 3, 1)
MASTER_CUSTOMERS = ("C1", "C2", "C3", "C4")
ORDERS_ONLY_CUSTOMER = "C5"
MASTER_ITEMS = ("I1", "I2", "I3")
ORDERS_ONLY_ITEM = "I4"
BILLING_CYCLES = ("weekly", "monthly", "quarterly", "annual", "")
# Invoices come up more often than the other types, as they do in a business.
ORDER_TYPES = ("invoice", "invoice", "invoice", "sales_receipt", "credit_memo", "refund", "void")
# Days between a line's date and its file's: the thresholds' and the revenue window's edges, and
# (negative) lines dated after the file, so after the as-of date of the day it arrives.
LINE_AGES = (0, 0, 1, 2, 6, 27, 29, 89, 91, 179, 181, 363, 364, 365, 366, 399, 401, -1, -4)
ORDERS_HEADER = (
    "order_id",
    "order_date",
    "customer_id",
    "item_id",
    "line_number",
    "quantity",
    "amount",
    "order_type",
)


# --- What Hypothesis draws ---------------------------------------------------------------------


@dataclass(frozen=True)
class Order:
    customer_id: str
    order_type: str
    age: int  # days before its file's date
    # (item, quantity, amount in cents, its own age or None for the order's)
    lines: tuple[tuple[str, int, int, int | None], ...]


@dataclass(frozen=True)
class OrdersFile:
    """A new orders extract: new orders, and earlier orders sent again (by their rank among the
    orders sent so far) with the lines given. `days_late`: dated that many days before the
    latest file."""

    new_orders: tuple[Order, ...]
    resent: tuple[tuple[int, Order], ...]
    days_late: int


@dataclass(frozen=True)
class OrdersFileChanged:
    """An orders file written again under its name (by its rank among the orders files): some of
    its orders kept with other lines, and new ones."""

    file_rank: int
    kept_orders: tuple[Order, ...]
    new_orders: tuple[Order, ...]


@dataclass(frozen=True)
class CustomersFile:
    # (customer, name version, billing cycle, sales rep)
    rows: tuple[tuple[str, int, str, str], ...]


@dataclass(frozen=True)
class ItemsFile:
    # (item, name version, category)
    rows: tuple[tuple[str, int, str], ...]


@dataclass(frozen=True)
class Day:
    """One day: the extracts that arrive, then the run. A daily run is for `days_later` days
    after the latest date (0: that date again); a backfill for a date before it (`backfill`
    thousandths of the way from the first date)."""

    extracts: tuple[OrdersFile | OrdersFileChanged | CustomersFile | ItemsFile, ...]
    days_later: int
    backfill: int | None
    # A business setting changed for the day's runs (dbt_project.yml, as a user edits it): only
    # invoices count as purchases, not sales receipts. The next day without it changes it back.
    invoices_only: bool = False


def _amount(order_type: str, cents: int) -> int:
    """Credits carry negative amounts, voids none; invoices may hold a negative correction."""
    if order_type in ("credit_memo", "refund"):
        return -abs(cents)
    return 0 if order_type == "void" else cents


line_strategy = st.tuples(
    st.sampled_from((*MASTER_ITEMS, ORDERS_ONLY_ITEM)),
    st.integers(-1, 5),
    st.integers(-2_000, 90_000),
    st.one_of(st.none(), st.none(), st.sampled_from(LINE_AGES)),
)
order_strategy = st.builds(
    Order,
    customer_id=st.sampled_from((*MASTER_CUSTOMERS, ORDERS_ONLY_CUSTOMER)),
    order_type=st.sampled_from(ORDER_TYPES),
    age=st.sampled_from(LINE_AGES),
    lines=st.lists(line_strategy, min_size=1, max_size=3).map(tuple),
)
orders_file_strategy = st.builds(
    OrdersFile,
    new_orders=st.lists(order_strategy, max_size=3).map(tuple),
    resent=st.lists(st.tuples(st.integers(0, 1_000), order_strategy), max_size=2).map(tuple),
    days_late=st.sampled_from((0, 0, 0, 2, 9)),
)
orders_file_changed_strategy = st.builds(
    OrdersFileChanged,
    file_rank=st.integers(0, 1_000),
    kept_orders=st.lists(order_strategy, max_size=2).map(tuple),
    new_orders=st.lists(order_strategy, max_size=2).map(tuple),
)
customers_file_strategy = st.builds(
    CustomersFile,
    rows=st.lists(
        st.tuples(
            st.sampled_from((*MASTER_CUSTOMERS, "C6")),
            st.integers(1, 3),
            st.sampled_from(BILLING_CYCLES),
            st.sampled_from(("Ana", "Ben", "")),
        ),
        min_size=1,
        max_size=3,
        unique_by=lambda row: row[0],
    ).map(tuple),
)
items_file_strategy = st.builds(
    ItemsFile,
    rows=st.lists(
        st.tuples(
            st.sampled_from((*MASTER_ITEMS, ORDERS_ONLY_ITEM)),
            st.integers(1, 3),
            st.sampled_from(("Hardware", "Consumables")),
        ),
        min_size=1,
        max_size=2,
        unique_by=lambda row: row[0],
    ).map(tuple),
)
day_strategy = st.builds(
    Day,
    extracts=st.lists(
        st.one_of(
            orders_file_strategy,
            orders_file_strategy,
            orders_file_changed_strategy,
            customers_file_strategy,
            items_file_strategy,
        ),
        max_size=3,
    ).map(tuple),
    # At most 90 days a day: the dates stay before today, after which orders are quarantined.
    days_later=st.sampled_from((0, 1, 1, 3, 7, 30, 90)),
    backfill=st.one_of(st.none(), st.none(), st.none(), st.integers(0, 999)),
    invoices_only=st.sampled_from((False, False, False, False, True)),
)


FIRST_ORDER = Order("C1", "invoice", age=10, lines=(("I1", 2, 4_000, None),))


# --- The business's extract folder --------------------------------------------------------------


@dataclass
class Extracts:
    """The extract folder of the business, written as its systems would."""

    raw_dir: Path
    latest_date: dt.date = FIRST_DAY
    next_order: int = 1
    sent_orders: list[str] = field(default_factory=list)
    # Each orders file: its name, date and the ids of its orders.
    orders_files: list[tuple[str, dt.date, list[str]]] = field(default_factory=list)

    def __post_init__(self):
        for folder in ("orders", "customers", "items"):
            (self.raw_dir / folder).mkdir(parents=True)
        self.write_customers(
            CustomersFile(tuple((c, 0, "monthly", "Ana") for c in MASTER_CUSTOMERS))
        )
        self.write_items(ItemsFile(tuple((i, 0, "Hardware") for i in MASTER_ITEMS)))
        # The pipeline needs an orders extract to start from (so does the baseline).
        self.write_orders(OrdersFile((FIRST_ORDER,), resent=(), days_late=0))

    def file_name(self, entity: str, day: dt.date) -> Path:
        """`<entity>_<date>.csv`, or with a suffix when that name is taken: a second extract of
        the day, which sorts after the first."""
        path, suffix = self.raw_dir / entity / f"{entity}_{day}.csv", 2
        while path.exists():
            path = self.raw_dir / entity / f"{entity}_{day}_{suffix}.csv"
            suffix += 1
        return path

    def write(self, path: Path, header: tuple[str, ...], rows: list[tuple]) -> None:
        with path.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(header)
            writer.writerows(rows)
        note(f"{path.relative_to(self.raw_dir)}:\n{path.read_text()}")

    def order_rows(self, order_id: str, order: Order, file_date: dt.date) -> list[tuple]:
        return [
            (
                order_id,
                file_date - dt.timedelta(days=order.age if age is None else age),
                order.customer_id,
                item_id,
                line_number,
                quantity,
                Decimal(_amount(order.order_type, cents)) / 100,
                order.order_type,
            )
            for line_number, (item_id, quantity, cents, age) in enumerate(order.lines, start=1)
        ]

    def new_order_id(self) -> str:
        order_id = f"O{self.next_order:03d}"
        self.next_order += 1
        self.sent_orders.append(order_id)
        return order_id

    def write_orders(self, extract: OrdersFile) -> None:
        file_date = self.latest_date - dt.timedelta(days=extract.days_late)
        versions = {}  # one version of an order per file
        for rank, order in extract.resent:
            if self.sent_orders:
                versions[self.sent_orders[rank % len(self.sent_orders)]] = order
        for order in extract.new_orders:
            versions[self.new_order_id()] = order
        if not versions:
            return
        path = self.file_name("orders", file_date)
        rows = [row for i, o in versions.items() for row in self.order_rows(i, o, file_date)]
        self.write(path, ORDERS_HEADER, rows)
        self.orders_files.append((path.name, file_date, list(versions)))

    def change_orders_file(self, extract: OrdersFileChanged) -> None:
        if not self.orders_files:
            return
        rank = extract.file_rank % len(self.orders_files)
        name, file_date, order_ids = self.orders_files[rank]
        versions = dict(zip(order_ids, extract.kept_orders, strict=False))
        for order in extract.new_orders:
            versions[self.new_order_id()] = order
        if not versions:
            return
        path = self.raw_dir / "orders" / name
        before = path.stat().st_mtime_ns
        rows = [row for i, o in versions.items() for row in self.order_rows(i, o, file_date)]
        self.write(path, ORDERS_HEADER, rows)
        # The ledger notices a change by size and time first: a rewrite within the same clock
        # tick must not pass for the same file.
        os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))
        self.orders_files[rank] = (name, file_date, list(versions))

    def write_customers(self, extract: CustomersFile) -> None:
        header = ("customer_id", "customer_name", "email", "sales_rep", "segment", "billing_cycle")
        rows = [
            (c, f"{c} name {v}", f"{c.lower()}.{v}@example.com", rep, "SMB", cycle)
            for c, v, cycle, rep in extract.rows
        ]
        self.write(self.file_name("customers", self.latest_date), header, rows)

    def write_items(self, extract: ItemsFile) -> None:
        rows = [(i, f"{i} name {v}", category) for i, v, category in extract.rows]
        self.write(
            self.file_name("items", self.latest_date), ("item_id", "item_name", "category"), rows
        )

    def arrive(self, extract) -> None:
        {
            OrdersFile: self.write_orders,
            OrdersFileChanged: self.change_orders_file,
            CustomersFile: self.write_customers,
            ItemsFile: self.write_items,
        }[type(extract)](extract)


# --- The reports -------------------------------------------------------------------------------


def report_rows(database: Path, schema: str = "reports", reports=REPORTS) -> dict[str, list[tuple]]:
    with duckdb.connect(str(database), read_only=True) as con:
        prefix = f"{schema}." if schema else ""
        return {
            table: con.execute(f"select * from {prefix}{table} order by all").fetchall()
            for table in reports
        }


@PROFILE
@example(
    # A backfill to a date before a customer extract: the customer's earlier master data counts.
    days=[
        Day(extracts=(), days_later=30, backfill=None),
        Day(extracts=(CustomersFile((("C3", 2, "annual", "Ben"),)),), days_later=3, backfill=None),
        Day(extracts=(), days_later=0, backfill=500),
    ]
)
@example(
    # A business setting changed for a day and back: C2's sales receipt is no purchase on the
    # first day, and one again on the next, though no file of the next day names it.
    days=[
        Day(
            extracts=(
                OrdersFile(
                    (Order("C2", "sales_receipt", age=3, lines=(("I2", 1, 5_000, None),)),),
                    resent=(),
                    days_late=0,
                ),
            ),
            days_later=1,
            backfill=None,
            invoices_only=True,
        ),
        Day(extracts=(), days_later=1, backfill=None),
    ]
)
@given(st.lists(day_strategy, min_size=1, max_size=DAYS_PER_SEQUENCE))
def test_daily_builds_equal_builds_from_scratch_and_the_baseline(dbt_manifest, tmp_path, days):
    bench = bench_module()
    work = Path(tmp_path) / f"sequence_{next(SEQUENCE_NUMBERS)}"
    extracts = Extracts(work / "raw")
    daily_warehouse, daily_reports = work / "daily.duckdb", work / "daily_reports"

    for number, day in enumerate(days, start=1):
        # The day's extracts are dated that day (a backfill's: the latest date), the late ones
        # earlier.
        if day.backfill is None:
            extracts.latest_date += dt.timedelta(days=day.days_later)
            as_of_date = extracts.latest_date
        else:
            span = (extracts.latest_date - FIRST_DAY).days
            as_of_date = FIRST_DAY + dt.timedelta(days=span * day.backfill // 1000)
        where = (
            f"day {number}, as of {as_of_date}{'' if day.backfill is None else ' (backfill)'}"
            f"{', invoices only count as purchases' if day.invoices_only else ''}"
        )
        note(where)
        for extract in day.extracts:
            extracts.arrive(extract)

        scratch_dir = work / f"scratch_{number}"
        scratch_dir.mkdir()
        purchase_order_types = ("invoice",) if day.invoices_only else SHIPPED_PURCHASE_ORDER_TYPES
        with business_settings_changed(SHIPPED_PURCHASE_ORDER_TYPES, purchase_order_types):
            daily = run_pipeline(extracts.raw_dir, daily_warehouse, daily_reports, as_of_date)
            scratch = run_pipeline(
                extracts.raw_dir,
                scratch_dir / "warehouse.duckdb",
                scratch_dir / "reports",
                as_of_date,
            )
        baseline = scratch_dir / "baseline.duckdb"
        bench.run_baseline(
            extracts.raw_dir, baseline, as_of_date, "", purchase_order_types=purchase_order_types
        )

        daily_rows = report_rows(daily.warehouse)
        assert daily_rows == report_rows(scratch.warehouse), where
        assert bench.differences(daily.warehouse, baseline) == dict.fromkeys(REPORTS, 0), where
        assert bench.differences(scratch.warehouse, baseline) == dict.fromkeys(REPORTS, 0), where
        if day.backfill is None:
            # The published copy follows the latest date; a backfill's goes elsewhere.
            assert report_rows(daily_reports / "reports.duckdb", schema="") == daily_rows, where
        shutil.rmtree(scratch_dir)
