"""drift.catalog.rpm and rpm_header on rpm databases written by rpm 4.18 itself, checked against `rpm -qa`."""

from __future__ import annotations

import gzip
import sqlite3
import struct
import tempfile
from pathlib import Path

import pytest

from drift.catalog.interface import CatalogContext, CatalogResult, Distro, Package
from drift.catalog.rpm import RpmCataloger
from drift.catalog.rpm_header import (
    TAG_ARCH,
    TAG_EPOCH,
    TAG_NAME,
    TAG_RELEASE,
    TAG_VERSION,
    RpmHeaderError,
    decode_header,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "catalog" / "rpm"
DB = "/var/lib/rpm/rpmdb.sqlite"
SYSIMAGE_DB = "/usr/lib/sysimage/rpm/rpmdb.sqlite"
FEDORA = CatalogContext(distro=Distro(id="fedora", version_id="40"))
UNSUPPORTED = "drift reads rpmdb.sqlite (RPM >= 4.16: Fedora 33+, RHEL 9, UBI 9)"


def fixture(name: str) -> bytes:
    data = (FIXTURES / name).read_bytes()
    return gzip.decompress(data) if name.endswith(".gz") else data


def rpm_qa(name: str) -> set[tuple[str, str, str, str, str]]:
    """`rpm -qa --qf '%{NAME} %{EPOCH} %{VERSION} %{RELEASE} %{ARCH}\\n'` as captured when the fixture was made."""
    rows = set()
    for line in (FIXTURES / name).read_text().splitlines():
        name_, epoch, version, release, arch = line.split(" ")
        rows.add((name_, epoch, version, release, arch))
    return rows


def as_rpm_qa(packages: tuple[Package, ...]) -> set[tuple[str, str, str, str, str]]:
    rows = set()
    for package in packages:
        epoch, _, version_release = package.version.rpartition(":")
        version, _, release = version_release.rpartition("-")
        rows.add((package.name, epoch or "(none)", version, release, package.arch or "(none)"))
    return rows


def with_wal(wal: bytes | None, path: str = DB, context: CatalogContext = FEDORA) -> CatalogContext:
    return CatalogContext(distro=context.distro, companion=lambda asked: wal if asked == path + "-wal" else None)


def by_name(result: CatalogResult) -> dict[str, Package]:
    return {package.name: package for package in result.packages}


@pytest.mark.parametrize(
    ("path", "claimed"),
    [
        ("/var/lib/rpm/rpmdb.sqlite", True),
        ("/var/lib/rpm/rpmdb.sqlite-wal", True),
        ("/usr/lib/sysimage/rpm/rpmdb.sqlite", True),
        ("/usr/lib/sysimage/rpm/rpmdb.sqlite-wal", True),
        ("/var/lib/rpm/Packages", True),
        ("/usr/lib/sysimage/rpm/Packages", True),
        ("/var/lib/rpm/Packages.db", True),
        ("/usr/lib/sysimage/rpm/Packages.db", True),
        # The -shm is SQLite's rebuildable index of the WAL; the indexes are rpm's, derived from Packages.
        ("/var/lib/rpm/rpmdb.sqlite-shm", False),
        ("/var/lib/rpm/Name", False),
        ("/var/lib/rpm/.rpm.lock", False),
        ("/srv/var/lib/rpm/rpmdb.sqlite", False),
        ("/var/lib/dpkg/status", False),
    ],
)
def test_claims_the_rpm_databases_and_the_wal(path: str, claimed: bool) -> None:
    assert RpmCataloger().claims(path, 0o644, 1000) is claimed


def test_sqlite_database_agrees_with_rpm_qa() -> None:
    result = RpmCataloger().catalog(DB, fixture("sqlite/rpmdb.sqlite.gz"), FEDORA)

    assert result.warnings == ()
    assert as_rpm_qa(result.packages) == rpm_qa("sqlite/rpm-qa.txt")
    assert len(result.packages) == 3


def test_header_decoder_agrees_with_rpm_qa_blob_by_blob(tmp_path: Path) -> None:
    database = tmp_path / "rpmdb.sqlite"
    database.write_bytes(fixture("sqlite/rpmdb.sqlite.gz"))
    connection = sqlite3.connect(f"file:{database}?mode=ro&immutable=1", uri=True)
    blobs = [blob for (blob,) in connection.execute("SELECT blob FROM Packages")]
    connection.close()

    decoded = set()
    for blob in blobs:
        header = decode_header(blob, {TAG_NAME, TAG_EPOCH, TAG_VERSION, TAG_RELEASE, TAG_ARCH})
        epoch = header.get(TAG_EPOCH)
        assert epoch is None or isinstance(epoch, tuple)
        decoded.add(
            (
                str(header[TAG_NAME]),
                "(none)" if epoch is None else str(epoch[0]),
                str(header[TAG_VERSION]),
                str(header[TAG_RELEASE]),
                str(header[TAG_ARCH]),
            )
        )

    assert decoded == rpm_qa("sqlite/rpm-qa.txt")


def test_packages_version_arch_and_purl() -> None:
    packages = by_name(RpmCataloger().catalog(DB, fixture("sqlite/rpmdb.sqlite.gz"), FEDORA))

    assert packages["drift-hello"] == Package(
        ecosystem="rpm",
        name="drift-hello",
        version="1.0-1",
        arch="noarch",
        purl="pkg:rpm/fedora/drift-hello@1.0-1?arch=noarch&distro=fedora-40&upstream=drift-hello-1.0-1.src.rpm",
        source=DB,
    )
    # Epoch: in the version string, a qualifier in the purl.
    assert packages["drift-tool"].version == "2:3.4.5-7.el9"
    assert packages["drift-tool"].arch == "x86_64"
    assert packages["drift-tool"].purl == (
        "pkg:rpm/fedora/drift-tool@3.4.5-7.el9?arch=x86_64&distro=fedora-40&epoch=2"
        "&upstream=drift-tool-3.4.5-7.el9.src.rpm"
    )
    # An explicit "Epoch: 0" is stored, and kept (rpm -qa prints 0, not "(none)").
    assert packages["drift-data"].version == "0:0.9~beta1-3.fc40"
    assert "&epoch=0&" in packages["drift-data"].purl


@pytest.mark.parametrize(
    ("distro", "purl"),
    [
        (Distro(), "pkg:rpm/drift-hello@1.0-1?arch=noarch&upstream=drift-hello-1.0-1.src.rpm"),
        (
            Distro("rhel", "9.4"),
            "pkg:rpm/redhat/drift-hello@1.0-1?arch=noarch&distro=rhel-9.4&upstream=drift-hello-1.0-1.src.rpm",
        ),
        (
            Distro("opensuse-leap", "15.6"),
            "pkg:rpm/opensuse/drift-hello@1.0-1?arch=noarch&distro=opensuse-leap-15.6&upstream=drift-hello-1.0-1.src.rpm",
        ),
    ],
)
def test_purl_namespace_follows_os_release_as_syft_spells_it(distro: Distro, purl: str) -> None:
    result = RpmCataloger().catalog(DB, fixture("sqlite/rpmdb.sqlite.gz"), CatalogContext(distro=distro))

    assert by_name(result)["drift-hello"].purl == purl


def test_packages_only_in_the_wal_are_read_through_the_companion() -> None:
    main = fixture("sqlite-wal/rpmdb.sqlite.gz")
    wal = fixture("sqlite-wal/rpmdb.sqlite-wal.gz")
    cataloger = RpmCataloger()

    with_companion = cataloger.catalog(SYSIMAGE_DB, main, with_wal(wal, SYSIMAGE_DB))
    main_only = cataloger.catalog(SYSIMAGE_DB, main, FEDORA)

    assert with_companion.warnings == main_only.warnings == ()
    assert as_rpm_qa(with_companion.packages) == rpm_qa("sqlite-wal/rpm-qa.txt")
    assert as_rpm_qa(main_only.packages) == rpm_qa("sqlite-wal/rpm-qa-without-wal.txt")
    assert "drift-data" in by_name(with_companion)
    assert "drift-data" not in by_name(main_only)


def test_an_empty_wal_as_rpm_leaves_it_changes_nothing() -> None:
    result = RpmCataloger().catalog(DB, fixture("sqlite/rpmdb.sqlite.gz"), with_wal(b""))

    assert as_rpm_qa(result.packages) == rpm_qa("sqlite/rpm-qa.txt")


def test_the_wal_itself_yields_no_packages() -> None:
    result = RpmCataloger().catalog(DB + "-wal", fixture("sqlite-wal/rpmdb.sqlite-wal.gz"), FEDORA)

    assert result == CatalogResult()


def test_no_temporary_files_are_left_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    main = fixture("sqlite-wal/rpmdb.sqlite.gz")
    wal = fixture("sqlite-wal/rpmdb.sqlite-wal.gz")

    RpmCataloger().catalog(DB, main, with_wal(wal))
    RpmCataloger().catalog(DB, fixture("truncated/rpmdb.sqlite"), FEDORA)

    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("path", ["/var/lib/rpm/Packages", "/usr/lib/sysimage/rpm/Packages"])
def test_berkeley_db_database_is_reported_unsupported(path: str) -> None:
    content = fixture("bdb/Packages.gz")
    # A real Berkeley DB hash file (magic 0x061561, native byte order) that rpm's bdb_ro backend lists.
    assert struct.unpack("<I", content[12:16])[0] == 0x061561
    assert len(rpm_qa("bdb/rpm-qa.txt")) == 3

    result = RpmCataloger().catalog(path, content, FEDORA)

    assert result == CatalogResult(
        warnings=(f"rpm Berkeley DB database at {path} is not supported; {UNSUPPORTED}",),
    )


def test_ndb_database_is_reported_unsupported() -> None:
    # Not a fixture: no NDB writer is at hand (Debian's rpm has no ndb backend); the content is never read.
    path = "/usr/lib/sysimage/rpm/Packages.db"

    result = RpmCataloger().catalog(path, b"RpmP", FEDORA)

    assert result == CatalogResult(warnings=(f"rpm NDB database at {path} is not supported; {UNSUPPORTED}",))


def test_truncated_database_is_a_warning() -> None:
    result = RpmCataloger().catalog(DB, fixture("truncated/rpmdb.sqlite"), FEDORA)

    assert result.packages == ()
    assert result.warnings == (f"{DB}: cannot read the rpm database: database disk image is malformed",)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "no Packages table"),
        (b"this is not a database" * 100, "file is not a database"),
    ],
    ids=["empty", "text"],
)
def test_a_file_that_is_no_rpm_database_is_a_warning(content: bytes, reason: str) -> None:
    result = RpmCataloger().catalog(DB, content, FEDORA)

    assert result == CatalogResult(warnings=(f"{DB}: cannot read the rpm database: {reason}",))


