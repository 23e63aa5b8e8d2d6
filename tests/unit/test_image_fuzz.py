"""Fuzzing the image readers: random, truncated and mangled layer tars and `docker save` streams.

Whatever the bytes, the readers return a manifest or raise drift's own
ImageReadError: never another exception, never a file written, and memory
that does not grow with the stream.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import os
import resource
import tarfile
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from drift.errors import ImageReadError
from drift.image import read_layer_tar
from drift.image.saved_image import read_saved_image
from drift.storage.models import LosslessText

# Derandomized and without an example database: the same examples on every run, nothing written to disk.
FUZZ = settings(
    max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)

# Names as a tar holds them: any bytes but NUL, including what is not UTF-8, control characters and markup.
raw_names = st.binary(min_size=1, max_size=300).map(lambda b: b.replace(b"\0", b"x"))

# LosslessText ignores the dialect; SQLite's stands for any.
DIALECT = sqlite.dialect()


@pytest.fixture(autouse=True)
def no_disk_writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The readers stream: opening any file for writing while they run is a failure."""
    real_open, real_os_open = builtins.open, os.open

    def guarded_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if any(flag in mode for flag in "wax+"):
            raise AssertionError(f"the reader opened {file!r} for writing")
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise AssertionError(f"the reader opened {path!r} for writing")
        return real_os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)
    yield


def tar_of(members: list[tuple[bytes, bytes, int]], tar_format: int) -> bytes:
    """A real tar: (name bytes, content, type) per member, names kept as bytes (surrogate escapes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tar_format, encoding="utf-8", errors="surrogateescape") as tar:
        for name, content, kind in members:
            info = tarfile.TarInfo(name.decode("utf-8", "surrogateescape"))
            if kind == 0:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
            elif kind == 1:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == 2:
                info.type = tarfile.SYMTYPE
                info.linkname = content.decode("utf-8", "surrogateescape").replace("\0", "x") or "x"
                tar.addfile(info)
            else:
                info.type = tarfile.LNKTYPE
                info.linkname = members[0][0].decode("utf-8", "surrogateescape")
                tar.addfile(info)
    return buffer.getvalue()


members_strategy = st.lists(
    st.tuples(raw_names, st.binary(max_size=2000), st.integers(min_value=0, max_value=3)), min_size=1, max_size=12
)


def read_or_refuse(data: bytes) -> None:
    try:
        entries, diff_id, size = read_layer_tar(io.BytesIO(data))
    except ImageReadError:
        return
    assert len(diff_id) == 64 and size >= 0
    for entry in entries:
        assert entry.path.startswith("/")
        # Every path survives the database exactly, whatever its bytes.
        stored = LosslessText().process_bind_param(entry.path, DIALECT)
        assert stored is not None and stored.encode("utf-8")
        assert LosslessText().process_result_value(stored, DIALECT) == entry.path


@FUZZ
@given(st.binary(max_size=8000))
def test_random_bytes_are_a_manifest_or_an_image_read_error(data: bytes) -> None:
    read_or_refuse(data)


@FUZZ
@given(members_strategy, st.sampled_from([tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT]))
def test_real_tars_with_any_names_are_read_exactly(members: list[tuple[bytes, bytes, int]], tar_format: int) -> None:
    try:
        data = tar_of(members, tar_format)
    except (ValueError, UnicodeError):
        return  # a name this tar format cannot hold
    entries, _diff_id, _size = read_layer_tar(io.BytesIO(data))
    names = {entry.path.encode("utf-8", "surrogateescape") for entry in entries}
    assert all(name.startswith(b"/") for name in names)
    for name, _content, kind in members:
        # A plain one-component name (no "/", no leading dot: not a whiteout, ".." or the root) is listed as
        # itself, byte for byte, whatever bytes it holds.
        if kind == 0 and b"/" not in name and not name.startswith(b"."):
            assert b"/" + name in names, name
    read_or_refuse(data)


@FUZZ
@given(members_strategy, st.integers(min_value=0), st.sampled_from([tarfile.GNU_FORMAT, tarfile.PAX_FORMAT]))
def test_truncated_tars_are_refused_cleanly(members: list[tuple[bytes, bytes, int]], cut: int, fmt: int) -> None:
    try:
        data = tar_of(members, fmt)
    except (ValueError, UnicodeError):
        return
    read_or_refuse(data[: cut % max(len(data), 1)])


@FUZZ
@given(
    members_strategy,
    st.lists(st.tuples(st.integers(min_value=0, max_value=1535), st.integers(min_value=0, max_value=255)), max_size=8),
)
def test_mangled_headers_are_refused_cleanly(
    members: list[tuple[bytes, bytes, int]], flips: list[tuple[int, int]]
) -> None:
    try:
        data = bytearray(tar_of(members, tarfile.PAX_FORMAT))
    except (ValueError, UnicodeError):
        return
    for offset, value in flips:
        if offset < len(data):
            data[offset] = value
    read_or_refuse(bytes(data))


@FUZZ
@given(st.lists(st.binary(max_size=3000), max_size=6))
def test_random_docker_save_streams_are_an_image_or_an_image_read_error(chunks: list[bytes]) -> None:
    with contextlib.suppress(ImageReadError):
        read_saved_image(iter(chunks))


@FUZZ
@given(members_strategy, st.integers(min_value=0))
def test_docker_save_streams_with_odd_members_are_refused_cleanly(
    members: list[tuple[bytes, bytes, int]], cut: int
) -> None:
    try:
        data = tar_of(members, tarfile.PAX_FORMAT)
    except (ValueError, UnicodeError):
        return
    with contextlib.suppress(ImageReadError):
        read_saved_image(iter([data[: cut % (len(data) + 1)]]))


def test_memory_stays_bounded_on_a_huge_streamed_member() -> None:
    """A 512 MiB file inside a layer, generated as it is read: memory grows by far less than the file."""
    size = 512 << 20
    header = tarfile.TarInfo("big/blob")
    header.size = size
    head = header.tobuf(tarfile.PAX_FORMAT)
    zeros = bytes(1 << 20)

    class Stream:
        def __init__(self) -> None:
            self.sent = 0
            self.total = len(head) + size + 1024

        def read(self, n: int = -1) -> bytes:
            if self.sent >= self.total:
                return b""
            if self.sent < len(head):
                chunk = head[self.sent : self.sent + n]
            else:
                chunk = zeros[: min(n if n > 0 else len(zeros), len(zeros), self.total - self.sent)]
            self.sent += len(chunk)
            return chunk

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    entries, _diff_id, read_size = read_layer_tar(Stream())
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert [(e.path, e.size) for e in entries] == [("/big/blob", size)]
    assert read_size == len(head) + size + 1024
    assert grown_mib < 64, f"reading a 512 MiB member grew memory by {grown_mib:.0f} MiB"
