"""The pipeline against bare DuckDB, on the same generated extracts, at several sizes.

    python benchmarks/bench.py --sizes 1M,10M,30M --repeats 3     (what `make bench` runs)

For each size (order lines), on files written by the sample generator:
1. baseline: benchmarks/baseline.sql, one DuckDB process computing both reports from the raw
   files into a DuckDB file: the lower bound for this engine on this machine;
2. full: a full pipeline run (`python -m dagster_project.run`, every asset, fresh warehouse);
3. daily: the routine run after one more day's orders extract arrives, on the warehouse the full
   run left; the day's share of the history's lines (it grows with the history), and also a day
   of the same size at every size (FIXED_DAY_LINES), which tells the cost of a day from the
   cost of the history (its runs, made after every size's full runs, alternate between the
   sizes);
and once, the fixed overhead: a full run, and the baseline, on the tiny shipped sample.

    python benchmarks/bench.py --shape one-file --format parquet --sizes 6M --repeats 3

measures another shape of data instead: ONE orders file (Parquet with typed columns, or CSV) of
each size, its lines spread over ONE_FILE_ITEMS items and ONE_FILE_CUSTOMERS customers (about as
many customer x item rows as lines), full runs only, each against the baseline reading that file;
results go to benchmarks/results_one_file_<format>.json.

The generator's data sets are businesses of different sizes: three times the lines is three
times the customers. So that a day's cost can be set against the length of the history alone,
the largest data set is also measured with its history cut to the last SHORT_HISTORY_DAYS (the
same customers, items and days, the older orders extracts left out; `short_history`), as 1-3
above: the same day on one business with one year and with three years of history.

Each measurement is a separate process, timed from outside (wall clock, process start-up
included) with the peak resident memory of the largest process it started (the pipeline's dbt
process included). Numbers are medians over the repetitions. The pipeline's report tables are
compared with the baseline's at every size: after the full runs, and after every daily run with
the baseline on that day's extracts and date. Results go to benchmarks/results.md (and .json), with
a plot of time against size, benchmarks/time_vs_size.svg.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "benchmarks"
SAMPLE_DIR = REPO / "data" / "raw"
# The generator writes about 2.6 lines per order and we give each customer about 20 orders over
# the three years of history, as in the shipped sample.
LINES_PER_ORDER = 2.58
ORDERS_PER_CUSTOMER = 20
HISTORY_DAYS = 3 * 365
END_DATE = dt.date(2026, 11, 20)
NEXT_DAY = END_DATE + dt.timedelta(days=1)
# The day of one size whatever the history's (about the day of the 10M data set).
FIXED_DAY_LINES = 10_000
# The largest data set is measured a second time with only the orders extracts dated within this
# many days of its end: the same business with a shorter history (0: not measured).
SHORT_HISTORY_DAYS = 365
# Daily runs take seconds where full runs take minutes: by default they are repeated at least
# this many times at every size, so that their medians are not one run's luck on a machine whose
# speed varies from one minute to the next.
MIN_DAILY_REPEATS = 3

# Runs a command and prints its wall time and the peak memory of the largest process it started
# (ru_maxrss of the waited-for descendants: the command itself, or a process it ran, like dbt).
MEASURE = """
import json, os, resource, subprocess, sys, threading, time

def tree_rss_kib(root):
    # The resident memory of `root` and every process under it, from /proc: a process the
    # command starts and does not wait for (Spark's JVM) escapes the rusage of the children.
    parents, rss = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
        except OSError:
            continue
        parents[int(entry)] = int(fields.get("PPid", "0"))
        rss[int(entry)] = int(fields.get("VmRSS", "0 kB").split()[0])
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return sum(rss.get(pid, 0) for pid in tree)

start = time.perf_counter()
process = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
peak_tree = [0]

def sample():
    while process.poll() is None:
        peak_tree[0] = max(peak_tree[0], tree_rss_kib(process.pid))
        time.sleep(0.5)

sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
stdout, stderr = process.communicate()
seconds = time.perf_counter() - start
sampler.join()
print(json.dumps({
    "seconds": seconds,
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    "peak_tree_rss_mib": peak_tree[0] / 1024,
    "returncode": process.returncode,
    "stdout": stdout[-6000:],
    "stderr": stderr[-6000:],
}))
"""

RUN_BASELINE = """
import json, string, sys, duckdb
database, script, readers, as_of_date, memory_limit, purchase_order_types, rule = sys.argv[1:]
sql = string.Template(open(script).read()).substitute(
    json.loads(readers),
    as_of_date=as_of_date,
    purchase_order_types=purchase_order_types,
    inactivity_rule=rule,
)
con = duckdb.connect(database)
if memory_limit:
    con.execute(f"set memory_limit = '{memory_limit}'")
