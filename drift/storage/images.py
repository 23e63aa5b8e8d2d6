"""What a build's image holds: its layers with their files, its packages and its base images.

Layer contents and package sets are stored once, by content, however many builds share them; reading
a build back gives the same values its check recorded. A layer content that differs little from the
same layer of the target's previous build (tonight's apt logs and caches) is stored as a delta against
that layer's full manifest, so an unchanged night adds a few rows, not thousands.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Any, Literal, overload

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from drift.manifest import Manifest, apply_delta, batched, by_path, count_and_size, entry_key, in_order
from drift.storage.models import (
    BaseImageRow,
    BuildLayerRow,
    BuildRow,
    LayerContentRow,
    LayerFileRow,
    PackageRow,
    PackageSetRow,
)
from drift.storage.rows import IDS, builder_info, insert_once, read_rows_for
from drift.values import BaseImage, BuildOutput, EntryType, FileEntry, ImageRecord, LayerRecord, Package

# --- storing -----------------------------------------------------------------------


def save_image(session: Session, build: BuildRow, image: ImageRecord) -> None:
    """Record the image a build made: its id and config, its layers and its packages."""
    build.image_id = image.image_id
    build.config = dict(image.config)
    build.config_digest = image.config_digest
    save_layers(session, build.id, image.layers)
    build.package_set_id = save_packages(session, image.packages)
    build.catalog_warnings = list(image.catalog_warnings) or None


def save_base_images(session: Session, build: BuildRow, bases: Sequence[BaseImage]) -> None:
    """Record the images a build's stages started from; the final stage's gives the inherited layer count."""
    for base in bases:
        session.add(
            BaseImageRow(
                build_id=build.id,
                stage=base.stage,
                reference=base.reference,
                image_id=base.image_id,
                repo_digest=base.repo_digest or None,
                layer_count=base.layer_count,
                final=base.final,
            )
        )
        if base.final:
            build.base_layer_count = base.layer_count


def save_layers(session: Session, build_id: int, layers: Sequence[LayerRecord]) -> None:
    """The build's layers, each pointing at its content (stored once per normalized digest)."""
    content_ids = _content_ids(session, layers, lambda: _previous_contents(session, build_id))
    session.execute(
        insert(BuildLayerRow),
        [
            {
                "build_id": build_id,
                "index": layer.index,
                "diff_id": layer.diff_id,
                "size": layer.size,
                "instruction": layer.instruction,
                "content_id": content_ids[layer.normalized_digest],
            }
            for layer in layers
        ],
    )


def _content_ids(
    session: Session, layers: Sequence[LayerRecord], previous: Callable[[], dict[int, int]]
) -> dict[str, int]:
    """The content id of each layer's normalized digest, storing the contents not stored yet.

    `previous` gives, by layer index, the full content a new one may be stored as a delta of.
    """
    digests = {layer.normalized_digest for layer in layers}
    found = session.execute(
        select(LayerContentRow.normalized_digest, LayerContentRow.id).where(
            LayerContentRow.normalized_digest.in_(digests)
        )
    )
    known: dict[str, int] = {digest: content_id for digest, content_id in found}
    if known:
        _mark_recorded(session, list(known.values()))
    bases: dict[int, int] | None = None
    for layer in layers:
        if layer.normalized_digest not in known:
            bases = previous() if bases is None else bases
            known[layer.normalized_digest] = _save_layer_content(session, layer, bases.get(layer.index))
    return known


def _previous_contents(session: Session, build_id: int) -> dict[int, int]:
    """By layer index, the full manifest of that layer in the target's previous build with an image (the
    content itself, or the base a delta content was stored against: a delta is never a delta's base)."""
    target_id = session.get_one(BuildRow, build_id).target_id
    previous = session.scalar(
        select(BuildRow.id)
        .where(BuildRow.target_id == target_id, BuildRow.id != build_id, BuildRow.image_id.is_not(None))
        .order_by(BuildRow.id.desc())
        .limit(1)
    )
    if previous is None:
        return {}
    rows = session.execute(
        select(BuildLayerRow.index, LayerContentRow.id, LayerContentRow.base_id)
        .join(LayerContentRow, LayerContentRow.id == BuildLayerRow.content_id)
        .where(BuildLayerRow.build_id == previous)
    )
    return {index: base_id or content_id for index, content_id, base_id in rows}


