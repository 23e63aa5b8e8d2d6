"""Catalog: package manifests read from image files, one cataloger per ecosystem.

Adding an ecosystem is adding a module with a `Cataloger` and listing it here.
"""

from __future__ import annotations

from drift.catalog.apk import ApkCataloger
from drift.catalog.dpkg import DpkgCataloger
from drift.catalog.golang import GoBinaryCataloger
from drift.catalog.interface import Cataloger
from drift.catalog.npm import NpmCataloger
from drift.catalog.python import PythonCataloger
from drift.catalog.rpm import RpmCataloger


def default_catalogers() -> list[Cataloger]:
    """Every cataloger drift ships, in a fixed order."""
    return [
        DpkgCataloger(),
        ApkCataloger(),
        RpmCataloger(),
        PythonCataloger(),
        NpmCataloger(),
        GoBinaryCataloger(),
    ]


__all__ = ["Cataloger", "default_catalogers"]
