"""The win-back call lists: one CSV per sales rep, their at-risk and inactive customers in the
order to call them (see tests/fixtures/hand_built/README.md for the customers).

As of 2024-06-30, the at-risk and inactive customers of the hand-built extracts, with their
revenue at risk (the net revenue of the orders in the 365 days ending on the last purchase):
- Ana: C01 at risk (90 days of 90; 100.00: the credit memo of 2024-06-15 is after the last
  purchase), C02 inactive (80.00), C07 inactive (60.00: the zero-value invoice is no purchase);
- Ben: C04 at risk (167 days of 180; 100 + 200 + 300: the refund is after the last purchase),
  C03 inactive (25 + 25);
- Chen: C05 inactive (400.00);
- nobody without a rep (00042, the customer found only in orders, is active).
"""

import csv
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from dagster_project.call_lists import file_names, safe_name, write_call_lists

EXPECTED_FILES = {
    "ana.csv": [
        ("Ana", "1", "C01", "at_risk", "100.00", "2024-04-01"),
        ("Ana", "2", "C02", "inactive", "80.00", "2024-03-31"),
        ("Ana", "3", "C07", "inactive", "60.00", "2024-02-01"),
    ],
    "ben.csv": [
        ("Ben", "1", "C04", "at_risk", "600.00", "2024-01-15"),
        ("Ben", "2", "C03", "inactive", "50.00", "2024-05-20"),
    ],
    "chen.csv": [("Chen", "1", "C05", "inactive", "400.00", "2023-05-01")],
    "unassigned.csv": [],
}
COLUMNS = (
    "sales_rep",
    "rank_within_rep",
    "customer_id",
    "lifecycle_stage",
    "revenue_at_risk",
    "last_purchase_date",
)


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_each_rep_gets_their_customers_to_win_back_in_the_order_to_call(hand_built_run):
    folder = hand_built_run.reports_dir / "call_lists"
    assert sorted(path.name for path in folder.iterdir()) == sorted(EXPECTED_FILES)
    for name, expected in EXPECTED_FILES.items():
        rows = read_csv(folder / name)
        assert [tuple(row[column] for column in COLUMNS) for row in rows] == expected, name


def test_a_call_list_row_says_why_and_what_they_bought(hand_built_run):
    (c04,) = [
        row
        for row in read_csv(hand_built_run.reports_dir / "call_lists" / "ben.csv")
        if row["customer_id"] == "C04"
    ]
    assert c04["status_reason"] == (
        "no purchase for 167 days; usually buys every 99 days; inactive after 180"
    )
    assert c04["expected_next_purchase_date"] == "2024-04-23"
    assert c04["email"] == "c04@example.com"
    assert c04["items_they_used_to_buy"] == "Gadget; Widget"


def test_the_call_lists_asset_shows_each_reps_file(hand_built_run):
    metadata = hand_built_run.metadata("published/win_back_call_lists")
    assert metadata["dagster/row_count"] == 6
    assert [
        (r.data["sales_rep"], r.data["file"], r.data["customers"], r.data["revenue_at_risk"])
        for r in metadata["per_sales_rep"].records
    ] == [
        ("Ana", "ana.csv", 3, 240.0),
        ("Ben", "ben.csv", 2, 650.0),
        ("Chen", "chen.csv", 1, 400.0),
        ("", "unassigned.csv", 0, 0.0),
    ]


@pytest.mark.parametrize(
    ("rep", "name"),
    [
        ("Ana Lima", "ana-lima"),
        ("  O'Brien, Pat  ", "o-brien-pat"),
        ("Zoë Ürban", "zoe-urban"),
        ("../../etc/passwd", "etc-passwd"),
        ("李", "rep"),
        (None, "unassigned"),
        ("   ", "unassigned"),
    ],
)
def test_a_reps_file_name_is_safe(rep, name):
    assert safe_name(rep) == name


def test_reps_whose_names_make_the_same_file_name_get_a_file_each():
    assert file_names(["ann.lee", "Ann Lee", "Unassigned", None]) == {
        None: "unassigned",
        "Ann Lee": "ann-lee",
        "Unassigned": "unassigned-2",
        "ann.lee": "ann-lee-2",
    }


def call_list_view(con, reps: list[str | None]) -> None:
    con.execute("create schema if not exists reports")
    con.execute(
        "create or replace table reports.win_back_call_list as select * from (values "
        + ", ".join(f"(?, {rank}, 'C{rank}', 1.5)" for rank in range(1, len(reps) + 1))
        + ") as t(sales_rep, rank_within_rep, customer_id, revenue_at_risk)",
        reps,
    )


def test_a_rep_who_left_has_no_file_left_from_an_earlier_day(tmp_path):
    folder = tmp_path / "call_lists"
    with duckdb.connect() as con:
        call_list_view(con, ["Ana", "Ben", "Ben O'Hara"])
        write_call_lists(con, folder)
        assert sorted(p.name for p in folder.iterdir()) == [
            "ana.csv",
            "ben-o-hara.csv",
            "ben.csv",
            "unassigned.csv",
        ]
        assert [row["customer_id"] for row in read_csv(folder / "ben-o-hara.csv")] == ["C3"]
        call_list_view(con, ["Ana"])
        written = write_call_lists(con, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["ana.csv", "unassigned.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["call_lists"]
    assert written == [("Ana", "ana.csv", 1, float(Decimal("1.5"))), ("", "unassigned.csv", 0, 0.0)]
