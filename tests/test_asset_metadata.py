"""What a data engineer reads on the assets' pages after a run: row counts, the as-of date, the
first rows of the call list, how the published database was written, running totals."""

import duckdb

from tests.conftest import HAND_BUILT_AS_OF

AS_OF = HAND_BUILT_AS_OF.isoformat()


def records(table) -> list[dict]:
    return [dict(record.data) for record in table.records]


def test_the_reports_show_their_row_count_and_as_of_date(hand_built_run):
    # 12 customers (the fixture's README lists them), 4 of them inactive.
    for report, rows in (("customer_activity_report", 12), ("inactive_customer_call_list", 4)):
        metadata = hand_built_run.metadata(f"reports/{report}")
        assert (metadata["dagster/row_count"], metadata["as_of_date"]) == (rows, AS_OF), report
        assert hand_built_run.query(f"select count(*) from reports.{report}") == [(rows,)]
    # The customer x item report, as large as the order history, is not counted every day.
    assert "dagster/row_count" not in hand_built_run.metadata(
        "reports/customer_item_activity_report"
    )


def test_the_published_database_says_in_words_how_it_was_written_and_counts_its_tables(
    hand_built_run,
):
    metadata = hand_built_run.metadata("published/reports_database")
    assert metadata == {
        "as_of_date": AS_OF,
        "path": str(hand_built_run.reports_dir / "reports.duckdb"),
        "readable_by": "DuckDB 1.4 and newer (storage version v1.0.0)",
        "how_published": "Written in full (the current file: there is none, or it cannot be read).",
        "written_in_full": True,
        "customer_rows_replaced": 0,
        "customer_item_rows_replaced": 0,
        "customer_activity_report_rows": 12,
    }


def test_the_call_list_shows_its_first_rows_as_the_sales_team_reads_them(hand_built_run):
    metadata = hand_built_run.metadata("published/inactive_customers_csv")
    preview = records(metadata["first_10_rows"])
    assert preview[0] == {
        "customer_id": "C05",
        "customer_name": "Annual Lapsed",
        "sales_rep": "Chen",
        "last_purchase_date": "2023-05-01",
        "lifetime_net_revenue": 400.0,
        "items_they_used_to_buy": "Gadget",
    }
    with duckdb.connect() as con:
        published = con.execute(
            "select customer_id from read_csv(?, header = true, all_varchar = true)",
            [str(hand_built_run.reports_dir / "inactive_customers.csv")],
        ).fetchall()
    assert [row["customer_id"] for row in preview] == [c for (c,) in published]
    assert metadata["dagster/row_count"] == 4


def test_the_customer_report_shows_the_top_inactive_customers_and_counts_by_as_of_date(
    hand_built_run,
):
    metadata = hand_built_run.metadata("published/customer_activity_report")
    top = records(metadata["top_10_inactive_customers"])
    assert [(r["customer"], r["revenue"]) for r in top] == hand_built_run.query(
        "select customer_id, lifetime_net_revenue::double from reports.customer_activity_report "
        "where is_inactive order by lifetime_net_revenue desc, customer_id"
    )
    # The figures first: where the UI cuts a wide table off, it cuts off names.
    assert list(top[0].items()) == [
        ("customer", "C05"),
        ("revenue", 400.0),
        ("last purchase", "2023-05-01"),
        ("rep", "Chen"),
        ("name", "Annual Lapsed"),
    ]
    schema = metadata["top_10_inactive_customers"].schema
    assert [column.name for column in schema.columns] == [name for name, _ in top[0].items()]
    assert records(metadata["customers_by_as_of_date"]) == [
        {
            "as_of_date": AS_OF,
            "active": 6,
            "inactive": 4,
            "never_purchased": 2,
            "inactive_revenue": 590.0,
        }
    ]
    assert (metadata["customers_active"], metadata["customers_inactive"]) == (6, 4)


def test_the_counts_by_as_of_date_keep_the_latest_90_dates_newest_first():
    from dagster_project.defs.published_reports import status_history

    def day(n: int, active: int = 1) -> dict:
        return {"as_of_date": f"2024-{1 + n // 28:02d}-{1 + n % 28:02d}", "active": active}

    before = [day(n) for n in range(100, 5, -1)]  # 95 dates, newest first
    history = status_history(before, day(50, active=7))
    assert len(history) == 90
    assert history[0] == day(100)
    assert [row for row in history if row["as_of_date"] == day(50)["as_of_date"]] == [
        day(50, active=7)
    ]
    assert history[-1] == day(11)
    assert status_history(before, day(101))[:2] == [day(101), day(100)]
