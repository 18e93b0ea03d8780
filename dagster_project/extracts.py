"""The raw extract contract, and loading the extract files of one entity into DuckDB.

`RAW_DATA_DIR` holds one subfolder per entity (`orders/`, `customers/`, `items/`), each with any
number of `.csv` (UTF-8, header row, comma) and `.parquet` files, read together. Header names match
case-insensitively with surrounding spaces ignored; extra columns are ignored. Identifiers are text
and are kept as written (`00042` is not `42`).

A load reads the new and changed files of the entity (the ledger `raw.load_ledger` knows the
others) and loads each in its own transaction: its good rows replace what the same file loaded
before in `raw.<entity>`, its bad rows go to quarantine (`raw.rejected_rows`) with the rule they
break, and the ledger records it. Each row keeps the file it came from and its line in that file:
the dbt models need the file name to pick the latest version of a re-sent order, and people need
both to trace a number back to a source.

A file-level problem (a missing column, an unreadable file, too many bad rows) raises an
`ExtractError` naming the file; nothing of that file is loaded.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import datetime as dt
import fnmatch
import gzip
import hashlib
import json
import os
import re
import tempfile
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

ORDER_TYPES = ("invoice", "sales_receipt", "credit_memo", "refund", "void")
BILLING_CYCLES = ("weekly", "monthly", "quarterly", "annual")
# What the loader reads; a `.csv.gz` is a CSV file, decompressed as it is read.
EXTRACT_SUFFIXES = (".csv", ".csv.gz", ".parquet")
RAW_SCHEMA = "raw"
# An order whose lines in one file name more than one customer: every line of it is quarantined.
# The rule does not count towards QUARANTINE_MAX_SHARE: it says one order is wrong, not that the
# file was misread.
TWO_CUSTOMERS_RULE = "order_names_two_customers"
# How many offending rows one error message lists before it says "and N more".
MAX_EXAMPLES = 5


# DuckDB's types of whole numbers: such a Parquet column is a number without a fraction.
WHOLE_NUMBER_TYPES = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"}
    | {"UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}
)


class ExtractError(ValueError):
    """An extract file breaks the contract; the message names the file, line and column."""


@dataclass(frozen=True)
class Column:
    """One column of the contract: its name, how its text is parsed, and whether it may be empty."""

    name: str
    kind: str  # text | date | decimal | integer | one_of
    required: bool = False
    allowed: tuple[str, ...] = ()

    @property
    def sql_type(self) -> str:
        return {
            "text": "varchar",
            "date": "date",
            "decimal": "decimal(18, 4)",
            "integer": "integer",
            "one_of": "varchar",
        }[self.kind]

    def parse_sql(
        self,
        text: str,
        timezone: str = "UTC",
        date_format: str | None = None,
        decimal_separator: str = ".",
    ) -> str:
        """SQL that turns the column's trimmed text into its typed value, NULL where it cannot.

        A timestamp with an offset or `Z` is an instant: its date is the date in the business's
        `timezone`. A date, or a timestamp without offset, is the business's date as written. A
        number written with a decimal comma (`decimal_separator`) may hold no point: 1.234,50
        has a thousands separator, and 12.50 in such a file is a mistake, not twelve and a half.
        """
        if self.kind == "decimal" and decimal_separator == ",":
            text = f"case when not contains({text}, '.') then replace({text}, ',', '.') end"
        if self.kind == "text":
            return text
        if self.kind == "date" and date_format:
            return f"try_strptime({text}, {_literal(date_format)})::date"
        if self.kind == "date":
            # A plain date (ten characters) needs no search for a time and an offset.
            return (
                f"case when length({text}) = 10 then try_cast({text} as date) "
                f"when regexp_matches({text}, "
                "'[T ][0-9]{2}:[0-9]{2}.*(Z|[+-][0-9]{2}(:?[0-9]{2})?)$') "
                f"then timezone({_literal(timezone)}, try_cast({text} as timestamptz))::date "
                f"else try_cast({text} as date) end"
            )
        if self.kind == "integer":
            # try_cast alone would round '3.5' to 4.
            return (
                f"case when regexp_full_match({text}, '[+-]?[0-9]+') "
                f"then try_cast({text} as integer) end"
            )
        if self.kind == "decimal":
            # try_cast alone would round 12.34567 to 12.3457: a changed amount, not a parsed one.
            return (
                f"case when try_cast({text} as decimal(38, 10)) "
                f"= try_cast({text} as {self.sql_type}) "
                f"then try_cast({text} as {self.sql_type}) end"
            )
        if self.kind == "one_of":
            allowed = ", ".join(f"'{value}'" for value in self.allowed)
            return f"case when lower({text}) in ({allowed}) then lower({text}) end"
        return f"try_cast({text} as {self.sql_type})"

    def typed_value_sql(self, value: str, source_type: str) -> str | None:
        """SQL for the column's value from a typed value (a Parquet column of `source_type`)
        whose type says what the text parsing would find, NULL where it does not fit; None when
        the value must be read as text instead.

        A date is a date; a whole number, or a decimal with at most 4 decimals, is a decimal
        (NULL when it has more than 14 digits before the point); a whole number is an integer
        (NULL when out of range). Nothing is rounded, as in `parse_sql`. Text, timestamps (the
        business's time zone decides their date) and floating-point numbers (their text decides
        how many decimals they have) are read as text.
        """
        source_type = source_type.upper()
        whole = source_type in WHOLE_NUMBER_TYPES
        scale = re.fullmatch(r"DECIMAL\(\d+,\s*(\d+)\)", source_type)
        if self.kind == "date" and source_type == "DATE":
            return value
        if self.kind == "decimal" and (whole or (scale and int(scale.group(1)) <= 4)):
            return f"try_cast({value} as {self.sql_type})"
        if self.kind == "integer" and whole:
            return f"try_cast({value} as {self.sql_type})"
        return None

    @property
    def rule(self) -> str:
        """The quarantine rule a value of this column breaks when it cannot be parsed."""
        if self.kind == "one_of":
            return f"invalid_{self.name}"
        return {"date": "invalid_date", "decimal": "invalid_number", "integer": "invalid_integer"}[
            self.kind
        ]

    def describe_expected(
        self, date_format: str | None = None, decimal_separator: str = "."
    ) -> str:
        """What a value of the column must look like; for a date, in the mapping's `date_format`
        when it has one, for a number with its `decimal_separator`."""
        if self.kind == "decimal" and decimal_separator == ",":
            return (
                "a number with at most 14 digits before the decimal comma and 4 after it, such "
                "as 12,50 or -3"
            )
        if self.kind == "date" and date_format:
            # The 31st: an example whose day cannot be taken for its month.
            example = dt.date(2024, 3, 31).strftime(date_format)
            return f"a date in the format {date_format}, such as {example}"
        return {
            "text": "a value",
            "date": "a date such as 2024-03-01 (or a timestamp whose date part counts)",
            "decimal": "a number with at most 14 digits before the point and 4 after it, such "
            "as 12.50 or -3",
            "integer": "a whole number",
            "one_of": "one of " + ", ".join(self.allowed),
        }[self.kind]


@dataclass(frozen=True)
class Entity:
    """One subfolder of `RAW_DATA_DIR` and the raw table it is loaded into."""

    name: str
    columns: tuple[Column, ...]
    required_folder: bool
    description: str = field(default="", compare=False)

    @property
    def table(self) -> str:
        return f"{RAW_SCHEMA}.{self.name}"

    def column(self, name: str) -> Column:
        (found,) = [column for column in self.columns if column.name == name]
        return found


ENTITIES: dict[str, Entity] = {
    entity.name: entity
    for entity in (
        Entity(
            name="orders",
            required_folder=True,
            description="Order lines from the billing system, one row per line, every version "
            "of every order as extracted.",
            columns=(
                Column("order_id", "text", required=True),
                Column("order_date", "date", required=True),
                Column("customer_id", "text", required=True),
                Column("item_id", "text", required=True),
                Column("quantity", "decimal", required=True),
                Column("amount", "decimal", required=True),
                Column("line_number", "integer"),
                Column("order_type", "one_of", allowed=ORDER_TYPES),
            ),
        ),
        Entity(
            name="customers",
            required_folder=False,
            description="The customer master, every version of every customer as extracted.",
            columns=(
                Column("customer_id", "text", required=True),
                Column("customer_name", "text"),
                Column("email", "text"),
                Column("sales_rep", "text"),
                Column("segment", "text"),
                Column("billing_cycle", "one_of", allowed=BILLING_CYCLES),
            ),
        ),
        Entity(
            name="items",
            required_folder=False,
            description="The item master, every version of every item as extracted.",
            columns=(
                Column("item_id", "text", required=True),
                Column("item_name", "text"),
                Column("category", "text"),
            ),
        ),
    )
}

# Columns every raw table carries besides the contract's, for tracing rows back to their source.
LINEAGE_COLUMNS = (
    ("_source_file", "varchar"),  # file name within the entity's folder; its sort order matters
    ("_source_line", "integer"),  # line in a CSV file (header = line 1), row number in Parquet
    ("_loaded_at", "timestamp with time zone"),
)


REJECTED_ROWS_TABLE = f"{RAW_SCHEMA}.rejected_rows"
LOAD_LEDGER_TABLE = f"{RAW_SCHEMA}.load_ledger"
RULES_CHECKED_TABLE = f"{RAW_SCHEMA}.rules_checked"

BOOKKEEPING_DDL = f"""
create schema if not exists {RAW_SCHEMA};
create table if not exists {REJECTED_ROWS_TABLE} (
    entity varchar not null,
    source_file varchar not null,
    source_line integer not null,
    raw_record varchar,          -- the row as read: a JSON object of header -> value (text from
                                 -- CSV, typed from Parquet), or the JSON list of the fields of a
                                 -- record with the wrong number of fields
    rule varchar not null,       -- the first rule the row breaks
    message varchar not null,    -- every problem of the row, readable
    loaded_at timestamp with time zone not null
);
create table if not exists {LOAD_LEDGER_TABLE} (
    entity varchar not null,
    source_file varchar not null,
    source_path varchar not null,
    size_bytes bigint not null,
    modified_at_ns bigint not null,
    content_sha256 varchar not null,
    read_with varchar not null,  -- the mapping the file was read with, as JSON ('{{}}': none)
    rows_read bigint not null,
    rows_loaded bigint not null,
    rows_quarantined bigint not null,
    loaded_at timestamp with time zone not null,
    missing_since timestamp with time zone,  -- set while the file is gone from the folder
    primary key (entity, source_file)
);
create table if not exists {RULES_CHECKED_TABLE} (
    entity varchar not null,
    rule varchar not null,       -- a rule added after rows were loaded, once those rows have
                                 -- been checked by it too
    checked_at timestamp with time zone not null,
    primary key (entity, rule)
);
"""


@dataclass(frozen=True)
class LoadSettings:
    """How a load reads and judges rows. Environment: QUARANTINE_MAX_SHARE,
    FUTURE_ORDER_TOLERANCE_DAYS, EARLIEST_ORDER_DATE, BUSINESS_TIMEZONE."""

    # A file whose share of quarantined rows is above this fails and loads nothing.
    max_quarantine_share: float = 0.01
    # An order dated more than this many days after the load date is quarantined.
    future_order_tolerance_days: int = 1
    # An order dated before this is quarantined: a placeholder such as 0001-01-01, not a sale.
    earliest_order_date: dt.date = dt.date(1900, 1, 1)
    # The business's time zone (IANA name): timestamps with an offset count on its local date.
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"BUSINESS_TIMEZONE: {self.timezone!r} is not a time zone name such as "
                "Europe/Berlin or America/New_York"
            ) from None

    def local_date(self, moment: dt.datetime) -> dt.date:
        """The business's date at `moment`."""
        return moment.astimezone(ZoneInfo(self.timezone)).date()

    @classmethod
    def from_env(cls) -> LoadSettings:
        defaults = cls()
        return cls(
            max_quarantine_share=float(
                os.environ.get("QUARANTINE_MAX_SHARE", "").strip() or defaults.max_quarantine_share
            ),
            future_order_tolerance_days=int(
                os.environ.get("FUTURE_ORDER_TOLERANCE_DAYS", "").strip()
                or defaults.future_order_tolerance_days
            ),
            earliest_order_date=_date_from_env("EARLIEST_ORDER_DATE", defaults.earliest_order_date),
            timezone=os.environ.get("BUSINESS_TIMEZONE", "").strip() or defaults.timezone,
        )