# As the pipeline's dbt runs (dbt_project/profiles.yml): under 2 GiB at 10M lines the script
# ran out of memory with the insertion order kept.
con.execute("set preserve_insertion_order = false")
con.execute(sql)
con.close()
"""
# The baseline reads the orders typed as the contract says; the masters are text.
BASELINE_ORDER_COLUMNS = (
    "{'order_id': 'varchar', 'order_date': 'date', 'customer_id': 'varchar', "
    "'item_id': 'varchar', 'line_number': 'integer', 'quantity': 'decimal(18, 4)', "
    "'amount': 'decimal(18, 4)', 'order_type': 'varchar'}"
)


def baseline_readers(raw_dir: Path, file_format: str) -> dict[str, str]:
    """The table functions baseline.sql reads each entity's files with (`read_orders`, ...)."""
    # The folder goes into SQL string literals: its quotes are doubled.
    folder = str(raw_dir).replace("'", "''")
    readers = {}
    for entity in ("orders", "customers", "items"):
        files = f"'{folder}/{entity}/*.{file_format}'"
        if file_format == "parquet":
            readers[f"read_{entity}"] = f"read_parquet({files}, filename = true)"
        else:
            columns = (
                f"columns = {BASELINE_ORDER_COLUMNS}"
                if entity == "orders"
                else "all_varchar = true"
            )
            readers[f"read_{entity}"] = (
                f"read_csv({files}, header = true, filename = true, {columns})"
            )
    return readers


def parse_size(text: str) -> int:
    text = text.strip().lower()
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * factor)


def size_label(lines: int) -> str:
    if lines >= 1_000_000:
        return f"{lines / 1_000_000:g}M"
    return f"{lines / 1_000:g}k" if lines >= 1_000 else str(lines)


def measure(command: list[str], env: dict[str, str] | None = None) -> dict:
    # What the setup wrote (a warehouse of gigabytes copied back for a daily run) is flushed to
    # disk first, so that the writeback does not run, and count, during the measured run.
    os.sync()
    completed = subprocess.run(
        [sys.executable, "-c", MEASURE, *command],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    result = json.loads(completed.stdout)
    if result["returncode"] != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result['stdout']}\n{result['stderr']}")
    return result


def generate(data_dir: Path, lines: int) -> dict:
    """The history (three years, ending END_DATE) and the next day's extract, written once."""
    from dagster_project import sample_data

    marker = data_dir / "generated.json"
    if marker.exists():
        info = json.loads(marker.read_text())
        if "fixed_day_lines" not in info:  # a data set generated before the fixed-size day
            info["fixed_day_lines"] = _write_day(
                data_dir, "fixed_day", info["customers"], FIXED_DAY_LINES
            )
            marker.write_text(json.dumps(info))
        return info
    shutil.rmtree(data_dir, ignore_errors=True)
    orders = round(lines / LINES_PER_ORDER)
    customers = max(150, orders // ORDERS_PER_CUSTOMER)
    history = sample_data.generate(
        data_dir / "history", customers=customers, orders=orders, end_date=END_DATE
    )
    info = {
        **history,
        # The next day: a day's share of the history's lines.
        "next_day_lines": _write_day(
            data_dir, "next_day", customers, history["order_lines"] / HISTORY_DAYS
        ),
        "fixed_day_lines": _write_day(data_dir, "fixed_day", customers, FIXED_DAY_LINES),
    }
    marker.write_text(json.dumps(info))
    return info


def short_history(data_dir: Path, days: int) -> tuple[Path, dict]:
    """The data set in `data_dir` (made by `generate`) with the orders extracts dated (by name)
    more than `days` before its end left out of each of its folders (history, next_day,
    fixed_day): the same business, the same customer and item masters and the same next days,
    with a shorter history. Hard links, made once; returns the folder and its counts."""
    short_dir = data_dir.with_name(f"{data_dir.name}-last-{days}d")
    marker = short_dir / "generated.json"
    if marker.exists():
        return short_dir, json.loads(marker.read_text())
    info = json.loads((data_dir / "generated.json").read_text())
    shutil.rmtree(short_dir, ignore_errors=True)
    first_kept = END_DATE - dt.timedelta(days=days)
    for name in ("history", "next_day", "fixed_day"):
        for path in sorted((data_dir / name).rglob("*.csv")):
            relative = path.relative_to(data_dir)
            # The next days' files are dated after the end, so every folder keeps them.
            if relative.parts[1] == "orders" and _extract_date(path) <= first_kept:
                continue
            target = short_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, target)
    order_files = sorted((short_dir / "history" / "orders").glob("*.csv"))
    short_info = info | {
        "order_lines": sum(_csv_rows(path) for path in order_files),
        "order_files": len(order_files),
        "short_history_of": data_dir.name,
        "history_days": days,
    }
    marker.write_text(json.dumps(short_info))
    return short_dir, short_info


