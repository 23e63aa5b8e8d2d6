"""A layer's file manifest, whatever its number of entries, in bounded memory.

A manifest is a collection of FileEntry in manifest order: sorted by path, then
type, one entry per path and marker. Most layers hold a few thousand entries and
their manifest is a plain tuple. A layer of a million files would need about
400 MB as objects, so past `SPILL_AT` entries the reader writes sorted runs to a
temporary file and merges them into a `SpooledManifest`, read back a chunk at a
time. Whoever walks a manifest (the normalized digest, the comparison, the
store) iterates it, as often as it needs, and never indexes it.

`by_path` walks two manifests side by side, one path at a time, which is how
the comparison and the delta store meet a million entries without a dict of
them.
"""

from __future__ import annotations

import heapq
import os
import pickle
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import replace
from itertools import groupby, zip_longest
from typing import IO, Any

from drift.values import EntryType, FileEntry

SPILL_AT = 50_000
"""Entries a layer reader keeps in memory before it writes them, sorted, to a temporary file."""
_CHUNK = 2_000
"""Entries per pickled chunk of a spooled manifest: what one reader of it holds at a time."""

_MARKERS = (EntryType.WHITEOUT, EntryType.OPAQUE)
_TYPES = {entry_type.value: entry_type for entry_type in EntryType}

Row = tuple[str, str, int, int, int, int, str, str, str, str | None, str | None]


def entry_key(entry: FileEntry) -> tuple[str, str]:
    """A manifest holds one entry per key: its path, and whether it is a whiteout or opaque marker.

    A whiteout of /x and a file /x can sit in one layer; the markers are kept
    apart from the entries they delete.
    """
    return (entry.path, entry.type.value if entry.type in _MARKERS else "")


def entry_sort_key(entry: FileEntry) -> tuple[str, str]:
    """Manifest order: by path, then type, so "/d" (dir) and "/d" (opaque) are stable."""
    return (entry.path, entry.type.value)


def path_of(entry: FileEntry) -> str:
    return entry.path


class Manifest(Collection[FileEntry]):
    """A manifest read as it is iterated, not held: equal to any collection with the same entries in
    the same order (a tuple among them), as a manifest held in memory is."""

    def __contains__(self, item: object) -> bool:
        return any(entry == item for entry in self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Collection) or isinstance(other, str | bytes):
            return NotImplemented
        if len(self) != len(other):
            return False
        done = object()
        return all(mine == theirs for mine, theirs in zip_longest(self, other, fillvalue=done))

    __hash__ = None  # type: ignore[assignment]  # mutable while written, and compared by content


class SpooledManifest(Manifest):
    """Entries kept in an unnamed temporary file, in the order they were appended.

    Append, then `seal`; after that it can be iterated any number of times,
    also by several readers at once (each reads its own chunk with `pread`).
    The file goes when the manifest is garbage-collected.
    """

    def __init__(self) -> None:
        # Open for the manifest's life, closed (and gone) when it is collected.
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="drift-manifest-")  # noqa: SIM115
        self._chunks: list[tuple[int, int]] = []  # (offset, length) of each pickled chunk
        self._pending: list[Row] = []
        self._end = 0
        self._count = 0
        self._sealed = False

    def append(self, entry: FileEntry) -> None:
        self._pending.append(
            (
                entry.path,
                entry.type.value,
                entry.mode,
                entry.uid,
                entry.gid,
                entry.size,
                entry.sha256,
                entry.link_target,
                entry.normalized_sha256,
                entry.xattrs,
                entry.device,
            )
        )
        self._count += 1
        if len(self._pending) >= _CHUNK:
            self._write_pending()

    def extend(self, entries: Iterable[FileEntry]) -> None:
        for entry in entries:
            self.append(entry)

    def seal(self) -> SpooledManifest:
        self._write_pending()
        self._file.flush()
        self._sealed = True
        return self

    def _write_pending(self) -> None:
        if not self._pending:
            return
        data = pickle.dumps(self._pending, protocol=pickle.HIGHEST_PROTOCOL)
        self._file.write(data)
        self._chunks.append((self._end, len(data)))
        self._end += len(data)
        self._pending = []

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[FileEntry]:
        if not self._sealed:
            raise RuntimeError("a spooled manifest is read only once sealed")
        fd = self._file.fileno()
        types = _TYPES
        for offset, length in self._chunks:
            rows: list[Row] = pickle.loads(os.pread(fd, length, offset))
            for path, kind, mode, uid, gid, size, sha256, link, normalized, xattrs, device in rows:
                yield FileEntry(path, types[kind], mode, uid, gid, size, sha256, link, normalized, xattrs, device)

    def __repr__(self) -> str:
        return f"SpooledManifest({self._count} entries)"


