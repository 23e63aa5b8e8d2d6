"""What several catalogers share, as syft's generic cataloger: reading a status file into paragraphs, a
distribution package's purl, and the one package a manifest file describes.

apk's installed database and dpkg's status file are both text of blank-line
separated paragraphs, one per package; each cataloger reads the fields of a
paragraph its own way. npm's package.json and Python's METADATA each describe
one package with a name and a version and nothing else a purl needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from drift.catalog.interface import CatalogResult, Distro, Package
from drift.catalog.purl import distro_qualifier, make_purl


@dataclass(frozen=True, slots=True)
class Paragraph:
    """One paragraph's lines, with their 1-based line numbers in the file."""

    first_line: int
    lines: tuple[tuple[int, str], ...]


def decode_text(path: str, content: bytes, warnings: list[str]) -> str:
    """The file as UTF-8 text; anything else is reported and replaced rather than guessed."""
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as error:
        line = content.count(b"\n", 0, error.start) + 1
        warnings.append(f"{path}: line {line}: not valid UTF-8; undecodable bytes replaced")
        return content.decode("utf-8", errors="replace")


def paragraphs(text: str) -> Iterator[Paragraph]:
    """Blank-line separated paragraphs, as deb822 defines them (a whitespace-only line separates too)."""
    lines: list[tuple[int, str]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if line.strip():
            lines.append((number, line))
        elif lines:
            yield Paragraph(lines[0][0], tuple(lines))
            lines = []
    if lines:
        yield Paragraph(lines[0][0], tuple(lines))


def catalog_paragraphs(
    path: str, content: bytes, package: Callable[[Paragraph, list[str]], Package | None]
) -> CatalogResult:
    """The packages of a paragraph-per-package file: `package` reads one paragraph, adding to the warnings."""
    warnings: list[str] = []
    text = decode_text(path, content, warnings)
    packages: list[Package] = []
    for paragraph in paragraphs(text):
        found = package(paragraph, warnings)
        if found is not None:
            packages.append(found)
    return CatalogResult(packages=tuple(packages), warnings=tuple(warnings))


def distro_package(
    ecosystem: str, path: str, name: str, version: str, arch: str, distro: Distro, default_namespace: str, upstream: str
) -> Package:
    """A package of a distribution's database, its purl as syft writes it (the purl type is the ecosystem).

    The namespace is the distro's ID (`default_namespace` when /etc/os-release
    is unknown); the qualifiers are arch, distro ("debian-12") and upstream (the
    source package, when it is not the package itself).
    """
    qualifiers = {"arch": arch, "distro": distro_qualifier(distro), "upstream": upstream}
    purl = make_purl(ecosystem, distro.id or default_namespace, name, version, qualifiers)
    return Package(ecosystem=ecosystem, name=name, version=version, arch=arch, purl=purl, source=path)


def manifest_package(
    ecosystem: str, path: str, name: str, version: str, purl_namespace: str | None, purl_name: str
) -> CatalogResult:
    """The one package a manifest describes (no architecture, no qualifiers); the purl type is the ecosystem.

    A name or version no purl can hold yields a warning instead.
    """
    try:
        purl = make_purl(ecosystem, purl_namespace, purl_name, version)
    except ValueError as exc:
        return CatalogResult(warnings=(f"{path}: cannot form a purl for {name} {version}: {exc}",))
    return CatalogResult(
        packages=(Package(ecosystem=ecosystem, name=name, version=version, arch="", purl=purl, source=path),)
    )
