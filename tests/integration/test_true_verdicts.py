"""True verdicts when base images change shape, on the real engine: a base that gains a layer, a builder stage's
base that moves without changing the output, and a diff between two commits that names the source."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import docker
import pytest
import upstream
from conftest import Drift, MakeRepo, UpstreamServer
from support.images import build_image

pytestmark = pytest.mark.usefixtures("docker_engine")


@pytest.fixture
def base_tag(request: pytest.FixtureRequest) -> Iterator[tuple[str, list[str]]]:
    name = request.node.name[:40].lower().replace("[", "-").replace("]", "")
    tag = f"drift-test/{name}-{os.getpid()}:latest"  # per process: test runs may share the engine
    made: list[str] = []
    yield tag, made
    api = docker.APIClient(version="auto")
    for image in made:
        with contextlib.suppress(docker.errors.APIError):
            api.remove_image(image, force=True)


@pytest.mark.parametrize("builder", ["legacy", "buildkit"])
def test_a_base_that_gains_a_layer_is_one_base_image_finding(
    drift: Drift, make_repo: MakeRepo, base_tag: tuple[str, list[str]], builder: str
) -> None:
    tag, made = base_tag
    made.append(build_image(tag, "FROM busybox:latest\nRUN echo 1 > /etc/base-version\n"))
    repo = make_repo("reproducible")
    (repo.path / "Dockerfile").write_text(f"FROM {tag}\nCOPY app.txt /app/app.txt\nRUN cp /app/app.txt /app/copy.txt\n")
    (repo.path / "app.txt").write_text("our own file\n")
    repo.commit_all("an app on a local base")
    drift.track("grow", repo, "--builder", builder)
    assert drift("run", "--min-free", "0").code == 0

    made.append(build_image(tag, "FROM busybox:latest\nRUN echo 1 > /etc/base-version\nRUN echo 2 > /etc/new-layer\n"))
    result = drift("run", "--min-free", "0")
    assert result.code == 1, result.stdout + result.stderr
    latest = drift.latest("grow")
    assert latest["verdict"] == "drifted"
    kinds = [(f["kind"], f["change"]) for f in latest["findings"]]
    assert kinds == [("base-image", "moved")], latest["findings"]
    assert not [f for f in latest["findings"] if f["kind"] in ("file", "layers")]


def test_a_builder_stage_whose_base_moved_with_the_same_output_is_reproducible(
    drift: Drift, make_repo: MakeRepo, base_tag: tuple[str, list[str]]
) -> None:
    tag, made = base_tag
    made.append(build_image(tag, "FROM busybox:latest\nRUN echo toolchain 1 > /etc/toolchain\n"))
    repo = make_repo("reproducible")
    (repo.path / "Dockerfile").write_text(
        f"FROM {tag} AS build\nRUN echo built > /out\nFROM busybox:latest\nCOPY --from=build /out /out\n"
    )
    repo.commit_all("a builder stage on a local base")
    drift.track("stages", repo)
    assert drift("run", "--min-free", "0").code == 0

    made.append(build_image(tag, "FROM busybox:latest\nRUN echo toolchain 2 > /etc/toolchain\n"))
    result = drift("run", "--min-free", "0")
    assert result.code == 0, result.stdout + result.stderr
    latest = drift.latest("stages")
    assert latest["verdict"] == "reproducible"
    [moved] = [f for f in latest["findings"] if f["kind"] == "base-image"]
    assert moved["subject"] == tag and moved["change"] == "moved-in-builder-stage"
    assert f"base image {tag} moved in a builder stage" in drift("show", str(latest["build"])).stdout


def test_a_diff_between_two_commits_names_the_source_as_the_cause(drift: Drift, make_repo: MakeRepo) -> None:
    repo = make_repo("reproducible")
    drift.track("app", repo)
    assert drift("run", "--min-free", "0").code == 0
    (repo.path / "hello.txt").write_text("a new release of our own file\n")
    repo.commit_all("change our own file")
    drift.track("app", repo)  # moves the pin
    assert drift("run", "--min-free", "0").code == 0
    first, second = (row[0] for row in drift.rows("select id from builds order by id"))
    diff = drift("diff", str(first), str(second), "--format", "json").json()
    changed = [f for f in diff["findings"] if f["kind"] == "file" and not f["ignored"]]
    assert changed and all(f["cause"] == "source" for f in changed), changed


CAPABILITY = "0100000200200000000000000000000000000000"  # cap_net_raw=ep, as setcap writes it (VFS_CAP_REVISION_2)


@pytest.mark.parametrize("builder", ["legacy", "buildkit"])
def test_a_file_that_gains_a_capability_drifts(
    drift: Drift, make_repo: MakeRepo, upstream_server: UpstreamServer, builder: str
) -> None:
    """The same file content, the same mode: only a `security.capability` xattr appears. Before 0.2 the
    normalized digest did not see it; now the build drifts with a finding on that file."""
    upstream.publish_file(upstream_server.root, "flag", b"none\n")
    repo = make_repo("reproducible")
    (repo.path / "Dockerfile").write_text(
        "FROM python:3.11-slim\n"
        "ARG FLAG_URL\n"
        "RUN python3 -c \"import os, urllib.request; open('/ping', 'w').write('ping'); "
        "flag = urllib.request.urlopen(os.environ['FLAG_URL']).read().strip(); "
        f"flag == b'cap' and os.setxattr('/ping', 'security.capability', bytes.fromhex('{CAPABILITY}'))\"\n"
    )
    repo.commit_all("a file that may get a capability")
    drift.track(
        "caps", repo, "--network", "host", "--builder", builder, "--build-arg", f"FLAG_URL={upstream_server.url}/flag"
    )
    assert drift("run", "--min-free", "0").code == 0

    upstream.publish_file(upstream_server.root, "flag", b"cap\n")
    result = drift("run", "--min-free", "0")
    assert result.code == 1, result.stdout + result.stderr
    latest = drift.latest("caps")
    assert latest["verdict"] == "drifted"
    [finding] = [f for f in latest["findings"] if f["kind"] == "file" and not f["ignored"]]
    assert finding["subject"] == "/ping" and finding["change"] == "xattrs"
    assert "security.capability" in finding["after"]
