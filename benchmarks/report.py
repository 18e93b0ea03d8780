"""Writes the benchmark's results: benchmarks/results.md and a plot, time_vs_size.svg.

The targets (issue: performance at tens of millions of order lines) are checked here, so the
results file says where each stands. benchmarks/analysis.md, written by hand after looking at a
run, is copied in: why a target is missed, and what the profile showed.
"""

from __future__ import annotations

import math
from pathlib import Path

FULL_RATIO_TARGET = 1.5  # full run / baseline, at 10M lines and above
DAILY_SHARE_TARGET = 0.10  # daily run / full run, at 30M lines
PEAK_MEMORY_TARGET_MIB = 4 * 1024  # at 30M lines
OVERHEAD_TARGET_SECONDS = 8.0  # full run on the tiny sample
# The same day on two histories of one business (the largest data set, and the same with only its
# last year of orders extracts): "grows with the new day's size, not with history" reads as a
# cost within this share of each other.
SAME_DAY_GROWTH_TARGET = 0.10


def _label(lines: int) -> str:
    return f"{lines / 1_000_000:.1f}M" if lines >= 1_000_000 else f"{lines / 1_000:.0f}k"


def _short_history_pair(sizes: list[dict]) -> tuple[dict, dict] | None:
    """The largest data set measured with a shorter history, and with its whole history."""
    for short in (s for s in sizes if "short_history_of" in s):
        for whole in sizes:
            if whole.get("label") == short["short_history_of"]:
                return short, whole
    return None


def _business_sizes(sizes: list[dict]) -> list[dict]:
    """The data sets as generated (their histories cover the same three years)."""
    return [s for s in sizes if "short_history_of" not in s]


def _lines_cell(size: dict) -> str:
    if "short_history_of" in size:
        return f"{size['lines']:,} ({size['short_history_of']}, last {size['history_days']} days)"
    return f"{size['lines']:,}"


def _status(met: bool | None) -> str:
    return {True: "met", False: "**not met**", None: "not measured"}[met]


def targets(results: dict) -> list[tuple[str, str, str]]:
    """(target, measured, status) for each target of the issue."""
    sizes = results["sizes"]
    rows = []
    large = [s for s in sizes if s["lines"] >= 9_500_000]
    ratios = [s["full"]["seconds"] / s["baseline"]["seconds"] for s in large]
    rows.append(
        (
            f"full run ≤ {FULL_RATIO_TARGET}x baseline at 10M lines and above",
            ", ".join(f"{_label(s['lines'])}: {r:.2f}x" for s, r in zip(large, ratios, strict=True))
            or "-",
            _status(all(r <= FULL_RATIO_TARGET for r in ratios) if large else None),
        )
    )
    generated = _business_sizes(sizes)
    largest = max(generated, key=lambda s: s["lines"]) if generated else None
    at_30m = largest if largest and largest["lines"] >= 29_000_000 else None
    share = at_30m["daily"]["seconds"] / at_30m["full"]["seconds"] if at_30m else None
    rows.append(
        (
            f"daily run ≤ {DAILY_SHARE_TARGET:.0%} of the full run at 30M lines",
            f"{share:.1%}" if share is not None else "-",
            _status(share <= DAILY_SHARE_TARGET if share is not None else None),
        )
    )
    # With the benchmark's memory limit, and with the pipeline's own (DUCKDB_MEMORY_LIMIT unset).
    peaks = {}
    for runs, setting in (
        (("full", "daily"), f"memory_limit {results['memory_limit'] or 'default'}"),
        (("full_default_limit", "daily_default_limit"), "the pipeline's default limit"),
    ):
        if at_30m and all(run in at_30m for run in runs):
            peaks[setting] = max(at_30m[run]["peak_rss_mib"] for run in runs)
    rows.append(
        (
            f"peak memory ≤ {PEAK_MEMORY_TARGET_MIB / 1024:.0f} GiB at 30M lines, with DuckDB's "
            f"memory_limit at {results['memory_limit'] or 'its default'} and with the "
            "pipeline's default limit",
            ", ".join(f"{peak / 1024:.2f} GiB ({setting})" for setting, peak in peaks.items())
            or "-",
            _status(
                all(peak <= PEAK_MEMORY_TARGET_MIB for peak in peaks.values())
                if len(peaks) == 2
                else None
            ),
        )
    )
    pair = _short_history_pair(sizes)
    if (
        pair is not None
        and all("daily_fixed_day" in s for s in pair)
        and pair[1]["lines"] >= 9_500_000
    ):
        short, whole = pair
        growth = whole["daily_fixed_day"]["seconds"] / short["daily_fixed_day"]["seconds"] - 1
        measured = (
            f"its last {short['history_days']} days ({_label(short['lines'])} lines): "
            f"{short['daily_fixed_day']['seconds']:.1f} s; its whole history "
            f"({_label(whole['lines'])} lines): {whole['daily_fixed_day']['seconds']:.1f} s "
            f"({growth:+.0%})"
        )
    else:
        growth, measured = None, "-"
    rows.append(
        (
            "daily run grows with the new day, not with the history: the same day costs "
            f"within {SAME_DAY_GROWTH_TARGET:.0%} on two histories of one business (the "
            "largest data set, and its last year of orders extracts only)",
            measured,
            _status(growth <= SAME_DAY_GROWTH_TARGET if growth is not None else None),
        )
    )
    overhead = results["overhead"]["full"]["seconds"]
    rows.append(
        (
            f"fixed overhead (full run on the tiny sample) ≤ {OVERHEAD_TARGET_SECONDS:.0f} s",
            f"{overhead:.1f} s",
            _status(overhead <= OVERHEAD_TARGET_SECONDS),
        )
    )
    return rows


