"""Debian packages: the dpkg status database (/var/lib/dpkg/status) and distroless status.d files.

A status file is a sequence of deb822 stanzas, one per package dpkg knows
about, including packages that are removed but keep their conffiles, or
half-unpacked. Distroless images have no status file: each package's control
file sits in /var/lib/dpkg/status.d/<name> (no Status field; the files are
installed by construction), beside <name>.md5sums, which holds no package.

Stanzas are split here (drift.catalog.records), not by debian.deb822, so a
warning can name the line it is about; each stanza's fields are then read with
debian.deb822.
"""

from __future__ import annotations

import re

from debian.deb822 import Deb822
from debian.debian_support import Version

from drift.catalog.interface import CatalogContext, Cataloger, CatalogResult, Package
from drift.catalog.records import Paragraph, catalog_paragraphs, distro_package

STATUS_PATH = "/var/lib/dpkg/status"
STATUS_DIR = "/var/lib/dpkg/status.d"

# The package's files are on disk in these states (dpkg(1) "Package states");
# "triggers-*" only wait for another package's trigger to run, and images are
# often built with triggers left pending. "unpacked", "half-configured",
# "half-installed" and "config-files" are not an installed package.
_INSTALLED_STATES = frozenset({"installed", "triggers-awaited", "triggers-pending"})

# deb822 field names: no whitespace or colon, and not starting with "#" or "-"
# (those would be comments and PGP armor).
_FIELD_LINE = re.compile(r"[^\s:#-][^\s:]*:")
# "Source: glibc" or, when the source version differs from the binary's, "Source: util-linux (2.38.1-5)".
_SOURCE_FIELD = re.compile(r"(?P<name>\S+)(?:\s+\((?P<version>[^)]*)\))?\s*")


class DpkgCataloger(Cataloger):
    """Installed Debian packages from /var/lib/dpkg/status and /var/lib/dpkg/status.d/*."""

    ecosystem = "deb"
    needs_distro = True  # the purl namespace and distro qualifier come from /etc/os-release

    def claims(self, path: str, mode: int, size: int) -> bool:
        if path == STATUS_PATH:
            return True
        directory, _, name = path.rpartition("/")
        return directory == STATUS_DIR and bool(name) and not name.endswith(".md5sums")

    def catalog(self, path: str, content: bytes, context: CatalogContext) -> CatalogResult:
        return catalog_paragraphs(
            path, content, lambda stanza, warnings: self._package(path, stanza, context, warnings)
        )

    def _package(self, path: str, stanza: Paragraph, context: CatalogContext, warnings: list[str]) -> Package | None:
        fields = _read_fields(path, stanza, warnings)
        if fields is None:
            return None
        where = f"{path}: stanza at line {stanza.first_line}"
        name = fields.get("Package", "").strip()
        if not name:
            warnings.append(f"{where}: no Package field; stanza skipped")
            return None
        where = f"{where} (package {name})"
        status = fields.get("Status")
        # Distroless status.d stanzas are control files: no Status, installed by construction.
        if status is not None:
            words = status.split()
            if len(words) != 3:
                warnings.append(f"{where}: Status {status.strip()!r} is not 'want flag state'; stanza skipped")
                return None
            _want, flag, state = words
            # Stanzas of removed or half-installed packages are dpkg's memory, not the image's content.
            if flag != "ok" or state not in _INSTALLED_STATES:
                return None
        version = fields.get("Version", "").strip()
        if not version:
            warnings.append(f"{where}: no Version field; stanza skipped")
            return None
        try:
            # Version ordering downstream (debian_support.Version) must not fail on what is stored.
            Version(version)
        except ValueError:
            warnings.append(f"{where}: Version {version!r} is not a valid Debian version; stanza skipped")
            return None
        arch = fields.get("Architecture", "").strip()
        upstream = _upstream(name, version, fields.get("Source", ""))
        return distro_package(self.ecosystem, path, name, version, arch, context.distro, "debian", upstream)


def _read_fields(path: str, stanza: Paragraph, warnings: list[str]) -> Deb822 | None:
    """The stanza's fields; lines that are no field are warned about and dropped, a repeated field voids the stanza.

    A repeated field almost always means two stanzas ran together (a lost
    blank line): which Package goes with which Version cannot be known.
    """
    kept: list[str] = []
    seen: set[str] = set()
    for number, line in stanza.lines:
        if line[0] in " \t":
            if not kept:
                warnings.append(f"{path}: line {number}: continuation line before any field; line ignored")
                continue
            kept.append(line)
            continue
        match = _FIELD_LINE.match(line)
        if match is None:
            warnings.append(f"{path}: line {number}: not a 'Field: value' line: {line[:60]!r}; line ignored")
            continue
        key = match.group()[:-1].lower()
        if key in seen:
            warnings.append(
                f"{path}: line {number}: field {match.group()[:-1]!r} repeated in the stanza at line "
                f"{stanza.first_line} (two stanzas run together?); stanza skipped"
            )
            return None
        seen.add(key)
        kept.append(line)
    if not kept:
        # Nothing but lines already warned about: no stanza to report missing fields of.
        return None
    return Deb822(kept)


def _upstream(name: str, version: str, source: str) -> str:
    """The purl "upstream" qualifier, as syft writes it: the source package, "@version" when that differs too."""
    match = _SOURCE_FIELD.fullmatch(source.strip())
    if match is None:
        return ""
    source_name = match.group("name")
    source_version = match.group("version") or ""
    if source_version and source_version != version:
        return f"{source_name}@{source_version}"
    if source_name != name:
        return source_name
    return ""