def test_a_corrupt_header_skips_that_package_only(tmp_path: Path) -> None:
    database = tmp_path / "rpmdb.sqlite"
    database.write_bytes(fixture("sqlite/rpmdb.sqlite.gz"))
    connection = sqlite3.connect(database)
    (hnum,) = connection.execute("SELECT hnum FROM Packages ORDER BY hnum LIMIT 1").fetchone()
    # Cut the header short: its index still claims the full data store.
    connection.execute("UPDATE Packages SET blob = substr(blob, 1, 100) WHERE hnum = ?", (hnum,))
    connection.commit()
    connection.close()

    result = RpmCataloger().catalog(DB, database.read_bytes(), FEDORA)

    assert len(result.packages) == 2
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith(f"{DB}: Packages row {hnum}: header is 100 bytes")


def test_a_view_named_packages_is_not_read(tmp_path: Path) -> None:
    database = tmp_path / "rpmdb.sqlite"
    connection = sqlite3.connect(database)
    connection.execute("CREATE VIEW Packages AS SELECT 1 AS hnum, x'00' AS blob")
    connection.commit()
    connection.close()

    result = RpmCataloger().catalog(DB, database.read_bytes(), FEDORA)

    assert result == CatalogResult(warnings=(f"{DB}: cannot read the rpm database: no Packages table",))