def _date_from_env(name: str, default: dt.date) -> dt.date:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not a date written YYYY-MM-DD") from None


@dataclass(frozen=True)
class FileLoad:
    """One file loaded: how many rows it had, and where they went."""

    source_file: str
    rows_read: int
    rows_loaded: int
    rows_quarantined: int


@dataclass(frozen=True)
class LoadResult:
    entity: str
    table: str
    files: tuple[str, ...]  # every extract file in the folder, in name order
    loaded: tuple[FileLoad, ...]  # the new or changed files this load read
    unchanged: tuple[str, ...]  # files already loaded with the same content
    missing: tuple[str, ...]  # files loaded before that are gone from the folder
    # Everything else in the folder, which the load leaves aside: (name, why)
    not_loaded: tuple[tuple[str, str], ...] = ()

    @property
    def rows_per_file(self) -> dict[str, int]:
        return {load.source_file: load.rows_loaded for load in self.loaded}

    @property
    def row_count(self) -> int:
        return sum(load.rows_loaded for load in self.loaded)

    @property
    def quarantined_count(self) -> int:
        return sum(load.rows_quarantined for load in self.loaded)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def exact_path_sql(path: Path) -> str:
    """`path` as a DuckDB string literal that names this one file and no other.

    DuckDB's readers take every path as a glob pattern: a file named `items_*.parquet` would
    read every items file. Each of `*`, `?` and `[` is written as a class of one character
    (`[*]`), which matches only itself.
    """
    return _literal(matching_itself(str(path)))


def matching_itself(path: str) -> str:
    """`path` as a DuckDB glob pattern that matches only itself: each `*`, `?` and `[` written
    as a class of one character (`[*]`)."""
    return re.sub(r"([*?\[])", r"[\1]", path)


def _is_csv(path: Path) -> bool:
    return path.name.lower().endswith((".csv", ".csv.gz"))


@dataclass(frozen=True)
class FolderListing:
    """What an entity's folder holds: its extract files, its mapping file, and every other
    entry, which the load leaves aside, each with the reason."""

    files: tuple[Path, ...] = ()  # in name order: the order in which later versions win
    mapping_file: Path | None = None
    not_loaded: tuple[tuple[str, str], ...] = ()  # (name, why it is not loaded)


def _why_not_an_extract(path: Path) -> str | None:
    """Why the loader leaves this entry of an entity's folder aside; None for an extract file."""
    if path.name.startswith("."):
        # macOS leaves `._<name>` files beside copies, and `.DS_Store`: never extracts.
        return "a hidden file, its name starting with a dot"
    if path.is_symlink() and not path.exists():
        return f"a link to {os.readlink(path)}, which does not exist"
    if path.is_dir():
        return "a folder: only the files directly in the entity's folder are read"
    if not path.is_file():
        return "not a regular file"
    if not path.name.lower().endswith(EXTRACT_SUFFIXES):
        return "not a " + ", ".join(EXTRACT_SUFFIXES[:-1]) + f" or {EXTRACT_SUFFIXES[-1]} file"
    return None


def list_extract_files(folder: Path) -> FolderListing:
    """The entity's folder as the loader reads it (and the sensor watches it)."""
    if not folder.is_dir():
        return FolderListing()
    files, not_loaded, mapping_file = [], [], None
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.name == MAPPING_FILE_NAME and path.is_file():
            mapping_file = path
        elif (why := _why_not_an_extract(path)) is not None:
            not_loaded.append((path.name, why))
        else:
            files.append(path)
    return FolderListing(tuple(files), mapping_file, tuple(not_loaded))


def create_raw_table_sql(entity: Entity, table: str) -> str:
    # Required values are never empty: the load quarantines rows without them, and the table
    # declares it, so that the database itself holds the guarantee the models rely on.
    columns = [
        f"{_quote(c.name)} {c.sql_type}" + (" not null" if c.required else "")
        for c in entity.columns
    ]
    columns += [f"{name} {sql_type} not null" for name, sql_type in LINEAGE_COLUMNS]
    return f"create or replace table {table} (\n  " + ",\n  ".join(columns) + "\n)"


MAPPING_FILE_NAME = "_mapping.toml"


