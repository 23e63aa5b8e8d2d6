"""RPM packages: the rpm database in its SQLite form (rpmdb.sqlite, RPM >= 4.16).

rpmdb.sqlite keeps one header blob per installed package in its Packages
table (decoded by drift.catalog.rpm_header); the other tables are indexes.
rpm runs SQLite in WAL mode, so recent changes may live only in
rpmdb.sqlite-wal: that file is claimed too (so the image reader keeps it and
hands it over as the database's companion) but yields no packages itself.

The older formats, Berkeley DB (/var/lib/rpm/Packages, RPM < 4.16: RHEL 8,
CentOS 7/8, Amazon Linux 2) and NDB (Packages.db, SUSE), are claimed only to
say plainly that they are not read: a silent empty catalog would look like an
image without packages.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path
from urllib.parse import quote

from drift.catalog.interface import CatalogContext, Cataloger, CatalogResult, Package
from drift.catalog.purl import distro_qualifier, make_purl
from drift.catalog.rpm_header import (
    TAG_ARCH,
    TAG_EPOCH,
    TAG_NAME,
    TAG_RELEASE,
    TAG_SOURCERPM,
    TAG_VERSION,
    HeaderValue,
    RpmHeaderError,
    decode_header,
)

# /var/lib/rpm: Fedora 33-35, RHEL 9, UBI 9; /usr/lib/sysimage/rpm: Fedora 36+,
# openSUSE (where /var/lib/rpm is a symlink to it, the file sits there).
_DB_DIRS = ("/var/lib/rpm", "/usr/lib/sysimage/rpm")
SQLITE_PATHS = frozenset(f"{d}/rpmdb.sqlite" for d in _DB_DIRS)
WAL_PATHS = frozenset(f"{p}-wal" for p in SQLITE_PATHS)
BERKELEY_DB_PATHS = frozenset(f"{d}/Packages" for d in _DB_DIRS)
NDB_PATHS = frozenset(f"{d}/Packages.db" for d in _DB_DIRS)

_SUPPORTED = "drift reads rpmdb.sqlite (RPM >= 4.16: Fedora 33+, RHEL 9, UBI 9)"
_TAGS = frozenset({TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_ARCH, TAG_SOURCERPM})


class RpmCataloger(Cataloger):
    """Installed RPM packages from rpmdb.sqlite (with its -wal); older database formats yield a warning."""

    ecosystem = "rpm"
    needs_distro = True  # purl namespace and distro qualifier; also what makes the reader offer the -wal

    def claims(self, path: str, mode: int, size: int) -> bool:
        return path in SQLITE_PATHS or path in WAL_PATHS or path in BERKELEY_DB_PATHS or path in NDB_PATHS

    def catalog(self, path: str, content: bytes, context: CatalogContext) -> CatalogResult:
        if path in WAL_PATHS:
            # Read together with rpmdb.sqlite, through CatalogContext.companion.
            return CatalogResult()
        if path in BERKELEY_DB_PATHS:
            return CatalogResult(warnings=(f"rpm Berkeley DB database at {path} is not supported; {_SUPPORTED}",))
        if path in NDB_PATHS:
            return CatalogResult(warnings=(f"rpm NDB database at {path} is not supported; {_SUPPORTED}",))
        return self._catalog_sqlite(path, content, context)

    def _catalog_sqlite(self, path: str, content: bytes, context: CatalogContext) -> CatalogResult:
        wal = context.companion(path + "-wal")
        try:
            rows = _read_header_blobs(content, wal)
        except (sqlite3.Error, OSError) as error:
            return CatalogResult(warnings=(f"{path}: cannot read the rpm database: {error}",))
        packages: list[Package] = []
        warnings: list[str] = []
        for hnum, blob in rows:
            if not isinstance(blob, bytes):
                warnings.append(f"{path}: Packages row {hnum}: blob is {type(blob).__name__}, not a header; skipped")
                continue
            try:
                header = decode_header(blob, _TAGS)
            except RpmHeaderError as error:
                warnings.append(f"{path}: Packages row {hnum}: {error}; skipped")
                continue
            package = self._package(path, hnum, header, context, warnings)
            if package is not None:
                packages.append(package)
        return CatalogResult(packages=tuple(packages), warnings=tuple(warnings))

    def _package(
        self,
        path: str,
        hnum: object,
        header: dict[int, HeaderValue],
        context: CatalogContext,
        warnings: list[str],
    ) -> Package | None:
        name = _string(header, TAG_NAME)
        version = _string(header, TAG_VERSION)
        release = _string(header, TAG_RELEASE)
        if not (name and version and release):
            warnings.append(f"{path}: Packages row {hnum}: header lacks a NAME, VERSION or RELEASE; skipped")
            return None
        epoch_value = header.get(TAG_EPOCH)
        epoch: int | None = None
        if isinstance(epoch_value, tuple) and epoch_value and isinstance(epoch_value[0], int):
            epoch = epoch_value[0]
        arch = _string(header, TAG_ARCH)
        # An explicit "Epoch: 0" is kept ("0:1.0-1"), as syft does: rpm stores it and prints it.
        full_version = f"{version}-{release}" if epoch is None else f"{epoch}:{version}-{release}"
        qualifiers = {
            "arch": arch,
            "epoch": "" if epoch is None else str(epoch),
            "distro": distro_qualifier(context.distro),
            "upstream": _string(header, TAG_SOURCERPM),
        }
        return Package(
            ecosystem=self.ecosystem,
            name=name,
            version=full_version,
            arch=arch,
            purl=make_purl("rpm", _purl_namespace(context.distro.id), name, f"{version}-{release}", qualifiers),
            source=path,
        )


def _read_header_blobs(content: bytes, wal: bytes | None) -> list[tuple[object, object]]:
    """(hnum, blob) of every Packages row, read from a private copy of the database (and its WAL)."""
    with tempfile.TemporaryDirectory(prefix="drift-rpmdb-") as directory:
        database = Path(directory) / "rpmdb.sqlite"
        database.write_bytes(content)
        uri = f"file:{quote(str(database))}?mode=ro"
        if wal:
            # The WAL is only read without immutable=1 (which tells SQLite nothing else
            # can hold data); SQLite then builds its -shm index in this private directory.
            Path(f"{database}-wal").write_bytes(wal)
        else:
            uri += "&immutable=1"
        connection = sqlite3.connect(uri, uri=True)
        try:
            # The database comes from an image, not from rpm: no schema code runs, and a
            # "Packages" that is a view (which could compute anything) is not read.
            connection.execute("PRAGMA trusted_schema = OFF")
            connection.execute("PRAGMA cell_size_check = ON")
            kind = connection.execute("SELECT type FROM sqlite_master WHERE name = 'Packages'").fetchone()
            if kind is None or kind[0] != "table":
                raise sqlite3.DatabaseError("no Packages table")
            return list(connection.execute("SELECT hnum, blob FROM Packages ORDER BY hnum"))
        finally:
            connection.close()


def _string(header: dict[int, HeaderValue], tag: int) -> str:
    value = header.get(tag)
    if isinstance(value, str):
        return value
    # STRING_ARRAY or I18NSTRING where a STRING was expected: the first (untranslated) string.
    if isinstance(value, tuple) and value and isinstance(value[0], str):
        return value[0]
    return ""


def _purl_namespace(distro_id: str) -> str:
    """The purl namespace: the vendor, as syft spells it ("redhat" for RHEL, "opensuse" for every openSUSE)."""
    if distro_id == "rhel":
        return "redhat"
    if distro_id.startswith("opensuse"):
        return "opensuse"
    return distro_id
