"""Foreign extract headers mapped onto the contract by a folder's `_mapping.toml`, with the
shipped worked example (data/examples/sales_by_customer_detail)."""

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from dagster_project import settings
from dagster_project.extracts import ENTITIES, ExtractError, LoadSettings, load_entity

EXAMPLE = settings.REPO_ROOT / "data" / "examples" / "sales_by_customer_detail"
LOADED_AT = dt.datetime(2026, 11, 21, 6, 0, tzinfo=dt.UTC)


def load_orders(con, raw_dir: Path):
    return load_entity(con, ENTITIES["orders"], raw_dir, LOADED_AT, LoadSettings())


def test_the_worked_example_loads_every_line_onto_the_contract():
    with duckdb.connect() as con:
        result = load_orders(con, EXAMPLE)
        rows = con.execute(
            "select order_id, order_date::varchar, customer_id, item_id, quantity, amount, "
            "order_type, _source_line from raw.orders order by _source_line"
        ).fetchall()
    assert result.quarantined_count == 0
    d = Decimal
    assert rows == [
        ("1001", "2026-11-02", "Blue Bakery", "Coffee Filters", d(4), d(50), "invoice", 6),
        ("1001", "2026-11-02", "Blue Bakery", "Paper Cups", d(10), d(30), "invoice", 7),
        ("1002", "2026-11-09", "Cedar Clinic", "Nitrile Gloves", d(2), d(36), "sales_receipt", 8),
        ("1003", "2026-11-16", "Blue Bakery", "Paper Cups", d(-2), d(-6), "credit_memo", 9),
        ("1004", "2026-11-18", "Cedar Clinic", "Nitrile Gloves", d(-1), d(-18), "refund", 10),
    ]