# The keys of a mapping added after the ledger first recorded mappings, with their defaults.
LATER_KEY_DEFAULTS = {
    "skip_last_lines": 0,
    "encoding": "utf-8",
    "delimiter": ",",
    "decimal_separator": ".",
}


@dataclass(frozen=True)
class SourceMapping:
    """How one kind of foreign extract maps onto the contract, from the `_mapping.toml` file of
    an entity's folder (see docs/extract-mapping.md)."""

    files: str  # a glob on the file name, e.g. "sales_by_customer_detail_*.csv"
    columns: dict[str, str]  # contract column -> the file's header for it
    values: dict[str, dict[str, str]]  # contract column -> {the file's value: contract value}
    date_format: str | None = None  # strptime format of the dates, e.g. "%m/%d/%Y"
    skip_lines: int = 0  # lines above the header (report titles) in a CSV file
    # Records below the data (a report's totals, an "exported on" line) in a CSV file.
    skip_last_lines: int = 0
    # The CSV file's character encoding, as Python names it ("cp1252" for Windows-1252).
    encoding: str = "utf-8"
    # What separates a CSV file's fields, and the integer part of a number from its decimals.
    delimiter: str = ","
    decimal_separator: str = "."

    def fingerprint(self) -> str:
        """The mapping as JSON, recorded in the ledger: a file read with another mapping is
        read again. A key added since mappings were first recorded is left out at its default,
        so that the files read with such a mapping stay read."""
        fields = {
            key: value
            for key, value in dataclasses.asdict(self).items()
            if key not in LATER_KEY_DEFAULTS or value != LATER_KEY_DEFAULTS[key]
        }
        if not any(value for key, value in fields.items() if key != "files"):
            return "{}"
        return json.dumps(fields, sort_keys=True)

    @property
    def text_encoding(self) -> str:
        """The encoding to read the file's text with (see _text_encoding)."""
        return _text_encoding(self.encoding)


# The field delimiters a mapping may name: a comma, what many European programs write with
# decimal commas, a tab and a pipe.
DELIMITERS = (",", ";", "\t", "|")

# The keys a `[[source]]` of a mapping file may have (docs/extract-mapping.md).
SOURCE_KEYS = (
    "files",
    "skip_lines",
    "skip_last_lines",
    "encoding",
    "delimiter",
    "decimal_separator",
    "date_format",
    "columns",
    "values",
)


def read_mappings(entity: Entity, folder: Path) -> list[SourceMapping]:
    """The mappings of `folder/_mapping.toml`, checked against its schema and the contract;
    none without it. Any mistake, a misspelt key included, is an error naming the file and the
    key: a mapping silently ignored would load the files wrongly."""
    path = folder / MAPPING_FILE_NAME
    if not path.is_file():
        return []
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ExtractError(f"{path}: is not a valid TOML mapping file: {error}") from error
    unknown = sorted(set(document) - {"source"})
    if unknown:
        raise ExtractError(
            f"{path}: unknown key(s) {', '.join(unknown)}; a mapping file holds [[source]] "
            "tables only (see docs/extract-mapping.md)"
        )
    sources = document.get("source", [])
    if not isinstance(sources, list) or not all(isinstance(s, dict) for s in sources):
        raise ExtractError(
            f"{path}: source must be written [[source]] (with double brackets), one table per "
            "kind of export (see docs/extract-mapping.md)"
        )
    return [
        _source_mapping(entity, f"{path}, [[source]] number {number}", source)
        for number, source in enumerate(sources, start=1)
    ]


def _source_mapping(entity: Entity, where: str, source: dict) -> SourceMapping:
    """One `[[source]]` table, checked key by key; `where` names it in errors."""
    unknown = sorted(set(source) - set(SOURCE_KEYS))
    if unknown:
        raise ExtractError(
            f"{where}: unknown key(s) {', '.join(unknown)}; the keys of a [[source]] are "
            + ", ".join(SOURCE_KEYS)
        )
    files = source.get("files")
    if not isinstance(files, str) or not files.strip():
        raise ExtractError(f'{where}: needs files = "<glob of file names>"')
    skip_lines = _line_count(where, source, "skip_lines", "above the header row", 4)
    skip_last_lines = _line_count(
        where, source, "skip_last_lines", "below the data (totals, an export date)", 2
    )
    encoding = _checked_encoding(where, source.get("encoding", "utf-8"))
    delimiter = source.get("delimiter", ",")
    if delimiter not in DELIMITERS:
        raise ExtractError(
            f"{where}: delimiter = {delimiter!r}: expected one of "
            + ", ".join(f'"{d}"' if d != "\t" else '"\\t" (a tab)' for d in DELIMITERS)
        )
    decimal_separator = source.get("decimal_separator", ".")
    if decimal_separator not in (".", ","):
        raise ExtractError(
            f'{where}: decimal_separator = {decimal_separator!r}: expected "." or ","'
        )
    if decimal_separator == delimiter:
        raise ExtractError(
            f'{where}: decimal_separator = "," needs another delimiter than ","; a file with '
            'decimal commas is separated by ";" or tabs (delimiter = ";")'
        )
    date_format = source.get("date_format")
    if date_format is not None:
        _check_date_format(where, date_format)
    columns = _table_of(where, source, "columns")
    values = _table_of(where, source, "values")
    known = {column.name for column in entity.columns}
    unknown = sorted((set(columns) | set(values)) - known)
    if unknown:
        raise ExtractError(
            f"{where}: maps unknown column(s) {', '.join(unknown)}; the {entity.name} columns "
            "are " + ", ".join(column.name for column in entity.columns)
        )
    for name, header in columns.items():
        if not isinstance(header, str) or not header.strip():
            raise ExtractError(
                f"{where}: columns.{name} = {header!r}: expected the file's header, in quotes "
                f'({name} = "Header in the file")'
            )
    for name in values:
        replacements = _table_of(where, values, name, f"values.{name}")
        allowed = entity.column(name).allowed
        for theirs, ours in replacements.items():
            if not isinstance(ours, str) or (allowed and ours not in allowed):
                expected = "one of " + ", ".join(allowed) if allowed else "a value in quotes"
                raise ExtractError(
                    f"{where}: values.{name}: {theirs!r} = {ours!r}: expected {expected}"
                )
    return SourceMapping(
        files=files,
        columns=dict(columns),
        values={name: dict(replacements) for name, replacements in values.items()},
        date_format=date_format,
        skip_lines=skip_lines,
        skip_last_lines=skip_last_lines,
        encoding=encoding,
        delimiter=delimiter,
        decimal_separator=decimal_separator,
    )


def _table_of(where: str, table: dict, key: str, name: str | None = None) -> dict:
    """`table[key]`, which must be a TOML table (`[source.<key>]`); empty when absent."""
    value = table.get(key, {})
    if not isinstance(value, dict):
        raise ExtractError(
            f"{where}: {name or key} = {value!r}: expected a table, written "
            f'[source.{name or key}] followed by lines of name = "value"'
        )
    return value


def _line_count(where: str, source: dict, key: str, which: str, example: int) -> int:
    """`source[key]`, a whole number of lines (0 when absent)."""
    count = source.get(key, 0)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ExtractError(
            f"{where}: {key} = {count!r}: expected a whole number of lines {which}, 0 or more, "
            f"written without quotes ({key} = {example})"
        )
    return count


def _checked_encoding(where: str, encoding: object) -> str:
    """The codec's own name ("cp1252" for "Windows-1252"), for an encoding that writes ASCII as
    ASCII: the loader finds lines, quotes and commas by their bytes (UTF-16 does not)."""
    try:
        name = codecs.lookup(encoding).name if isinstance(encoding, str) else None
    except LookupError:
        name = None
    if name is None:
        raise ExtractError(
            f"{where}: encoding = {encoding!r}: not an encoding name; write it as Python names "
            'it, such as "windows-1252" or "latin-1"'
        )
    # UTF-16 and UTF-32 fail this too: a byte order mark and zero bytes around each character.
    ascii_text = '\r\n",;09AZaz'
    if ascii_text.encode(name, errors="replace") != ascii_text.encode("ascii"):
        raise ExtractError(
            f"{where}: encoding = {encoding!r}: its files cannot be read line by line (it does "
            "not write ASCII as ASCII); save them as UTF-8"
        )
    return name


