"""Loading raw extract files (CSV and Parquet) into raw.<entity> with real DuckDB.

Each test writes a few small files into tmp_path, loads them with `load_entity` and checks the
exact rows loaded or the exact `ExtractError` message.
"""

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from dagster_project.extracts import (
    ENTITIES,
    ExtractError,
    FileLoad,
    LoadResult,
    LoadSettings,
    load_entity,
    quarantine_counts,
)

D = dt.date.fromisoformat
LOADED_AT = dt.datetime(2024, 7, 1, 6, 0, tzinfo=dt.UTC)
HEADER = "order_id,order_date,customer_id,item_id,quantity,amount,line_number,order_type"
ORDERS_ALLOWED = "one of invoice, sales_receipt, credit_memo, refund, void"
DATE_EXPECTED = "a date such as 2024-03-01 (or a timestamp whose date part counts)"
NUMBER_EXPECTED = "a number with at most 4 decimals, such as 12.50 or -3"


@pytest.fixture
def con():
    with duckdb.connect() as connection:
        yield connection


@pytest.fixture
def raw_dir(tmp_path) -> Path:
    return tmp_path / "raw"


def write_csv(path: Path, *lines: str) -> Path:
    """Writes `lines` as a UTF-8 text file, one per line, creating the folder if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_parquet(con, path: Path, select_sql: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"copy ({select_sql}) to '{path}' (format parquet)")
    return path


def load(
    con, raw_dir: Path, entity: str = "orders", settings: LoadSettings | None = None
) -> LoadResult:
    return load_entity(con, ENTITIES[entity], raw_dir, loaded_at=LOADED_AT, settings=settings)


def quarantined(con) -> list[tuple]:
    return con.execute(
        "select entity, source_file, source_line, raw_record, rule, message "
        "from raw.rejected_rows order by entity, source_file, source_line"
    ).fetchall()


def ledger(con) -> list[tuple]:
    """(file, rows read, loaded, quarantined, missing since) per file in the ledger."""
    return con.execute(
        "select source_file, rows_read, rows_loaded, rows_quarantined, missing_since "
        "from raw.load_ledger order by source_file"
    ).fetchall()


def orders(con, columns: str = "* exclude (_loaded_at)") -> list[tuple]:
    """raw.orders in the order its rows were inserted."""
    return con.execute(f"select {columns} from raw.orders order by rowid").fetchall()


def load_error(con, raw_dir: Path, entity: str = "orders") -> str:
    with pytest.raises(ExtractError) as excinfo:
        load(con, raw_dir, entity)
    return str(excinfo.value)


def test_headers_match_ignoring_case_and_spaces_and_extra_columns_are_ignored(con, raw_dir):
    write_csv(
        raw_dir / "orders" / "a.csv",
        " Order_ID ,ORDER_DATE,Customer_Id, item_id,Quantity , Amount,Notes,LINE_NUMBER,Order_Type",
        "A1,2024-03-01,C1,I1,2,10.50,call back,1,invoice",
    )
    load(con, raw_dir)
    assert orders(con) == [
        ("A1", D("2024-03-01"), "C1", "I1", Decimal("2.0000"), Decimal("10.5000"), 1, "invoice",
         "a.csv", 2),
    ]  # fmt: skip


def test_missing_optional_columns_become_null(con, raw_dir):
    write_csv(
        raw_dir / "orders" / "a.csv",
        "order_id,order_date,customer_id,item_id,quantity,amount",
        "A1,2024-03-01,C1,I1,2,10",
    )
    load(con, raw_dir)
    assert orders(con, "line_number, order_type") == [(None, None)]


def test_identifiers_are_kept_as_text_and_values_are_trimmed(con, raw_dir):
    write_csv(
        raw_dir / "orders" / "a.csv",
        HEADER,
        "00042 ,2024-03-01,  007,0100, 3 , -4.25 , 2 , invoice ",
    )
    load(con, raw_dir)
    assert orders(con, "order_id, customer_id, item_id, quantity, amount, line_number") == [
        ("00042", "007", "0100", Decimal("3"), Decimal("-4.25"), 2),
    ]


def test_empty_and_blank_values_become_null(con, raw_dir):
    write_csv(raw_dir / "orders" / "a.csv", HEADER, "A1,2024-03-01,C1,I1,1,5,,   ")
    load(con, raw_dir)
    assert orders(con, "line_number, order_type") == [(None, None)]


def test_timestamp_gives_its_date(con, raw_dir):
    write_csv(raw_dir / "orders" / "a.csv", HEADER, "A1,2024-03-01 23:30:00,C1,I1,1,5,,")
    load(con, raw_dir)
    assert orders(con, "order_date") == [(D("2024-03-01"),)]


def test_csv_rows_carry_file_name_and_line_with_header_as_line_one(con, raw_dir):
    write_csv(
        raw_dir / "orders" / "orders_2024-03.csv",
        HEADER,
        "A1,2024-03-01,C1,I1,1,5,,",
        "A2,2024-03-02,C1,I1,1,5,,",
        "A3,2024-03-03,C1,I1,1,5,,",
    )
    load(con, raw_dir)
    assert orders(con, "order_id, _source_file, _source_line") == [
        ("A1", "orders_2024-03.csv", 2),
        ("A2", "orders_2024-03.csv", 3),
        ("A3", "orders_2024-03.csv", 4),
    ]


def test_rows_carry_the_given_loaded_at(con, raw_dir):
    write_csv(raw_dir / "orders" / "a.csv", HEADER, "A1,2024-03-01,C1,I1,1,5,,")
    load(con, raw_dir)
    assert orders(con, "_loaded_at = timestamptz '2024-07-01 06:00:00+00'") == [(True,)]


def test_parquet_with_typed_columns_loads_with_row_numbers_from_one(con, raw_dir):
    path = write_parquet(
        con,
        raw_dir / "orders" / "a.parquet",
        """
        select * from (values
            ('00042', date '2024-03-01', 'C1', 'I1', 2, 10.5::double, 1, 'Invoice'),
            ('00043', date '2024-03-02', 'C2', 'I2', 1, -3.0::double, 2, 'refund')
        ) as t(order_id, order_date, customer_id, item_id, quantity, amount, line_number,
               order_type)
        """,
    )
    assert [r[1] for r in con.execute(f"describe from '{path}'").fetchall()] == [
        "VARCHAR", "DATE", "VARCHAR", "VARCHAR", "INTEGER", "DOUBLE", "INTEGER", "VARCHAR",
    ]  # fmt: skip
    load(con, raw_dir)
    assert orders(con) == [
        ("00042", D("2024-03-01"), "C1", "I1", Decimal("2"), Decimal("10.5"), 1, "invoice",
         "a.parquet", 1),
        ("00043", D("2024-03-02"), "C2", "I2", Decimal("1"), Decimal("-3"), 2, "refund",
         "a.parquet", 2),
    ]  # fmt: skip


def test_csv_and_parquet_in_one_folder_load_together_in_file_name_order(con, raw_dir):
    write_csv(raw_dir / "orders" / "b.csv", HEADER, "B1,2024-03-02,C1,I1,1,5,,")
    write_csv(raw_dir / "orders" / "notes.txt", "not an extract")
    write_parquet(
        con,
        raw_dir / "orders" / "a.parquet",
        "select 'A1' as order_id, date '2024-03-01' as order_date, 'C1' as customer_id, "
        "'I1' as item_id, 1 as quantity, 5.0::double as amount",
    )
    write_csv(
        raw_dir / "orders" / "c.csv",
        HEADER,
        "C1,2024-03-03,C1,I1,1,5,,",
        "C2,2024-03-03,C1,I1,1,5,,",
    )
    result = load(con, raw_dir)
    assert result == LoadResult(
        entity="orders",
        table="raw.orders",
        files=("a.parquet", "b.csv", "c.csv"),
        loaded=(
            FileLoad("a.parquet", 1, 1, 0),
            FileLoad("b.csv", 1, 1, 0),
            FileLoad("c.csv", 2, 2, 0),
        ),
        unchanged=(),
        missing=(),
    )
    assert result.row_count == 4
    assert result.rows_per_file == {"a.parquet": 1, "b.csv": 1, "c.csv": 2}
    assert orders(con, "order_id, _source_file, _source_line") == [
        ("A1", "a.parquet", 1),
        ("B1", "b.csv", 2),
        ("C1", "c.csv", 2),
        ("C2", "c.csv", 3),
    ]


def test_order_type_matches_case_insensitively_and_is_stored_lower_case(con, raw_dir):
    write_csv(
        raw_dir / "orders" / "a.csv",
        HEADER,
        "A1,2024-03-01,C1,I1,1,5,,INVOICE",
        "A2,2024-03-01,C1,I1,1,5,,Credit_Memo",
        "A3,2024-03-01,C1,I1,1,5,,sales_receipt",
    )
    load(con, raw_dir)
    assert orders(con, "order_type") == [("invoice",), ("credit_memo",), ("sales_receipt",)]


def test_a_row_breaking_several_rules_is_quarantined_once_with_every_problem(con, raw_dir):
    write_csv(
        raw_dir / "orders" / "a.csv",
        HEADER,
        "A1,2024-03-01,C1,I1,1,lots,,sale",
        "A2,2024-03-01,C1,I1,1,5,,",
    )
    result = load(con, raw_dir, settings=LoadSettings(max_quarantine_share=1.0))
    assert result.loaded == (FileLoad("a.csv", 2, 1, 1),)
    assert orders(con, "order_id, _source_line") == [("A2", 3)]
    assert quarantined(con) == [
        (
            "orders",
            "a.csv",
            2,
            '{"order_id":"A1","order_date":"2024-03-01","customer_id":"C1","item_id":"I1",'
            '"quantity":"1","amount":"lots","line_number":null,"order_type":"sale"}',
            "invalid_number",
            f"column amount: has 'lots', expected {NUMBER_EXPECTED}; "
            f"column order_type: has 'sale', expected {ORDERS_ALLOWED}",
        )
    ]
    assert quarantine_counts(con, ENTITIES["orders"]) == {"invalid_number": 1}


def test_a_file_with_too_many_bad_rows_fails_whole_and_lists_the_first_five(con, raw_dir):
    path = write_csv(
        raw_dir / "orders" / "a.csv",
        HEADER,
        "A0,2024-03-01,C1,I1,1,5,,",
        *[f"A{i},2024-03-01,C1,I1,1,x{i},," for i in range(1, 9)],
    )
    assert load_error(con, raw_dir) == "\n".join(
        [
            f"{path}: 8 of 9 rows break the contract (88.9%), more than the 1.0% allowed "
            "(QUARANTINE_MAX_SHARE); nothing of this file was loaded. First problems:"
        ]
        + [
            f"{path}, line {i + 2}, column amount: has 'x{i}', expected {NUMBER_EXPECTED}"
            for i in range(1, 6)
        ]
    )
    assert orders(con) == []
    assert quarantined(con) == []
    assert con.execute("select count(*) from raw.load_ledger").fetchall() == [(0,)]


def test_missing_required_columns_are_named_with_the_header_found(con, raw_dir):
    path = write_csv(
        raw_dir / "orders" / "a.csv",
        "Order_ID,order_date,customer_id,item_id,notes",
        "A1,2024-03-01,C1,I1,hello",
    )
    assert load_error(con, raw_dir) == (
        f"{path}: missing required column(s) quantity, amount "
        "(header has: Order_ID, order_date, customer_id, item_id, notes)"
    )


def test_two_csv_headers_mapping_onto_one_name_are_rejected(con, raw_dir):
    path = write_csv(
        raw_dir / "orders" / "a.csv",
        "Order_ID,order_id ,order_date,customer_id,item_id,quantity,amount",
        "A1,A2,2024-03-01,C1,I1,1,5",
    )
    assert load_error(con, raw_dir) == (
        f"{path}: columns 'Order_ID' and 'order_id ' both map onto 'order_id'; keep one of them"
    )


def test_two_parquet_columns_mapping_onto_one_name_are_rejected(con, raw_dir):
    path = write_parquet(
        con,
        raw_dir / "orders" / "a.parquet",
        """select 'A1' as "Order_ID", 'A2' as "order_id ", date '2024-03-01' as order_date,
        'C1' as customer_id, 'I1' as item_id, 1 as quantity, 5 as amount""",
    )
    assert load_error(con, raw_dir) == (
        f"{path}: columns 'Order_ID' and 'order_id ' both map onto 'order_id'; keep one of them"
    )


def test_missing_orders_folder_is_an_error(con, raw_dir):
    raw_dir.mkdir()
    assert load_error(con, raw_dir) == (
        f"{raw_dir / 'orders'}: no orders extracts found (expected .csv or .parquet files)"
    )


def test_orders_folder_without_extract_files_is_an_error(con, raw_dir):
    write_csv(raw_dir / "orders" / "README.txt", "extracts go here")
    assert load_error(con, raw_dir) == (
        f"{raw_dir / 'orders'}: no orders extracts found (expected .csv or .parquet files)"
    )


@pytest.mark.parametrize(
    ("entity", "columns"),
    [
        ("customers", ["customer_id", "customer_name", "email", "sales_rep", "segment",
                       "billing_cycle"]),
        ("items", ["item_id", "item_name", "category"]),
    ],
)  # fmt: skip
def test_missing_optional_entity_folder_gives_an_empty_table(con, raw_dir, entity, columns):
    raw_dir.mkdir()
    result = load(con, raw_dir, entity)
    assert result == LoadResult(
        entity, f"raw.{entity}", files=(), loaded=(), unchanged=(), missing=()
    )
    assert result.row_count == 0
    assert [r[0] for r in con.execute(f"describe raw.{entity}").fetchall()] == [
        *columns, "_source_file", "_source_line", "_loaded_at",
    ]  # fmt: skip
    assert con.execute(f"select count(*) from raw.{entity}").fetchall() == [(0,)]


def test_customers_billing_cycle_is_checked_and_stored_lower_case(con, raw_dir):
    write_csv(
        raw_dir / "customers" / "customers.csv",
        "customer_id,customer_name,billing_cycle",
        "00042,Acme,Monthly",
        "C2,Beta,fortnightly",
    )
    load(con, raw_dir, "customers", settings=LoadSettings(max_quarantine_share=1.0))
    assert con.execute(
        "select customer_id, customer_name, email, billing_cycle from raw.customers"
    ).fetchall() == [("00042", "Acme", None, "monthly")]
    assert quarantined(con) == [
        (
            "customers",
            "customers.csv",
            3,
            '{"customer_id":"C2","customer_name":"Beta","billing_cycle":"fortnightly"}',
            "invalid_billing_cycle",
            "column billing_cycle: has 'fortnightly', "
            "expected one of weekly, monthly, quarterly, annual",
        )
    ]


def test_a_bad_file_stops_the_load_and_keeps_the_files_before_it(con, raw_dir):
    write_csv(raw_dir / "orders" / "a.csv", HEADER, "A1,2024-03-01,C1,I1,1,5,,")
    path = write_csv(raw_dir / "orders" / "b.csv", "order_id,order_date", "B1,2024-03-02")
    write_csv(raw_dir / "orders" / "c.csv", HEADER, "C1,2024-03-03,C1,I1,1,5,,")
    assert load_error(con, raw_dir) == (
        f"{path}: missing required column(s) customer_id, item_id, quantity, amount "
        "(header has: order_id, order_date)"
    )
    assert orders(con, "order_id, _source_file") == [("A1", "a.csv")]
    assert ledger(con) == [("a.csv", 1, 1, 0, None)]

    write_csv(path, HEADER, "B1,2024-03-02,C1,I1,1,5,,")
    result = load(con, raw_dir)
    assert [f.source_file for f in result.loaded] == ["b.csv", "c.csv"]
    assert result.unchanged == ("a.csv",)
    assert orders(con, "order_id, _source_file") == [
        ("A1", "a.csv"),
        ("B1", "b.csv"),
        ("C1", "c.csv"),
    ]


def test_loading_the_same_files_again_reads_nothing_and_changes_nothing(con, raw_dir):
    write_csv(raw_dir / "orders" / "a.csv", HEADER, "A1,2024-03-01,C1,I1,1,5,,")
    write_csv(raw_dir / "orders" / "b.csv", HEADER, "B1,2024-03-02,C1,I1,1,5,,", "B1,x,C1,I1,1,5,,")
    first = load(con, raw_dir, settings=LoadSettings(max_quarantine_share=1.0))
    tables = (orders(con), quarantined(con), ledger(con))
    again = load(con, raw_dir, settings=LoadSettings(max_quarantine_share=1.0))
    assert [f.source_file for f in first.loaded] == ["a.csv", "b.csv"]
    assert (again.loaded, again.unchanged, again.missing) == ((), ("a.csv", "b.csv"), ())
    assert (orders(con), quarantined(con), ledger(con)) == tables


def test_a_file_changed_under_the_same_name_replaces_what_it_loaded(con, raw_dir):
    settings = LoadSettings(max_quarantine_share=1.0)
    path = write_csv(
        raw_dir / "orders" / "a.csv",
        HEADER,
        "A1,2024-03-01,C1,I1,1,5,,",
        "A2,2024-03-0x,C1,I1,1,5,,",
    )
    load(con, raw_dir, settings=settings)
    assert len(quarantined(con)) == 1
    before = path.stat()
    # The same size: only the content hash tells the new version from the old.
    write_csv(path, HEADER, "A1,2024-03-01,C1,I1,1,7,,", "A3,2024-03-04,C1,I1,1,5,,")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    assert path.stat().st_size == before.st_size

    result = load(con, raw_dir, settings=settings)

    assert result.loaded == (FileLoad("a.csv", 2, 2, 0),)
    assert orders(con, "order_id, amount, _source_line") == [
        ("A1", Decimal(7), 2),
        ("A3", Decimal(5), 3),
    ]
    assert quarantined(con) == []
    assert ledger(con) == [("a.csv", 2, 2, 0, None)]


def test_a_file_touched_without_a_change_is_not_read_again(con, raw_dir):
    path = write_csv(raw_dir / "orders" / "a.csv", HEADER, "A1,2024-03-01,C1,I1,1,5,,")
    load(con, raw_dir)
    before = path.stat()
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    result = load(con, raw_dir)
    assert (result.loaded, result.unchanged) == ((), ("a.csv",))
    assert con.execute("select modified_at_ns from raw.load_ledger").fetchall() == [
        (before.st_mtime_ns + 1_000_000_000,)
    ]


def test_a_file_gone_from_the_folder_keeps_its_rows_and_is_reported(con, raw_dir):
    first = write_csv(raw_dir / "orders" / "a.csv", HEADER, "A1,2024-03-01,C1,I1,1,5,,")
    write_csv(raw_dir / "orders" / "b.csv", HEADER, "B1,2024-03-02,C1,I1,1,5,,")
    load(con, raw_dir)
    kept = first.read_bytes()
    first.unlink()
    result = load(con, raw_dir)
    assert (result.loaded, result.unchanged, result.missing) == ((), ("b.csv",), ("a.csv",))
    assert orders(con, "order_id, _source_file") == [("A1", "a.csv"), ("B1", "b.csv")]
    assert ledger(con) == [("a.csv", 1, 1, 0, LOADED_AT), ("b.csv", 1, 1, 0, None)]

    first.write_bytes(kept)
    back = load(con, raw_dir)
    assert (back.loaded, back.unchanged, back.missing) == ((), ("a.csv", "b.csv"), ())
    assert ledger(con) == [("a.csv", 1, 1, 0, None), ("b.csv", 1, 1, 0, None)]


def test_text_file_named_parquet_cannot_be_read(con, raw_dir):
    path = write_csv(raw_dir / "orders" / "a.parquet", HEADER, "A1,2024-03-01,C1,I1,1,5,,")
    assert load_error(con, raw_dir) == (
        f"{path}: cannot be read as Parquet: Invalid Input Error: "
        f"No magic bytes found at end of file '{path}'"
    )


def test_csv_line_numbers_count_blank_lines(con, raw_dir):
    write_csv(
        raw_dir / "orders" / "a.csv",
        HEADER,
        "A1,2024-03-01,C1,I1,1,5,,",
        "",
        "A2,2024-03-01,C1,I1,1,5,,",
    )
    load(con, raw_dir)
    assert orders(con, "order_id, _source_line") == [("A1", 2), ("A2", 4)]


def test_csv_row_starting_with_hash_is_kept(con, raw_dir):
    write_csv(
        raw_dir / "orders" / "a.csv",
        HEADER,
        "1001,2024-03-01,42,7,1,5,1,invoice",
        "#1002,2024-03-01,42,7,1,5,1,invoice",
        "1003,2024-03-01,42,7,1,5,1,invoice",
    )
    load(con, raw_dir)
    assert orders(con, "order_id, _source_line") == [("1001", 2), ("#1002", 3), ("1003", 4)]


def test_csv_line_numbers_count_a_quoted_value_spanning_lines(con, raw_dir):
    write_csv(
        raw_dir / "orders" / "a.csv",
        "order_id,order_date,customer_id,item_id,quantity,amount",
        '1,2024-03-01,"C1',
        'second line of the id",I1,1,5',
        "2,2024-03-02,C2,I1,1,5",
    )
    load(con, raw_dir)
    assert orders(con, "order_id, customer_id, _source_line") == [
        ("1", "C1\nsecond line of the id", 2),
        ("2", "C2", 4),
    ]


def test_an_empty_file_is_an_error(con, raw_dir):
    path = raw_dir / "orders" / "a.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    assert load_error(con, raw_dir) == f"{path}: is empty; expected a header row"


def test_a_file_that_is_not_utf8_names_the_byte_offset(con, raw_dir):
    path = raw_dir / "orders" / "a.csv"
    path.parent.mkdir(parents=True)
    header = b"order_id,order_date,customer_id,item_id,quantity,amount\n"
    # A Latin-1 e-acute far past the first read buffer: the offset is counted across chunks.
    filler = b"".join(b"%d,2024-03-01,C1,I1,1,5\n" % i for i in range(100_000))
    path.write_bytes(header + filler + b"x,2024-03-01,C\xe9,I1,1,5\n")
    offset = len(header) + len(filler) + len(b"x,2024-03-01,C")
    assert load_error(con, raw_dir) == (
        f"{path}: is not UTF-8: byte offset {offset} (invalid continuation byte)"
    )


def test_a_utf8_byte_order_mark_does_not_hide_the_first_column(con, raw_dir):
    path = raw_dir / "orders" / "a.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(
        "\ufefforder_id,order_date,customer_id,item_id,quantity,amount\n1,2024-03-01,C1,I1,1,5\n".encode()
    )
    load(con, raw_dir)
    assert orders(con, "order_id, _source_line") == [("1", 2)]
