"""Loading raw extract files (CSV and Parquet) into raw.<entity> with real DuckDB.

Each test writes a few small files into tmp_path, loads them with `load_entity` and checks the
exact rows loaded, the exact rows quarantined in raw.rejected_rows, the ledger, or the exact
`ExtractError` message. Tests about quarantining lift the quarantine share limit (`LOOSE`); the
limit itself has tests of its own with the default settings.
"""

import datetime as dt
import gzip
import hashlib
import json
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
    _read_file_as_text,
    _readable_by_duckdb,
    _scan_csv,
    _texts_sql,
    _values_sql,
    load_entity,
    mapping_for,
    quarantine_counts,
    reconcile,
)

D = dt.date.fromisoformat
LOADED_AT = dt.datetime(2024, 7, 1, 6, 0, tzinfo=dt.UTC)
HEADER = "order_id,order_date,customer_id,item_id,quantity,amount,line_number,order_type"
ORDERS_ALLOWED = "one of invoice, sales_receipt, credit_memo, refund, void"
DATE_EXPECTED = "a date such as 2024-03-01 (or a timestamp whose date part counts)"
NUMBER_EXPECTED = (
    "a number with at most 14 digits before the point and 4 after it, such as 12.50 or -3"
)
# Every row may be quarantined without failing the file.
LOOSE = LoadSettings(max_quarantine_share=1.0)


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
    con,
    raw_dir: Path,
    entity: str = "orders",
    settings: LoadSettings | None = None,
    loaded_at: dt.datetime = LOADED_AT,
) -> LoadResult:
    return load_entity(con, ENTITIES[entity], raw_dir, loaded_at=loaded_at, settings=settings)


def record(*values: str | None) -> str:
    """raw_record of an orders row read with HEADER: the JSON object of header -> raw text."""
    return json.dumps(dict(zip(HEADER.split(","), values, strict=True)), separators=(",", ":"))


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


def full_ledger(con) -> list[tuple]:
    return con.execute(
        "select * exclude (source_path) from raw.load_ledger order by source_file"
    ).fetchall()


def load_error(
    con, raw_dir: Path, entity: str = "orders", settings: LoadSettings | None = None
) -> str:
    with pytest.raises(ExtractError) as excinfo:
        load(con, raw_dir, entity, settings)
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


# The orders of TYPED_ORDERS_SQL, as CSV lines.
TYPED_ORDERS_CSV = (
    HEADER,
    "A1,2024-03-01,C1,I1,2,10.50,1,invoice",
    "A1,2024-03-01,C1,I2,1,-0.25,2,Invoice",
    "A2,2024-03-02, C2 ,I1,3,1234567.8901,,credit_memo",
    "A3,2024-03-03,C3,I3,4,0,1,",
)
# Parquet columns typed as a database exports them: a date, a whole quantity, a decimal amount.
TYPED_ORDERS_SQL = """
    select order_id, order_date::date as order_date, customer_id, item_id,
           quantity::integer as quantity, amount::decimal(18, 4) as amount,
           line_number::bigint as line_number, order_type
    from (values
        ('A1', '2024-03-01', 'C1', 'I1', 2, 10.50, 1, 'invoice'),
        ('A1', '2024-03-01', 'C1', 'I2', 1, -0.25, 2, 'Invoice'),
        ('A2', '2024-03-02', ' C2 ', 'I1', 3, 1234567.8901, null, 'credit_memo'),
        ('A3', '2024-03-03', 'C3', 'I3', 4, 0, 1, null)
    ) as t(order_id, order_date, customer_id, item_id, quantity, amount, line_number,
           order_type)
"""


def test_typed_parquet_values_are_checked_as_typed_values_not_parsed_from_text(con, raw_dir):
    """A date, decimal or whole-number Parquet column is checked on its typed values: turning
    millions of them into text to parse them again costs most of a large file's load."""
    path = write_parquet(con, raw_dir / "orders" / "a.parquet", TYPED_ORDERS_SQL)
    entity = ENTITIES["orders"]
    read = _read_file_as_text(con, entity, path, "scratch", mapping_for([], path.name))
    texts, values = _texts_sql(entity, read), _values_sql(entity, read, LoadSettings())
    for name in ("order_date", "quantity", "amount", "line_number"):
        assert f'"{name}" as "t_{name}"' in texts
    assert '"t_order_date" as "v_order_date"' in values
    assert 'try_cast("t_quantity" as decimal(18, 4)) as "v_quantity"' in values
    assert 'try_cast("t_amount" as decimal(18, 4)) as "v_amount"' in values
    assert 'try_cast("t_line_number" as integer) as "v_line_number"' in values
    # Text is text: trimmed, empty as NULL.
    assert """nullif(trim("customer_id"::varchar), '') as "t_customer_id\"""" in texts


def test_a_typed_parquet_file_loads_as_the_csv_file_of_the_same_rows(con, raw_dir, tmp_path):
    write_parquet(con, raw_dir / "orders" / "a.parquet", TYPED_ORDERS_SQL)
    load(con, raw_dir)
    from_parquet = orders(con, "* exclude (_loaded_at, _source_file)")
    with duckdb.connect() as csv_con:
        write_csv(tmp_path / "csv" / "orders" / "a.csv", *TYPED_ORDERS_CSV)
        load(csv_con, tmp_path / "csv")
        from_csv = orders(csv_con, "* exclude (_loaded_at, _source_file, _source_line)")
    # A CSV line is its row number plus one: the header is line 1.
    assert [row[:-1] for row in from_parquet] == from_csv
    assert [row[-1] for row in from_parquet] == [1, 2, 3, 4]
    assert from_csv[2] == (
        "A2", D("2024-03-02"), "C2", "I1", Decimal("3"), Decimal("1234567.8901"), None,
        "credit_memo",
    )  # fmt: skip