def _extract_date(path: Path) -> dt.date:
    """The date in an extract file's name (`orders_2026-09-30.csv`)."""
    return dt.date.fromisoformat(path.stem.rsplit("_", 1)[1])


def _csv_rows(path: Path) -> int:
    """The records of a CSV file the generator wrote: its lines but the header."""
    newlines = 0
    with path.open("rb") as csv_file:
        while chunk := csv_file.read(1 << 24):
            newlines += chunk.count(b"\n")
    return newlines - 1


def _write_day(data_dir: Path, name: str, customers: int, lines: float) -> int:
    """`data_dir/name`: the history's files (hard links: the same files, as a real folder
    keeps them) plus one day's new orders extract of about `lines` lines; returns its lines."""
    from dagster_project import sample_data

    day = data_dir / name
    shutil.rmtree(day, ignore_errors=True)
    for path in (data_dir / "history").rglob("*.csv"):
        target = day / path.relative_to(data_dir / "history")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, target)
    return sample_data.generate_day(
        day, NEXT_DAY, customers=customers, orders=max(1, round(lines / LINES_PER_ORDER))
    )


def pipeline_env(raw_dir: Path, warehouse: Path, reports_dir: Path, memory_limit: str) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DAGSTER_HOME", "AS_OF_DATE", "DUCKDB_MEMORY_LIMIT")
    }
    env |= {
        "RAW_DATA_DIR": str(raw_dir),
        "WAREHOUSE_PATH": str(warehouse),
        "REPORTS_DIR": str(reports_dir),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    }
    if memory_limit:
        env["DUCKDB_MEMORY_LIMIT"] = memory_limit
    return env


def run_pipeline(raw_dir, warehouse, reports_dir, as_of_date, memory_limit, **extra_env) -> dict:
    command = [sys.executable, "-m", "dagster_project.run", "--as-of-date", str(as_of_date)]
    return measure(command, pipeline_env(raw_dir, warehouse, reports_dir, memory_limit) | extra_env)


# The local Spark session's settings for the Spark runs (dbt_project/profiles.yml reads them):
# the whole machine's cores, and memory for the driver, where a local session computes.
SPARK_SETTINGS = {
    "SPARK_MASTER": "local[*]",
    "SPARK_DRIVER_MEMORY": "8g",
    "SPARK_SHUFFLE_PARTITIONS": "8",
}


def bench_spark(data_dir: Path, info: dict, work: Path, memory_limit: str, log) -> dict:
    """One full run of the pipeline with the models on Apache Spark (DBT_TARGET=spark, a local
    session), on the history of `data_dir`, and its reports compared with the baseline's. No
    target: on one machine Spark is not the engine to choose; the numbers say what it costs."""
    label = data_dir.name
    runs_dir = work / "runs" / f"{label}-spark"
    shutil.rmtree(runs_dir, ignore_errors=True)
    runs_dir.mkdir(parents=True)
    warehouse = runs_dir / "warehouse.duckdb"
    spark_env = SPARK_SETTINGS | {
        "DBT_TARGET": "spark",
        "LAKE_DIR": str(runs_dir / "lake"),
        "SPARK_WAREHOUSE_DIR": str(runs_dir / "spark-warehouse"),
    }
    baseline = run_baseline(
        data_dir / "history", runs_dir / "baseline.duckdb", END_DATE, memory_limit
    )
    run = run_pipeline(
        data_dir / "history", warehouse, runs_dir / "reports", END_DATE, memory_limit, **spark_env
    )
    diff = differences(warehouse, runs_dir / "baseline.duckdb")
    log(
        f"[{label}] Spark full run: {run['seconds']:.1f} s {step_seconds(run)}, peak "
        f"{run['peak_tree_rss_mib']:.0f} MiB with Spark's JVM (baseline "
        f"{baseline['seconds']:.1f} s), rows differing "
        f"from the baseline: {diff}"
    )
    shutil.rmtree(runs_dir, ignore_errors=True)
    return {
        "label": label,
        "lines": info["order_lines"],
        "baseline": baseline,
        "full": run | {"steps": step_seconds(run)},
        "rows_differing": diff,
        "settings": SPARK_SETTINGS,
    }


def remove_warehouse(warehouse: Path) -> None:
    warehouse.unlink(missing_ok=True)
    warehouse.with_name(warehouse.name + ".wal").unlink(missing_ok=True)


