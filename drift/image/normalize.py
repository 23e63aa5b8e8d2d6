"""Digests that stay the same when a rebuild produced the same content.

Two builds of one commit differ in mtimes, tar order, uname/gname, pax headers
and in the image config's timestamps and ids, even when every file is identical.
These functions reduce a layer manifest and an image config to what a user of
the image would notice, and hash that.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

from drift.values import EntryType, FileEntry

# What a container sees of an image config; everything else (Created,
# container, docker_version, history, rootfs...) changes on every build or is
# covered by the layer digests.
CONFIG_KEYS = (
    "Env",
    "Entrypoint",
    "Cmd",
    "User",
    "WorkingDir",
    "ExposedPorts",
    "Labels",
    "Volumes",
    "Healthcheck",
    "StopSignal",
    "Shell",
    "OnBuild",
)
PLATFORM_KEYS = ("architecture", "os", "variant")
DRIFT_LABEL_PREFIX = "drift."
"""drift labels each image with its target and build id, which differ every build."""

_BATCH = 4096
# Enum attribute access is a descriptor call; a plain dict keeps hashing a
# 10^5-entry manifest cheap.
_TYPE_NAMES = {entry_type: entry_type.value for entry_type in EntryType}


def normalized_digest(entries: Iterable[FileEntry], *, in_order: bool = False) -> str:
    """ "sha256:<hex>" over a layer manifest, independent of tar order and mtimes.

    Entries are sorted by path (then type) and each is written as path, type,
    octal mode, uid, gid, size, content sha256 and link target (empty for
    regular files), separated by NUL
    and ended by a newline; newlines and backslashes inside paths and link
    targets are escaped so no two manifests serialize alike.

    An entry with extended attributes or device numbers has them appended as
    two more NUL-separated fields. An entry without either serializes exactly
    as it did before drift recorded them, so a layer without them keeps the
    digest stored for it then. The manifest's hard links are expected in
    canonical form (`drift.manifest.canonical_hard_links`; the image reader gives them so).
    `in_order` says the entries are in manifest order already (the reader's
    are), so they are hashed as they come, not sorted in memory first.
    """
    digest = hashlib.sha256()
    lines: list[str] = []
    names = _TYPE_NAMES
    regular = EntryType.FILE
    ordered = entries if in_order else sorted(entries, key=lambda e: (e.path, names[e.type]))
    for entry in ordered:
        link = "" if entry.type is regular else _escape(entry.link_target)
        extra = f"\0{entry.xattrs}\0{entry.device}" if entry.xattrs or entry.device else ""
        lines.append(
            f"{_escape(entry.path)}\0{names[entry.type]}\0{entry.mode:o}\0{entry.uid}\0"
            f"{entry.gid}\0{entry.size}\0{entry.sha256}\0{link}{extra}\n"
        )
        if len(lines) >= _BATCH:
            digest.update("".join(lines).encode("utf-8", "surrogateescape"))
            lines.clear()
    digest.update("".join(lines).encode("utf-8", "surrogateescape"))
    return "sha256:" + digest.hexdigest()


def _escape(text: str) -> str:
    if "\\" in text or "\n" in text:
        return text.replace("\\", "\\\\").replace("\n", "\\n")
    return text


def normalized_config(config_json: Mapping[str, object]) -> dict[str, object]:
    """The parts of an image config that shape a container, volatile fields removed.

    Returns {"architecture", "os", "variant", "config": {...}} with only the keys
    present; drift's own labels ("drift.*") and empty values are dropped so a
    missing field and an empty one compare equal.
    """
    normalized: dict[str, object] = {}
    for key in PLATFORM_KEYS:
        value = config_json.get(key)
        if not _is_empty(value):
            normalized[key] = value
    runtime = config_json.get("config")
    kept: dict[str, object] = {}
    if isinstance(runtime, Mapping):
        for key in CONFIG_KEYS:
            value = runtime.get(key)
            if key == "Labels" and isinstance(value, Mapping):
                value = {name: text for name, text in value.items() if not str(name).startswith(DRIFT_LABEL_PREFIX)}
            if not _is_empty(value):
                kept[key] = value
    normalized["config"] = kept
    return normalized


def _is_empty(value: object) -> bool:
    # Engines write an unset field as null, {} or [] depending on version.
    return value is None or value == "" or value == {} or value == []


def config_digest(config: Mapping[str, object]) -> str:
    """ "sha256:<hex>" over canonical JSON (sorted keys, no spaces) of a normalized config."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
