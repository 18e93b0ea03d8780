"""The raw extract contract, and loading the extract files of one entity into DuckDB.

`RAW_DATA_DIR` holds one subfolder per entity (`orders/`, `customers/`, `items/`), each with any
number of `.csv` (UTF-8, header row, comma) and `.parquet` files, read together. Header names match
case-insensitively with surrounding spaces ignored; extra columns are ignored. Identifiers are text
and are kept as written (`00042` is not `42`).

A load reads every file of the entity, checks each value against the contract and replaces
`raw.<entity>` in one transaction, so readers see the old table or the new one, never a mix. Each
row keeps the file it came from and its line in that file: the dbt models need the file name to
pick the latest version of a re-sent order, and people need both to trace a number back to a source.

A value that breaks the contract stops the load with an `ExtractError` naming the file, line and
column; nothing of that entity is replaced.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

ORDER_TYPES = ("invoice", "sales_receipt", "credit_memo", "refund", "void")
BILLING_CYCLES = ("weekly", "monthly", "quarterly", "annual")
EXTRACT_SUFFIXES = (".csv", ".parquet")
RAW_SCHEMA = "raw"
# How many offending rows one error message lists before it says "and N more".
MAX_EXAMPLES = 5


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

    def parse_sql(self, text: str) -> str:
        """SQL that turns the column's trimmed text into its typed value, NULL where it cannot."""
        if self.kind == "text":
            return text
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

    def describe_expected(self) -> str:
        return {
            "text": "a value",
            "date": "a date such as 2024-03-01 (or a timestamp whose date part counts)",
            "decimal": "a number with at most 4 decimals, such as 12.50 or -3",
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


@dataclass(frozen=True)
class LoadResult:
    entity: str
    table: str
    files: tuple[str, ...]
    rows_per_file: dict[str, int]

    @property
    def row_count(self) -> int:
        return sum(self.rows_per_file.values())


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def list_extract_files(folder: Path) -> list[Path]:
    """The entity's extract files in name order: the order in which later versions win."""
    if not folder.is_dir():
        return []
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXTRACT_SUFFIXES),
        key=lambda p: p.name,
    )


def create_raw_table_sql(entity: Entity, table: str) -> str:
    columns = [f"{_quote(c.name)} {c.sql_type}" for c in entity.columns]
    columns += [f"{name} {sql_type}" for name, sql_type in LINEAGE_COLUMNS]
    return f"create or replace table {table} (\n  " + ",\n  ".join(columns) + "\n)"


def _scan_csv(path: Path) -> int:
    """Checks that a CSV file is UTF-8 and returns its number of lines, in one pass over its bytes.

    The error names the byte offset of the first byte that is not UTF-8.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, newlines, last_byte = 0, 0, b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                raise ExtractError(
                    f"{path}: is not UTF-8: byte offset {offset - pending + error.start} "
                    f"({error.reason})"
                ) from error
            offset += len(chunk)
            newlines += chunk.count(b"\n")
            last_byte = chunk[-1:]
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        raise ExtractError(
            f"{path}: is not UTF-8: byte offset {offset - len(decoder.getstate()[0])} "
            f"({error.reason})"
        ) from error
    return newlines + (0 if last_byte == b"\n" else 1)


def _read_csv_header(path: Path) -> list[str]:
    """The header row of a CSV file, as written (a UTF-8 byte order mark is dropped)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), None)
    except csv.Error as error:
        raise ExtractError(f"{path}: cannot be read as CSV: {error}") from error
    if not header or all(not name.strip() for name in header):
        raise ExtractError(f"{path}: is empty; expected a header row")
    return header


def _csv_record_lines(path: Path, line_count: int, record_count: int) -> list[int] | None:
    """The line each data record starts on, or None when record i simply is on line i + 2.

    DuckDB skips blank lines and lets a quoted value span lines, so its row numbers are line
    numbers only when neither happens: exactly when the file has one line per record besides
    the header. Only otherwise is the file read again, record by record, for the exact lines.
    """
    if line_count == record_count + 1:
        return None
    starts = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        consumed = reader.line_num
        for row in reader:
            if row:
                starts.append(consumed + 1)
            consumed = reader.line_num
    return starts


def _read_file_as_text(
    con: duckdb.DuckDBPyConnection, path: Path, scratch: str
) -> tuple[list[str], list[str]]:
    """Reads one file into `scratch`, every value as text, each row with its `_line`.

    Returns the file's header names and, for each, the column of `scratch` that holds it. CSV
    files are read with every option set, none sniffed: sniffing can take a `#` for a comment
    marker or a title for a header and drop rows without a word.
    """
    is_csv = path.suffix.lower() == ".csv"
    try:
        if is_csv:
            line_count = _scan_csv(path)
            headers = _read_csv_header(path)
            columns = [f"c{i}" for i in range(len(headers))]
            types = ", ".join(f"'{column}': 'VARCHAR'" for column in columns)
            source = (
                f"read_csv({_literal(str(path))}, header = true, auto_detect = false, "
                f"columns = {{{types}}}, delim = ',', quote = '\"', escape = '\"', "
                "comment = '', strict_mode = true, encoding = 'utf-8')"
            )
        else:
            source = f"read_parquet({_literal(str(path))})"
        con.execute(
            f"create or replace temp table {scratch} as select *, null::integer as _line "
            f"from {source}"
        )
    except duckdb.Error as error:
        kind = "CSV" if is_csv else "Parquet"
        message = " ".join(str(error).split("\n\n")[0].split())
        raise ExtractError(f"{path}: cannot be read as {kind}: {message}") from error

    if not is_csv:
        headers = [row[0] for row in con.execute(f"describe {scratch}").fetchall()][:-1]
        columns = list(headers)
        con.execute(f"update {scratch} set _line = rowid + 1")
        return headers, columns

    (record_count,) = con.execute(f"select count(*) from {scratch}").fetchone()
    record_lines = _csv_record_lines(path, line_count, record_count)
    if record_lines is None:
        con.execute(f"update {scratch} set _line = rowid + 2")
    else:
        con.execute(
            f"update {scratch} set _line = lines.line from (select unnest($1::integer[]) as line, "
            f"generate_subscripts($1::integer[], 1) - 1 as row_index) as lines "
            f"where {scratch}.rowid = lines.row_index",
            [record_lines],
        )
    return headers, columns


