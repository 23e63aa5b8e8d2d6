"""Published images without Docker: a target judged against what a (fake) registry serves, a re-pushed tag, and
the small parts (references, labels, the publisher's builder)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest
from support.fake_engine import FakeEngine
from test_check import check, git_repo, image

from drift.build.engine import pull_arguments
from drift.config_sync import sync_config
from drift.errors import PublishedImageError, UsageError
from drift.image import read_saved_image
from drift.published import built_with, labelled_source, rebuild_labels
from drift.report.explanation import explanation
from drift.source.git import RepositoryCache
from drift.storage import history, targets
from drift.storage.database import Database
from drift.targets import check_reference
from drift.tracking import accept, track
from drift.values import Verdict

REFERENCE = "registry.example.com:5000/team/app:1"


def test_a_published_target_is_judged_against_the_pulled_image_and_a_re_push_is_a_finding(
    db: Database, cache: RepositoryCache, tmp_path: Path
) -> None:
    engine = FakeEngine([image(), image(), image()])
    engine.registry[REFERENCE] = (image(), {})
    repo = git_repo(tmp_path / "repo")
    spec, created, _moved = track(db, cache, engine, name="app", repo=str(repo), commit="main", published=REFERENCE)
    assert created and spec.published == REFERENCE
    with db.session() as session:
        [baseline] = history.target_history(session, "app")
    assert baseline.verdict is Verdict.BASELINE and baseline.is_baseline
    assert baseline.published is not None and baseline.published.startswith(REFERENCE + "@sha256:")
    assert "published image" in explanation(baseline)

    first, second = check(db, cache, engine, spec), check(db, cache, engine, spec)
    assert (first.verdict, second.verdict) == (Verdict.REPRODUCIBLE, Verdict.REPRODUCIBLE)
    with db.session() as session:
        judged = history.get_build(session, second.build_id)
    assert judged.compared_to == baseline.id and judged.compared_to_published == baseline.published
    # The one thing a rebuild cannot match, its creation time, is shown as noise with its reason.
    [noise] = [f for f in judged.findings if f.kind == "published"]
    assert (noise.subject, noise.ignored, noise.cause) == ("created", True, "timestamp")
    assert (noise.before, noise.after) == ("2026-11-01T12:00:00Z", "2026-11-30T03:00:00Z")
    assert "a rebuild never has the publisher's" in noise.ignored_by
    assert explanation(judged) == f"same output as the published image {baseline.published}"

    # Someone re-pushes the tag with another image: tonight names the re-push, and judges against the new one.
    engine.registry[REFERENCE] = (image(app=b"v2"), {})
    third = check(db, cache, engine, spec)
    assert third.verdict is Verdict.DRIFTED
    [retag] = [f for f in third.findings if f.kind == "published" and f.change == "retagged"]
    assert (retag.change, retag.subject) == ("retagged", REFERENCE)
    assert retag.before == baseline.published.partition("@")[2] and retag.after != retag.before
    with db.session() as session:
        judged = history.get_build(session, third.build_id)
    assert judged.compared_to_published == f"{REFERENCE}@{retag.after}"
    # Against the new image, the rebuild's app file is what differs (v2 published, v1 built).
    assert any(f.kind == "file" and f.subject == "/app/main.txt" for f in third.findings)


def test_accept_is_refused_for_a_published_target(db: Database, cache: RepositoryCache, tmp_path: Path) -> None:
    engine = FakeEngine([image()])
    engine.registry[REFERENCE] = (image(), {})
    spec, _c, _m = track(
        db, cache, engine, name="app", repo=str(git_repo(tmp_path / "repo")), commit="main", published=REFERENCE
    )
    check(db, cache, engine, spec)
    with pytest.raises(UsageError, match=r"published image .* is the truth to match"):
        accept(db, "app")


def test_a_tag_the_registry_does_not_have_saves_nothing(db: Database, cache: RepositoryCache, tmp_path: Path) -> None:
    engine = FakeEngine([])
    with pytest.raises(PublishedImageError, match="manifest unknown"):
        track(db, cache, engine, name="app", repo=str(git_repo(tmp_path / "repo")), commit="main", published=REFERENCE)
    with db.session() as session:
        assert history.count_builds(session) == 0
        assert targets.list_targets(session) == []


def test_a_published_image_that_vanished_by_night_is_an_error_not_drift(
    db: Database, cache: RepositoryCache, tmp_path: Path
) -> None:
    engine = FakeEngine([image()])
    engine.registry[REFERENCE] = (image(), {})
    spec, _c, _m = track(
        db, cache, engine, name="app", repo=str(git_repo(tmp_path / "repo")), commit="main", published=REFERENCE
    )
    del engine.registry[REFERENCE]
    outcome = check(db, cache, engine, spec)
    assert outcome.verdict is Verdict.ERROR and "manifest unknown" in (outcome.error or "")
    assert engine.builds == []  # nothing was built to be judged against nothing


@pytest.mark.parametrize(
    "reference",
    [
        "app",
        "app:1",
        "127.0.0.1:5000/app:1",
        "localhost:5000/team/app",
        "ghcr.io/org/app@sha256:" + "a" * 64,
        "ghcr.io/org/app:1.2@sha256:" + "b" * 64,
    ],
)
def test_references_docker_pull_takes_are_accepted(reference: str) -> None:
    assert check_reference(reference) == reference


@pytest.mark.parametrize(
    "reference", ["", "Bad Ref", "app:", "App/x:1", "app@sha256:short", "app:1\nx", "-app", "app:" + "t" * 200]
)
def test_malformed_references_are_refused_with_the_shape_expected(reference: str) -> None:
    with pytest.raises(UsageError, match="is not an image reference; use REGISTRY/NAME:TAG"):
        check_reference(reference)


def test_pull_arguments_name_a_tag_or_the_digest() -> None:
    assert pull_arguments("127.0.0.1:5000/app") == ("127.0.0.1:5000/app", "latest")
    assert pull_arguments("127.0.0.1:5000/app:1") == ("127.0.0.1:5000/app", "1")
    digest = "sha256:" + "c" * 64
    assert pull_arguments(f"127.0.0.1:5000/app:1@{digest}") == ("127.0.0.1:5000/app", digest)


def test_the_source_and_build_hints_come_from_the_labels() -> None:
    labels = {
        "org.opencontainers.image.source": "https://git.example.com/app.git",
        "org.opencontainers.image.revision": "abc123",
        "org.opencontainers.image.created": "2026-11-30T00:00:00Z",
        "drift.source.dockerfile": "docker/Dockerfile",
        "drift.source.build-args": '{"VERSION": "1.2"}',
        "maintainer": "someone",
    }
    source = labelled_source(labels)
    assert (source.repo, source.commit, source.dockerfile) == (
        "https://git.example.com/app.git",
        "abc123",
        "docker/Dockerfile",
    )
    assert source.build_args == {"VERSION": "1.2"} and source.context is None
    assert rebuild_labels(labels) == {k: v for k, v in labels.items() if k.startswith("org.opencontainers.image.")}
    with pytest.raises(UsageError, match="not a JSON object of strings"):
        labelled_source({"drift.source.build-args": "[1]"})


def test_the_publishers_builder_is_read_from_the_history() -> None:
    legacy = read_saved_image(iter([image()]))
    assert built_with(legacy) == "legacy"
    buildkit = replace(
        legacy,
        history=(
            {"created_by": "/bin/sh -c #(nop) ADD file:x in /"},
            {"created_by": "RUN /bin/sh -c make # buildkit", "comment": "buildkit.dockerfile.v0"},
        ),
    )
    assert built_with(buildkit) == "buildkit"
    assert built_with(replace(legacy, history=({"created_by": "", "comment": "Imported from -"},))) is None


def test_a_drift_toml_target_with_a_published_image_is_judged_against_it_from_its_first_night(
    db: Database, cache: RepositoryCache, tmp_path: Path
) -> None:
    repo = git_repo(tmp_path / "repo")
    config = tmp_path / "drift.toml"
    config.write_text(f'[[target]]\nname = "app"\nrepo = "{repo}"\ncommit = "main"\npublished = "{REFERENCE}"\n')
    sync_config(db, cache, config)
    with db.session() as session:
        [spec] = targets.list_targets(session)
    assert spec.published == REFERENCE
    engine = FakeEngine([image()])
    engine.registry[REFERENCE] = (image(), {})
    first = check(db, cache, engine, spec)
    assert first.verdict is Verdict.REPRODUCIBLE  # judged at once: the published image is the baseline
    with db.session() as session:
        builds = history.target_history(session, "app")
    assert [b.verdict for b in builds] == [Verdict.REPRODUCIBLE, Verdict.BASELINE]
    assert builds[1].published == f"{REFERENCE}@sha256:" + hashlib.sha256(image()).hexdigest()

    config.write_text(f'[[target]]\nname = "app"\nrepo = "{repo}"\ncommit = "main"\npublished = "Not A Ref"\n')
    with pytest.raises(UsageError, match=r"drift\.toml:5: .*'Not A Ref' is not an image reference"):
        sync_config(db, cache, config)