def _text_encoding(encoding: str) -> str:
    """The encoding to read a file's text with: UTF-8 drops a byte order mark."""
    return "utf-8-sig" if encoding == "utf-8" else encoding


def _check_date_format(where: str, date_format: object) -> None:
    """A date format DuckDB's strptime accepts, with a day, a month and a year in it."""
    problem = None
    if not isinstance(date_format, str):
        problem = "it is not text in quotes"
    elif not re.search(r"%[Yy]", date_format):
        problem = "it has no year (%Y, or %y for two digits)"
    elif not re.search(r"%-?j", date_format) and not (
        re.search(r"%-?[mbB]", date_format) and re.search(r"%-?[de]", date_format)
    ):
        problem = "it has no month and day (%m, or %b for the month's name, and %d)"
    else:
        with duckdb.connect() as con:
            try:
                con.execute("select try_strptime('', ?)", [date_format])
            except duckdb.Error as error:
                problem = " ".join(str(error).split())
    if problem:
        raise ExtractError(
            f"{where}: date_format = {date_format!r} cannot read dates: {problem}; write it with "
            'strptime codes, such as "%d.%m.%Y" or "%m/%d/%Y %H:%M"'
        )


def mapping_for(mappings: Sequence[SourceMapping], file_name: str) -> SourceMapping:
    """The first mapping whose `files` glob matches the file name; the contract's own names
    when none does."""
    for mapping in mappings:
        if fnmatch.fnmatch(file_name, mapping.files):
            return mapping
    return SourceMapping(files="*", columns={}, values={})


def _open_csv(path: Path, mode: str = "rt", **text_options):
    """Opens a CSV file, decompressing a `.csv.gz` as it is read."""
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, mode, **text_options)
    return path.open(mode, **text_options)


def _scan_csv(path: Path, encoding: str = "utf-8", delimiter: str = ",") -> tuple[int, bool]:
    """Checks that a CSV file is in `encoding` and returns its number of lines, and whether its
    lines end now in CRLF and now in LF, in one pass over its bytes.

    The error names the line, field and byte offset of the first byte not in the encoding.
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    offset, newlines, crlf_newlines, last_byte = 0, 0, 0, b"\n"
    with _open_csv(path, "rb") as handle:
        while chunk := _read_chunk(handle, path):
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                offset -= pending - error.start
                raise _not_in_encoding_error(path, offset, error, encoding, delimiter) from error
            offset += len(chunk)
            newlines += chunk.count(b"\n")
            crlf_newlines += chunk.count(b"\r\n") + (last_byte + chunk[:1] == b"\r\n")
            last_byte = chunk[-1:]
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        offset -= len(decoder.getstate()[0])
        raise _not_in_encoding_error(path, offset, error, encoding, delimiter) from error
    lines = newlines + (0 if last_byte == b"\n" else 1)
    return lines, 0 < crlf_newlines < newlines


def _not_in_encoding_error(
    path: Path, offset: int, error: UnicodeDecodeError, encoding: str, delimiter: str
) -> ExtractError:
    at = _line_and_field_at(path, offset, encoding, delimiter)
    where = f"{at}, byte offset {offset} ({error.reason})"
    if encoding == "utf-8":
        return ExtractError(
            f"{path}: is not UTF-8: {where}; save it as UTF-8, or name its encoding in "
            f"{path.parent / MAPPING_FILE_NAME} (it may be Windows-1252: "
            'encoding = "windows-1252", docs/extract-mapping.md)'
        )
    return ExtractError(
        f"{path}: is not in the encoding its mapping names ({encoding}): {where}; name the "
        f"file's encoding in {path.parent / MAPPING_FILE_NAME}, or save it as UTF-8"
    )


def _line_and_field_at(path: Path, offset: int, encoding: str, delimiter: str) -> str:
    """Where the byte at `offset` of a CSV file is, as "line N, field M"; the field is left out
    when the line starts within a quoted value spanning lines, where the fields cannot be counted
    from the line alone. Read again from the start: only a file that fails comes here."""
    line, quotes, line_so_far, remaining = 1, 0, b"", offset
    with _open_csv(path, "rb") as handle:
        while remaining and (chunk := handle.read(min(remaining, 1 << 20))):
            remaining -= len(chunk)
            line += chunk.count(b"\n")
            quotes += chunk.count(b'"')
            last_newline = chunk.rfind(b"\n")
            line_so_far = chunk[last_newline + 1 :] if last_newline >= 0 else line_so_far + chunk
    # An even number of quote characters before the line (a doubled quote counts two): the line
    # starts a record.
    if (quotes - line_so_far.count(b'"')) % 2:
        return f"line {line}"
    # The bytes before the first bad one are in the encoding; the reader counts quoted commas
    # right.
    try:
        text = line_so_far.decode(_text_encoding(encoding))
        fields = next(csv.reader([text], delimiter=delimiter), [])
    except csv.Error:  # a lone carriage return: lines that the reader does not split alike
        return f"line {line}"
    return f"line {line}, field {max(len(fields), 1)}"


@contextlib.contextmanager
def _readable_by_duckdb(path: Path, mixed_line_endings: bool, encoding: str) -> Iterator[Path]:
    """The CSV file for DuckDB to read: `path` itself, or a copy of it in UTF-8 (DuckDB reads
    no Windows-1252) and, when its lines end now in CRLF and now in LF (files pieced together on
    two systems), with LF throughout, the same lines in the same places and every quoted value as
    it was. DuckDB's strict parser stops where the line ending changes."""
    if not mixed_line_endings and encoding == "utf-8":
        yield path
        return
    # The encoding writes ASCII as ASCII (_checked_encoding): the line ends, quotes and commas
    # are where they were.
    decoder = codecs.getincrementaldecoder(encoding)()
    with tempfile.TemporaryDirectory(prefix="extract-") as folder:
        copy = Path(folder) / "utf8.csv"
        with _open_csv(path, "rb") as source, copy.open("wb") as target:
            carried = b""  # a CR at the end of a chunk, whose LF may start the next
            quoted = False  # within a quoted value, where a CRLF is part of the value
            while chunk := _read_chunk(source, path):
                if encoding != "utf-8":
                    chunk = decoder.decode(chunk).encode("utf-8")
                if not mixed_line_endings:
                    target.write(chunk)
                    continue
                chunk = carried + chunk
                carried = chunk[-1:] if chunk.endswith(b"\r") else b""
                # Between two quote characters the state flips (a doubled quote flips twice).
                for index, part in enumerate(chunk[: len(chunk) - len(carried)].split(b'"')):
                    if index:
                        target.write(b'"')
                        quoted = not quoted
                    target.write(part if quoted else part.replace(b"\r\n", b"\n"))
            target.write(carried)
        yield copy


def _read_chunk(handle, path: Path) -> bytes:
    try:
        return handle.read(1 << 20)
    except (gzip.BadGzipFile, EOFError) as error:
        raise ExtractError(
            f"{path}: is not a valid gzip file ({error}); compress it with gzip, or name it "
            ".csv if it is plain text"
        ) from error


def _read_csv_header(
    path: Path, skip_lines: int = 0, encoding: str = "utf-8-sig", delimiter: str = ","
) -> list[str]:
    """The header row of a CSV file, as written (a UTF-8 byte order mark is dropped)."""
    try:
        with _open_csv(path, encoding=encoding, newline="") as handle:
            for _ in range(skip_lines):
                handle.readline()
            header = next(csv.reader(handle, delimiter=delimiter), None)
    except csv.Error as error:
        raise ExtractError(f"{path}: cannot be read as CSV: {error}") from error
    if not header or all(not name.strip() for name in header):
        raise ExtractError(f"{path}: is empty; expected a header row")
    return header


def _csv_records(
    path: Path, skip_lines: int = 0, encoding: str = "utf-8-sig", delimiter: str = ","
) -> list[tuple[int, list[str]]]:
    """Every data record of a CSV file with the line it starts on; blank lines are no records.

    An unterminated quote would swallow the rest of the file into one value: that is an error.
    """
    records = []
    try:
        with _open_csv(path, encoding=encoding, newline="") as handle:
            for _ in range(skip_lines):
                handle.readline()
            reader = csv.reader(handle, delimiter=delimiter, strict=True)
            next(reader)
            consumed = reader.line_num
            for fields in reader:
                if fields:
                    records.append((skip_lines + consumed + 1, fields))
                consumed = reader.line_num
    except csv.Error as error:
        raise ExtractError(
            f"{path}: cannot be read as CSV: line {skip_lines + consumed + 1}: {error}"
        ) from error
    return records


