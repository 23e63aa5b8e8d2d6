"""drift.catalog.dpkg on real dpkg status files: debian:bookworm's, a trimmed host snapshot, distroless status.d."""

from __future__ import annotations

from pathlib import Path

import pytest

from drift.catalog.dpkg import DpkgCataloger
from drift.catalog.interface import CatalogContext, CatalogResult, Distro, Package

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "catalog" / "dpkg"
STATUS = "/var/lib/dpkg/status"
BOOKWORM = CatalogContext(distro=Distro(id="debian", version_id="12"))

# dpkg-query's ${db:Status-Abbrev} second letter: the package's files are on disk
# and configured (i), or only a trigger is pending (t, W).
INSTALLED_ABBREV_STATES = ("i", "t", "W")


def catalog(path: str, fixture: str, context: CatalogContext = BOOKWORM) -> CatalogResult:
    return DpkgCataloger().catalog(path, (FIXTURES / fixture).read_bytes(), context)


def by_name(result: CatalogResult) -> dict[str, Package]:
    return {package.name: package for package in result.packages}


def os_release_distro(path: Path) -> Distro:
    values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return Distro(id=values["ID"].strip('"'), version_id=values["VERSION_ID"].strip('"'))


@pytest.mark.parametrize(
    ("path", "claimed"),
    [
        ("/var/lib/dpkg/status", True),
        ("/var/lib/dpkg/status.d/libc6", True),
        ("/var/lib/dpkg/status.d/tzdata", True),
        ("/var/lib/dpkg/status.d/libc6.md5sums", False),
        ("/var/lib/dpkg/status-old", False),
        ("/var/lib/dpkg/available", False),
        ("/var/lib/dpkg/info/libc6.list", False),
        ("/var/lib/dpkg/status.d/nested/libc6", False),
        ("/srv/var/lib/dpkg/status", False),
        ("/var/lib/rpm/rpmdb.sqlite", False),
    ],
)
def test_claims_the_status_file_and_status_d_control_files(path: str, claimed: bool) -> None:
    assert DpkgCataloger().claims(path, 0o644, 1000) is claimed


def test_bookworm_status_agrees_with_dpkg_query_in_the_same_image() -> None:
    expected = {
        tuple(line.split(" ", 1)) for line in (FIXTURES / "bookworm" / "dpkg-query.txt").read_text().splitlines()
    }
    distro = os_release_distro(FIXTURES / "bookworm" / "os-release")

    result = catalog(STATUS, "bookworm/status", CatalogContext(distro=distro))

    assert result.warnings == ()
    assert len(result.packages) == len(expected) == 88
    assert {(p.name, p.version) for p in result.packages} == expected
    assert {p.ecosystem for p in result.packages} == {"deb"}
    assert {p.source for p in result.packages} == {STATUS}
    assert {p.arch for p in result.packages} == {"amd64", "all"}


def test_bookworm_packages_name_version_arch_and_purl() -> None:
    packages = by_name(catalog(STATUS, "bookworm/status"))

    assert packages["tzdata"] == Package(
        ecosystem="deb",
        name="tzdata",
        version="2026b-0+deb12u1",
        arch="all",
        purl="pkg:deb/debian/tzdata@2026b-0%2Bdeb12u1?arch=all&distro=debian-12",
        source=STATUS,
    )
    # Source differs from the package name: the upstream qualifier names it.
    assert packages["libc6"].purl == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u14?arch=amd64&distro=debian-12&upstream=glibc"
    # A binNMU ("Source: bash (5.2.15-2)"): the source version is kept, as syft does.
    assert packages["bash"].version == "5.2.15-2+b13"
    assert packages["bash"].purl == (
        "pkg:deb/debian/bash@5.2.15-2%2Bb13?arch=amd64&distro=debian-12&upstream=bash%405.2.15-2"
    )
    # An epoch stays in the version verbatim.
    assert packages["login"].version == "1:4.13+dfsg1-1+deb12u2"
    assert packages["login"].purl == (
        "pkg:deb/debian/login@1:4.13%2Bdfsg1-1%2Bdeb12u2?arch=amd64&distro=debian-12&upstream=shadow"
    )
    # No Source field: the source package is the binary package.
    assert packages["util-linux"].purl == "pkg:deb/debian/util-linux@2.38.1-5%2Bdeb12u3?arch=amd64&distro=debian-12"


def test_purl_namespace_and_distro_qualifier_follow_os_release() -> None:
    unknown = by_name(catalog(STATUS, "bookworm/status", CatalogContext()))
    ubuntu = by_name(catalog(STATUS, "bookworm/status", CatalogContext(distro=Distro("ubuntu", "22.04"))))
    sid = by_name(catalog(STATUS, "bookworm/status", CatalogContext(distro=Distro("debian", ""))))

    assert unknown["tzdata"].purl == "pkg:deb/debian/tzdata@2026b-0%2Bdeb12u1?arch=all"
    assert ubuntu["tzdata"].purl == "pkg:deb/ubuntu/tzdata@2026b-0%2Bdeb12u1?arch=all&distro=ubuntu-22.04"
    assert sid["tzdata"].purl == "pkg:deb/debian/tzdata@2026b-0%2Bdeb12u1?arch=all&distro=debian"


