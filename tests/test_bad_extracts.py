"""The corpus of bad and awkward extract files (tests/fixtures/bad_extracts/), each with the exact
outcome a user gets: rows loaded, rows quarantined with their rule and message, or one error.

Each file is loaded alone as an orders extract on 2024-07-01, with the quarantine share limit
lifted so that every quarantined row shows (the limit has tests of its own), and checked with
the reconciliation: rows read = rows loaded + rows quarantined.
"""

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from dagster_project.extracts import ENTITIES, ExtractError, LoadSettings, load_entity, reconcile

CORPUS = Path(__file__).parent / "fixtures" / "bad_extracts"
LOADED_AT = dt.datetime(2024, 7, 1, 6, 0, tzinfo=dt.UTC)
DATE = "expected a date such as 2024-03-01 (or a timestamp whose date part counts)"
NUMBER = (
    "expected a number with at most 14 digits before the point and 4 after it, such as 12.50 or -3"
)
ORDER_TYPES = "expected one of invoice, sales_receipt, credit_memo, refund, void"
EARLIEST = "is before 1900-01-01, the earliest order date allowed (EARLIEST_ORDER_DATE)"


@dataclass(frozen=True)
class Loaded:
    """The file loads: these (order_id, order_date, line) rows, and these quarantined ones."""

    rows: list[tuple[str, str, int]]
    quarantined: list[tuple[int, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Fails:
    """The file is refused with this message ({path} is the file, {folder} its folder); nothing
    of it loads."""

    message: str


ONE = ("1", "2024-03-01", 2)

OUTCOMES = {
    # Values that break the contract: the row is quarantined, the others load.
    "bad_date.csv": Loaded(
        [ONE], [(3, "invalid_date", f"column order_date: has '2024-02-30', {DATE}")]
    ),
    "date_in_us_format.csv": Loaded(
        [ONE], [(3, "invalid_date", f"column order_date: has '03/01/2024', {DATE}")]
    ),
    "decimal_comma.csv": Loaded(
        [ONE], [(3, "invalid_number", f"column amount: has '12,50', {NUMBER}")]
    ),
    "currency_symbol_in_amount.csv": Loaded(
        [ONE], [(3, "invalid_number", f"column amount: has '$12.50', {NUMBER}")]
    ),
    "amount_with_five_decimals.csv": Loaded(
        [ONE], [(3, "invalid_number", f"column amount: has '12.34567', {NUMBER}")]
    ),
    "empty_order_id.csv": Loaded(
        [ONE],
        [(3, "missing_required_value", "column order_id: is empty, expected a value")],
    ),
    "customer_id_only_spaces.csv": Loaded(
        [ONE],
        [(3, "missing_required_value", "column customer_id: is empty, expected a value")],
    ),
    "unknown_order_type.csv": Loaded(
        [ONE], [(3, "invalid_order_type", f"column order_type: has 'sale', {ORDER_TYPES}")]
    ),
    "fractional_line_number.csv": Loaded(
        [ONE],
        [(3, "invalid_integer", "column line_number: has '1.5', expected a whole number")],
    ),
    "two_problems_in_one_row.csv": Loaded(
        [ONE],
        [
            (
                3,
                "invalid_date",
                f"column order_date: has '2024-13-01', {DATE}; column amount: has 'ten', {NUMBER}",
            )
        ],
    ),
    "order_dated_in_the_future.csv": Loaded(
        [ONE, ("2", "2024-07-02", 3)],
        [
            (
                4,
                "order_date_in_future",
                "column order_date: 2024-07-03 is after 2024-07-02, the load date 2024-07-01 "
                "plus 1 day(s) of tolerance",
            )
        ],
    ),
    "order_dated_before_1900.csv": Loaded(
        [ONE, ("5", "1900-01-01", 6)],
        [
            (line, "order_date_too_early", f"column order_date: '{date}' {EARLIEST}")
            for line, date in [(3, "0001-01-01"), (4, "0000-01-01"), (5, "1899-12-31")]
        ],
    ),
    "order_naming_two_customers.csv": Loaded(
        [ONE],
        [
            (
                line,
                "order_names_two_customers",
                "order 2 names 2 customers in order_naming_two_customers.csv: C1, C2 (every line "
                "of an order must name one customer; all its lines are quarantined)",
            )
            for line in (3, 4)
        ],
    ),
    "duplicate_identical_lines.csv": Loaded(
        [ONE, ("1", "2024-03-01", 4)], [(3, "duplicate_line", "the same values as line 2")]
    ),
    # Records with the wrong number of fields: quarantined with their line.
    "too_few_fields.csv": Loaded(
        [ONE, ("3", "2024-03-01", 4)],
        [(3, "wrong_field_count", "expected 7 fields, found 6")],
    ),
    "too_many_fields.csv": Loaded([ONE], [(3, "wrong_field_count", "expected 7 fields, found 8")]),
    # Awkward but valid: everything loads, with the lines as they stand in the file.
    "order_type_in_other_case.csv": Loaded([ONE, ("2", "2024-03-01", 3)]),
    "blank_lines_between_rows.csv": Loaded([ONE, ("2", "2024-03-01", 5)]),
    "quoted_value_spanning_lines.csv": Loaded([ONE, ("2", "2024-03-01", 4)]),
    "crlf_line_endings.csv": Loaded([ONE, ("2", "2024-03-01", 3)]),
    "utf8_byte_order_mark.csv": Loaded([ONE]),
    "id_starting_with_hash.csv": Loaded([("#1001", "2024-03-01", 2), ("1002", "2024-03-01", 3)]),
    "ids_with_leading_zeros.csv": Loaded([("00042", "2024-03-01", 2)]),
    "timestamps_with_offsets.csv": Loaded([ONE, ("2", "2024-03-02", 3)]),
    "header_only.csv": Loaded([]),
    # File-level problems: one error naming the file, nothing of it loaded.
    "empty_file.csv": Fails("{path}: is empty; expected a header row"),
    "missing_required_column.csv": Fails(
        "{path}: missing required column(s) item_id "
        "(header has: order_id, order_date, customer_id, quantity, amount)"
    ),
    "two_headers_for_one_column.csv": Fails(
        "{path}: columns 'order_id' and 'Order_ID ' both map onto 'order_id'; keep one of them"
    ),
    "semicolon_delimited.csv": Fails(
        "{path}: the header looks separated by ';'; name the delimiter in {folder}/_mapping.toml: "
        'delimiter = ";" (and decimal_separator = "," for numbers written 12,50; '
        "docs/extract-mapping.md)"
    ),
    "title_line_before_header.csv": Fails(
        "{path}: missing required column(s) order_id, order_date, customer_id, item_id, "
        "quantity, amount (header has: Sales by Customer Detail); if the export names them "
        "otherwise or has lines above its header, say so in {folder}/_mapping.toml "
        "(docs/extract-mapping.md)"
    ),
    "latin1_encoded.csv": Fails(
        "{path}: is not UTF-8: line 2, field 3, byte offset 83 (invalid continuation byte); "
        "save it as UTF-8, or name its encoding in {folder}/_mapping.toml (it may be "
        'Windows-1252: encoding = "windows-1252", docs/extract-mapping.md)'
    ),
    "unterminated_quote.csv": Fails(
        "{path}: cannot be read as CSV: line 3: unexpected end of data"
    ),
    "not_really_parquet.parquet": Fails(
        "{path}: cannot be read as Parquet: Invalid Input Error: "
        "No magic bytes found at end of file '{path}'"
    ),
}


def test_every_corpus_file_has_an_outcome():
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(OUTCOMES)
    assert len(OUTCOMES) >= 25


@pytest.mark.parametrize("name", sorted(OUTCOMES))
def test_corpus_file(name, tmp_path):
    path = tmp_path / "orders" / name
    path.parent.mkdir()
    shutil.copy(CORPUS / name, path)
    outcome = OUTCOMES[name]
    settings = LoadSettings(max_quarantine_share=1.0, future_order_tolerance_days=1)
    with duckdb.connect() as con:
        if isinstance(outcome, Fails):
            with pytest.raises(ExtractError) as raised:
                load_entity(con, ENTITIES["orders"], tmp_path, LOADED_AT, settings)
            assert str(raised.value) == outcome.message.format(path=path, folder=path.parent)
            assert con.execute("select count(*) from raw.load_ledger").fetchone() == (0,)
            assert con.execute("select count(*) from raw.orders").fetchone() == (0,)
            return
        load_entity(con, ENTITIES["orders"], tmp_path, LOADED_AT, settings)
        rows = con.execute(
            "select order_id, order_date::varchar, _source_line from raw.orders order by rowid"
        ).fetchall()
        quarantined = con.execute(
            "select source_line, rule, message from raw.rejected_rows order by source_line"
        ).fetchall()
        assert rows == outcome.rows
        assert quarantined == outcome.quarantined
        read = len(outcome.rows) + len(outcome.quarantined)
        assert reconcile(con, ENTITIES["orders"]) == [
            (name, read, len(outcome.rows), len(outcome.quarantined))
        ]


@pytest.mark.parametrize(
    ("timezone", "dates"),
    [
        ("UTC", ["2024-03-01", "2024-03-02", "2024-03-01", "2024-03-01"]),
        ("Europe/Berlin", ["2024-03-02", "2024-03-02", "2024-03-02", "2024-03-01"]),
        ("America/New_York", ["2024-03-01", "2024-03-01", "2024-03-01", "2024-03-01"]),
    ],
)
def test_timestamps_with_an_offset_count_on_the_business_date(tmp_path, timezone, dates):
    """An instant counts on the date it falls on in BUSINESS_TIMEZONE; a timestamp without an
    offset is already the business's local time and keeps its date."""
    path = tmp_path / "orders" / "orders.csv"
    path.parent.mkdir()
    path.write_text(
        "order_id,order_date,customer_id,item_id,quantity,amount\n"
        "1,2024-03-01T23:30:00Z,C1,I1,1,5\n"
        "2,2024-03-01T23:30:00-05:00,C1,I1,1,5\n"
        "3,2024-03-02T01:00:00+02:00,C1,I1,1,5\n"
        "4,2024-03-01 23:30:00,C1,I1,1,5\n"
    )
    with duckdb.connect() as con:
        load_entity(con, ENTITIES["orders"], tmp_path, LOADED_AT, LoadSettings(timezone=timezone))
        assert con.execute(
            "select order_date::varchar from raw.orders order by order_id"
        ).fetchall() == [(d,) for d in dates]


def test_an_unknown_time_zone_is_refused_by_name():
    with pytest.raises(ValueError) as raised:
        LoadSettings(timezone="Mars/Olympus")
    assert str(raised.value) == (
        "BUSINESS_TIMEZONE: 'Mars/Olympus' is not a time zone name such as Europe/Berlin or "
        "America/New_York"
    )


def test_the_earliest_order_date_is_configurable(tmp_path, monkeypatch):
    path = tmp_path / "orders" / "orders.csv"
    path.parent.mkdir()
    path.write_text(
        "order_id,order_date,customer_id,item_id,quantity,amount\n"
        "1,1999-12-31,C1,I1,1,5\n"
        "2,2000-01-01,C1,I1,1,5\n"
    )
    monkeypatch.setenv("EARLIEST_ORDER_DATE", "2000-01-01")
    monkeypatch.setenv("QUARANTINE_MAX_SHARE", "1")
    with duckdb.connect() as con:
        load_entity(con, ENTITIES["orders"], tmp_path, LOADED_AT, LoadSettings.from_env())
        assert con.execute("select order_id from raw.orders").fetchall() == [("2",)]
        assert con.execute(
            "select source_line, rule, message from raw.rejected_rows"
        ).fetchall() == [
            (
                2,
                "order_date_too_early",
                "column order_date: '1999-12-31' is before 2000-01-01, the earliest order date "
                "allowed (EARLIEST_ORDER_DATE)",
            )
        ]
    monkeypatch.setenv("EARLIEST_ORDER_DATE", "1.1.2000")
    with pytest.raises(ValueError) as raised:
        LoadSettings.from_env()
    assert str(raised.value) == "EARLIEST_ORDER_DATE: '1.1.2000' is not a date written YYYY-MM-DD"


def test_an_order_naming_two_customers_does_not_count_towards_the_quarantine_share(tmp_path):
    """It says that one order is wrong, not that the file was misread: the rest loads whatever
    the share of the order's lines."""
    path = tmp_path / "orders" / "orders.csv"
    path.parent.mkdir()
    path.write_text(
        "order_id,order_date,customer_id,item_id,quantity,amount\n"
        "1,2024-03-01,C1,I1,1,5\n"
        "2,2024-03-01,C1,I1,1,5\n"
        "2,2024-03-01,C2,I1,1,5\n"
        "3,2024-03-01,C3,I1,1,x\n"
    )
    with duckdb.connect() as con:
        # One line of four counts (25%): the order's two lines do not.
        load_entity(con, ENTITIES["orders"], tmp_path, LOADED_AT, LoadSettings(0.25))
        assert reconcile(con, ENTITIES["orders"]) == [("orders.csv", 4, 1, 3)]
        assert con.execute(
            "select source_line, rule from raw.rejected_rows order by source_line"
        ).fetchall() == [
            (3, "order_names_two_customers"),
            (4, "order_names_two_customers"),
            (5, "invalid_number"),
        ]
