"""Comparing a build's image with its baseline's: the findings that explain every difference."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

from drift.compare.causes import NONDETERMINISTIC, likely_cause
from drift.compare.ignore import IgnoreRules, runtime_paths_of
from drift.compare.packages import compare_packages
from drift.compare.verdict import BUILDER_STAGE_MOVED
from drift.image.volatile import volatile_field
from drift.manifest import by_path, canonical_entries, entry_key, in_order
from drift.values import BuildOutput, EntryType, FileEntry, Finding, ImageRecord, LayerRecord, xattr_names

_OPAQUE = EntryType.OPAQUE.value


_key = entry_key


def _describe(entry: FileEntry) -> str:
    if entry.type is EntryType.FILE:
        described = f"{entry.size} B sha256:{entry.sha256[:12]}"
    elif entry.type in (EntryType.SYMLINK, EntryType.HARDLINK):
        described = f"{entry.type.value} -> {entry.link_target}"
    elif entry.device:
        described = f"{entry.type.value} {entry.device}"
    else:
        described = entry.type.value
    if entry.xattrs:
        described += f" (xattrs {', '.join(sorted(xattr_names(entry.xattrs)))})"
    return described


def _describe_xattrs(text: str) -> str:
    """The attributes by name, each with the start of its value's digest, so a changed value shows."""
    names = xattr_names(text)
    return ", ".join(f"{name} sha256:{digest[:12]}" for name, digest in sorted(names.items())) or "none"


def _entry_change(before: FileEntry, after: FileEntry) -> tuple[str, str, str] | None:
    """(change, before, after) of one path present in both layers, or None when equal.

    Extended attributes and device numbers are compared only when both
    manifests recorded them: one stored before revision 0009 did not, and
    its baseline must not turn a build drifted by itself.
    """
    if before.type != after.type or before.sha256 != after.sha256 or before.size != after.size:
        return "modified", _describe(before), _describe(after)
    if before.link_target != after.link_target:
        return "link", before.link_target, after.link_target
    if before.device is not None and after.device is not None and before.device != after.device:
        return "device", before.device, after.device
    if before.mode != after.mode:
        return "mode", f"{before.mode:04o}", f"{after.mode:04o}"
    if (before.uid, before.gid) != (after.uid, after.gid):
        return "owner", f"{before.uid}:{before.gid}", f"{after.uid}:{after.gid}"
    if before.xattrs is not None and after.xattrs is not None and before.xattrs != after.xattrs:
        return "xattrs", _describe_xattrs(before.xattrs), _describe_xattrs(after.xattrs)
    return None


def _file_finding(layer: LayerRecord, path: str, change: str, before: str, after: str, ignore: IgnoreRules) -> Finding:
    rule = ignore.rule_for(path)
    return Finding(
        kind="file",
        layer=layer.index,
        instruction=layer.instruction,
        subject=path,
        change=change,
        before=before,
        after=after,
        # Noise differs from build to build by nature: blaming the package
        # manager that wrote it would advise a pin that changes nothing.
        cause=NONDETERMINISTIC if rule is not None else likely_cause(layer.instruction, path),
        ignored=rule is not None,
        ignored_by=rule.describe() if rule is not None else "",
    )


def _volatile_only(layer: LayerRecord, path: str, before: FileEntry, after: FileEntry, found: Finding) -> Finding:
    """A content change noise when only the file's volatile field changed (an /etc/shadow day, ...)."""
    if found.ignored or found.change != "modified" or before.type is not EntryType.FILE:
        return found
    volatile = volatile_field(path)
    normalized = before.normalized_sha256
    if volatile is None or not normalized or normalized != after.normalized_sha256:
        return found
    return replace(found, cause=NONDETERMINISTIC, ignored=True, ignored_by=volatile.describe(path))


@dataclass(frozen=True, slots=True)
class _PathChange:
    path: str
    change: str
    before: str
    after: str
    old: FileEntry | None
    new: FileEntry | None


def _path_changes(pairs: Iterable[tuple[str, list[FileEntry], list[FileEntry]]]) -> Iterator[_PathChange]:
    """Every differing path of two manifests walked side by side (`by_path`), by path; a directory and its
    opaque marker as one change."""
    for _path, before_entries, after_entries in pairs:
        old = {_key(e): e for e in before_entries}
        new = {_key(e): e for e in after_entries}
        if old == new:
            continue
        changes: dict[tuple[str, str], _PathChange] = {}
        for key in sorted(old.keys() | new.keys()):
            before, after = old.get(key), new.get(key)
            if before is None and after is not None:
                changes[key] = _PathChange(key[0], "added", "", _describe(after), None, after)
            elif after is None and before is not None:
                changes[key] = _PathChange(key[0], "removed", _describe(before), "", before, None)
            elif before is not None and after is not None:
                change = _entry_change(before, after)
                if change is not None:
                    changes[key] = _PathChange(key[0], *change, before, after)
        for key in [key for key in changes if key[1] == _OPAQUE]:
            _fold_opaque(changes, key)
        yield from changes.values()


