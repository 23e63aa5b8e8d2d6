"""The cataloger interface: files in, packages out. Catalogers never know about images or layers.

One module per ecosystem implements `Cataloger`. The image reader offers each
regular file of each layer to every cataloger's `claims`; the content of the
files claimed is handed to `catalog`, one file at a time (plus, for the few
formats that need a companion file, such as an SQLite database and its -wal,
`CatalogContext.companion`). What a cataloger returns for a path replaces what
it returned for that path in a lower layer; whiteouts remove it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from drift.values import Package

__all__ = ["CatalogContext", "CatalogResult", "Cataloger", "Distro", "Package"]


@dataclass(frozen=True, slots=True)
class CatalogResult:
    """What one file yielded: its packages, and warnings for what could not be read (never an exception)."""

    packages: tuple[Package, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Distro:
    """The distribution of the filesystem being cataloged, from /etc/os-release (ID, VERSION_ID), if known."""

    id: str = ""
    version_id: str = ""


@dataclass(frozen=True, slots=True)
class CatalogContext:
    """What a cataloger may know beyond the file itself.

    Attributes:
        distro: for purl namespaces and qualifiers ("pkg:deb/debian/...?distro=debian-12").
        companion: the content of another file at an absolute path in the same
            filesystem view, if some cataloger claimed it (e.g. "rpmdb.sqlite-wal"), else None.
    """

    distro: Distro = field(default_factory=Distro)
    companion: Callable[[str], bytes | None] = field(default=lambda _path: None)


class Cataloger(ABC):
    """Reads one ecosystem's package metadata files."""

    ecosystem: ClassVar[str]
    max_file_size: ClassVar[int] = 64 << 20
    """Claimed files larger than this are skipped with a warning (memory stays bounded)."""
    needs_distro: ClassVar[bool] = False
    """True when `catalog` uses `context.distro`: the reader then keeps the claimed files
    until it has read the whole image (they must be small, like a package database), and
    offers `context.companion`. Otherwise each file is cataloged as soon as it is read."""

    @abstractmethod
    def claims(self, path: str, mode: int, size: int) -> bool:
        """True when the regular file at absolute `path` (permission bits `mode`, `size` bytes) is one to read.

        Must be cheap: it is asked for every file of every layer.
        """

    @abstractmethod
    def catalog(self, path: str, content: bytes, context: CatalogContext) -> CatalogResult:
        """The packages one claimed file describes. Malformed input yields warnings, never an exception."""