class ManifestBuilder:
    """Takes a layer's entries in tar order and gives its manifest.

    Up to `spill_at` entries stay in memory and the manifest is a tuple, as a
    small layer's always was; past that, each `spill_at` entries are sorted by
    path and written out as a run, and the runs are merged into a
    `SpooledManifest`. Either way the same rules make the manifest: a path
    listed twice keeps its last copy (its markers are kinds of their own), and
    hard-linked groups get their canonical form.
    """

    def __init__(self, spill_at: int | None = None) -> None:
        self._spill_at = SPILL_AT if spill_at is None else spill_at
        self._entries: list[FileEntry] = []
        self._runs: list[SpooledManifest] = []

    def add(self, entry: FileEntry) -> None:
        self._entries.append(entry)
        if len(self._entries) >= self._spill_at:
            self._spill()

    def _spill(self) -> None:
        # A stable sort by path keeps tar order among entries for the same path,
        # and heapq.merge takes equal paths from earlier runs first: tar order again.
        self._entries.sort(key=path_of)
        self._runs.append(SpooledManifest())
        self._runs[-1].extend(self._entries)
        self._runs[-1].seal()
        self._entries = []

    def finish(self) -> Collection[FileEntry]:
        if not self._runs:
            self._entries.sort(key=path_of)
            manifest = list(_one_per_key(self._entries))
            if any(entry.type is EntryType.HARDLINK for entry in manifest):
                manifest = canonical_hard_links(manifest)
            return tuple(manifest)
        if self._entries:
            self._spill()
        merged = SpooledManifest()
        merged.extend(_one_per_key(heapq.merge(*self._runs, key=path_of)))
        merged.seal()
        self._runs = []
        if not any(entry.type is EntryType.HARDLINK for entry in merged):
            return merged
        canonical = SpooledManifest()
        canonical.extend(canonical_entries(merged))
        return canonical.seal()


def _one_per_key(entries: Iterable[FileEntry]) -> Iterator[FileEntry]:
    """Entries sorted by path (tar order within a path) to manifest order, one per path and marker kind."""
    for _path, same_path in groupby(entries, key=path_of):
        group = list(same_path)
        if len(group) == 1:
            yield group[0]
            continue
        # Like extraction, a path listed twice keeps its last copy; the whiteout and
        # opaque markers for a path are kinds of their own ("/d" opaque + "/d" dir).
        last: dict[EntryType | None, FileEntry] = {}
        for entry in group:
            last[entry.type if entry.type in _MARKERS else None] = entry
        yield from sorted(last.values(), key=entry_sort_key)


def in_order(manifest: Iterable[FileEntry]) -> Iterable[FileEntry]:
    """The manifest in manifest order: one held in memory as a sequence may be in any (one built by
    hand, or read from an old row) and is sorted, cheaply; one spooled or stored is by construction."""
    if isinstance(manifest, Sequence):
        return sorted(manifest, key=entry_sort_key)
    return manifest


def by_path(
    old: Iterable[FileEntry], new: Iterable[FileEntry]
) -> Iterator[tuple[str, list[FileEntry], list[FileEntry]]]:
    """Two manifests side by side: (path, its entries in `old`, its entries in `new`), by path.

    Both must be in manifest order (sorted by path); a path one of them lacks
    comes with an empty list on that side.
    """
    old_groups = ((path, list(group)) for path, group in groupby(old, key=path_of))
    new_groups = ((path, list(group)) for path, group in groupby(new, key=path_of))
    done = object()
    old_item: Any = next(old_groups, done)
    new_item: Any = next(new_groups, done)
    while old_item is not done or new_item is not done:
        if new_item is done or (old_item is not done and old_item[0] < new_item[0]):
            yield old_item[0], old_item[1], []
            old_item = next(old_groups, done)
        elif old_item is done or new_item[0] < old_item[0]:
            yield new_item[0], [], new_item[1]
            new_item = next(new_groups, done)
        else:
            yield old_item[0], old_item[1], new_item[1]
            old_item, new_item = next(old_groups, done), next(new_groups, done)


