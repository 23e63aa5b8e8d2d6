"""drift.catalog.python on real METADATA / PKG-INFO files copied from installed distributions."""

from __future__ import annotations

from pathlib import Path

import pytest

from drift.catalog.interface import CatalogContext, Package
from drift.catalog.python import PythonCataloger, normalize_name

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "catalog" / "python"
SITE = "/usr/local/lib/python3.11/site-packages"
DIST = "/usr/lib/python3/dist-packages"


def catalog(fixture: str, path: str) -> tuple[tuple[Package, ...], tuple[str, ...]]:
    result = PythonCataloger().catalog(path, (FIXTURES / fixture).read_bytes(), CatalogContext())
    return result.packages, result.warnings


@pytest.mark.parametrize(
    ("path", "claimed"),
    [
        (f"{SITE}/requests-2.34.2.dist-info/METADATA", True),
        ("/opt/venv/lib/python3.12/site-packages/packaging-26.2.dist-info/METADATA", True),
        (f"{DIST}/six-1.16.0.egg-info/PKG-INFO", True),
        (f"{DIST}/crit-3.17.1-py3.11.egg-info", True),  # distutils' single-file egg-info
        ("/root/.local/lib/python3.11/site-packages/typing_extensions-4.15.0.dist-info/METADATA", True),
        (f"{SITE}/requests-2.34.2.dist-info/RECORD", False),
        (f"{SITE}/requests-2.34.2.dist-info/WHEEL", False),
        (f"{DIST}/six-1.16.0.egg-info/top_level.txt", False),
        (f"{DIST}/six.py", False),
        ("/src/mypkg-1.0/PKG-INFO", False),  # an unpacked sdist, not an installed distribution
        ("/app/METADATA", False),
        (f"{SITE}/requests-2.34.2.dist-info/METADATA.orig", False),
    ],
)
def test_claims_installed_distribution_metadata_only(path: str, claimed: bool) -> None:
    assert PythonCataloger().claims(path, 0o644, 4096) is claimed


@pytest.mark.parametrize(
    ("fixture", "path", "name", "version", "purl"),
    [
        # pip-installed wheels (metadata 2.1 and 2.4)
        ("requests-2.34.2.METADATA", f"{SITE}/requests-2.34.2.dist-info/METADATA", "requests", "2.34.2",
         "pkg:pypi/requests@2.34.2"),
        ("packaging-26.2.METADATA", f"{SITE}/packaging-26.2.dist-info/METADATA", "packaging", "26.2",
         "pkg:pypi/packaging@26.2"),
        ("typing_extensions-4.15.0.METADATA", f"{SITE}/typing_extensions-4.15.0.dist-info/METADATA",
         "typing_extensions", "4.15.0", "pkg:pypi/typing-extensions@4.15.0"),
        # Debian python3-* packages: a dist-info, egg-info directories, a single-file egg-info
        ("PyYAML-6.0.METADATA", f"{DIST}/PyYAML-6.0.dist-info/METADATA", "PyYAML", "6.0", "pkg:pypi/pyyaml@6.0"),
        ("six-1.16.0.PKG-INFO", f"{DIST}/six-1.16.0.egg-info/PKG-INFO", "six", "1.16.0", "pkg:pypi/six@1.16.0"),
        ("lazr.restfulclient-0.14.5.PKG-INFO", f"{DIST}/lazr.restfulclient-0.14.5.egg-info/PKG-INFO",
         "lazr.restfulclient", "0.14.5", "pkg:pypi/lazr-restfulclient@0.14.5"),
        ("crit-3.17.1-py3.11.egg-info-file", f"{DIST}/crit-3.17.1-py3.11.egg-info", "crit", "3.17.1",
         "pkg:pypi/crit@3.17.1"),
    ],
)  # fmt: skip
def test_catalog_reads_name_and_version(fixture: str, path: str, name: str, version: str, purl: str) -> None:
    packages, warnings = catalog(fixture, path)

    assert packages == (Package(ecosystem="pypi", name=name, version=version, arch="", purl=purl, source=path),)
    assert warnings == ()


@pytest.mark.parametrize(
    ("name", "normalized"),
    [("PyYAML", "pyyaml"), ("typing_extensions", "typing-extensions"), ("lazr.restfulclient", "lazr-restfulclient"),
     ("zope.interface", "zope-interface"), ("Foo__Bar-.baz", "foo-bar-baz")],
)  # fmt: skip
def test_purl_names_are_pep503_normalized(name: str, normalized: str) -> None:
    assert normalize_name(name) == normalized


def test_metadata_without_version_is_a_warning() -> None:
    path = f"{SITE}/six-1.17.0.dist-info/METADATA"

    packages, warnings = catalog("no-version.METADATA", path)

    assert packages == ()
    assert warnings == (f"{path}: no Version header in Python package metadata",)


def test_binary_content_is_a_warning() -> None:
    path = f"{SITE}/broken-1.0.dist-info/METADATA"

    packages, warnings = catalog("binary.METADATA", path)

    assert packages == ()
    assert warnings == (f"{path}: binary content, not Python package metadata",)


def test_metadata_that_is_not_utf8_is_a_warning() -> None:
    # Core metadata is UTF-8; a Latin-1 byte in the Name means a damaged file, not a name to guess.
    content = (FIXTURES / "six-1.16.0.PKG-INFO").read_bytes().replace(b"Name: six", b"Name: s\xefx")
    path = f"{DIST}/six-1.16.0.egg-info/PKG-INFO"

    result = PythonCataloger().catalog(path, content, CatalogContext())

    assert result.packages == ()
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith(f"{path}: not UTF-8")


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.iterdir() if p.name != "README.md"))
def test_truncated_files_never_raise(fixture: str) -> None:
    content = (FIXTURES / fixture).read_bytes()
    for cut in range(0, len(content), max(1, len(content) // 50)):
        result = PythonCataloger().catalog("/x.dist-info/METADATA", content[:cut], CatalogContext())
        assert len(result.packages) + len(result.warnings) == 1
