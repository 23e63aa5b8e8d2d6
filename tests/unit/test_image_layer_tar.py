"""drift.image.layer_tar on tar streams built in the test: paths, whiteouts, links, modes, digests."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import posixpath
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.tar_files import extracted

from drift.errors import ImageReadError
from drift.image import read_layer_tar
from drift.image.normalize import normalized_digest
from drift.values import EntryType, FileEntry, xattr_names

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "images"


@dataclass
class Member:
    """One member of a synthetic layer tar."""

    name: str
    content: bytes | None = None  # regular file when not None
    type: bytes = tarfile.REGTYPE
    linkname: str = ""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = 1_600_000_000
    uname: str = "root"
    gname: str = "root"
    device: tuple[int, int] = (0, 0)
    pax: dict[str, str] | None = None  # extra pax records (xattrs)


def make_tar(*members: Member, tar_format: int = tarfile.PAX_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tar_format) as tar:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.type = tarfile.REGTYPE if member.content is not None else member.type
            info.linkname = member.linkname
            info.mode = member.mode
            info.uid, info.gid = member.uid, member.gid
            info.uname, info.gname = member.uname, member.gname
            info.mtime = member.mtime
            info.devmajor, info.devminor = member.device
            info.pax_headers = dict(member.pax or {})
            info.size = len(member.content) if member.content is not None else 0
            tar.addfile(info, io.BytesIO(member.content) if member.content is not None else None)
    return buffer.getvalue()


def read(data: bytes) -> dict[str, FileEntry]:
    entries, _, _ = read_layer_tar(io.BytesIO(data))
    return {f"{entry.type.value}:{entry.path}": entry for entry in entries}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_paths_are_absolute_and_normalized() -> None:
    data = make_tar(
        Member("./", type=tarfile.DIRTYPE, mode=0o755),
        Member("./etc/", type=tarfile.DIRTYPE, mode=0o755),
        Member("./etc/x", b"x"),
        Member("usr/bin/", type=tarfile.DIRTYPE, mode=0o755),
        Member("/opt/tool", b"tool"),
    )

    entries, _, _ = read_layer_tar(io.BytesIO(data))

    assert [(entry.path, entry.type) for entry in entries] == [
        ("/", EntryType.DIR),
        ("/etc", EntryType.DIR),
        ("/etc/x", EntryType.FILE),
        ("/opt/tool", EntryType.FILE),
        ("/usr/bin", EntryType.DIR),
    ]


def test_regular_file_has_content_digest_size_and_permission_bits_only() -> None:
    content = os.urandom(3 * (1 << 20) + 17)  # spans several read chunks
    entries = read(make_tar(Member("bin/tool", content, mode=0o4755, uid=1000, gid=1001)))

    tool = entries["file:/bin/tool"]
    assert tool == FileEntry("/bin/tool", EntryType.FILE, 0o4755, 1000, 1001, len(content), sha(content), "")


def test_whiteout_and_opaque_markers_name_what_they_hide() -> None:
    entries = read(
        make_tar(
            Member("app/.wh.gone.txt", b""),
            Member("data/", type=tarfile.DIRTYPE, mode=0o755),
            Member("data/.wh..wh..opq", b""),
            Member(".wh.toplevel", b""),
        )
    )

    assert entries["whiteout:/app/gone.txt"].sha256 == ""
    assert "whiteout:/toplevel" in entries
    assert entries["opaque:/data"] == FileEntry("/data", EntryType.OPAQUE, 0, 0, 0, 0, "", "")
    assert entries["dir:/data"].mode == 0o755
    assert not any(".wh." in key for key in entries)


def test_hardlink_carries_target_and_its_content_digest() -> None:
    entries = read(
        make_tar(
            Member("app/link", b"shared"),
            Member("app/original", type=tarfile.LNKTYPE, linkname="app/link"),
            Member("app/dangling", type=tarfile.LNKTYPE, linkname="./lib/elsewhere"),
        )
    )

    assert entries["hardlink:/app/original"] == FileEntry(
        "/app/original", EntryType.HARDLINK, 0o644, 0, 0, 0, sha(b"shared"), "/app/link"
    )
    # A target from a lower layer is not in this stream: no digest to copy.
    assert entries["hardlink:/app/dangling"].link_target == "/lib/elsewhere"
    assert entries["hardlink:/app/dangling"].sha256 == ""


@pytest.mark.parametrize("chained", [False, True])
def test_a_hard_linked_group_reads_the_same_whichever_name_the_tar_lists_first(chained: bool) -> None:
    names = ["usr/bin/perl", "usr/bin/perl5.36.0", "usr/bin/aaa-perl"]
    layers = []
    for order in (names, names[::-1], [names[1], names[0], names[2]]):
        first, *rest = order
        members = [Member(first, b"#!perl\n", mode=0o755, uid=3, gid=4)]
        for number, name in enumerate(rest):
            target = rest[number - 1] if chained and number else first  # GNU tar may name an earlier link
            members.append(Member(name, type=tarfile.LNKTYPE, linkname=target, mode=0o755, uid=3, gid=4))
        layers.append(read_layer_tar(io.BytesIO(make_tar(*members)))[0])

    assert layers[0] == layers[1] == layers[2]
    assert normalized_digest(layers[0]) == normalized_digest(layers[1]) == normalized_digest(layers[2])
    file, *links = layers[0]
    assert (file.path, file.type, file.size, file.sha256) == ("/usr/bin/aaa-perl", EntryType.FILE, 7, sha(b"#!perl\n"))
    assert [(e.path, e.type, e.link_target, e.sha256, e.mode, e.uid) for e in links] == [
        (path, EntryType.HARDLINK, "/usr/bin/aaa-perl", sha(b"#!perl\n"), 0o755, 3)
        for path in ("/usr/bin/perl", "/usr/bin/perl5.36.0")
    ]


def test_symlink_target_is_kept_verbatim() -> None:
    entries = read(
        make_tar(
            Member("app/rel", type=tarfile.SYMTYPE, linkname="../lib/./x", mode=0o777),
            Member("app/abs", type=tarfile.SYMTYPE, linkname="/etc/passwd", mode=0o777),
        )
    )

    assert entries["symlink:/app/rel"].link_target == "../lib/./x"
    assert entries["symlink:/app/abs"].link_target == "/etc/passwd"
    assert entries["symlink:/app/rel"].size == 0 and entries["symlink:/app/rel"].sha256 == ""


def test_special_files_have_no_size_or_digest_and_devices_their_numbers() -> None:
    entries = read(
        make_tar(
            Member("dev/null", type=tarfile.CHRTYPE, mode=0o666, device=(1, 3)),
            Member("dev/sda", type=tarfile.BLKTYPE, mode=0o660, device=(8, 0)),
            Member("run/fifo", type=tarfile.FIFOTYPE, mode=0o600),
        )
    )

    assert entries["char:/dev/null"] == FileEntry(
        "/dev/null", EntryType.CHAR, 0o666, 0, 0, 0, "", "", "", xattrs="", device="1:3"
    )
    assert (entries["block:/dev/sda"].type, entries["block:/dev/sda"].device) == (EntryType.BLOCK, "8:0")
    assert (entries["fifo:/run/fifo"].mode, entries["fifo:/run/fifo"].device) == (0o600, "")


def test_device_numbers_are_in_the_normalized_digest() -> None:
    null = make_tar(Member("dev/null", type=tarfile.CHRTYPE, mode=0o666, device=(1, 3)))
    zero = make_tar(Member("dev/null", type=tarfile.CHRTYPE, mode=0o666, device=(1, 5)))

    assert normalized_digest(read(null).values()) != normalized_digest(read(zero).values())


# security.capability for cap_net_raw=ep, as `setcap cap_net_raw=ep` writes it (VFS_CAP_REVISION_2).
CAP_NET_RAW = bytes.fromhex("0100000200200000000000000000000000000000")


def test_a_capability_is_an_xattr_of_the_file_and_changes_the_digest() -> None:
    plain = make_tar(Member("bin/ping", b"ping", mode=0o755))
    capable = make_tar(
        Member("bin/ping", b"ping", mode=0o755, pax={"SCHILY.xattr.security.capability": CAP_NET_RAW.decode("latin-1")})
    )

    entry = read(capable)["file:/bin/ping"]

    assert entry.xattrs == f"security.capability={sha(CAP_NET_RAW)}"
    assert read(plain)["file:/bin/ping"].xattrs == ""
    assert normalized_digest(read(plain).values()) != normalized_digest(read(capable).values())


def test_libarchive_xattr_records_read_like_schily_ones() -> None:
    # bsdtar writes both; alone, the LIBARCHIVE form (percent-encoded name, base64 value) says the same.
    encoded = base64.b64encode(CAP_NET_RAW).decode().rstrip("=")
    pax = {"LIBARCHIVE.xattr.security.capability": encoded, "LIBARCHIVE.xattr.user.a%3Db": "dg"}
    entry = read(make_tar(Member("bin/ping", b"ping", pax=pax)))["file:/bin/ping"]

    assert entry.xattrs == f"security.capability={sha(CAP_NET_RAW)};user.a%3Db={sha(b'v')}"
    assert xattr_names(entry.xattrs or "") == {"security.capability": sha(CAP_NET_RAW), "user.a=b": sha(b"v")}


def test_a_layer_without_xattrs_or_devices_keeps_the_digest_stored_before_they_were_recorded() -> None:
    # The digest a release before revision 0009 computed, written out by hand: one line per entry.
    data = make_tar(
        Member("etc", type=tarfile.DIRTYPE, mode=0o755),
        Member("etc/motd", b"hi\n"),
        Member("etc/link", type=tarfile.SYMTYPE, linkname="motd"),
        Member("run/fifo", type=tarfile.FIFOTYPE, mode=0o600),
    )
    fields = [
        ("/etc", "dir", "755", "0", "0", "0", "", ""),
        ("/etc/link", "symlink", "644", "0", "0", "0", "", "motd"),
        ("/etc/motd", "file", "644", "0", "0", "3", sha(b"hi\n"), ""),
        ("/run/fifo", "fifo", "600", "0", "0", "0", "", ""),
    ]
    lines = ["\0".join(entry) + "\n" for entry in fields]
    before = "sha256:" + sha("".join(lines).encode())

    assert normalized_digest(read(data).values()) == before


def test_diff_id_and_size_cover_the_whole_uncompressed_stream() -> None:
    data = make_tar(Member("a", b"a" * 1000), Member("b", b"b"))
    data += b"\0" * 10240  # record padding after the end-of-archive blocks

    _, diff_id, size = read_layer_tar(io.BytesIO(data))

    assert diff_id == sha(data)
    assert size == len(data)


def test_gzip_layer_is_decompressed_and_diff_id_is_over_the_tar() -> None:
    data = make_tar(Member("etc/motd", b"hello"), Member("etc/.wh.issue", b""))

    plain = read_layer_tar(io.BytesIO(data))
    zipped = read_layer_tar(io.BytesIO(gzip.compress(data)))

    assert zipped == plain
    assert zipped[1] == sha(data)
    assert zipped[2] == len(data)


def test_empty_layer_is_an_empty_manifest() -> None:
    data = b"\0" * 1024

    entries, diff_id, size = read_layer_tar(io.BytesIO(data))

    assert entries == ()
    assert diff_id == "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
    assert size == 1024


def test_long_names_and_large_ids_through_pax_and_gnu_headers() -> None:
    long_name = "opt/" + "d" * 150 + "/" + "f" * 120
    for tar_format in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        entries = read(make_tar(Member(long_name, b"x", uid=3_000_000, gid=70_000), tar_format=tar_format))

        entry = entries["file:/" + long_name]
        assert (entry.uid, entry.gid) == (3_000_000, 70_000)


def test_ustar_prefix_field_and_pre_posix_directories() -> None:
    deep = "opt/" + "d" * 100 + "/file.txt"  # > 100 bytes: ustar splits it into prefix + name
    entries = read(make_tar(Member(deep, b"x", uid=7), tar_format=tarfile.USTAR_FORMAT))
    assert entries["file:/" + deep].uid == 7

    v7 = bytearray(make_tar(Member("olddir/", b""), tar_format=tarfile.USTAR_FORMAT))
    v7[156:157] = b"\0"  # an "old regular file" whose name ends in a slash is a directory
    v7[257:265] = bytes(8)  # no ustar magic
    v7[148:156] = b"%06o\0 " % (sum(v7[:148]) + 256 + sum(v7[156:512]))
    assert read(bytes(v7))["dir:/olddir"].mode == 0o644


def test_same_listing_as_tarfile_for_a_real_layer() -> None:
    # The busybox base layer of the image fixture, as Docker exported it.
    with gzip.open(FIXTURES / "legacy.tar.gz") as saved, tarfile.open(fileobj=saved, mode="r|") as outer:
        for member in outer:
            if member.name.endswith("/layer.tar") and member.size > 1 << 20:
                data = extracted(outer, member).read()
                break
    with tarfile.open(fileobj=io.BytesIO(data)) as listing:
        expected = {posixpath.normpath("/" + info.name) for info in listing}

    entries, diff_id, size = read_layer_tar(io.BytesIO(data))

    assert {entry.path for entry in entries} == expected
    assert (diff_id, size) == (sha(data), len(data))


def test_a_path_listed_twice_keeps_the_last_copy() -> None:
    entries, _, _ = read_layer_tar(io.BytesIO(make_tar(Member("etc/x", b"old"), Member("etc/x", b"new"))))

    assert [(entry.path, entry.sha256) for entry in entries] == [("/etc/x", sha(b"new"))]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (os.urandom(4096), "not a readable tar"),
        (b"", "not a readable tar"),
        (make_tar(Member("a", b"x" * 5000))[:2048], "ends inside"),
        (gzip.compress(make_tar(Member("a", b"x")))[:-12], "not a readable tar"),
        (make_tar(Member("a", b"x"))[:700], "ends inside"),
        (make_tar(Member("a" * 200, b"x"))[:600], "ends inside"),
    ],
    ids=["random bytes", "empty", "truncated content", "truncated gzip", "truncated padding", "truncated pax"],
)
def test_unreadable_layer_raises_image_read_error(data: bytes, message: str) -> None:
    with pytest.raises(ImageReadError, match=message):
        read_layer_tar(io.BytesIO(data))


def test_damaged_header_midway_is_an_error_not_a_short_manifest() -> None:
    data = bytearray(make_tar(Member("a", b"x"), Member("b", b"y"), Member("c", b"z")))
    data[1024 + 148 : 1024 + 156] = b"9999999\0"  # break the second header's checksum

    with pytest.raises(ImageReadError, match="damaged header at byte 1024"):
        read_layer_tar(io.BytesIO(bytes(data)))


def test_data_after_the_end_of_archive_is_an_error() -> None:
    data = make_tar(Member("a", b"x")) + make_tar(Member("b", b"y"))

    with pytest.raises(ImageReadError, match="unreadable header near byte"):
        read_layer_tar(io.BytesIO(data))
