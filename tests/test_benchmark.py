"""The benchmark still runs, end to end, on its smallest setting (no timings are judged here:
`make bench` measures them; this keeps the script from rotting)."""

import json
import subprocess
import sys

from dagster_project.settings import REPO_ROOT


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
    (size,) = results["sizes"]
    assert size["rows_differing"] == {
        "customer_activity_report": 0,
        "customer_item_activity_report": 0,
    }
    assert 19_000 < size["lines"] < 21_000
    assert size["next_day_lines"] > 0
    assert size["fixed_day_lines"] > 0
    for run in ("baseline", "full", "daily", "daily_fixed_day"):
        assert size[run]["seconds"] > 0
        assert size[run]["peak_rss_mib"] > 0
    assert set(size["full"]["steps"]) == {"raw_extracts", "dbt_models", "published_reports"}
    markdown = (tmp_path / "out" / "results.md").read_text()
    assert "| target | measured | status |" in markdown
    assert "| order lines | the day's lines | daily run |" in markdown
    assert (tmp_path / "out" / "time_vs_size.svg").read_text().startswith("<svg")
