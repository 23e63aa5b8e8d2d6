"""BuildKit through the Engine API, on the real engine: modern Dockerfiles build, steps named, failures explained."""

from __future__ import annotations

import pytest
from conftest import Drift, GitRepo, MakeRepo

pytestmark = pytest.mark.usefixtures("docker_engine")

MODERN = (
    "FROM busybox:latest AS builder\n"
    "RUN --mount=type=cache,target=/cache echo built > /cache/out && cp /cache/out /artifact\n"
    "FROM busybox:latest\n"
    "COPY --chmod=755 tool.sh /usr/local/bin/tool\n"
    "COPY --from=builder /artifact /artifact\n"
    "RUN --mount=type=bind,source=tool.sh,target=/mnt/tool.sh cp /mnt/tool.sh /copied.sh\n"
)


def modern_repo(make_repo: MakeRepo, dockerfile: str = MODERN) -> GitRepo:
    repo = make_repo("reproducible")
    (repo.path / "Dockerfile").write_text(dockerfile)
    (repo.path / "tool.sh").write_text("#!/bin/sh\necho tool\n")
    repo.commit_all("a Dockerfile with BuildKit syntax")
    return repo


def test_a_buildkit_dockerfile_is_a_baseline_then_reproducible(drift: Drift, make_repo: MakeRepo) -> None:
    drift.track("modern", modern_repo(make_repo), "--builder", "buildkit")
    for expected in ("baseline", "reproducible"):
        result = drift("run", "--min-free", "0")
        assert result.code == 0, result.stdout + result.stderr
        assert drift.latest("modern")["verdict"] == expected
    assert drift.rows("select builder from builds") == [("buildkit",), ("buildkit",)]
    shown = drift("show", str(drift.latest("modern")["build"]), "--format", "json").json()
    own = [layer["instruction"] for layer in shown["layers"][1:]]
    assert own == [
        "COPY --chmod=755 tool.sh /usr/local/bin/tool",
        "COPY --from=builder /artifact /artifact",
        "RUN --mount=type=bind,source=tool.sh,target=/mnt/tool.sh cp /mnt/tool.sh /copied.sh",
    ]


def test_auto_takes_buildkit_where_the_engine_has_it(drift: Drift, make_repo: MakeRepo) -> None:
    drift.track("auto", modern_repo(make_repo))
    assert drift("run", "--min-free", "0").code == 0
    assert drift.rows("select t.builder, b.builder from builds b join targets t on t.id = b.target_id") == [
        ("auto", "buildkit")
    ]


def test_a_failed_buildkit_step_is_named_with_its_log_tail(drift: Drift, make_repo: MakeRepo) -> None:
    failing = "FROM busybox:latest\nRUN echo compiling && echo 'error: missing header' && exit 3\n"
    drift.track("failing", modern_repo(make_repo, failing), "--builder", "buildkit")
    result = drift("--verbose", "run", "--min-free", "0")
    assert result.code == 1, result.stdout + result.stderr
    latest = drift.latest("failing")
    assert latest["verdict"] == "failed"
    assert latest["failed_step"] == "RUN echo compiling && echo 'error: missing header' && exit 3"
    assert "error: missing header" in latest["log_tail"] and "exit code: 3" in latest["log_tail"]
    assert "failed step: RUN echo compiling" in result.stdout


def test_the_legacy_builder_says_which_line_needs_buildkit(drift: Drift, make_repo: MakeRepo) -> None:
    drift.track("old", modern_repo(make_repo), "--builder", "legacy")
    result = drift("run", "--min-free", "0")
    assert result.code == 1
    error = drift.latest("old")["error"]
    assert "the legacy builder cannot build this Dockerfile" in error
    assert "line 2: RUN --mount needs BuildKit" in error and "line 4: COPY --chmod needs BuildKit" in error
    assert "--builder buildkit" in error


def test_secret_and_ssh_mounts_are_refused_when_tracked(drift: Drift, make_repo: MakeRepo) -> None:
    secret = "FROM busybox:latest\nRUN --mount=type=secret,id=token cat /run/secrets/token > /x\n"
    repo = modern_repo(make_repo, secret)
    result = drift("track", "secret", "--repo", str(repo.path), "--commit", "main")
    assert result.code == 2
    assert "line 2: RUN --mount=type=secret" in result.stderr and "secrets are not supported yet" in result.stderr
    assert drift.rows("select count(*) from targets") == [(0,)]


def test_a_change_of_builder_is_a_builder_finding(drift: Drift, make_repo: MakeRepo) -> None:
    repo = make_repo("reproducible")
    drift.track("switch", repo, "--builder", "legacy")
    assert drift("run", "--min-free", "0").code == 0
    drift.track("switch", repo, "--builder", "buildkit")
    drift("run", "--min-free", "0")
    findings = drift.latest("switch")["findings"]
    builder = [f for f in findings if f["kind"] == "builder"]
    assert builder and builder[0]["before"] == "legacy" and builder[0]["after"] == "buildkit"
