"""Package manifests inside the single pass that reads an image.

The layer reader offers every regular file to `LayerFiles.wants`; claimed
contents are cataloged as they stream past (or, for package databases that
need the distribution's name, kept until the whole image is read). At the end
`final_packages` replays the layers in RootFS order, honouring whiteouts and
opaque directories, so the manifest is that of the final filesystem, and
gives each package the layer that introduced its version: the first layer
after which the package database says so (a per-layer diff, as
container-diff does, rather than "the last layer that rewrote the database").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from drift.catalog.interface import CatalogContext, Cataloger, CatalogResult, Distro
from drift.values import EntryType, FileEntry, Package

OS_RELEASE_PATHS = ("/etc/os-release", "/usr/lib/os-release")


@dataclass
class LayerFiles:
    """What the catalogers took from one layer while it streamed past."""

    catalogers: Sequence[Cataloger]
    results: dict[tuple[int, str], CatalogResult] = field(default_factory=dict)
    deferred: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    os_release: bytes | None = None
    warnings: list[str] = field(default_factory=list)

    def wants(self, path: str, mode: int, size: int) -> bool:
        if path in OS_RELEASE_PATHS:
            return True
        for cataloger in self.catalogers:
            if cataloger.claims(path, mode, size):
                if size > cataloger.max_file_size:
                    self.warnings.append(f"{path}: {size} bytes, over the {cataloger.ecosystem} cataloger's limit")
                    continue
                return True
        return False

    def take(self, path: str, mode: int, content: bytes) -> None:
        if path in OS_RELEASE_PATHS:
            self.os_release = content
        for number, cataloger in enumerate(self.catalogers):
            if not cataloger.claims(path, mode, len(content)) or len(content) > cataloger.max_file_size:
                continue
            if cataloger.needs_distro:
                self.deferred[path] = (mode, content)
            else:
                self.results[(number, path)] = _catalog(cataloger, path, content, CatalogContext())

    def finish(self, distro: Distro) -> None:
        """Catalog the files kept for the end, now that the distribution is known."""

        def companion(path: str) -> bytes | None:
            kept = self.deferred.get(path)
            return kept[1] if kept is not None else None

        context = CatalogContext(distro=distro, companion=companion)
        for number, cataloger in enumerate(self.catalogers):
            if not cataloger.needs_distro:
                continue
            for path, (mode, content) in self.deferred.items():
                if cataloger.claims(path, mode, len(content)):
                    self.results[(number, path)] = _catalog(cataloger, path, content, context)
        self.deferred.clear()


def _catalog(cataloger: Cataloger, path: str, content: bytes, context: CatalogContext) -> CatalogResult:
    try:
        return cataloger.catalog(path, content, context)
    except Exception as exc:  # a cataloger bug must not lose the build: it becomes a warning on the build
        return CatalogResult(warnings=(f"{path}: the {cataloger.ecosystem} cataloger failed: {exc!r}",))


def parse_os_release(content: bytes) -> Distro:
    values: dict[str, str] = {}
    for line in content.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip("\"'")
    return Distro(id=values.get("ID", ""), version_id=values.get("VERSION_ID", ""))


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def final_packages(
    layers: Sequence[tuple[int, Iterable[FileEntry], LayerFiles]],
) -> tuple[tuple[Package, ...], tuple[str, ...]]:
    """The packages of the final filesystem, each with the layer that introduced its version.

    `layers` in RootFS order: (index, manifest, what the catalogers took from it).
    """
    distro = Distro()
    for _index, _entries, files in layers:
        if files.os_release is not None:
            distro = parse_os_release(files.os_release)
    warnings: list[str] = []
    state: dict[tuple[int, str], tuple[Package, ...]] = {}
    introduced: dict[tuple[str, str, str, str], tuple[str, int]] = {}
    for index, entries, files in layers:
        files.finish(distro)
        warnings.extend(files.warnings)
        deleted = [e.path for e in entries if e.type in (EntryType.WHITEOUT, EntryType.OPAQUE)]
        if deleted:
            state = {key: pkgs for key, pkgs in state.items() if not any(_under(key[1], d) for d in deleted)}
        for key, result in files.results.items():
            state[key] = result.packages
            warnings.extend(result.warnings)
        if not deleted and not files.results:
            continue
        current = {_identity(p): p.version for packages in state.values() for p in packages}
        for identity, version in current.items():
            if identity not in introduced or introduced[identity][0] != version:
                introduced[identity] = (version, index)
        for identity in set(introduced) - set(current):
            del introduced[identity]
    packages = sorted(
        {_identity(p): replace(p, layer=introduced[_identity(p)][1]) for pkgs in state.values() for p in pkgs}.values(),
        key=lambda p: (p.ecosystem, p.name, p.arch, p.source),
    )
    return tuple(packages), tuple(warnings)


def _identity(package: Package) -> tuple[str, str, str, str]:
    return (package.ecosystem, package.name, package.arch, package.location)