def test_typed_parquet_values_that_break_the_contract_are_quarantined_with_line_and_column(
    con, raw_dir
):
    write_parquet(
        con,
        raw_dir / "orders" / "a.parquet",
        """
        select order_id, order_date::date as order_date, customer_id, item_id,
               quantity::bigint as quantity, amount::decimal(24, 2) as amount,
               line_number::bigint as line_number, order_type
        from (values
            ('B1', '2024-03-01', 'C1', 'I1', 1, 10.5, 1, 'invoice'),
            ('B2', '1899-12-31', 'C1', 'I1', 1, 10.5, 1, 'invoice'),
            ('B3', '2024-03-01', 'C1', 'I1', 1, 123456789012345.25, 1, 'invoice'),
            ('B4', '2024-03-01', 'C1', 'I1', 1, 10.5, 3000000000, 'invoice'),
            ('B5', '2024-03-01', 'C1', 'I1', null, 10.5, 1, 'invoice'),
            ('B6', '2024-07-03', 'C1', 'I1', 1, 10.5, 1, 'invoice')
        ) as t(order_id, order_date, customer_id, item_id, quantity, amount, line_number,
               order_type)
        """,
    )
    result = load(con, raw_dir, settings=LOOSE)
    assert result.loaded == (FileLoad("a.parquet", 6, 1, 5),)
    assert orders(con, "order_id, amount, _source_line") == [("B1", Decimal("10.5"), 1)]
    assert [row[1:3] + row[4:] for row in quarantined(con)] == [
        (
            "a.parquet",
            2,
            "order_date_too_early",
            "column order_date: '1899-12-31' is before 1900-01-01, the earliest order date "
            "allowed (EARLIEST_ORDER_DATE)",
        ),
        (
            "a.parquet",
            3,
            "invalid_number",
            f"column amount: has '123456789012345.25', expected {NUMBER_EXPECTED}",
        ),
        (
            "a.parquet",
            4,
            "invalid_integer",
            "column line_number: has '3000000000', expected a whole number",
        ),
        (
            "a.parquet",
            5,
            "missing_required_value",
            f"column quantity: is empty, expected {NUMBER_EXPECTED}",
        ),
        (
            "a.parquet",
            6,
            "order_date_in_future",
            "column order_date: 2024-07-03 is after 2024-07-02, the load date 2024-07-01 plus "
            "1 day(s) of tolerance",
        ),
    ]
    assert json.loads(quarantined(con)[1][3])["amount"] == 123456789012345.25


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
        not_loaded=(("notes.txt", "not a .csv, .csv.gz or .parquet file"),),
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
    result = load(con, raw_dir, settings=LOOSE)
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


GOOD_ROWS = [
    ("A1", D("2024-03-01"), "C1", "I1", Decimal("1"), Decimal("5"), None, None, "a.csv", 2),
    ("A3", D("2024-03-02"), "C1", "I1", Decimal("2"), Decimal("7"), 1, "invoice", "a.csv", 4),
]


@pytest.mark.parametrize(
    ("line", "raw_values", "rule", "message"),
    [
        (
            "A2,2024-03-01,C1,I1,1,5,,Refundd",
            ("A2", "2024-03-01", "C1", "I1", "1", "5", None, "Refundd"),
            "invalid_order_type",
            f"column order_type: has 'Refundd', expected {ORDERS_ALLOWED}",
        ),
        (
            "A2,2024-13-01,C1,I1,1,5,,",
            ("A2", "2024-13-01", "C1", "I1", "1", "5", None, None),
            "invalid_date",
            f"column order_date: has '2024-13-01', expected {DATE_EXPECTED}",
        ),
        (
            'A2,2024-03-01,C1,I1,1,"12,50",,',
            ("A2", "2024-03-01", "C1", "I1", "1", "12,50", None, None),
            "invalid_number",
            f"column amount: has '12,50', expected {NUMBER_EXPECTED}",
        ),
        (
            # Not rounded to 12.3457: a changed amount is not a parsed one.
            "A2,2024-03-01,C1,I1,1,12.34567,,",
            ("A2", "2024-03-01", "C1", "I1", "1", "12.34567", None, None),
            "invalid_number",
            f"column amount: has '12.34567', expected {NUMBER_EXPECTED}",
        ),
        (
            # 15 digits before the point: more than any sum of such lines could hold.
            "A2,2024-03-01,C1,I1,1,123456789012345,,",
            ("A2", "2024-03-01", "C1", "I1", "1", "123456789012345", None, None),
            "invalid_number",
            f"column amount: has '123456789012345', expected {NUMBER_EXPECTED}",
        ),
        (
            # The message shows the trimmed value, the raw record the value as written.
            " A2 ,2024-03-01,C1,I1, one ,5,,",
            (" A2 ", "2024-03-01", "C1", "I1", " one ", "5", None, None),
            "invalid_number",
            f"column quantity: has 'one', expected {NUMBER_EXPECTED}",
        ),
        (
            "A2,2024-03-01,C1,I1,1,5,first,",
            ("A2", "2024-03-01", "C1", "I1", "1", "5", "first", None),
            "invalid_integer",
            "column line_number: has 'first', expected a whole number",
        ),
        (
            # Not rounded to 4.
            "A2,2024-03-01,C1,I1,1,5,3.5,",
            ("A2", "2024-03-01", "C1", "I1", "1", "5", "3.5", None),
            "invalid_integer",
            "column line_number: has '3.5', expected a whole number",
        ),
        (
            "A2,2024-03-01,  ,I1,1,5,,",
            ("A2", "2024-03-01", "  ", "I1", "1", "5", None, None),
            "missing_required_value",
            "column customer_id: is empty, expected a value",
        ),
        (
            'A2,"",C1,I1,1,5,,',
            ("A2", None, "C1", "I1", "1", "5", None, None),
            "missing_required_value",
            f"column order_date: is empty, expected {DATE_EXPECTED}",
        ),
    ],
)
def test_a_row_breaking_one_rule_is_quarantined_and_the_others_load(
    con, raw_dir, line, raw_values, rule, message
):
    write_csv(
        raw_dir / "orders" / "a.csv",
        HEADER,
        "A1,2024-03-01,C1,I1,1,5,,",
        line,
        "A3,2024-03-02,C1,I1,2,7,1,invoice",
    )
    result = load(con, raw_dir, settings=LOOSE)
    assert result.loaded == (FileLoad("a.csv", 3, 2, 1),)
    assert (result.row_count, result.quarantined_count) == (2, 1)
    assert orders(con) == GOOD_ROWS
    assert quarantined(con) == [("orders", "a.csv", 3, record(*raw_values), rule, message)]
    assert quarantine_counts(con, ENTITIES["orders"]) == {rule: 1}
    assert con.execute(
        "select count(*) from raw.rejected_rows "
        "where loaded_at = timestamptz '2024-07-01 06:00:00+00'"
    ).fetchall() == [(1,)]


