"""Writes deterministic sample extracts: the small sample shipped in `data/raw/`, or large sets.

    python -m dagster_project.sample_data --out data/raw                      # the shipped sample
    python -m dagster_project.sample_data --out /tmp/big --customers 200000 \\
        --orders 4000000 --format parquet                                       # a benchmark set

Everything is computed in DuckDB from hashes of (seed, row number), so the same arguments give
the same files on any machine with the same DuckDB, and tens of millions of lines take seconds.

What the data holds, so that every rule of the reports has something to act on:
- customers on each billing cycle (and some with none), three sales reps, three segments;
  a few customers appear only in orders, a few in the master have never ordered;
- each customer buys at the pace of their billing cycle during an active period; about a third
  stop buying at some point, and some of those come back after a pause;
- order lines of one to four items; invoices mostly, some sales receipts, credit memos and
  refunds (negative amounts), voids and zero-value orders;
- one orders file per quarter, named by its extract date (`orders_2026-09-30.csv`); some orders
  are re-sent, corrected, in the next quarter's file (a line dropped or a quantity changed);
- an older customer master extract whose rows a newer one overrides.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import duckdb

# The shipped sample's extract date. `make run` reports the sample as of this date by default,
# so that it shows the same mix of active, inactive and never-purchased customers on any day.
SAMPLE_END_DATE = dt.date(2026, 11, 20)
SAMPLE_CUSTOMERS = 150
SAMPLE_ORDERS = 3000
SAMPLE_SEED = 42
HISTORY_DAYS = 3 * 365


def _setup_sql(
    seed: int, customers: int, orders: int, end_date: dt.date, items: int | None = None
) -> str:
    start_date = end_date - dt.timedelta(days=HISTORY_DAYS)
    return f"""
    -- A uniform number in [0, 1) from the seed, a row number and a tag.
    create or replace macro rnd(n, tag) as (hash({seed}, n, tag) % 1000003) / 1000003.0;
    create or replace macro pick(n, tag, choices) as
        choices[1 + floor(rnd(n, tag) * len(choices))::integer];

    create or replace table customers as
    with base as (
        select
            i,
            printf('C%05d', i) as customer_id,
            rnd(i, 'cycle') as r_cycle,
            rnd(i, 'start') as r_start,
            rnd(i, 'churn') as r_churn,
            rnd(i, 'return') as r_return
        from range(1, {customers} + 1) as t(i)
    )
    select
        i,
        customer_id,
        pick(i, 'first', ['Acme', 'Blue', 'Cedar', 'Delta', 'Evergreen', 'Falcon', 'Granite',
                          'Harbor', 'Iris', 'Juniper', 'Keystone', 'Lumen', 'Maple', 'Nova'])
            || ' ' ||
        pick(i, 'second', ['Bakery', 'Builders', 'Clinic', 'Coffee', 'Dental', 'Florist',
                           'Garage', 'Hardware', 'Hotel', 'Market', 'Pharmacy', 'Studio'])
            || ' ' || i as customer_name,
        'orders@' || lower(customer_id) || '.example.com' as email,
        pick(i, 'rep', ['Ana Lima', 'Ben Okafor', 'Chen Wei']) as sales_rep,
        pick(i, 'segment', ['SMB', 'SMB', 'Mid-Market', 'Enterprise']) as segment,
        case
            when r_cycle < 0.20 then 'weekly'
            when r_cycle < 0.60 then 'monthly'
            when r_cycle < 0.80 then 'quarterly'
            when r_cycle < 0.90 then 'annual'
        end as billing_cycle,
        -- Orders per active year, by billing cycle; customers without a cycle buy every ~2 months.
        case
            when r_cycle < 0.20 then 40
            when r_cycle < 0.60 then 12
            when r_cycle < 0.80 then 5
            when r_cycle < 0.90 then 2
            else 6
        end as orders_per_year,
        -- Active from a start day; a third stop at some point, and half of those come back.
        date '{start_date}' + floor(r_start * {HISTORY_DAYS} * 0.6)::integer as active_from,
        case when r_churn < 0.33
            then date '{start_date}' + floor(
                ({HISTORY_DAYS} * 0.6 + 30) + r_churn / 0.33 * {HISTORY_DAYS} * 0.35
            )::integer
        end as stopped_on,
        case when r_churn < 0.33 and r_return < 0.5
            then date '{end_date}' - floor(20 + r_return * 200)::integer
        end as returned_on,
        rnd(i, 'never') < 0.05 as never_orders,
        rnd(i, 'master') < 0.04 as missing_from_master
    from base;

    -- Every customer's active periods, and how many orders fall in each.
    create or replace table active_periods as
    with periods as (
        select customer_id, orders_per_year, active_from as period_start,
               coalesce(stopped_on, date '{end_date}') as period_end
        from customers where not never_orders
        union all
        select customer_id, orders_per_year, returned_on, date '{end_date}'
        from customers where returned_on is not null and not never_orders
    ),
    weighted as (
        select *, greatest(period_end - period_start, 1) * orders_per_year as weight
        from periods where period_end > period_start
    )
    select
        *,
        sum(weight) over (order by customer_id, period_start) - weight as weight_from,
        sum(weight) over (order by customer_id, period_start) as weight_to,
        sum(weight) over () as total_weight
    from weighted;

    create or replace table items as
    select
        printf('I%04d', i) as item_id,
        pick(i, 'adjective', ['Classic', 'Premium', 'Compact', 'Deluxe', 'Eco', 'Pro'])
            || ' ' || pick(i, 'noun', ['Filter', 'Cartridge', 'Gloves', 'Cleaner', 'Paper',
                                        'Labels', 'Batteries', 'Sealant', 'Tape'])
            || ' ' || i as item_name,
        pick(i, 'category', ['Consumables', 'Consumables', 'Supplies', 'Equipment']) as category,
        round(5 + rnd(i, 'price') * rnd(i, 'price2') * 400, 2) as unit_price
    from range(1, {items or max(20, customers // 5)} + 1) as t(i);

    -- Orders: each picks an active period in proportion to its weight, then a day within it.
    create or replace table orders as
    with draws as (
        select n, rnd(n, 'period') * (select max(total_weight) from active_periods) as w
        from range(1, {orders} + 1) as t(n)
    )
    select
        draws.n,
        printf('SO-%07d', draws.n) as order_id,
        p.customer_id,
        p.period_start + floor(rnd(draws.n, 'day') * (p.period_end - p.period_start + 1))::integer
            as order_date,
        case
            when rnd(draws.n, 'type') < 0.86 then 'invoice'
            when rnd(draws.n, 'type') < 0.92 then 'sales_receipt'
            when rnd(draws.n, 'type') < 0.96 then 'credit_memo'
            when rnd(draws.n, 'type') < 0.98 then 'refund'
            else 'void'
        end as order_type,
        rnd(draws.n, 'zero') < 0.01 as zero_value,
        1 + floor(rnd(draws.n, 'lines') * 4)::integer as line_count,
        rnd(draws.n, 'resend') < 0.03 as resent
    from draws
    inner join active_periods as p on draws.w >= p.weight_from and draws.w < p.weight_to;

    create or replace table order_lines as
    select
        o.order_id,
        o.order_date,
        o.customer_id,
        printf('I%04d', 1 + floor(
            rnd(o.n * 10 + l, 'item') * rnd(o.n * 10 + l, 'item2')
            * (select count(*) from items)
        )::integer) as item_id,
        l as line_number,
        1 + floor(rnd(o.n * 10 + l, 'qty') * 10)::integer as quantity,
        o.order_type,
        o.zero_value,
        o.resent,
        o.line_count
    from orders as o, range(1, 5) as t(l)
    where l <= o.line_count;

    create or replace table extract_lines as
    with priced as (
        select
            ol.*,
            case
                when ol.order_type = 'void' or ol.zero_value then 0
                when ol.order_type in ('credit_memo', 'refund') then -ol.quantity * i.unit_price
                else ol.quantity * i.unit_price
            end as amount,
            -- Orders are extracted at the end of their quarter.
            last_day(date_trunc('quarter', ol.order_date) + interval 2 month)::date
                as extract_date
        from order_lines as ol
        inner join items as i using (item_id)
    ),
    first_versions as (
        select * from priced
    ),
    -- A re-sent order appears again in the next quarter's extract, corrected: its last line
    -- dropped when it has several, else its quantity raised by one.
    corrections as (
        select
            * replace (
                quantity + case when line_count = 1 then 1 else 0 end as quantity,
                case when line_count = 1 and amount <> 0
                    then round(amount / quantity * (quantity + 1), 2) else amount end as amount,
                last_day(extract_date + interval 3 month)::date as extract_date
            )
        from priced
        where resent
          and extract_date < date '{end_date}'
          and (line_count = 1 or line_number < line_count)
    )
    select * from first_versions
    union all
    select * from corrections;
    """


def _write(con: duckdb.DuckDBPyConnection, query: str, path: Path, file_format: str) -> None:
    target = str(path).replace("'", "''")
    options = "format parquet" if file_format == "parquet" else "format csv, header true"
    con.execute(f"copy ({query}) to '{target}' ({options})")


def generate(
    out: Path,
    customers: int = SAMPLE_CUSTOMERS,
    orders: int = SAMPLE_ORDERS,
    seed: int = SAMPLE_SEED,
    file_format: str = "csv",
    end_date: dt.date = SAMPLE_END_DATE,
) -> dict[str, int]:
    """Writes `orders/`, `customers/` and `items/` extracts under `out`; returns row counts."""
    for folder in ("orders", "customers", "items"):
        (out / folder).mkdir(parents=True, exist_ok=True)
        for old in (out / folder).glob("*"):
            if old.suffix in (".csv", ".parquet"):
                old.unlink()
    suffix = "." + file_format
    con = duckdb.connect()
    con.execute("set threads = 2")
    con.execute(_setup_sql(seed, customers, orders, end_date))

    extract_dates = [
        row[0]
        for row in con.execute(
            "select distinct least(extract_date, ?::date) from extract_lines order by 1",
            [end_date],
        ).fetchall()
    ]
    for extract_date in extract_dates:
        _write(
            con,
            f"""
            select order_id, order_date, customer_id, item_id, line_number, quantity,
                   round(amount, 2)::decimal(18, 2) as amount, order_type
            from extract_lines
            where least(extract_date, date '{end_date}') = date '{extract_date}'
            order by order_id, line_number
            """,
            out / "orders" / f"orders_{extract_date}{suffix}",
            file_format,
        )

    master = """
        select customer_id, customer_name, email, sales_rep, segment, billing_cycle
        from customers where not missing_from_master
    """
    # An older master extract, a year back, with other reps: the newer file must win.
    _write(
        con,
        f"""
        select customer_id, customer_name, email, 'Former Rep' as sales_rep, segment,
               billing_cycle
        from ({master}) where rnd(hash(customer_id), 'old') < 0.5 order by customer_id
        """,
        out / "customers" / f"customers_{end_date - dt.timedelta(days=365)}{suffix}",
        file_format,
    )
    _write(
        con,
        master + " order by customer_id",
        out / "customers" / f"customers_{end_date}{suffix}",
        file_format,
    )
    _write(
        con,
        "select item_id, item_name, category from items order by item_id",
        out / "items" / f"items_{end_date}{suffix}",
        file_format,
    )
    counts = {
        "customers": con.execute("select count(*) from customers").fetchone()[0],
        "orders": con.execute("select count(*) from orders").fetchone()[0],
        "order_lines": con.execute("select count(*) from extract_lines").fetchone()[0],
        "order_files": len(extract_dates),
    }
    con.close()
    return counts


# The shape of one large orders file (`--shape one-file`): a business with many items, whose
# customers seldom buy an item twice, so that there are about as many customer x item rows as
# order lines.
ONE_FILE_CUSTOMERS = 150_000
ONE_FILE_ITEMS = 200_000


def generate_one_file(
    out: Path,
    lines: int,
    customers: int = ONE_FILE_CUSTOMERS,
    items: int = ONE_FILE_ITEMS,
    seed: int = SAMPLE_SEED,
    file_format: str = "parquet",
    end_date: dt.date = SAMPLE_END_DATE,
) -> dict[str, int]:
    """Writes ONE orders file of `lines` lines, `orders/orders_<end_date>`, and a customer and
    an item master, under `out`: orders of one to four lines over the three years before
    `end_date`, each line an item drawn from all `items`, each order a customer drawn from all
    `customers`. A Parquet file has typed columns (a date, an integer quantity, a decimal
    amount), as a database export writes them. Returns row counts."""
    for folder in ("orders", "customers", "items"):
        (out / folder).mkdir(parents=True, exist_ok=True)
        for old in (out / folder).glob("*"):
            if old.suffix in (".csv", ".parquet"):
                old.unlink()
    suffix = "." + file_format
    con = duckdb.connect()
    con.execute("set threads = 2")
    con.execute(_setup_sql(seed, customers, 0, end_date, items=items))
    # 2.5 lines per order on average: enough orders, then the first `lines` lines.
    orders = lines * 2 // 5 + 1
    _write(
        con,
        f"""
        with one_file_orders as (
            select
                n,
                printf('SO-%08d', n) as order_id,
                date '{end_date}' - floor(rnd(n, 'day') * {HISTORY_DAYS})::integer
                    as order_date,
                printf('C%05d', 1 + floor(rnd(n, 'customer') * {customers})::integer)
                    as customer_id,
                case
                    when rnd(n, 'type') < 0.86 then 'invoice'
                    when rnd(n, 'type') < 0.92 then 'sales_receipt'
                    when rnd(n, 'type') < 0.96 then 'credit_memo'
                    when rnd(n, 'type') < 0.98 then 'refund'
                    else 'void'
                end as order_type,
                1 + floor(rnd(n, 'lines') * 4)::integer as line_count
            from range(1, {orders} + 1) as t(n)
        ),
        one_file_lines as (
            select
                o.*,
                l::integer as line_number,
                printf('I%04d', 1 + floor(rnd(o.n * 10 + l, 'item') * {items})::integer)
                    as item_id,
                1 + floor(rnd(o.n * 10 + l, 'qty') * 10)::integer as quantity
            from one_file_orders as o, range(1, 5) as t(l)
            where l <= o.line_count
        )
        select
            order_id, order_date, customer_id, item_id, line_number, quantity,
            round(
                case
                    when order_type = 'void' then 0
                    when order_type in ('credit_memo', 'refund') then -quantity * i.unit_price
                    else quantity * i.unit_price
                end,
                2
            )::decimal(18, 2) as amount,
            order_type
        from one_file_lines inner join items as i using (item_id)
        order by n, line_number
        limit {lines}
        """,
        out / "orders" / f"orders_{end_date}{suffix}",
        file_format,
    )
    _write(
        con,
        "select customer_id, customer_name, email, sales_rep, segment, billing_cycle "
        "from customers where not missing_from_master order by customer_id",
        out / "customers" / f"customers_{end_date}{suffix}",
        file_format,
    )
    _write(
        con,
        "select item_id, item_name, category from items order by item_id",
        out / "items" / f"items_{end_date}{suffix}",
        file_format,
    )
    counts = {
        "customers": customers,
        "items": items,
        "order_lines": lines,
        "order_files": 1,
    }
    con.close()
    return counts


def generate_day(
    out: Path,
    day: dt.date,
    customers: int,
    orders: int,
    seed: int = SAMPLE_SEED,
    file_format: str = "csv",
) -> int:
    """Writes one day's orders extract, `orders/orders_<day>`, as a daily export would: `orders`
    new orders dated `day` from customers of a set made by `generate` with `customers`
    customers. Returns its number of lines."""
    con = duckdb.connect()
    con.execute("set threads = 2")
    con.execute(
        f"create or replace macro rnd(n, tag) as (hash({seed}, '{day}', n, tag) % 1000003) "
        "/ 1000003.0"
    )
    item_count = max(20, customers // 5)
    query = f"""
        with day_orders as (
            select
                n,
                printf('SD-%s-%07d', strftime(date '{day}', '%Y%m%d'), n) as order_id,
                printf('C%05d', 1 + floor(rnd(n, 'customer') * {customers})::integer)
                    as customer_id,
                case when rnd(n, 'type') < 0.9 then 'invoice' else 'credit_memo' end
                    as order_type,
                1 + floor(rnd(n, 'lines') * 4)::integer as line_count
            from range(1, {orders} + 1) as t(n)
        )
        select
            order_id,
            date '{day}' as order_date,
            customer_id,
            printf('I%04d', 1 + floor(rnd(n * 10 + l, 'item') * {item_count})::integer)
                as item_id,
            l as line_number,
            1 + floor(rnd(n * 10 + l, 'qty') * 10)::integer as quantity,
            round(
                (case when order_type = 'credit_memo' then -1 else 1 end)
                * (5 + rnd(n * 10 + l, 'price') * 100),
                2
            )::decimal(18, 2) as amount,
            order_type
        from day_orders, range(1, 5) as t(l)
        where l <= line_count
        order by order_id, line_number
    """
    path = out / "orders" / f"orders_{day}.{file_format}"
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(con, query, path, file_format)
    (lines,) = con.execute(f"select count(*) from ({query})").fetchone()
    con.close()
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Writes deterministic sample order extracts.")
    parser.add_argument("--out", type=Path, default=Path("data/raw"), help="default: data/raw")
    parser.add_argument("--customers", type=int, default=SAMPLE_CUSTOMERS)
    parser.add_argument("--orders", type=int, default=SAMPLE_ORDERS, help="number of orders")
    parser.add_argument("--seed", type=int, default=SAMPLE_SEED)
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument(
        "--shape",
        choices=("history", "one-file"),
        default="history",
        help="history (default): an orders file per quarter; one-file: one orders file of "
        "--lines lines spread over --items items",
    )
    parser.add_argument("--lines", type=int, default=6_000_000, help="one-file: order lines")
    parser.add_argument("--items", type=int, default=ONE_FILE_ITEMS, help="one-file: items")
    parser.add_argument(
        "--end-date",
        type=dt.date.fromisoformat,
        default=SAMPLE_END_DATE,
        help=f"the last extract date, YYYY-MM-DD; default {SAMPLE_END_DATE}",
    )
    args = parser.parse_args(argv)
    if args.shape == "one-file":
        customers = args.customers if args.customers != SAMPLE_CUSTOMERS else ONE_FILE_CUSTOMERS
        counts = generate_one_file(
            args.out, args.lines, customers, args.items, args.seed, args.format, args.end_date
        )
        print(
            f"Wrote one orders file of {counts['order_lines']} lines ({customers} customers, "
            f"{args.items} items) to {args.out}"
        )
        return
    counts = generate(args.out, args.customers, args.orders, args.seed, args.format, args.end_date)
    print(
        f"Wrote {counts['customers']} customers, {counts['orders']} orders, "
        f"{counts['order_lines']} order lines in {counts['order_files']} files to {args.out}"
    )


if __name__ == "__main__":
    main()