def prepare(warehouse: Path, memory_limit: str) -> None:
    """Prepares the dbt project for this warehouse path and memory limit, untimed, as a
    deployment does once (`make manifest`): each timed run then starts as a daily run does."""
    env = pipeline_env(SAMPLE_DIR, warehouse, warehouse.parent / "reports", memory_limit)
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from dagster_project.dbt_project import prepare_manifest; prepare_manifest()",
        ],
        env=env,
        check=True,
        capture_output=True,
    )


def run_baseline(
    raw_dir: Path,
    database: Path,
    as_of_date,
    memory_limit: str,
    file_format: str = "csv",
    purchase_order_types: tuple[str, ...] = ("invoice", "sales_receipt"),
    inactivity_rule: str = "billing_cycle",
) -> dict:
    """Runs baseline.sql on the extract files of `raw_dir` into `database`, with the dbt
    project's settings `purchase_order_types` and `inactivity_rule`."""
    database.unlink(missing_ok=True)
    script = BENCH_DIR / "baseline.sql"
    return measure(
        [
            sys.executable,
            "-c",
            RUN_BASELINE,
            str(database),
            str(script),
            json.dumps(baseline_readers(raw_dir, file_format)),
            str(as_of_date),
            memory_limit,
            ", ".join(f"'{order_type}'" for order_type in purchase_order_types),
            inactivity_rule,
        ]
    )


def step_seconds(run: dict) -> dict[str, float]:
    """The per-step times the run printed in its summary (`Steps: name 1.2 s, ...`)."""
    for line in run["stdout"].splitlines():
        if line.startswith("Steps: "):
            return {
                name: float(seconds)
                for name, seconds in (
                    part.rsplit(" ", 2)[:2] for part in line[len("Steps: ") :].split(", ")
                )
            }
    return {}


# The columns both compute, per report.
COMPARED_COLUMNS = {
    "customer_activity_report": (
        "as_of_date, customer_id, customer_name, email, sales_rep, segment, billing_cycle, "
        "first_purchase_date, last_purchase_date, days_since_last_purchase, purchase_count, "
        "lifetime_net_revenue, revenue_last_365_days, revenue_at_risk, "
        "usual_days_between_purchases, expected_next_purchase_date, threshold_rule, "
        "inactivity_threshold_days, activity_status, lifecycle_stage"
    ),
    "customer_item_activity_report": (
        "as_of_date, customer_id, item_id, item_name, category, first_purchase_date, "
        "last_purchase_date, purchase_count, total_quantity, net_revenue, "
        "usual_days_between_purchases, item_status"
    ),
    "customer_status_changes": "as_of_date, customer_id, change_date, change_kind, days_inactive",
    "activity_kpis_monthly": (
        "as_of_date, month_start, month_end, active_at_start, inactive_at_start, new_customers, "
        "newly_inactive, reactivated, active_at_end, inactive_at_end, recovery_rate, "
        "attrition_rate"
    ),
    "inactivity_backtest": (
        "as_of_date, inactivity_rule, month_end, horizon_days, customers, flagged, "
        "flagged_silent, unflagged_silent, precision, recall"
    ),
}


def differences(warehouse: Path, baseline: Path) -> dict[str, int]:
    """Rows in one report and not in the other, per report (0 and 0: the same reports)."""
    import duckdb

    from dagster_project.reports_database import sql_path

    with duckdb.connect() as con:
        con.execute(f"attach {sql_path(warehouse)} as pipeline (read_only)")
        con.execute(f"attach {sql_path(baseline)} as baseline (read_only)")
        out = {}
        for table, columns in COMPARED_COLUMNS.items():
            (count,) = con.execute(
                f"""
                select count(*) from (
                    (select {columns} from pipeline.reports.{table}
                     except all select {columns} from baseline.{table})
                    union all
                    (select {columns} from baseline.{table}
                     except all select {columns} from pipeline.reports.{table})
                )
                """
            ).fetchone()
            out[table] = count
    return out


def baseline_of_day(raw_dir: Path, runs_dir: Path, memory_limit: str) -> Path:
    """The baseline's reports for a daily run's extracts (`raw_dir`) as of NEXT_DAY, untimed:
    what the daily run's reports must equal."""
    database = runs_dir / f"baseline_{raw_dir.name}.duckdb"
    run_baseline(raw_dir, database, NEXT_DAY, memory_limit)
    return database


def most_differing(diffs: list[dict[str, int]]) -> dict[str, int]:
    """Per report, the most rows differing from the baseline in any of the runs."""
    return {table: max(diff[table] for diff in diffs) for table in COMPARED_COLUMNS}