def test_the_first_rule_follows_the_contract_order_and_the_record_the_file_order(con, raw_dir):
    write_csv(
        raw_dir / "orders" / "a.csv",
        "Amount,order_type,ORDER_ID,order_date,customer_id,item_id,quantity",
        "ten,invoice,A1,yesterday,C1,,1",
        "5,void,A2,2024-03-01,C1,I1,1",
    )
    result = load(con, raw_dir, settings=LOOSE)
    assert result.loaded == (FileLoad("a.csv", 2, 1, 1),)
    assert orders(con) == [
        ("A2", D("2024-03-01"), "C1", "I1", Decimal("1"), Decimal("5"), None, "void", "a.csv", 3),
    ]
    assert quarantined(con) == [
        (
            "orders",
            "a.csv",
            2,
            '{"Amount":"ten","order_type":"invoice","ORDER_ID":"A1","order_date":"yesterday",'
            '"customer_id":"C1","item_id":null,"quantity":"1"}',
            "invalid_date",
            f"column order_date: has 'yesterday', expected {DATE_EXPECTED}; "
            "column item_id: is empty, expected a value; "
            f"column amount: has 'ten', expected {NUMBER_EXPECTED}",
        )
    ]
    assert quarantine_counts(con, ENTITIES["orders"]) == {"invalid_date": 1}


def test_parquet_rows_are_quarantined_with_their_row_number_and_typed_values(con, raw_dir):
    write_parquet(
        con,
        raw_dir / "orders" / "a.parquet",
        """
        select * from (values
            ('P1', date '2024-03-01', 'C1', 'I1', 2, 10.5::double, 'invoice'),
            ('P2', date '2024-03-01', 'C1', 'I1', 2, 10.123456::double, 'invoice'),
            ('P1', date '2024-03-01', 'C1', 'I1', 2, 10.5::double, 'invoice'),
            (null, date '2024-03-01', 'C1', 'I1', 1, 1.0::double, 'sale')
        ) as t(order_id, order_date, customer_id, item_id, quantity, amount, order_type)
        """,
    )
    result = load(con, raw_dir, settings=LOOSE)
    assert result.loaded == (FileLoad("a.parquet", 4, 1, 3),)
    assert orders(con) == [
        ("P1", D("2024-03-01"), "C1", "I1", Decimal("2"), Decimal("10.5"), None, "invoice",
         "a.parquet", 1),
    ]  # fmt: skip
    assert quarantined(con) == [
        (
            "orders",
            "a.parquet",
            2,
            '{"order_id":"P2","order_date":"2024-03-01","customer_id":"C1","item_id":"I1",'
            '"quantity":2,"amount":10.123456,"order_type":"invoice"}',
            "invalid_number",
            f"column amount: has '10.123456', expected {NUMBER_EXPECTED}",
        ),
        (
            "orders",
            "a.parquet",
            3,
            '{"order_id":"P1","order_date":"2024-03-01","customer_id":"C1","item_id":"I1",'
            '"quantity":2,"amount":10.5,"order_type":"invoice"}',
            "duplicate_line",
            "the same values as line 1",
        ),
        (
            "orders",
            "a.parquet",
            4,
            '{"order_id":null,"order_date":"2024-03-01","customer_id":"C1","item_id":"I1",'
            '"quantity":1,"amount":1.0,"order_type":"sale"}',
            "missing_required_value",
            "column order_id: is empty, expected a value; "
            f"column order_type: has 'sale', expected {ORDERS_ALLOWED}",
        ),
    ]


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


def test_a_file_at_the_quarantine_share_loads_and_one_above_it_fails(con, raw_dir):
    good = [f"A{i},2024-03-01,C1,I1,1,5,," for i in range(1, 99)]
    short = "A100,2024-03-01,C1,I1,1,5,"
    write_csv(raw_dir / "orders" / "a.csv", HEADER, *good, "A99,2024-03-01,C1,I1,1,5,,", short)
    path = write_csv(
        raw_dir / "orders" / "b.csv", HEADER, *good, "A99,2024-03-01,C1,I1,1,x,,", short
    )
    assert load_error(con, raw_dir) == (
        f"{path}: 2 of 100 rows break the contract (2.0%), more than the 1.0% allowed "
        "(QUARANTINE_MAX_SHARE); nothing of this file was loaded. First problems:\n"
        f"{path}, line 100, column amount: has 'x', expected {NUMBER_EXPECTED}\n"
        f"{path}, line 101, expected 8 fields, found 7"
    )
    # 1 of 100 is not more than 1%: a.csv loaded; nothing of b.csv did.
    assert ledger(con) == [("a.csv", 100, 99, 1, None)]
    assert con.execute("select _source_file, count(*) from raw.orders group by all").fetchall() == [
        ("a.csv", 99)
    ]
    assert quarantined(con) == [
        (
            "orders",
            "a.csv",
            101,
            '["A100", "2024-03-01", "C1", "I1", "1", "5", ""]',
            "wrong_field_count",
            "expected 8 fields, found 7",
        ),
    ]


def test_the_allowed_share_is_a_setting_and_problems_are_listed_in_line_order(con, raw_dir):
    path = write_csv(
        raw_dir / "orders" / "a.csv",
        HEADER,
        "A1,2024-03-01,C1,I1,1,5,,",
        "A2,2024-03-01,C1,I1,1,5,,",
        "A3,2024-03-01,C1,I1,1,5,",
        "A4,someday,,I1,1,5,,",
    )
    assert load_error(con, raw_dir, settings=LoadSettings(max_quarantine_share=0.25)) == (
        f"{path}: 2 of 4 rows break the contract (50.0%), more than the 25.0% allowed "
        "(QUARANTINE_MAX_SHARE); nothing of this file was loaded. First problems:\n"
        f"{path}, line 4, expected 8 fields, found 7\n"
        f"{path}, line 5, column order_date: has 'someday', expected {DATE_EXPECTED}; "
        "column customer_id: is empty, expected a value"
    )
    assert (orders(con), quarantined(con), ledger(con)) == ([], [], [])
    result = load(con, raw_dir, settings=LoadSettings(max_quarantine_share=0.5))
    assert result.loaded == (FileLoad("a.csv", 4, 2, 2),)


def test_a_loaded_file_changed_into_a_failing_one_keeps_what_it_loaded_before(con, raw_dir):
    write_csv(raw_dir / "orders" / "a.csv", HEADER, "A1,2024-03-01,C1,I1,1,5,,")
    path = write_csv(raw_dir / "orders" / "b.csv", HEADER, "B1,2024-03-02,C1,I1,1,5,,")
    load(con, raw_dir)
    before = (orders(con), quarantined(con), full_ledger(con))

    write_csv(path, HEADER, "B1,2024-03-02,C1,I1,1,5,,", "B2,2024-03-0x,C1,I1,1,5,,")
    assert load_error(con, raw_dir) == (
        f"{path}: 1 of 2 rows break the contract (50.0%), more than the 1.0% allowed "
        "(QUARANTINE_MAX_SHARE); nothing of this file was loaded. First problems:\n"
        f"{path}, line 3, column order_date: has '2024-03-0x', expected {DATE_EXPECTED}"
    )
    assert (orders(con), quarantined(con), full_ledger(con)) == before


