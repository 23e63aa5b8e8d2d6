"""The nightly check end to end: real git repositories, the real Docker Engine, a real SQLite file, the real CLI."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import docker
import pytest
import upstream
from conftest import Drift, GitRepo, MakeRepo, UpstreamServer

from drift.report.schema import validate_report

pytestmark = pytest.mark.usefixtures("docker_engine")


def _left_behind(objects: list[str]) -> list[str]:
    """Which of a build's containers and step images ("container:<id>", "image:<id>") the engine still has.

    Only the build's own objects are looked at: other builds may share the engine.
    """
    api = docker.APIClient(version="auto")
    left = []
    for item in objects:
        kind, _, object_id = item.partition(":")
        try:
            api.inspect_container(object_id) if kind == "container" else api.inspect_image(object_id)
        except docker.errors.NotFound:
            continue
        left.append(item)
    return left


def track_download(drift: Drift, repo: GitRepo, server: UpstreamServer, name: str = "download", *options: str) -> None:
    url = f"UPSTREAM_URL={server.url}/tool/latest.txt"
    drift.track(name, repo, "--network", "host", "--build-arg", url, *options)


def test_reproducible_sample_gets_fresh_layer_digests_but_is_reproducible(drift: Drift, make_repo: MakeRepo) -> None:
    repo = make_repo("reproducible")
    drift.track("repro", repo)
    first = drift("run", "repro")
    assert first.code == 0, first.stderr
    assert "repro: baseline" in first.stdout
    second = drift("run", "repro")
    assert second.code == 0, second.stderr
    assert "repro: reproducible" in second.stdout

    builds = drift("history", "repro", "--format", "json").json()["builds"]
    assert [b["verdict"] for b in builds] == ["reproducible", "baseline"]
    layers = [drift("show", str(b["build"]), "--format", "json").json()["layers"] for b in builds]
    # The legacy builder stamps fresh mtimes: the RUN and COPY layers' diff_ids differ...
    assert layers[0][0]["diff_id"] == layers[1][0]["diff_id"]  # the base image layer is shared
    assert [layer["diff_id"] for layer in layers[0][1:]] != [layer["diff_id"] for layer in layers[1][1:]]
    # ...while their normalized content is the same.
    assert [layer["normalized_digest"] for layer in layers[0]] == [layer["normalized_digest"] for layer in layers[1]]
    builder = drift("show", str(builds[0]["build"]), "--format", "json").json()["builder"]
    assert builder["engine_version"] and builder["api_version"] and builder["storage_driver"]
    assert builder["os"] == "linux"
    # drift labels the images it builds with the target and the build.
    image = docker.APIClient(version="auto").inspect_image(builds[0]["image_id"])
    assert image["Config"]["Labels"]["drift.target"] == "repro"
    assert image["Config"]["Labels"]["drift.build"] == str(builds[0]["build"])
    # .dockerignore was honoured: notes/ never reached the image.
    assert not any(
        f["subject"].startswith("/app/notes")
        for b in builds
        for f in drift("show", str(b["build"]), "--format", "json").json()["findings"]
    )


def test_latest_download_drifts_stays_drifted_and_accept_resets(
    drift: Drift, make_repo: MakeRepo, upstream_server: UpstreamServer
) -> None:
    upstream.publish_file(upstream_server.root, "tool/latest.txt", b"tool 1.0\n")
    repo = make_repo("latest-download")
    track_download(drift, repo, upstream_server)

    assert drift("run").code == 0
    upstream.publish_file(upstream_server.root, "tool/latest.txt", b"tool 1.1\n")

    second = drift("run", "download")
    assert second.code == 1, second.stdout + second.stderr
    assert "download: drifted" in second.stdout
    assert "/opt/tool/latest.txt" in second.stdout
    report = drift("report", "--format", "json").json()
    assert report["schema"] == 1
    validate_report(report)  # the shipped JSON Schema, on a real report
    build = drift.latest("download")
    assert build["verdict"] == "drifted"
    [download] = [f for f in build["findings"] if f["subject"] == "/opt/tool/latest.txt"]
    assert download["kind"] == "file"
    assert download["change"] == "modified"
    assert download["layer"] == 1  # layer 0 is busybox, layer 1 the RUN that downloads
    assert download["instruction"].startswith("RUN ") and "wget" in download["instruction"]
    assert download["cause"] == "network-fetch"
    assert download["new"] is True

    # Upstream unchanged since: still drifted against the baseline, but nothing new.
    third = drift("run", "download")
    assert third.code == 1
    build = drift.latest("download")
    assert build["verdict"] == "drifted"
    [download] = [f for f in build["findings"] if f["subject"] == "/opt/tool/latest.txt"]
    assert download["new"] is False

    accepted = drift("accept", "download")
    assert accepted.code == 0, accepted.stderr
    assert f"build {build['build']} is now the baseline" in accepted.stdout
    fourth = drift("run", "download")
    assert fourth.code == 0, fourth.stdout
    assert "download: reproducible" in fourth.stdout


def test_failing_build_is_broken_after_a_success_and_failed_without_one(
    drift: Drift, make_repo: MakeRepo, upstream_server: UpstreamServer
) -> None:
    upstream.publish_file(upstream_server.root, "tool/latest.txt", b"tool 1.0\n")
    repo = make_repo("latest-download")
    # The legacy builder makes containers and step images for each step: a failure must leave none behind.
    track_download(drift, repo, upstream_server, "download", "--builder", "legacy")
    assert drift("run").code == 0

    (upstream_server.root / "tool" / "latest.txt").unlink()  # the URL now answers 404
    broken = drift("run", "download")
    assert broken.code == 1
    assert "download: broken" in broken.stdout
    build = drift.latest("download")
    assert build["verdict"] == "broken"
    assert "wget" in build["failed_step"]
    assert "404" in build["log_tail"] or "Not Found" in build["log_tail"]
    assert build["error"]
    # The failed build left no intermediate container and no step image behind.
    [(objects,)] = drift.rows(f"select engine_objects from builds where id = {build['build']}")
    objects = json.loads(objects) if isinstance(objects, str) else objects
    assert any(item.startswith("container:") for item in objects)  # the build did record what it made
    assert _left_behind(objects) == []

    # A new target that never built: failed, not broken.
    track_download(drift, repo, upstream_server, name="download-new")
    failed = drift("run", "download-new")
    assert failed.code == 1
    assert drift.latest("download-new")["verdict"] == "failed"
    # No image of a failed build is left behind.
    assert drift.rows("select count(*) from builds where status = 'running'") == [(0,)]


def test_moving_the_pin_starts_a_new_baseline(
    drift: Drift, make_repo: MakeRepo, upstream_server: UpstreamServer
) -> None:
    upstream.publish_file(upstream_server.root, "tool/latest.txt", b"tool 1.0\n")
    repo = make_repo("latest-download")
    track_download(drift, repo, upstream_server)
    assert drift("run").code == 0
    first_commit = repo.git("rev-parse", "HEAD")

    (repo.path / "run-tool.sh").write_text("#!/bin/sh\necho tool changed on purpose\n")
    new_commit = repo.commit_all("change the tool script")
    moved = drift(
        "track",
        "download",
        "--repo",
        str(repo.path),
        "--commit",
        new_commit,
        "--pull",
        "never",
        "--network",
        "host",
        "--build-arg",
        f"UPSTREAM_URL={upstream_server.url}/tool/latest.txt",
    )
    assert moved.code == 0
    assert "new baseline" in moved.stdout

    run = drift("run", "download")
    assert run.code == 0, run.stdout
    assert "download: baseline" in run.stdout
    builds = drift("history", "download", "--format", "json").json()["builds"]
    assert [(b["verdict"], b["commit"]) for b in builds] == [("baseline", new_commit), ("baseline", first_commit)]


def test_unpinned_apt_package_upgrade_drifts_with_apt_cause(drift: Drift, make_repo: MakeRepo, tmp_path: Path) -> None:
    apt_repo = tmp_path / "apt"
    upstream.publish_deb(apt_repo, "hello-drift", "1.0")
    with upstream.serve(apt_repo, 0) as server:
        repo = make_repo("debian-apt")
        drift.track("apt", repo, "--network", "host", "--build-arg", f"APT_SOURCE=deb [trusted=yes] {server.url}/ ./")
        assert drift("run", "apt").code == 0
        same = drift("run", "apt")
        # apt's indexes, caches and logs differ between two identical builds: noise, not drift.
        assert same.code == 0, same.stdout
        assert "apt: noisy" in same.stdout or "apt: reproducible" in same.stdout

        upstream.publish_deb(apt_repo, "hello-drift", "1.1")
        drifted = drift("run", "apt")
    assert drifted.code == 1, drifted.stdout
    build = drift.latest("apt")
    assert build["verdict"] == "drifted"
    subjects = {f["subject"]: f for f in build["findings"]}
    assert "/var/lib/dpkg/status" in subjects
    assert subjects["/var/lib/dpkg/status"]["cause"] == "apt"
    assert subjects["/var/lib/dpkg/status"]["layer"] == 1
    assert "apt-get install" in subjects["/var/lib/dpkg/status"]["instruction"]


def test_two_unchanged_nightly_runs_add_at_most_50_kb(drift: Drift, make_repo: MakeRepo) -> None:
    repo = make_repo("reproducible")
    drift.track("repro", repo)
    assert drift("run").code == 0

    def size() -> int:
        with sqlite3.connect(drift.db_path) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return drift.db_path.stat().st_size

    before = size()
    assert drift("run").code == 0
    assert drift("run").code == 0
    grown = size() - before
    print(f"two unchanged nightly runs grew the SQLite file by {grown} bytes")
    assert grown <= 50_000
