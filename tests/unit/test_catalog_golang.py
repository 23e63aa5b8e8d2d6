"""drift.catalog.golang on real Go binaries: built here with Debian's Go 1.19, and one from a Debian package."""

from __future__ import annotations

import gzip
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from drift.catalog.golang import GoBinaryCataloger
from drift.catalog.interface import CatalogContext, CatalogResult, Package

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "catalog" / "golang"
MAGIC = b"\xff Go buildinf:"


def load(name: str) -> bytes:
    return gzip.decompress((FIXTURES / f"{name}.gz").read_bytes())


def catalog(content: bytes, path: str = "/usr/local/bin/app") -> CatalogResult:
    return GoBinaryCataloger().catalog(path, content, CatalogContext())


def go(name: str, version: str, purl: str, arch: str, source: str = "/usr/local/bin/app") -> Package:
    return Package(ecosystem="golang", name=name, version=version, arch=arch, purl=purl, source=source)


def hello(arch: str) -> tuple[Package, ...]:
    return (
        go("example.com/drift/hello", "(devel)", "pkg:golang/example.com/drift/hello@%28devel%29", arch),
        go("stdlib", "go1.19.8", "pkg:golang/stdlib@1.19.8", arch),
    )


WITHDEPS = (
    go("example.com/drift/withdeps", "(devel)", "pkg:golang/example.com/drift/withdeps@%28devel%29", "amd64"),
    # `replace example.com/drift/greet v0.1.0 => example.com/drift/greet-fork v0.2.0`: the fork is what was compiled
    go("example.com/drift/greet-fork", "v0.2.0", "pkg:golang/example.com/drift/greet-fork@v0.2.0", "amd64"),
    # `replace example.com/drift/local => ./local`: a directory has no module path; the original one is kept
    go("example.com/drift/local", "(devel)", "pkg:golang/example.com/drift/local@%28devel%29", "amd64"),
    go("github.com/google/uuid", "v1.3.0", "pkg:golang/github.com/google/uuid@v1.3.0", "amd64"),
    go("stdlib", "go1.19.8", "pkg:golang/stdlib@1.19.8", "amd64"),
)


@pytest.mark.parametrize(
    ("path", "mode", "size", "claimed"),
    [
        ("/usr/local/bin/app", 0o755, 2_000_000, True),
        ("/app/server", 0o700, 30_000_000, True),
        ("/ko-app/controller", 0o711, 50_000_000, True),
        ("/opt/tool", 0o001, 1_000_000, True),  # any execute bit
        ("/usr/lib/x86_64-linux-gnu/libfoo.so.1", 0o755, 900_000, True),  # c-shared Go libraries carry build info
        ("/usr/local/bin/app", 0o644, 2_000_000, False),  # not executable
        ("/usr/local/bin/entrypoint.sh", 0o755, 4095, False),  # too small to be Go
        ("/usr/local/bin/tiny", 0o755, 4096, True),
        ("/usr/local/bin/huge", 0o755, GoBinaryCataloger.max_file_size, True),
        ("/usr/local/bin/huge", 0o755, GoBinaryCataloger.max_file_size + 1, False),
    ],
)
def test_claims_executables_within_the_size_bounds(path: str, mode: int, size: int, claimed: bool) -> None:
    assert GoBinaryCataloger().claims(path, mode, size) is claimed


def test_module_binary_with_replaced_and_vendored_dependencies() -> None:
    result = catalog(load("withdeps-amd64"))

    assert result.packages == WITHDEPS
    assert result.warnings == ()


@pytest.mark.parametrize(
    ("fixture", "arch"),
    [
        ("hello-arm64", "arm64"),  # 64-bit little-endian ELF
        ("hello-mips", "mips"),  # 32-bit big-endian ELF
    ],
)
def test_main_module_and_toolchain_on_other_architectures(fixture: str, arch: str) -> None:
    result = catalog(load(fixture))

    assert result.packages == hello(arch)
    assert result.warnings == ()


def test_debian_gopath_build_reports_its_main_package_path() -> None:
    # dh-golang builds in GOPATH mode: the build info has a `path` line, no `mod` line.
    path = "/usr/bin/go-md2man"

    result = catalog(load("go-md2man-debian"), path)

    assert result.packages == (
        go("github.com/cpuguy83/go-md2man/v2", "(devel)", "pkg:golang/github.com/cpuguy83/go-md2man/v2@%28devel%29",
           "amd64", path),
        go("stdlib", "go1.18.3", "pkg:golang/stdlib@1.18.3", "amd64", path),
    )  # fmt: skip
    assert result.warnings == ()


def test_elf_that_is_not_go_yields_nothing() -> None:
    result = catalog(load("true-coreutils"), "/usr/bin/true")

    assert result == CatalogResult()


@pytest.mark.parametrize(
    "content",
    [b'#!/bin/sh\nexec /usr/local/bin/app "$@"\n' * 200, b"MZ\x90\x00" + bytes(8000), b""],
)
def test_content_that_is_not_elf_yields_nothing(content: bytes) -> None:
    assert catalog(content) == CatalogResult()


def test_truncated_before_the_build_info_is_a_warning() -> None:
    content = load("withdeps-amd64")[: 64 << 10]

    result = catalog(content)

    assert result.packages == ()
    assert result.warnings == (f"/usr/local/bin/app: truncated ELF file ({64 << 10} bytes); Go build info not found",)


def test_truncated_inside_the_build_info_is_a_warning() -> None:
    binary = load("withdeps-amd64")
    content = binary[: binary.index(MAGIC) + 100]

    result = catalog(content)

    assert result.packages == ()
    assert result.warnings == ("/usr/local/bin/app: Go build info cut off at the end of the file (truncated?)",)