def test_missing_required_columns_are_named_with_the_header_found(con, raw_dir):
    path = write_csv(
        raw_dir / "orders" / "a.csv",
        "Order_ID,order_date,customer_id,item_id,notes",
        "A1,2024-03-01,C1,I1,hello",
    )
    assert load_error(con, raw_dir) == (
        f"{path}: missing required column(s) quantity, amount "
        "(header has: Order_ID, order_date, customer_id, item_id, notes); if the export names "
        f"them otherwise or has lines above its header, say so in {path.parent / '_mapping.toml'} "
        "(docs/extract-mapping.md)"
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
        f"{raw_dir / 'orders'}: the folder does not exist; the orders extracts (.csv, .csv.gz or "
        ".parquet files) go in a folder of that name"
    )


def test_orders_folder_without_extract_files_is_an_error(con, raw_dir):
    write_csv(raw_dir / "orders" / "README.txt", "extracts go here")
    assert load_error(con, raw_dir) == (
        f"{raw_dir / 'orders'}: no orders extracts found (expected .csv, .csv.gz or .parquet "
        "files); not loaded: README.txt, not a .csv, .csv.gz or .parquet file"
    )


def test_a_csv_gz_loads_and_every_other_entry_is_named_with_why_it_is_not_loaded(con, raw_dir):
    folder = raw_dir / "orders"
    write_csv(folder / "a.csv", HEADER, "A1,2024-03-01,C1,I1,1,5,,")
    with gzip.open(folder / "b.csv.gz", "wt", encoding="utf-8", newline="") as handle:
        handle.write(f"{HEADER}\nB1,2024-03-02,C1,I1,1,5,,\n\nB2,2024-03-02,C1,I1,2,7,,\n")
    write_csv(folder / "older" / "c.csv", HEADER, "C1,2024-03-03,C1,I1,1,5,,")
    write_csv(folder / "notes.txt", "not an extract")
    (folder / "d.csv").symlink_to(folder / "gone.csv")
    # What macOS leaves beside files copied from it: binary, not CSV.
    (folder / "._a.csv").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")

    result = load(con, raw_dir)

    assert result.files == ("a.csv", "b.csv.gz")
    assert result.loaded == (FileLoad("a.csv", 1, 1, 0), FileLoad("b.csv.gz", 2, 2, 0))
    assert result.not_loaded == (
        (".DS_Store", "a hidden file, its name starting with a dot"),
        ("._a.csv", "a hidden file, its name starting with a dot"),
        ("d.csv", f"a link to {folder / 'gone.csv'}, which does not exist"),
        ("notes.txt", "not a .csv, .csv.gz or .parquet file"),
        ("older", "a folder: only the files directly in the entity's folder are read"),
    )
    assert orders(con, "order_id, quantity, _source_file, _source_line") == [
        ("A1", Decimal("1"), "a.csv", 2),
        ("B1", Decimal("1"), "b.csv.gz", 2),
        ("B2", Decimal("2"), "b.csv.gz", 4),
    ]


def test_a_file_that_is_not_gzip_named_csv_gz_is_an_error(con, raw_dir):
    path = write_csv(raw_dir / "orders" / "a.csv.gz", HEADER, "A1,2024-03-01,C1,I1,1,5,,")
    assert load_error(con, raw_dir) == (
        f"{path}: is not a valid gzip file (Not a gzipped file (b'or')); compress it with "
        "gzip, or name it .csv if it is plain text"
    )


ROWS_OF = {
    "orders": lambda key: f"O{key},2024-03-01,C1,I1,1,5,,",
    "customers": lambda key: f"C{key},Customer {key},,,,",
    "items": lambda key: f"I{key},Item {key},",
}
HEADER_OF = {
    "orders": HEADER,
    "customers": "customer_id,customer_name,email,sales_rep,segment,billing_cycle",
    "items": "item_id,item_name,category",
}


@pytest.mark.parametrize("extension", ["csv", "parquet"])
@pytest.mark.parametrize("entity", ["orders", "customers", "items"])
def test_a_file_name_is_never_read_as_a_pattern(con, raw_dir, entity, extension):
    """Names with `*`, `?`, `[` and `{` beside the files they would match as patterns: each
    file loads its own rows, and only those."""
    names = [f"{entity}_*", f"{entity}_?", f"{entity}_[ab]", f"{entity}_{{a,b}}", f"{entity}_a"]
    for rows, stem in enumerate(names, start=1):
        lines = [ROWS_OF[entity](f"{rows}-{n}") for n in range(rows)]
        path = write_csv(raw_dir / entity / f"{stem}.csv", HEADER_OF[entity], *lines)
        if extension == "parquet":
            con.execute(
                f"copy (from read_csv('{path}', all_varchar = true)) "
                f"to '{path.with_suffix('.parquet')}' (format parquet)"
            )
            path.unlink()

    result = load(con, raw_dir, entity)

    assert sorted((f.source_file, f.rows_read, f.rows_loaded) for f in result.loaded) == sorted(
        (f"{stem}.{extension}", rows, rows) for rows, stem in enumerate(names, start=1)
    )
    (loaded,) = con.execute(f"select count(*) from raw.{entity}").fetchone()
    assert loaded == 1 + 2 + 3 + 4 + 5


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
    assert (quarantined(con), ledger(con)) == ([], [])


