"""A database the previous release wrote, upgraded by this one, keeps its verdicts.

tests/fixtures/databases/previous-release.db was written by drift 0.1.0's own
code (make_previous_release_db.py beside it; README.md says which commit). Its
manifests lack what this release records (extended attributes, device numbers,
hard links in canonical form): an image built again exactly as before must
still be reproducible against those baselines, and every stored verdict must
read back as that release reported it.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from support.fake_engine import FakeEngine, fixture_image

from drift.check import BuildContext, SilentProgress, check_target
from drift.source.git import RepositoryCache
from drift.storage import history
from drift.storage.database import Database
from drift.storage.images import load_image
from drift.tracking import track
from drift.values import Verdict

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "databases"


def _maker() -> ModuleType:
    """The fixture's own script: the same source repository and image stream it recorded."""
    spec = importlib.util.spec_from_file_location("make_previous_release_db", FIXTURES / "make_previous_release_db.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


maker = _maker()
BEFORE: dict[str, Any] = json.loads((FIXTURES / "previous-release.verdicts.json").read_text())
REPORT_BEFORE: dict[str, Any] = json.loads((FIXTURES / "previous-release.report.json").read_text())


@pytest.fixture
def upgraded(tmp_path: Path) -> Database:
    copy = tmp_path / "drift.db"
    shutil.copyfile(FIXTURES / "previous-release.db", copy)
    db = Database(f"sqlite:///{copy}")  # runs this release's migrations
    assert db.current_revision() == db.head_revision()
    return db


def _verdicts(db: Database, name: str) -> list[dict[str, Any]]:
    with db.session() as session:
        builds = reversed(history.target_history(session, name))
        return [
            {
                "build": b.id,
                "verdict": b.verdict.value if b.verdict else None,
                "compared_to": b.compared_to,
                "findings": [[f.kind, f.layer, f.subject, f.change, f.cause, f.ignored, f.new] for f in b.findings],
            }
            for b in builds
        ]


def _report(db: Database) -> dict[str, Any]:
    drift = subprocess.run(
        [sys.executable, "-m", "drift", "--db", str(db.engine.url), "report", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(drift.stdout))


def _latest(report: dict[str, Any]) -> dict[str, Any]:
    keys = ("build", "verdict", "compared_to", "is_baseline", "findings")
    return {t["name"]: {key: t["latest"][key] for key in keys} for t in report["targets"]}


def test_the_stored_verdicts_read_back_as_the_previous_release_reported_them(upgraded: Database) -> None:
    assert BEFORE["release"] == "0.1.0" and REPORT_BEFORE["schema"] == 1
    for name, builds in BEFORE["targets"].items():
        assert _verdicts(upgraded, name) == builds
    assert _latest(_report(upgraded)) == _latest(REPORT_BEFORE)


def test_the_report_of_the_upgraded_database_is_the_previous_releases(upgraded: Database) -> None:
    """Every field the previous release reported, for every target, including each night of its history
    (now read from the recent builds the migration filled), is reported the same."""
    report = _report(upgraded)
    assert [t["name"] for t in report["targets"]] == [t["name"] for t in REPORT_BEFORE["targets"]]
    for before, now in zip(REPORT_BEFORE["targets"], report["targets"], strict=True):
        assert before["history"]
        for key, value in before.items():
            shown = {field: now["latest"][field] for field in value} if key == "latest" else now[key]
            assert shown == value, (now["name"], key)


def test_the_same_images_built_again_are_reproducible_against_the_old_baselines(
    upgraded: Database, tmp_path: Path
) -> None:
    cache = RepositoryCache(tmp_path / "cache")
    images = {"legacy-fixture": fixture_image("legacy.tar.gz"), "capabilities": maker.capabilities_image()}
    for name, image in images.items():
        repo = tmp_path / f"repo-{name}"
        assert maker.make_repo(repo) == BEFORE["commit"]
        # The repository moved to this machine; the pin and the builder stay what they were.
        spec, created, moved = track(
            upgraded, cache, name=name, repo=str(repo), commit=BEFORE["commit"], builder="legacy"
        )
        assert (created, moved) == (False, False)

        outcome = check_target(upgraded, cache, FakeEngine([image]), spec, SilentProgress(), context=BuildContext())

        assert (name, outcome.verdict, outcome.findings) == (name, Verdict.REPRODUCIBLE, ())
        baseline = BEFORE["targets"][name][0]["build"]
        with upgraded.session() as session:
            assert history.get_build(session, outcome.build_id).compared_to == baseline
        # The builds before the upgrade keep their verdicts.
        assert _verdicts(upgraded, name)[:-1] == BEFORE["targets"][name]


def test_once_a_layer_is_read_again_a_capability_added_to_it_is_drift(upgraded: Database, tmp_path: Path) -> None:
    cache = RepositoryCache(tmp_path / "cache")
    repo = tmp_path / "repo"
    maker.make_repo(repo)
    spec, _, _ = track(upgraded, cache, name="capabilities", repo=str(repo), commit=BEFORE["commit"], builder="legacy")
    engine = FakeEngine([maker.capabilities_image(), maker.capabilities_image(app_caps=maker.CAP_NET_RAW)])
    baseline = BEFORE["targets"]["capabilities"][0]["build"]
    with upgraded.session() as session:
        app_layer = load_image(session, baseline).layers[1]
    assert [e.xattrs for e in app_layer.entries] == [None] * len(app_layer.entries)  # 0.1.0 did not record them

    again = check_target(upgraded, cache, engine, spec, SilentProgress(), context=BuildContext())
    with upgraded.session() as session:
        app_layer = load_image(session, baseline).layers[1]
    capable = check_target(upgraded, cache, engine, spec, SilentProgress(), context=BuildContext())

    assert again.verdict is Verdict.REPRODUCIBLE
    # The same layer read by this release had the stored digest: the baseline's manifest has none of either.
    assert [e.xattrs for e in app_layer.entries] == [""] * len(app_layer.entries)
    assert capable.verdict is Verdict.DRIFTED
    assert [(f.layer, f.subject, f.change) for f in capable.findings] == [(1, "/app/main.txt", "xattrs")]


def test_a_file_changed_after_the_upgrade_is_drift_against_the_old_baseline(upgraded: Database, tmp_path: Path) -> None:
    cache = RepositoryCache(tmp_path / "cache")
    repo = tmp_path / "repo"
    maker.make_repo(repo)
    spec, _, _ = track(upgraded, cache, name="capabilities", repo=str(repo), commit=BEFORE["commit"], builder="legacy")
    engine = FakeEngine([maker.capabilities_image(b"tool 3")])

    outcome = check_target(upgraded, cache, engine, spec, SilentProgress(), context=BuildContext())

    assert outcome.verdict is Verdict.DRIFTED
    assert [(f.subject, f.change) for f in outcome.findings if not f.ignored] == [("/usr/bin/tool", "modified")]
