"""What a build's image holds: its layers with their files, its packages and its base images.

Layer contents and package sets are stored once, by content, however many builds share them; reading
a build back gives the same values its check recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from drift.storage.models import (
    BaseImageRow,
    BuildLayerRow,
    BuildRow,
    LayerContentRow,
    LayerFileRow,
    PackageRow,
    PackageSetRow,
)
from drift.storage.rows import builder_info, insert_once
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
    content_ids = _content_ids(session, layers)
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


def _content_ids(session: Session, layers: Sequence[LayerRecord]) -> dict[str, int]:
    """The content id of each layer's normalized digest, storing the contents not stored yet."""
    digests = {layer.normalized_digest for layer in layers}
    found = session.execute(
        select(LayerContentRow.normalized_digest, LayerContentRow.id).where(
            LayerContentRow.normalized_digest.in_(digests)
        )
    )
    known: dict[str, int] = {digest: content_id for digest, content_id in found}
    if known:
        _mark_recorded(session, list(known.values()))
    for layer in layers:
        if layer.normalized_digest not in known:
            known[layer.normalized_digest] = _save_layer_content(session, layer)
    return known


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


def _save_layer_content(session: Session, layer: LayerRecord) -> int:
    content_id = insert_once(
        session,
        LayerContentRow,
        LayerContentRow.normalized_digest,
        normalized_digest=layer.normalized_digest,
        file_count=len(layer.entries),
        content_size=sum(entry.size for entry in layer.entries),
    )
    if content_id is None:  # another worker stored the same content just now
        stored: int = session.scalars(
            select(LayerContentRow.id).where(LayerContentRow.normalized_digest == layer.normalized_digest)
        ).one()
        return stored
    if layer.entries:
        session.execute(
            insert(LayerFileRow),
            [
                {
                    "content_id": content_id,
                    "path": e.path,
                    "type": e.type.value,
                    "mode": e.mode,
                    "uid": e.uid,
                    "gid": e.gid,
                    "size": e.size,
                    "sha256": e.sha256,
                    "link_target": e.link_target,
                    "normalized_sha256": e.normalized_sha256 or None,
                    "xattrs": e.xattrs,
                    "device": e.device,
                }
                for e in layer.entries
            ],
        )
    return content_id


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
            entries=_layer_entries(session, layer.content_id),
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


def _layer_entries(session: Session, content_id: int) -> tuple[FileEntry, ...]:
    files = session.scalars(select(LayerFileRow).where(LayerFileRow.content_id == content_id).order_by(LayerFileRow.id))
    return tuple(
        FileEntry(
            path=f.path,
            type=EntryType(f.type),
            mode=f.mode,
            uid=f.uid,
            gid=f.gid,
            size=f.size,
            sha256=f.sha256,
            link_target=f.link_target,
            normalized_sha256=f.normalized_sha256 or "",
            xattrs=f.xattrs,
            device=f.device,
        )
        for f in files
    )


def base_images(session: Session, build_id: int) -> tuple[BaseImage, ...]:
    build = session.get_one(BuildRow, build_id)
    return tuple(
        BaseImage(
            stage=b.stage,
            reference=b.reference,
            image_id=b.image_id or "",
            repo_digest=b.repo_digest or "",
            layer_count=b.layer_count,
            final=b.final,
        )
        for b in build.base_images
    )


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
