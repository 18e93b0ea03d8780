"""Whether a dbt build recomputes everything or only what is new: decided once per build, here.

The incremental models keep what earlier builds computed and recompute only the keys that the
extract files new since the last build touch (dbt_project/macros/incremental.sql). That is right
only when nothing stored depends on what changed otherwise, so a build is full
(`dbt build --full-refresh`) when:
- there is no earlier build on record (a new warehouse, or one an earlier version laid out);
- this build does not see every order: an orders file named with a date after the as-of date
  (a backfill), or an order line dated after it (the lines it leaves out would never be added);
- the previous build did not see every order (the build after a backfill);
- an orders file changed under its name since the previous build absorbed it (it may have
  dropped orders, which only a full build removes);
- the settings the stored rows were computed with changed (business settings, the layout of
  the stored tables, or the engine and its version: the customers' keys are its hash).
A customer or item file changed under its name (or no longer counting at an earlier as-of date)
does not rebuild the order history: the build recomputes every customer's master data, or every
customer's usual items, instead.

Pure: it reads what `build_state.py` gathered from the warehouse and returns the plan.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Mapping

# The date an extract was made: the last YYYY-MM-DD in its file's name (the dbt macro
# extract_file_date applies the same rule to the rows).
_NAME_DATE = re.compile(r"^.*([0-9]{4}-[0-9]{2}-[0-9]{2})")


def extract_date(source_file: str) -> dt.date | None:
    """The date in an extract file's name; None without one (such a file always counts)."""
    match = _NAME_DATE.match(source_file)
    if match is None:
        return None
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None


def is_extracted_by(source_file: str, as_of_date: dt.date) -> bool:
    """Whether the file counts for the reports as of `as_of_date` (dbt macro
    is_extracted_by_as_of_date)."""
    date = extract_date(source_file)
    return date is None or date <= as_of_date


@dataclasses.dataclass(frozen=True)
class ExtractFile:
    """A file of the load ledger: its entity (orders, customers, items), name and content hash."""

    entity: str
    source_file: str
    content_sha256: str


@dataclasses.dataclass(frozen=True)
class PreviousBuild:
    """What the last recorded build absorbed: the files that counted at its as-of date (by entity
    and name, their content hash), and the settings and as-of date it was built with."""

    as_of_date: dt.date
    settings: str
    saw_every_order: bool
    absorbed: Mapping[tuple[str, str], str]


@dataclasses.dataclass(frozen=True)
class BuildPlan:
    """`full`, and why; else the files new since the previous build, by entity, and the master
    entities whose files changed under their names (every customer's or item's rows are then
    recomputed). `sees_every_order` is recorded, for the next build's plan."""

    full: bool
    reason: str
    as_of_date: dt.date
    sees_every_order: bool
    previous_as_of_date: dt.date | None = None
    new_files: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    changed_masters: frozenset[str] = frozenset()

    def dbt_build_args(self) -> list[str]:
        return ["build", "--full-refresh"] if self.full else ["build"]

    def files_to_absorb(self, files: Iterable[ExtractFile]) -> list[ExtractFile]:
        """The files a successful build of this plan has absorbed: those that count at its
        as-of date."""
        return [f for f in files if is_extracted_by(f.source_file, self.as_of_date)]


def plan_build(
    files: Iterable[ExtractFile],
    previous: PreviousBuild | None,
    as_of_date: dt.date,
    settings: str,
    latest_order_date: dt.date | None,
    engine: str = "duckdb",
) -> BuildPlan:
    """The plan of a build as of `as_of_date`, from the load ledger's `files`, the previous
    build, the settings the models apply now, the latest order line date of the raw orders, and
    the engine the models run on."""
    files = list(files)
    orders_named_ahead = sorted(
        f.source_file
        for f in files
        if f.entity == "orders" and not is_extracted_by(f.source_file, as_of_date)
    )
    sees_every_order = not orders_named_ahead and (
        latest_order_date is None or latest_order_date <= as_of_date
    )

    def full(reason: str) -> BuildPlan:
        return BuildPlan(True, reason, as_of_date, sees_every_order)

    if engine == "spark":
        # Spark's Parquet tables take no DELETE: the models are tables there, built whole.
        return full("on Spark every build is a full build")
    if previous is None:
        return full("no earlier build on record")
    if orders_named_ahead:
        return full(
            f"a backfill: {len(orders_named_ahead)} orders file(s) named with a date after "
            f"{as_of_date} (first {orders_named_ahead[0]})"
        )
    if not sees_every_order:
        return full(
            f"order lines dated after {as_of_date} (up to {latest_order_date}), which a later "
            "build must add"
        )
    if not previous.saw_every_order:
        return full(f"the build before was a backfill (as of {previous.as_of_date})")
    if previous.settings != settings:
        return full("the business settings, the stored tables' layout or the engine changed")
    current = {(f.entity, f.source_file): f.content_sha256 for f in files}
    changed = sorted(
        (entity, name)
        for (entity, name), sha in previous.absorbed.items()
        # Changed or gone, or named with a date the as-of date no longer reaches (an earlier
        # as-of date than the previous build's).
        if current.get((entity, name)) != sha or not is_extracted_by(name, as_of_date)
    )
    changed_orders = [name for entity, name in changed if entity == "orders"]
    if changed_orders:
        return full(f"orders file {changed_orders[0]} changed under its name")
    new_files: dict[str, list[str]] = {}
    for f in files:
        if (f.entity, f.source_file) not in previous.absorbed and is_extracted_by(
            f.source_file, as_of_date
        ):
            new_files.setdefault(f.entity, []).append(f.source_file)
    new = {entity: tuple(sorted(names)) for entity, names in new_files.items()}
    counts = ", ".join(f"{len(names)} {entity}" for entity, names in sorted(new.items()))
    changed_masters = frozenset(entity for entity, _ in changed)
    reason = f"new files since the build as of {previous.as_of_date}: {counts or 'none'}"
    if changed_masters:
        reason += "; changed under their names: " + ", ".join(sorted(changed_masters))
    return BuildPlan(
        full=False,
        reason=reason,
        as_of_date=as_of_date,
        sees_every_order=True,
        previous_as_of_date=previous.as_of_date,
        new_files=new,
        changed_masters=changed_masters,
    )
