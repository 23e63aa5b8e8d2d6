"""Package-level findings and version ordering per ecosystem; SBOMs that validate."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from drift.compare.packages import compare_packages
from drift.compare.versions import compare_versions, direction
from drift.report.sbom import cyclonedx_json, spdx_json
from drift.values import BuildSummary, LayerRecord, Package, Verdict


@pytest.mark.parametrize(
    ("ecosystem", "before", "after", "expected"),
    [
        ("deb", "7.88.1-10+deb12u5", "7.88.1-10+deb12u8", "upgraded"),
        ("deb", "1:1.0-1", "2.0-1", "downgraded"),  # the epoch wins
        ("deb", "1.0~rc1-1", "1.0-1", "upgraded"),  # ~ sorts before everything
        ("pypi", "2.31.0", "2.32.0rc1", "upgraded"),
        ("pypi", "1.10", "1.9", "downgraded"),
        ("apk", "8.5.0-r0", "8.5.0-r10", "upgraded"),
        ("rpm", "1:1.0-1", "2.0-1", "downgraded"),
        ("npm", "1.10.0", "1.9.9", "downgraded"),
        ("golang", "v1.2.3", "v1.10.0", "upgraded"),
        ("unknown-ecosystem", "1", "2", "changed"),
    ],
)
def test_direction_follows_each_ecosystems_rules(ecosystem: str, before: str, after: str, expected: str) -> None:
    assert direction(ecosystem, before, after) == expected


def test_packaging_would_misread_a_debian_version_so_it_is_not_used_for_deb() -> None:
    # packaging reads "10+deb12u8" as a local version; python-debian orders it right.
    assert compare_versions("deb", "7.88.1-10+deb12u8", "7.88.1-10+deb12u10") == 1
    assert compare_versions("pypi", "not a version", "1.0") is None


def pkg(name: str, version: str, layer: int, ecosystem: str = "deb") -> Package:
    return Package(
        ecosystem, name, version, "amd64", f"pkg:{ecosystem}/debian/{name}@{version}", "/var/lib/dpkg/status", layer
    )


LAYERS = (
    LayerRecord(0, "sha256:" + "0" * 64, 0, "Imported from -", "sha256:a", ()),
    LayerRecord(1, "sha256:" + "1" * 64, 0, "RUN apt-get update && apt-get install -y curl", "sha256:b", ()),
)


def test_package_findings_carry_versions_direction_layer_and_cause() -> None:
    before = [pkg("curl", "7.88.1-10+deb12u5", 1), pkg("libc6", "2.36-9", 0), pkg("gone", "1.0", 1)]
    after = [pkg("curl", "7.88.1-10+deb12u8", 1), pkg("libc6", "2.36-9", 0), pkg("new", "2.0", 1)]
    findings = {f.subject: f for f in compare_packages(before, after, LAYERS, LAYERS)}
    assert set(findings) == {"curl", "gone", "new"}
    curl = findings["curl"]
    assert (curl.kind, curl.change, curl.before, curl.after) == (
        "package",
        "upgraded",
        "7.88.1-10+deb12u5",
        "7.88.1-10+deb12u8",
    )
    assert (curl.layer, curl.instruction, curl.cause, curl.ecosystem) == (1, LAYERS[1].instruction, "apt", "deb")
    assert findings["gone"].change == "removed" and findings["new"].change == "added"


def summary() -> BuildSummary:
    now = datetime(2026, 11, 27, tzinfo=UTC)
    return BuildSummary(
        7,
        "web",
        "sha256:f",
        "a" * 40,
        "succeeded",
        Verdict.REPRODUCIBLE,
        now,
        now,
        "sha256:" + "e" * 64,
        None,
        1,
        None,
        None,
        None,
        (),
        False,
        False,
    )


def test_cyclonedx_sbom_validates_against_the_schema() -> None:
    packages = [pkg("curl", "7.88.1-10+deb12u8", 1), pkg("requests", "2.31.0", 2, "pypi")]
    text = cyclonedx_json(summary(), packages)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    document = json.loads(text)
    assert document["metadata"]["component"]["type"] == "container"
    assert {(c["name"], c["version"]) for c in document["components"]} == {(p.name, p.version) for p in packages}
    assert all(c["purl"].startswith(("pkg:deb/", "pkg:pypi/")) for c in document["components"])


def test_spdx_sbom_lists_every_package_with_its_purl() -> None:
    packages = [pkg("curl", "7.88.1-10+deb12u8", 1)]
    document = json.loads(spdx_json(summary(), packages))
    assert document["spdxVersion"] == "SPDX-2.3"
    [curl] = [p for p in document["packages"] if p["name"] == "curl"]
    assert curl["versionInfo"] == "7.88.1-10+deb12u8"
    assert curl["externalRefs"][0]["referenceLocator"] == packages[0].purl


def python_pkg(name: str, version: str, site: str = "/usr/local/lib/python3.11/site-packages") -> Package:
    dist = name.replace("-", "_")
    return Package(
        "pypi",
        name,
        version,
        "",
        f"pkg:pypi/{name.lower()}@{version}",
        f"{site}/{dist}-{version}.dist-info/METADATA",
        1,
    )


def test_a_respelled_python_distribution_is_the_same_package_under_its_new_name() -> None:
    before = [python_pkg("typing_extensions", "4.12.2"), python_pkg("Django", "5.0")]
    respelled = [python_pkg("typing-extensions", "4.12.2"), python_pkg("django", "5.0")]
    assert list(compare_packages(before, respelled, LAYERS, LAYERS)) == []

    upgraded = [python_pkg("typing-extensions", "4.13.0"), python_pkg("django", "5.0")]
    (finding,) = compare_packages(before, upgraded, LAYERS, LAYERS)
    assert (finding.subject, finding.change, finding.before, finding.after) == (
        "typing-extensions",
        "upgraded",
        "4.12.2",
        "4.13.0",
    )


def test_npm_names_match_case_insensitively_and_deb_names_per_architecture() -> None:
    def npm(name: str) -> Package:
        return Package("npm", name, "1.0.0", "", f"pkg:npm/{name}@1.0.0", f"/app/node_modules/{name}/package.json", 1)

    assert (
        list(
            compare_packages(
                [npm("JSONStream"), npm("@Types/node")], [npm("jsonstream"), npm("@types/node")], LAYERS, LAYERS
            )
        )
        == []
    )
    amd64 = pkg("libc6", "2.36-9", 0)
    i386 = Package("deb", "libc6", "2.36-9", "i386", "pkg:deb/debian/libc6@2.36-9?arch=i386", "/var/lib/dpkg/status", 0)
    assert [(f.subject, f.change) for f in compare_packages([amd64], [amd64, i386], LAYERS, LAYERS)] == [
        ("libc6", "added")
    ]
