"""Go modules compiled into ELF executables, read from the build info the Go linker embeds.

Every Go binary built by Go 1.13 or later carries a "build info" blob: a
32-byte header starting with the magic `\\xff Go buildinf:`, then the Go
version ("go1.19.8") and, for module builds, the module info text:

    path    example.com/drift/withdeps
    mod     example.com/drift/withdeps  (devel)
    dep     example.com/drift/greet     v0.1.0
    =>      example.com/drift/greet-fork        v0.2.0
    dep     github.com/google/uuid      v1.3.0  h1:...
    build   GOARCH=amd64

(tab-separated, framed by 16-byte sentinels). Go 1.18+ stores both strings
inline after the header, each prefixed by its length as a uvarint (flag bit 2
of header byte 15); older toolchains store two pointers to Go string headers,
resolved here through the ELF program headers. The reference is Go's
`debug/buildinfo` and `runtime/debug.ParseBuildInfo`.

The blob is found through the `.go.buildinfo` section (Go 1.13+ on ELF) or,
when the section headers are gone (sstrip, some packers), by searching the
file for the magic at a 16-byte-aligned offset, as the linker places it.

Packages, as syft reports them: the main module (its version is "(devel)"
unless built with `go install module@version`), every dependency, and the Go
toolchain as "stdlib". A replaced dependency is reported as the code that was
compiled in: the replacement's module path and version (`=> fork v0.2.0`),
except for a directory replacement (`=> ./local`), which has no module path of
its own, so the original path is kept with the replacement's version
("(devel)", kept verbatim where syft now blanks it). Architecture: the GOARCH
build setting, else the ELF machine, spelled as GOARCH spells it.

Memory: `catalog` gets the whole file as bytes and parses it in place
(`struct.unpack_from`, `bytes.find`), so one claimed binary costs its size
in memory while it is read, and no more. `max_file_size` is raised to 256 MiB
because real Go binaries exceed the 64 MiB default (kubelet, terraform, vault);
executables beyond it are not claimed at all, since nothing says they are Go.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar

from drift.catalog.interface import CatalogContext, Cataloger, CatalogResult, Package
from drift.catalog.purl import make_purl

_ELF_MAGIC = b"\x7fELF"
_BUILDINFO_MAGIC = b"\xff Go buildinf:"
_BUILDINFO_HEADER_SIZE = 32
_BUILDINFO_ALIGN = 16
_INLINE_STRINGS_FLAG = 0x2
_MODINFO_SENTINEL_SIZE = 16
_PT_LOAD = 1
_SHT_NOBITS = 8
_DEVEL = "(devel)"

# e_machine -> GOARCH; the endian-sensitive ones are resolved in _goarch_from_elf.
_ELF_MACHINES = {
    3: "386",
    8: "mips",
    20: "ppc",
    21: "ppc64",
    22: "s390x",
    40: "arm",
    62: "amd64",
    183: "arm64",
    243: "riscv64",
    258: "loong64",
}


class _Malformed(Exception):
    """The file looked like an ELF Go binary but could not be read; the message says why."""


@dataclass(frozen=True, slots=True)
class _Segment:
    vaddr: int
    offset: int
    filesz: int


@dataclass(frozen=True, slots=True)
class _Elf:
    """What the build info reader needs from an ELF file's headers."""

    is64: bool
    endian: str  # struct prefix, "<" or ">"
    machine: int
    segments: tuple[_Segment, ...]
    buildinfo_offset: int | None  # file offset of the .go.buildinfo section, if the section headers name one
    truncated: bool  # a header table or a loaded segment reaches past the end of the file

    def read_at(self, content: bytes, vaddr: int, size: int) -> bytes:
        """`size` bytes at virtual address `vaddr`, as the loader would map them from the file."""
        for segment in self.segments:
            if segment.vaddr <= vaddr and vaddr + size <= segment.vaddr + segment.filesz:
                start = segment.offset + (vaddr - segment.vaddr)
                if start + size > len(content):
                    raise _Malformed("build info points past the end of the file (truncated?)")
                return content[start : start + size]
        raise _Malformed(f"build info points to unmapped address {vaddr:#x}")


