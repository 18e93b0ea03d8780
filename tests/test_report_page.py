"""The reports' page, `REPORTS_DIR/index.html`, over the hand-built extracts as of 2024-06-30
(tests/fixtures/hand_built/README.md): what a sales manager reads on it, and that a browser
renders it (headless Chromium, when the machine has it)."""

import shutil
import subprocess
from html.parser import HTMLParser

import pytest


class PageText(HTMLParser):
    """The text of each element with an id, every link, and whatever the page would load."""

    def __init__(self):
        super().__init__()
        self.by_id: dict[str, str] = {}
        self.links: list[str] = []
        self.loads: list[tuple[str, str]] = []
        self.scripts = 0
        self._open: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a":
            self.links.append(attrs["href"])
        if tag == "script":
            self.scripts += 1
        self.loads += [(tag, attrs[name]) for name in ("src", "srcset", "data") if name in attrs]
        if tag == "link":
            self.loads.append((tag, attrs.get("href", "")))
        if tag not in ("br", "meta", "link"):
            self._open.append(attrs.get("id"))
            if attrs.get("id"):
                self.by_id[attrs["id"]] = ""

    def handle_endtag(self, tag):
        if tag not in ("br", "meta", "link") and self._open:
            self._open.pop()

    def handle_data(self, data):
        for element in self._open:
            if element:
                self.by_id[element] += data


def read_page(hand_built_run) -> tuple[str, PageText]:
    page = (hand_built_run.reports_dir / "index.html").read_text(encoding="utf-8")
    parser = PageText()
    parser.feed(page)
    return page, parser


def test_the_page_counts_the_customers_by_stage_with_their_revenue_at_risk(hand_built_run):
    # Active: 00042, C08, C11, C12; at risk: C01 (100.00), C04 (600.00); inactive: C02, C03,
    # C05, C07 (80 + 50 + 400 + 60); never purchased: C06, C09.
    _, text = read_page(hand_built_run)
    assert text.by_id["stage-active"] == "4Active"
    assert text.by_id["stage-at_risk"] == "2At risk700.00 revenue at risk"
    assert text.by_id["stage-inactive"] == "4Inactive590.00 revenue at risk"
    assert text.by_id["stage-never_purchased"] == "2Never purchased"


def test_the_page_links_each_reps_whole_call_list(hand_built_run):
    _, text = read_page(hand_built_run)
    assert text.links == ["call_lists/ana.csv", "call_lists/ben.csv", "call_lists/chen.csv"]
    for link in text.links:
        assert (hand_built_run.reports_dir / link).is_file()


def test_the_page_is_self_contained(hand_built_run):
    page, text = read_page(hand_built_run)
    # Nothing to fetch: no script, style sheet, image or frame from elsewhere; plotly.js is
    # inside the page (its first script), then one script per chart.
    assert text.loads == []
    assert text.scripts == 1 + 3
    assert page.index("Plotly") < page.index('<div id="chart-statuses"')
    assert set(text.by_id) >= {"chart-statuses", "chart-changes", "chart-backtest"}


def test_the_page_shows_the_latest_month_end_of_the_backtest(hand_built_run):
    page, _ = read_page(hand_built_run)
    # 2024-03-31: 4 customers, nobody flagged, 4 active then silent; recall 0%.
    row = (
        '<td>{rule}</td><td>2024-03-31</td><td class="number">4</td><td class="number">0</td>'
        '<td class="number">0</td><td class="number">4</td><td class="number"></td>'
        '<td class="number">0%</td>'
    )
    for rule in ("billing cycle", "adaptive"):
        assert row.format(rule=rule) in page


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no Chromium on this machine")
def test_a_browser_renders_the_page(hand_built_run, tmp_path):
    page = hand_built_run.reports_dir / "index.html"
    screenshot = tmp_path / "page.png"
    # Chromium writes the page's console messages and uncaught errors to its log
    # ("INFO:CONSOLE:<line>] ..."); the virtual time budget lets the charts' scripts finish.
    common = [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=10000",
    ]
    rendered = subprocess.run(
        [*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert rendered.returncode == 0, rendered.stderr
    console = [line for line in rendered.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    assert "Customer activity as of 2024-06-30" in rendered.stdout
    # Plotly drew each chart: its SVG, with a bar per month and series, or a line per series.
    assert rendered.stdout.count('class="main-svg"') >= 3 * 2
    for chart in ("chart-statuses", "chart-changes", "chart-backtest"):
        drawn = rendered.stdout.split(f'id="{chart}"', 1)[1].split('class="plotly-graph-div"')[0]
        assert 'class="main-svg"' in drawn, chart
        assert "legendtext" in drawn, chart
    shot = subprocess.run(
        [*common, "--window-size=1280,2400", f"--screenshot={screenshot}", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.returncode == 0, shot.stderr
    assert screenshot.stat().st_size > 20_000
