"""Decoding rpm package headers as the rpm database stores them (one blob per installed package).

The blob is rpm's exported header without the magic preamble, all integers
big-endian:

    uint32 il                  number of index entries
    uint32 dl                  length of the data store
    il x { int32 tag; uint32 type; int32 offset; uint32 count }
    dl bytes of data           each entry's value at data[offset:]

Strings are NUL-terminated; a STRING entry has count 1, STRING_ARRAY and
I18NSTRING entries hold `count` strings back to back (I18NSTRING's first is
the untranslated one). The first entry is usually a region tag (62/63) whose
value points at a trailer: it is skipped like any tag not asked for. Entries
appended after install ("dribble", e.g. INSTALLTIME) follow the region, and
where a tag appears twice the later one wins, as in rpm's headerImport.
"""

from __future__ import annotations

from collections.abc import Collection

TAG_NAME = 1000
TAG_VERSION = 1001
TAG_RELEASE = 1002
TAG_EPOCH = 1003
TAG_ARCH = 1022
TAG_SOURCERPM = 1044

TYPE_NULL = 0
TYPE_CHAR = 1
TYPE_INT8 = 2
TYPE_INT16 = 3
TYPE_INT32 = 4
TYPE_INT64 = 5
TYPE_STRING = 6
TYPE_BIN = 7
TYPE_STRING_ARRAY = 8
TYPE_I18NSTRING = 9

_INT_SIZES = {TYPE_CHAR: 1, TYPE_INT8: 1, TYPE_INT16: 2, TYPE_INT32: 4, TYPE_INT64: 8}
_STRING_TYPES = frozenset({TYPE_STRING, TYPE_STRING_ARRAY, TYPE_I18NSTRING})

# rpm's own sanity limits (header.c hdrchkTags, hdrchkData): a blob claiming
# more is corrupt, and must not make the decoder allocate or loop that much.
MAX_ENTRIES = 0xFFFF
MAX_DATA = 0xFFFFFF
_ENTRY_SIZE = 16

HeaderValue = str | tuple[str, ...] | tuple[int, ...] | bytes


class RpmHeaderError(ValueError):
    """The blob is not a well-formed rpm header; the message says where it breaks."""


def decode_header(blob: bytes, tags: Collection[int]) -> dict[int, HeaderValue]:
    """The values of the requested `tags` present in the header blob.

    STRING is returned as str; STRING_ARRAY and I18NSTRING as a tuple of str;
    CHAR, INT8..INT64 as a tuple of int; BIN as bytes. Raises RpmHeaderError.
    """
    if len(blob) < 8:
        raise RpmHeaderError(f"header is {len(blob)} bytes, shorter than its 8-byte preamble")
    entry_count = int.from_bytes(blob[0:4], "big")
    data_length = int.from_bytes(blob[4:8], "big")
    if not 0 < entry_count <= MAX_ENTRIES:
        raise RpmHeaderError(f"header claims {entry_count} index entries (rpm allows 1 to {MAX_ENTRIES})")
    if data_length > MAX_DATA:
        raise RpmHeaderError(f"header claims {data_length} bytes of data (rpm allows at most {MAX_DATA})")
    data_start = 8 + entry_count * _ENTRY_SIZE
    if len(blob) < data_start + data_length:
        raise RpmHeaderError(
            f"header is {len(blob)} bytes, its {entry_count} entries and {data_length} data bytes need "
            f"{data_start + data_length}"
        )
    data_end = data_start + data_length
    values: dict[int, HeaderValue] = {}
    for index in range(entry_count):
        at = 8 + index * _ENTRY_SIZE
        tag = int.from_bytes(blob[at : at + 4], "big", signed=True)
        if tag not in tags:
            continue
        kind = int.from_bytes(blob[at + 4 : at + 8], "big")
        offset = int.from_bytes(blob[at + 8 : at + 12], "big", signed=True)
        count = int.from_bytes(blob[at + 12 : at + 16], "big")
        if offset < 0 or offset >= data_length:
            raise RpmHeaderError(f"tag {tag}: offset {offset} is outside the {data_length}-byte data store")
        values[tag] = _decode_value(blob, tag, kind, data_start + offset, data_end, count)
    return values


def _decode_value(blob: bytes, tag: int, kind: int, start: int, end: int, count: int) -> HeaderValue:
    """The value at blob[start:], which must not reach past `end` (the end of the data store)."""
    if count == 0:
        raise RpmHeaderError(f"tag {tag}: count is 0")
    if kind in _STRING_TYPES:
        if kind == TYPE_STRING and count != 1:
            raise RpmHeaderError(f"tag {tag}: STRING with count {count}")
        if count > end - start:
            raise RpmHeaderError(f"tag {tag}: {count} strings cannot fit in the data store")
        strings: list[str] = []
        for _ in range(count):
            nul = blob.find(b"\0", start, end)
            if nul < 0:
                raise RpmHeaderError(f"tag {tag}: string not NUL-terminated within the data store")
            # rpm stores bytes; names and versions are ASCII in practice, anything else must not abort a scan.
            strings.append(blob[start:nul].decode("utf-8", errors="replace"))
            start = nul + 1
        return strings[0] if kind == TYPE_STRING else tuple(strings)
    if kind in _INT_SIZES:
        size = _INT_SIZES[kind]
        if start + count * size > end:
            raise RpmHeaderError(f"tag {tag}: {count} values of {size} bytes overrun the data store")
        return tuple(int.from_bytes(blob[start + i * size : start + (i + 1) * size], "big") for i in range(count))
    if kind == TYPE_BIN:
        if start + count > end:
            raise RpmHeaderError(f"tag {tag}: {count} bytes overrun the data store")
        return blob[start : start + count]
    raise RpmHeaderError(f"tag {tag}: unknown type {kind}")
