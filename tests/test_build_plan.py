"""The build plan: full or incremental, and why, from the ledger and the previous build alone
(no warehouse, no dbt)."""

import datetime as dt

import pytest

from dagster_project.build_plan import (
    BuildPlan,
    ExtractFile,
    PreviousBuild,
    extract_date,
    plan_build,
)

AS_OF = dt.date(2024, 6, 27)
SETTINGS = '{"vars": {}, "storage_layout": 4}'
FILES = [
    ExtractFile("orders", "orders_2024-06-24.csv", "a"),
    ExtractFile("customers", "customers_2024-06-01.csv", "c"),
    ExtractFile("items", "items.csv", "i"),
]


def previous(**changes) -> PreviousBuild:
    build = {
        "as_of_date": dt.date(2024, 6, 24),
        "settings": SETTINGS,
        "saw_every_order": True,
        "absorbed": {(f.entity, f.source_file): f.content_sha256 for f in FILES},
    }
    return PreviousBuild(**(build | changes))


def plan(files=FILES, previous_build=None, latest_order_date=dt.date(2024, 6, 26)) -> BuildPlan:
    return plan_build(files, previous_build, AS_OF, SETTINGS, latest_order_date)


@pytest.mark.parametrize(
    ("name", "date"),
    [
        ("orders_2024-06-24.csv", dt.date(2024, 6, 24)),
        ("orders_2024-06-24_2024-06-25.csv", dt.date(2024, 6, 25)),
        ("orders.csv", None),
        ("orders_2024-13-45.csv", None),
    ],
)
def test_an_extract_is_dated_by_the_last_date_in_its_name(name, date):
    assert extract_date(name) == date


def test_every_build_on_spark_is_full():
    new = ExtractFile("orders", "orders_2024-06-27.csv", "b")
    built = plan_build([*FILES, new], previous(), AS_OF, SETTINGS, dt.date(2024, 6, 26), "spark")
    assert (built.full, built.reason) == (True, "on Spark every build is a full build")
    assert built.sees_every_order


def test_a_new_orders_file_is_built_incrementally():
    new = ExtractFile("orders", "orders_2024-06-27.csv", "b")
    built = plan([*FILES, new], previous())
    assert (built.full, built.reason) == (
        False,
        "new files since the build as of 2024-06-24: 1 orders",
    )
    assert built.new_files == {"orders": ("orders_2024-06-27.csv",)}
    assert built.previous_as_of_date == dt.date(2024, 6, 24)
    assert built.dbt_build_args() == ["build"]
    assert built.files_to_absorb([*FILES, new]) == [*FILES, new]


def test_a_day_without_files_is_incremental_too():
    built = plan(previous_build=previous())
    assert (built.full, built.new_files) == (False, {})


@pytest.mark.parametrize(
    ("files", "previous_build", "latest_order_date", "reason"),
    [
        (FILES, None, dt.date(2024, 6, 26), "no earlier build on record"),
        (
            [*FILES, ExtractFile("orders", "orders_2024-06-30.csv", "b")],
            previous(),
            dt.date(2024, 6, 26),
            "a backfill: 1 orders file(s) named with a date after 2024-06-27 "
            "(first orders_2024-06-30.csv)",
        ),
        (
            FILES,
            previous(),
            dt.date(2024, 6, 28),
            "order lines dated after 2024-06-27 (up to 2024-06-28), which a later build must add",
        ),
        (
            FILES,
            previous(saw_every_order=False),
            dt.date(2024, 6, 26),
            "the build before was a backfill (as of 2024-06-24)",
        ),
        (
            FILES,
            previous(settings='{"vars": {}, "storage_layout": 3}'),
            dt.date(2024, 6, 26),
            "the business settings, the stored tables' layout or the engine changed",
        ),
        (
            [ExtractFile("orders", "orders_2024-06-24.csv", "changed"), *FILES[1:]],
            previous(),
            dt.date(2024, 6, 26),
            "orders file orders_2024-06-24.csv changed under its name",
        ),
    ],
)
def test_a_build_is_full_when_stored_rows_may_be_wrong(
    files, previous_build, latest_order_date, reason
):
    built = plan(files, previous_build, latest_order_date)
    assert (built.full, built.reason) == (True, reason)
    assert built.dbt_build_args() == ["build", "--full-refresh"]


def test_a_backfill_is_recorded_as_not_seeing_every_order():
    built = plan(previous_build=previous(), latest_order_date=dt.date(2024, 6, 28))
    assert built.sees_every_order is False
    assert plan(previous_build=previous()).sees_every_order is True


def test_a_master_file_changed_under_its_name_recomputes_that_master_only():
    files = [FILES[0], ExtractFile("customers", "customers_2024-06-01.csv", "c2"), FILES[2]]
    built = plan(files, previous())
    assert (built.full, built.changed_masters) == (False, frozenset({"customers"}))
    assert built.reason.endswith("; changed under their names: customers")


def test_a_master_file_the_as_of_date_no_longer_reaches_counts_as_changed():
    later = ExtractFile("items", "items_2024-06-26.csv", "j")
    built_on = previous(absorbed={**previous().absorbed, ("items", later.source_file): "j"})
    built = plan_build([*FILES, later], built_on, dt.date(2024, 6, 25), SETTINGS, None)
    assert (built.full, built.changed_masters) == (False, frozenset({"items"}))
    assert later not in built.files_to_absorb([*FILES, later])


def test_a_master_file_named_ahead_waits_for_its_date():
    ahead = ExtractFile("customers", "customers_2024-07-01.csv", "d")
    built = plan([*FILES, ahead], previous())
    assert (built.full, built.new_files) == (False, {})
    assert ahead not in built.files_to_absorb([*FILES, ahead])