def median_of(runs: list[dict]) -> dict:
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in runs),
        "all_seconds": [round(r["seconds"], 2) for r in runs],
    }


def bench_size(
    data_dir: Path,
    info: dict,
    repeats: int,
    daily_repeats: int,
    work: Path,
    memory_limit: str,
    log,
    measure_default_limit: bool = False,
) -> dict:
    """Measures the data set in `data_dir` (`info`: its counts); named by the folder's name.
    With `measure_default_limit`, also the peak memory with the pipeline's own memory limit."""
    label = data_dir.name
    runs_dir = work / "runs" / label
    shutil.rmtree(runs_dir, ignore_errors=True)
    runs_dir.mkdir(parents=True)

    # Every pipeline run uses one warehouse path, as a deployment does (dbt's parse state is
    # kept for it); the full run's warehouse is kept aside for the daily runs. The baseline and
    # the full runs alternate, so that each ratio compares runs made minutes apart: this
    # machine's speed drifts from one hour to the next.
    warehouse = runs_dir / "warehouse.duckdb"
    prepare(warehouse, memory_limit)
    baseline_runs, full_runs, steps = [], [], []
    for r in range(repeats):
        baseline_runs.append(
            run_baseline(data_dir / "history", runs_dir / "baseline.duckdb", END_DATE, memory_limit)
        )
        log(f"[{label}] baseline {r + 1}/{repeats}: {baseline_runs[-1]['seconds']:.1f} s")
        remove_warehouse(warehouse)
        full_runs.append(
            run_pipeline(
                data_dir / "history", warehouse, runs_dir / "reports", END_DATE, memory_limit
            )
        )
        steps.append(step_seconds(full_runs[-1]))
        log(f"[{label}] full run {r + 1}/{repeats}: {full_runs[-1]['seconds']:.1f} s {steps[-1]}")
    diff = differences(warehouse, runs_dir / "baseline.duckdb")
    log(f"[{label}] rows differing from the baseline: {diff}")
    # A routine day finds the state that the day before left: the file published before the
    # current one is kept beside it (reports.duckdb.previous), and the day's changes are applied
    # to it. A run after the full run, on the same files and date, leaves that state; its time
    # is not counted (it is the first run after a full one, which copies the current file).
    settling = run_pipeline(
        data_dir / "history", warehouse, runs_dir / "reports", END_DATE, memory_limit
    )
    log(f"[{label}] run after the full run (not counted): {settling['seconds']:.1f} s")
    shutil.copy(warehouse, runs_dir / "after_full_run.duckdb")
    # The published files too: a daily run updates reports.duckdb from the state it published.
    shutil.copytree(runs_dir / "reports", runs_dir / "reports_after_full_run")

    # The day's share of the history now; the day of one size at every history comes later
    # (run_fixed_days), its runs alternating between the histories. Each daily run's reports
    # are compared with the baseline's on the same files and date.
    day_baseline = baseline_of_day(data_dir / "next_day", runs_dir, memory_limit)
    daily_runs, daily_steps, daily_diffs = [], [], []
    for r in range(daily_repeats):
        restore_state_after_full_run(runs_dir, warehouse)
        daily_runs.append(
            run_pipeline(
                data_dir / "next_day", warehouse, runs_dir / "reports", NEXT_DAY, memory_limit
            )
        )
        daily_steps.append(step_seconds(daily_runs[-1]))
        daily_diffs.append(differences(warehouse, day_baseline))
        log(
            f"[{label}] next_day run {r + 1}/{daily_repeats}: {daily_runs[-1]['seconds']:.1f} s "
            f"{daily_steps[-1]}, rows differing from the baseline: {daily_diffs[-1]}"
        )
    day_baseline.unlink()
    default_limit = (
        runs_with_the_default_memory_limit(data_dir, runs_dir, warehouse, memory_limit, log)
        if measure_default_limit and memory_limit
        else {}
    )
    remove_warehouse(warehouse)
    (runs_dir / "baseline.duckdb").unlink(missing_ok=True)

    return {
        "label": label,
        "lines": info["order_lines"],
        "repeats": repeats,
        "daily_repeats": daily_repeats,
        "next_day_lines": info["next_day_lines"],
        "fixed_day_lines": info["fixed_day_lines"],
        "customers": info["customers"],
        "baseline": median_of(baseline_runs),
        "full": median_of(full_runs) | {"steps": _median_steps(steps)},
        "daily": median_of(daily_runs) | {"steps": _median_steps(daily_steps)},
        "rows_differing": diff,
        "daily_rows_differing": most_differing(daily_diffs),
        **{key: info[key] for key in ("short_history_of", "history_days") if key in info},
        **default_limit,
    }


