"""The benchmark still runs, end to end, on its smallest setting (no timings are judged here:
`make bench` measures them; this keeps the script from rotting)."""

import json
import subprocess
import sys

import duckdb
import pytest

from dagster_project import sample_data
from dagster_project.settings import REPO_ROOT
from tests.conftest import bench_module

# Every report the baseline computes too, each with no row differing.
EVERY_REPORT_EQUAL = dict.fromkeys(
    (
        "customer_activity_report",
        "customer_item_activity_report",
        "customer_status_changes",
        "activity_kpis_monthly",
        "inactivity_backtest",
    ),
    0,
)


def test_the_shorter_history_keeps_the_business_and_its_days_and_drops_older_orders(tmp_path):
    bench = bench_module()
    data_dir = tmp_path / "30M"
    files = {
        "history/orders/orders_2025-09-30.csv": "order_id\nA\nB\n",
        # The first file dated within the last year (the end is 2026-11-20): kept.
        "history/orders/orders_2025-11-21.csv": "order_id\nC\n",
        "history/orders/orders_2026-11-20.csv": "order_id\nD\nE\nF\n",
        "history/customers/customers_2024-01-01.csv": "customer_id\nC1\n",
        "history/items/items_2026-11-20.csv": "item_id\nI1\n",
        "fixed_day/orders/orders_2025-09-30.csv": "order_id\nA\nB\n",
        "fixed_day/orders/orders_2026-11-21.csv": "order_id\nG\n",
        "next_day/orders/orders_2026-11-21.csv": "order_id\nH\n",
    }
    for name, text in files.items():
        (data_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (data_dir / name).write_text(text)
    (data_dir / "generated.json").write_text(
        json.dumps({"customers": 1, "order_lines": 6, "next_day_lines": 1, "fixed_day_lines": 1})
    )

    short_dir, info = bench.short_history(data_dir, 365)

    assert short_dir == tmp_path / "30M-last-365d"
    assert sorted(str(p.relative_to(short_dir)) for p in short_dir.rglob("*.csv")) == [
        "fixed_day/orders/orders_2026-11-21.csv",
        "history/customers/customers_2024-01-01.csv",
        "history/items/items_2026-11-20.csv",
        "history/orders/orders_2025-11-21.csv",
        "history/orders/orders_2026-11-20.csv",
        "next_day/orders/orders_2026-11-21.csv",
    ]
    assert info == {
        "customers": 1,
        "order_lines": 4,
        "order_files": 2,
        "next_day_lines": 1,
        "fixed_day_lines": 1,
        "short_history_of": "30M",
        "history_days": 365,
    }
    # The same files, not copies; made once and read back after.
    assert (short_dir / "history/orders/orders_2026-11-20.csv").samefile(
        data_dir / "history/orders/orders_2026-11-20.csv"
    )
    assert bench.short_history(data_dir, 365) == (short_dir, info)


def test_the_benchmark_runs_and_the_pipeline_matches_the_baseline(dbt_manifest, tmp_path):
    completed = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "benchmarks" / "bench.py"),
            "--sizes",
            "20k",
            "--repeats",
            "1",
            "--min-daily-repeats",
            "1",
            "--work-dir",
            str(tmp_path / "work"),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    # The data set, then the same business with its last year of orders extracts only.
    size, short = results["sizes"]
    assert (size["label"], short["label"]) == ("20k", "20k-last-365d")
    assert (short["short_history_of"], short["history_days"]) == ("20k", 365)
    assert 19_000 < size["lines"] < 21_000
    assert 0 < short["lines"] < size["lines"]
    assert short["customers"] == size["customers"]
    assert short["fixed_day_lines"] == size["fixed_day_lines"] > 0
    for measured in (size, short):
        # The full runs' reports, and every daily run's, equal the baseline's.
        for compared in (
            "rows_differing",
            "daily_rows_differing",
            "daily_fixed_day_rows_differing",
        ):
            assert measured[compared] == EVERY_REPORT_EQUAL
        assert measured["next_day_lines"] > 0
        for run in ("baseline", "full", "daily", "daily_fixed_day"):
            assert measured[run]["seconds"] > 0
            assert measured[run]["peak_rss_mib"] > 0
        assert set(measured["full"]["steps"]) == {
            "raw_extracts",
            "dbt_models",
            "published_reports",
        }
    # The largest data set also ran with the pipeline's own memory limit, for its peak memory.
    for run in ("full_default_limit", "daily_default_limit"):
        assert size[run]["peak_rss_mib"] > 0
        assert run not in short
    markdown = (tmp_path / "out" / "results.md").read_text()
    assert "| target | measured | status |" in markdown
    assert "| reports equal baseline: full run | daily runs |" in markdown
    assert markdown.count("| yes | yes |") == 2
    assert "| order lines | customers | the day's lines | daily run |" in markdown
    assert f"| {short['lines']:,} (20k, last 365 days) | {short['customers']:,} |" in markdown
    assert "With the pipeline's default memory limit" in markdown
    assert (tmp_path / "out" / "time_vs_size.svg").read_text().startswith("<svg")