def _map_headers(
    entity: Entity, path: Path, headers: Sequence[str], columns: Sequence[str]
) -> dict[str, str]:
    """Maps each contract column the file has to the column of the scratch table holding it.

    Header names match case-insensitively, surrounding spaces ignored; two headers that match
    one name are an error rather than a guess which one is meant.
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
    missing = [c.name for c in entity.columns if c.required and c.name not in by_name]
    if missing:
        raise ExtractError(
            f"{path}: missing required column(s) {', '.join(missing)} "
            f"(header has: {', '.join(h.strip() for h in headers) or 'nothing'})"
        )
    return {c.name: by_name[c.name][1] for c in entity.columns if c.name in by_name}


def _check_values(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    path: Path,
    scratch: str,
    header_for: dict[str, str],
) -> None:
    """Raises an ExtractError listing the rows whose values break the contract."""
    line = "_line"
    problems: list[str] = []
    for column in entity.columns:
        if column.name not in header_for:
            continue
        text = f"nullif(trim({_quote(header_for[column.name])}::varchar), '')"
        conditions = [f"({text} is not null and ({column.parse_sql(text)}) is null)"]
        if column.required:
            conditions.append(f"{text} is null")
        rows = con.execute(
            f"select {line}, {text} from {scratch} where {' or '.join(conditions)} "
            f"order by rowid limit {MAX_EXAMPLES + 1}"
        ).fetchall()
        for line_number, value in rows[:MAX_EXAMPLES]:
            found = "is empty" if value is None else f"has {value!r}"
            problems.append(
                f"{path}, line {line_number}, column {column.name}: {found}, "
                f"expected {column.describe_expected()}"
            )
        if len(rows) > MAX_EXAMPLES:
            total = con.execute(
                f"select count(*) from {scratch} where {' or '.join(conditions)}"
            ).fetchone()[0]
            problems.append(
                f"{path}, column {column.name}: {total - MAX_EXAMPLES} more row(s) like these"
            )
    if problems:
        raise ExtractError("\n".join(problems))


def _insert_file(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    path: Path,
    scratch: str,
    target: str,
    header_for: dict[str, str],
    loaded_at: dt.datetime,
) -> int:
    values = []
    for column in entity.columns:
        if column.name in header_for:
            text = f"nullif(trim({_quote(header_for[column.name])}::varchar), '')"
            values.append(f"{column.parse_sql(text)} as {_quote(column.name)}")
        else:
            values.append(f"null::{column.sql_type} as {_quote(column.name)}")
    values += [
        f"{_literal(path.name)} as _source_file",
        "_line as _source_line",
        f"{_literal(loaded_at.isoformat())}::timestamptz as _loaded_at",
    ]
    con.execute(f"insert into {target} select {', '.join(values)} from {scratch} order by rowid")
    return con.execute(f"select count(*) from {scratch}").fetchone()[0]


def load_entity(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    raw_data_dir: Path,
    loaded_at: dt.datetime | None = None,
) -> LoadResult:
    """Loads every extract file of `entity` and replaces its raw table atomically."""
    folder = raw_data_dir / entity.name
    files = list_extract_files(folder)
    if entity.required_folder and not files:
        raise ExtractError(
            f"{folder}: no {entity.name} extracts found (expected .csv or .parquet files)"
        )
    loaded_at = loaded_at or dt.datetime.now(dt.UTC)
    staging = f"_loading_{entity.name}"
    scratch = f"_reading_{entity.name}"
    rows_per_file: dict[str, int] = {}
    try:
        con.execute(create_raw_table_sql(entity, staging).replace("table", "temp table", 1))
        for path in files:
            headers, columns = _read_file_as_text(con, path, scratch)
            header_for = _map_headers(entity, path, headers, columns)
            _check_values(con, entity, path, scratch, header_for)
            rows_per_file[path.name] = _insert_file(
                con, entity, path, scratch, staging, header_for, loaded_at
            )
        con.execute("begin transaction")
        try:
            con.execute(f"create schema if not exists {RAW_SCHEMA}")
            con.execute(create_raw_table_sql(entity, entity.table))
            con.execute(f"insert into {entity.table} select * from {staging}")
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    finally:
        con.execute(f"drop table if exists {scratch}")
        con.execute(f"drop table if exists {staging}")
    return LoadResult(
        entity=entity.name,
        table=entity.table,
        files=tuple(p.name for p in files),
        rows_per_file=rows_per_file,
    )