def runs_with_the_default_memory_limit(
    data_dir: Path, runs_dir: Path, warehouse: Path, memory_limit: str, log
) -> dict:
    """A full run and a daily run with the pipeline's own memory limit (DUCKDB_MEMORY_LIMIT
    unset), as a deployment that leaves it alone runs: their peak memory, beside the runs with
    the benchmark's limit. Once each; the dbt project is prepared for each limit untimed."""
    prepare(warehouse, "")
    remove_warehouse(warehouse)
    full = run_pipeline(data_dir / "history", warehouse, runs_dir / "reports_default", END_DATE, "")
    log(f"[{runs_dir.name}] full run, default memory limit: {full['seconds']:.1f} s")
    restore_state_after_full_run(runs_dir, warehouse)
    daily = run_pipeline(data_dir / "next_day", warehouse, runs_dir / "reports", NEXT_DAY, "")
    log(f"[{runs_dir.name}] next_day run, default memory limit: {daily['seconds']:.1f} s")
    shutil.rmtree(runs_dir / "reports_default", ignore_errors=True)
    prepare(warehouse, memory_limit)
    return {"full_default_limit": median_of([full]), "daily_default_limit": median_of([daily])}


def restore_state_after_full_run(runs_dir: Path, warehouse: Path) -> None:
    """Puts back the warehouse and published files that the run after the full run left."""
    remove_warehouse(warehouse)
    shutil.copy(runs_dir / "after_full_run.duckdb", warehouse)
    shutil.rmtree(runs_dir / "reports", ignore_errors=True)
    shutil.copytree(runs_dir / "reports_after_full_run", runs_dir / "reports")


def generate_one_file(data_dir: Path, lines: int, file_format: str) -> dict:
    """One orders file of `lines` lines and its masters (`sample_data.generate_one_file`),
    written once into `data_dir`."""
    from dagster_project import sample_data

    marker = data_dir / "generated.json"
    if marker.exists():
        return json.loads(marker.read_text())
    shutil.rmtree(data_dir, ignore_errors=True)
    info = sample_data.generate_one_file(data_dir, lines, file_format=file_format)
    marker.write_text(json.dumps(info))
    return info


def bench_one_file(
    data_dir: Path, info: dict, repeats: int, work: Path, memory_limit: str, file_format: str, log
) -> dict:
    """Full runs on one large orders file against the baseline reading that file, alternating,
    with each full run's ratio to the baseline run just before it."""
    label = data_dir.name
    runs_dir = work / "runs" / label
    shutil.rmtree(runs_dir, ignore_errors=True)
    runs_dir.mkdir(parents=True)
    warehouse = runs_dir / "warehouse.duckdb"
    prepare(warehouse, memory_limit)
    baseline_runs, full_runs, steps = [], [], []
    for r in range(repeats):
        baseline_runs.append(
            run_baseline(
                data_dir, runs_dir / "baseline.duckdb", END_DATE, memory_limit, file_format
            )
        )
        remove_warehouse(warehouse)
        full_runs.append(
            run_pipeline(data_dir, warehouse, runs_dir / "reports", END_DATE, memory_limit)
        )
        steps.append(step_seconds(full_runs[-1]))
        log(
            f"[{label}] {r + 1}/{repeats}: baseline {baseline_runs[-1]['seconds']:.1f} s, full run "
            f"{full_runs[-1]['seconds']:.1f} s "
            f"({full_runs[-1]['seconds'] / baseline_runs[-1]['seconds']:.2f}x) {steps[-1]}"
        )
    diff = differences(warehouse, runs_dir / "baseline.duckdb")
    log(f"[{label}] rows differing from the baseline: {diff}")
    remove_warehouse(warehouse)
    (runs_dir / "baseline.duckdb").unlink(missing_ok=True)
    ratios = [f["seconds"] / b["seconds"] for b, f in zip(baseline_runs, full_runs, strict=True)]
    return {
        "label": label,
        "format": file_format,
        "lines": info["order_lines"],
        "customers": info["customers"],
        "items": info["items"],
        "repeats": repeats,
        "baseline": median_of(baseline_runs),
        "full": median_of(full_runs) | {"steps": _median_steps(steps)},
        "ratios": [round(ratio, 2) for ratio in ratios],
        "median_ratio": round(statistics.median(ratios), 2),
        "rows_differing": diff,
    }


