"""The report as one self-contained HTML page: counts, a timeline of every target's nights, build details.

The page loads nothing from anywhere (inline CSS and JS, a Content Security
Policy that forbids every fetch): it can be mailed, attached to a CI run or
opened from disk. Each timeline row is a target, each cell a night coloured by
its build's verdict; clicking a cell (or opening the page with `#build=ID`)
shows that build in the side panel, rendered by a small script from a JSON
blob with `textContent` only. Without JavaScript the page still lists every
target's latest build with its findings.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from drift.report.document import ledger_counts
from drift.report.explanation import (
    PROBLEMS,
    explanation,
    real_findings,
    severity_rank,
    short,
    since,
    utc,
    verdict_counts,
    verdict_key,
)
from drift.values import BuildSummary, Finding, TargetSpec, Verdict

# The page shows every night's build in full: its histories are whole builds.
WholeRows = Sequence[tuple[TargetSpec, BuildSummary | None, Sequence[BuildSummary]]]

MAX_NIGHTS = 60  # columns of the timeline: `drift report` reads up to 60 builds per target
MAX_PANEL_FINDINGS = 100  # per build in the page; `drift show` has them all
MAX_LATEST_FINDINGS = 10  # per target in the list of latest builds
MAX_LOG_LINES = 30


@dataclass
class _Cell:
    night: date
    build: BuildSummary | None = None
    others: list[BuildSummary] = field(default_factory=list)  # earlier builds the same night

    def html(self) -> str:
        """The cell's element: a link to its build, coloured by its verdict (a dot for a new finding)."""
        night = self.night.isoformat()
        build = self.build
        if build is None:
            return f'<span class="c none" title="{night}: no build"></span>'
        verdict = verdict_key(build)
        new = " new" if any(f.new and not f.ignored for f in build.findings) else ""
        more = f" (+{len(self.others)} earlier that night)" if self.others else ""
        # Every part is drift's own words, dates and numbers: nothing to escape.
        return (
            f'<a class="c v-{verdict.replace(" ", "-")}{new}" href="#build={build.id}" data-build="{build.id}" '
            f'title="{night}: {verdict}, build {build.id}{more}"></a>'
        )


@dataclass
class _Row:
    name: str
    verdict: str
    problem: bool
    cells: Markup  # the row's night cells, oldest first


# A build's entry in the page's data, its keys in this order (the optional ones only when they hold something).
_BUILD_KEYS = (
    "t", "v", "status", "at", "commit", "x", "sec", "cmp", "pub", "base", "acc", "err", "step", "log", "f", "new",
    "more", "noise", "r", "night",
)  # fmt: skip


def _minute(moment: datetime) -> str:
    """ "YYYY-MM-DD HH:MM" in UTC, as strftime writes it (sixty thousand of them, without strftime)."""
    moment = utc(moment)
    return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} {moment.hour:02d}:{moment.minute:02d}"


