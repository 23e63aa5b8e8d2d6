"""Errors that are not the target's fault, and the engine's disk: a registry outage is an error (not drift, no
alert), and a legacy multi-stage build leaves nothing behind but its kept final image."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator

import docker
import pytest
from conftest import Drift, MakeRepo
from pytest_httpserver import HTTPServer

pytestmark = pytest.mark.usefixtures("docker_engine")

# A base image name whose registry (127.0.0.1:1) refuses every connection; the image itself is a local tag.
UNREACHABLE_BASE = f"127.0.0.1:1/drift-test/busybox-{os.getpid()}:latest"


@pytest.fixture
def unreachable_base() -> Iterator[str]:
    api = docker.APIClient(version="auto")
    api.tag("busybox:latest", UNREACHABLE_BASE.rpartition(":")[0], "latest")
    yield UNREACHABLE_BASE
    api.remove_image(UNREACHABLE_BASE)


@pytest.mark.parametrize("builder", ["legacy", "buildkit"])
def test_a_registry_that_refuses_connections_is_an_error_not_broken(
    drift: Drift, make_repo: MakeRepo, unreachable_base: str, builder: str
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    receiver = HTTPServer(host="127.0.0.1", port=port)
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    receiver.start()
    try:
        repo = make_repo("reproducible")
        (repo.path / "Dockerfile").write_text(f"FROM {unreachable_base}\nRUN echo hello > /hello\n")
        repo.commit_all("a base image from a registry")
        route = f"json://127.0.0.1:{port}/hook"
        common = ("--repo", str(repo.path), "--commit", "main", "--builder", builder, "--alert", route)
        assert drift("track", "app", "--pull", "missing", *common).code == 0
        assert drift("run", "--min-free", "0").code == 0  # the baseline, from the local image

        assert drift("track", "app", "--pull", "always", *common).code == 0
        result = drift("run", "--min-free", "0")
        assert result.code == 2, result.stdout + result.stderr
        latest = drift.latest("app")
        assert latest["verdict"] == "error"
        assert "registry could not be reached" in latest["error"] and "connection refused" in latest["error"]
        assert receiver.log == []  # an outage is not drift: nobody is woken up
        # The slot is retried: an error does not count as built.
        assert drift.rows("select verdict from builds order by id") == [("baseline",), ("error",)]
    finally:
        receiver.clear()
        receiver.stop()


def test_a_legacy_multi_stage_build_leaves_only_its_final_image(drift: Drift, make_repo: MakeRepo) -> None:
    marker = f"drift-stage-{uuid.uuid4().hex[:12]}"
    repo = make_repo("reproducible")
    (repo.path / "Dockerfile").write_text(
        "FROM busybox:latest AS builder\n"
        f"RUN echo {marker} > /built\n"
        f"RUN echo {marker}-again >> /built\n"
        "FROM busybox:latest\n"
        "COPY --from=builder /built /built\n"
        f"RUN echo {marker}-final > /final\n"
    )
    repo.commit_all("two stages")
    drift.track("stages", repo, "--builder", "legacy")
    for _night in range(2):
        assert drift("run", "--min-free", "0").code == 0
    api = docker.APIClient(version="auto")
    [(kept,)] = drift.rows("select image_id from builds order by id desc limit 1")
    ancestry = {entry["Id"] for entry in api.history(kept) if entry["Id"] != "<missing>"}
    ours = []
    for image in api.images(all=True, quiet=True):
        try:
            config = api.inspect_image(image).get("ContainerConfig") or {}
        except docker.errors.NotFound:
            continue  # another build on the shared engine removed it meanwhile: not one of ours
        if marker in json.dumps(config.get("Cmd") or []):
            ours.append(image)
    leftovers = [image for image in ours if image not in ancestry]
    assert leftovers == [], "images of the builder stage were left behind"
    assert ours  # the final image's own steps are found, so the marker search works