def copy_example(tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    shutil.copytree(EXAMPLE, raw)
    return raw


def test_files_the_mapping_does_not_name_keep_the_contract_headers(tmp_path):
    raw = copy_example(tmp_path)
    (raw / "orders" / "orders_2026-11-20.csv").write_text(
        "order_id,order_date,customer_id,item_id,quantity,amount\nA1,2026-11-03,C9,I9,1,5\n"
    )
    with duckdb.connect() as con:
        result = load_orders(con, raw)
        assert [(f.source_file, f.rows_loaded) for f in result.loaded] == [
            ("orders_2026-11-20.csv", 1),
            ("sales_by_customer_detail_2026-11-20.csv", 5),
        ]


def test_a_value_the_mapping_does_not_know_is_quarantined_with_its_own_text(tmp_path):
    raw = copy_example(tmp_path)
    path = raw / "orders" / "sales_by_customer_detail_2026-11-20.csv"
    path.write_text(path.read_text().replace("Refund Receipt", "Estimate"), encoding="utf-8")
    with duckdb.connect() as con:
        load_entity(con, ENTITIES["orders"], raw, LOADED_AT, LoadSettings(max_quarantine_share=1))
        assert con.execute(
            "select source_line, rule, message from raw.rejected_rows"
        ).fetchall() == [
            (
                10,
                "invalid_order_type",
                "column order_type: has 'Estimate', expected one of invoice, sales_receipt, "
                "credit_memo, refund, void",
            )
        ]


def test_a_changed_mapping_reads_the_files_again(tmp_path):
    raw = copy_example(tmp_path)
    mapping = raw / "orders" / "_mapping.toml"
    with duckdb.connect() as con:
        load_orders(con, raw)
        assert load_orders(con, raw).loaded == ()
        mapping.write_text(
            mapping.read_text().replace(
                '"Sales Receipt" = "sales_receipt"', '"Sales Receipt" = "invoice"'
            )
        )
        (again,) = load_orders(con, raw).loaded
        assert again.rows_loaded == 5
        assert con.execute(
            "select order_type from raw.orders where order_id = '1002'"
        ).fetchall() == [("invoice",)]


def test_a_mapping_of_an_unknown_column_names_the_mapping_file(tmp_path):
    raw = copy_example(tmp_path)
    mapping = raw / "orders" / "_mapping.toml"
    mapping.write_text(mapping.read_text().replace('amount = "Amount"', 'price = "Amount"'))
    with duckdb.connect() as con, pytest.raises(ExtractError) as raised:
        load_orders(con, raw)
    assert str(raised.value) == (
        f"{mapping}, [[source]] number 1: maps unknown column(s) price; the orders columns are "
        "order_id, order_date, customer_id, item_id, quantity, amount, line_number, order_type"
    )


def test_a_mapped_header_missing_from_the_file_is_named_both_ways(tmp_path):
    raw = copy_example(tmp_path)
    path = raw / "orders" / "sales_by_customer_detail_2026-11-20.csv"
    path.write_text(path.read_text().replace(",Qty,", ",Quantity,"), encoding="utf-8")
    with duckdb.connect() as con, pytest.raises(ExtractError) as raised:
        load_orders(con, raw)
    assert str(raised.value) == (
        f"{path}: missing required column(s) quantity (mapped from 'Qty') (header has: Date, "
        "Transaction Type, Num, Customer, Product/Service, Memo/Description, Quantity, "
        "Sales Price, Amount)"
    )


SOURCE_KEYS = (
    "files, skip_lines, skip_last_lines, encoding, delimiter, decimal_separator, date_format, "
    "columns, values"
)


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "skip_lines = 4",
            'skip_lines = "four"',
            ", [[source]] number 1: skip_lines = 'four': expected a whole number of lines above "
            "the header row, 0 or more, written without quotes (skip_lines = 4)",
        ),
        (
            "skip_last_lines = 2",
            "skip_last_lines = -2",
            ", [[source]] number 1: skip_last_lines = -2: expected a whole number of lines below "
            "the data (totals, an export date), 0 or more, written without quotes "
            "(skip_last_lines = 2)",
        ),
        (
            "skip_lines = 4",
            'skip_lines = 4\nencoding = "ansi"',
            ", [[source]] number 1: encoding = 'ansi': not an encoding name; write it as Python "
            'names it, such as "windows-1252" or "latin-1"',
        ),
        (
            "skip_lines = 4",
            'skip_lines = 4\nencoding = "utf-16"',
            ", [[source]] number 1: encoding = 'utf-16': its files cannot be read line by line (it "
            "does not write ASCII as ASCII); save them as UTF-8",
        ),
        (
            "skip_lines = 4",
            'skip_lines = 4\ndelimiter = "semicolon"',
            ', [[source]] number 1: delimiter = \'semicolon\': expected one of ",", ";", '
            '"\\t" (a tab), "|"',
        ),
        (
            "skip_lines = 4",
            'skip_lines = 4\ndecimal_separator = ","',
            ', [[source]] number 1: decimal_separator = "," needs another delimiter than ","; a '
            'file with decimal commas is separated by ";" or tabs (delimiter = ";")',
        ),
        (
            'order_id = "Num"',
            "order_id = 3",
            ", [[source]] number 1: columns.order_id = 3: expected the file's header, in quotes "
            '(order_id = "Header in the file")',
        ),
        (
            "\n[[source]]\n",
            "\n[source]\n",
            ": source must be written [[source]] (with double brackets), one table per kind of "
            "export (see docs/extract-mapping.md)",
        ),
        (
            "\n[[source]]\n",
            "\n[[sources]]\n",
            ": unknown key(s) sources; a mapping file holds [[source]] tables only (see "
            "docs/extract-mapping.md)",
        ),
        (
            "date_format =",
            "date_fromat =",
            f", [[source]] number 1: unknown key(s) date_fromat; the keys of a [[source]] are "
            f"{SOURCE_KEYS}",
        ),
        (
            'date_format = "%m/%d/%Y"',
            'date_format = "%m/%d/%Y %Q"',
            ", [[source]] number 1: date_format = '%m/%d/%Y %Q' cannot read dates: Invalid Input "
            "Error: Failed to parse format specifier %m/%d/%Y %Q: Unrecognized format for "
            'strftime/strptime: %Q; write it with strptime codes, such as "%d.%m.%Y" or '
            '"%m/%d/%Y %H:%M"',
        ),
        (
            'date_format = "%m/%d/%Y"',
            'date_format = "mm/dd/yyyy"',
            ", [[source]] number 1: date_format = 'mm/dd/yyyy' cannot read dates: it has no year "
            '(%Y, or %y for two digits); write it with strptime codes, such as "%d.%m.%Y" or '
            '"%m/%d/%Y %H:%M"',
        ),
        (
            '"Invoice" = "invoice"',
            '"Invoice" = "invoices"',
            ", [[source]] number 1: values.order_type: 'Invoice' = 'invoices': expected one of "
            "invoice, sales_receipt, credit_memo, refund, void",
        ),
        (
            "[source.values.order_type]",
            '[source.values]\norder_type = "invoice"\n[source.values.item_id]',
            ", [[source]] number 1: values.order_type = 'invoice': expected a table, written "
            '[source.values.order_type] followed by lines of name = "value"',
        ),
    ],
    ids=[
        "skip_lines_as_text",
        "skip_last_lines_negative",
        "unknown_encoding",
        "encoding_not_ascii_compatible",
        "unknown_delimiter",
        "decimal_comma_with_comma_delimiter",
        "header_as_number",
        "single_brackets",
        "misspelt_table",
        "misspelt_key",
        "unknown_date_code",
        "date_format_without_codes",
        "value_outside_the_contract",
        "values_not_a_table",
    ],
)
def test_a_mapping_file_breaking_its_schema_is_an_error_naming_the_file_and_the_key(
    tmp_path, old, new, problem
):
    raw = copy_example(tmp_path)
    mapping = raw / "orders" / "_mapping.toml"
    text = mapping.read_text()
    assert old in text
    mapping.write_text(text.replace(old, new, 1))
    with duckdb.connect() as con, pytest.raises(ExtractError) as raised:
        load_orders(con, raw)
    assert str(raised.value) == f"{mapping}{problem}"


