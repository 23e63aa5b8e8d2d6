"""Bad input and a broken environment: one clear line, exit code 2, nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Drift, MakeRepo, Result


def assert_one_line_error(result: Result, *words: str) -> None:
    assert result.code == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_unknown_target(drift: Drift) -> None:
    assert_one_line_error(drift("run", "nope"), "unknown target 'nope'")
    assert_one_line_error(drift("history", "nope"), "unknown target 'nope'")
    assert_one_line_error(drift("accept", "nope"), "unknown target 'nope'")


def test_bad_name_and_malformed_build_arg_write_nothing(drift: Drift, make_repo: MakeRepo) -> None:
    repo = make_repo("reproducible")
    assert_one_line_error(drift("track", "Bad Name", "--repo", str(repo.path), "--commit", "main"), "target name")
    assert_one_line_error(
        drift("track", "ok", "--repo", str(repo.path), "--commit", "main", "--build-arg", "NOEQUALS"),
        "build arg 'NOEQUALS' is not KEY=VALUE",
    )
    assert drift.rows("select count(*) from targets") == [(0,)]


def test_unreachable_repo_missing_dockerfile_and_unknown_ref(drift: Drift, make_repo: MakeRepo, tmp_path: Path) -> None:
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
def test_pinned_commit_gone_upstream_is_an_error_not_drift(drift: Drift, make_repo: MakeRepo) -> None:
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


def test_engine_that_does_not_answer(drift: Drift, make_repo: MakeRepo) -> None:
    repo = make_repo("reproducible")
    assert drift("track", "repro", "--repo", str(repo.path), "--commit", "main").code == 0
    result = drift("--docker-host", "unix:///nonexistent.sock", "run")
    assert_one_line_error(result, "cannot reach the Docker Engine at unix:///nonexistent.sock")
    result = drift("run", env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert_one_line_error(result, "cannot reach the Docker Engine at unix:///nonexistent.sock")
    # Recorded as an error with its reason, complete, never as drift.
    assert drift.rows("select status, verdict from builds") == [("error", "error"), ("error", "error")]


def test_bad_database_url(drift: Drift) -> None:
    assert_one_line_error(drift("--db", "not a url", "targets"), "is not a database URL")


@pytest.mark.usefixtures("docker_engine")
def test_pull_never_with_a_missing_base_image_is_an_error(drift: Drift, make_repo: MakeRepo) -> None:
    repo = make_repo("reproducible")
    (repo.path / "Dockerfile").write_text("FROM drift-test/not-in-the-engine:1\nRUN true\n")
    repo.commit_all("a base image nobody has")
    drift.track("orphan", repo)
    result = drift("run", "orphan")
    assert_one_line_error(result, "base image drift-test/not-in-the-engine:1 is not in the engine")
    assert drift.rows("select status, verdict from builds") == [("error", "error")]


def test_a_database_of_a_newer_drift_is_refused_untouched(drift: Drift, tmp_path: Path) -> None:
    import sqlite3

    assert drift("targets").code == 0
    with sqlite3.connect(drift.db_path) as connection:
        connection.execute("update alembic_version set version_num = '0999'")
    assert_one_line_error(drift("targets"), "written by a newer drift", "schema revision 0999", "upgrade drift")
    assert_one_line_error(drift("db", "upgrade"), "written by a newer drift")
    assert drift.rows("select version_num from alembic_version") == [("0999",)]


def test_a_read_only_database_is_one_line(drift: Drift, make_repo: MakeRepo) -> None:
    assert drift("targets").code == 0
    read_only = f"sqlite:///file:{drift.db_path}?mode=ro&uri=true"
    repo = make_repo("reproducible")
    result = drift("--db", read_only, "track", "ro", "--repo", str(repo.path), "--commit", "main")
    assert_one_line_error(result, "is read-only", "--db")
    assert drift("--db", read_only, "targets").code == 0  # reading works
    assert drift.rows("select count(*) from targets") == [(0,)]


def test_hostile_repository_urls_and_values_are_refused_with_one_line(drift: Drift, make_repo: MakeRepo) -> None:
    repo = make_repo("reproducible")
    assert_one_line_error(
        drift("track", "x", "--repo", "ext::sh -c touch% /tmp/drift-pwned", "--commit", "main"),
        "transport::address",
    )
    assert_one_line_error(
        drift("track", "x", "--repo", str(repo.path), "--commit", "main", "--timeout", "99999999999999999999h"),
        "timeout",
        "maximum",
    )
    assert_one_line_error(drift("track", "x\n", "--repo", str(repo.path), "--commit", "main"), "target name")
    assert_one_line_error(
        drift("track", "x", "--repo", str(repo.path), "--commit", "main", "--schedule", "0 0 30 2 *"),
        "never fires",
    )
    assert_one_line_error(drift("gc", "--keep-days", "99999999"), "--keep-days 99999999")
    assert drift.rows("select count(*) from targets") == [(0,)]


def test_a_schedule_that_never_fires_in_drift_toml(drift: Drift, make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo("reproducible")
    config = tmp_path / "drift.toml"
    config.write_text(f'[[target]]\nname = "feb"\nrepo = "{repo.path}"\ncommit = "main"\nschedule = "0 0 30 2 *"\n')
    assert_one_line_error(drift("run", "--config", str(config)), "drift.toml:5", "never fires")
    assert drift.rows("select count(*) from targets") == [(0,)]


def test_credentials_in_a_repository_url_are_never_printed(drift: Drift) -> None:
    url = "https://ci-bot:TOPSECRET@127.0.0.1:9/team/app.git"
    result = drift("track", "app", "--repo", url, "--commit", "main")
    assert_one_line_error(result, "cannot reach repository https://ci-bot:***@127.0.0.1:9/team/app.git")
    assert "TOPSECRET" not in result.stdout + result.stderr
    token_only = drift("track", "app", "--repo", "https://TOPSECRET@127.0.0.1:9/x.git", "--commit", "main")
    assert token_only.code == 2 and "TOPSECRET" not in token_only.stderr


def test_alert_routes_are_shown_without_their_secrets(drift: Drift) -> None:
    route = "json://hook:TOPSECRET@127.0.0.1:9/path?+X-Api-Key=TOPSECRET2"
    result = drift("alerts", "test", route)
    assert result.code == 2
    assert "TOPSECRET" not in result.stdout + result.stderr
    assert "json://hook:***@127.0.0.1:9/path" in result.stderr


def test_a_stored_schedule_that_never_fires_is_never_due(drift: Drift, make_repo: MakeRepo) -> None:
    """A database of an older drift may hold such a schedule: listing and due runs go on."""
    import sqlite3

    drift.track("feb", make_repo("reproducible"))
    with sqlite3.connect(drift.db_path) as connection:
        connection.execute("update targets set schedule = '0 0 30 2 *'")
    listed = drift("targets", "--format", "json")
    assert listed.code == 0, listed.stderr
    assert listed.json()["targets"][0]["next_run"] is None
    assert drift("targets").code == 0
    due = drift("run", "--due")
    assert due.code == 0 and "nothing to check" in due.stderr
    assert drift.rows("select count(*) from builds") == [(0,)]


def test_alert_routes_in_the_outbox_are_listed_without_their_secrets(drift: Drift, make_repo: MakeRepo) -> None:
    from drift.storage import alerts, builds
    from drift.storage.database import Database
    from drift.values import Verdict

    route = "json://hook:TOPSECRET@127.0.0.1:9/path?+X-Api-Key=TOPSECRET2"
    drift.track("app", make_repo("reproducible"), "--alert", route)
    db = Database(drift.db_url)
    with db.session() as session:
        build = builds.start_build(session, "app", "fp", "a" * 40)
        builds.finish_build(session, build, status="failed", verdict=Verdict.BROKEN, error="x")
        alerts.enqueue_alert(session, build, "broken", route, "app broken", "body")
    db.dispose()
    for args in (("alerts", "list"), ("alerts", "list", "--format", "json"), ("targets", "--format", "json")):
        shown = drift(*args)
        assert shown.code == 0, shown.stderr
        assert "TOPSECRET" not in shown.stdout, args
    assert "json://hook:****@127.0.0.1:9/path" in drift("alerts", "list", "--format", "json").stdout