# Where the daily runs' differences from the baseline are (the day's share, the fixed day).
DAILY_DIFFERENCES = ("daily_rows_differing", "daily_fixed_day_rows_differing")


def _equal_cell(rows_differing: dict[str, int]) -> str:
    return "yes" if not any(rows_differing.values()) else f"no: {rows_differing}"


def markdown(results: dict, analysis: str) -> str:
    m = results["machine"]
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`benchmarks/bench.py`); do not edit by hand, edit "
        "`benchmarks/analysis.md`.",
        "",
        f"- Run: {results['date']}; each number is the median of "
        + ", ".join(f"{s['repeats']} run(s) at {_label(s['lines'])}" for s in results["sizes"])
        + f" ({max(results['repeats'])} on the sample, spread over the benchmark)"
        + (
            "; daily runs: "
            + ", ".join(f"{s['daily_repeats']} at {_label(s['lines'])}" for s in results["sizes"])
            if all("daily_repeats" in s for s in results["sizes"])
            else ""
        ),
        f"- Machine: {m['cores']} cores, {m['memory_gib']} GiB memory; {m['platform']}",
        f"- Python {m['python']}, DuckDB {m['duckdb']}; DuckDB memory_limit "
        f"{results['memory_limit'] or 'the pipeline default'}",
        "",
        "## Targets",
        "",
        "| target | measured | status |",
        "|---|---|---|",
        *(f"| {t} | {v} | {s} |" for t, v, s in targets(results)),
        "",
        "## Times",
        "",
        "Wall time in seconds, process start-up included; peak memory of the largest process.",
        "",
        "| order lines | baseline | full run | full / baseline | daily run (new lines) "
        "| daily / full | peak memory full, daily | reports equal baseline: full run "
        "| daily runs |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    o = results["overhead"]
    lines.append(
        f"| sample (7,748) | {o['baseline']['seconds']:.2f} | {o['full']['seconds']:.2f} | "
        f"{o['full']['seconds'] / o['baseline']['seconds']:.1f}x | - | - | "
        f"{o['full']['peak_rss_mib']:.0f} MiB | - | - |"
    )
    for s in results["sizes"]:
        equal = _equal_cell(s["rows_differing"])
        compared_days = [s[key] for key in DAILY_DIFFERENCES if key in s]
        daily_equal = (
            _equal_cell(
                {
                    report: max(day[report] for day in compared_days)
                    for report in s["rows_differing"]
                }
            )
            if compared_days
            else "-"
        )
        lines.append(
            f"| {_lines_cell(s)} | {s['baseline']['seconds']:.2f} | {s['full']['seconds']:.2f} | "
            f"{s['full']['seconds'] / s['baseline']['seconds']:.2f}x | "
            f"{s['daily']['seconds']:.2f} ({s['next_day_lines']:,}) | "
            f"{s['daily']['seconds'] / s['full']['seconds']:.1%} | "
            f"{s['full']['peak_rss_mib']:.0f}, {s['daily']['peak_rss_mib']:.0f} MiB | {equal} "
            f"| {daily_equal} |"
        )
    for s in results["sizes"]:
        if "full_default_limit" in s:
            full, daily = s["full_default_limit"], s["daily_default_limit"]
            lines += [
                "",
                f"With the pipeline's default memory limit (`DUCKDB_MEMORY_LIMIT` unset), once, at "
                f"{s['lines']:,} lines: full run {full['seconds']:.2f} s, peak "
                f"{full['peak_rss_mib']:.0f} MiB; daily run {daily['seconds']:.2f} s, peak "
                f"{daily['peak_rss_mib']:.0f} MiB.",
            ]
    fixed = [s for s in results["sizes"] if "daily_fixed_day" in s]
    if fixed:
        lines += [
            "",
            "A day of about the same size on every history (the daily run above gets a day's "
            "share of its history, which grows with it); its runs alternate between the sizes. "
            "The generated data sets are businesses of different sizes (their customers grow "
            "with their lines); the shorter history is the largest business's:",
            "",
            "| order lines | customers | the day's lines | daily run | dbt_models "
            "| published_reports |",
            "|---|---|---|---|---|---|",
        ]
        for s in fixed:
            day = s["daily_fixed_day"]
            lines.append(
                f"| {_lines_cell(s)} | {s['customers']:,} | {s['fixed_day_lines']:,} | "
                f"{day['seconds']:.2f} | "
                f"{day['steps'].get('dbt_models', float('nan')):.2f} | "
                f"{day['steps'].get('published_reports', float('nan')):.2f} |"
            )
    lines += [
        "",
        "Per step of the pipeline (seconds, inside the run; the rest is process start-up and "
        "loading the definitions):",
        "",
        "| order lines | run | raw_extracts | dbt_models | published_reports |",
        "|---|---|---|---|---|",
    ]
    step_rows = [("sample", "full", o["full"]["steps"])]
    for s in results["sizes"]:
        step_rows += [
            (_lines_cell(s), "full", s["full"]["steps"]),
            (_lines_cell(s), "daily", s["daily"]["steps"]),
        ]
    for size, run, steps in step_rows:
        lines.append(
            f"| {size} | {run} | "
            + " | ".join(
                f"{steps.get(step, float('nan')):.2f}"
                for step in ("raw_extracts", "dbt_models", "published_reports")
            )
            + " |"
        )
    lines += spark_lines(results.get("spark") or [])
    lines += ["", "![time against size](time_vs_size.svg)", "", analysis.strip(), ""]
    return "\n".join(lines)


