"""The HTML report in a real browser: headless Chromium loads the page from disk, runs its script, and we read
the DOM it ends with (`--dump-dom`) and a screenshot.

Chromium is Debian's `chromium` package. Under CI=true a missing browser fails the test; elsewhere it skips.
Set DRIFT_SCREENSHOT=PATH to keep the screenshot (docs/report-screenshot.png is made that way).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from test_report_formats import Element, parse_html, timeline_cells  # a sibling test module

from drift.report.html import report_html
from drift.values import BuildSummary, Verdict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from support.synthetic_history import FIRST_NIGHT, Row, synthetic_risks, synthetic_rows, verdict_counts

GENERATED_AT = FIRST_NIGHT + timedelta(days=30, hours=6)
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="module")
def chromium() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    message = "headless Chromium is missing: apt-get install chromium"
    if _in_ci():
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    return synthetic_rows(targets=30, nights=30, seed=1)


@pytest.fixture(scope="module")
def page(rows: list[Row], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(report_html(rows, GENERATED_AT, synthetic_risks(rows)), encoding="utf-8")
    return path


def run_chromium(chromium: str, tmp_path: Path, url: str, *extra: str) -> str:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    profile.mkdir()
    command = [
        chromium,
        "--headless",
        "--no-sandbox",  # root, as on CI
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1400,1000",
        *extra,
        url,
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def dump_dom(chromium: str, tmp_path: Path, page: Path, fragment: str = "") -> Element:
    return parse_html(run_chromium(chromium, tmp_path, page.as_uri() + fragment, "--dump-dom"))


def first_drift(rows: Sequence[Row]) -> BuildSummary:
    """The night a drift was first seen: its findings are new."""
    for _spec, latest, history in rows:
        if latest is not None and latest.verdict is Verdict.DRIFTED:
            return [b for b in history if b.verdict is Verdict.DRIFTED][-1]
    raise AssertionError("no drifted target")


def test_the_browser_renders_the_timeline_and_counts(
    chromium: str, rows: list[Row], page: Path, tmp_path: Path
) -> None:
    dom = dump_dom(chromium, tmp_path, page)

    cells = timeline_cells(dom)
    assert len(cells) == 30
    assert sum(len(row) for row in cells.values()) == 900
    verdict_of = {b.id: b.verdict for _spec, _latest, history in rows for b in history}
    for spec, _latest, history in rows:
        expected = {f"v-{b.verdict.value}" for b in history if b.verdict}
        seen = set()
        for cell in cells[spec.name]:
            if "none" in cell.classes:
                continue
            verdict = verdict_of[int(cell.attrs["data-build"])]
            assert verdict is not None and f"v-{verdict.value}" in cell.classes
            seen.add(f"v-{verdict.value}")
        assert seen == expected
    counts = {li.attrs["data-verdict"]: int(li.attrs["data-count"]) for li in dom.by_id("counts").find_all("li")}
    assert counts == verdict_counts(rows)
    # the script ran (the Content Security Policy let it) and left the panel waiting for a click
    assert "hidden" not in dom.by_id("only-problems-label").attrs
    assert "Click a night" in dom.by_id("panel-body").text


def test_opening_a_build_shows_its_findings_in_the_panel(
    chromium: str, rows: list[Row], page: Path, tmp_path: Path
) -> None:
    build = first_drift(rows)
    dom = dump_dom(chromium, tmp_path, page, f"#build={build.id}")
    panel = dom.by_id("panel-body")

    assert panel.by_id("build-title").text.startswith(f"drifted{build.target}, build {build.id}")
    selected = [c for row in timeline_cells(dom).values() for c in row if "sel" in c.classes]
    assert [c.attrs["data-build"] for c in selected] == [str(build.id)]
    (table,) = panel.find_all("table", "findings")
    layer_titles = [tr.text for tr in table.find_all("tr", "layer")]
    finding_rows = [tr for tr in table.find_all("tr") if tr.find_all("td", "subject")]
    assert len(finding_rows) == len([f for f in build.findings if not f.ignored])
    for finding in (f for f in build.findings if not f.ignored):
        subject = finding.subject
        (row,) = [tr for tr in finding_rows if tr.find_all("td", "subject")[0].find_all("code")[0].text == subject]
        assert finding.change in row.text
        assert finding.cause in row.text
        assert finding.risk in row.text
        assert "new" in row.text  # the first night of a drift: every finding is new
        if finding.layer is not None:
            assert f"layer {finding.layer} {finding.instruction}" in layer_titles
    noise = sum(f.ignored for f in build.findings)
    assert f"Noise ({noise})" in panel.text
    assert "Unpinned inputs in the Dockerfile" in panel.text
    assert f"baseline build {build.compared_to}" in panel.text


def test_opening_a_broken_build_shows_the_failed_step_and_error(
    chromium: str, rows: list[Row], page: Path, tmp_path: Path
) -> None:
    build = next(latest for _s, latest, _h in rows if latest is not None and latest.verdict is Verdict.BROKEN)
    panel = dump_dom(chromium, tmp_path, page, f"#build={build.id}").by_id("panel-body")

    assert "Why the build failed" in panel.text
    assert build.failed_step and build.failed_step in panel.text
    assert build.error and build.error in panel.text
    (log,) = panel.find_all("pre", "log")
    assert "Unable to locate package" in log.text


def test_screenshot_of_the_report_with_a_build_open(chromium: str, rows: list[Row], page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    build = first_drift(rows)
    run_chromium(chromium, tmp_path, page.as_uri() + f"#build={build.id}", f"--screenshot={shot}", "--hide-scrollbars")

    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1400, 1000)
    assert shot.stat().st_size > 20_000  # a page, not a blank
    keep = os.environ.get("DRIFT_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)