def test_an_optional_folder_gone_after_a_load_keeps_its_table_and_reports_its_files(con, raw_dir):
    path = write_csv(raw_dir / "items" / "items.csv", "item_id,item_name", "I1,Widget")
    load(con, raw_dir, "items")
    path.unlink()
    path.parent.rmdir()
    result = load(con, raw_dir, "items", loaded_at=LOADED_AT + dt.timedelta(days=1))
    assert result == LoadResult(
        "items", "raw.items", files=(), loaded=(), unchanged=(), missing=("items.csv",)
    )
    assert con.execute("select * exclude (_loaded_at) from raw.items").fetchall() == [
        ("I1", "Widget", None, "items.csv", 2)
    ]
    assert ledger(con) == [("items.csv", 1, 1, 0, LOADED_AT + dt.timedelta(days=1))]


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
    write_csv(
        raw_dir / "orders" / "a.csv",
        HEADER,
        "A1,2024-03-01,C1,I1,1,5,,",
        "A2,2024-03-01,C1,I1,1,5,,sale",
    )
    path = write_csv(raw_dir / "orders" / "b.csv", "order_id,order_date", "B1,2024-03-02")
    write_csv(raw_dir / "orders" / "c.csv", HEADER, "C1,2024-03-03,C1,I1,1,5,,")
    assert load_error(con, raw_dir, settings=LOOSE) == (
        f"{path}: missing required column(s) customer_id, item_id, quantity, amount "
        "(header has: order_id, order_date)"
    )
    # a.csv was committed before b.csv failed; b.csv and c.csv loaded nothing.
    assert orders(con, "order_id, _source_file, _source_line") == [("A1", "a.csv", 2)]
    assert quarantined(con) == [
        (
            "orders",
            "a.csv",
            3,
            record("A2", "2024-03-01", "C1", "I1", "1", "5", None, "sale"),
            "invalid_order_type",
            f"column order_type: has 'sale', expected {ORDERS_ALLOWED}",
        )
    ]
    assert ledger(con) == [("a.csv", 2, 1, 1, None)]

    write_csv(path, HEADER, "B1,2024-03-02,C1,I1,1,5,,")
    result = load(con, raw_dir, settings=LOOSE)
    assert result == LoadResult(
        entity="orders",
        table="raw.orders",
        files=("a.csv", "b.csv", "c.csv"),
        loaded=(FileLoad("b.csv", 1, 1, 0), FileLoad("c.csv", 1, 1, 0)),
        unchanged=("a.csv",),
        missing=(),
    )
    assert orders(con, "order_id, _source_file") == [
        ("A1", "a.csv"),
        ("B1", "b.csv"),
        ("C1", "c.csv"),
    ]
    assert ledger(con) == [
        ("a.csv", 2, 1, 1, None),
        ("b.csv", 1, 1, 0, None),
        ("c.csv", 1, 1, 0, None),
    ]


def test_loading_the_same_files_again_reads_nothing_and_changes_nothing(con, raw_dir):
    write_csv(raw_dir / "orders" / "a.csv", HEADER, "A1,2024-03-01,C1,I1,1,5,,")
    write_csv(raw_dir / "orders" / "b.csv", HEADER, "B1,2024-03-02,C1,I1,1,5,,", "B1,x,C1,I1,1,5,,")
    first = load(con, raw_dir, settings=LOOSE)
    assert first.loaded == (FileLoad("a.csv", 1, 1, 0), FileLoad("b.csv", 2, 1, 1))
    tables = (
        orders(con, "*"),
        con.execute("select * from raw.rejected_rows order by source_line").fetchall(),
        con.execute("select * from raw.load_ledger order by source_file").fetchall(),
    )

    again = load(con, raw_dir, settings=LOOSE, loaded_at=LOADED_AT + dt.timedelta(days=1))

    assert again == LoadResult(
        entity="orders",
        table="raw.orders",
        files=("a.csv", "b.csv"),
        loaded=(),
        unchanged=("a.csv", "b.csv"),
        missing=(),
    )
    assert (again.row_count, again.quarantined_count, again.rows_per_file) == (0, 0, {})
    assert (
        orders(con, "*"),
        con.execute("select * from raw.rejected_rows order by source_line").fetchall(),
        con.execute("select * from raw.load_ledger order by source_file").fetchall(),
    ) == tables


def test_a_file_changed_under_the_same_name_replaces_what_it_loaded(con, raw_dir):
    path = write_csv(
        raw_dir / "orders" / "a.csv",
        HEADER,
        "A1,2024-03-01,C1,I1,1,5,,",
        "A2,2024-03-0x,C1,I1,1,5,,",
    )
    write_csv(raw_dir / "orders" / "b.csv", HEADER, "B1,2024-03-02,C1,I1,1,5,,")
    load(con, raw_dir, settings=LOOSE)
    assert quarantined(con) == [
        (
            "orders",
            "a.csv",
            3,
            record("A2", "2024-03-0x", "C1", "I1", "1", "5", None, None),
            "invalid_date",
            f"column order_date: has '2024-03-0x', expected {DATE_EXPECTED}",
        )
    ]
    before = path.stat()
    # The same size: only the content hash tells the new version from the old, and the new
    # modification time makes the loader look at it.
    write_csv(path, HEADER, "A1,2024-03-01,C1,I1,1,7,,", "A3,2024-03-01,C1,I1,1,y,,")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    assert path.stat().st_size == before.st_size
    later = LOADED_AT + dt.timedelta(days=1)

    result = load(con, raw_dir, settings=LOOSE, loaded_at=later)

    assert (result.loaded, result.unchanged, result.missing) == (
        (FileLoad("a.csv", 2, 1, 1),),
        ("b.csv",),
        (),
    )
    assert orders(con, "order_id, amount, _source_file, _source_line, _loaded_at") == [
        ("B1", Decimal(5), "b.csv", 2, LOADED_AT),
        ("A1", Decimal(7), "a.csv", 2, later),
    ]
    assert quarantined(con) == [
        (
            "orders",
            "a.csv",
            3,
            record("A3", "2024-03-01", "C1", "I1", "1", "y", None, None),
            "invalid_number",
            f"column amount: has 'y', expected {NUMBER_EXPECTED}",
        )
    ]
    assert full_ledger(con)[0] == (
        "orders",
        "a.csv",
        before.st_size,
        before.st_mtime_ns + 1_000_000_000,
        hashlib.sha256(path.read_bytes()).hexdigest(),
        "{}",
        2,
        1,
        1,
        later,
        None,
    )
    assert full_ledger(con)[1][1:] == (
        "b.csv",
        (raw_dir / "orders" / "b.csv").stat().st_size,
        (raw_dir / "orders" / "b.csv").stat().st_mtime_ns,
        hashlib.sha256((raw_dir / "orders" / "b.csv").read_bytes()).hexdigest(),
        "{}",
        1,
        1,
        0,
        LOADED_AT,
        None,
    )


def test_a_file_touched_without_a_change_is_not_read_again(con, raw_dir):
    path = write_csv(raw_dir / "orders" / "a.csv", HEADER, "A1,2024-03-01,C1,I1,1,5,,")
    load(con, raw_dir)
    before = path.stat()
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    result = load(con, raw_dir, loaded_at=LOADED_AT + dt.timedelta(days=1))
    assert (result.loaded, result.unchanged) == ((), ("a.csv",))
    assert con.execute("select modified_at_ns, loaded_at from raw.load_ledger").fetchall() == [
        (before.st_mtime_ns + 1_000_000_000, LOADED_AT)
    ]
    assert orders(con, "order_id, _loaded_at") == [("A1", LOADED_AT)]