@dataclass(slots=True)
class _Module:
    path: str
    version: str
    replace: _Module | None = None


@dataclass(slots=True)
class _BuildInfo:
    go_version: str
    path: str = ""
    main: _Module | None = None
    deps: list[_Module] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)


class GoBinaryCataloger(Cataloger):
    """Go modules and the Go toolchain version compiled into ELF executables (ecosystem "golang")."""

    ecosystem = "golang"
    max_file_size: ClassVar[int] = 256 << 20
    min_file_size: ClassVar[int] = 4 << 10
    """Smaller executables are scripts or stubs: no Go binary is this small (the runtime alone is ~1 MiB)."""

    def claims(self, path: str, mode: int, size: int) -> bool:
        # Any executable in any directory: Go binaries live in /usr/local/bin,
        # /app, /opt/*/bin, /ko-app... The content check is in `catalog`.
        return bool(mode & 0o111) and self.min_file_size <= size <= self.max_file_size

    def catalog(self, path: str, content: bytes, context: CatalogContext) -> CatalogResult:
        if not content.startswith(_ELF_MAGIC):
            return CatalogResult()
        try:
            elf = _read_elf(content)
            info = _read_buildinfo(content, elf)
        except _Malformed as exc:
            return CatalogResult(warnings=(f"{path}: {exc}",))
        if info is None:
            if elf.truncated:
                return CatalogResult(
                    warnings=(f"{path}: truncated ELF file ({len(content)} bytes); Go build info not found",)
                )
            return CatalogResult()  # an ELF file, but not a Go binary
        warnings: list[str] = []
        packages = _packages(path, info, _goarch(info, elf), warnings)
        return CatalogResult(packages=tuple(packages), warnings=tuple(warnings))


def _read_elf(content: bytes) -> _Elf:
    if len(content) < 52:
        raise _Malformed(f"truncated ELF header ({len(content)} bytes)")
    elf_class, elf_data = content[4], content[5]
    if elf_class not in (1, 2) or elf_data not in (1, 2):
        raise _Malformed(f"unknown ELF class {elf_class} or data encoding {elf_data}")
    is64 = elf_class == 2
    endian = "<" if elf_data == 1 else ">"
    header_format = endian + ("HHIQQQIHHHHHH" if is64 else "HHIIIIIHHHHHH")
    if len(content) < 16 + struct.calcsize(header_format):
        raise _Malformed(f"truncated ELF header ({len(content)} bytes)")
    (_type, machine, _version, _entry, phoff, shoff, _flags, _ehsize, phentsize, phnum, shentsize, shnum, shstrndx) = (
        struct.unpack_from(header_format, content, 16)
    )

    truncated = False
    segments: list[_Segment] = []
    program_format = endian + ("IIQQQQQQ" if is64 else "IIIIIIII")
    if phnum and phentsize >= struct.calcsize(program_format):
        if phoff + phnum * phentsize > len(content):
            truncated = True
        else:
            for index in range(phnum):
                fields = struct.unpack_from(program_format, content, phoff + index * phentsize)
                if is64:
                    p_type, _p_flags, p_offset, p_vaddr, _p_paddr, p_filesz = fields[:6]
                else:
                    p_type, p_offset, p_vaddr, _p_paddr, p_filesz = fields[:5]
                if p_type == _PT_LOAD:
                    segments.append(_Segment(vaddr=p_vaddr, offset=p_offset, filesz=p_filesz))
                    # Go's linker writes its headers first, so a cut file still has
                    # them whole: the segments reaching past the end tell the cut.
                    truncated = truncated or p_offset + p_filesz > len(content)

    buildinfo_offset: int | None = None
    section_format = endian + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII")
    # shnum == 0 with a table (more than 65279 sections) never happens for Go
    # binaries; without a usable table the magic search below takes over.
    if shnum and shentsize >= struct.calcsize(section_format) and shstrndx < shnum:
        if shoff + shnum * shentsize > len(content):
            truncated = True
        else:
            sections = [struct.unpack_from(section_format, content, shoff + i * shentsize) for i in range(shnum)]
            # (sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, ...)
            names_offset, names_size = sections[shstrndx][4], sections[shstrndx][5]
            names = content[names_offset : names_offset + names_size]
            for sh_name, sh_type, _sh_flags, _sh_addr, sh_offset, sh_size, *_rest in sections:
                end = names.find(b"\x00", sh_name)
                if names[sh_name:end] == b".go.buildinfo" and sh_type != _SHT_NOBITS and sh_size:
                    buildinfo_offset = sh_offset
                    break
    return _Elf(
        is64=is64,
        endian=endian,
        machine=machine,
        segments=tuple(segments),
        buildinfo_offset=buildinfo_offset,
        truncated=truncated,
    )