def test_the_examples_total_and_run_time_lines_are_no_rows_and_no_quarantine():
    """The export ends with its total (a record of the header's width) and the time it was run
    (one field): `skip_last_lines = 2` leaves both out, blank lines between them not counted."""
    with duckdb.connect() as con:
        result = load_orders(con, EXAMPLE)
        (loaded,) = result.loaded
        assert (loaded.rows_loaded, result.quarantined_count) == (5, 0)
        assert con.execute("select max(_source_line) from raw.orders").fetchone() == (10,)
        assert con.execute("select count(*) from raw.rejected_rows").fetchone() == (0,)


def test_without_skip_last_lines_the_examples_footer_fails_the_file(tmp_path):
    raw = copy_example(tmp_path)
    mapping = raw / "orders" / "_mapping.toml"
    mapping.write_text(mapping.read_text().replace("skip_last_lines = 2", ""))
    path = raw / "orders" / "sales_by_customer_detail_2026-11-20.csv"
    with duckdb.connect() as con, pytest.raises(ExtractError) as raised:
        load_orders(con, raw)
    assert str(raised.value).startswith(
        f"{path}: 2 of 7 rows break the contract (28.6%), more than the 1.0% allowed "
        "(QUARANTINE_MAX_SHARE); nothing of this file was loaded."
    )


def test_skip_last_lines_that_would_leave_out_an_order_line_is_an_error(tmp_path):
    raw = copy_example(tmp_path)
    mapping = raw / "orders" / "_mapping.toml"
    mapping.write_text(mapping.read_text().replace("skip_last_lines = 2", "skip_last_lines = 3"))
    path = raw / "orders" / "sales_by_customer_detail_2026-11-20.csv"
    with duckdb.connect() as con, pytest.raises(ExtractError) as raised:
        load_orders(con, raw)
    assert str(raised.value) == (
        f"{path}, line 10: skip_last_lines = 3 would leave out this line, but it holds a whole "
        "row, not a total or a footer: the mapping's skip_last_lines does not fit this file"
    )


def test_a_day_without_sales_is_a_header_and_its_footer(tmp_path):
    raw = copy_example(tmp_path)
    path = raw / "orders" / "sales_by_customer_detail_2026-11-20.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:5] + lines[10:]) + "\n")
    with duckdb.connect() as con:
        (loaded,) = load_orders(con, raw).loaded
        assert loaded.rows_loaded == 0
        assert con.execute("select count(*) from raw.rejected_rows").fetchone() == (0,)


def windows_1252_example(tmp_path: Path, encoding: str) -> Path:
    """The worked example as a Windows program saves it: Windows-1252, CRLF, a customer named
    with an e-acute and an item with a euro sign (0x80, which Latin-1 does not have)."""
    raw = copy_example(tmp_path)
    path = raw / "orders" / "sales_by_customer_detail_2026-11-20.csv"
    text = path.read_text().replace("Blue Bakery", "Café Bleu").replace("Paper Cups", "€ Cups")
    path.write_bytes(text.replace("\n", "\r\n").encode("cp1252"))
    mapping = raw / "orders" / "_mapping.toml"
    mapping.write_text(
        mapping.read_text().replace("skip_lines = 4", f'skip_lines = 4\nencoding = "{encoding}"')
    )
    return raw


