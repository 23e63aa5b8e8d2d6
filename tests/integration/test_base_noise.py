"""A base image rebuilt the same day with the same packages: retagged in every stage, never drifted."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import docker
import pytest
from conftest import Drift, MakeRepo
from support.images import build_image

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("docker_engine")]

BASE = f"drift-test/base16-{os.getpid()}:rebuilt"  # per process: test runs may share the engine
# What a base image's own build does: apt from the Debian mirror. Built twice,
# the two images hold the same packages and differ in apt's caches and logs.
BASE_DOCKERFILE = """FROM debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends hello && rm -rf /var/lib/apt/lists/*
"""


def build_base(built: list[str]) -> str:
    """Build BASE anew; its image ID is added to `built`."""
    image_id = build_image(BASE, BASE_DOCKERFILE, network_mode="host")
    built.append(image_id)
    return image_id


@pytest.fixture
def built_bases() -> Iterator[list[str]]:
    """The IDs of the bases a test built; they and the images built on them are removed after it."""
    built: list[str] = []
    yield built
    api = docker.APIClient(version="auto")
    # Children first: an image with children cannot be removed, and a
    # builder stage leaves an unlabelled one on the base.
    images = api.images(all=True)
    ours, frontier, removal = set(built), set(built), list(built)
    while frontier:
        children = [image["Id"] for image in images if image.get("ParentId") in frontier and image["Id"] not in ours]
        ours |= set(children)
        frontier = set(children)
        removal = children + removal
    for image_id in removal:
        with contextlib.suppress(docker.errors.APIError):
            api.remove_image(image_id, force=True)


def test_a_base_rebuilt_with_the_same_packages_is_retagged_in_both_stages(
    drift: Drift, make_repo: MakeRepo, built_bases: list[str]
) -> None:
    rebuilt_base = BASE
    first = build_base(built_bases)
    repo = make_repo("reproducible")
    (repo.path / "Dockerfile").write_text(
        f"FROM {rebuilt_base} AS builder\n"
        "RUN hello > /greeting.txt\n"
        f"FROM {rebuilt_base}\n"
        "COPY --from=builder /greeting.txt /greeting.txt\n"
    )
    repo.commit_all("two stages on one base")
    drift.track("rebased", repo)
    assert drift("run", "rebased").code == 0

    second = build_base(built_bases)
    assert second != first
    run = drift("run", "rebased")
    assert run.code == 0, run.stdout + run.stderr
    build = drift.latest("rebased")
    assert build["verdict"] in ("noisy", "reproducible")
    bases = [f for f in build["findings"] + build["ignored_findings"] if f["kind"] == "base-image"]
    assert [(f["subject"], f["change"]) for f in bases] == [(rebuilt_base, "retagged")] * 2
    assert all(f["kind"] == "base-image" for f in build["findings"])
    assert all(f["cause"] == "nondeterministic" for f in build["ignored_findings"])
    assert "moved" not in run.stdout
