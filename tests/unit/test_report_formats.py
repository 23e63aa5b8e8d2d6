"""Report formats of `drift report`: the JSON document against its shipped schema, JUnit XML, the Markdown
summary and the HTML page (its content and self-containment; the browser test renders it for real)."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, ValidationError
from junitparser import Error, Failure, JUnitXml, Skipped, TestSuite

from drift import __version__
from drift.report.document import report_document
from drift.report.html import report_html
from drift.report.json_text import indented_json
from drift.report.junit import junit_xml
from drift.report.report_markdown import report_markdown
from drift.report.schema import report_errors, report_schema, validate_report
from drift.values import BuildSummary, Finding, RecordedFetch, TargetSpec, Verdict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from support.synthetic_history import (
    FIRST_NIGHT,
    Row,
    synthetic_risks,
    synthetic_rows,
    verdict_counts,
)

GENERATED_AT = FIRST_NIGHT + timedelta(days=31)


# --- a small DOM for reading the rendered HTML (also used by the browser test) ---------------------------------


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element] = field(default_factory=list)
    text_parts: list[str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    @property
    def text(self) -> str:
        return "".join(self.text_parts) + "".join(child.text for child in self.children)

    def iter(self) -> list[Element]:
        found = [self]
        for child in self.children:
            found.extend(child.iter())
        return found

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Element]:
        return [
            e
            for e in self.iter()
            if (tag is None or e.tag == tag)
            and (cls is None or cls in e.classes)
            and all(e.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def by_id(self, ident: str) -> Element:
        (found,) = [e for e in self.iter() if e.attrs.get("id") == ident]
        return found


_VOID = {"meta", "link", "br", "hr", "img", "input", "source", "wbr", "col", "area", "base", "embed", "track"}


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].text_parts.append(data)


def parse_html(text: str) -> Element:
    builder = _Builder()
    builder.feed(text)
    builder.close()
    return builder.root


def timeline_cells(dom: Element) -> dict[str, list[Element]]:
    """Per timeline row (target name), its night cells, oldest first."""
    return {
        row.attrs["data-target"]: [c for c in row.children if "c" in c.classes]
        for row in dom.by_id("timeline").find_all("div", "tl-row")
    }


# --- helpers --------------------------------------------------------------------------------------------------


def rows_30() -> list[Row]:
    return synthetic_rows(targets=30, nights=30, seed=1, never_built=1)


def with_verdict(rows: list[Row], verdict: Verdict) -> tuple[TargetSpec, BuildSummary, list[BuildSummary]]:
    for spec, _latest, history in rows:
        for build in history:
            if build.verdict is verdict:
                return spec, build, history
    raise AssertionError(f"the synthetic history has no {verdict} build")


def latest_with(rows: list[Row], verdict: Verdict) -> tuple[TargetSpec, BuildSummary, list[BuildSummary]]:
    for spec, latest, history in rows:
        if latest is not None and latest.verdict is verdict:
            return spec, latest, history
    raise AssertionError(f"no target's latest build is {verdict}")


# --- the JSON document and its schema --------------------------------------------------------------------------


def test_the_shipped_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = report_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema"] == {"description": "The document's schema number.", "const": 1}
    assert set(schema["$defs"]["verdict"]["enum"]) == {v.value for v in Verdict} | {None}


@pytest.mark.parametrize("verdict", list(Verdict), ids=lambda v: v.value)
def test_a_document_whose_latest_build_has_each_verdict_validates(verdict: Verdict) -> None:
    rows = rows_30()
    spec, build, history = with_verdict(rows, verdict)
    older = [b for b in history if b.started_at <= build.started_at]
    document = report_document([(spec, build, older)], generated_at=GENERATED_AT)

    validate_report(document)
    assert document["targets"][0]["latest"]["verdict"] == verdict.value


def test_the_whole_synthetic_report_validates_with_never_built_and_accepted_targets() -> None:
    rows = rows_30()
    spec, latest, history = latest_with(rows, Verdict.REPRODUCIBLE)
    accepted = replace(latest, verdict=Verdict.BASELINE, is_baseline=True, accepted=True, compared_to=None)
    rows.append((replace(spec, name="accepted-one"), accepted, [accepted, *history[1:]]))
    document = report_document(rows, generated_at=GENERATED_AT)

    validate_report(document)
    assert [t["latest"] for t in document["targets"]].count(None) == 1
    assert {t["latest"]["verdict"] for t in document["targets"] if t["latest"]} == {v.value for v in Verdict}


def test_naive_timestamps_as_sqlite_returns_them_and_a_running_build_validate() -> None:
    spec, build, _history = latest_with(rows_30(), Verdict.DRIFTED)
    running = replace(
        build,
        status="running",
        verdict=None,
        started_at=build.started_at.replace(tzinfo=None),
        finished_at=None,
        image_id=None,
        findings=(),
    )
    document = report_document([(spec, running, [running])], generated_at=datetime(2024, 6, 1, 3, 0))

    validate_report(document)
    assert document["targets"][0]["latest"]["started_at"] == running.started_at.isoformat(timespec="seconds")


def _valid_document() -> dict[str, Any]:
    spec, build, history = latest_with(rows_30(), Verdict.DRIFTED)
    document = report_document([(spec, build, history)], generated_at=GENERATED_AT)
    validate_report(document)
    return document


def test_the_document_names_the_drift_version_that_wrote_it() -> None:
    document = _valid_document()
    assert document["drift_version"] == __version__
    older = copy.deepcopy(document)
    del older["drift_version"]  # documents written by drift 0.1.0 lack it and stay valid
    validate_report(older)
    older["drift_version"] = ""
    assert report_errors(older)


def test_a_document_without_its_schema_number_is_rejected() -> None:
    document = _valid_document()
    del document["schema"]
    with pytest.raises(ValidationError, match="'schema' is a required property"):
        validate_report(document)


def test_a_document_of_another_schema_number_is_rejected() -> None:
    document = _valid_document()
    document["schema"] = 2
    with pytest.raises(ValidationError):
        validate_report(document)


def test_an_unknown_verdict_is_rejected_in_latest_and_in_history() -> None:
    document = _valid_document()
    latest = copy.deepcopy(document)
    latest["targets"][0]["latest"]["verdict"] = "flaky"
    history = copy.deepcopy(document)
    history["targets"][0]["history"][3]["verdict"] = "flaky"

    for broken in (latest, history):
        errors = report_errors(broken)
        assert errors, "an unknown verdict must not validate"
        assert any("flaky" in error.message for error in errors)


def test_a_finding_without_kind_is_rejected() -> None:
    document = _valid_document()
    del document["targets"][0]["latest"]["findings"][0]["kind"]
    with pytest.raises(ValidationError, match="'kind' is a required property"):
        validate_report(document)


def test_noise_among_the_findings_and_a_renamed_field_are_rejected() -> None:
    document = _valid_document()
    noise = copy.deepcopy(document)
    noise["targets"][0]["latest"]["findings"][0]["ignored"] = True
    renamed = copy.deepcopy(document)
    target = renamed["targets"][0]
    target["pin"] = target.pop("commit")
    timestamp = copy.deepcopy(document)
    timestamp["generated_at"] = "yesterday"

    assert report_errors(noise)
    assert report_errors(renamed)
    assert report_errors(timestamp)


def test_every_field_the_document_writes_is_in_the_schema() -> None:
    """additionalProperties is false throughout: a field added to the document needs the schema updated."""
    document = _valid_document()
    document["targets"][0]["latest"]["findings"][0]["severity"] = "high"
    with pytest.raises(ValidationError, match="severity"):
        validate_report(document)


# --- JUnit XML ---------------------------------------------------------------------------------------------------


def _suite(xml: str) -> TestSuite:
    parsed = JUnitXml.fromstring(xml)
    suites = [parsed] if isinstance(parsed, TestSuite) else list(parsed)
    assert len(suites) == 1
    return suites[0]


def test_junit_counts_failures_errors_and_skipped_targets() -> None:
    rows = rows_30()
    counts = verdict_counts(rows)
    suite = _suite(junit_xml(rows, GENERATED_AT))

    assert suite.name == "drift"
    assert suite.tests == len(rows) == 30
    assert suite.failures == counts["drifted"] + counts["broken"] + counts["failed"]
    assert counts["drifted"] > 1 and counts["broken"] == counts["failed"] == 1
    assert suite.errors == counts["error"] == 1
    assert suite.skipped == counts["never built"] == 1
    cases = list(suite)
    assert [c.name for c in cases] == [spec.name for spec, _latest, _history in rows]
    assert {c.classname for c in cases} == {"drift"}
    passed = [c for c in cases if c.is_passed]
    assert len(passed) == counts["reproducible"] + counts["noisy"]


def test_a_drifted_target_fails_with_its_findings_layer_and_cause() -> None:
    rows = rows_30()
    spec, latest, _history = latest_with(rows, Verdict.DRIFTED)
    (case,) = [c for c in _suite(junit_xml(rows, GENERATED_AT)) if c.name == spec.name]
    (result,) = case.result

    assert isinstance(result, Failure)
    assert result.type == "drifted"
    real = [f for f in latest.findings if not f.ignored]
    top = next(f for f in real if f.kind != "file") if any(f.kind != "file" for f in real) else real[0]
    assert result.message.startswith("drifted: ")
    assert top.subject in result.message
    assert f"cause {top.cause}" in result.message
    if any(f.layer is not None for f in real):
        assert re.search(r"layer \d+ ", result.message)
    for finding in real:  # the text lists them all, each with its layer and cause
        line = next(line for line in result.text.splitlines() if finding.subject in line)
        assert f"cause {finding.cause}" in line
        if finding.layer is not None:
            assert f"layer {finding.layer} " in line
    assert f"drift show {latest.id}" in result.text


def test_broken_and_failed_targets_fail_with_the_failed_step_and_error_is_an_error() -> None:
    rows = rows_30()
    cases = {c.name: c for c in _suite(junit_xml(rows, GENERATED_AT))}
    for verdict in (Verdict.BROKEN, Verdict.FAILED):
        spec, latest, _history = latest_with(rows, verdict)
        (result,) = cases[spec.name].result
        assert isinstance(result, Failure) and result.type == verdict.value
        assert latest.failed_step and latest.failed_step in result.message
        assert latest.log_tail and latest.log_tail.splitlines()[-1] in result.text
    spec, latest, _history = latest_with(rows, Verdict.ERROR)
    (result,) = cases[spec.name].result
    assert isinstance(result, Error)
    assert "repository unreachable" in result.message
    never = rows[-1][0].name
    (skipped,) = cases[never].result
    assert isinstance(skipped, Skipped) and skipped.message == "never built"


def test_junit_survives_control_characters_in_a_build_log() -> None:
    rows = rows_30()
    spec, latest, history = latest_with(rows, Verdict.BROKEN)
    colored = replace(latest, log_tail="\x1b[31mE: Unable to locate package libfoo1\x1b[0m\x00\n")
    (case,) = list(_suite(junit_xml([(spec, colored, history)], GENERATED_AT)))
    assert "E: Unable to locate package libfoo1" in case.result[0].text


# --- Markdown summary ------------------------------------------------------------------------------------------


def test_markdown_heading_counts_every_verdict() -> None:
    rows = rows_30()
    text = report_markdown(rows, GENERATED_AT)
    heading = text.splitlines()[0]
    counts = verdict_counts(rows)
    assert heading.startswith("## drift report: ")
    for key, count in counts.items():
        assert f"{count} {key}" in heading
    # most severe first
    assert heading.index("broken") < heading.index("drifted") < heading.index("reproducible")


def test_markdown_table_has_one_row_per_target_with_an_emoji_free_marker() -> None:
    rows = rows_30()
    text = report_markdown(rows, GENERATED_AT)
    table = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(table) == len(rows)
    assert text.splitlines()[4] == "| target | verdict | since | build | explanation |"
    spec, latest, history = latest_with(rows, Verdict.DRIFTED)
    (row,) = [line for line in table if line.startswith(f"| `{spec.name}` ")]
    cells = [cell.strip() for cell in row.strip("|").split(" | ")]
    assert cells[1] == "✗ **drifted**"
    first_drifted = [b for b in history if b.verdict is Verdict.DRIFTED][-1]
    assert cells[2] == first_drifted.started_at.strftime("%Y-%m-%d")
    assert cells[3] == str(latest.id)
    assert "cause" in cells[4]
    assert not re.search("[\U0001f300-\U0001faff\u2600-\u26ff]", text), "no emoji"


def test_markdown_sections_show_the_top_findings_of_drifted_and_broken_targets() -> None:
    rows = rows_30()
    text = report_markdown(rows, GENERATED_AT)
    for spec, latest, _history in rows:
        heading = f"### `{spec.name}`: "
        if latest is None or latest.verdict not in (Verdict.DRIFTED, Verdict.BROKEN, Verdict.FAILED):
            assert heading not in text
            continue
        section = text[text.index(heading) :].split("\n### ")[0]
        assert f"drift show {latest.id}" in section
        for finding in (f for f in latest.findings if not f.ignored):
            (line,) = [line for line in section.splitlines() if f"`{finding.subject}`" in line]
            assert f"| {finding.cause} |" in line.replace("\\", "")
            if finding.layer is not None:
                assert line.startswith(f"| {finding.layer} |")
            if finding.risk:
                assert finding.risk in line
        if latest.verdict is Verdict.BROKEN:
            assert f"Failed step: `{latest.failed_step}`" in section


def test_markdown_keeps_table_cells_intact_when_a_path_holds_a_pipe_or_backtick() -> None:
    rows = rows_30()
    spec, latest, history = latest_with(rows, Verdict.DRIFTED)
    odd = Finding("file", 3, "RUN make `x` | tee", "/opt/a|b`c", "added", cause="unknown")
    text = report_markdown([(spec, replace(latest, findings=(odd,)), history)], GENERATED_AT)
    (line,) = [line for line in text.splitlines() if "a\\|b" in line and line.startswith("| 3 |")]
    assert len(re.split(r"(?<!\\)\|", line)) == 8  # 6 cells between 7 unescaped pipes


# --- HTML --------------------------------------------------------------------------------------------------------


def _csp(dom: Element) -> dict[str, str]:
    (meta,) = dom.find_all("meta", http_equiv="Content-Security-Policy")
    return dict(part.strip().split(" ", 1) for part in meta.attrs["content"].split(";"))


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_html_is_one_self_contained_file_that_loads_nothing() -> None:
    rows = rows_30()
    page = report_html(rows, GENERATED_AT, synthetic_risks(rows))
    dom = parse_html(page)

    assert not dom.find_all("link")
    assert not dom.find_all("img")
    for element in dom.iter():
        assert "src" not in element.attrs, element
        assert not element.attrs.get("href", "#").startswith(("http:", "https:", "//")), element
    assert "@import" not in page and "url(" not in page
    policy = _csp(dom)
    assert policy["default-src"] == "'none'"
    (style,) = dom.find_all("style")
    scripts = [s for s in dom.find_all("script") if s.attrs.get("type") != "application/json"]
    assert len(scripts) == 1
    assert policy["style-src"] == _hash(style.text)
    assert policy["script-src"] == _hash(scripts[0].text)


def test_html_summary_counts_and_timeline_match_the_history() -> None:
    rows = rows_30()
    dom = parse_html(report_html(rows, GENERATED_AT, synthetic_risks(rows)))

    counts = {li.attrs["data-verdict"]: int(li.attrs["data-count"]) for li in dom.by_id("counts").find_all("li")}
    assert counts == verdict_counts(rows)
    cells = timeline_cells(dom)
    assert len(cells) == len(rows)
    assert {len(row) for row in cells.values()} == {30}
    by_id = {b.id: b for _spec, _latest, history in rows for b in history}
    for spec, _latest, history in rows:
        built = [c for c in cells[spec.name] if "data-build" in c.attrs]
        assert [int(c.attrs["data-build"]) for c in built] == [b.id for b in reversed(history)]
        for cell in built:
            build = by_id[int(cell.attrs["data-build"])]
            assert build.verdict is not None
            assert f"v-{build.verdict.value}" in cell.classes
            assert cell.attrs["href"] == f"#build={build.id}"
        assert len(cells[spec.name]) - len(built) == len([c for c in cells[spec.name] if "none" in c.classes])


def test_html_embeds_every_build_once_with_findings_and_risks() -> None:
    rows = rows_30()
    risks = synthetic_risks(rows)
    dom = parse_html(report_html(rows, GENERATED_AT, risks))
    data = json.loads(dom.by_id("drift-data").text)

    all_builds = [b for _spec, _latest, history in rows for b in history]
    assert set(data["builds"]) == {str(b.id) for b in all_builds}
    spec, latest, _history = latest_with(rows, Verdict.DRIFTED)
    entry = data["builds"][str(latest.id)]
    assert data["targets"][entry["t"]] == spec.name
    assert entry["v"] == "drifted"
    shown = [data["findings"][i] for i in entry["f"]]
    assert {f[3] for f in shown} == {f.subject for f in latest.findings if not f.ignored}
    assert sum(count for _rule, count in entry["noise"]) == sum(f.ignored for f in latest.findings)
    assert [data["risks"][i]["id"] for i in entry["r"]] == [r["id"] for r in risks[latest.id]]
    # findings shared by every night of a drift are stored once
    assert len(data["findings"]) < sum(len(b["f"]) for b in data["builds"].values() if "f" in b)


def test_html_lists_the_latest_build_of_each_target_without_javascript() -> None:
    rows = rows_30()
    dom = parse_html(report_html(rows, GENERATED_AT))
    latest_rows = dom.by_id("latest").find_all("tr", "latest-row")

    assert [r.attrs["data-target"] for r in latest_rows] == [
        r.attrs["data-target"] for r in dom.by_id("timeline").find_all("div", "tl-row")
    ]
    assert {r.attrs["data-target"] for r in latest_rows} == {spec.name for spec, _l, _h in rows}
    spec, latest, _history = latest_with(rows, Verdict.DRIFTED)
    (row,) = [r for r in latest_rows if r.attrs["data-target"] == spec.name]
    assert row.attrs["data-verdict"] == "drifted"
    for finding in (f for f in latest.findings if not f.ignored):
        assert finding.subject in row.text
        assert finding.cause in row.text
    spec, latest, _history = latest_with(rows, Verdict.BROKEN)
    (row,) = [r for r in latest_rows if r.attrs["data-target"] == spec.name]
    assert latest.failed_step and latest.failed_step in row.text


def test_html_never_lets_build_data_become_markup() -> None:
    rows = rows_30()
    spec, latest, history = latest_with(rows, Verdict.DRIFTED)
    evil = Finding("file", 2, "RUN echo '<!--'", "/opt/</script><script>alert(1)</script>", "added", cause="unknown")
    hostile = replace(latest, findings=(evil,), error="<img src=x onerror=alert(2)>")
    page = report_html([(spec, hostile, [hostile, *history[1:]])], GENERATED_AT)

    assert "<script>alert(1)" not in page
    assert "<img" not in page
    dom = parse_html(page)
    data = json.loads(dom.by_id("drift-data").text)
    assert data["findings"][data["builds"][str(hostile.id)]["f"][0]][3] == evil.subject


def test_html_shows_the_newest_build_of_a_night_and_keeps_the_others() -> None:
    rows = rows_30()[:2]
    spec, latest, history = rows[0]
    assert latest is not None
    rerun = replace(latest, id=9999, started_at=latest.started_at + timedelta(hours=3), verdict=Verdict.REPRODUCIBLE)
    page = report_html([(spec, rerun, [rerun, *history]), rows[1]], GENERATED_AT)
    dom = parse_html(page)
    last_cell = timeline_cells(dom)[spec.name][-1]
    data = json.loads(dom.by_id("drift-data").text)

    assert last_cell.attrs["data-build"] == "9999"
    assert "earlier that night" in last_cell.attrs["title"]
    assert data["builds"]["9999"]["night"] == [latest.id]
    assert str(latest.id) in data["builds"]


def test_html_of_100_targets_and_30_nights_stays_small() -> None:
    rows = synthetic_rows(targets=100, nights=30, seed=3)
    page = report_html(rows, GENERATED_AT, synthetic_risks(rows))
    assert len(page.encode()) < 2_000_000
    assert sum(len(cells) for cells in timeline_cells(parse_html(page)).values()) == 3000


def test_html_of_no_targets_renders() -> None:
    page = report_html([], GENERATED_AT)
    assert "No targets are tracked." in page


def test_every_format_reads_naive_utc_times_as_sqlite_returns_them() -> None:
    def naive(build: BuildSummary) -> BuildSummary:
        finished = build.finished_at.replace(tzinfo=None) if build.finished_at else None
        return replace(build, started_at=build.started_at.replace(tzinfo=None), finished_at=finished)

    rows = [
        (spec, naive(latest) if latest else None, [naive(b) for b in history]) for spec, latest, history in rows_30()
    ]
    generated_at = GENERATED_AT.replace(tzinfo=None)
    spec, latest, _history = latest_with(rows, Verdict.DRIFTED)

    assert f"| {latest.id} |" in report_markdown(rows, generated_at)
    counts = verdict_counts(rows)
    failures = counts["drifted"] + counts["broken"] + counts["failed"]
    assert _suite(junit_xml(rows, generated_at)).failures == failures
    dom = parse_html(report_html(rows, generated_at))
    assert timeline_cells(dom)[spec.name][-1].attrs["data-build"] == str(latest.id)
    validate_report(report_document(rows, generated_at=generated_at))


def test_fetch_findings_and_the_ledger_counts_of_each_target_validate() -> None:
    spec, build, history = latest_with(rows_30(), Verdict.DRIFTED)
    tool = "http://downloads.example/tool/latest.txt"
    ledger = (
        RecordedFetch("GET", tool, "downloads.example", 200, 8, "a" * 64, "RUN wget ...", 1, "DRIFT303"),
        RecordedFetch("GET", "http://apt.example/Packages", "apt.example", 200, 99, "b" * 64, "RUN apt-get ...", 2),
        RecordedFetch("CONNECT", "pypi.example:443", "pypi.example", 200, 5000, "", "RUN pip ...", 3),
    )
    fetch = Finding(
        "fetch", 1, "RUN wget ...", tool, "modified", "sha256:aa (8 bytes)", "sha256:bb (8 bytes)", "network-fetch"
    )
    on = replace(build, ledger="on", fetches=ledger, findings=(fetch, *build.findings))
    off = replace(build, ledger="off: the build has no network (--network none)", fetches=())
    document = report_document(
        [(spec, on, history), (replace(spec, name="offline"), off, history)], generated_at=GENERATED_AT
    )

    validate_report(document)
    first, second = document["targets"]
    assert (first["ledger"], first["external_hosts"], first["unverified_fetches"]) == ("on", 3, 1)
    assert first["latest"]["findings"][0]["kind"] == "fetch"
    assert (second["external_hosts"], second["unverified_fetches"]) == (None, None)
    assert second["ledger"].startswith("off: ")
    html = report_html([(spec, on, history)], GENERATED_AT)
    assert "3 host(s), 1 unverified fetch(es)" in html


def test_report_json_is_written_as_json_dumps_indents_it() -> None:
    """drift's faster writer of indented JSON gives json.dumps(document, indent=2), byte for byte."""
    rows = rows_30()
    document = report_document(rows, generated_at=GENERATED_AT)
    odd = {
        "text": 'caf\u00e9 \u2028 \x1b[31m \udcff "quoted" \\ \t\n',
        "numbers": [0, -1, 2**70, True, False, None],
        "empty": [{}, [], {"a": []}, [[]]],
        "nested": {"tuple": (1, "two"), "deep": {"x": {"y": [{"z": None}]}}},
    }
    # Lists of objects with the same keys (a target's nights), and lists that only start like one.
    records = [
        [
            {"build": n, "verdict": "noisy", "done": n % 2 == 0, "error": None, "100%": "caf\u00e9 \x1b"}
            for n in range(5)
        ],
        [{"a": 1, "b": 2}, {"b": 2, "a": 1}],
        [{"a": 1}, {"a": 1, "b": 2}],
        [{"a": 1}, {"a": [1, {"b": None}]}, {"a": 3}],
        [{"a": 1}, "not an object", {"a": 2}],
        [{"a": 1.5}],
        [{2: "int key"}],
    ]
    values: list[object] = [document, odd, records, [], {}, "plain", 3]
    for value in values:
        assert indented_json(value) == json.dumps(value, indent=2)
    # What it leaves to json.dumps still comes out as json.dumps writes it.
    unusual_values: list[object] = [{1: "int key"}, {"float": 1.5}, [float("nan")]]
    for unusual in unusual_values:
        assert indented_json(unusual) == json.dumps(unusual, indent=2)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 30, 3, 4, 5, 678901, tzinfo=UTC),
        datetime(999, 1, 2, 0, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 30, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 11, 30, 3, 4, 5),
    ],
)
def test_a_nights_start_is_written_as_isoformat_writes_it(moment: datetime) -> None:
    from drift.report.document import _iso_utc

    assert _iso_utc(moment) == moment.isoformat(timespec="seconds")