def main_one_file(args, sizes: list[int], repeats: list[int], log) -> int:
    """`--shape one-file`: one orders file per size, full runs against the baseline."""
    results = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "shape": "one-file",
        "format": args.format,
        "memory_limit": args.memory_limit,
        "sizes": [],
    }
    for lines, size_repeats in zip(sizes, repeats, strict=True):
        data_dir = args.work_dir / "data" / f"one-file-{args.format}-{size_label(lines)}"
        log(f"[{data_dir.name}] generating the extracts in {data_dir}")
        info = generate_one_file(data_dir, lines, args.format)
        results["sizes"].append(
            bench_one_file(
                data_dir, info, size_repeats, args.work_dir, args.memory_limit, args.format, log
            )
        )
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"results_one_file_{args.format}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    log(f"Wrote {out}")
    return 1 if any(any(s["rows_differing"].values()) for s in results["sizes"]) else 0


def run_fixed_days(sizes: list[dict], work: Path, memory_limit: str, log) -> None:
    """The day of one size (FIXED_DAY_LINES) on every history, as `daily_fixed_day` of each
    size. Its runs go round the sizes (10M, 30M, 10M, 30M, ...), so that the histories are
    compared on runs made minutes apart, not a quarter of an hour: this machine's speed drifts
    by a fifth or more over that time. They share one warehouse path, as the runs of one
    deployment do (dbt would parse the project again for another path)."""
    warehouse = work / "runs" / "fixed_day" / "warehouse.duckdb"
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    prepare(warehouse, memory_limit)
    runs = {size["label"]: ([], [], []) for size in sizes}
    day_baselines = {
        size["label"]: baseline_of_day(
            work / "data" / size["label"] / "fixed_day", work / "runs" / size["label"], memory_limit
        )
        for size in sizes
    }
    for r in range(max(size["daily_repeats"] for size in sizes)):
        for size in sizes:
            label = size["label"]
            if r >= size["daily_repeats"]:
                continue
            runs_dir = work / "runs" / label
            restore_state_after_full_run(runs_dir, warehouse)
            run = run_pipeline(
                work / "data" / label / "fixed_day",
                warehouse,
                runs_dir / "reports",
                NEXT_DAY,
                memory_limit,
            )
            runs[label][0].append(run)
            runs[label][1].append(step_seconds(run))
            runs[label][2].append(differences(warehouse, day_baselines[label]))
            log(
                f"[{label}] fixed_day run {r + 1}/{size['daily_repeats']}: "
                f"{run['seconds']:.1f} s {runs[label][1][-1]}, rows differing from the "
                f"baseline: {runs[label][2][-1]}"
            )
    for size in sizes:
        label = size["label"]
        daily_runs, daily_steps, daily_diffs = runs[label]
        size["daily_fixed_day"] = median_of(daily_runs) | {"steps": _median_steps(daily_steps)}
        size["daily_fixed_day_rows_differing"] = most_differing(daily_diffs)
        day_baselines[label].unlink()
        runs_dir = work / "runs" / label
        (runs_dir / "after_full_run.duckdb").unlink()
        shutil.rmtree(runs_dir / "reports_after_full_run")
    remove_warehouse(warehouse)


def _median_steps(steps: list[dict[str, float]]) -> dict[str, float]:
    names = sorted({name for s in steps for name in s})
    return {n: round(statistics.median(s[n] for s in steps if n in s), 2) for n in names}


def sample_run(work: Path) -> tuple[dict, dict]:
    """The bare script and a full pipeline run (fresh warehouse) on the tiny sample: the fixed
    cost of a run."""
    runs_dir = work / "runs" / "sample"
    runs_dir.mkdir(parents=True, exist_ok=True)
    warehouse = runs_dir / "warehouse.duckdb"
    # Prepared again each time: the sizes' runs in between prepare dbt for their own warehouse.
    prepare(warehouse, "")
    baseline = run_baseline(SAMPLE_DIR, runs_dir / "baseline.duckdb", END_DATE, "")
    remove_warehouse(warehouse)
    return baseline, run_pipeline(SAMPLE_DIR, warehouse, runs_dir / "reports", END_DATE, "")


def overhead_schedule(repeats: int, sizes: int) -> list[int]:
    """How many sample runs to make before the first size (index 0) and after each size: spread
    over the whole benchmark, so that one slow spell of the machine does not decide the median
    of a measure that takes seconds."""
    slots = [0] * (sizes + 1)
    for run in range(repeats):
        slots[round(run * sizes / max(repeats - 1, 1))] += 1
    return slots