def _fold_opaque(changes: dict[tuple[str, str], _PathChange], key: tuple[str, str]) -> None:
    """An opaque marker is no file of its own: it says its directory hides the lower layers' content.

    A directory recreated in a layer (`rm -rf /d && mkdir /d`) is listed as
    the directory and its marker; shown as two "added /d" it read as a
    duplicate and counted twice. It is one change: the directory replaced.
    """
    marker = changes.pop(key)
    path = marker.path
    directory = changes.get((path, ""))
    if marker.change == "added":
        if directory is not None and directory.change == "added":
            changes[(path, "")] = replace(directory, change="replaced", after=f"{directory.after}, opaque")
        else:
            changes[key] = replace(marker, change="made opaque", after="hides what lower layers have below it")
    elif directory is not None and directory.change == "removed":
        changes[(path, "")] = replace(directory, before=f"{directory.before}, opaque")
    else:
        changes[key] = replace(marker, change="no longer opaque", before="hid what lower layers have below it")


def compare_layer(baseline: LayerRecord, current: LayerRecord, ignore: IgnoreRules) -> Iterator[Finding]:
    """File findings between two layers at the same index, sorted by path."""
    if baseline.normalized_digest == current.normalized_digest:
        return
    # Canonical hard links on both sides: a manifest stored before drift
    # wrote them so lists a linked pair in whichever order its tar had.
    # Walked side by side, a path at a time: a layer of a million files is
    # never held as a dict.
    pairs = by_path(in_order(canonical_entries(baseline.entries)), in_order(canonical_entries(current.entries)))
    for change in _path_changes(pairs):
        found = _file_finding(current, change.path, change.change, change.before, change.after, ignore)
        if change.old is not None and change.new is not None:
            found = _volatile_only(current, change.path, change.old, change.new, found)
        yield found


def _layer_only(layer: LayerRecord, change: str, ignore: IgnoreRules) -> Iterator[Finding]:
    entries = in_order(layer.entries)
    pairs = by_path((), entries) if change == "added" else by_path(entries, ())
    for found in _path_changes(pairs):
        yield _file_finding(layer, found.path, found.change, found.before, found.after, ignore)


def _flatten_config(config: dict[str, object]) -> dict[str, object]:
    """The runtime settings (Env, Cmd, ...) and the platform fields at one level."""
    flat = {key: value for key, value in config.items() if key != "config"}
    inner = config.get("config")
    if isinstance(inner, dict):
        flat.update(inner)
    return flat


def _describe_config_change(key: str, before: object, after: object) -> tuple[str, str]:
    if key == "Env" and isinstance(before, list) and isinstance(after, list):
        # Name only the variables that changed, not the whole environment.
        old, new = [str(v) for v in before], [str(v) for v in after]
        return " ".join(v for v in old if v not in new), " ".join(v for v in new if v not in old)
    return (
        "" if before is None else json.dumps(before, sort_keys=True),
        "" if after is None else json.dumps(after, sort_keys=True),
    )


def _config_findings(baseline: dict[str, object], current: dict[str, object]) -> Iterator[Finding]:
    old, new = _flatten_config(baseline), _flatten_config(current)
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        change = "added" if before is None else "removed" if after is None else "modified"
        shown_before, shown_after = _describe_config_change(key, before, after)
        yield Finding(
            kind="config",
            layer=None,
            instruction="",
            subject=key,
            change=change,
            before=shown_before,
            after=shown_after,
        )


def compare_images(
    baseline: ImageRecord,
    current: ImageRecord,
    ignore: IgnoreRules,
    *,
    skip_layers_below: int = 0,
    base_layers: tuple[int, int] = (0, 0),
) -> list[Finding]:
    """Every difference between two images, layer by layer, then the config.

    `base_layers` is how many layers each image (baseline, current) inherits
    from its base image. The base's layers are paired with the base's, and the
    image's own layers with its own, by their position after the base: a base
    image that gained a layer does not shift every own layer onto another.
    Layers below `skip_layers_below` are left out: a moved base image explains them.
    """
    ignore = ignore.with_runtime_paths(runtime_paths_of(current.config))
    findings: list[Finding] = []
    old_base, new_base = base_layers
    if old_base != new_base and skip_layers_below < new_base:
        old_base = new_base = 0  # the bases differ but no moved base explains it: pair by position
    old_layers: Sequence[LayerRecord] = baseline.layers
    new_layers: Sequence[LayerRecord] = current.layers
    if len(old_layers) - old_base != len(new_layers) - new_base:
        findings.append(
            Finding(
                kind="layers",
                layer=None,
                instruction="",
                subject="layer count",
                change="modified",
                before=str(len(old_layers)),
                after=str(len(new_layers)),
            )
        )
    pairs = list(zip(old_layers[:old_base], new_layers[:new_base], strict=False))
    pairs += zip(old_layers[old_base:], new_layers[new_base:], strict=False)
    for old, new in pairs:
        if new.index >= skip_layers_below:
            findings.extend(compare_layer(old, new, ignore))
    own_old, own_new = old_layers[old_base:], new_layers[new_base:]
    for extra in own_new[len(own_old) :]:
        findings.extend(_layer_only(extra, "added", ignore))
    for gone in own_old[len(own_new) :]:
        findings.extend(_layer_only(gone, "removed", ignore))
    if baseline.config_digest != current.config_digest:
        findings.extend(_config_findings(baseline.config, current.config))
    return findings