def _footer_lines(
    entity: Entity,
    path: Path,
    records: list[tuple[int, list[str]]],
    count: int,
    read_columns: dict[str, str],
) -> set[int]:
    """The lines of the last `count` (`skip_last_lines`) of a CSV file's `records` (a report's
    totals, an "exported on" line), which are not rows. A record among them that holds every
    required column is an order line rather than a footer: an error, so that a mapping which
    does not fit the file never drops data."""
    footer = records[-count:]
    # Where each required column is in a record (scratch column `c<i>` holds field i).
    required = [int(read_columns[c.name][1:]) for c in entity.columns if c.required]
    for line, fields in footer:
        if all(i < len(fields) and fields[i].strip() for i in required):
            raise ExtractError(
                f"{path}, line {line}: skip_last_lines = {count} would leave out this line, "
                "but it holds a whole row, not a total or a footer: the mapping's "
                "skip_last_lines does not fit this file"
            )
    return {line for line, _ in footer}


@dataclass(frozen=True)
class _FileRead:
    """What reading one file gave: its headers, where each is held, and its broken records."""

    headers: list[str]
    columns: list[str]
    header_for: dict[str, str]  # contract column -> the scratch column holding it
    mapping: SourceMapping
    records_read: int
    # (line, the record's fields as JSON, message) of records with the wrong number of fields
    malformed: list[tuple[int, str, str]]
    # SQL for a row's line in the file: computed from its position when rows and lines match
    # one to one (no table-wide UPDATE then), else the `_line` column set record by record.
    line_sql: str = "_line"
    # The DuckDB type of each scratch column that is not text (Parquet's typed columns).
    types: dict[str, str] = field(default_factory=dict)


def _read_file_as_text(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    path: Path,
    scratch: str,
    mapping: SourceMapping,
) -> _FileRead:
    """Reads one file into `scratch`, every value as text, each row with its `_line`.

    CSV files are read with every option set, none sniffed: sniffing can take a `#` for a comment
    marker or a title for a header and drop rows without a word. Records with the wrong number
    of fields are set aside (DuckDB's rejects) and returned as malformed, with their lines.
    """
    is_csv = _is_csv(path)
    with contextlib.ExitStack() as cleanup:
        try:
            if is_csv:
                line_count, mixed_line_endings = _scan_csv(
                    path, mapping.encoding, mapping.delimiter
                )
                skip = mapping.skip_lines
                headers = _read_csv_header(path, skip, mapping.text_encoding, mapping.delimiter)
                columns = [f"c{i}" for i in range(len(headers))]
                # Checked before the rows are read: a title line or another delimiter shows here.
                header_for = _map_headers(entity, path, headers, columns, mapping)
                types = ", ".join(f"'{column}': 'VARCHAR'" for column in columns)
                readable = cleanup.enter_context(
                    _readable_by_duckdb(path, mixed_line_endings, mapping.encoding)
                )
                compression = "gzip" if readable.name.lower().endswith(".gz") else "none"
                con.execute("drop table if exists _csv_rejects")
                con.execute("drop table if exists _csv_reject_scans")
                source = (
                    f"read_csv({exact_path_sql(readable)}, header = true, auto_detect = false, "
                    f"columns = {{{types}}}, delim = '{mapping.delimiter}', quote = '\"', "
                    "escape = '\"', "
                    f"comment = '', skip = {skip}, strict_mode = true, encoding = 'utf-8', "
                    f"compression = '{compression}', store_rejects = true, "
                    "rejects_table = '_csv_rejects', rejects_scan = '_csv_reject_scans')"
                )
            else:
                source = f"read_parquet({exact_path_sql(path)})"
            con.execute(
                f"create or replace temp table {scratch} as select *, null::integer as _line "
                f"from {source}"
            )
        except duckdb.Error as error:
            kind = "CSV" if is_csv else "Parquet"
            message = " ".join(str(error).split("\n\n")[0].split())
            raise ExtractError(f"{path}: cannot be read as {kind}: {message}") from error

    (accepted,) = con.execute(f"select count(*) from {scratch}").fetchone()
    if not is_csv:
        described = con.execute(f"describe {scratch}").fetchall()[:-1]
        headers = [row[0] for row in described]
        header_for = _map_headers(entity, path, headers, headers, mapping)
        types = {row[0]: row[1] for row in described if row[1] != "VARCHAR"}
        return _FileRead(
            headers, list(headers), header_for, mapping, accepted, [], "(rowid + 1)", types
        )

    # DuckDB lists one reject per missing field: one record is one line here.
    rejects = con.execute(
        "select line, any_value(error_type), any_value(error_message) from _csv_rejects "
        "group by line order by line"
    ).fetchall()
    if not rejects and line_count == skip + accepted + 1 and not mapping.skip_last_lines:
        return _FileRead(
            headers, columns, header_for, mapping, accepted, [], f"(rowid + {skip + 2})"
        )

    # Blank lines, values spanning lines or rejected records: DuckDB's row numbers are not line
    # numbers any more, so the file is read once more, record by record, for the exact lines.
    good_lines, malformed = [], []
    records = _csv_records(path, skip, mapping.text_encoding, mapping.delimiter)
    for line, fields in records:
        # A trailing delimiter (one extra, empty field) is common in exports; DuckDB reads such
        # a record as fitting, and so does this count.
        if len(fields) == len(headers) or fields[len(headers) :] == [""]:
            good_lines.append(line)
        else:
            malformed.append(
                (
                    line,
                    json.dumps(fields, ensure_ascii=False),
                    f"expected {len(headers)} fields, found {len(fields)}",
                )
            )
    if len(good_lines) != accepted or len(malformed) != len(rejects):
        first = rejects[0] if rejects else None
        detail = f" (DuckDB: {first[1].lower()}, {first[2]})" if first else ""
        raise ExtractError(f"{path}: cannot be read as CSV consistently{detail}")
    if mapping.skip_last_lines:
        footer = _footer_lines(entity, path, records, mapping.skip_last_lines, header_for)
        # The footer's records are the file's last: those DuckDB accepted are the last rows read.
        footer_rows = sum(line in footer for line in good_lines)
        con.execute(f"delete from {scratch} where rowid >= {accepted - footer_rows}")
        good_lines = good_lines[: accepted - footer_rows]
        malformed = [record for record in malformed if record[0] not in footer]
        accepted -= footer_rows
    con.execute(
        f"update {scratch} set _line = lines.line from (select unnest($1::integer[]) as line, "
        f"generate_subscripts($1::integer[], 1) - 1 as row_index) as lines "
        f"where {scratch}.rowid = lines.row_index",
        [good_lines],
    )
    return _FileRead(headers, columns, header_for, mapping, accepted + len(malformed), malformed)


def _map_headers(
    entity: Entity,
    path: Path,
    headers: Sequence[str],
    columns: Sequence[str],
    mapping: SourceMapping,
) -> dict[str, str]:
    """Maps each contract column the file has to the column of the scratch table holding it.

    Header names match case-insensitively, surrounding spaces ignored; two headers that match
    one name are an error rather than a guess which one is meant. A mapping renames the
    headers it lists.
    """
    by_name: dict[str, tuple[str, str]] = {}
    for header, column in zip(headers, columns, strict=True):
        normalized = header.strip().lower()
        if normalized in by_name:
            raise ExtractError(
                f"{path}: columns {by_name[normalized][0]!r} and {header!r} both map onto "
                f"{normalized!r}; keep one of them"
            )
        by_name[normalized] = (header, column)
    wanted = {c.name: mapping.columns.get(c.name, c.name).strip().lower() for c in entity.columns}
    missing_columns = [c for c in entity.columns if c.required and wanted[c.name] not in by_name]
    missing = [
        c.name
        if c.name not in mapping.columns
        else f"{c.name} (mapped from {mapping.columns[c.name]!r})"
        for c in missing_columns
    ]
    if missing and _is_csv(path) and len(headers) == 1:
        # One field holding the column names: the export uses another delimiter, and saying
        # that the columns it shows are missing would only puzzle.
        for delimiter in DELIMITERS:
            split = {name.strip().lower() for name in headers[0].split(delimiter)}
            if delimiter in headers[0] and split & set(wanted.values()):
                written = "\\t" if delimiter == "\t" else delimiter
                described = "tabs" if delimiter == "\t" else f"'{delimiter}'"
                raise ExtractError(
                    f"{path}: the header looks separated by {described}; name the delimiter in "
                    f'{path.parent / MAPPING_FILE_NAME}: delimiter = "{written}" (and '
                    'decimal_separator = "," for numbers written 12,50; docs/extract-mapping.md)'
                )
    if missing:
        # Headers the contract does not know may be missing columns under another name: the
        # mapping file renames them. Without such headers the export lacks the columns.
        unused = set(by_name) - set(wanted.values())
        unmapped = any(c.name not in mapping.columns for c in missing_columns)
        hint = (
            f"; if the export names them otherwise or has lines above its header, say so in "
            f"{path.parent / MAPPING_FILE_NAME} (docs/extract-mapping.md)"
            if unused and unmapped
            else ""
        )
        raise ExtractError(
            f"{path}: missing required column(s) {', '.join(missing)} "
            f"(header has: {', '.join(h.strip() for h in headers) or 'nothing'}){hint}"
        )
    return {c.name: by_name[wanted[c.name]][1] for c in entity.columns if wanted[c.name] in by_name}


