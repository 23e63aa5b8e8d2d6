"""A night survives any one target: hostile file names, build logs, Dockerfile names and symlinks, real builds."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import docker
import pytest
from conftest import Drift, GitRepo, MakeRepo

pytestmark = pytest.mark.usefixtures("docker_engine")

ESCAPES = re.compile("[\x1b\x07\x9b]")


_made = iter(range(1000))


def custom_repo(tmp_path: Path, dockerfile: str, name: str = "Dockerfile") -> GitRepo:
    """A real git repository holding one Dockerfile (at `name`), committed on main."""
    repo = GitRepo(tmp_path / f"repo-custom-{next(_made)}")
    repo.path.mkdir()
    repo.git("init", "-q", "-b", "main")
    repo.git("config", "user.email", "test@example.invalid")
    repo.git("config", "user.name", "drift tests")
    path = repo.path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dockerfile)
    repo.commit_all("custom Dockerfile")
    return repo


def test_a_file_name_that_is_not_utf8_is_stored_compared_and_shown_escaped(
    drift: Drift, make_repo: MakeRepo, tmp_path: Path
) -> None:
    # Two files whose names differ only in a byte that is not UTF-8; the second changes on every build.
    hostile = custom_repo(
        tmp_path,
        "FROM busybox:latest\n"
        "RUN touch \"/$(printf 'bad\\377name')\" \"/$(printf 'bad\\376name')\" "
        "&& date +%s%N > \"/$(printf 'moving\\377')\"\n",
    )
    drift.track("hostile", hostile)
    drift.track("after", make_repo("reproducible"))

    first = drift("run", "hostile", "after", "--min-free", "0")
    assert first.code == 0, first.stdout + first.stderr
    assert drift.rows("select t.name, b.verdict from builds b join targets t on t.id = b.target_id order by b.id") == [
        ("hostile", "baseline"),
        ("after", "baseline"),
    ]
    second = drift("run", "hostile", "after", "--min-free", "0")
    assert second.code == 1, second.stdout + second.stderr
    assert "moving\\xff" in second.stdout
    # Compared exactly: only the file whose content moved differs; its two neighbours are the same files.
    latest = drift.latest("hostile")
    assert latest["verdict"] == "drifted"
    assert [f["subject"] for f in latest["findings"]] == ["/moving\\xff"]
    build = latest["build"]
    shown = drift("show", str(build))
    assert shown.code == 0 and "/moving\\xff" in shown.stdout, shown.stdout + shown.stderr
    assert drift.latest("after")["verdict"] == "reproducible"


def test_any_dockerfile_name_builds(drift: Drift, make_repo: MakeRepo, tmp_path: Path) -> None:
    for name, path in (("containerfile", "Containerfile"), ("prod", "docker/Dockerfile.prod")):
        repo = custom_repo(tmp_path, "FROM busybox:latest\nRUN echo built > /built\n", name=path)
        drift.track(name, repo, "--dockerfile", path)
    result = drift("run", "--min-free", "0")
    assert result.code == 0, result.stdout + result.stderr
    assert drift.rows("select verdict from builds order by id") == [("baseline",), ("baseline",)]


def test_rich_markup_in_build_data_is_printed_as_text(drift: Drift, make_repo: MakeRepo, tmp_path: Path) -> None:
    failing = custom_repo(tmp_path, 'FROM busybox:latest\nRUN echo "[/]" && false\n')
    markup_path = custom_repo(tmp_path, "FROM busybox:latest\nRUN mkdir -p '/x/[' && date +%s%N > '/x/[/]'\n")
    drift.track("failing", failing)
    drift.track("markup", markup_path)

    assert drift("run", "--min-free", "0").code == 1  # failing: failed; markup: baseline
    night = drift("run", "--min-free", "0")
    assert night.code == 1, night.stderr  # failing: failed again; markup: drifted
    assert "Traceback" not in night.stderr and "internal error" not in night.stderr
    assert "/x/[/]" in night.stdout
    for args in (("history", "failing"), ("history", "markup"), ("report",)):
        result = drift(*args)
        assert result.code == 0, (args, result.stderr)
    report = drift("report").stdout
    assert "failing" in report and "markup" in report
    failed_build = drift.latest("failing")["build"]
    shown = drift("show", str(failed_build))
    assert shown.code == 0, shown.stderr
    assert "[/]" in shown.stdout
    drifted = drift("show", str(drift.latest("markup")["build"]))
    assert drifted.code == 0 and "/x/[/]" in drifted.stdout


def test_control_characters_in_names_and_logs_never_reach_the_terminal(
    drift: Drift, make_repo: MakeRepo, tmp_path: Path
) -> None:
    noisy_log = custom_repo(
        tmp_path, "FROM busybox:latest\nRUN printf '\\033]0;pwned\\007\\033[2Jcleared\\n' && false\n"
    )
    noisy_name = custom_repo(tmp_path, "FROM busybox:latest\nRUN date +%s%N > \"/$(printf 'x\\033[2J')\"\n")
    drift.track("log", noisy_log)
    drift.track("name", noisy_name)
    drift("run", "--min-free", "0")
    night = drift("--verbose", "run", "--min-free", "0")
    assert night.code == 1
    assert not ESCAPES.search(night.stdout + night.stderr), (night.stdout + night.stderr)[-2000:]
    assert "\\x1b[2J" in night.stdout  # the file name, escaped
    for target in ("log", "name"):
        build = drift.latest(target)["build"]
        for format in ("table", "markdown", "json"):
            shown = drift("show", str(build), "--format", format)
            assert shown.code == 0, shown.stderr
            assert not ESCAPES.search(shown.stdout), (target, format)
    shown_log = drift("show", str(drift.latest("log")["build"])).stdout
    assert "\\x1b]0;pwned\\x07" in shown_log
    for format in ("markdown", "junit", "html"):
        report = drift("report", "--format", format)
        assert report.code == 0 and not ESCAPES.search(report.stdout), format


def test_a_dockerfile_symlinked_to_a_host_file_is_never_read(drift: Drift, make_repo: MakeRepo, tmp_path: Path) -> None:
    secret = tmp_path / "netrc"
    secret.write_text("machine git.example.com login ci password TOPSECRET\nFROM busybox:latest\n")
    repo = make_repo("reproducible")
    (repo.path / "Dockerfile").unlink()
    (repo.path / "Dockerfile").symlink_to(secret)
    repo.commit_all("a Dockerfile that points at a host file")
    drift.track("linked", repo)

    result = drift("run", "--min-free", "0")
    assert result.code == 1, result.stdout + result.stderr
    assert drift.rows("select status, verdict from builds") == [("failed", "failed")]
    latest = drift.latest("linked")
    assert "symlink that leads out of the repository" in json.dumps(latest)
    everything = json.dumps(drift.rows("select * from builds"), default=str)
    assert "TOPSECRET" not in everything and "TOPSECRET" not in result.stdout + result.stderr
    assert "TOPSECRET" not in drift("show", str(latest["build"])).stdout


def test_two_installations_on_one_engine_keep_their_own_images(
    drift: Drift, make_repo: MakeRepo, tmp_path: Path
) -> None:
    from conftest import Drift, _remove_images_of

    other = Drift(db_path=tmp_path / "other" / "drift.db", cache_dir=tmp_path / "other-cache")
    repo = make_repo("reproducible")
    try:
        for installation in (drift, other):
            installation.track("shared-name", repo)
            assert installation("run", "--min-free", "0").code == 0
        mine = drift.rows("select image_id from builds")[0][0]
        theirs = other.rows("select image_id from builds")[0][0]
        assert drift("run", "--min-free", "0").code == 0  # keeps one image: its own newest
        api = docker.APIClient(version="auto")
        api.inspect_image(theirs)  # the other installation's image is still there
        tags = api.inspect_image(theirs)["RepoTags"]
        assert tags and all(tag.startswith("drift-") for tag in tags), tags
        assert mine != theirs
        with pytest.raises(docker.errors.ImageNotFound):
            api.inspect_image(mine)  # this installation's older image went
    finally:
        _remove_images_of(other)


def test_one_targets_unexpected_exception_is_its_error_and_the_night_goes_on(
    drift: Drift, make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug that only one target's data triggers (injected here) is that target's `error`; the other
    targets are checked, the summary printed and their alerts sent."""
    import socket

    from pytest_httpserver import HTTPServer
    from typer.testing import CliRunner

    from drift import check
    from drift.cli import app
    from drift.values import TargetSpec

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    receiver = HTTPServer(host="127.0.0.1", port=port)
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    receiver.start()
    try:
        drift.track("boom", make_repo("reproducible"))
        drift.track("dated", make_repo("build-date"))
        assert drift("run", "--min-free", "0").code == 0

        real = check._explain_source

        def explode_for_boom(spec: TargetSpec, *args: Any) -> object:
            if spec.name == "boom":
                raise RuntimeError("an odd image broke drift")
            return real(spec, *args)

        monkeypatch.setattr(check, "_explain_source", explode_for_boom)
        env = {
            "DRIFT_DB": drift.db_url,
            "DRIFT_CACHE_DIR": str(drift.cache_dir),
            "DRIFT_ALERT_URLS": f"json://127.0.0.1:{port}/hook",
        }
        result = CliRunner().invoke(app, ["run", "--min-free", "0"], env=env)
        assert result.exit_code == 2, result.output
        assert "checked 2 target(s): 1 drifted, 1 error" in result.output
        assert "an odd image broke drift" in result.output
        rows = drift.rows(
            "select t.name, b.status, b.verdict, b.error from builds b join targets t on t.id = b.target_id"
        )
        boom = [row for row in rows if row[0] == "boom"][-1]
        assert boom[1:3] == ("error", "error") and "RuntimeError: an odd image broke drift" in boom[3]
        assert [row[2] for row in rows if row[0] == "dated"] == ["baseline", "drifted"]
        assert len(receiver.log) == 1 and "dated drifted" in receiver.log[0][0].get_data(as_text=True)
    finally:
        receiver.clear()
        receiver.stop()