def machine() -> dict:
    memory_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    import duckdb

    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "platform": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="1M,10M,30M", help="order lines per data set, e.g. 1M,10M,30M"
    )
    parser.add_argument(
        "--repeats",
        default="3",
        help="runs per measurement (median): one number, or one per size (e.g. 3,3,1)",
    )
    parser.add_argument(
        "--min-daily-repeats",
        type=int,
        default=MIN_DAILY_REPEATS,
        help="daily runs per measurement at least, whatever --repeats says",
    )
    parser.add_argument(
        "--memory-limit",
        default="2GiB",
        help="DuckDB's memory_limit for the pipeline and the baseline (empty: DuckDB's default)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=REPO / ".bench",
        help="where the data sets (kept between runs) and warehouses go",
    )
    parser.add_argument(
        "--short-history-days",
        type=int,
        default=SHORT_HISTORY_DAYS,
        help="also measure the largest data set with only this many days of its orders "
        "extracts: the same business with a shorter history (0: not measured)",
    )
    parser.add_argument(
        "--spark-sizes",
        default="",
        help="also one full run with the models on Apache Spark at these sizes, e.g. 1M,10M "
        "(needs the spark extra and Java; empty: none)",
    )
    parser.add_argument("--out", type=Path, default=BENCH_DIR, help="where results are written")
    parser.add_argument(
        "--shape",
        choices=("history", "one-file"),
        default="history",
        help="history (default): the generator's quarterly orders files, full and daily runs; "
        "one-file: one large orders file, full runs",
    )
    parser.add_argument(
        "--format",
        choices=("csv", "parquet"),
        default="parquet",
        help="one-file: the orders file's format (default: parquet, with typed columns)",
    )
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, flush=True)

    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    repeats = [int(r) for r in args.repeats.split(",")]
    repeats = repeats if len(repeats) == len(sizes) else [repeats[0]] * len(sizes)
    if args.shape == "one-file":
        return main_one_file(args, sizes, repeats, log)
    results = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "repeats": repeats,
        "memory_limit": args.memory_limit,
        "sizes": [],
    }
    shutil.rmtree(args.work_dir / "runs" / "sample", ignore_errors=True)
    sample_runs = []
    schedule = overhead_schedule(max(repeats), len(sizes))

    def run_sample(count: int) -> None:
        for _ in range(count):
            sample_runs.append(sample_run(args.work_dir))
            full = sample_runs[-1][1]
            log(
                f"[sample] full run {len(sample_runs)}/{max(repeats)}: {full['seconds']:.1f} s "
                f"{step_seconds(full)}"
            )

    def measure_data_set(data_dir: Path, info: dict, size_repeats: int, largest: bool) -> None:
        results["sizes"].append(
            bench_size(
                data_dir,
                info,
                size_repeats,
                max(size_repeats, args.min_daily_repeats),
                args.work_dir,
                args.memory_limit,
                log,
                measure_default_limit=largest,
            )
        )

    run_sample(schedule[0])
    for index, (lines, size_repeats) in enumerate(zip(sizes, repeats, strict=True)):
        data_dir = args.work_dir / "data" / size_label(lines)
        log(f"[{data_dir.name}] generating the extracts in {data_dir}")
        largest = lines == max(sizes)
        measure_data_set(data_dir, generate(data_dir, lines), size_repeats, largest)
        if largest and args.short_history_days:
            # The largest business again, with a shorter history (before the sample's last runs,
            # so that they stay spread over the benchmark).
            short_dir, info = short_history(data_dir, args.short_history_days)
            log(f"[{short_dir.name}] {info['order_lines']} lines of {data_dir.name}'s extracts")
            measure_data_set(short_dir, info, size_repeats, False)
        run_sample(schedule[index + 1])
    run_fixed_days(results["sizes"], args.work_dir, args.memory_limit, log)
    results["spark"] = []
    for lines in [parse_size(s) for s in args.spark_sizes.split(",") if s.strip()]:
        data_dir = args.work_dir / "data" / size_label(lines)
        results["spark"].append(
            bench_spark(data_dir, generate(data_dir, lines), args.work_dir, args.memory_limit, log)
        )
    results["overhead"] = {
        "baseline": median_of([baseline for baseline, _ in sample_runs]),
        "full": median_of([full for _, full in sample_runs])
        | {"steps": _median_steps([step_seconds(full) for _, full in sample_runs])},
    }

    from report import write_results  # benchmarks/report.py, beside this file

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    write_results(results, args.out)
    log(f"Wrote {args.out / 'results.md'} and {args.out / 'time_vs_size.svg'}")
    wrong = {
        f"{s['label']} {run}": s[key]
        for s in results["sizes"]
        for run, key in (
            ("full run", "rows_differing"),
            ("next_day run", "daily_rows_differing"),
            ("fixed_day run", "daily_fixed_day_rows_differing"),
        )
        if any(s[key].values())
    } | {f"{s['label']} Spark run": s["rows_differing"] for s in results["spark"]
         if any(s["rows_differing"].values())}  # fmt: skip
    if wrong:
        log(f"The pipeline's reports differ from the baseline's: {wrong}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
