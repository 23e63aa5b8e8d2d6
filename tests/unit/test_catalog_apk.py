"""drift.catalog.apk on apk installed databases from Alpine images (syft's fixtures) and broken ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from drift.catalog.apk import ApkCataloger
from drift.catalog.interface import CatalogContext, CatalogResult, Distro, Package

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "catalog" / "apk"
INSTALLED = "/lib/apk/db/installed"
ALPINE = CatalogContext(distro=Distro(id="alpine", version_id="3.16.2"))


def catalog(fixture: str, context: CatalogContext = ALPINE) -> CatalogResult:
    return ApkCataloger().catalog(INSTALLED, (FIXTURES / fixture / "installed").read_bytes(), context)


def by_name(result: CatalogResult) -> dict[str, Package]:
    return {package.name: package for package in result.packages}


@pytest.mark.parametrize(
    ("path", "claimed"),
    [
        ("/lib/apk/db/installed", True),
        ("/usr/lib/apk/db/installed", True),
        ("/lib/apk/db/lock", False),
        ("/lib/apk/db/scripts.tar", False),
        ("/lib/apk/db/triggers", False),
        ("/etc/apk/world", False),
        ("/var/lib/dpkg/status", False),
        ("/srv/lib/apk/db/installed", False),
    ],
)
def test_claims_the_installed_database_only(path: str, claimed: bool) -> None:
    assert ApkCataloger().claims(path, 0o644, 1000) is claimed


def test_alpine_316_base_image_database() -> None:
    result = catalog("alpine-3.16")

    assert result.warnings == ()
    assert [(p.name, p.version) for p in result.packages] == [
        ("alpine-baselayout-data", "3.2.0-r22"),
        ("musl", "1.2.3-r0"),
        ("busybox", "1.35.0-r17"),
        ("alpine-baselayout", "3.2.0-r22"),
        ("alpine-keys", "2.4-r1"),
        ("ca-certificates-bundle", "20220614-r0"),
        ("libcrypto1.1", "1.1.1q-r0"),
        ("libssl1.1", "1.1.1q-r0"),
        ("ssl_client", "1.35.0-r17"),
        ("zlib", "1.2.12-r3"),
        ("apk-tools", "2.12.9-r3"),
        ("scanelf", "1.3.4-r0"),
        ("musl-utils", "1.2.3-r0"),
        ("libc-utils", "0.7.2-r3"),
    ]
    assert {p.arch for p in result.packages} == {"x86_64"}
    assert {p.ecosystem for p in result.packages} == {"apk"}
    assert {p.source for p in result.packages} == {INSTALLED}
    packages = by_name(result)
    assert packages["musl"] == Package(
        ecosystem="apk",
        name="musl",
        version="1.2.3-r0",
        arch="x86_64",
        purl="pkg:apk/alpine/musl@1.2.3-r0?arch=x86_64&distro=alpine-3.16.2",
        source=INSTALLED,
    )
    # The origin (o:) is another package: syft's upstream qualifier.
    assert packages["libssl1.1"].purl == (
        "pkg:apk/alpine/libssl1.1@1.1.1q-r0?arch=x86_64&distro=alpine-3.16.2&upstream=openssl"
    )


def test_alpine_319_excerpt_without_checksum_lines() -> None:
    result = catalog("alpine-3.19-excerpt", CatalogContext(distro=Distro("alpine", "3.19.0")))

    assert result.warnings == ()
    assert [(p.name, p.version, p.arch) for p in result.packages] == [
        ("bash", "5.2.21-r0", "x86_64"),
        ("busybox-binsh", "1.36.1-r15", "x86_64"),
        ("musl", "1.2.4_git20230717-r4", "x86_64"),
        ("readline", "8.2.1-r2", "x86_64"),
    ]
    assert by_name(result)["busybox-binsh"].purl == (
        "pkg:apk/alpine/busybox-binsh@1.36.1-r15?arch=x86_64&distro=alpine-3.19.0&upstream=busybox"
    )


def test_single_record_without_final_newline() -> None:
    content = (FIXTURES / "single" / "installed").read_bytes()
    assert not content.endswith(b"\n")

    result = catalog("single")

    assert result.warnings == ()
    assert [(p.name, p.version, p.arch) for p in result.packages] == [("musl-utils", "1.1.24-r2", "x86_64")]


@pytest.mark.parametrize(
    ("distro", "purl"),
    [
        (Distro(), "pkg:apk/alpine/musl@1.2.3-r0?arch=x86_64"),
        (Distro("wolfi", "20230201"), "pkg:apk/wolfi/musl@1.2.3-r0?arch=x86_64&distro=wolfi-20230201"),
    ],
)
def test_purl_namespace_and_distro_qualifier_follow_os_release(distro: Distro, purl: str) -> None:
    assert by_name(catalog("alpine-3.16", CatalogContext(distro=distro)))["musl"].purl == purl


def test_corrupt_header_line_is_warned_about_and_the_record_after_it_cataloged() -> None:
    result = catalog("corrupt")

    assert [(p.name, p.version) for p in result.packages] == [("alpine-baselayout-data", "3.2.0-r22")]
    assert result.warnings == (f"{INSTALLED}: line 1: not an 'X:value' line: 'this is a corrupt db'; line ignored",)


def test_malformed_records_are_warned_about_by_line_and_the_rest_cataloged() -> None:
    result = catalog("malformed")

    assert [p.name for p in result.packages] == ["musl", "libc-utils", "busybox"]
    assert all(warning.startswith(f"{INSTALLED}: ") for warning in result.warnings)
    expected = [
        "record at line 23 (package zlib): no V: (version) line",
        "line 67: field P: repeated in the record at line 45",
        "record at line 101: no P: (package name) line",
        "line 141: not an 'X:value' line: 'garbage without a colon'",
    ]
    assert len(result.warnings) == len(expected)
    for text in expected:
        assert any(text in warning for warning in result.warnings), text


@pytest.mark.parametrize(
    ("content", "warned"),
    [
        (b"", False),
        (b"\n\n\n", False),
        (b"\x00\xff\xfe" * 500, True),
        (b"P:lonely\n", True),
        (b"V:1.0-r0\nA:x86_64\n", True),
    ],
    ids=["empty", "blank", "binary", "no-version", "no-name"],
)
def test_garbage_yields_warnings_not_exceptions(content: bytes, warned: bool) -> None:
    result = ApkCataloger().catalog(INSTALLED, content, ALPINE)

    assert result.packages == ()
    assert bool(result.warnings) is warned