def test_an_unreachable_repository_in_drift_toml_does_not_stop_the_others(
    drift: Drift, make_repo: MakeRepo, tmp_path: Path
) -> None:
    good = make_repo("reproducible")
    config = tmp_path / "drift.toml"
    config.write_text(
        '[defaults]\npull = "never"\n\n'
        f'[[target]]\nname = "first"\nrepo = "{good.path}"\ncommit = "main"\n\n'
        '[[target]]\nname = "gone"\nrepo = "https://ci:TOPSECRET@127.0.0.1:9/team/gone.git"\ncommit = "main"\n\n'
        f'[[target]]\nname = "last"\nrepo = "{good.path}"\ncommit = "main"\n'
    )
    result = drift("run", "--config", str(config), "--min-free", "0")
    assert result.code == 2, result.stdout + result.stderr
    assert "unreachable tonight (checked as errors): gone" in result.stdout
    rows = drift.rows("select t.name, b.verdict, b.error from builds b join targets t on t.id = b.target_id")
    assert sorted((name, verdict) for name, verdict, _error in rows) == [
        ("first", "baseline"),
        ("gone", "error"),
        ("last", "baseline"),
    ]
    [gone_error] = [error for name, _verdict, error in rows if name == "gone"]
    assert "cannot reach repository https://ci:***@127.0.0.1:9/team/gone.git" in gone_error
    # The secret stays where the fetch needs it, and nowhere people look.
    for args in (("targets",), ("targets", "--format", "json"), ("report", "--format", "json"), ("report",)):
        shown = drift(*args)
        assert shown.code == 0, shown.stderr
        assert "TOPSECRET" not in shown.stdout + shown.stderr, args
    assert "TOPSECRET" not in result.stdout + result.stderr