def test_a_windows_1252_export_loads_as_its_mapping_names_it(tmp_path):
    raw = windows_1252_example(tmp_path, "Windows-1252")
    with duckdb.connect() as con:
        result = load_orders(con, raw)
        assert result.quarantined_count == 0
        assert con.execute(
            "select order_id, customer_id, item_id, _source_line from raw.orders "
            "where customer_id = 'Café Bleu' order by _source_line"
        ).fetchall() == [
            ("1001", "Café Bleu", "Coffee Filters", 6),
            ("1001", "Café Bleu", "€ Cups", 7),
            ("1003", "Café Bleu", "€ Cups", 9),
        ]


def test_a_file_not_in_its_mappings_encoding_names_the_byte(tmp_path):
    """Latin-1 has no euro sign: byte 0x80 is a control character there, but Windows-1252
    leaves 0x81 undefined, which a file in another encoding may hold."""
    raw = windows_1252_example(tmp_path, "windows-1252")
    path = raw / "orders" / "sales_by_customer_detail_2026-11-20.csv"
    data = path.read_bytes()
    path.write_bytes(data.replace(b"Nitrile", b"Nitr\x81le", 1))
    offset = data.index(b"Nitrile") + len(b"Nitr")
    with duckdb.connect() as con, pytest.raises(ExtractError) as raised:
        load_orders(con, raw)
    assert str(raised.value) == (
        f"{path}: is not in the encoding its mapping names (cp1252): line 8, field 5, byte "
        f"offset {offset} (character maps to <undefined>); name the file's encoding in "
        f"{raw / 'orders' / '_mapping.toml'}, or save it as UTF-8"
    )


def test_a_semicolon_separated_export_with_decimal_commas_loads_as_its_mapping_says(tmp_path):
    """The worked example as a European program writes it: `;` between fields, a decimal comma
    in numbers. A number with a point in such a file (12.50, 1.234,50) is quarantined, not
    read as another number."""
    raw = copy_example(tmp_path)
    path = raw / "orders" / "sales_by_customer_detail_2026-11-20.csv"
    text = path.read_text()
    header, rest = text.split("Date,", 1)
    rows = "Date," + rest
    rows = rows.replace(",", ";").replace("12.50", "12,5").replace(".00", ",00")
    rows = rows.replace("18,00;36,00", "18,00;36.00").replace("3,00;-6,00", "3,00;-1.234,50")
    path.write_text(header + rows)
    mapping = raw / "orders" / "_mapping.toml"
    mapping.write_text(
        mapping.read_text().replace(
            "skip_lines = 4", 'skip_lines = 4\ndelimiter = ";"\ndecimal_separator = ","'
        )
    )
    with duckdb.connect() as con:
        load_entity(con, ENTITIES["orders"], raw, LOADED_AT, LoadSettings(max_quarantine_share=1))
        assert con.execute(
            "select order_id, item_id, quantity, amount, _source_line from raw.orders "
            "order by _source_line"
        ).fetchall() == [
            ("1001", "Coffee Filters", Decimal(4), Decimal(50), 6),
            ("1001", "Paper Cups", Decimal(10), Decimal(30), 7),
            ("1004", "Nitrile Gloves", Decimal(-1), Decimal(-18), 10),
        ]
        expected = (
            "expected a number with at most 14 digits before the decimal comma and 4 after it, "
            "such as 12,50 or -3"
        )
        assert con.execute(
            "select source_line, rule, message from raw.rejected_rows order by source_line"
        ).fetchall() == [
            (8, "invalid_number", f"column amount: has '36.00', {expected}"),
            (9, "invalid_number", f"column amount: has '-1.234,50', {expected}"),
        ]


def test_a_mapping_without_the_later_keys_is_recorded_as_before_they_existed():
    """The ledger compares fingerprints: an upgrade must not read every mapped file again."""
    from dagster_project.extracts import SourceMapping

    mapping = SourceMapping(
        files="x_*.csv", columns={"order_id": "Num"}, values={}, date_format=None, skip_lines=4
    )
    assert mapping.fingerprint() == (
        '{"columns": {"order_id": "Num"}, "date_format": null, "files": "x_*.csv", '
        '"skip_lines": 4, "values": {}}'
    )
    assert SourceMapping(files="x_*.csv", columns={}, values={}).fingerprint() == "{}"
    assert SourceMapping(files="x_*.csv", columns={}, values={}, delimiter=";").fingerprint() == (
        '{"columns": {}, "date_format": null, "delimiter": ";", "files": "x_*.csv", '
        '"skip_lines": 0, "values": {}}'
    )