def _text_sql(column: Column, read: _FileRead) -> str:
    """The column's value as trimmed text, empty as NULL, with the mapping's values replaced."""
    text = f"nullif(trim({_quote(read.header_for[column.name])}::varchar), '')"
    replacements = read.mapping.values.get(column.name)
    if not replacements:
        return text
    cases = " ".join(
        f"when {_literal(theirs.strip().lower())} then {_literal(ours)}"
        for theirs, ours in replacements.items()
    )
    return f"(case lower({text}) {cases} else {text} end)"


def _typed_value_sql(column: Column, read: _FileRead) -> str | None:
    """The column's value from its typed (Parquet) value, when its type says what parsing its
    text would find (see `Column.typed_value_sql`) and the mapping changes neither its values
    nor how dates are written; None when the value is read as text."""
    source_type = read.types.get(read.header_for[column.name])
    if (
        source_type is None
        or column.name in read.mapping.values
        or (column.kind == "date" and read.mapping.date_format)
    ):
        return None
    return column.typed_value_sql(_text_column(column), source_type)


def _text_column(column: Column) -> str:
    return _quote(f"t_{column.name}")


def _value_column(column: Column) -> str:
    return _quote(f"v_{column.name}")


def _texts_sql(entity: Entity, read: _FileRead) -> str:
    """The select list of each contract column's text (`t_<name>`), for the columns the file has.

    A typed column whose type says what its value is (`_typed_value_sql`) is not turned into
    text: `t_<name>` holds the typed value as read, NULL where it is empty, and text only where
    a message shows it."""
    return ", ".join(
        (
            _quote(read.header_for[column.name])
            if _typed_value_sql(column, read)
            else _text_sql(column, read)
        )
        + f" as {_text_column(column)}"
        for column in entity.columns
        if column.name in read.header_for
    )


def _values_sql(entity: Entity, read: _FileRead, settings: LoadSettings) -> str:
    """The select list of each column's typed value (`v_<name>`), from its `t_<name>`: parsed
    from the text, or cast from a typed value without a change."""
    return ", ".join(
        (
            _typed_value_sql(column, read)
            or column.parse_sql(
                _text_column(column),
                settings.timezone,
                read.mapping.date_format,
                read.mapping.decimal_separator,
            )
        )
        + f" as {_value_column(column)}"
        for column in entity.columns
        if column.name in read.header_for
    )


def _problems_sql(
    entity: Entity, read: _FileRead, load_date: dt.date, settings: LoadSettings, file_name: str
) -> str:
    """SQL for the list of problems of one row: structs of (rule, message); NULL when clean.

    Works on a relation with each column's text `t_<name>` and typed value `v_<name>` (each
    computed once per row), `_line`, `_first_line_like_this`, the first line of the file with
    the same values (NULL when there is none), and `_customers_of_order`, the customers named by
    the row's order in the file when there are several (NULL otherwise).
    """
    checks = []  # (condition, problem)
    for column in entity.columns:
        if column.name not in read.header_for:
            continue
        text, value = _text_column(column), _value_column(column)
        described = column.describe_expected(
            read.mapping.date_format, read.mapping.decimal_separator
        )
        if column.required:
            message = _literal(f"column {column.name}: is empty, expected {described}")
            checks.append(
                (f"{text} is null", f"{{'rule': 'missing_required_value', 'message': {message}}}")
            )
        if column.kind != "text":
            expected = _literal(f", expected {described}")
            checks.append(
                (
                    f"{text} is not null and {value} is null",
                    f"{{'rule': {_literal(column.rule)}, 'message': "
                    f"{_literal(f'column {column.name}: has ')} || {_literal(chr(39))} || {text} "
                    f"|| {_literal(chr(39))} || {expected}}}",
                )
            )
    if entity.name == "orders" and "order_date" in read.header_for:
        order_date = _value_column(entity.column("order_date"))
        latest = load_date + dt.timedelta(days=settings.future_order_tolerance_days)
        checks.append(
            (
                f"{order_date} > date '{latest}'",
                f"{{'rule': 'order_date_in_future', 'message': 'column order_date: ' || "
                f"{order_date}::varchar || ' is after {latest}, the load date {load_date} plus "
                f"{settings.future_order_tolerance_days} day(s) of tolerance'}}",
            )
        )
        # Shown as written: DuckDB writes year 0 as 0001-01-01 (BC).
        order_date_text = _text_column(entity.column("order_date"))
        earliest = settings.earliest_order_date
        checks.append(
            (
                f"{order_date} < date '{earliest}'",
                f"{{'rule': 'order_date_too_early', 'message': 'column order_date: ' || "
                f"{_literal(chr(39))} || {order_date_text} || {_literal(chr(39))} || "
                f"' is before {earliest}, the earliest order date allowed "
                "(EARLIEST_ORDER_DATE)'}",
            )
        )
    if entity.name == "orders":
        message = _two_customers_message_sql(
            _text_column(entity.column("order_id")), _literal(file_name), "_customers_of_order"
        )
        checks.append(
            (
                "_customers_of_order is not null",
                f"{{'rule': '{TWO_CUSTOMERS_RULE}', 'message': {message}}}",
            )
        )
    checks.append(
        (
            "_first_line_like_this < _line",
            "{'rule': 'duplicate_line', 'message': "
            "'the same values as line ' || _first_line_like_this}",
        )
    )
    # Most rows are clean: one cheap test each, and the list is built for the others only.
    any_problem = " or ".join(f"coalesce({condition}, false)" for condition, _ in checks)
    problems = ", ".join(
        f"case when {condition} then {problem} end" for condition, problem in checks
    )
    return (
        f"case when {any_problem} then "
        f"list_filter([{problems}], lambda problem: problem is not null) end"
    )


def _typed_values_sql(entity: Entity, read: _FileRead) -> str:
    """The raw table's contract columns from the `v_<name>` values (NULL for absent columns)."""
    return ", ".join(
        f"{_value_column(column)} as {_quote(column.name)}"
        if column.name in read.header_for
        else f"null::{column.sql_type} as {_quote(column.name)}"
        for column in entity.columns
    )


def _repeated_lines_sql(read: _FileRead, scratch: str) -> str:
    """(`_line`, `_first_line_like_this`) of each row whose values repeat an earlier row's.

    Rows are grouped by a hash of their values, which is far cheaper than comparing every
    column of every row; the few rows that share a hash are then compared value by value, so a
    hash collision never marks a row as a duplicate.
    """
    columns = [_quote(c) for c in read.columns]
    same_values = " and ".join(f"row.{c} is not distinct from first.{c}" for c in columns)
    return f"""
        with hashed as (
            select {read.line_sql} as _line, hash({", ".join(columns)}) as _values_hash
            from {scratch}
        ),
        repeated as (
            select _values_hash, min(_line) as first_line
            from hashed group by _values_hash having count(*) > 1
        ),
        candidates as (
            select hashed._line, repeated.first_line
            from hashed join repeated using (_values_hash)
            where hashed._line > repeated.first_line
        ),
        lined as (select *, {read.line_sql} as _row_line from {scratch})
        select candidates._line, candidates.first_line as _first_line_like_this
        from candidates
        join lined as row on row._row_line = candidates._line
        join lined as first on first._row_line = candidates.first_line
        where {same_values}
    """


