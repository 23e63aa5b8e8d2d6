"""Bad input and a broken environment: one clear line, exit code 2, nothing half-written."""

from __future__ import annotations

import pytest


def assert_one_line_error(result, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert result.code == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_unknown_target(drift) -> None:
    assert_one_line_error(drift("run", "nope"), "unknown target 'nope'")
    assert_one_line_error(drift("history", "nope"), "unknown target 'nope'")
    assert_one_line_error(drift("accept", "nope"), "unknown target 'nope'")


def test_bad_name_and_malformed_build_arg_write_nothing(drift, make_repo) -> None:
    repo = make_repo("reproducible")
    assert_one_line_error(drift("track", "Bad Name", "--repo", str(repo.path), "--commit", "main"), "target name")
    assert_one_line_error(
        drift("track", "ok", "--repo", str(repo.path), "--commit", "main", "--build-arg", "NOEQUALS"),
        "build arg 'NOEQUALS' is not KEY=VALUE",
    )
    assert drift.rows("select count(*) from targets") == [(0,)]


def test_unreachable_repo_missing_dockerfile_and_unknown_ref(drift, make_repo, tmp_path) -> None:
    repo = make_repo("reproducible")
    assert_one_line_error(
        drift("track", "x", "--repo", str(tmp_path / "nowhere"), "--commit", "main"), "does not exist"
    )
    assert_one_line_error(
        drift("track", "x", "--repo", str(repo.path), "--commit", "main", "--dockerfile", "missing/Dockerfile"),
        "no Dockerfile at 'missing/Dockerfile'",
    )
    assert_one_line_error(drift("track", "x", "--repo", str(repo.path), "--commit", "v9"), "v9 is not a branch")
    assert drift.rows("select count(*) from targets") == [(0,)]


@pytest.mark.usefixtures("docker_engine")
def test_pinned_commit_gone_upstream_is_an_error_not_drift(drift, make_repo) -> None:
    repo = make_repo("reproducible")
    (repo.path / "extra.txt").write_text("soon gone\n")
    doomed = repo.commit_all("a commit that will be force-pushed away")
    assert drift("track", "repro", "--repo", str(repo.path), "--commit", doomed, "--pull", "never").code == 0
    repo.git("reset", "-q", "--hard", "HEAD~1")
    repo.git("reflog", "expire", "--expire=now", "--all")
    repo.git("gc", "-q", "--prune=now")

    result = drift("run", "repro")
    assert_one_line_error(result, f"commit {doomed[:7]}", "no longer in")
    assert drift.rows("select status, verdict, finished_at is not null from builds") == [("error", "error", 1)]


def test_engine_that_does_not_answer(drift, make_repo) -> None:
    repo = make_repo("reproducible")
    assert drift("track", "repro", "--repo", str(repo.path), "--commit", "main").code == 0
    result = drift("--docker-host", "unix:///nonexistent.sock", "run")
    assert_one_line_error(result, "cannot reach the Docker Engine at unix:///nonexistent.sock")
    result = drift("run", env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert_one_line_error(result, "cannot reach the Docker Engine at unix:///nonexistent.sock")
    # Recorded as an error with its reason, complete, never as drift.
    assert drift.rows("select status, verdict from builds") == [("error", "error"), ("error", "error")]


def test_bad_database_url(drift) -> None:
    assert_one_line_error(drift("--db", "not a url", "targets"), "is not a database URL")


@pytest.mark.usefixtures("docker_engine")
def test_pull_never_with_a_missing_base_image_is_an_error(drift, make_repo) -> None:
    repo = make_repo("reproducible")
    (repo.path / "Dockerfile").write_text("FROM drift-test/not-in-the-engine:1\nRUN true\n")
    repo.commit_all("a base image nobody has")
    drift.track("orphan", repo)
    result = drift("run", "orphan")
    assert_one_line_error(result, "base image drift-test/not-in-the-engine:1 is not in the engine")
    assert drift.rows("select status, verdict from builds") == [("error", "error")]