def _mark_recorded(session: Session, content_ids: list[int]) -> None:
    """Say of manifests stored before revision 0009 that they have no extended attributes and no devices,
    once a layer read since has had their digest.

    An entry with either serializes into the normalized digest with them, one
    without as before; so a layer read now whose digest equals a stored one has
    none, and neither has the stored manifest. Marking it recorded ("") lets
    the comparison see a capability a later build adds there, which against
    a not-recorded (NULL) manifest it cannot.
    """
    session.execute(
        update(LayerFileRow)
        .where(LayerFileRow.content_id.in_(content_ids), LayerFileRow.xattrs.is_(None))
        .values(xattrs="", device="")
    )


MAX_DELTA = 20_000
"""The most rows a layer content is stored as a delta with; reading it back holds them in memory."""
_INSERT_BATCH = 5_000


def _save_layer_content(session: Session, layer: LayerRecord, base_id: int | None) -> int:
    """Store a layer's manifest: whole, or as the delta against `base_id`'s when that is at most half of it
    (and at most MAX_DELTA rows). Both manifests are walked side by side and the rows inserted in batches,
    so a layer of a million files is never held in memory."""
    count, content_size = count_and_size(layer.entries)
    delta = None
    if base_id is not None and count:
        delta = _delta(StoredManifest(session, base_id, None, 0), in_order(layer.entries), min(count // 2, MAX_DELTA))
    rows: Iterable[FileEntry | tuple[str, str]] = layer.entries if delta is None else delta
    content_id = insert_once(
        session,
        LayerContentRow,
        LayerContentRow.normalized_digest,
        normalized_digest=layer.normalized_digest,
        file_count=count,
        content_size=content_size,
        base_id=base_id if delta is not None else None,
    )
    if content_id is None:  # another worker stored the same content just now
        stored: int = session.scalars(
            select(LayerContentRow.id).where(LayerContentRow.normalized_digest == layer.normalized_digest)
        ).one()
        return stored
    for batch in batched(rows, _INSERT_BATCH, lambda row: _file_row(content_id, row)):
        session.execute(insert(LayerFileRow), batch)
    return content_id


# A delta row for an entry of the base that the content does not have: its path, and in `link_target` the
# marker type it was ("whiteout", "opaque"), "" for any other entry.
GONE = "gone"


def _delta(
    base: Iterable[FileEntry], entries: Iterable[FileEntry], limit: int
) -> list[FileEntry | tuple[str, str]] | None:
    """The entries that differ from the base's (whole), then the base's keys they lack; None when that is
    more than `limit` rows, or when either manifest lists a key twice (one stored before manifests were
    made one per path), which a delta cannot say."""
    changed: list[FileEntry | tuple[str, str]] = []
    gone: list[FileEntry | tuple[str, str]] = []
    for _path, before, after in by_path(base, entries):
        old = {entry_key(entry): entry for entry in before}
        new = {entry_key(entry): entry for entry in after}
        if len(old) != len(before) or len(new) != len(after):
            return None
        changed.extend(entry for key, entry in new.items() if old.get(key) != entry)
        gone.extend(key for key in old if key not in new)
        if len(changed) + len(gone) > limit:
            return None
    return changed + gone


def _file_row(content_id: int, row: FileEntry | tuple[str, str]) -> dict[str, Any]:
    if isinstance(row, tuple):
        path, marker = row
        return {
            "content_id": content_id,
            "path": path,
            "type": GONE,
            "mode": 0,
            "uid": 0,
            "gid": 0,
            "size": 0,
            "sha256": "",
            "link_target": marker,
        }
    return {
        "content_id": content_id,
        "path": row.path,
        "type": row.type.value,
        "mode": row.mode,
        "uid": row.uid,
        "gid": row.gid,
        "size": row.size,
        "sha256": row.sha256,
        "link_target": row.link_target,
        "normalized_sha256": row.normalized_sha256 or None,
        "xattrs": row.xattrs,
        "device": row.device,
    }


def _package_set_digest(packages: Sequence[Package]) -> str:
    material = "\n".join(
        "\0".join((p.ecosystem, p.name, p.version, p.arch, p.purl, p.source, str(p.layer))) for p in packages
    )
    return "sha256:" + hashlib.sha256(material.encode("utf-8", "surrogateescape")).hexdigest()


def save_packages(session: Session, packages: Sequence[Package]) -> int | None:
    """The id of the package set, stored once however many builds share it."""
    if not packages:
        return None
    ordered = sorted(packages, key=lambda p: (p.ecosystem, p.name, p.arch, p.source, p.version))
    digest = _package_set_digest(ordered)
    existing = session.scalar(select(PackageSetRow.id).where(PackageSetRow.digest == digest))
    if existing is not None:
        return existing
    set_id = insert_once(session, PackageSetRow, PackageSetRow.digest, digest=digest, package_count=len(ordered))
    if set_id is None:  # another worker stored the same package set just now
        return session.scalars(select(PackageSetRow.id).where(PackageSetRow.digest == digest)).one()
    session.execute(
        insert(PackageRow),
        [
            {
                "set_id": set_id,
                "ecosystem": p.ecosystem,
                "name": p.name,
                "version": p.version,
                "arch": p.arch,
                "purl": p.purl,
                "source": p.source,
                "layer": p.layer,
            }
            for p in ordered
        ],
    )
    return set_id


# --- reading -----------------------------------------------------------------------


def load_packages(session: Session, build_id: int) -> tuple[Package, ...]:
    """The package manifest of a succeeded build."""
    build = session.get_one(BuildRow, build_id)
    if build.package_set_id is None:
        return ()
    rows = session.scalars(select(PackageRow).where(PackageRow.set_id == build.package_set_id).order_by(PackageRow.id))
    return tuple(
        Package(
            ecosystem=r.ecosystem,
            name=r.name,
            version=r.version,
            arch=r.arch,
            purl=r.purl,
            source=r.source,
            layer=r.layer,
        )
        for r in rows
    )


def catalog_warnings(session: Session, build_id: int) -> list[str]:
    return list(session.get_one(BuildRow, build_id).catalog_warnings or [])


def load_image(session: Session, build_id: int) -> ImageRecord:
    """The image a succeeded build recorded, manifests included."""
    build = session.get_one(BuildRow, build_id)
    layers = tuple(
        LayerRecord(
            index=layer.index,
            diff_id=layer.diff_id,
            size=layer.size,
            instruction=layer.instruction,
            normalized_digest=layer.content.normalized_digest,
            entries=StoredManifest(session, layer.content_id, layer.content.base_id, layer.content.file_count),
        )
        for layer in build.layers
    )
    return ImageRecord(
        image_id=build.image_id or "",
        layers=layers,
        config=dict(build.config or {}),
        config_digest=build.config_digest or "",
        packages=load_packages(session, build_id),
        catalog_warnings=tuple(build.catalog_warnings or ()),
    )


class StoredManifest(Manifest):
    """A stored layer content's manifest, in manifest order, read from the database in batches each time it
    is iterated (a delta applied to its base's as it goes). Valid while its session is open.

    A check judges a build against its baseline's manifests; most layers match by
    digest and are never read, and a layer of a million files is never held whole.
    """

    def __init__(self, session: Session, content_id: int, base_id: int | None, count: int) -> None:
        self._session = session
        self._content_id = content_id
        self._base_id = base_id
        self._count = count

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[FileEntry]:
        if self._base_id is None:
            yield from _stored_entries(self._session, self._content_id)
            return
        changed: list[FileEntry] = []
        gone: set[tuple[str, str]] = set()
        for entry in _stored_entries(self._session, self._content_id, delta=True):
            if isinstance(entry, tuple):
                gone.add(entry)
            else:
                changed.append(entry)
        yield from apply_delta(_stored_entries(self._session, self._base_id), changed, gone)

    def __repr__(self) -> str:
        return f"StoredManifest(content {self._content_id}, {self._count} entries)"


_FILE_COLUMNS = (
    LayerFileRow.path,
    LayerFileRow.type,
    LayerFileRow.mode,
    LayerFileRow.uid,
    LayerFileRow.gid,
    LayerFileRow.size,
    LayerFileRow.sha256,
    LayerFileRow.link_target,
    LayerFileRow.normalized_sha256,
    LayerFileRow.xattrs,
    LayerFileRow.device,
)
_TYPES = {entry_type.value: entry_type for entry_type in EntryType}


@overload
def _stored_entries(session: Session, content_id: int) -> Iterator[FileEntry]: ...


@overload
def _stored_entries(
    session: Session, content_id: int, *, delta: Literal[True]
) -> Iterator[FileEntry | tuple[str, str]]: ...


def _stored_entries(
    session: Session, content_id: int, *, delta: bool = False
) -> Iterator[FileEntry] | Iterator[FileEntry | tuple[str, str]]:
    """A content's rows in the order they were stored (manifest order), streamed; with `delta`, a GONE row
    as its key."""
    result = session.execute(
        select(*_FILE_COLUMNS)
        .where(LayerFileRow.content_id == content_id)
        .order_by(LayerFileRow.id)
        .execution_options(yield_per=_INSERT_BATCH)
    )
    types = _TYPES
    try:
        for path, kind, mode, uid, gid, size, sha256, link, normalized, xattrs, device in result:
            if delta and kind == GONE:
                yield (path, link)
            else:
                yield FileEntry(path, types[kind], mode, uid, gid, size, sha256, link, normalized or "", xattrs, device)
    finally:
        result.close()


def base_images(session: Session, build_id: int) -> tuple[BaseImage, ...]:
    return base_images_of(session, [build_id]).get(build_id, ())


def base_images_of(session: Session, build_ids: Collection[int]) -> dict[int, tuple[BaseImage, ...]]:
    """What each FROM of many builds resolved to, by build, in stage order (a build with none is left out)."""
    found: dict[int, list[BaseImage]] = {}
    seen: dict[tuple[Any, ...], BaseImage] = {}  # builds of one target mostly resolve to the same ones
    query = (
        select(
            BaseImageRow.build_id,
            BaseImageRow.stage,
            BaseImageRow.reference,
            BaseImageRow.image_id,
            BaseImageRow.repo_digest,
            BaseImageRow.layer_count,
            BaseImageRow.final,
        )
        .where(BaseImageRow.build_id.in_(IDS))
        .order_by(BaseImageRow.build_id, BaseImageRow.stage)
    )
    for build_id, *fields in read_rows_for(session, query, build_ids):
        key = tuple(fields)
        base = seen.get(key)
        if base is None:
            stage, reference, image_id, repo_digest, layer_count, final = fields
            base = seen[key] = BaseImage(
                stage=stage,
                reference=reference,
                image_id=image_id or "",
                repo_digest=repo_digest or "",
                layer_count=layer_count,
                final=final,
            )
        found.setdefault(build_id, []).append(base)
    return {build_id: tuple(bases) for build_id, bases in found.items()}


def load_output(session: Session, build_id: int) -> BuildOutput:
    """What a succeeded build produced: its image with manifests, its base images and builder."""
    build = session.get_one(BuildRow, build_id)
    return BuildOutput(
        image=load_image(session, build_id),
        base_images=base_images(session, build_id),
        base_layer_count=build.base_layer_count or 0,
        builder=builder_info(build),
    )


def layer_summaries(session: Session, build_id: int) -> list[dict[str, Any]]:
    """Index, diff_id, size, instruction and normalized digest of each layer of a build."""
    build = session.get_one(BuildRow, build_id)
    return [
        {
            "index": layer.index,
            "diff_id": layer.diff_id,
            "size": layer.size,
            "instruction": layer.instruction,
            "normalized_digest": layer.content.normalized_digest,
            "files": layer.content.file_count,
        }
        for layer in build.layers
    ]
