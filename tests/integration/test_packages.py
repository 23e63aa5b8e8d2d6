"""Package manifests end to end: an unpinned apt or pip install drifts as a package finding."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import upstream
from conftest import Drift, MakeRepo
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

pytestmark = pytest.mark.usefixtures("docker_engine")


def test_apt_upgrade_is_a_package_finding_and_the_manifest_matches_dpkg(
    drift: Drift, make_repo: MakeRepo, tmp_path: Path
) -> None:
    apt_repo = tmp_path / "apt"
    upstream.publish_deb(apt_repo, "hello-drift", "1.0")
    with upstream.serve(apt_repo, 0) as server:
        repo = make_repo("debian-apt")
        drift.track("apt", repo, "--network", "host", "--build-arg", f"APT_SOURCE=deb [trusted=yes] {server.url}/ ./")
        assert drift("run", "apt").code == 0
        first = drift.latest("apt")

        # The manifest is the one dpkg itself reports inside the built image.
        packages = drift("packages", str(first["build"]), "--format", "json").json()["packages"]
        ours = sorted(f"{p['name']} {p['version']}" for p in packages if p["ecosystem"] == "deb")
        dpkg = subprocess.run(
            ["docker", "run", "--rm", first["image_id"], "dpkg-query", "-W", "-f", "${Package} ${Version}\\n"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split("\n")
        assert ours == sorted(line for line in dpkg if line)
        [hello] = [p for p in packages if p["name"] == "hello-drift"]
        assert hello["version"] == "1.0" and hello["layer"] == 1
        assert hello["purl"].startswith("pkg:deb/debian/hello-drift@1.0")
        base = [p for p in packages if p["name"] == "libc6"]
        assert base and base[0]["layer"] == 0  # came with the base image

        upstream.publish_deb(apt_repo, "hello-drift", "1.1")
        run = drift("run", "apt")
    assert run.code == 1, run.stdout
    build = drift.latest("apt")
    assert build["verdict"] == "drifted"
    [finding] = [f for f in build["findings"] if f["kind"] == "package"]
    assert finding["subject"] == "hello-drift" and finding["ecosystem"] == "deb"
    assert (finding["before"], finding["after"], finding["change"]) == ("1.0", "1.1", "upgraded")
    assert finding["layer"] == 1 and "apt-get install" in finding["instruction"]
    assert finding["cause"] == "apt"
    # The report leads with the package, the files it changed come after it.
    assert run.stdout.index("hello-drift") < run.stdout.index("/usr/share/hello-drift")
    assert "package hello-drift upgraded: 1.0 -> 1.1" in run.stdout

    # The last good version as a pin. The sample names its package through an
    # ARG, so the pin is advice rather than an edit of the RUN line.
    pins = drift("show", str(build["build"]), "--suggest-pins")
    assert pins.code == 0, pins.stderr
    assert "DRIFT101, hello-drift" in pins.stdout and "hello-drift=1.0" in pins.stdout

    sbom = drift("sbom", str(build["build"]), "--format", "cyclonedx")
    assert sbom.code == 0
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(sbom.stdout) is None
    assert '"name": "hello-drift"' in sbom.stdout and '"version": "1.1"' in sbom.stdout


def test_pip_upgrade_is_a_package_finding(drift: Drift, make_repo: MakeRepo, tmp_path: Path) -> None:
    index = tmp_path / "index"
    upstream.publish_wheel(index, "drift_sample_lib", "1.0")
    with upstream.serve(index, 0) as server:
        repo = make_repo("python-pip")
        drift.track("pip", repo, "--network", "host", "--build-arg", f"PIP_INDEX_URL={server.url}/simple/")
        assert drift("run", "pip").code == 0
        upstream.publish_wheel(index, "drift_sample_lib", "1.1")
        run = drift("run", "pip")
    assert run.code == 1, run.stdout
    build = drift.latest("pip")
    [finding] = [f for f in build["findings"] if f["kind"] == "package"]
    assert (finding["subject"], finding["ecosystem"]) == ("drift_sample_lib", "pypi")
    assert (finding["before"], finding["after"], finding["change"]) == ("1.0", "1.1", "upgraded")
    assert finding["cause"] == "pip" and "pip install" in finding["instruction"]
    # Debian's own Python packages in the base are cataloged too.
    packages = drift("packages", str(build["build"]), "--format", "json").json()["packages"]
    assert any(p["ecosystem"] == "pypi" and p["name"].lower() == "pip" for p in packages)