def header(entries: list[tuple[int, int, int, int]], data: bytes) -> bytes:
    index = b"".join(struct.pack(">iIiI", *entry) for entry in entries)
    return struct.pack(">II", len(entries), len(data)) + index + data


def test_decoder_reads_string_int32_and_string_array_values() -> None:
    data = b"hello\0" + b"\0\0" + struct.pack(">ii", 7, -1) + b"a\0bc\0"
    blob = header([(TAG_NAME, 6, 0, 1), (TAG_EPOCH, 4, 8, 2), (1118, 8, 16, 2)], data)

    assert decode_header(blob, {TAG_NAME, TAG_EPOCH, 1118}) == {
        TAG_NAME: "hello",
        TAG_EPOCH: (7, 0xFFFFFFFF),
        1118: ("a", "bc"),
    }
    assert decode_header(blob, {TAG_NAME}) == {TAG_NAME: "hello"}


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"\0\0\0", "shorter than its 8-byte preamble"),
        (struct.pack(">II", 0, 0), "0 index entries"),
        (struct.pack(">II", 0x10000, 0), "65536 index entries"),
        (struct.pack(">II", 1, 0x1000000), "16777216 bytes of data"),
        (struct.pack(">II", 2, 4) + b"\0" * 16, "need 44"),
        (header([(TAG_NAME, 6, 10, 1)], b"abc\0"), "offset 10 is outside"),
        (header([(TAG_NAME, 6, 0, 1)], b"abcd"), "not NUL-terminated"),
        (header([(TAG_NAME, 6, 0, 2)], b"ab\0c\0"), "STRING with count 2"),
        (header([(TAG_EPOCH, 4, 0, 3)], b"\0" * 8), "overrun"),
        (header([(TAG_NAME, 8, 0, 9)], b"a\0b\0"), "cannot fit"),
        (header([(TAG_NAME, 42, 0, 1)], b"a\0"), "unknown type 42"),
        (header([(TAG_NAME, 6, 0, 0)], b"a\0"), "count is 0"),
    ],
)
def test_decoder_rejects_malformed_headers(blob: bytes, message: str) -> None:
    with pytest.raises(RpmHeaderError, match=message):
        decode_header(blob, {TAG_NAME, TAG_EPOCH})