def _find_blob(content: bytes, elf: _Elf) -> int | None:
    """The file offset of the build info header, or None when this is not a Go binary."""
    offset = elf.buildinfo_offset
    if offset is not None and content.startswith(_BUILDINFO_MAGIC, offset):
        return offset
    start = 0
    while True:
        found = content.find(_BUILDINFO_MAGIC, start)
        if found < 0:
            return None
        # The linker aligns the blob; an unaligned hit is the magic string
        # itself in rodata (the go command and the linker contain it).
        if found % _BUILDINFO_ALIGN == 0:
            return found
        start = found + 1


def _read_buildinfo(content: bytes, elf: _Elf) -> _BuildInfo | None:
    offset = _find_blob(content, elf)
    if offset is None:
        return None
    header = content[offset : offset + _BUILDINFO_HEADER_SIZE]
    if len(header) < _BUILDINFO_HEADER_SIZE:
        raise _Malformed("Go build info header cut off at the end of the file (truncated?)")
    pointer_size, flags = header[14], header[15]
    if flags & _INLINE_STRINGS_FLAG:
        version, after = _uvarint_string(content, offset + _BUILDINFO_HEADER_SIZE)
        modinfo, _ = _uvarint_string(content, after)
    else:
        version, modinfo = _pointer_strings(content, elf, header, pointer_size, big_endian=flags != 0)
    go_version = version.decode("utf-8", errors="replace")
    if not go_version:
        raise _Malformed("Go build info without a Go version")
    text = modinfo.decode("utf-8", errors="replace")
    # The module info is framed by two 16-byte sentinels, the first ending in a newline.
    sentinels = 2 * _MODINFO_SENTINEL_SIZE
    if len(text) > sentinels and text[-_MODINFO_SENTINEL_SIZE - 1] == "\n":
        text = text[_MODINFO_SENTINEL_SIZE:-_MODINFO_SENTINEL_SIZE]
    else:
        text = ""  # not built in module mode: only the Go version is known
    return _parse_modinfo(go_version, text)


def _uvarint_string(content: bytes, offset: int) -> tuple[bytes, int]:
    """The uvarint-length-prefixed string at `offset`, and the offset after it."""
    length = shift = 0
    position = offset
    while True:
        if position >= len(content) or shift > 63:
            raise _Malformed("Go build info cut off or corrupt (bad string length)")
        byte = content[position]
        position += 1
        length |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
    if position + length > len(content):
        raise _Malformed("Go build info cut off at the end of the file (truncated?)")
    return content[position : position + length], position + length


