"""Published images against a real registry: `drift verify` and targets tracked with `--published`.

A publisher's CI is played here as it runs: a fresh checkout of the commit
(or a tree with something more), `docker build` through the Engine API, and a
push to the registry (Debian's docker-registry on 127.0.0.1). drift pulls the
image back from the registry; the local copy is removed first, so what drift
reads is what the registry serves.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import docker
import pytest
from conftest import Drift, GitRepo, MakeRepo

pytestmark = pytest.mark.usefixtures("docker_engine")

OCI_SOURCE = "org.opencontainers.image.source"
OCI_REVISION = "org.opencontainers.image.revision"


class Publisher:
    """Builds a tree as the publisher's CI would and pushes it; forgets what it pushed at the end."""

    def __init__(self, registry: str, tmp_path: Path) -> None:
        self.api = docker.APIClient(version="auto", timeout=300)
        self.repository = f"{registry}/drift-test-{os.getpid()}-{uuid.uuid4().hex[:8]}/app"
        self.tmp_path = tmp_path
        self.image_ids: list[str] = []

    def checkout(self, repo: GitRepo, extra: Mapping[str, str] | None = None) -> Path:
        """A fresh clone of the repository's main, without .git (CI checks out, then builds the tree)."""
        tree = self.tmp_path / f"checkout-{uuid.uuid4().hex[:8]}"
        subprocess.run(["git", "clone", "-q", str(repo.path), str(tree)], check=True)
        shutil.rmtree(tree / ".git")
        for name, text in (extra or {}).items():
            (tree / name).write_text(text)
        return tree

    def publish(self, tree: Path, tag: str, labels: Mapping[str, str] | None = None) -> str:
        """Build the tree with the engine's builder and push it as REPOSITORY:tag; the reference."""
        reference = f"{self.repository}:{tag}"
        for message in self.api.build(
            path=str(tree), tag=reference, nocache=True, rm=True, labels=dict(labels or {}), decode=True
        ):
            assert "error" not in message, message
        self.image_ids.append(str(self.api.inspect_image(reference)["Id"]))
        for message in self.api.push(self.repository, tag=tag, stream=True, decode=True):
            assert "error" not in message, message
        self.api.remove_image(reference)  # what drift reads must come from the registry
        return reference

    def layers(self, reference: str) -> list[str]:
        return list(self.api.inspect_image(reference)["RootFS"]["Layers"])

    def clean_up(self) -> None:
        for image in self.api.images(name=self.repository, quiet=True):
            self.api.remove_image(image, force=True)
        for image_id in self.image_ids:
            with contextlib.suppress(docker.errors.NotFound):
                self.api.remove_image(image_id, force=True)


@pytest.fixture
def publisher(registry: str, tmp_path: Path) -> Iterator[Publisher]:
    publishing = Publisher(registry, tmp_path)
    yield publishing
    publishing.clean_up()


def test_verify_judges_an_image_of_the_commit_reproducible_although_its_layer_digests_differ(
    drift: Drift, make_repo: MakeRepo, publisher: Publisher
) -> None:
    repo = make_repo("reproducible")
    commit = repo.git("rev-parse", "HEAD")
    reference = publisher.publish(publisher.checkout(repo), "1")

    result = drift("verify", reference, "--repo", str(repo.path), "--commit", commit, "--pull", "never")
    assert result.code == 0, result.stdout + result.stderr
    assert "verify: reproducible" in result.stdout
    assert f"baseline: published {reference}@sha256:" in result.stdout
    assert "rebuilt with the legacy builder, as the image's history shows" in result.stderr

    shown = drift(
        "verify", reference, "--repo", str(repo.path), "--commit", commit, "--pull", "never", "--format", "json"
    )
    assert shown.code == 0, shown.stderr
    document = shown.json()
    assert document["verdict"] == "reproducible" and document["findings"] == []
    [created] = document["ignored_findings"]
    assert (created["kind"], created["subject"], created["cause"]) == ("published", "created", "timestamp")
    assert created["before"] != created["after"]
    assert document["compared_to_published"].startswith(f"{reference}@sha256:")
    rebuilt = [layer["diff_id"] for layer in document["layers"]]
    published = publisher.layers(reference)  # the pull left it in the engine
    assert len(rebuilt) == len(published) and rebuilt != published
    assert rebuilt[0] == published[0]  # the base image's layer is the same; the COPY and RUN layers' bytes are not
    # Nothing of the check stays behind: no database, no rebuilt image.
    assert not drift.db_path.exists()
    assert document["image_id"] not in {image["Id"] for image in docker.APIClient(version="auto").images()}


