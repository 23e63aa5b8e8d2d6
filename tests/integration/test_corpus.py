"""A corpus of real projects' shapes, each built twice on an unchanged world: never drifted.

sample_projects/corpus/ holds the projects (README.md there says what each one
exercises). Every one is built by `drift run`, twice, from one pinned commit,
with nothing upstream changing between the two runs: a second build that is
`drifted` is a false alarm of drift's, the kind issue 16 is about.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from conftest import Drift, MakeRepo, UpstreamServer

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("docker_engine")]

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# target name -> its directory under sample_projects/corpus
CORPUS = {
    "corpus-node-npm": "node-npm",
    "corpus-python-venv": "python-venv",
    "corpus-git-clone": "git-clone",
    "corpus-useradd": "useradd",
    "corpus-multistage-c": "multistage-c",
    "corpus-dbus": "dbus",
}
NEEDS_CA_BUNDLE = ("node-npm", "python-venv")


def serve_tool_repository(root: Path) -> str:
    """A git repository served over git's "dumb" HTTP protocol by the upstream server; returns its commit."""
    work = root.parent / "tool-work"
    work.mkdir()
    (work / "tool.sh").write_text('#!/bin/sh\necho "tool 1.0"\n')
    (work / "tool.sh").chmod(0o755)

    def git(*args: str, cwd: Path = work) -> str:
        return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q", "-b", "main")
    git("-c", "user.email=t@example.invalid", "-c", "user.name=tool", "add", "tool.sh")
    git("-c", "user.email=t@example.invalid", "-c", "user.name=tool", "commit", "-q", "-m", "tool 1.0")
    bare = root / "git" / "tool.git"
    bare.parent.mkdir(parents=True)
    git("clone", "-q", "--bare", str(work), str(bare))
    git("update-server-info", cwd=bare)
    return git("rev-parse", "HEAD")


@pytest.fixture
def builder_stage_leftovers() -> Iterator[None]:
    """Removes what the multi-stage build's builder stage leaves in the engine: unlabelled, untagged
    images that drift does not record (only the corpus's own, told by their build steps)."""
    started = time.time()
    yield
    api = docker.APIClient(version="auto")
    for image in api.images(all=True):
        if (
            image["Created"] < started - 5
            or image.get("Labels")
            or image.get("RepoTags") not in (None, ["<none>:<none>"])
        ):
            continue
        # Other runs share the engine: an image listed a moment ago may be gone.
        with contextlib.suppress(docker.errors.APIError):
            steps = " ".join(str(step.get("CreatedBy", "")) for step in api.history(image["Id"])[:3])
            if "/src/hello.c" in steps:
                api.remove_image(image["Id"])


@pytest.mark.usefixtures("builder_stage_leftovers")
def test_every_corpus_image_rebuilds_reproducible_or_noisy(
    drift: Drift, make_repo: MakeRepo, upstream_server: UpstreamServer
) -> None:
    api = docker.APIClient(version="auto")
    for image in ("python:3.11-slim", "debian:bookworm"):
        api.inspect_image(image)  # provisioned by scripts/provision-base-images; missing is a failure
    repo = make_repo("corpus")
    for directory in NEEDS_CA_BUNDLE:
        # The machine's CA bundle, so npm and pip trust the registries through its network.
        shutil.copy(HOST_CA_BUNDLE, repo.path / directory / "host-ca.crt")
        repo.git("add", "-f", f"{directory}/host-ca.crt")
    repo.commit_all("the building machine's CA bundle")
    tool_commit = serve_tool_repository(upstream_server.root)
    for name, directory in CORPUS.items():
        options = ["--context", directory, "--network", "host"]
        if directory == "git-clone":
            options += [
                "--build-arg",
                f"TOOL_REPO={upstream_server.url}/git/tool.git",
                "--build-arg",
                f"TOOL_COMMIT={tool_commit}",
            ]
        drift.track(name, repo, *options)

    nights = []
    for night in (1, 2):
        started = time.monotonic()
        run = drift("run", *CORPUS, "--jobs", "2")
        nights.append(time.monotonic() - started)
        assert run.code == 0, f"night {night}:\n{run.stdout}\n{run.stderr}"

    verdicts = {}
    for name in CORPUS:
        build = drift.latest(name)
        verdicts[name] = build["verdict"]
        noise = build.get("ignored_findings", [])
        by_rule: dict[str, int] = {}
        for finding in noise:
            rule = finding["ignored_by"].split(":", 1)[0]
            by_rule[rule] = by_rule.get(rule, 0) + 1
        drifted = sorted(f"{f['kind']} {f['subject']} {f['change']}" for f in build["findings"])
        print(f"{name}: {build['verdict']}; noise {by_rule}; other findings {drifted}")
        # Noise is never blamed on the package manager that wrote it.
        assert all(finding["cause"] == "nondeterministic" for finding in noise), name
    print(f"nights took {nights[0]:.0f} s and {nights[1]:.0f} s")
    assert set(verdicts.values()) <= {"reproducible", "noisy"}, verdicts