def apply_delta(
    base: Iterable[FileEntry], changed: Iterable[FileEntry], gone: Collection[tuple[str, str]]
) -> Iterator[FileEntry]:
    """The manifest a delta stands for: `base` (in manifest order) with `changed` entries put in, by key,
    and the keys in `gone` left out; in manifest order."""
    updates: dict[str, list[FileEntry]] = {}
    for entry in changed:
        updates.setdefault(entry.path, []).append(entry)
    pending = sorted(updates)
    position = 0
    for path, same_path in groupby(base, key=path_of):
        while position < len(pending) and pending[position] < path:
            yield from sorted(updates[pending[position]], key=entry_sort_key)
            position += 1
        entries = {entry_key(entry): entry for entry in same_path if entry_key(entry) not in gone}
        if position < len(pending) and pending[position] == path:
            entries.update((entry_key(entry), entry) for entry in updates[path])
            position += 1
        yield from sorted(entries.values(), key=entry_sort_key)
    for path in pending[position:]:
        yield from sorted(updates[path], key=entry_sort_key)


def count_and_size(manifest: Iterable[FileEntry]) -> tuple[int, int]:
    """How many entries a manifest has and how many bytes of content, in one pass."""
    count = total = 0
    for entry in manifest:
        count += 1
        total += entry.size
    return count, total


def batched(rows: Iterable[Any], size: int, convert: Callable[[Any], Any]) -> Iterator[list[Any]]:
    """`rows` converted, in lists of at most `size`: what an executemany takes at a time."""
    batch: list[Any] = []
    for row in rows:
        batch.append(convert(row))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# -- hard links ------------------------------------------------------------------

_TYPE_NAMES = {entry_type: entry_type.value for entry_type in EntryType}


def canonical_hard_links(manifest: Sequence[FileEntry]) -> list[FileEntry]:
    """The manifest with each hard-linked group written one way, whatever order the tar listed its names in.

    A tar lists the first name of a multiply-linked file as the file and every
    later name as a hard link to it, so the same two names with the same
    content read differently when a tar writer walks them in another order.
    Here the smallest path of a group is the regular file (with the content,
    mode, owner and attributes of the one inode) and every other name is a
    hard link to it, carrying the content digest. A link whose target is not
    a regular file of this layer (it sits in a lower layer) stays as read.
    Idempotent: a manifest read back from the database gets the same form.
    Returns the entries in manifest order (by path, then type).
    """
    links = {entry.path: entry.link_target for entry in manifest if entry.type is EntryType.HARDLINK}
    if not links:
        return list(manifest)
    rewritten = _rewrites(manifest, links)
    resolved: list[FileEntry] = []
    for entry in manifest:
        if entry.type in (EntryType.FILE, EntryType.HARDLINK) and entry.path in rewritten:
            resolved.append(rewritten.pop(entry.path))
        else:
            resolved.append(entry)
    resolved.sort(key=lambda e: (e.path, _TYPE_NAMES[e.type]))
    return resolved


def canonical_entries(manifest: Collection[FileEntry]) -> Iterable[FileEntry]:
    """`canonical_hard_links` for a manifest already in manifest order, as a stream: it reads the manifest
    up to three times and holds only its hard links and their targets, never the whole of it.

    A rewritten entry keeps its path and turns file into hard link or back, and
    both sort before any marker of that path: the order stays manifest order.
    """
    if isinstance(manifest, Sequence):
        return canonical_hard_links(manifest)  # held in memory anyway, and maybe in any order
    links = {entry.path: entry.link_target for entry in manifest if entry.type is EntryType.HARDLINK}
    if not links:
        return manifest
    rewritten = _rewrites(manifest, links)
    kinds = (EntryType.FILE, EntryType.HARDLINK)
    return (rewritten.get(entry.path, entry) if entry.type in kinds else entry for entry in manifest)


def _rewrites(manifest: Iterable[FileEntry], links: dict[str, str]) -> dict[str, FileEntry]:
    """By path, the entries of the hard-linked groups in canonical form (see `canonical_hard_links`)."""
    targets: dict[str, str] = {}
    for path in links:
        target = links[path]
        for _ in range(8):  # a link may name another link; tar writers never chain far
            if target not in links:
                break
            target = links[target]
        targets[path] = target
    wanted = set(targets.values())
    files = {entry.path: entry for entry in manifest if entry.type is EntryType.FILE and entry.path in wanted}
    groups: dict[str, list[str]] = {}
    for path, target in targets.items():
        if target in files and target != path:
            groups.setdefault(target, [target]).append(path)
    rewritten: dict[str, FileEntry] = {}
    for target, paths in groups.items():
        inode = files[target]
        first, *others = sorted(paths)
        rewritten[first] = replace(inode, path=first)
        for other in others:
            rewritten[other] = replace(
                inode, path=other, type=EntryType.HARDLINK, size=0, link_target=first, normalized_sha256=""
            )
    return rewritten
