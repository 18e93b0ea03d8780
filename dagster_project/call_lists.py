"""The win-back call lists as files: one CSV per sales rep in `REPORTS_DIR/call_lists/`.

Each rep opens their own file (`<rep>.csv`, a file name made safe from the rep's name; customers
without a rep are in `unassigned.csv`), their customers in the order to call them
(`reports.win_back_call_list`, dbt_project/models/reports/win_back_call_list.sql).

The folder is written whole beside the old one and renamed over it: a rep who left has no file
left behind from an earlier day, and nobody reads a folder half written.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from dagster_project.reports_database import replace_folder, sql_path

CALL_LISTS_DIR = "call_lists"
CALL_LIST_VIEW = "reports.win_back_call_list"
UNASSIGNED = "unassigned"
# Longer names are cut: some file systems refuse names past 255 bytes.
MAX_NAME_LENGTH = 80


def safe_name(rep: str | None) -> str:
    """A file name (without `.csv`) for a rep: lower-case ASCII letters, digits and dashes;
    `unassigned` for no rep."""
    if rep is None or not rep.strip():
        return UNASSIGNED
    ascii_name = unicodedata.normalize("NFKD", rep).encode("ascii", "ignore").decode()
    name = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:MAX_NAME_LENGTH].strip("-")
    return name or "rep"


def file_names(reps: list[str | None]) -> dict[str | None, str]:
    """Each rep's file name (None: the customers without a rep, always `unassigned`), distinct:
    two reps whose names give the same file name (`Ann Lee` and `ann.lee`), or a rep named
    `Unassigned`, are told apart by a number, in the order of their names."""
    names: dict[str | None, str] = {None: UNASSIGNED}
    taken = {UNASSIGNED}
    for rep in sorted({rep for rep in reps if rep is not None and rep.strip()}):
        base = safe_name(rep)
        name, number = base, 2
        while name in taken:
            name, number = f"{base}-{number}", number + 1
        taken.add(name)
        names[rep] = name
    return names


@contextlib.contextmanager
def computed_once(con) -> Iterator[str]:
    """The win-back call list computed once, as a temporary table (its name), for the files and
    the page that read it: the view reads the whole customer x item history."""
    con.execute(f"create or replace temp table win_back_calls as select * from {CALL_LIST_VIEW}")
    try:
        yield "win_back_calls"
    finally:
        con.execute("drop table if exists win_back_calls")


def write_call_lists(
    con, folder: Path, calls: str | None = None
) -> list[tuple[str, str, int, float]]:
    """Writes one CSV per rep into `folder` (replacing it whole), from `calls` (the call list
    computed once, see computed_once; by default computed here); returns (rep, file, customers,
    revenue at risk) per file, in the order of the reps' names."""
    if calls is None:
        with computed_once(con) as calls:
            return write_call_lists(con, folder, calls)
    reps = [row[0] for row in con.execute(f"select distinct sales_rep from {calls}").fetchall()]
    names = file_names(reps)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    written = []
    for rep, name in sorted(names.items(), key=lambda item: item[1]):
        destination = partial / f"{name}.csv"
        # COPY takes no parameters: the rep's name goes in as a quoted literal.
        which = (
            "sales_rep is null" if rep is None else "sales_rep = '" + rep.replace("'", "''") + "'"
        )
        query = f"select * from {calls} where {which} order by rank_within_rep, customer_id"
        (rows,) = con.execute(
            f"copy ({query}) to {sql_path(destination)} (format csv, header true)"
        ).fetchone()
        (revenue,) = con.execute(
            f"select coalesce(sum(revenue_at_risk), 0)::double from ({query})"
        ).fetchone()
        written.append((rep or "", f"{name}.csv", rows, revenue))
    replace_folder(partial, folder)
    return written