class _BuildIndex:
    """The builds shown in the page, with findings and risks stored once however many builds share them."""

    def __init__(self, target_names: Sequence[str], risks: Mapping[int, Sequence[Mapping[str, object]]]) -> None:
        self.targets = list(target_names)
        self.risks_by_build = risks
        self.findings: list[list[object]] = []
        self.finding_ids: dict[tuple[object, ...], int] = {}
        self.risks: list[dict[str, object]] = []
        self.risk_ids: dict[object, int] = {}
        self.builds: dict[str, dict[str, object]] = {}
        self.shared: dict[tuple[object, ...], dict[str, object]] = {}

    def _finding(self, finding: Finding) -> int:
        fields: list[object] = [
            finding.kind,
            finding.layer,
            finding.instruction,
            finding.subject,
            finding.change,
            finding.before,
            finding.after,
            finding.cause,
            finding.risk,
            finding.ecosystem,
        ]
        key = tuple(fields)
        if key not in self.finding_ids:
            self.finding_ids[key] = len(self.findings)
            self.findings.append(fields)
        return self.finding_ids[key]

    def _risk(self, risk: Mapping[str, object]) -> int:
        document = {k: risk.get(k, "") for k in ("id", "line", "subject", "message", "fix")}
        values = tuple(document.values())
        # Risks are strings and line numbers: their values are their key, without writing them as JSON.
        key: object = (
            values if all(type(v) in (str, int) for v in values) else json.dumps(document, sort_keys=True, default=str)
        )
        if key not in self.risk_ids:
            self.risk_ids[key] = len(self.risks)
            self.risks.append(document)
        return self.risk_ids[key]

    def add(self, target: int, build: BuildSummary, same_night: Sequence[BuildSummary] = ()) -> None:
        if str(build.id) in self.builds:
            return
        document: dict[str, object] = {"t": target, **self._shared(build)}
        document["at"] = _minute(build.started_at)
        if build.finished_at is not None:
            document["sec"] = round((utc(build.finished_at) - utc(build.started_at)).total_seconds())
        risks = self.risks_by_build.get(build.id, ())
        if risks:
            document["r"] = [self._risk(r) for r in risks]
        night = [b.id for b in same_night if b.id != build.id]
        if night:
            document["night"] = night
        # The keys in the order the page has always had them.
        self.builds[str(build.id)] = {key: document[key] for key in _BUILD_KEYS if key in document}

    def _shared(self, build: BuildSummary) -> dict[str, object]:
        """What a build's entry has in common with every build of the same outcome: a target's nights mostly
        repeat one verdict, explanation and findings, made once here."""
        key = (
            build.verdict,
            build.status,
            build.commit,
            build.findings,
            build.error,
            build.failed_step,
            build.log_tail,
            build.compared_to,
            build.published,
            build.compared_to_published,
            build.is_baseline,
            build.accepted,
        )
        shared = self.shared.get(key)
        if shared is not None:
            return shared
        real = real_findings(build)
        shown = real[:MAX_PANEL_FINDINGS]
        noise_rules: dict[str, int] = defaultdict(int)
        for finding in build.findings:
            if finding.ignored:
                noise_rules[finding.ignored_by or "ignored"] += 1
        shared = {"v": verdict_key(build), "status": build.status, "commit": build.commit, "x": explanation(build)}
        optional: dict[str, object] = {
            "cmp": build.compared_to,
            "pub": build.published or build.compared_to_published,
            "base": build.is_baseline,
            "acc": build.accepted,
            "err": build.error,
            "step": build.failed_step,
            "log": "\n".join((build.log_tail or "").rstrip().splitlines()[-MAX_LOG_LINES:]),
            "f": [self._finding(f) for f in shown],
            "new": [i for i, f in enumerate(shown) if f.new],
            "more": len(real) - len(shown),
            "noise": sorted(noise_rules.items()),
        }
        shared.update({key: value for key, value in optional.items() if value})
        self.shared[key] = shared
        return shared

    def blob(self) -> Markup:
        """The JSON, safe inside a <script type="application/json"> element."""
        text = json.dumps(
            {"targets": self.targets, "findings": self.findings, "risks": self.risks, "builds": self.builds},
            separators=(",", ":"),
            ensure_ascii=False,
        )
        # Inside <script>, only "</script" or "<!--" could end or confuse the element; escape every "<", ">"
        # and "&" so no text from a build (a path, a log line) can.
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
        return Markup(text)


def _nights(rows: WholeRows) -> list[date]:
    nights = {utc(b.started_at).date() for _spec, _latest, history in rows for b in history}
    return sorted(nights)[-MAX_NIGHTS:]


def _columns(nights: Sequence[date], cell: int) -> list[dict[str, object]]:
    """The timeline's header: per night its date, its day number (every day when it fits, else Mondays)
    and the month's name where a month starts."""
    columns: list[dict[str, object]] = []
    for position, night in enumerate(nights):
        starts_month = position == 0 or night.day == 1 or night.month != nights[position - 1].month
        columns.append(
            {
                "date": night.isoformat(),
                "day": f"{night.day:02d}" if cell >= 12 or night.weekday() == 0 else "",
                "weekend": night.weekday() >= 5,
                "month": night.strftime("%b %Y") if starts_month else "",
            }
        )
    return columns


def _cell_size(targets: int) -> int:
    """Pixels per cell, so that up to 100 targets fit on one screen."""
    if targets <= 40:
        return 16
    if targets <= 70:
        return 11
    return 7