def _pointer_strings(
    content: bytes, elf: _Elf, header: bytes, pointer_size: int, *, big_endian: bool
) -> tuple[bytes, bytes]:
    """Go < 1.18: the header holds the addresses of two Go string headers (data pointer, length)."""
    if pointer_size not in (4, 8):
        raise _Malformed(f"Go build info with pointer size {pointer_size}")
    pointer = ("<", ">")[big_endian] + ("I" if pointer_size == 4 else "Q")

    def read_string(address: int) -> bytes:
        string_header = elf.read_at(content, address, 2 * pointer_size)
        (data,) = struct.unpack_from(pointer, string_header, 0)
        (length,) = struct.unpack_from(pointer, string_header, pointer_size)
        if length > len(content):
            raise _Malformed(f"Go build info string of impossible length {length}")
        return elf.read_at(content, data, length) if length else b""

    (version_address,) = struct.unpack_from(pointer, header, 16)
    (modinfo_address,) = struct.unpack_from(pointer, header, 16 + pointer_size)
    return read_string(version_address), read_string(modinfo_address)


def _parse_modinfo(go_version: str, text: str) -> _BuildInfo:
    """The `runtime/debug.BuildInfo.String` text, leniently: unknown and malformed lines are skipped."""
    info = _BuildInfo(go_version=go_version)
    last: _Module | None = None
    for line in text.split("\n"):
        keyword, _, rest = line.partition("\t")
        columns = rest.split("\t")
        if keyword == "path":
            info.path = rest
        elif keyword in ("mod", "dep") and len(columns) in (2, 3) and columns[0]:
            last = _Module(path=columns[0], version=columns[1])
            if keyword == "mod":
                info.main = last
            else:
                info.deps.append(last)
        elif keyword == "=>" and len(columns) == 3 and last is not None:
            last.replace = _Module(path=columns[0], version=columns[1])
            last = None
        elif keyword == "build":
            key, equals, value = rest.partition("=")
            if equals:
                info.settings[key] = value
    return info


def _goarch(info: _BuildInfo, elf: _Elf) -> str:
    if info.settings.get("GOARCH"):
        return info.settings["GOARCH"]
    goarch = _ELF_MACHINES.get(elf.machine, "")
    little = elf.endian == "<"
    if goarch == "mips":
        goarch = ("mips64" if elf.is64 else "mips") + ("le" if little else "")
    elif goarch == "ppc64" and little:
        goarch = "ppc64le"
    return goarch


def _module_purl(module_path: str, version: str) -> str:
    # The golang purl type splits the module path at its last slash:
    # "github.com/google/uuid" -> namespace "github.com/google", name "uuid".
    namespace, _, name = module_path.rpartition("/")
    return make_purl("golang", namespace or None, name, version)


def _packages(path: str, info: _BuildInfo, arch: str, warnings: list[str]) -> list[Package]:
    modules: list[tuple[str, str]] = []
    if info.main is not None:
        modules.append((info.main.path, info.main.version))
    elif info.path:
        # GOPATH builds (Debian's dh-golang) record only the main package's path.
        modules.append((info.path, _DEVEL))
    for dep in info.deps:
        if dep.replace is None:
            modules.append((dep.path, dep.version))
        elif dep.replace.path.startswith((".", "/")):
            modules.append((dep.path, dep.replace.version))
        else:
            modules.append((dep.replace.path, dep.replace.version))

    packages: list[Package] = []
    for module_path, version in modules:
        try:
            purl = _module_purl(module_path, version)
        except ValueError as exc:
            warnings.append(f"{path}: cannot form a purl for Go module {module_path!r} {version!r}: {exc}")
            continue
        packages.append(
            Package(ecosystem="golang", name=module_path, version=version, arch=arch, purl=purl, source=path)
        )

    # "go1.22.2 X:nocoverageredesign" names enabled experiments after the version.
    toolchain = next((word for word in info.go_version.split() if word.startswith("go")), info.go_version)
    packages.append(
        Package(
            ecosystem="golang",
            name="stdlib",
            version=toolchain,
            arch=arch,
            purl=make_purl("golang", None, "stdlib", toolchain.removeprefix("go")),
            source=path,
        )
    )
    return packages