def test_truncated_elf_header_is_a_warning() -> None:
    result = catalog(load("withdeps-amd64")[:40])

    assert result.packages == ()
    assert result.warnings == ("/usr/local/bin/app: truncated ELF header (40 bytes)",)


def test_build_info_is_found_without_section_headers() -> None:
    # sstrip and some packers drop the section header table; the blob is then found by its magic.
    binary = bytearray(load("withdeps-amd64"))
    struct.pack_into("<Q", binary, 0x28, 0)  # e_shoff
    struct.pack_into("<HHH", binary, 0x3C, 0, 0, 0)  # e_shentsize, e_shnum, e_shstrndx

    result = catalog(bytes(binary))

    assert result.packages == WITHDEPS
    assert result.warnings == ()


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        # No build settings before Go 1.18: the architecture comes from the ELF machine.
        ("withdeps-amd64", WITHDEPS),
        ("hello-mips", hello("mips")),  # 4-byte big-endian pointers
    ],
)
def test_pre_go118_pointer_layout(fixture: str, expected: tuple[Package, ...]) -> None:
    result = catalog(to_pre_go118_layout(load(fixture)))

    assert result.packages == expected
    assert result.warnings == ()


def test_unmapped_pointer_in_pre_go118_layout_is_a_warning() -> None:
    binary = bytearray(to_pre_go118_layout(load("withdeps-amd64")))
    struct.pack_into("<Q", binary, binary.index(MAGIC) + 16, 0x10)  # the version's string header address

    result = catalog(bytes(binary))

    assert result.packages == ()
    assert result.warnings == ("/usr/local/bin/app: build info points to unmapped address 0x10",)


def test_truncations_never_raise() -> None:
    binary = load("hello-arm64")
    blob = binary.index(MAGIC)
    cuts = [*range(0, 4096, 61), *range(blob - 64, blob + 400, 7), *range(4096, len(binary), len(binary) // 40)]
    for cut in cuts:
        result = catalog(binary[:cut])
        assert result.packages == () or result.packages == hello("arm64")


# A Go < 1.18 toolchain is not reachable here, so the older layout is made from a
# real Go 1.19 binary, as debug/buildinfo describes it: byte 15 of the header is
# the endianness only, and the header's two pointer-sized words at offset 16 are
# the virtual addresses of two Go string headers (data address, length), for the
# Go version and the module info. Module info of that era has no `build` lines.


def to_pre_go118_layout(binary: bytes) -> bytes:
    assert binary.count(MAGIC) == 1
    blob = binary.index(MAGIC)
    pointer_size, flags = binary[blob + 14], binary[blob + 15]
    assert flags & 2, "expected the Go 1.18+ inline layout"
    endian = ">" if flags & 1 else "<"
    pointer = endian + ("I" if pointer_size == 4 else "Q")
    version, after_version = uvarint_string(binary, blob + 32)
    modinfo, inline_end = uvarint_string(binary, after_version)
    lines = modinfo[16:-16].splitlines(keepends=True)
    modinfo = modinfo[:16] + b"".join(line for line in lines if not line.startswith(b"build\t")) + modinfo[-16:]

    string_headers = blob + 32
    version_at = string_headers + 4 * pointer_size
    modinfo_at = version_at + len(version)
    assert modinfo_at + len(modinfo) <= inline_end, "the rewritten blob must fit where the inline one was"
    vaddr = virtual_addresses(binary)
    out = bytearray(binary)
    out[blob + 15] = flags & 1
    out[blob + 16 : inline_end] = bytes(inline_end - blob - 16)
    struct.pack_into(pointer, out, blob + 16, vaddr(string_headers))
    struct.pack_into(pointer, out, blob + 16 + pointer_size, vaddr(string_headers + 2 * pointer_size))
    struct.pack_into(pointer + pointer[1], out, string_headers, vaddr(version_at), len(version))
    struct.pack_into(pointer + pointer[1], out, string_headers + 2 * pointer_size, vaddr(modinfo_at), len(modinfo))
    out[version_at : version_at + len(version)] = version
    out[modinfo_at : modinfo_at + len(modinfo)] = modinfo
    return bytes(out)


def uvarint_string(data: bytes, offset: int) -> tuple[bytes, int]:
    length = shift = 0
    while True:
        byte = data[offset]
        offset += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return data[offset : offset + length], offset + length


def virtual_addresses(binary: bytes) -> Callable[[int], int]:
    """A function from file offset to virtual address, through the ELF PT_LOAD program headers."""
    is64, endian = binary[4] == 2, "<" if binary[5] == 1 else ">"
    if is64:
        (phoff,) = struct.unpack_from(endian + "Q", binary, 0x20)
        phentsize, phnum = struct.unpack_from(endian + "HH", binary, 0x36)
    else:
        (phoff,) = struct.unpack_from(endian + "I", binary, 0x1C)
        phentsize, phnum = struct.unpack_from(endian + "HH", binary, 0x2A)
    loads: list[tuple[int, int, int]] = []
    for index in range(phnum):
        at = phoff + index * phentsize
        if is64:
            p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(endian + "IIQQQQ", binary, at)
        else:
            p_type, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(endian + "IIIII", binary, at)
        if p_type == 1:
            loads.append((p_offset, p_vaddr, p_filesz))

    def vaddr(offset: int) -> int:
        for p_offset, p_vaddr, p_filesz in loads:
            if p_offset <= offset < p_offset + p_filesz:
                return p_vaddr + offset - p_offset
        raise AssertionError(f"offset {offset:#x} is in no PT_LOAD segment")

    return vaddr