def test_verify_names_a_file_the_published_image_has_and_the_commit_does_not_make(
    drift: Drift, make_repo: MakeRepo, publisher: Publisher
) -> None:
    repo = make_repo("reproducible")
    commit = repo.git("rev-parse", "HEAD")
    tree = publisher.checkout(repo, {"src/debug.txt": "left over from a developer's machine\n"})
    reference = publisher.publish(tree, "1")

    result = drift("verify", reference, "--repo", str(repo.path), "--commit", commit, "--pull", "never")
    assert result.code == 1, result.stdout + result.stderr
    assert "verify: drifted" in result.stdout
    assert "layer 2: COPY . /app/" in result.stdout
    assert "/app/src/debug.txt" in result.stdout
    document = drift(
        "verify", reference, "--repo", str(repo.path), "--commit", commit, "--pull", "never", "--format", "json"
    ).json()
    [extra] = [f for f in document["findings"] if f["subject"] == "/app/src/debug.txt"]
    assert (extra["kind"], extra["layer"], extra["change"]) == ("file", 2, "removed")
    assert extra["instruction"] == "COPY . /app/"
    markdown = drift(
        "verify", reference, "--repo", str(repo.path), "--commit", commit, "--pull", "never", "--format", "markdown"
    )
    assert markdown.code == 1 and "/app/src/debug.txt" in markdown.stdout


def test_verify_finds_the_repository_and_commit_in_the_oci_labels(
    drift: Drift, make_repo: MakeRepo, publisher: Publisher
) -> None:
    repo = make_repo("reproducible")
    commit = repo.git("rev-parse", "HEAD")
    labels = {OCI_SOURCE: str(repo.path), OCI_REVISION: commit}
    reference = publisher.publish(publisher.checkout(repo), "1", labels)
    repo.git("commit", "-q", "--allow-empty", "-m", "a later commit, which is not the one published")

    result = drift("verify", reference, "--pull", "never")
    assert result.code == 0, result.stdout + result.stderr
    assert f"from the image's labels: {OCI_SOURCE}={repo.path}, {OCI_REVISION}={commit}" in result.stderr
    assert f"at {commit[:12]}" in result.stderr
    assert "verify: reproducible" in result.stdout

    unlabelled = publisher.publish(publisher.checkout(repo), "2")
    missing = drift("verify", unlabelled, "--pull", "never")
    assert missing.code == 2
    assert missing.stderr.strip().endswith("pass --repo and --commit")
    assert len(missing.stderr.strip().splitlines()) == 1


def test_a_published_target_is_reproducible_each_night_until_its_tag_is_re_pushed(
    drift: Drift, make_repo: MakeRepo, publisher: Publisher
) -> None:
    repo = make_repo("reproducible")
    first = publisher.publish(publisher.checkout(repo), "1")
    drift.track("app", repo, "--published", first)
    baseline = drift("history", "app", "--format", "json").json()["builds"]
    assert [b["verdict"] for b in baseline] == ["baseline"]
    old_digest = baseline[0]["published"].partition("@")[2]
    assert baseline[0]["published"] == f"{first}@{old_digest}"

    for _night in range(2):
        night = drift("run", "app")
        assert night.code == 0, night.stdout + night.stderr
        latest = drift.latest("app")
        assert latest["verdict"] == "reproducible"
        assert latest["compared_to_published"] == f"{first}@{old_digest}"
    shown = drift("show", str(drift.latest("app")["build"]))
    assert f"baseline: published {first}@{old_digest}" in shown.stdout
    refused = drift("accept", "app")
    assert refused.code == 2 and "is the truth to match" in refused.stderr

    # The release is re-pushed under the same tag, with a file more.
    publisher.publish(publisher.checkout(repo, {"src/hotfix.txt": "patched by hand\n"}), "1")
    night = drift("run", "app")
    assert night.code == 1, night.stdout + night.stderr
    latest = drift.latest("app")
    assert latest["verdict"] == "drifted"
    [retag] = [f for f in latest["findings"] if f["kind"] == "published" and f["change"] == "retagged"]
    new_digest = retag["after"]
    assert (retag["change"], retag["before"]) == ("retagged", old_digest) and new_digest != old_digest
    assert latest["compared_to_published"] == f"{first}@{new_digest}"  # judged against the new image
    assert any(f["subject"] == "/app/src/hotfix.txt" for f in latest["findings"])
    shown = drift("show", str(latest["build"]))
    assert f"published image {first} was re-pushed: {old_digest} -> {new_digest}" in shown.stdout
    report = drift("report", "--format", "markdown")
    assert f"baseline: published {first}@{new_digest}" in report.stdout


