"""Package findings: what was added, removed, upgraded or downgraded between two builds' manifests."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from packaging.utils import canonicalize_name

from drift.compare.versions import direction
from drift.values import Finding, LayerRecord, Package

# The cause a package change points to, by ecosystem.
ECOSYSTEM_CAUSE = {"deb": "apt", "apk": "apk", "rpm": "yum", "pypi": "pip", "npm": "npm", "golang": "go"}


# A package's identity by ecosystem, so that a respelled name is the same package: PEP 503 for Python
# (`typing_extensions` is `typing-extensions`, `Django` is `django`), case-insensitive for npm (old packages
# kept capitals; `@scope/name` as written, lower-cased). Debian, apk, rpm and Go names are compared as
# written (Debian and apk allow no capitals; rpm and Go module paths are case-sensitive).
_IDENTITY: dict[str, Callable[[str], str]] = {"pypi": canonicalize_name, "npm": str.lower}


def identity(package: Package) -> str:
    """The name that says which package this is, whatever the spelling of its metadata."""
    normalize = _IDENTITY.get(package.ecosystem)
    return normalize(package.name) if normalize is not None else package.name


def _where(package: Package) -> str:
    # An npm package's metadata sits in a directory named after it (node_modules/JSONStream/package.json):
    # the node_modules directory says where it is installed, whatever the spelling.
    suffix = f"/{package.name}/package.json"
    if package.ecosystem == "npm" and package.location.endswith(suffix):
        return package.location[: -len(suffix)]
    return package.location


def _key(package: Package) -> tuple[str, str, str, str]:
    # The architecture is part of a package's identity (a deb of two arches is two packages, multiarch).
    return (package.ecosystem, identity(package), package.arch, _where(package))


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
    """One finding per package whose version differs, sorted by ecosystem and name.

    Packages are matched by their ecosystem's normalized name (`identity`);
    a finding names the package as this build spells it.
    """
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
