"""Explaining differences end to end: moved base images, config changes, learned noise."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import docker
import pytest
from conftest import Drift, MakeRepo, UpstreamServer
from support.images import build_image

pytestmark = pytest.mark.usefixtures("docker_engine")


def build_base(tag: str, version: str, env: str = "MODE=stable") -> str:
    """A local base image: busybox plus a version file and an ENV, under `tag`."""
    return build_image(tag, f"FROM busybox:latest\nENV {env}\nRUN echo {version} > /etc/base-version\n")


@pytest.fixture
def moving_base() -> Iterator[str]:
    tag = f"drift-test/base-{os.getpid()}:moving"  # per process: test runs may share the engine
    yield tag
    api = docker.APIClient(version="auto")
    # The targets' own images go with the `drift` fixture; other tests may share the engine.
    for image in api.images(name=tag.partition(":")[0]):
        with contextlib.suppress(docker.errors.APIError):
            api.remove_image(image["Id"], force=True)


def test_moved_base_tag_is_one_base_image_finding(drift: Drift, make_repo: MakeRepo, moving_base: str) -> None:
    first_id = build_base(moving_base, "1")
    repo = make_repo("reproducible")
    (repo.path / "Dockerfile").write_text(f"FROM {moving_base}\nRUN cp /etc/base-version /copied-version\n")
    repo.commit_all("a base image whose tag moves")
    drift.track("app", repo)
    assert drift("run", "app").code == 0

    second_id = build_base(moving_base, "2")
    run = drift("run", "app")
    assert run.code == 1, run.stdout
    build = drift.latest("app")
    assert build["verdict"] == "drifted"
    [base] = [f for f in build["findings"] if f["kind"] == "base-image"]
    assert base["subject"] == moving_base
    assert base["change"] == "moved"
    assert (base["before"], base["after"]) == (first_id, second_id)
    assert base["cause"] == "base-image-tag"
    # The inherited layers (busybox + the base's RUN) are explained by that one finding.
    base_layers = next(b for b in build["base_images"] if b["final"])["layer_count"]
    assert base_layers == 2
    assert not [f for f in build["findings"] if f["kind"] == "file" and f["layer"] < base_layers]
    # Our own layer changed because the base did: it is still reported, in its own layer.
    [copied] = [f for f in build["findings"] if f["subject"] == "/copied-version"]
    assert copied["layer"] == 2 and copied["change"] == "modified"
    assert f"base image {moving_base} moved: {first_id} -> {second_id}" in run.stdout

    # The same story as Markdown, for a pull request.
    shown = drift("show", str(build["build"]), "--format", "markdown").stdout
    assert f"build {build['build']}: **drifted**" in shown
    assert f"| base-image | `{moving_base}` | moved | `{first_id}` | `{second_id}` | base-image-tag |" in shown
    assert "**Layer 2** `RUN cp /etc/base-version /copied-version`" in shown
    assert "- modified `/copied-version`" in shown
    assert f"compared with baseline build {build['compared_to']}" in shown
    diff = drift("diff", str(build["compared_to"]), str(build["build"]), "--format", "markdown").stdout
    assert f"### drift diff: build {build['compared_to']} (`app`) → build {build['build']} (`app`)" in diff
    assert f"`{moving_base}` | moved" in diff and "- modified `/copied-version`" in diff


def test_env_change_only_is_a_config_finding(drift: Drift, make_repo: MakeRepo, moving_base: str) -> None:
    build_base(moving_base, "1", env="MODE=stable")
    repo = make_repo("reproducible")
    (repo.path / "Dockerfile").write_text(f"FROM {moving_base}\nRUN cp /etc/base-version /copied-version\n")
    repo.commit_all("env from the base image")
    drift.track("app", repo)
    assert drift("run", "app").code == 0

    build_base(moving_base, "1", env="MODE=canary")  # same files, another ENV value
    assert drift("run", "app").code == 1
    build = drift.latest("app")
    assert build["verdict"] == "drifted"
    [env] = [f for f in build["findings"] if f["kind"] == "config"]
    assert env["subject"] == "Env"
    assert "MODE=stable" in env["before"] and "MODE=canary" in env["after"]
    assert not [f for f in build["findings"] if f["kind"] == "file"]
    # The base was re-pointed at equal content: said, but not what drifted.
    [base] = [f for f in build["findings"] if f["kind"] == "base-image"]
    assert base["change"] == "retagged"


def test_build_date_is_drifted_then_noisy_after_twice(drift: Drift, make_repo: MakeRepo) -> None:
    repo = make_repo("build-date")
    drift.track("stamp", repo)
    assert drift("run", "stamp").code == 0
    plain = drift("run", "stamp")
    assert plain.code == 1
    assert "stamp: drifted" in plain.stdout

    twice = drift("run", "stamp", "--twice")
    assert "learned 1 nondeterministic path(s)" in twice.stdout and "/etc/build-date" in twice.stdout
    assert twice.code == 0, twice.stdout
    assert "stamp: noisy" in twice.stdout

    later = drift("run", "stamp")
    assert later.code == 0
    assert "stamp: noisy" in later.stdout
    build = drift.latest("stamp")
    [noise] = [f for f in build["ignored_findings"] if f["subject"] == "/etc/build-date"]
    assert noise["ignored_by"].startswith("learned rule /etc/build-date")
    shown = drift("show", str(build["build"]))
    assert "/etc/build-date" in shown.stdout and "learned rule /etc/build-date" in shown.stdout


def test_multi_stage_layers_are_named_by_their_final_stage_instructions(drift: Drift, make_repo: MakeRepo) -> None:
    repo = make_repo("multi-stage")
    drift.track("multi", repo)
    assert drift("run", "multi").code == 0
    second = drift("run", "multi")
    assert second.code == 0 and "multi: reproducible" in second.stdout
    build = drift.latest("multi")
    layers = drift("show", str(build["build"]), "--format", "json").json()["layers"]
    assert [layer["instruction"] for layer in layers] == [
        "Imported from -",
        "COPY --from=builder /out/greet /usr/local/bin/greet",
        "RUN /usr/local/bin/greet > /greeting.txt",
    ]
    # Both stages' FROM lines were resolved; the final one is the image's base.
    assert [(b["stage"], b["reference"], b["final"]) for b in build["base_images"]] == [
        (0, "busybox:latest", False),
        (1, "busybox:latest", True),
    ]


def test_download_drift_is_linked_to_its_risk_and_a_pin_is_suggested(
    drift: Drift, make_repo: MakeRepo, upstream_server: UpstreamServer
) -> None:
    import hashlib

    import upstream

    good = b"tool 1.0\n"
    upstream.publish_file(upstream_server.root, "tool/latest.txt", good)
    repo = make_repo("latest-download")
    url = f"{upstream_server.url}/tool/latest.txt"
    drift.track("download", repo, "--network", "host", "--build-arg", f"UPSTREAM_URL={url}")
    assert drift("run").code == 0
    upstream.publish_file(upstream_server.root, "tool/latest.txt", b"tool 1.1\n")
    assert drift("run").code == 1

    build = drift.latest("download")
    [download] = [f for f in build["findings"] if f["subject"] == "/opt/tool/latest.txt"]
    assert download["cause"] == "network-fetch"
    shown = drift("show", str(build["build"]), "--format", "json").json()
    risks = {r["id"]: r for r in shown["risks"]}
    assert download["risk"] in risks
    assert risks[download["risk"]]["cause"] == "network-fetch"
    assert risks[download["risk"]]["line"] == 9  # the RUN that downloads, as written
    # The base image tag is an unpinned input too, found before it ever moved.
    assert any(r["cause"] == "base-image-tag" and r["subject"] == "busybox:latest" for r in risks.values())

    pins = drift("show", str(build["build"]), "--suggest-pins")
    assert pins.code == 0, pins.stderr
    assert "--- a/Dockerfile" in pins.stdout and "+++ b/Dockerfile" in pins.stdout
    assert hashlib.sha256(good).hexdigest() in pins.stdout  # the last good file's digest
    assert "sha256sum -c" in pins.stdout
    table = drift("show", str(build["build"])).stdout
    assert f"[risk {download['risk']}]" in table and "unpinned inputs" in table