def _digest(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("drift.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _latest_entry(name: str, latest: BuildSummary | None, history: Sequence[BuildSummary]) -> dict[str, Any]:
    started = since(history)
    entry: dict[str, Any] = {
        "name": name,
        "verdict": verdict_key(latest),
        "since": utc(started).strftime("%Y-%m-%d") if started else "",
        "build": latest,
        "explanation": [(piece, position % 2 == 1) for position, piece in enumerate(explanation(latest).split("`"))],
        "findings": [],
        "more": 0,
        "noise": 0,
        "inputs": external_inputs(latest),
    }
    if latest is not None:
        real = real_findings(latest)
        groups: dict[int | None, dict[str, Any]] = {}
        for f in real[:MAX_LATEST_FINDINGS]:
            group = groups.setdefault(
                f.layer,
                {"title": "image" if f.layer is None else f"layer {f.layer}", "instruction": f.instruction, "rows": []},
            )
            group["rows"].append(
                {
                    "kind": "" if f.kind == "file" else f.kind + (f" ({f.ecosystem})" if f.ecosystem else ""),
                    "subject": f.subject,
                    "change": f.change,
                    "diff": " → ".join(short(v, 60) for v in (f.before, f.after) if v),
                    "cause": f.cause,
                    "risk": f.risk,
                    "new": f.new,
                }
            )
        entry["layers"] = list(groups.values())
        entry["findings"] = real[:MAX_LATEST_FINDINGS]
        entry["more"] = len(real) - len(entry["findings"])
        entry["noise"] = len(latest.findings) - len(real)
        entry["commit"] = latest.commit[:12]
        entry["at"] = utc(latest.started_at).strftime("%Y-%m-%d %H:%M")
    return entry


def external_inputs(build: BuildSummary | None) -> str:
    """The latest build's fetch ledger in words: "3 host(s), 1 unverified fetch(es)", or why there is none."""
    counts = ledger_counts(build)
    if counts["external_hosts"] is None:
        return counts["ledger"] or ""
    return f"{counts['external_hosts']} host(s), {counts['unverified_fetches']} unverified fetch(es)"


def report_html(
    rows: WholeRows,
    generated_at: datetime,
    risks: Mapping[int, Sequence[Mapping[str, object]]] | None = None,
) -> str:
    """The whole page as one string of HTML."""
    ordered = sorted(rows, key=lambda row: (severity_rank(row[1]), row[0].name))
    nights = _nights(ordered)
    column = {night: index for index, night in enumerate(nights)}
    index = _BuildIndex([spec.name for spec, _latest, _history in ordered], risks or {})
    timeline: list[_Row] = []
    for target, (spec, latest, history) in enumerate(ordered):
        cells = [_Cell(night) for night in nights]
        started = [(utc(build.started_at), build.id, build) for build in history]
        for moment, _id, build in sorted(started, key=lambda item: item[:2]):  # oldest first: the newest wins
            position = column.get(moment.date())
            if position is None:
                continue
            cell = cells[position]
            if cell.build is not None:
                cell.others.append(cell.build)
            cell.build = build
        for cell in cells:
            if cell.build is not None:
                index.add(target, cell.build, [*cell.others, cell.build])
                for other in cell.others:
                    index.add(target, other, [*cell.others, cell.build])
        if latest is not None:
            index.add(target, latest)
        problem = latest is not None and latest.verdict in PROBLEMS
        timeline.append(_Row(spec.name, verdict_key(latest), problem, Markup("".join(c.html() for c in cells))))
    environment = _environment()
    cell_size = _cell_size(len(ordered))
    css = environment.get_template("report.css.j2").render(cell=cell_size)
    script = environment.get_template("report.js.j2").render()
    counts = verdict_counts(ordered)
    return environment.get_template("report.html.j2").render(
        generated_at=utc(generated_at).strftime("%Y-%m-%d %H:%M UTC"),
        counts=list(counts.items()),
        target_count=len(ordered),
        legend=[v.value for v in Verdict],
        columns=_columns(nights, cell_size),
        timeline=timeline,
        latest=[_latest_entry(spec.name, latest, history) for spec, latest, history in ordered],
        data=index.blob(),
        css=Markup(css),
        script=Markup(script),
        csp=f"default-src 'none'; style-src '{_digest(css)}'; script-src '{_digest(script)}'; "
        "img-src data:; base-uri 'none'; form-action 'none'",
    )
