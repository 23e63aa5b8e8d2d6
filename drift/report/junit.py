"""The report as JUnit XML, so a CI system shows each target as a test: red when it drifted or broke.

One `<testsuite name="drift">`, one `<testcase classname="drift" name=TARGET>`
per target. Drifted, broken and failed builds are failures whose message is
the explanation and whose text lists every finding; a check that could not run
is an error; a target never built is skipped; baseline, reproducible and noisy
builds pass.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime

from drift.report.explanation import Rows, baseline_words, explanation, finding_line, real_findings, utc
from drift.values import BuildSummary, Verdict

FAILURES = frozenset({Verdict.DRIFTED, Verdict.BROKEN, Verdict.FAILED})
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _seconds(build: BuildSummary) -> float:
    if build.finished_at is None:
        return 0.0
    return max(0.0, (utc(build.finished_at) - utc(build.started_at)).total_seconds())


def _details(build: BuildSummary) -> str:
    """The failure's body: every finding, the noise count, the failed step and the log tail."""
    lines = [f"build {build.id} of commit {build.commit}, started {utc(build.started_at):%Y-%m-%d %H:%M:%S} UTC"]
    if build.compared_to:
        lines.append(baseline_words(build))
    if build.failed_step:
        lines.append(f"failed step: {build.failed_step}")
    if build.error:
        lines.append(f"error: {build.error}")
    real = real_findings(build)
    if real:
        lines.append(f"{len(real)} finding(s):")
        lines.extend(f"  {finding_line(f)}" for f in real)
    noise = len(build.findings) - len(real)
    if noise:
        lines.append(f"{noise} difference(s) in ignored paths (noise)")
    if build.log_tail:
        lines.append("log tail:")
        lines.extend(f"  {line}" for line in build.log_tail.rstrip().splitlines())
    lines.append(f"details: drift show {build.id}")
    return "\n".join(lines) + "\n"


def _xml_text(text: str) -> str:
    """Text XML 1.0 can hold: build logs carry terminal escapes and other control characters."""
    return _NOT_XML.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def _testcase(suite: ET.Element, name: str, latest: BuildSummary | None) -> str:
    """Add the target's testcase; return its outcome: "passed", "failure", "error" or "skipped"."""
    case = ET.SubElement(suite, "testcase", classname="drift", name=name)
    if latest is None or latest.verdict is None:
        reason = "never built" if latest is None else f"build {latest.id} has no verdict yet"
        ET.SubElement(case, "skipped", message=reason)
        case.set("time", "0")
        return "skipped"
    case.set("time", f"{_seconds(latest):.3f}")
    verdict = latest.verdict
    outcome = "passed"
    if verdict in FAILURES:
        message = _xml_text(f"{verdict.value}: {explanation(latest)}")
        element = ET.SubElement(case, "failure", message=message, type=verdict.value)
        element.text = _xml_text(_details(latest))
        outcome = "failure"
    elif verdict is Verdict.ERROR:
        element = ET.SubElement(case, "error", message=_xml_text(explanation(latest)), type=verdict.value)
        element.text = _xml_text(_details(latest))
        outcome = "error"
    else:
        # A passing target still says what it is: the verdict and the build it was judged by.
        out = ET.SubElement(case, "system-out")
        out.text = _xml_text(f"{verdict.value}: {explanation(latest)}\n{_details(latest)}")
    return outcome


def junit_xml(rows: Rows, generated_at: datetime) -> str:
    """The JUnit XML document (UTF-8, with its declaration) of the targets' latest builds."""
    root = ET.Element("testsuites", name="drift")
    suite = ET.SubElement(root, "testsuite", name="drift", timestamp=utc(generated_at).isoformat(timespec="seconds"))
    outcomes = [_testcase(suite, spec.name, latest) for spec, latest, _history in rows]
    total_time = sum(_seconds(latest) for _spec, latest, _history in rows if latest is not None)
    counts = {
        "tests": len(outcomes),
        "failures": outcomes.count("failure"),
        "errors": outcomes.count("error"),
        "skipped": outcomes.count("skipped"),
    }
    for element in (root, suite):
        for key, value in counts.items():
            element.set(key, str(value))
        element.set("time", f"{total_time:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