def test_a_file_gone_from_the_folder_keeps_its_rows_and_is_reported(con, raw_dir):
    first = write_csv(
        raw_dir / "orders" / "a.csv",
        HEADER,
        "A1,2024-03-01,C1,I1,1,5,,",
        "A2,2024-03-01,,I1,1,5,,",
    )
    write_csv(raw_dir / "orders" / "b.csv", HEADER, "B1,2024-03-02,C1,I1,1,5,,")
    load(con, raw_dir, settings=LOOSE)
    kept = first.read_bytes()
    first.unlink()
    gone_at = LOADED_AT + dt.timedelta(days=1)
    result = load(con, raw_dir, settings=LOOSE, loaded_at=gone_at)
    assert result == LoadResult(
        entity="orders",
        table="raw.orders",
        files=("b.csv",),
        loaded=(),
        unchanged=("b.csv",),
        missing=("a.csv",),
    )
    assert orders(con, "order_id, _source_file") == [("A1", "a.csv"), ("B1", "b.csv")]
    assert quarantined(con) == [
        (
            "orders",
            "a.csv",
            3,
            record("A2", "2024-03-01", None, "I1", "1", "5", None, None),
            "missing_required_value",
            "column customer_id: is empty, expected a value",
        )
    ]
    assert ledger(con) == [("a.csv", 2, 1, 1, gone_at), ("b.csv", 1, 1, 0, None)]

    # Still gone a day later: reported again, missing since the first run that missed it.
    still = load(con, raw_dir, settings=LOOSE, loaded_at=gone_at + dt.timedelta(days=1))
    assert still.missing == ("a.csv",)
    assert ledger(con) == [("a.csv", 2, 1, 1, gone_at), ("b.csv", 1, 1, 0, None)]

    first.write_bytes(kept)
    back = load(con, raw_dir, settings=LOOSE)
    assert (back.loaded, back.unchanged, back.missing) == ((), ("a.csv", "b.csv"), ())
    assert ledger(con) == [("a.csv", 2, 1, 1, None), ("b.csv", 1, 1, 0, None)]
    assert len(quarantined(con)) == 1


def test_a_file_back_with_other_content_is_loaded_again(con, raw_dir):
    path = write_csv(raw_dir / "orders" / "a.csv", HEADER, "A1,2024-03-01,C1,I1,1,5,,")
    write_csv(raw_dir / "orders" / "b.csv", HEADER, "B1,2024-03-02,C1,I1,1,5,,")
    load(con, raw_dir)
    path.unlink()
    assert load(con, raw_dir).missing == ("a.csv",)
    write_csv(path, HEADER, "A9,2024-03-09,C1,I1,1,5,,", "A8,2024-03-08,C1,I1,1,5,,")
    result = load(con, raw_dir)
    assert (result.loaded, result.unchanged, result.missing) == (
        (FileLoad("a.csv", 2, 2, 0),),
        ("b.csv",),
        (),
    )
    assert con.execute(
        "select order_id, _source_file, _source_line from raw.orders order by all"
    ).fetchall() == [("A8", "a.csv", 3), ("A9", "a.csv", 2), ("B1", "b.csv", 2)]
    assert ledger(con) == [("a.csv", 2, 2, 0, None), ("b.csv", 1, 1, 0, None)]


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


def test_a_file_that_is_not_utf8_names_the_line_field_and_byte_offset(con, raw_dir):
    path = raw_dir / "orders" / "a.csv"
    path.parent.mkdir(parents=True)
    header = b"order_id,order_date,customer_id,item_id,quantity,amount\n"
    # A Latin-1 e-acute far past the first read buffer: the offset is counted across chunks.
    filler = b"".join(b"%d,2024-03-01,C1,I1,1,5\n" % i for i in range(100_000))
    path.write_bytes(header + filler + b"x,2024-03-01,C\xe9,I1,1,5\n")
    offset = len(header) + len(filler) + len(b"x,2024-03-01,C")
    assert load_error(con, raw_dir) == (
        f"{path}: is not UTF-8: line 100002, field 3, byte offset {offset} (invalid continuation "
        f"byte); save it as UTF-8, or name its encoding in {path.parent / '_mapping.toml'} (it "
        'may be Windows-1252: encoding = "windows-1252", docs/extract-mapping.md)'
    )


def test_a_utf8_byte_order_mark_does_not_hide_the_first_column(con, raw_dir):
    path = raw_dir / "orders" / "a.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(
        "\ufefforder_id,order_date,customer_id,item_id,quantity,amount\n1,2024-03-01,C1,I1,1,5\n".encode()
    )
    load(con, raw_dir)
    assert orders(con, "order_id, _source_line") == [("1", 2)]


def test_a_line_repeating_an_earlier_one_is_quarantined_and_the_first_stays(con, raw_dir):
    write_csv(
        raw_dir / "orders" / "a.csv",
        HEADER,
        "A1,2024-03-01,C1,I1,1,5,,",
        "A2,2024-03-01,C1,I1,1,5,,",
        "A1,2024-03-01,C1,I1,1,5,,",
        "A1 ,2024-03-01,C1,I1,1,5,,",  # not the same text: loads, as another A1 line
        "A1,2024-03-01,C1,I1,1,5,,",
        "A9,2024-03-0x,C1,I1,1,5,,",
        "A9,2024-03-0x,C1,I1,1,5,,",
    )
    # The same line in another file is no duplicate: a later file may re-send an order.
    write_csv(raw_dir / "orders" / "b.csv", HEADER, "A1,2024-03-01,C1,I1,1,5,,")
    result = load(con, raw_dir, settings=LOOSE)
    assert result.loaded == (FileLoad("a.csv", 7, 3, 4), FileLoad("b.csv", 1, 1, 0))
    assert orders(con, "order_id, _source_file, _source_line") == [
        ("A1", "a.csv", 2),
        ("A2", "a.csv", 3),
        ("A1", "a.csv", 5),
        ("A1", "b.csv", 2),
    ]
    a1 = record("A1", "2024-03-01", "C1", "I1", "1", "5", None, None)
    a9 = record("A9", "2024-03-0x", "C1", "I1", "1", "5", None, None)
    bad_date = f"column order_date: has '2024-03-0x', expected {DATE_EXPECTED}"
    assert quarantined(con) == [
        ("orders", "a.csv", 4, a1, "duplicate_line", "the same values as line 2"),
        ("orders", "a.csv", 6, a1, "duplicate_line", "the same values as line 2"),
        ("orders", "a.csv", 7, a9, "invalid_date", bad_date),
        ("orders", "a.csv", 8, a9, "invalid_date", f"{bad_date}; the same values as line 7"),
    ]
    assert quarantine_counts(con, ENTITIES["orders"]) == {"duplicate_line": 2, "invalid_date": 2}


