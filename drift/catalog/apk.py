"""Alpine packages: apk's installed database (/lib/apk/db/installed).

The database is a text file of records separated by blank lines, one record
per installed package, one "X:value" line per field (the letters of the
APKINDEX format, https://wiki.alpinelinux.org/wiki/Apk_spec): P name,
V version, A architecture, o origin (source) package, and file lines
(F, R, a, M, Z) that may repeat. Every record in it is an installed package.
"""

from __future__ import annotations

from drift.catalog.interface import CatalogContext, Cataloger, CatalogResult, Package
from drift.catalog.records import Paragraph, catalog_paragraphs, distro_package

INSTALLED_PATHS = frozenset(
    {
        "/lib/apk/db/installed",
        # Where the same file lands when /lib is a symlink to usr/lib (a usr-merged root).
        "/usr/lib/apk/db/installed",
    }
)

# Package-level fields: once per record. A second P: means two records ran together.
_SINGLE_FIELDS = frozenset("PVAo")


class ApkCataloger(Cataloger):
    """Installed Alpine (and Wolfi, Chainguard) packages from apk's installed database."""

    ecosystem = "apk"
    needs_distro = True  # the purl namespace and distro qualifier come from /etc/os-release

    def claims(self, path: str, mode: int, size: int) -> bool:
        return path in INSTALLED_PATHS

    def catalog(self, path: str, content: bytes, context: CatalogContext) -> CatalogResult:
        return catalog_paragraphs(
            path, content, lambda record, warnings: self._package(path, record, context, warnings)
        )

    def _package(
        self,
        path: str,
        record: Paragraph,
        context: CatalogContext,
        warnings: list[str],
    ) -> Package | None:
        first_line = record.first_line
        fields: dict[str, str] = {}
        field_lines = 0
        for number, line in record.lines:
            key, colon, value = line.partition(":")
            if not colon or len(key) != 1:
                warnings.append(f"{path}: line {number}: not an 'X:value' line: {line[:60]!r}; line ignored")
                continue
            field_lines += 1
            if key not in _SINGLE_FIELDS:
                continue
            if key in fields:
                warnings.append(
                    f"{path}: line {number}: field {key}: repeated in the record at line {first_line} "
                    "(two records run together?); record skipped"
                )
                return None
            fields[key] = value.strip()
        if not field_lines:
            # Nothing but junk lines, each already warned about: no record to report missing fields of.
            return None
        name = fields.get("P", "")
        version = fields.get("V", "")
        if not name:
            warnings.append(f"{path}: record at line {first_line}: no P: (package name) line; record skipped")
            return None
        if not version:
            warnings.append(
                f"{path}: record at line {first_line} (package {name}): no V: (version) line; record skipped"
            )
            return None
        arch = fields.get("A", "")
        origin = fields.get("o", "")
        # syft's convention: the origin (source) package when it is not the package itself.
        upstream = origin if origin != name else ""
        return distro_package(self.ecosystem, path, name, version, arch, context.distro, "alpine", upstream)