def _base_image_findings(baseline: BuildOutput, current: BuildOutput, ignore: IgnoreRules) -> tuple[list[Finding], int]:
    """A finding per FROM that resolved to another image; and how many inherited layers that explains."""
    old = {(b.stage, b.reference): b for b in baseline.base_images}
    final_ids = {b.image_id for b in current.base_images if b.final}
    findings: list[Finding] = []
    inherited = 0
    inherited_change: str | None = None
    for base in current.base_images:
        before = old.get((base.stage, base.reference))
        if before is None or before.image_id == base.image_id:
            continue
        # The final stage's base is in the image, so its content can be
        # judged; a builder stage FROM that same image moved with it, and no
        # further. Another builder-stage base shows only through what it built.
        if base.final or base.image_id in final_ids:
            if inherited_change is None:
                inherited_change = _inherited_change(baseline, current, ignore)
            change = inherited_change
        else:
            # Only what the stage built can reach the image: if that is the same, nothing drifted.
            change = BUILDER_STAGE_MOVED
        if base.final and change == "moved":
            inherited = max(inherited, current.base_layer_count)
        findings.append(
            Finding(
                kind="base-image",
                layer=None,
                instruction=f"FROM {base.reference}",
                subject=base.reference,
                change=change,
                before=before.digest,
                after=base.digest,
                cause="base-image-tag",
            )
        )
    return findings, inherited


def _inherited_change(baseline: BuildOutput, current: BuildOutput, ignore: IgnoreRules) -> str:
    """ "retagged" when the final base's layers differ from the baseline's at most in noise, else "moved".

    A base rebuilt with the same packages differs in apt's caches and logs;
    that is the same base, re-tagged, not a moved one. Its noise is then
    compared and shown like any other layer's.
    """
    count = current.base_layer_count
    if baseline.base_layer_count != count:
        return "moved"
    for old, new in zip(baseline.image.layers[:count], current.image.layers[:count], strict=False):
        if old.normalized_digest != new.normalized_digest and not all(
            finding.ignored for finding in compare_layer(old, new, ignore)
        ):
            return "moved"
    return "retagged"


def compare_builds(baseline: BuildOutput, current: BuildOutput, ignore: IgnoreRules) -> list[Finding]:
    """Every difference between a build and its baseline, explained at the highest level that explains it.

    A moved base image is one finding, not the thousands of inherited files
    it changed; a changed engine version is reported beside the rest, and is
    the likely cause of content changes nothing else explains.
    """
    ignore = ignore.with_runtime_paths(runtime_paths_of(current.image.config))
    findings, inherited = _base_image_findings(baseline, current, ignore)
    layer_findings = compare_images(
        baseline.image,
        current.image,
        ignore,
        skip_layers_below=inherited,
        base_layers=(baseline.base_layer_count, current.base_layer_count),
    )
    if any(f.change in ("moved", BUILDER_STAGE_MOVED) for f in findings):
        # Layers built on a moved base change with it when nothing else explains them.
        layer_findings = [
            replace(f, cause="base-image-tag") if f.kind == "file" and f.cause == "unknown" else f
            for f in layer_findings
        ]
    package_findings = list(
        compare_packages(baseline.image.packages, current.image.packages, baseline.image.layers, current.image.layers)
    )
    findings.extend(package_findings)
    findings.extend(layer_findings)
    old_builder, new_builder = baseline.builder, current.builder
    if old_builder is None or new_builder is None:
        return findings
    for subject, before, after in (
        ("builder", old_builder.builder, new_builder.builder),
        ("engine version", old_builder.engine_version, new_builder.engine_version),
    ):
        if before == after:
            continue
        # Another builder or engine writes other files (BuildKit's and the legacy builder's layers differ in detail).
        findings = [replace(f, cause="builder") if f.kind == "file" and f.cause == "unknown" else f for f in findings]
        findings.append(
            Finding(
                kind="builder",
                layer=None,
                instruction="",
                subject=subject,
                change="modified",
                before=before,
                after=after,
                cause="builder",
            )
        )
    return findings