def test_an_order_dated_after_the_load_date_plus_the_tolerance_is_quarantined(con, raw_dir):
    write_csv(
        raw_dir / "orders" / "a.csv",
        HEADER,
        "A1,2024-07-03,C1,I1,1,5,,",
        "A2,2024-07-04,C1,I1,1,5,,",
        "A3,2024-07-03 23:59:59,C1,I1,1,5,,",  # no offset: the date as written
        "A4,2024-07-03T23:30:00-05:00,C1,I1,1,5,,",  # 2024-07-04 04:30 UTC
        "A5,2024-07-09,,I1,1,5,,",
    )
    settings = LoadSettings(max_quarantine_share=1.0, future_order_tolerance_days=2)
    # 22:00 UTC on 2024-07-01 is still 2024-07-01 in UTC: the latest date allowed is 2024-07-03.
    loaded_at = dt.datetime(2024, 7, 1, 22, 0, tzinfo=dt.UTC)
    result = load(con, raw_dir, settings=settings, loaded_at=loaded_at)
    assert result.loaded == (FileLoad("a.csv", 5, 2, 3),)
    assert orders(con, "order_id, order_date, _source_line") == [
        ("A1", D("2024-07-03"), 2),
        ("A3", D("2024-07-03"), 4),
    ]
    tolerance = "the load date 2024-07-01 plus 2 day(s) of tolerance"
    assert quarantined(con) == [
        (
            "orders",
            "a.csv",
            3,
            record("A2", "2024-07-04", "C1", "I1", "1", "5", None, None),
            "order_date_in_future",
            f"column order_date: 2024-07-04 is after 2024-07-03, {tolerance}",
        ),
        (
            "orders",
            "a.csv",
            5,
            record("A4", "2024-07-03T23:30:00-05:00", "C1", "I1", "1", "5", None, None),
            "order_date_in_future",
            f"column order_date: 2024-07-04 is after 2024-07-03, {tolerance}",
        ),
        (
            "orders",
            "a.csv",
            6,
            record("A5", "2024-07-09", None, "I1", "1", "5", None, None),
            "missing_required_value",
            "column customer_id: is empty, expected a value; "
            f"column order_date: 2024-07-09 is after 2024-07-03, {tolerance}",
        ),
    ]


def test_the_load_date_is_the_business_date_in_its_time_zone(con, raw_dir):
    write_csv(
        raw_dir / "orders" / "a.csv",
        HEADER,
        "A1,2024-07-02,C1,I1,1,5,,",
        "A2,2024-07-03,C1,I1,1,5,,",
        "A3,2024-07-02T13:00:00Z,C1,I1,1,5,,",  # 2024-07-03 01:00 in Auckland
    )
    settings = LoadSettings(
        max_quarantine_share=1.0, future_order_tolerance_days=0, timezone="Pacific/Auckland"
    )
    # 18:00 UTC on 2024-07-01 is 06:00 on 2024-07-02 in Auckland.
    loaded_at = dt.datetime(2024, 7, 1, 18, 0, tzinfo=dt.UTC)
    result = load(con, raw_dir, settings=settings, loaded_at=loaded_at)
    assert result.loaded == (FileLoad("a.csv", 3, 1, 2),)
    assert orders(con, "order_id, order_date") == [("A1", D("2024-07-02"))]
    tolerance = "the load date 2024-07-02 plus 0 day(s) of tolerance"
    assert [row[2:] for row in quarantined(con)] == [
        (
            3,
            record("A2", "2024-07-03", "C1", "I1", "1", "5", None, None),
            "order_date_in_future",
            f"column order_date: 2024-07-03 is after 2024-07-02, {tolerance}",
        ),
        (
            4,
            record("A3", "2024-07-02T13:00:00Z", "C1", "I1", "1", "5", None, None),
            "order_date_in_future",
            f"column order_date: 2024-07-03 is after 2024-07-02, {tolerance}",
        ),
    ]


def test_records_with_the_wrong_number_of_fields_are_quarantined_with_their_lines(con, raw_dir):
    write_csv(
        raw_dir / "orders" / "a.csv",
        HEADER,
        'A1,2024-03-01,"C1',
        'second line",I1,1,5,,',
        "",
        "A2,2024-03-01,C1,I1,1,5,",
        "A3,2024-03-01,C1,I1,1,5,,invoice,extra",
        "A4,2024-03-01,C1,I1,1,5,,",
    )
    result = load(con, raw_dir, settings=LOOSE)
    assert result.loaded == (FileLoad("a.csv", 4, 2, 2),)
    assert orders(con, "order_id, customer_id, _source_line") == [
        ("A1", "C1\nsecond line", 2),
        ("A4", "C1", 7),
    ]
    assert quarantined(con) == [
        (
            "orders",
            "a.csv",
            5,
            '["A2", "2024-03-01", "C1", "I1", "1", "5", ""]',
            "wrong_field_count",
            "expected 8 fields, found 7",
        ),
        (
            "orders",
            "a.csv",
            6,
            '["A3", "2024-03-01", "C1", "I1", "1", "5", "", "invoice", "extra"]',
            "wrong_field_count",
            "expected 8 fields, found 9",
        ),
    ]
    assert quarantine_counts(con, ENTITIES["orders"]) == {"wrong_field_count": 2}
    assert reconcile(con, ENTITIES["orders"]) == [("a.csv", 4, 2, 2)]


def test_a_record_two_fields_short_is_quarantined(con, raw_dir):
    write_csv(
        raw_dir / "orders" / "a.csv",
        HEADER,
        "A1,2024-03-01,C1,I1,1,5,,",
        "A2,2024-03-01,C1,I1,1,5",
    )
    result = load(con, raw_dir, settings=LOOSE)
    assert result.loaded == (FileLoad("a.csv", 2, 1, 1),)
    assert quarantined(con) == [
        (
            "orders",
            "a.csv",
            3,
            '["A2", "2024-03-01", "C1", "I1", "1", "5"]',
            "wrong_field_count",
            "expected 8 fields, found 6",
        )
    ]


@pytest.mark.parametrize("blank_line", [False, True], ids=["alone", "after_a_blank_line"])
def test_a_trailing_delimiter_is_read_as_no_extra_field(con, raw_dir, blank_line):
    """A trailing comma, common in exports, adds no field: the record loads, whether or not the
    file also makes the loader count lines record by record."""
    write_csv(
        raw_dir / "orders" / "a.csv",
        HEADER,
        "A1,2024-03-01,C1,I1,1,5,,",
        *([""] if blank_line else []),
        "A2,2024-03-01,C1,I1,1,5,,invoice,",
    )
    line = 4 if blank_line else 3
    result = load(con, raw_dir, settings=LOOSE)
    assert result.loaded == (FileLoad("a.csv", 2, 2, 0),)
    assert orders(con, "order_id, order_type, _source_line") == [
        ("A1", None, 2),
        ("A2", "invoice", line),
    ]
    assert quarantined(con) == []


