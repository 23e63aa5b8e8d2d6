"""Read a `docker save` stream, in either layout, into an ImageRecord.

`docker save` writes a tar whose layout depends on the engine: the legacy one
(manifest.json, `<id>/layer.tar`, `<config-hex>.json`) before Engine 25, the OCI
image layout (oci-layout, index.json, blobs/sha256/<hex>) from Engine 25 and
from skopeo. The stream is read once, in order, and cannot be rewound, and the
member that says which blob is what (manifest.json, index.json) may come last.
So every member that looks like a layer is parsed as it passes (its files
hashed, one at a time), small JSON members are kept, and the image is assembled
at the end: the image's manifest lists its layers' members in the order of the
config's rootfs.diff_ids, as `docker load` reads them. The layer tars are not
hashed again as a whole to check those diff_ids: the engine wrote them, for an
image it built or pulled and verified, and a second SHA-256 pass over every
byte made reading an image a fifth slower than the engine takes to save it.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import tarfile
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Protocol

import docker.errors
from requests.exceptions import RequestException
from urllib3.exceptions import HTTPError

from drift.catalog.interface import Cataloger
from drift.errors import ImageReadError
from drift.image.history import instruction_from_history
from drift.image.layer_tar import GZIP_MAGIC, read_layer
from drift.image.normalize import config_digest, normalized_config, normalized_digest
from drift.image.packages import LayerFiles, final_packages
from drift.image.stream import ForwardReader, Region
from drift.values import FileEntry, ImageRecord, LayerRecord, Package

MAX_JSON_SIZE = 8 << 20
"""JSON members up to this size are kept in memory (manifests, indexes, configs)."""
MAX_KEPT_SIZE = 64 << 20
"""A stream keeping more JSON than this in memory is refused."""

_BLOCK = 512
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_INDEX_TYPES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)
_MANIFEST_TYPES = frozenset(
    {
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    }
)


class ImageSaver(Protocol):
    """What can stream an image out as `docker save` does: an `Engine`, or a `docker.APIClient`."""

    def get_image(self, image: str) -> Iterable[bytes]: ...


def read_image(api: ImageSaver, image_ref: str, catalogers: Sequence[Cataloger] = ()) -> ImageRecord:
    """Stream `image_ref` out of the engine (GET /images/{name}/get) and read it.

    `api` is an `Engine` (or a `docker.APIClient`). Engine and transport failures become
    ImageReadError with a one-line message.
    """
    try:
        return read_saved_image(_transport_errors(api.get_image(image_ref), image_ref), catalogers)
    except (docker.errors.DockerException, RequestException, HTTPError, HTTPException, OSError) as error:
        raise ImageReadError(f"cannot save image {image_ref!r} from the engine: {_one_line(error)}") from error


def _transport_errors(chunks: Iterable[bytes], image_ref: str) -> Iterable[bytes]:
    # docker-py's get_image is a generator: the HTTP status is only checked, and
    # the connection only read, once iteration starts inside the tar reader.
    try:
        yield from chunks
    except (docker.errors.DockerException, RequestException, HTTPError, HTTPException, OSError) as error:
        raise ImageReadError(f"cannot save image {image_ref!r} from the engine: {_one_line(error)}") from error


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


@dataclass(slots=True)
class _Layer:
    entries: Collection[FileEntry]
    size: int
    files: LayerFiles | None = None


@dataclass(slots=True)
class _Members:
    """What the stream held, by member name: parsed layers and small JSON blobs."""

    layers: dict[str, _Layer] = field(default_factory=dict)  # member name -> layer
    blobs: dict[str, bytes] = field(default_factory=dict)  # member name -> bytes
    links: dict[str, str] = field(default_factory=dict)  # symlink member -> target member
    unsupported: list[str] = field(default_factory=list)  # layer blobs drift cannot decompress
    kept: int = 0  # bytes held in blobs
    catalogers: Sequence[Cataloger] = ()

    def blob(self, name: str) -> bytes | None:
        """The bytes of a kept member, following symlinks between members."""
        return self.blobs.get(self._resolved(name, self.blobs))

    def layer(self, name: str) -> _Layer | None:
        """The layer read from a member, following symlinks between members."""
        return self.layers.get(self._resolved(name, self.layers))

    def _resolved(self, name: str, found: Mapping[str, object]) -> str:
        for _ in range(8):
            if name in found:
                return name
            target = self.links.get(name)
            if target is None:
                return name
            name = target
        return name


def read_saved_image(chunks: Iterable[bytes], catalogers: Sequence[Cataloger] = ()) -> ImageRecord:
    """Read a `docker save` tar stream (legacy or OCI layout), consuming it once.

    With `catalogers`, the image's package manifest is read in the same pass.
    Raises ImageReadError when the stream is not a readable `docker save` of
    exactly one image.
    """
    members = _collect(ForwardReader.over_chunks(chunks), catalogers)
    config_bytes, layer_names = _find_config(members)
    try:
        config = json.loads(config_bytes)
    except ValueError as error:
        raise ImageReadError(f"image config is not valid JSON: {error}") from error
    if not isinstance(config, dict):
        raise ImageReadError("image config is not a JSON object")
    normalized = normalized_config(config)
    read = _layers_in_order(config, members, layer_names)
    layers = _layers(config, read)
    packages: tuple[Package, ...] = ()
    warnings: tuple[str, ...] = ()
    if catalogers:
        packages, warnings = final_packages(
            [
                (record.index, record.entries, layer.files)
                for record, layer in zip(layers, read, strict=True)
                if layer.files is not None
            ]
        )
    return ImageRecord(
        image_id="sha256:" + hashlib.sha256(config_bytes).hexdigest(),
        layers=layers,
        config=normalized,
        config_digest=config_digest(normalized),
        history=_history(config.get("history")),
        packages=packages,
        catalog_warnings=warnings,
    )


def _collect(reader: ForwardReader, catalogers: Sequence[Cataloger] = ()) -> _Members:
    members = _Members(catalogers=catalogers)
    try:
        # tarfile's seeking mode over a reader that only ever seeks forward: its
        # stream mode ("r|") re-slices its whole buffer on every small read.
        # The outer tar has a few members per layer, so tarfile's per-member cost
        # does not matter here as it does inside layers (drift.image.layer_tar).
        tar = tarfile.TarFile(fileobj=reader, mode="r", encoding="utf-8")
        while True:
            info = tar.next()
            if info is None:
                break
            name = posixpath.normpath(info.name.lstrip("/"))
            if info.issym():
                members.links[name] = posixpath.normpath(posixpath.join(posixpath.dirname(name), info.linkname))
            elif info.islnk():
                members.links[name] = posixpath.normpath(info.linkname.lstrip("/"))
            elif info.isreg() and info.size > 0 and info.sparse is None:
                _read_member(reader, name, info.size, members)
    except (tarfile.TarError, EOFError) as error:
        raise ImageReadError(f"not a docker save stream: {error}") from error
    return members


def _read_member(reader: ForwardReader, name: str, size: int, members: _Members) -> None:
    head = reader.peek(min(size, _BLOCK))
    if _looks_like_layer(head, size):
        region = Region(reader, size)
        files = LayerFiles(members.catalogers) if members.catalogers else None
        # Known by its member name, which the image's manifest lists in the config's layer order: its
        # bytes are not hashed again for the diff_id the engine wrote in the config.
        entries, _diff_id, layer_size = read_layer(region.fill, files, diff_id=False)
        region.skip_rest()
        members.layers[name] = _Layer(entries, layer_size, files)
    elif head.startswith(_ZSTD_MAGIC):
        members.unsupported.append(f"{name} (zstd)")
    elif size <= MAX_JSON_SIZE and head.lstrip()[:1] in (b"{", b"["):
        members.kept += size
        if members.kept > MAX_KEPT_SIZE:
            # Bounded memory whatever the stream: a docker save has a few
            # kilobytes of JSON per layer, not this.
            raise ImageReadError("not a docker save stream: far more JSON than manifests and configs")
        data = reader.read(size)
        if len(data) < size:
            raise ImageReadError(f"docker save stream ends inside {name!r}")
        members.blobs[name] = data


def _looks_like_layer(head: bytes, size: int) -> bool:
    if head.startswith(GZIP_MAGIC):
        return True
    if len(head) < _BLOCK:
        return False
    # A layer with no files is just the end-of-archive zero blocks.
    return head[257:262] == b"ustar" or (size % _BLOCK == 0 and not head.strip(b"\0"))


def _find_config(members: _Members) -> tuple[bytes, list[str]]:
    """The image's config, and the members its manifest names for its layers, in the config's order."""
    images: list[tuple[str, list[str]]] = []  # (config member, layer members) of each manifest
    if "manifest.json" in members.blobs:
        for item in _json_list(members.blobs["manifest.json"], "manifest.json"):
            config_name = item.get("Config") if isinstance(item, Mapping) else None
            if not isinstance(item, Mapping) or not isinstance(config_name, str):
                raise ImageReadError("manifest.json has an entry without a Config")
            layer_names = item.get("Layers")
            if not isinstance(layer_names, list) or not all(isinstance(name, str) for name in layer_names):
                raise ImageReadError("manifest.json has an entry without a list of Layers")
            images.append((_member(config_name), [_member(name) for name in layer_names]))
    elif "index.json" in members.blobs:
        images = _configs_from_index(members)
    else:
        raise ImageReadError("not a docker save stream: it has neither manifest.json nor index.json")
    names = [config_name for config_name, _layer_names in images]
    configs = {name: members.blob(name) for name in dict.fromkeys(names)}
    missing = [name for name, data in configs.items() if data is None]
    if missing:
        raise ImageReadError(f"image config {missing[0]!r} is not in the docker save stream")
    distinct = {data for data in configs.values() if data is not None}
    if not distinct:
        raise ImageReadError("docker save stream lists no image")
    if len(distinct) > 1:
        raise ImageReadError(f"docker save stream holds {len(distinct)} images; drift reads one at a time")
    return distinct.pop(), images[0][1]


def _member(name: str) -> str:
    return posixpath.normpath(name.lstrip("/"))


def _configs_from_index(members: _Members) -> list[tuple[str, list[str]]]:
    """Config and layer blob names of the runnable image manifests reachable from index.json."""
    found: list[tuple[str, list[str]]] = []
    pending: list[tuple[Mapping[str, object], int]] = [
        (descriptor, 0) for descriptor in _descriptors(members.blobs["index.json"], "index.json")
    ]
    while pending:
        descriptor, depth = pending.pop(0)
        annotations = descriptor.get("annotations")
        if isinstance(annotations, Mapping) and annotations.get("vnd.docker.reference.type") == "attestation-manifest":
            continue  # BuildKit's provenance/SBOM attachments, not a runnable image
        name = _blob_name(descriptor.get("digest"))
        data = members.blob(name) if name is not None else None
        if name is None or data is None:
            # Multi-platform indexes name manifests for platforms that were not saved.
            continue
        document = _json_object(data, name)
        media_type = descriptor.get("mediaType") or document.get("mediaType")
        if media_type in _INDEX_TYPES or (media_type is None and "manifests" in document):
            if depth < 4:
                pending.extend((child, depth + 1) for child in _descriptors(data, name))
        elif media_type in _MANIFEST_TYPES or "config" in document:
            config = document.get("config")
            config_name = _blob_name(config.get("digest")) if isinstance(config, Mapping) else None
            descriptors = document.get("layers")
            layers = [
                _blob_name(layer.get("digest")) if isinstance(layer, Mapping) else None
                for layer in (descriptors if isinstance(descriptors, list) else [])
            ]
            if config_name and members.blob(config_name) is not None:
                found.append((config_name, [name or "" for name in layers]))
    if not found:
        raise ImageReadError("index.json names no image manifest whose config is in the stream")
    return found


def _blob_name(digest: object) -> str | None:
    if not isinstance(digest, str) or ":" not in digest:
        return None
    algorithm, _, hex_digest = digest.partition(":")
    return f"blobs/{algorithm}/{hex_digest}"


def _json_object(data: bytes, name: str) -> dict[str, object]:
    try:
        document = json.loads(data)
    except ValueError as error:
        raise ImageReadError(f"{name} in the docker save stream is not valid JSON: {error}") from error
    if not isinstance(document, dict):
        raise ImageReadError(f"{name} in the docker save stream is not a JSON object")
    return document


def _json_list(data: bytes, name: str) -> list[object]:
    try:
        document = json.loads(data)
    except ValueError as error:
        raise ImageReadError(f"{name} in the docker save stream is not valid JSON: {error}") from error
    if not isinstance(document, list):
        raise ImageReadError(f"{name} in the docker save stream is not a JSON list")
    return document


def _descriptors(data: bytes, name: str) -> list[Mapping[str, object]]:
    manifests = _json_object(data, name).get("manifests")
    if not isinstance(manifests, list):
        return []
    return [item for item in manifests if isinstance(item, Mapping)]


def _layers_in_order(config: Mapping[str, object], members: _Members, layer_names: Sequence[str]) -> list[_Layer]:
    """The layers read from the stream, in the order of the config's rootfs.diff_ids: the image's manifest
    lists their members in that order (as `docker load` reads them)."""
    diff_ids = _diff_ids(config)
    if len(layer_names) != len(diff_ids):
        raise ImageReadError(
            f"the image's manifest lists {len(layer_names)} layers and its config {len(diff_ids)}; "
            "not a docker save stream drift can read"
        )
    layers: list[_Layer] = []
    for index, (diff_id, name) in enumerate(zip(diff_ids, layer_names, strict=True)):
        layer = members.layer(name)
        if layer is None:
            hint = f"; drift cannot read {', '.join(members.unsupported)}" if members.unsupported else ""
            raise ImageReadError(f"layer {index} ({diff_id}) is not in the docker save stream{hint}")
        layers.append(layer)
    return layers


def _diff_ids(config: Mapping[str, object]) -> list[str]:
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, Mapping) else None
    if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
        raise ImageReadError("image config has no rootfs.diff_ids")
    return diff_ids


def _layers(config: Mapping[str, object], read: Sequence[_Layer]) -> tuple[LayerRecord, ...]:
    instructions = _instructions(config.get("history"))
    layers: list[LayerRecord] = []
    digests: dict[str, str] = {}  # a layer listed twice is digested once
    for index, (diff_id, layer) in enumerate(zip(_diff_ids(config), read, strict=True)):
        if diff_id not in digests:
            digests[diff_id] = normalized_digest(layer.entries, in_order=True)
        layers.append(
            LayerRecord(
                index=index,
                diff_id=diff_id,
                size=layer.size,
                instruction=instructions[index] if index < len(instructions) else "",
                normalized_digest=digests[diff_id],
                entries=layer.entries,
            )
        )
    return tuple(layers)


def _history(history: object) -> tuple[dict[str, object], ...]:
    if not isinstance(history, list):
        return ()
    return tuple(dict(entry) for entry in history if isinstance(entry, Mapping))


def _instructions(history: object) -> Sequence[str]:
    """One instruction per layer: history entries that made no layer are skipped."""
    if not isinstance(history, list):
        return ()
    return [
        instruction_from_history(entry)
        for entry in history
        if isinstance(entry, Mapping) and not entry.get("empty_layer")
    ]
