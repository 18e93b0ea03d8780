"""What a data engineer is told when an export does not fit the contract in one of the ways a
first export usually does not: another delimiter, other column names, another encoding, dates
in the mapping's format written otherwise, files beside their folder rather than in it.

Each test writes the file as the export would, loads it into a real DuckDB, and checks the
exact message.
"""

import datetime as dt

import duckdb
import pytest

from dagster_project.extracts import ENTITIES, ExtractError, LoadSettings, load_entity

LOADED_AT = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC)
# Every quarantined row shows rather than failing the file (the limit has tests of its own).
LOOSE = LoadSettings(max_quarantine_share=1.0)


def utf8_hint(path) -> str:
    """What a file not in UTF-8 is told to do: save it so, or name its encoding."""
    return (
        f"save it as UTF-8, or name its encoding in {path.parent / '_mapping.toml'} (it may be "
        'Windows-1252: encoding = "windows-1252", docs/extract-mapping.md)'
    )


def load_error(raw, entity="orders"):
    with duckdb.connect() as con, pytest.raises(ExtractError) as raised:
        load_entity(con, ENTITIES[entity], raw, LOADED_AT, LOOSE)
    return str(raised.value)


@pytest.mark.parametrize(
    ("delimiter", "described", "written"), [(";", "';'", ";"), ("\t", "tabs", "\\t")]
)
def test_an_export_separated_by_semicolons_or_tabs_is_told_the_mapping_key(
    tmp_path, delimiter, described, written
):
    path = tmp_path / "orders" / "orders.csv"
    path.parent.mkdir()
    header = ["order_id", "order_date", "customer_id", "item_id", "quantity", "amount"]
    path.write_text(
        delimiter.join(header)
        + "\n"
        + delimiter.join(["1", "2024-03-01", "C1", "I1", "1", "12,50"])
    )
    assert load_error(tmp_path) == (
        f"{path}: the header looks separated by {described}; name the delimiter in "
        f'{path.parent / "_mapping.toml"}: delimiter = "{written}" (and decimal_separator = "," '
        "for numbers written 12,50; docs/extract-mapping.md)"
    )


def test_a_title_line_with_a_semicolon_is_not_taken_for_a_delimiter(tmp_path):
    path = tmp_path / "orders" / "orders.csv"
    path.parent.mkdir()
    path.write_text("Sales by customer; November\n1,2024-03-01,C1,I1,1,5\n")
    assert load_error(tmp_path) == (
        f"{path}: missing required column(s) order_id, order_date, customer_id, item_id, "
        "quantity, amount (header has: Sales by customer; November); if the export names them "
        f"otherwise or has lines above its header, say so in {path.parent / '_mapping.toml'} "
        "(docs/extract-mapping.md)"
    )


def test_columns_under_other_names_point_to_the_mapping(tmp_path):
    path = tmp_path / "orders" / "orders.csv"
    path.parent.mkdir()
    path.write_text(
        "Order No,Order Date,Customer ID,SKU,Qty,Net Amount\n1001,2024-03-01,C1,I1,1,12.50\n"
    )
    assert load_error(tmp_path) == (
        f"{path}: missing required column(s) order_id, order_date, customer_id, item_id, "
        "quantity, amount (header has: Order No, Order Date, Customer ID, SKU, Qty, Net Amount); "
        f"if the export names them otherwise or has lines above its header, say so in "
        f"{path.parent / '_mapping.toml'} (docs/extract-mapping.md)"
    )


def test_a_mapped_header_missing_from_the_file_is_not_sent_to_the_mapping_again(tmp_path):
    """The message names the header the mapping expects: that, or the mapping, is what to fix."""
    folder = tmp_path / "orders"
    folder.mkdir()
    (folder / "_mapping.toml").write_text('[[source]]\nfiles = "*.csv"\ncolumns.quantity = "Qty"\n')
    path = folder / "orders.csv"
    path.write_text(
        "order_id,order_date,customer_id,item_id,Quantity,amount\n1,2024-03-01,C1,I1,1,5\n"
    )
    assert load_error(tmp_path) == (
        f"{path}: missing required column(s) quantity (mapped from 'Qty') (header has: "
        "order_id, order_date, customer_id, item_id, Quantity, amount)"
    )