def test_reconcile_accounts_for_every_row_read_per_file(con, raw_dir):
    orders_entity = ENTITIES["orders"]
    write_csv(
        raw_dir / "orders" / "a.csv",
        HEADER,
        "A1,2024-03-01,C1,I1,1,5,,",
        "A2,2024-03-01,C1,I1,1,x,,",
        "A3,2024-03-01,C1,I1,1,5,,",
        "A4,2024-03-01,C1,I1,1,5,",
    )
    write_csv(raw_dir / "orders" / "b.csv", HEADER, "B1,2024-03-02,C1,I1,1,5,,")
    write_csv(raw_dir / "orders" / "c.csv", HEADER)
    result = load(con, raw_dir, settings=LOOSE)
    assert result.loaded == (
        FileLoad("a.csv", 4, 2, 2),
        FileLoad("b.csv", 1, 1, 0),
        FileLoad("c.csv", 0, 0, 0),
    )
    assert (result.row_count, result.quarantined_count) == (3, 2)
    assert reconcile(con, orders_entity) == [
        ("a.csv", 4, 2, 2),
        ("b.csv", 1, 1, 0),
        ("c.csv", 0, 0, 0),
    ]
    assert all(
        read == kept + put_aside for _, read, kept, put_aside in reconcile(con, orders_entity)
    )

    # Rows that went astray show as a difference: a lost row, and rows of a file never read.
    con.execute("delete from raw.orders where order_id = 'B1'")
    con.execute(
        "insert into raw.orders (order_id, order_date, customer_id, item_id, quantity, amount, "
        "_source_file, _source_line, _loaded_at) "
        "values ('S1', date '2024-03-01', 'C1', 'I1', 1, 5, 's.csv', 2, now())"
    )
    assert reconcile(con, orders_entity) == [
        ("a.csv", 4, 2, 2),
        ("b.csv", 1, 0, 0),
        ("c.csv", 0, 0, 0),
        ("s.csv", 0, 1, 0),
    ]


def test_quarantine_counts_are_per_entity_and_rule(con, raw_dir):
    write_csv(
        raw_dir / "orders" / "a.csv",
        HEADER,
        "A1,2024-03-01,C1,I1,1,5,,",
        "A2,2024-03-01,C1,I1,1,x,,",
        "A3,2024-03-01,C1,I1,1,y,,",
        "A4,2024-03-01,,I1,1,z,,",
        "A1,2024-03-01,C1,I1,1,5,,",
        "A5,2024-03-01,C1,I1,1,5,",
    )
    write_csv(
        raw_dir / "customers" / "customers.csv",
        "customer_id,billing_cycle",
        "C1,monthly",
        "C2,daily",
    )
    load(con, raw_dir, "items", settings=LOOSE)  # no items folder: empty tables
    assert quarantine_counts(con, ENTITIES["orders"]) == {}
    load(con, raw_dir, settings=LOOSE)
    load(con, raw_dir, "customers", settings=LOOSE)
    assert quarantine_counts(con, ENTITIES["orders"]) == {
        "duplicate_line": 1,
        "invalid_number": 2,
        "missing_required_value": 1,
        "wrong_field_count": 1,
    }
    assert quarantine_counts(con, ENTITIES["customers"]) == {"invalid_billing_cycle": 1}
    assert quarantine_counts(con, ENTITIES["items"]) == {}


def test_the_raw_tables_declare_required_and_lineage_columns_not_null(con, raw_dir):
    write_csv(raw_dir / "orders" / "a.csv", HEADER, "A1,2024-03-01,C1,I1,2,10.50,,")
    load(con, raw_dir)
    not_null = {
        name
        for (name,) in con.execute(
            "select column_name from duckdb_columns() "
            "where schema_name = 'raw' and table_name = 'orders' and not is_nullable"
        ).fetchall()
    }
    assert not_null == {
        "order_id", "order_date", "customer_id", "item_id", "quantity", "amount",
        "_source_file", "_source_line", "_loaded_at",
    }  # fmt: skip


def test_a_csv_whose_line_endings_change_half_way_loads_with_its_lines(con, raw_dir):
    path = raw_dir / "orders" / "a.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(
        f"{HEADER}\r\n".encode()
        + b"A1,2024-03-01,C1,I1,1,5,,\r\n"
        + b"A2,2024-03-01,C1,I1,2,5,,\r\n"
        + b"\n"
        + b"A3,2024-03-01,C1,I1,3,5,,\n"
        + b"A4,2024-03-01,C1\n"
        + b'A5,2024-03-01,C1,"I\r\n5",4,5,,\n'
    )
    result = load(con, raw_dir, settings=LOOSE)
    assert result.loaded == (FileLoad("a.csv", 5, 4, 1),)
    assert orders(con, "order_id, item_id, quantity, _source_line") == [
        ("A1", "I1", Decimal("1"), 2),
        ("A2", "I1", Decimal("2"), 3),
        ("A3", "I1", Decimal("3"), 5),
        ("A5", "I\r\n5", Decimal("4"), 7),
    ]
    assert [row[2:5] for row in quarantined(con)] == [
        (6, '["A4", "2024-03-01", "C1"]', "wrong_field_count")
    ]


def test_the_copy_with_one_line_ending_keeps_a_crlf_split_by_a_megabyte_boundary_whole(raw_dir):
    """The copy DuckDB reads of a file whose line endings change is written a megabyte at a
    time: a CRLF across two megabytes is one line ending, a CRLF in quotes part of a value."""
    first = f"{HEADER}\r\n".encode()
    # The second record's CR is the last byte of the first megabyte, its LF the first of the next.
    padding = (1 << 20) - len(first) - len(b"A1,2024-03-01,C1,,1,5,,\r")
    lines = first + f"A1,2024-03-01,C1,{'I' * padding},1,5,,\r\n".encode()
    assert lines[(1 << 20) - 1 : (1 << 20) + 1] == b"\r\n"
    path = raw_dir / "orders" / "a.csv.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(lines + b'A2,2024-03-01,C1,"I\r\n2",1,5,,\n'))
    assert _scan_csv(path) == (4, True)
    with _readable_by_duckdb(path, True, "utf-8") as copy:
        assert copy.read_bytes() == (
            lines.replace(b"\r\n", b"\n") + b'A2,2024-03-01,C1,"I\r\n2",1,5,,\n'
        )