def spark_lines(spark: list[dict]) -> list[str]:
    """The table of the full runs with the models on Apache Spark, when there are any."""
    if not spark:
        return []
    settings = ", ".join(f"`{k}={v}`" for k, v in spark[0]["settings"].items())
    lines = [
        "",
        "The models on Apache Spark (`DBT_TARGET=spark`, a local session in the dbt process; "
        f"{settings}): one full run, no target (on one machine DuckDB is the engine to "
        "choose; these numbers say what Spark costs before a cluster pays for it):",
        "",
        "| order lines | baseline | Spark full run | Spark / baseline | raw_extracts "
        "| dbt_models | published_reports | peak memory (with Spark's JVM) "
        "| reports equal to the baseline |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in spark:
        steps = s["full"]["steps"]
        equal = "yes" if not any(s["rows_differing"].values()) else "**no**"
        lines.append(
            f"| {s['lines']:,} | {s['baseline']['seconds']:.2f} | "
            f"{s['full']['seconds']:.2f} | "
            f"{s['full']['seconds'] / s['baseline']['seconds']:.2f}x | "
            + " | ".join(
                f"{steps.get(step, float('nan')):.2f}"
                for step in ("raw_extracts", "dbt_models", "published_reports")
            )
            + f" | {_spark_peak(s['full'])} | {equal} |"
        )
    return lines


def _spark_peak(run: dict) -> str:
    """The peak memory of a Spark run: of every process of the run, Spark's JVM with them (a
    run measured before that was recorded gives its largest process alone, and says so)."""
    if "peak_tree_rss_mib" in run:
        return f"{run['peak_tree_rss_mib']:.0f} MiB"
    return f"{run['peak_rss_mib']:.0f} MiB (the pipeline's process alone)"


def svg_plot(results: dict) -> str:
    """Time against size on log-log axes, one line for each measurement."""
    width, height, left, bottom, top, right = 690, 400, 70, 50, 20, 200
    sample_lines = 7_748
    sizes = _business_sizes(results["sizes"])
    pair = _short_history_pair(results["sizes"])
    series = {
        "baseline": [(s["lines"], s["baseline"]["seconds"]) for s in sizes],
        "full run": [(s["lines"], s["full"]["seconds"]) for s in sizes],
        "daily run": [(s["lines"], s["daily"]["seconds"]) for s in sizes],
        "same-size day": [
            (s["lines"], s["daily_fixed_day"]["seconds"]) for s in sizes if "daily_fixed_day" in s
        ],
        # The same day on the largest business, with a shorter history and with all of it.
        "same day, one business": [
            (s["lines"], s["daily_fixed_day"]["seconds"])
            for s in (pair or ())
            if "daily_fixed_day" in s
        ],
        "fixed overhead": [(sample_lines, results["overhead"]["full"]["seconds"])],
    }
    colors = {
        "baseline": "#555555",
        "full run": "#1f77b4",
        "daily run": "#2ca02c",
        "same-size day": "#9467bd",
        "same day, one business": "#ff7f0e",
        "fixed overhead": "#d62728",
    }
    series = {name: values for name, values in series.items() if values}
    points = [p for values in series.values() for p in values]
    xs = [math.log10(x) for x, _ in points]
    ys = [math.log10(max(y, 0.01)) for _, y in points]
    x0, x1 = math.floor(min(xs)), math.ceil(max(xs))
    y0, y1 = math.floor(min(ys)), math.ceil(max(ys))
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)

    def sx(x: float) -> float:
        return left + (math.log10(x) - x0) / (x1 - x0) * (width - left - right)

    def sy(y: float) -> float:
        return (
            height - bottom - (math.log10(max(y, 0.01)) - y0) / (y1 - y0) * (height - bottom - top)
        )

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for e in range(x0, x1 + 1):
        x = sx(10**e)
        out.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - bottom}" stroke="#ddd"/>'
        )
        out.append(
            f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle">'
            f"{_label(10**e) if e >= 3 else 10**e}</text>"
        )
    for e in range(y0, y1 + 1):
        y = sy(10**e)
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{10**e:g} s</text>')
    out.append(
        f'<text x="{(left + width - right) / 2}" y="{height - 12}" text-anchor="middle">'
        "order lines</text>"
    )
    for i, (name, values) in enumerate(series.items()):
        color = colors[name]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in sorted(values))
        if len(values) > 1:
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        out += [
            f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" fill="{color}"/>' for x, y in values
        ]
        ly = top + 10 + i * 20
        out.append(
            f'<line x1="{width - right + 15}" y1="{ly}" x2="{width - right + 35}" y2="{ly}" '
            f'stroke="{color}" stroke-width="2"/>'
        )
        out.append(f'<text x="{width - right + 40}" y="{ly + 4}">{name}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_results(results: dict, out: Path) -> None:
    analysis_path = Path(__file__).with_name("analysis.md")
    analysis = analysis_path.read_text() if analysis_path.exists() else ""
    (out / "results.md").write_text(markdown(results, analysis))
    (out / "time_vs_size.svg").write_text(svg_plot(results))