@pytest.mark.parametrize(
    ("date_format", "good_date", "example"),
    [("%m/%d/%Y", "11/18/2026", "03/31/2024"), ("%d.%m.%Y", "18.11.2026", "31.03.2024")],
)
def test_a_date_not_in_the_mapped_format_is_told_that_format(
    tmp_path, date_format, good_date, example
):
    folder = tmp_path / "orders"
    folder.mkdir()
    (folder / "_mapping.toml").write_text(
        f'[[source]]\nfiles = "*.csv"\ndate_format = "{date_format}"\n'
    )
    (folder / "orders.csv").write_text(
        "order_id,order_date,customer_id,item_id,quantity,amount\n"
        f"1,{good_date},C1,I1,1,5\n"
        "2,2026-11-19,C1,I1,1,5\n"
        "3,,C1,I1,1,5\n"
    )
    expected = f"expected a date in the format {date_format}, such as {example}"
    with duckdb.connect() as con:
        load_entity(con, ENTITIES["orders"], tmp_path, LOADED_AT, LOOSE)
        assert con.execute("select order_id, order_date::varchar from raw.orders").fetchall() == [
            ("1", "2026-11-18")
        ]
        assert con.execute(
            "select source_line, rule, message from raw.rejected_rows order by source_line"
        ).fetchall() == [
            (3, "invalid_date", f"column order_date: has '2026-11-19', {expected}"),
            (4, "missing_required_value", f"column order_date: is empty, {expected}"),
        ]


def test_a_windows_1252_file_names_the_line_and_field_of_the_first_bad_byte(tmp_path):
    path = tmp_path / "customers" / "customers.csv"
    path.parent.mkdir()
    path.write_bytes("customer_id,customer_name\nC1,Café\n".encode("cp1252"))
    assert load_error(tmp_path, "customers") == (
        f"{path}: is not UTF-8: line 2, field 2, byte offset 32 (invalid continuation byte); "
        f"{utf8_hint(path)}"
    )


def test_the_line_of_a_bad_byte_is_counted_across_read_chunks(tmp_path):
    path = tmp_path / "orders" / "orders.csv"
    path.parent.mkdir()
    header = b"order_id,order_date,customer_id,item_id,quantity,amount\n"
    # Far past the first read buffer (1 MiB), with a comma quoted within a value on its line.
    filler = b"".join(b"%d,2024-03-01,C1,I1,1,5\n" % i for i in range(100_000))
    bad = b'x,2024-03-01,"Nord, Caf\xe9",I1,1,5\n'
    path.write_bytes(header + filler + bad)
    offset = len(header) + len(filler) + bad.index(b"\xe9")
    assert load_error(tmp_path) == (
        f"{path}: is not UTF-8: line 100002, field 3, byte offset {offset} (invalid continuation "
        f"byte); {utf8_hint(path)}"
    )


def test_a_bad_byte_within_a_value_spanning_lines_is_named_by_its_line(tmp_path):
    """The fields of a line that continues a quoted value cannot be counted from that line."""
    path = tmp_path / "orders" / "orders.csv"
    path.parent.mkdir()
    path.write_bytes(
        b"order_id,order_date,customer_id,item_id,quantity,amount\n"
        b'1,2024-03-01,"C1\nCaf\xe9",I1,1,5\n'
    )
    assert load_error(tmp_path) == (
        f"{path}: is not UTF-8: line 3, byte offset 76 (invalid continuation byte); "
        + utf8_hint(path)
    )


def test_a_character_cut_off_at_the_end_of_the_file_is_named_by_line_and_field(tmp_path):
    path = tmp_path / "orders" / "orders.csv"
    path.parent.mkdir()
    # The first byte of the two of UTF-8's "é", without the second.
    path.write_bytes(b"order_id,order_date,customer_id\n1,2024-03-01,Caf\xc3")
    assert load_error(tmp_path) == (
        f"{path}: is not UTF-8: line 2, field 3, byte offset 48 (unexpected end of data); "
        f"{utf8_hint(path)}"
    )


@pytest.mark.parametrize(
    ("beside", "make_folder", "expected"),
    [
        (
            ["orders.csv"],
            False,
            "{raw}/orders: the folder does not exist; orders.csv is directly in {raw}: the "
            "orders extracts go in its orders/ subfolder, move it there",
        ),
        (
            [],
            False,
            "{raw}/orders: the folder does not exist; the orders extracts (.csv, .csv.gz or "
            ".parquet files) go in a folder of that name",
        ),
        (
            ["Orders_2024-03.csv.gz", "orders_2024-02.parquet", "customers.csv", "orders.txt"],
            True,
            "{raw}/orders: no orders extracts found (expected .csv, .csv.gz or .parquet files); "
            "Orders_2024-03.csv.gz, orders_2024-02.parquet are directly in {raw}: the orders "
            "extracts go in its orders/ subfolder, move them there",
        ),
    ],
)
def test_orders_extracts_beside_their_folder_are_sent_into_it(
    tmp_path, beside, make_folder, expected
):
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in beside:
        (raw / name).write_text("order_id,order_date,customer_id,item_id,quantity,amount\n")
    if make_folder:
        (raw / "orders").mkdir()
    assert load_error(raw) == expected.format(raw=raw)


def test_a_file_named_like_the_orders_folder_is_not_taken_for_it(tmp_path):
    (tmp_path / "orders").write_text("order_id,order_date,customer_id,item_id,quantity,amount\n")
    assert load_error(tmp_path) == (
        f"{tmp_path}/orders: is not a folder; the orders extracts (.csv, .csv.gz or .parquet "
        "files) go in a folder of that name"
    )