@pytest.mark.parametrize("file_format", ["parquet", "csv"])
def test_one_large_orders_file_is_measured_against_the_baseline_reading_it(
    dbt_manifest, tmp_path, file_format
):
    completed = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "benchmarks" / "bench.py"),
            "--shape",
            "one-file",
            "--format",
            file_format,
            "--sizes",
            "5k",
            "--repeats",
            "1",
            "--work-dir",
            str(tmp_path / "work"),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    data_dir = tmp_path / "work" / "data" / f"one-file-{file_format}-5k"
    assert [path.name for path in sorted((data_dir / "orders").iterdir())] == [
        f"orders_2026-11-20.{file_format}"
    ]
    results = json.loads((tmp_path / "out" / f"results_one_file_{file_format}.json").read_text())
    (size,) = results["sizes"]
    assert (size["lines"], size["customers"], size["items"]) == (5_000, 150_000, 200_000)
    assert size["rows_differing"] == EVERY_REPORT_EQUAL
    assert set(size["full"]["steps"]) == {"raw_extracts", "dbt_models", "published_reports"}
    assert size["median_ratio"] > 0


def test_the_one_file_shape_spreads_its_lines_over_many_items_in_typed_parquet(tmp_path):
    counts = sample_data.generate_one_file(tmp_path, 10_000, customers=500, items=20_000)
    assert counts == {"customers": 500, "items": 20_000, "order_lines": 10_000, "order_files": 1}
    orders = tmp_path / "orders" / "orders_2026-11-20.parquet"
    with duckdb.connect() as con:
        assert [row[:2] for row in con.execute(f"describe from '{orders}'").fetchall()] == [
            ("order_id", "VARCHAR"),
            ("order_date", "DATE"),
            ("customer_id", "VARCHAR"),
            ("item_id", "VARCHAR"),
            ("line_number", "INTEGER"),
            ("quantity", "INTEGER"),
            ("amount", "DECIMAL(18,2)"),
            ("order_type", "VARCHAR"),
        ]
        lines, pairs, items, first, last = con.execute(
            f"select count(*), count(distinct (customer_id, item_id)), count(distinct item_id), "
            f"min(order_date), max(order_date) from '{orders}'"
        ).fetchone()
    # Almost every line is a customer x item pair of its own, over three years.
    assert lines == 10_000
    assert pairs > 9_500
    assert items > 7_000
    assert (str(first) >= "2023-11-22", str(last)) == (True, "2026-11-20")
    assert sorted(path.name for path in tmp_path.rglob("*.parquet")) == [
        "customers_2026-11-20.parquet",
        "items_2026-11-20.parquet",
        "orders_2026-11-20.parquet",
    ]


def test_the_peak_memory_of_a_run_counts_the_processes_it_leaves_running():
    """Spark's JVM, started by the pipeline and not waited for, is outside the rusage of the
    measured command's children; the sum over the process tree sees it. Here the command starts
    a process that holds 300 MiB and exits without waiting for it."""
    bench = bench_module()
    holder = "x = bytearray(300 * 2**20); import time; time.sleep(3)"
    command = [
        sys.executable,
        "-c",
        f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {holder!r}]); "
        "time.sleep(2)",
    ]
    measured = bench.measure(command)
    assert measured["peak_tree_rss_mib"] > 300
    assert measured["peak_rss_mib"] < 100