def _two_customers_message_sql(order_id: str, source_file: str, customers: str) -> str:
    return (
        f"'order ' || {order_id} || ' names ' || len({customers}) || ' customers in ' || "
        f"{source_file} || ': ' || array_to_string({customers}, ', ') || "
        "' (every line of an order must name one customer; all its lines are quarantined)'"
    )


def _quarantine_loaded_orders_naming_two_customers(
    con: duckdb.DuckDBPyConnection, checked_at: dt.datetime
) -> int:
    """Moves to quarantine the lines of orders that name two customers in one file among the
    rows loaded before the rule existed (their dbt build stopped on them, every day): the rows
    and the ledger become what loading the files now gives, vanished files included. Done once
    per warehouse (`raw.rules_checked` records it); returns the lines moved."""
    orders = ENTITIES["orders"]
    (checked,) = con.execute(
        f"select count(*) from {RULES_CHECKED_TABLE} where entity = ? and rule = ?",
        [orders.name, TWO_CUSTOMERS_RULE],
    ).fetchone()
    if checked:
        return 0
    raw_record = (
        "json_object("
        + ", ".join(f"{_literal(c.name)}, line.{_quote(c.name)}" for c in orders.columns)
        + ")::varchar"
    )
    checked_at_sql = f"{_literal(checked_at.isoformat())}::timestamptz"
    con.execute("begin transaction")
    try:
        con.execute(
            f"""
            create or replace temp table _two_customers_loaded as
            select _source_file, order_id, list_sort(list(distinct customer_id)) as customers
            from {orders.table}
            group by _source_file, order_id
            having count(distinct customer_id) > 1
            """
        )
        (moved,) = con.execute(
            f"""
            insert into {REJECTED_ROWS_TABLE}
            select 'orders', line._source_file, line._source_line, {raw_record},
                   '{TWO_CUSTOMERS_RULE}',
                   {_two_customers_message_sql("line.order_id", "line._source_file", "customers")},
                   {checked_at_sql}
            from {orders.table} as line
            join _two_customers_loaded using (_source_file, order_id)
            """
        ).fetchone()
        con.execute(
            f"""
            update {LOAD_LEDGER_TABLE} as ledger
            set rows_loaded = ledger.rows_loaded - moved.lines,
                rows_quarantined = ledger.rows_quarantined + moved.lines
            from (
                select _source_file as source_file, count(*) as lines
                from {orders.table} join _two_customers_loaded using (_source_file, order_id)
                group by _source_file
            ) as moved
            where ledger.entity = 'orders' and ledger.source_file = moved.source_file
            """
        )
        con.execute(
            f"""
            delete from {orders.table} as line using _two_customers_loaded as bad
            where line._source_file = bad._source_file and line.order_id = bad.order_id
            """
        )
        con.execute(
            f"insert into {RULES_CHECKED_TABLE} values (?, ?, {checked_at_sql})",
            [orders.name, TWO_CUSTOMERS_RULE],
        )
        con.execute("drop table _two_customers_loaded")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return moved


def _lines_of_orders_naming_two_customers_sql(entity: Entity, read: _FileRead, scratch: str) -> str:
    """(`_line`, `_customers_of_order`) of each line of an order whose lines in the file name
    more than one customer (the sorted list of them); nothing for other entities."""
    if entity.name != "orders":
        return "select null::bigint as _line, null::varchar[] as _customers_of_order where false"
    order_id = _text_sql(entity.column("order_id"), read)
    customer_id = _text_sql(entity.column("customer_id"), read)
    return f"""
        with lines as (
            select {read.line_sql} as _line, {order_id} as order_id,
                   {customer_id} as customer_id
            from {scratch}
        ),
        orders_naming_two_customers as (
            -- Two customers or more: a first and a last that differ, far cheaper to find than a
            -- distinct count over every order; the list is made for those orders only.
            select order_id
            from lines
            where order_id is not null and customer_id is not null
            group by order_id
            having min(customer_id) <> max(customer_id)
        ),
        their_lines as (
            select lines.* from lines join orders_naming_two_customers using (order_id)
        ),
        their_customers as (
            select order_id, list_sort(list(distinct customer_id)) as customers
            from their_lines
            where customer_id is not null
            group by order_id
        )
        select their_lines._line, their_customers.customers as _customers_of_order
        from their_lines join their_customers using (order_id)
    """


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _load_file(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    path: Path,
    content_sha256: str,
    loaded_at: dt.datetime,
    settings: LoadSettings,
    mapping: SourceMapping,
) -> FileLoad:
    """Loads one file atomically: its rows replace whatever it contributed before, its bad rows
    go to quarantine, and the ledger records it, in one transaction or not at all."""
    try:
        return _check_and_write_file(
            con, entity, path, content_sha256, loaded_at, settings, mapping
        )
    finally:
        # Whatever happened, the file's working tables go.
        for working_table in ("_reading", "_repeated", "_two_customers", "_checked"):
            con.execute(f"drop table if exists {working_table}_{entity.name}")