def test_host_snapshot_counts_installed_and_trigger_pending_packages_not_unpacked_ones() -> None:
    query = [line.split() for line in (FIXTURES / "host-trimmed" / "dpkg-query.txt").read_text().splitlines()]
    installed = {(name, version, arch) for name, version, arch, abbrev in query if abbrev[1] in INSTALLED_ABBREV_STATES}
    unpacked = {name for name, _version, _arch, abbrev in query if abbrev[1] == "U"}

    result = catalog(STATUS, "host-trimmed/status")

    assert result.warnings == ()
    assert {(p.name, p.version, p.arch) for p in result.packages} == installed
    assert len(result.packages) == 29
    assert len(unpacked) == 11
    assert unpacked.isdisjoint(by_name(result))
    # "install ok triggers-pending": installed, only a trigger has not run yet.
    assert {"dbus", "libc-bin", "man-db"} <= set(by_name(result))


def test_removed_held_and_failed_removal_stanzas() -> None:
    query = {
        line.split()[0]: line.split()[3]
        for line in (FIXTURES / "bookworm-selections" / "dpkg-query.txt").read_text().splitlines()
    }
    assert query == {"adduser": "rc", "base-files": "ii", "bash": "hi", "dpkg": "ii", "util-linux-extra": "ri"}

    result = catalog(STATUS, "bookworm-selections/status")

    assert result.warnings == ()
    # adduser ("deinstall ok config-files") left only its conffiles; a hold and a
    # removal that failed ("deinstall ok installed") leave the package installed.
    assert sorted(by_name(result)) == ["base-files", "bash", "dpkg", "util-linux-extra"]


def test_distroless_status_d_files_are_control_files_without_status() -> None:
    directory = FIXTURES / "distroless" / "status.d"
    cataloger = DpkgCataloger()
    packages: list[Package] = []
    for file in sorted(directory.iterdir()):
        path = f"/var/lib/dpkg/status.d/{file.name}"
        if not cataloger.claims(path, 0o644, file.stat().st_size):
            assert file.name.endswith(".md5sums")
            continue
        assert b"\nStatus:" not in file.read_bytes()
        result = cataloger.catalog(path, file.read_bytes(), BOOKWORM)
        assert result.warnings == ()
        assert [p.name for p in result.packages] == [file.name]
        packages.extend(result.packages)

    assert len(packages) == 5
    libssl = next(p for p in packages if p.name == "libssl3")
    assert libssl == Package(
        ecosystem="deb",
        name="libssl3",
        version="3.0.22-1~deb12u2",
        arch="amd64",
        purl="pkg:deb/debian/libssl3@3.0.22-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl",
        source="/var/lib/dpkg/status.d/libssl3",
    )


def test_a_status_d_file_with_several_stanzas() -> None:
    directory = FIXTURES / "distroless" / "status.d"
    content = (directory / "libssl3").read_bytes() + b"\n" + (directory / "netbase").read_bytes()

    result = DpkgCataloger().catalog("/var/lib/dpkg/status.d/combined", content, BOOKWORM)

    assert result.warnings == ()
    assert [(p.name, p.version, p.arch) for p in result.packages] == [
        ("libssl3", "3.0.22-1~deb12u2", "amd64"),
        ("netbase", "6.4", "all"),
    ]


def test_malformed_stanzas_are_warned_about_by_line_and_the_rest_cataloged() -> None:
    result = catalog(STATUS, "malformed/status")

    assert sorted(by_name(result)) == ["base-files", "gzip", "mawk", "sed"]
    assert all(warning.startswith(f"{STATUS}: ") for warning in result.warnings)
    expected = [
        "line 6: not a 'Field: value' line",
        "stanza at line 29 (package debconf): no Version field",
        "line 69: field 'Package' repeated in the stanza at line 49",
        "stanza at line 97 (package hostname): Version '3.23+nmu1 beta' is not a valid Debian version",
        "stanza at line 113 (package grep): Status 'install ok' is not 'want flag state'",
        "line 142: continuation line before any field",
        "line 199: not valid UTF-8",
    ]
    assert len(result.warnings) == len(expected)
    for text in expected:
        assert any(text in warning for warning in result.warnings), text
    # The stanza with an undecodable byte is kept, the byte replaced.
    assert by_name(result)["sed"].version == "4.9-1+deb12u1"


@pytest.mark.parametrize(
    ("content", "warned"),
    [
        (b"", False),
        (b"\n \n\t\n", False),
        (b"\x00\xff\xfe" * 500, True),
        (b"Package: lonely\n", True),
        (b": no field name\n", True),
        (b"Package:\nVersion: 1\n", True),
    ],
    ids=["empty", "blank", "binary", "no-version", "empty-field-name", "empty-package"],
)
def test_garbage_yields_warnings_not_exceptions(content: bytes, warned: bool) -> None:
    result = DpkgCataloger().catalog(STATUS, content, BOOKWORM)

    assert result.packages == ()
    assert bool(result.warnings) is warned
