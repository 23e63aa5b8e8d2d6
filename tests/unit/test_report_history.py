"""What `drift report` shows of each target's history, read from the database as drift stored it.

The report reads every target's recent builds in one query (drift.storage.recent keeps them as builds
finish and go); these tests hold what a user sees to the builds themselves: the latest 60 finished ones,
newest first, after a collection, after an interrupted build, and after the migration that fills them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from alembic import command

from drift.storage import builds, leases, targets
from drift.storage.database import Database, _alembic_config
from drift.values import Finding, TargetSpec, Verdict

COMMIT = "a" * 40
MOVED = "b" * 40
APT = "RUN apt-get update && apt-get install -y curl"
CURL = Finding("package", 2, APT, "curl", "modified", "7.88.1-10", "7.88.1-11", cause="apt", ecosystem="deb")
LOG = Finding("file", 2, APT, "/var/log/dpkg.log", "modified", cause="apt", ignored=True, ignored_by="default /var/log")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'drift.db'}"
    return str(request.getfixturevalue("postgres_url"))


def _drift(url: str, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "drift", "--db", url, *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _report(url: str, *args: str) -> dict[str, Any]:
    document = dict(json.loads(_drift(url, "report", "--format", "json", *args)))
    document.pop("generated_at")
    return document


def _history(report: dict[str, Any], name: str) -> list[tuple[int, str]]:
    (target,) = [t for t in report["targets"] if t["name"] == name]
    return [(night["build"], night["verdict"]) for night in target["history"]]


def _record(db: Database, name: str, verdicts: Sequence[Verdict], commit: str = COMMIT) -> list[int]:
    """Builds of a target that finished with these verdicts, one a night, oldest first."""
    ids = []
    with db.session() as session:
        for verdict in verdicts:
            build = builds.start_build(session, name, f"fp-{commit[:4]}", commit)
            failed = verdict in (Verdict.BROKEN, Verdict.FAILED, Verdict.ERROR)
            builds.finish_build(
                session,
                build,
                status="failed" if failed else "succeeded",
                verdict=verdict,
                findings={Verdict.DRIFTED: (CURL, LOG), Verdict.NOISY: (LOG,)}.get(verdict, ()),
                error="E: Unable to locate package libfoo1" if failed else None,
            )
            ids.append(build)
    return ids


def _fleet(db: Database) -> dict[str, list[int]]:
    """Three targets: one of 70 nights that drifted and was accepted, one that broke, one never built."""
    with db.session() as session:
        for name in ("long", "short", "new"):
            targets.save_target(session, TargetSpec(name=name, repo=f"/src/{name}", commit=COMMIT))
    long_nights = [Verdict.BASELINE] + [Verdict.REPRODUCIBLE] * 40 + [Verdict.NOISY] * 9 + [Verdict.DRIFTED] * 20
    recorded = {"long": _record(db, "long", long_nights), "short": []}
    recorded["short"] = _record(db, "short", [Verdict.BASELINE, Verdict.REPRODUCIBLE, Verdict.BROKEN])
    recorded["long"] += _record(db, "long", [Verdict.BASELINE, Verdict.REPRODUCIBLE], commit=MOVED)
    return recorded


def test_the_report_lists_each_targets_latest_60_finished_builds_newest_first(database_url: str) -> None:
    db = Database(database_url)
    recorded = _fleet(db)
    with db.session() as session:  # a build running now is no night of the history yet
        running = builds.start_build(session, "short", "fp-aaaa", COMMIT)

    report = _report(database_url)

    long_ids = list(reversed(recorded["long"]))
    assert [t["name"] for t in report["targets"]] == ["long", "new", "short"]
    assert [build for build, _verdict in _history(report, "long")] == long_ids[:60]
    assert _history(report, "long")[:3] == [
        (long_ids[0], "reproducible"),
        (long_ids[1], "baseline"),
        (long_ids[2], "drifted"),
    ]
    assert _history(report, "short") == [
        (b, v) for b, v in zip(reversed(recorded["short"]), ["broken", "reproducible", "baseline"], strict=True)
    ]
    assert _history(report, "new") == []
    (short,) = [t for t in report["targets"] if t["name"] == "short"]
    assert short["latest"]["build"] == recorded["short"][-1] and short["latest"]["error"]
    assert running not in [b for b, _v in _history(report, "short")]

    with db.session() as session:
        leases.mark_interrupted(session, running, "interrupted: the drift process building it stopped")
    assert _history(_report(database_url), "short")[0] == (running, "error")


def test_after_gc_the_report_lists_the_builds_that_are_left(database_url: str) -> None:
    db = Database(database_url)
    recorded = _fleet(db)

    _drift(database_url, "gc", "--keep-days", "0")

    report = _report(database_url)
    kept = {(b, v) for b, v in _history(report, "long")}
    # The baselines, each first build of a new verdict, the build judged against, and the latest.
    assert len(kept) < 10
    long_ids = recorded["long"]
    assert (long_ids[0], "baseline") in kept and (long_ids[41], "noisy") in kept and (long_ids[50], "drifted") in kept
    assert _history(report, "long")[0] == (long_ids[-1], "reproducible")
    history_json = json.loads(_drift(database_url, "history", "long", "--format", "json"))
    assert [(b["build"], b["verdict"]) for b in history_json["builds"]] == _history(report, "long")


def test_since_and_names_choose_what_the_report_reads(database_url: str) -> None:
    db = Database(database_url)
    recorded = _fleet(db)

    assert [t["name"] for t in _report(database_url, "short", "long")["targets"]] == ["short", "long"]
    assert _history(_report(database_url, "--since", "2999-01-01"), "long") == []
    assert len(_history(_report(database_url, "--since", "2000-01-01"), "long")) == 60
    assert _report(database_url, "--since", "2999-01-01")["targets"][0]["latest"] is None
    assert recorded["long"]


def test_the_html_report_shows_each_nights_build_in_full(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'drift.db'}"
    recorded = _fleet(Database(url))

    page = _drift(url, "report", "--format", "html")

    blob = re.search(r'<script type="application/json" id="drift-data">(.*?)</script>', page, re.DOTALL)
    assert blob is not None
    data = json.loads(blob.group(1))
    first_drifted = data["builds"][str(recorded["long"][50])]
    assert first_drifted["v"] == "drifted"
    assert [data["findings"][i][3] for i in first_drifted["f"]] == ["curl"]
    assert first_drifted["noise"] == [["default /var/log", 1]]
    assert data["builds"][str(recorded["short"][-1])]["err"] == "E: Unable to locate package libfoo1"


def test_a_migrated_database_reports_what_drift_recorded(database_url: str) -> None:
    """Revision 0013 fills each target's recent builds from the builds stored before it: the same report."""
    db = Database(database_url)
    _fleet(db)
    _record(db, "long", [Verdict.REPRODUCIBLE] * 3, commit=MOVED)  # 75 builds: the report shows 60
    with db.session() as session:
        builds.start_build(session, "short", "fp-aaaa", COMMIT)  # running
    before = _report(database_url)
    table_before = _drift(database_url, "report")

    command.downgrade(_alembic_config(db.engine), "0012")
    db.dispose()
    Database(database_url)  # the next drift migrates it again

    assert _report(database_url) == before
    assert _drift(database_url, "report") == table_before