def _check_and_write_file(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    path: Path,
    content_sha256: str,
    loaded_at: dt.datetime,
    settings: LoadSettings,
    mapping: SourceMapping,
) -> FileLoad:
    """Reads and checks one file, then writes its rows, quarantine and ledger entry in one
    transaction."""
    scratch, checked = f"_reading_{entity.name}", f"_checked_{entity.name}"
    repeated = f"_repeated_{entity.name}"
    two_customers = f"_two_customers_{entity.name}"
    read = _read_file_as_text(con, entity, path, scratch, mapping)
    con.execute(f"create or replace temp table {repeated} as {_repeated_lines_sql(read, scratch)}")
    con.execute(
        f"create or replace temp table {two_customers} as "
        f"{_lines_of_orders_naming_two_customers_sql(entity, read, scratch)}"
    )
    problems = _problems_sql(entity, read, settings.local_date(loaded_at), settings, path.name)
    # Each value is trimmed once and parsed once: the checks and the typed row share them.
    con.execute(
        f"""
        create or replace temp table {checked} as
        with texts as (
            select {read.line_sql} as _line, {_texts_sql(entity, read)} from {scratch}
        ),
        parsed as (
            select texts.*, {_values_sql(entity, read, settings)}, _first_line_like_this,
                   _customers_of_order
            from texts left join {repeated} using (_line) left join {two_customers} using (_line)
        )
        select
            _line,
            {_typed_values_sql(entity, read)},
            {problems} as _problems
        from parsed
        """
    )
    (bad_rows, bad_rows_of_the_share) = con.execute(
        f"""
        select count(*), count(*) filter (
            where len(list_filter(_problems, lambda p: p.rule <> '{TWO_CUSTOMERS_RULE}')) > 0
        )
        from {checked} where _problems is not null
        """
    ).fetchone()
    quarantined = bad_rows + len(read.malformed)
    share_quarantined = bad_rows_of_the_share + len(read.malformed)
    if read.records_read and share_quarantined / read.records_read > settings.max_quarantine_share:
        examples = con.execute(
            f"""
            select _line, list_transform(_problems, lambda p: p.message) from {checked}
            where _problems is not null order by _line limit {MAX_EXAMPLES}
            """
        ).fetchall()
        examples = sorted(
            [(line, "; ".join(messages)) for line, messages in examples]
            + [(line, message) for line, _, message in read.malformed]
        )[:MAX_EXAMPLES]
        raise ExtractError(
            f"{path}: {share_quarantined} of {read.records_read} rows break the contract "
            f"({share_quarantined / read.records_read:.1%}), more than the "
            f"{settings.max_quarantine_share:.1%} allowed (QUARANTINE_MAX_SHARE); nothing of "
            "this file was loaded. First problems:\n"
            + "\n".join(f"{path}, line {line}, {message}" for line, message in examples)
        )

    raw_record = (
        "json_object("
        + ", ".join(
            f"{_literal(header)}, row.{_quote(column)}"
            for header, column in zip(read.headers, read.columns, strict=True)
        )
        + ")::varchar"
    )
    stat = path.stat()
    file_name = _literal(path.name)
    loaded_at_sql = f"{_literal(loaded_at.isoformat())}::timestamptz"
    con.execute("begin transaction")
    try:
        con.execute(f"delete from {entity.table} where _source_file = {file_name}")
        con.execute(
            f"delete from {REJECTED_ROWS_TABLE} where entity = ? and source_file = {file_name}",
            [entity.name],
        )
        contract_columns = ", ".join(_quote(column.name) for column in entity.columns)
        con.execute(
            f"""
            insert into {entity.table}
            select {contract_columns}, {file_name}, _line, {loaded_at_sql}
            from {checked} where _problems is null
            """
        )
        # The rows as read, for the quarantined ones only.
        con.execute(
            f"""
            insert into {REJECTED_ROWS_TABLE}
            select ?, {file_name}, bad._line, {raw_record}, bad._problems[1].rule,
                   array_to_string(list_transform(bad._problems, lambda p: p.message), '; '),
                   {loaded_at_sql}
            from (select * from {checked} where _problems is not null) as bad
            join (select *, {read.line_sql} as _row_line from {scratch}) as row
                on row._row_line = bad._line
            order by bad._line
            """,
            [entity.name],
        )
        if read.malformed:
            con.executemany(
                f"insert into {REJECTED_ROWS_TABLE} values "
                f"(?, {file_name}, ?, ?, 'wrong_field_count', ?, {loaded_at_sql})",
                [[entity.name, line, fields, message] for line, fields, message in read.malformed],
            )
        rows_loaded = read.records_read - quarantined
        con.execute(
            f"insert or replace into {LOAD_LEDGER_TABLE} values "
            f"(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {loaded_at_sql}, null)",
            [
                entity.name,
                path.name,
                str(path),
                stat.st_size,
                stat.st_mtime_ns,
                content_sha256,
                mapping.fingerprint(),
                read.records_read,
                rows_loaded,
                quarantined,
            ],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return FileLoad(path.name, read.records_read, rows_loaded, quarantined)


def ensure_raw_tables(con: duckdb.DuckDBPyConnection, entity: Entity) -> None:
    """Creates the raw table of `entity`, the quarantine and the ledger where they are missing."""
    con.execute(BOOKKEEPING_DDL)
    con.execute(
        create_raw_table_sql(entity, entity.table)
        .replace("or replace ", "")
        .replace("create table", "create table if not exists", 1)
    )


def _no_extracts_message(entity: Entity, raw_data_dir: Path, listing: FolderListing) -> str:
    """Why an entity whose folder is required has no extract to load, and where its extracts
    may sit instead: directly in `raw_data_dir`, beside the folder that should hold them."""
    folder = raw_data_dir / entity.name
    kinds = ", ".join(EXTRACT_SUFFIXES[:-1]) + f" or {EXTRACT_SUFFIXES[-1]} files"
    if folder.is_dir():
        message = f"{folder}: no {entity.name} extracts found (expected {kinds})" + "".join(
            f"; not loaded: {name}, {why}" for name, why in listing.not_loaded
        )
    else:
        message = f"{folder}: " + (
            "is not a folder" if folder.exists() else "the folder does not exist"
        )
    misplaced = sorted(
        path.name
        for path in (raw_data_dir.iterdir() if raw_data_dir.is_dir() else ())
        if path.is_file()
        and path.name.lower().startswith(entity.name)
        and path.name.lower().endswith(EXTRACT_SUFFIXES)
    )
    if misplaced:
        message += (
            f"; {', '.join(misplaced)} {'is' if len(misplaced) == 1 else 'are'} directly in "
            f"{raw_data_dir}: the {entity.name} extracts go in its {entity.name}/ subfolder, "
            f"move {'it' if len(misplaced) == 1 else 'them'} there"
        )
    elif not folder.is_dir():
        message += f"; the {entity.name} extracts ({kinds}) go in a folder of that name"
    return message


def load_entity(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    raw_data_dir: Path,
    loaded_at: dt.datetime | None = None,
    settings: LoadSettings | None = None,
) -> LoadResult:
    """Loads the new and changed extract files of `entity`, each file in its own transaction.

    A file is skipped when the ledger has it with the same content; a file whose content changed
    replaces what it loaded before; a file gone from the folder is reported, its rows stay. A
    file-level problem raises an ExtractError naming the file, and stops this entity's load:
    files before it stay loaded, it and the files after it are tried again on the next run.
    """
    settings = settings or LoadSettings()
    loaded_at = loaded_at or dt.datetime.now(dt.UTC)
    folder = raw_data_dir / entity.name
    listing = list_extract_files(folder)
    files = listing.files
    if entity.required_folder and not files:
        raise ExtractError(_no_extracts_message(entity, raw_data_dir, listing))
    mappings = read_mappings(entity, folder)
    ensure_raw_tables(con, entity)
    if entity.name == "orders":
        _quarantine_loaded_orders_naming_two_customers(con, loaded_at)
    ledger = {
        row[0]: row[1:]
        for row in con.execute(
            f"select source_file, size_bytes, modified_at_ns, content_sha256, missing_since, "
            "read_with "
            f"from {LOAD_LEDGER_TABLE} where entity = ?",
            [entity.name],
        ).fetchall()
    }
    loaded, unchanged = [], []
    for path in files:
        stat = path.stat()
        mapping = mapping_for(mappings, path.name)
        known = ledger.get(path.name)
        if known and known[4] != mapping.fingerprint():
            known = None  # read with another mapping before: read again
        # Same size and modification time as when it was loaded: taken as unchanged without
        # reading it, so a routine run costs nothing per old file. (A tool that rewrites a file
        # and restores both would go unnoticed; any ordinary write changes the time.)
        if known and known[:2] == (stat.st_size, stat.st_mtime_ns) and known[3] is None:
            unchanged.append(path.name)
            continue
        content_sha256 = _sha256(path)
        if known and known[2] == content_sha256:
            # Same bytes, touched or back after going missing: nothing to load again.
            con.execute(
                f"update {LOAD_LEDGER_TABLE} set modified_at_ns = ?, source_path = ?, "
                "missing_since = null where entity = ? and source_file = ?",
                [stat.st_mtime_ns, str(path), entity.name, path.name],
            )
            unchanged.append(path.name)
            continue
        loaded.append(
            _load_file(
                con,
                entity,
                path,
                content_sha256,
                loaded_at,
                settings,
                mapping,
            )
        )
    present = {path.name for path in files}
    missing = sorted(name for name in ledger if name not in present)
    if missing:
        con.execute(
            f"update {LOAD_LEDGER_TABLE} "
            "set missing_since = coalesce(missing_since, ?::timestamptz) "
            "where entity = ? and source_file in (select unnest(?::varchar[]))",
            [loaded_at.isoformat(), entity.name, missing],
        )
    return LoadResult(
        entity=entity.name,
        table=entity.table,
        files=tuple(path.name for path in files),
        loaded=tuple(loaded),
        unchanged=tuple(unchanged),
        missing=tuple(missing),
        not_loaded=listing.not_loaded,
    )


def reconcile(con: duckdb.DuckDBPyConnection, entity: Entity) -> list[tuple]:
    """Per source file: rows read (ledger), rows in the raw table, rows quarantined.

    Every row read must be in exactly one of the two. Rows of files the ledger does not know
    count as read 0, so stray rows show up as a difference too.
    """
    return con.execute(
        f"""
        with in_table as (
            select _source_file as source_file, count(*) as n from {entity.table} group by all
        ),
        in_quarantine as (
            select source_file, count(*) as n from {REJECTED_ROWS_TABLE}
            where entity = $entity group by all
        ),
        ledger as (
            select source_file, rows_read from {LOAD_LEDGER_TABLE} where entity = $entity
        ),
        files as (
            select source_file from ledger
            union select source_file from in_table
            union select source_file from in_quarantine
        )
        select
            files.source_file,
            coalesce(ledger.rows_read, 0) as rows_read,
            coalesce(in_table.n, 0) as rows_loaded,
            coalesce(in_quarantine.n, 0) as rows_quarantined
        from files
        left join ledger using (source_file)
        left join in_table using (source_file)
        left join in_quarantine using (source_file)
        order by files.source_file
        """,
        {"entity": entity.name},
    ).fetchall()


def quarantine_counts(con: duckdb.DuckDBPyConnection, entity: Entity) -> dict[str, int]:
    """Rows in quarantine for `entity`, by the rule they break."""
    return dict(
        con.execute(
            f"select rule, count(*) from {REJECTED_ROWS_TABLE} where entity = ? "
            "group by rule order by rule",
            [entity.name],
        ).fetchall()
    )
