"""Package findings: what was added, removed, upgraded or downgraded between two builds' manifests."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from drift.compare.versions import direction
from drift.values import Finding, LayerRecord, Package

# The cause a package change points to, by ecosystem.
ECOSYSTEM_CAUSE = {"deb": "apt", "apk": "apk", "rpm": "yum", "pypi": "pip", "npm": "npm", "golang": "go"}


def _key(package: Package) -> tuple[str, str, str, str]:
    return (package.ecosystem, package.name, package.arch, package.location)


def _instruction(layers: Sequence[LayerRecord], index: int | None) -> str:
    if index is None or not 0 <= index < len(layers):
        return ""
    return layers[index].instruction


def compare_packages(
    baseline: Sequence[Package],
    current: Sequence[Package],
    baseline_layers: Sequence[LayerRecord],
    current_layers: Sequence[LayerRecord],
) -> Iterator[Finding]:
    """One finding per package whose version differs, sorted by ecosystem and name."""
    old = {_key(p): p for p in baseline}
    new = {_key(p): p for p in current}
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        package = after or before
        assert package is not None
        if before is not None and after is not None:
            if before.version == after.version:
                continue
            change = direction(package.ecosystem, before.version, after.version)
        else:
            change = "added" if before is None else "removed"
        layer = after.layer if after is not None else before.layer if before is not None else None
        layers = current_layers if after is not None else baseline_layers
        yield Finding(
            kind="package",
            layer=layer,
            instruction=_instruction(layers, layer),
            subject=package.name,
            change=change,
            before=before.version if before else "",
            after=after.version if after else "",
            cause=ECOSYSTEM_CAUSE.get(package.ecosystem, "unknown"),
            ecosystem=package.ecosystem,
        )
