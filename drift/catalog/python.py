"""Python distributions installed in an image, read from their core metadata files.

pip, setuptools and Debian's python3-* packages all leave a metadata file per
installed distribution, in the RFC 822-style "core metadata" format:

- `<name>-<version>.dist-info/METADATA`: wheels installed by pip (PEP 376/627);
- `<name>-<version>.egg-info/PKG-INFO`: setuptools installs, most Debian python3-* packages;
- `<name>-<version>.egg-info` as a plain file: distutils and old setuptools
  (Debian's criu ships one), itself in PKG-INFO format.

The Name and Version headers identify the package. The display name is kept
as written ("PyYAML", "lazr.restfulclient"); the purl carries the PEP 503
normalized name, so a rename between "typing_extensions" and
"typing-extensions" in a new release is not reported as a different package.
"""

from __future__ import annotations

import email.parser
import email.policy
import re

from drift.catalog.interface import CatalogContext, Cataloger, CatalogResult
from drift.catalog.records import manifest_package

_PEP503_SEPARATORS = re.compile(r"[-_.]+")


def normalize_name(name: str) -> str:
    """The PEP 503 normalized form of a distribution name: "Foo_Bar.baz" -> "foo-bar-baz"."""
    return _PEP503_SEPARATORS.sub("-", name).lower()


class PythonCataloger(Cataloger):
    """Installed Python distributions, one per METADATA / PKG-INFO file (ecosystem "pypi")."""

    ecosystem = "pypi"

    def claims(self, path: str, mode: int, size: int) -> bool:
        return (
            path.endswith(".dist-info/METADATA")
            or path.endswith(".egg-info/PKG-INFO")
            # A regular file named *.egg-info is distutils' single-file PKG-INFO.
            or path.endswith(".egg-info")
        )

    def catalog(self, path: str, content: bytes, context: CatalogContext) -> CatalogResult:
        # Core metadata is UTF-8 by specification; a file that is not is damaged
        # or not metadata at all, and guessing its encoding would invent names.
        if b"\x00" in content:
            return CatalogResult(warnings=(f"{path}: binary content, not Python package metadata",))
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            return CatalogResult(warnings=(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})",))

        # headersonly: the long description (the body, in metadata 2.1+) can be
        # large and is never needed. compat32 keeps header values verbatim.
        headers = email.parser.Parser(policy=email.policy.compat32).parsestr(text, headersonly=True)
        name = (headers.get("Name") or "").strip()
        version = (headers.get("Version") or "").strip()
        missing = [field for field, value in (("Name", name), ("Version", version)) if not value]
        if missing:
            return CatalogResult(warnings=(f"{path}: no {' or '.join(missing)} header in Python package metadata",))

        return manifest_package(self.ecosystem, path, name, version, None, normalize_name(name))
