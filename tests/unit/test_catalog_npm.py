"""drift.catalog.npm on real package.json files from npm installs."""

from __future__ import annotations

from pathlib import Path

import pytest

from drift.catalog.interface import CatalogContext, Package
from drift.catalog.npm import NpmCataloger

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "catalog" / "npm"
GLOBAL = "/usr/lib/node_modules"


def catalog(fixture: str, path: str) -> tuple[tuple[Package, ...], tuple[str, ...]]:
    result = NpmCataloger().catalog(path, (FIXTURES / fixture).read_bytes(), CatalogContext())
    return result.packages, result.warnings


@pytest.mark.parametrize(
    ("path", "claimed"),
    [
        ("/app/node_modules/left-pad/package.json", True),
        ("/app/node_modules/@types/node/package.json", True),
        (f"{GLOBAL}/npm/package.json", True),
        (f"{GLOBAL}/npm/node_modules/minipass-pipeline/node_modules/yallist/package.json", True),
        ("/app/node_modules/.pnpm/left-pad@1.3.0/node_modules/left-pad/package.json", True),
        ("node_modules/left-pad/package.json", True),
        # files inside a package, not a package's root
        (f"{GLOBAL}/npm/node_modules/glob/dist/esm/package.json", False),
        ("/app/node_modules/left-pad/test/package.json", False),
        ("/app/node_modules/@types/node/ts4.8/package.json", False),
        # not a package directory
        ("/app/node_modules/@types/package.json", False),
        ("/app/node_modules/package.json", False),
        ("/app/node_modules/.cache/package.json", False),
        ("/app/node_modules/.package-lock.json", False),
        # an application's own manifest is source, not an installed package
        ("/app/package.json", False),
        ("/usr/src/app/packages/web/package.json", False),
        ("/app/node_modules/left-pad/package.json.bak", False),
        ("/app/node_modules/left-pad/index.js", False),
    ],
)
def test_claims_package_roots_under_node_modules(path: str, claimed: bool) -> None:
    assert NpmCataloger().claims(path, 0o644, 1024) is claimed


@pytest.mark.parametrize(
    ("fixture", "path", "name", "version", "purl"),
    [
        ("left-pad-1.3.0.package.json", "/app/node_modules/left-pad/package.json", "left-pad", "1.3.0",
         "pkg:npm/left-pad@1.3.0"),
        ("types-node-20.11.30.package.json", "/app/node_modules/@types/node/package.json", "@types/node",
         "20.11.30", "pkg:npm/%40types/node@20.11.30"),
        ("undici-types-5.26.5.package.json", "/app/node_modules/undici-types/package.json", "undici-types",
         "5.26.5", "pkg:npm/undici-types@5.26.5"),
        ("npm-11.19.1.package.json", f"{GLOBAL}/npm/package.json", "npm", "11.19.1", "pkg:npm/npm@11.19.1"),
        ("yallist-4.0.0.package.json", f"{GLOBAL}/npm/node_modules/minipass-pipeline/node_modules/yallist/package.json",
         "yallist", "4.0.0", "pkg:npm/yallist@4.0.0"),
    ],
)  # fmt: skip
def test_catalog_reads_name_and_version(fixture: str, path: str, name: str, version: str, purl: str) -> None:
    packages, warnings = catalog(fixture, path)

    assert packages == (Package(ecosystem="npm", name=name, version=version, arch="", purl=purl, source=path),)
    assert warnings == ()


def test_name_comes_from_the_package_json_not_the_directory() -> None:
    # `npm install pad@npm:left-pad@1.3.0` installs left-pad under node_modules/pad.
    path = "/app/node_modules/pad/package.json"

    packages, _ = catalog("left-pad-1.3.0.package.json", path)

    assert [(p.name, p.purl) for p in packages] == [("left-pad", "pkg:npm/left-pad@1.3.0")]


def test_truncated_json_is_a_warning() -> None:
    path = "/app/node_modules/left-pad/package.json"

    packages, warnings = catalog("truncated.package.json", path)

    assert packages == ()
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{path}: not valid JSON (")


def test_missing_version_is_a_warning() -> None:
    path = "/app/node_modules/left-pad/package.json"

    packages, warnings = catalog("no-version.package.json", path)

    assert packages == ()
    assert warnings == (f'{path}: no "version" string in package.json',)


def test_folder_package_json_without_name_or_version_is_a_warning() -> None:
    # What claiming every package.json would have read: glob's {"type": "module"} marker.
    path = f"{GLOBAL}/npm/node_modules/glob/dist/esm/package.json"

    packages, warnings = catalog("glob-dist-esm.package.json", path)

    assert packages == ()
    assert warnings == (f'{path}: no "name" string and no "version" string in package.json',)


@pytest.mark.parametrize(
    ("content", "warning"),
    [
        (b"[]", "package.json is not a JSON object"),
        (b'{"name": "@scope", "version": "1.0.0"}', "malformed scoped package name '@scope'"),
        (b'{"name": "x", "version": 1}', 'no "version" string in package.json'),
        (b'{"name": "\xc3\x28", "version": "1.0.0"}', "not valid JSON"),
    ],
)
def test_malformed_documents_are_warnings(content: bytes, warning: str) -> None:
    path = "/app/node_modules/x/package.json"

    result = NpmCataloger().catalog(path, content, CatalogContext())

    assert result.packages == ()
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith(f"{path}: {warning}")