def test_an_unknown_tag_or_an_unreachable_registry_is_one_line_and_records_nothing(
    drift: Drift, make_repo: MakeRepo, registry: str
) -> None:
    repo = make_repo("reproducible")
    commit = repo.git("rev-parse", "HEAD")
    for reference, expected in (
        (f"{registry}/drift-test-{os.getpid()}/nothing:1", "manifest unknown"),
        ("127.0.0.1:1/app:1", "connection refused"),
    ):
        verified = drift("verify", reference, "--repo", str(repo.path), "--commit", commit)
        assert verified.code == 2, verified.stdout + verified.stderr
        assert verified.stderr.startswith(f"drift: error: cannot pull {reference}: ")
        assert expected in verified.stderr and len(verified.stderr.strip().splitlines()) == 1
        assert verified.stdout == ""

        tracked = drift("track", "app", "--repo", str(repo.path), "--commit", "main", "--published", reference)
        assert tracked.code == 2 and expected in tracked.stderr
        assert len(tracked.stderr.strip().splitlines()) == 1
        assert drift("targets", "--format", "json").json()["targets"] == []
        assert drift.rows("select count(*) from builds") == [(0,)]


def _registry_request(
    url: str, method: str = "GET", body: bytes = b"", content_type: str = "", accept: str = ""
) -> tuple[bytes, Mapping[str, str]]:
    import urllib.request

    request = urllib.request.Request(url, data=body if method in ("POST", "PUT") else None, method=method)
    if content_type:
        request.add_header("Content-Type", content_type)
    if accept:
        request.add_header("Accept", accept)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read(), dict(response.headers)


def _push_blob(registry: str, name: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    _body, headers = _registry_request(f"http://{registry}/v2/{name}/blobs/uploads/", "POST")
    location = headers["Location"]
    location = location if location.startswith("http") else f"http://{registry}{location}"
    separator = "&" if "?" in location else "?"
    _registry_request(f"{location}{separator}digest={digest}", "PUT", data, "application/octet-stream")
    return digest


MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def test_verify_picks_the_platform_asked_for_from_a_multi_platform_index(
    drift: Drift, make_repo: MakeRepo, publisher: Publisher, registry: str
) -> None:
    """An index of linux/arm64 (listed first: an image that is not the app) and linux/amd64 (the app)."""
    repo = make_repo("reproducible")
    commit = repo.git("rev-parse", "HEAD")
    publisher.publish(publisher.checkout(repo), "amd64")
    name = publisher.repository.removeprefix(f"{registry}/")
    amd64_manifest, _headers = _registry_request(f"http://{registry}/v2/{name}/manifests/amd64", accept=MANIFEST)

    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tarfile.TarInfo("hello-from-arm64")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"arm"))
    diff_id = "sha256:" + hashlib.sha256(layer.getvalue()).hexdigest()
    compressed = gzip.compress(layer.getvalue(), mtime=0)
    config = json.dumps(
        {"architecture": "arm64", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    ).encode()
    arm64_manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": _push_blob(registry, name, config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(compressed),
                    "digest": _push_blob(registry, name, compressed),
                }
            ],
        }
    ).encode()
    _registry_request(f"http://{registry}/v2/{name}/manifests/arm64", "PUT", arm64_manifest, MANIFEST)
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_LIST,
            "manifests": [
                {
                    "mediaType": MANIFEST,
                    "size": len(manifest),
                    "digest": "sha256:" + hashlib.sha256(manifest).hexdigest(),
                    "platform": {"architecture": architecture, "os": "linux"},
                }
                for manifest, architecture in ((arm64_manifest, "arm64"), (amd64_manifest, "amd64"))
            ],
        }
    ).encode()
    _registry_request(f"http://{registry}/v2/{name}/manifests/multi", "PUT", index, MANIFEST_LIST)
    reference = f"{publisher.repository}:multi"

    result = drift(
        "verify",
        reference,
        "--repo",
        str(repo.path),
        "--commit",
        commit,
        "--pull",
        "never",
        "--platform",
        "linux/amd64",
        "--format",
        "json",
    )
    assert result.code == 0, result.stdout + result.stderr
    document = result.json()
    assert document["verdict"] == "reproducible"
    # The digest people pull by is the index's, whichever platform was judged.
    assert document["compared_to_published"] == f"{reference}@sha256:{hashlib.sha256(index).hexdigest()}"
