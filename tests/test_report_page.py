"""The reports' page, `REPORTS_DIR/index.html`, over the hand-built extracts as of 2024-06-30
(tests/fixtures/hand_built/README.md): what a sales manager reads on it, and that a browser
renders it (headless Chromium, when the machine has it)."""

import shutil
import subprocess
from html.parser import HTMLParser

import pytest


class PageText(HTMLParser):
    """The text of each element with an id, and every link."""

    def __init__(self):
        super().__init__()
        self.by_id: dict[str, str] = {}
        self.links: list[str] = []
        self._open: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a":
            self.links.append(attrs["href"])
        if tag not in ("br", "meta", "circle", "line", "rect", "polyline"):
            self._open.append(attrs.get("id"))
            if attrs.get("id"):
                self.by_id[attrs["id"]] = ""

    def handle_endtag(self, tag):
        if tag not in ("br", "meta", "circle", "line", "rect", "polyline") and self._open:
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
    page, _ = read_page(hand_built_run)
    assert "<script" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page
    assert page.count("<svg") == 3


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
    common = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    rendered = subprocess.run(
        [*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert rendered.returncode == 0, rendered.stderr
    assert "Customer activity as of 2024-06-30" in rendered.stdout
    assert rendered.stdout.count("<svg") == 3
    shot = subprocess.run(
        [*common, "--window-size=1280,2400", f"--screenshot={screenshot}", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.returncode == 0, shot.stderr
    assert screenshot.stat().st_size > 20_000
