"""`reports.duckdb`: the reports in one DuckDB file for BI tools, and how a daily run updates it
in proportion to the day rather than to the history.

The file holds both reports as the same views as in the warehouse (their SQL is copied from
there), over tables of the same names as the warehouse's:
- `customer_activity_report` reads `intermediate.int_customer_activity` (one row per customer,
  with the date the rows hold at; the status and the days since the last purchase are computed
  when read);
- `customer_item_activity_report` reads the view `intermediate.int_customer_item_history` (about
  one row per order line, date-free: the rows of `int_customer_item_history_base`, but for the
  customers recomputed since, whose rows are in `int_customer_item_history_recent`),
  `intermediate.int_customer_activity` and `staging.stg_items`. The days since the last purchase
  and the lapsed flag are computed when read, so they need no rewrite when the date moves;
- `intermediate.reports_publication`: the as-of date, the build of the customer x item history
  the file holds, and a fingerprint of its item master (rewritten only when that changes).

A run takes an earlier file and applies to it what the warehouse's builds changed since it was
written: the recent customer x item rows of the customers listed by
`int_customer_item_history_changes` (by `customer_key`), and the customer rows recomputed since
(their `build_number`); every customer row then takes the new as-of date. When the day's build
moved the recent rows into the base, and the earlier file is one build behind, it does the same
first. Then the run renames it over the file.

The earlier file is, first choice, the one published before the current one, kept beside it as
`reports.duckdb.previous` (a second name given to the current file when it is replaced), and
updated where it lies. It is about as large as the history: copying it would cost more than the
day's changes at tens of millions of lines. The current file, which BI tools read, is never
written. When the previous file cannot take the changes (below), or a BI tool still holds it
(opened before the last run, its connection kept: DuckDB then holds a lock on it), the run
updates a copy of the current file instead. It writes the file whole when neither can take the
changes: when there is no usable earlier file, when a build since it recomputed everything (a
backfill, a file changed under its name) or moved the recent rows into the base before the
day's, when its changes are forgotten, or when more than half of its rows were replaced since it
was last written whole (deleted rows leave space behind them in a DuckDB file).

Every file is written in the storage format of DuckDB 1.0, so that the DuckDB that BI drivers
bundle (1.4 and newer) opens it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

# The oldest storage format DuckDB still writes; every DuckDB from 1.0 on reads it.
READER_STORAGE_VERSION = "v1.0.0"

CUSTOMER_REPORT = "customer_activity_report"
ITEM_REPORT = "customer_item_activity_report"
# The views, in the order they are created (a view's relations first), and the relations they
# read, under the same names in both files:
ITEM_HISTORY = "intermediate.int_customer_item_history"
VIEWS = (ITEM_HISTORY, f"reports.{CUSTOMER_REPORT}", f"reports.{ITEM_REPORT}")
ITEM_HISTORY_BASE = "intermediate.int_customer_item_history_base"
ITEM_HISTORY_RECENT = "intermediate.int_customer_item_history_recent"
CUSTOMER_ACTIVITY = "intermediate.int_customer_activity"
ITEM_MASTER = "staging.stg_items"
HISTORY_CHANGES = "intermediate.int_customer_item_history_changes"
PUBLICATION = "intermediate.reports_publication"
# Past this share of its rows replaced since it was written whole, the file is written whole
# again, so that the space deleted rows leave behind does not add up.
MAX_REPLACED_SHARE = 0.5


@dataclasses.dataclass(frozen=True)
class Publication:
    """What `ReportsDatabasePublisher.publish` did: written whole and why, or the changes applied
    (to which file and, for a copy of the current one, why not to the previous; how many
    customers' history, how many customer x item rows, how many customer rows replaced)."""

    written_whole: bool
    reason: str
    updated_file: str = ""
    customers_changed: int = 0
    rows_replaced: int = 0
    customer_rows_replaced: int = 0


def sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def previous_file(destination: Path) -> Path:
    """Where the file published before `destination`'s current one is kept."""
    return destination.with_name(destination.name + ".previous")


def replace_atomically(
    write: Callable[[Path], None], destination: Path, keep_previous: bool = False
) -> None:
    """Calls `write(partial_path)`, then renames the partial file over `destination`. A reader
    holding the old file keeps a consistent old view; a new connection sees the new file. With
    `keep_previous`, the old file stays as `previous_file(destination)`."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        write(partial)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if keep_previous:
        _link_as_previous(destination)
    os.replace(partial, destination)


def _link_as_previous(destination: Path) -> None:
    """`previous_file(destination)` becomes a second name of the file now at `destination`
    (none when there is none), which thus is never missing while its successor is put in place.
    A reader holding the file that was previous keeps it."""
    previous = previous_file(destination)
    linking = previous.with_name(previous.name + ".linking")
    linking.unlink(missing_ok=True)
    try:
        os.link(destination, linking)
    except OSError:  # no file yet, or a file system without hard links: nothing to keep
        previous.unlink(missing_ok=True)
        return
    os.replace(linking, previous)


def view_query(con, view: str) -> str:
    """The query of the warehouse's view `view` (`schema.name`)."""
    schema, name = view.split(".")
    row = con.execute(
        "select sql from duckdb_views() where schema_name = ? and view_name = ?",
        [schema, name],
    ).fetchone()
    match = row and re.match(r"CREATE VIEW \S+ AS (.*?);?\s*$", row[0], re.S)
    if not match:
        raise RuntimeError(f"{view} is not a view in the warehouse; run dbt first")
    return match.group(1)


def _latest_build(con) -> tuple[int, str]:
    return con.execute(
        f"select build_number, build_id from {HISTORY_CHANGES} "
        "where customer_id is null order by build_number desc limit 1"
    ).fetchone()


def _previous_state(con, path: Path) -> tuple[str, int, int] | None:
    """The history build, rows replaced since written whole, and row count of the file at
    `path`; None when there is none to build on."""
    if not path.exists() or path.with_name(path.name + ".wal").exists():
        return None
    try:
        con.execute(f"attach {sql_path(path)} as published_before (read_only)")
    except Exception:
        return None
    try:
        return con.execute(
            f"""
            select history_build_id, rows_replaced_since_written_whole,
                   (select count(*) from published_before.{ITEM_HISTORY_BASE})
            from published_before.{PUBLICATION}
            """
        ).fetchone()
    except Exception:
        return None
    finally:
        con.execute("detach published_before")


def _changes_to_apply(
    con, path: Path, latest_build: int
) -> tuple[tuple[int, int, bool] | None, str]:
    """The build number of the history of the published file at `path`, the rows replaced in it
    since it was written whole, and whether the day's build moved the recent customer x item rows
    into the base, when the changes since can be applied to it; else None, and why not."""
    state = _previous_state(con, path)
    if state is None:
        return None, "missing or unreadable"
    build_id, replaced_before, rows = state
    found = con.execute(
        f"select max(build_number) from {HISTORY_CHANGES} where build_id = ?", [build_id]
    ).fetchone()[0]
    if found is None:
        return None, "its build no longer in the change log"
    (rebuilt_everything,) = con.execute(
        f"select coalesce(bool_or(rebuilt_everything), false) from {HISTORY_CHANGES} "
        "where build_number > ?",
        [found],
    ).fetchone()
    if rebuilt_everything:
        return None, "a build since recomputed every customer"
    # The base of the history changes only when a build moves the recent rows into it. The copy
    # does the same when that build is the day's; before it, the recent rows it moved are gone.
    (base_build,) = con.execute(f"select max(build_number) from {ITEM_HISTORY_BASE}").fetchone()
    moved_by_the_days_build = base_build == latest_build == found + 1
    if base_build is not None and base_build > found and not moved_by_the_days_build:
        return None, "a build since moved the recent customer x item rows"
    # Rows replaced by earlier updates, as they recorded it (counting the day's first would read
    # the whole history): the update that passes half the rows is the last before a whole write.
    if replaced_before > MAX_REPLACED_SHARE * max(rows, 1):
        return None, "over half its rows replaced since written whole"
    return (found, replaced_before, moved_by_the_days_build), ""


def _write_small_parts(con, catalog: str, as_of_date, build_id: str, replaced: int) -> None:
    """Everything but the customers and their history: the item master (unless the file holds
    it as it is), the publication's record and the views."""
    # The item master changes seldom, and rewriting it costs a fifth of a day's publication at
    # 100,000 items: the file records a fingerprint of the rows it holds (their count and the
    # XOR of their hashes, which also changes with the columns). An empty item master has one
    # too (the XOR of no hashes is NULL): a fingerprint is never NULL, which stands for a file
    # that holds no item master yet.
    (fingerprint,) = con.execute(
        f"select count(*) || ':' || coalesce(bit_xor(hash(item)), 0) from {ITEM_MASTER} as item"
    ).fetchone()
    try:
        (held,) = con.execute(
            f"select item_master_fingerprint from {catalog}.{PUBLICATION}"
        ).fetchone()
    except Exception:  # a new file, or one written before the fingerprint
        held = None
    if held != fingerprint:
        con.execute(
            f"create or replace table {catalog}.{ITEM_MASTER} as select * from {ITEM_MASTER}"
        )
    con.execute(
        f"""
        create or replace table {catalog}.{PUBLICATION} as
        select ?::date as as_of_date, ?::varchar as history_build_id,
               ?::bigint as rows_replaced_since_written_whole,
               ?::varchar as item_master_fingerprint,
               now() at time zone 'UTC' as published_at_utc
        """,
        [as_of_date, build_id, replaced, fingerprint],
    )
    # The views are created with the file as the default database, so that their relations are
    # looked up there, wherever and under whatever name the file is opened later. The reports
    # are in the file's main schema, where a BI tool looks first.
    warehouse = con.execute("select current_database()").fetchone()[0].replace('"', '""')
    queries = {view: view_query(con, view) for view in VIEWS}
    con.execute(f'use "{catalog}"')
    try:
        for view, query in queries.items():
            name = view.replace("reports.", "main.")
            con.execute(f"create or replace view {name} as {query}")
    finally:
        con.execute(f'use "{warehouse}"')


class ReportsDatabasePublisher:
    """Writes or updates `destination` from the warehouse behind `con` (see the module's doc)
    when `publish` is called. The file the day's changes are applied to is chosen when the
    publisher is made: the previous file, where it can take them and no reader holds it, else a
    copy of the current file. That copy is about as large as the history: it starts at once and
    proceeds in a thread while the caller writes the other published files (DuckDB and the copy
    both leave the interpreter free)."""

    def __init__(self, con, destination: Path):
        self._con = con
        self._destination = destination
        # A copy a killed run left half-made: only a copy made here would ever remove it.
        destination.with_name(destination.name + ".copying").unlink(missing_ok=True)
        self._latest_build, self._build_id = _latest_build(con)
        # Why the previous file does not take the changes (when a copy of the current one does),
        # and why neither does (when the file is written whole).
        self._why_not_previous = self._why_written_whole = ""
        previous = previous_file(destination)
        self._changes, why = _changes_to_apply(con, previous, self._latest_build)
        if self._changes is not None and _same_file(previous, destination):
            # A run stopped between giving the current file its second name and renaming its
            # successor over it: that file is the one BI tools read, never to be written.
            self._changes, why = None, "the current file itself"
        if self._changes is not None:
            if _free_to_write(con, previous):
                self._earlier_file = _FileInPlace(previous)
                return
            why = "held by another process"
        self._why_not_previous = f"previous file: {why}"
        self._changes, why = _changes_to_apply(con, destination, self._latest_build)
        self._why_written_whole = f"current file: {why}"
        self._earlier_file = None
        if self._changes is not None:
            self._earlier_file = _CopyInThread(
                destination, destination.with_name(destination.name + ".copying")
            )

    def __enter__(self) -> ReportsDatabasePublisher:
        return self

    def __exit__(self, *exc_info) -> None:
        if self._earlier_file is not None:
            self._earlier_file.discard()

    def publish(self, as_of_date, log=None) -> Publication:
        if self._changes is not None:
            since_build, replaced_before, recent_rows_moved = self._changes
            try:
                publication = _apply_changes(
                    self._con,
                    self._destination,
                    self._earlier_file.move_to,
                    since_build,
                    self._latest_build if recent_rows_moved else None,
                    replaced_before,
                    as_of_date,
                    self._build_id,
                )
                return dataclasses.replace(
                    publication, updated_file=self._earlier_file.name, reason=self._why_not_previous
                )
            except Exception as error:  # any failure falls back to a whole write
                why_written_whole = f"applying the changes failed ({error})"
                if log is not None:
                    log.warning(f"Writing {self._destination} whole: {why_written_whole}")
        else:
            why_written_whole = self._why_written_whole
        _write_whole(self._con, self._destination, as_of_date, self._build_id)
        return Publication(written_whole=True, reason=why_written_whole)


def _same_file(path: Path, other: Path) -> bool:
    try:
        return os.path.samefile(path, other)
    except OSError:
        return False


def _free_to_write(con, path: Path) -> bool:
    """Whether no other process has the DuckDB file at `path` open (a BI tool holding it from
    before it was replaced): DuckDB locks a file for as long as a process has it open."""
    try:
        _attach_for_writing(con, path)
    except Exception:
        return False
    con.execute("detach publishing")
    return True


class _FileInPlace:
    """The previous file, updated where it lies: it is renamed to the partial file."""

    name = "the previous file"

    def __init__(self, path: Path):
        self._path = path

    def move_to(self, partial: Path) -> None:
        os.replace(self._path, partial)

    def discard(self) -> None:
        """Nothing to undo: unless it was moved, the previous file is as it was."""


class _CopyInThread:
    """A copy of `source` to `copy`, made in a thread from creation on."""

    name = "a copy of the current file"

    def __init__(self, source: Path, copy: Path):
        self._copy = copy
        self._error: BaseException | None = None
        copy.unlink(missing_ok=True)
        self._thread = threading.Thread(target=self._run, args=(source,), daemon=True)
        self._thread.start()

    def _run(self, source: Path) -> None:
        try:
            shutil.copyfile(source, self._copy)
        except BaseException as error:  # raised again by move_to, in the caller's thread
            self._error = error

    def move_to(self, destination: Path) -> None:
        """Waits for the copy, then renames it to `destination`."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        os.replace(self._copy, destination)

    def discard(self) -> None:
        """Waits for the copy and removes it, unless it was moved."""
        self._thread.join()
        self._copy.unlink(missing_ok=True)


def _attach_for_writing(con, partial: Path) -> None:
    con.execute(
        f"attach {sql_path(partial)} as publishing (storage_version '{READER_STORAGE_VERSION}')"
    )


def _write_whole(con, destination: Path, as_of_date, build_id: str) -> None:
    def write(partial: Path) -> None:
        _attach_for_writing(con, partial)
        try:
            for schema in ("intermediate", "staging"):
                con.execute(f"create schema publishing.{schema}")
            for relation in (ITEM_HISTORY_BASE, ITEM_HISTORY_RECENT, CUSTOMER_ACTIVITY):
                con.execute(f"create table publishing.{relation} as select * from {relation}")
            _write_small_parts(con, "publishing", as_of_date, build_id, 0)
        finally:
            # Detaching checkpoints: the file is complete, with no write-ahead log beside it.
            con.execute("detach publishing")

    replace_atomically(write, destination, keep_previous=True)


def _apply_changes(
    con,
    destination: Path,
    take_earlier_file: Callable[[Path], None],
    since_build: int,
    build_that_moved_recent_rows: int | None,
    replaced_before: int,
    as_of_date,
    build_id: str,
) -> Publication:
    counts = {}

    def write(partial: Path) -> None:
        take_earlier_file(partial)
        _attach_for_writing(con, partial)
        try:
            # No transaction: DuckDB writes one database per transaction, and a failure
            # leaves only the partial file, which is removed.
            base_deleted = (
                0
                if build_that_moved_recent_rows is None
                else _move_recent_rows(con, build_that_moved_recent_rows)
            )
            # By key, as the warehouse's builds replaced them (macros/incremental.sql).
            con.execute(
                f"""
                create temporary table changed_customers as
                select distinct customer_key from {HISTORY_CHANGES}
                where build_number > ? and customer_key is not null
                """,
                [since_build],
            )
            (counts["customers"],) = con.execute(
                "select count(*) from changed_customers"
            ).fetchone()
            (deleted,) = con.execute(
                f"delete from publishing.{ITEM_HISTORY_RECENT} "
                "where customer_key in (select customer_key from changed_customers)"
            ).fetchone()
            # The warehouse's recent rows hold every customer changed since the file's build:
            # none of those builds moved them into the base (see _changes_to_apply).
            (inserted,) = con.execute(
                f"insert into publishing.{ITEM_HISTORY_RECENT} by name "
                f"select * from {ITEM_HISTORY_RECENT} "
                "where customer_key in (select customer_key from changed_customers)"
            ).fetchone()
            counts["rows"] = max(deleted, inserted)
            counts["customer_rows"] = _apply_customer_changes(con, since_build, as_of_date)
            _write_small_parts(
                con,
                "publishing",
                as_of_date,
                build_id,
                replaced_before + base_deleted + counts["rows"],
            )
            # The copy must now hold the warehouse's tables, row for row.
            for relation in (ITEM_HISTORY_BASE, ITEM_HISTORY_RECENT, CUSTOMER_ACTIVITY):
                copied, expected = _row_counts(con, relation)
                if copied != expected:
                    raise RuntimeError(
                        f"the file has {copied} rows of {relation}, the warehouse {expected}"
                    )
        finally:
            con.execute("drop table if exists changed_customers")
            con.execute("detach publishing")

    replace_atomically(write, destination, keep_previous=True)
    return Publication(
        written_whole=False,
        reason="",
        customers_changed=counts["customers"],
        rows_replaced=counts["rows"],
        customer_rows_replaced=counts["customer_rows"],
    )


def _move_recent_rows(con, build_number: int) -> int:
    """The day's build (`build_number`) moved the recent customer x item rows into the base: the
    earlier file, one build behind, moves its own, which are the same rows. They replace their
    customers' rows in the base (with that build's number, as in the warehouse), and the recent
    table starts again empty. Returns the base rows deleted."""
    (deleted,) = con.execute(
        f"""
        delete from publishing.{ITEM_HISTORY_BASE}
        where customer_key in (select customer_key from publishing.{ITEM_HISTORY_RECENT})
        """
    ).fetchone()
    con.execute(
        f"""
        insert into publishing.{ITEM_HISTORY_BASE} by name
        select * exclude (build_number), ? as build_number
        from publishing.{ITEM_HISTORY_RECENT}
        where item_id is not null
        """,
        [build_number],
    )
    con.execute(f"delete from publishing.{ITEM_HISTORY_RECENT}")
    return deleted


def _apply_customer_changes(con, since_build: int, as_of_date) -> int:
    """Replaces in the earlier file the customer rows recomputed by the builds after `since_build`,
    removes those of customers the warehouse no longer has, and moves every row to the as-of
    date (as the warehouse's build does); returns the rows replaced."""
    (deleted,) = con.execute(
        f"""
        delete from publishing.{CUSTOMER_ACTIVITY}
        where customer_key in (
            select customer_key from {CUSTOMER_ACTIVITY} where build_number > ?
        )
        """,
        [since_build],
    ).fetchone()
    (inserted,) = con.execute(
        f"insert into publishing.{CUSTOMER_ACTIVITY} by name "
        f"select * from {CUSTOMER_ACTIVITY} where build_number > ?",
        [since_build],
    ).fetchone()
    # A customer the warehouse no longer has (their only order moved to another customer) is
    # in the file still. Looking for them compares every customer of both: only when the counts
    # say there is one.
    copied, expected = _row_counts(con, CUSTOMER_ACTIVITY)
    if copied != expected:
        (gone,) = con.execute(
            f"""
            delete from publishing.{CUSTOMER_ACTIVITY}
            where customer_key not in (select customer_key from {CUSTOMER_ACTIVITY})
            """
        ).fetchone()
        deleted += gone
    con.execute(
        f"update publishing.{CUSTOMER_ACTIVITY} set as_of_date = $date "
        "where as_of_date is distinct from $date",
        {"date": as_of_date},
    )
    return max(deleted, inserted)


def _row_counts(con, relation: str) -> tuple[int, int]:
    """The rows of `relation` in the file being updated, and in the warehouse."""
    return con.execute(
        f"select (select count(*) from publishing.{relation}), (select count(*) from {relation})"
    ).fetchone()
