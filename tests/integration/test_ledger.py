"""The fetch ledger end to end: drift's proxy around real builds on the real engine, on both builders."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import docker
import pytest
import upstream
from conftest import Drift, MakeRepo, UpstreamServer

pytestmark = pytest.mark.usefixtures("docker_engine")


def test_a_changed_latest_download_is_a_fetch_finding_with_both_hashes(
    drift: Drift, make_repo: MakeRepo, upstream_server: UpstreamServer
) -> None:
    old, new = b"tool 1.0\n", b"tool 1.1 (the upstream moved)\n"
    upstream.publish_file(upstream_server.root, "tool/latest.txt", old)
    url = f"{upstream_server.url}tool/latest.txt"
    repo = make_repo("latest-download")
    drift.track("download", repo, "--network", "host", "--builder", "legacy", "--build-arg", f"UPSTREAM_URL={url}")
    assert drift("run", "download").code == 0
    upstream.publish_file(upstream_server.root, "tool/latest.txt", new)
    run = drift("run", "download")
    assert run.code == 1, run.stdout

    build = drift.latest("download")
    assert build["verdict"] == "drifted"
    fetch = build["findings"][0]  # what changed outside comes first
    assert (fetch["kind"], fetch["subject"], fetch["change"], fetch["cause"]) == (
        "fetch",
        url,
        "modified",
        "network-fetch",
    )
    assert fetch["before"] == f"sha256:{hashlib.sha256(old).hexdigest()} ({len(old)} bytes)"
    assert fetch["after"] == f"sha256:{hashlib.sha256(new).hexdigest()} ({len(new)} bytes)"
    assert fetch["instruction"].startswith("RUN mkdir -p /opt/tool") and "wget" in fetch["instruction"]
    assert fetch["layer"] == 1 and fetch["risk"] == "DRIFT303"
    assert f"fetch {url} modified" in run.stdout.splitlines()[1]

    shown = drift("show", str(build["build"]), "--format", "json").json()
    assert shown["ledger"] == "on"
    [served] = shown["fetches"]
    assert served["sha256"] == hashlib.sha256(new).hexdigest()
    assert (served["url"], served["host"], served["method"], served["status"], served["bytes"]) == (
        url,
        "127.0.0.1",
        "GET",
        200,
        len(new),
    )
    assert served["layer"] == 1 and served["unverified"] is True
    table = drift("show", str(build["build"])).stdout
    assert "external inputs (1 host(s), 1 fetch(es), 1 unverified):" in table
    report = drift("report", "--format", "json").json()["targets"][0]
    assert (report["external_hosts"], report["unverified_fetches"]) == (1, 1)
    pins = drift("show", str(build["build"]), "--suggest-pins").stdout
    assert hashlib.sha256(old).hexdigest() in pins and "sha256sum -c" in pins


def test_apt_ledger_lists_each_deb_and_names_the_new_one_added(
    drift: Drift, make_repo: MakeRepo, tmp_path: Path
) -> None:
    apt_repo = tmp_path / "apt"
    first = upstream.publish_deb(apt_repo, "hello-drift", "1.0")
    with upstream.serve(apt_repo, 0) as server:
        repo = make_repo("debian-apt")
        drift.track("apt", repo, "--network", "host", "--build-arg", f"APT_SOURCE=deb [trusted=yes] {server.url} ./")
        assert drift("run", "apt").code == 0
        baseline = drift.latest("apt")
        fetches = drift("show", str(baseline["build"]), "--format", "json").json()["fetches"]
        debs = {f["url"]: f for f in fetches if f["url"].endswith(".deb")}
        assert debs.keys() == {f"{server.url}./{first.name}"}  # a flat repository's Filename: ./NAME
        [deb] = debs.values()
        assert deb["sha256"] == hashlib.sha256(first.read_bytes()).hexdigest()
        assert "apt-get install" in deb["instruction"] and deb["layer"] == 1

        second = upstream.publish_deb(apt_repo, "hello-drift", "1.1")
        assert drift("run", "apt").code == 1
    build = drift.latest("apt")
    changes = {(f["subject"].rpartition("/")[2], f["change"]) for f in build["findings"] if f["kind"] == "fetch"}
    assert {(second.name, "added"), (first.name, "removed")} <= changes
    assert build["findings"][0]["kind"] == "fetch"


@pytest.mark.parametrize("builder", ["legacy", "buildkit"])
def test_a_reproducible_build_stays_reproducible_with_no_proxy_in_its_image(
    drift: Drift, make_repo: MakeRepo, builder: str
) -> None:
    repo = make_repo("reproducible")
    drift.track("repro", repo, "--builder", builder)
    assert drift("run", "repro").code == 0
    run = drift("run", "repro")
    assert run.code == 0 and "repro: reproducible" in run.stdout, run.stdout

    build = drift.latest("repro")
    shown = drift("show", str(build["build"]), "--format", "json").json()
    assert (shown["ledger"], shown["fetches"]) == ("on", [])  # the proxy ran; nothing went through it
    api = docker.APIClient(version="auto")
    inspected = json.dumps(api.inspect_image(build["image_id"])).lower()
    history = json.dumps(api.history(build["image_id"])).lower()
    for text in (inspected, history):
        assert "proxy" not in text


def _proxy_env(image_id: str) -> str:
    """/proxy-env of a built image, read through a container (never pulling: the image is local or the test fails)."""
    api = docker.APIClient(version="auto")
    container = api.create_container(image_id, command=["cat", "/proxy-env"], network_disabled=True)
    try:
        api.start(container)
        api.wait(container, timeout=60)
        return str(api.logs(container, stderr=False).decode())
    finally:
        api.remove_container(container, force=True)


def test_ledger_off_builds_with_no_proxy_args(drift: Drift, make_repo: MakeRepo) -> None:
    repo = make_repo("reproducible")
    (repo.path / "Dockerfile").write_text("FROM busybox:latest\nRUN (env | grep -i _proxy= || true) > /proxy-env\n")
    repo.commit_all("a build that keeps what proxy it was given")
    drift.track("quiet", repo, "--network", "host", "--builder", "legacy")
    assert drift("run", "quiet").code == 0
    seen_on = _proxy_env(drift.latest("quiet")["image_id"])
    assert sorted(line.partition("=")[0] for line in seen_on.split()) == sorted(
        ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"]
    )

    drift.track("quiet", repo, "--network", "host", "--builder", "legacy", "--ledger", "off")
    drift("run", "quiet")
    off = drift.latest("quiet")
    assert _proxy_env(off["image_id"]) == ""
    shown = drift("show", str(off["build"]))
    assert "external inputs: not recorded (fetch ledger off)" in shown.stdout
    assert drift("show", str(off["build"]), "--format", "json").json()["ledger"] == "off"
