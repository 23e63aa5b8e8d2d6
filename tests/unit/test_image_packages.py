"""Package manifests read in the same pass as the image: whiteouts, opaque dirs, and the layer that introduced each."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from drift.catalog.interface import CatalogContext, Cataloger, CatalogResult
from drift.image import read_saved_image
from drift.image.packages import parse_os_release
from drift.values import Package

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "images"


class TextFileCataloger(Cataloger):
    """A stand-in ecosystem: every /app or /data *.txt file is a 'package' whose version is its content."""

    ecosystem: ClassVar[str] = "text"

    def claims(self, path: str, mode: int, size: int) -> bool:
        return path.startswith(("/app/", "/data/")) and path.endswith(".txt")

    def catalog(self, path: str, content: bytes, context: CatalogContext) -> CatalogResult:
        name = path.rsplit("/", 1)[1]
        version = content.decode().strip()
        return CatalogResult(packages=(Package("text", name, version, "", f"pkg:generic/{name}@{version}", path),))


class DistroCataloger(TextFileCataloger):
    """The same, kept until the end like a package database that needs /etc/os-release."""

    needs_distro: ClassVar[bool] = True


def chunks(name: str) -> Iterator[bytes]:
    with gzip.open(FIXTURES / name, "rb") as stream:
        while chunk := stream.read(1 << 16):
            yield chunk


@pytest.mark.parametrize("fixture", ["legacy.tar.gz", "oci.tar.gz", "oci-uncompressed.tar.gz"])
@pytest.mark.parametrize("cataloger", [TextFileCataloger(), DistroCataloger()], ids=["streamed", "deferred"])
def test_final_filesystem_packages_with_the_layer_that_introduced_them(fixture: str, cataloger: Cataloger) -> None:
    image = read_saved_image(chunks(fixture), [cataloger])
    found = {(p.name, p.version, p.layer) for p in image.packages}
    assert found == {
        ("hello.txt", "hello from the fixture", 1),
        ("config.txt", "config v2", 4),  # rewritten in layer 4: its version came from there
        ("c.txt", "new c", 4),  # /data recreated as an opaque directory
        ("hardlink.txt", "shared content", 5),
        ("owned.txt", "owned", 5),
        ("version.txt", "version 2", 6),
    }
    # Whiteouts and the opaque /data removed what lower layers had.
    assert not {"gone.txt", "a.txt", "b.txt"} & {p.name for p in image.packages}
    assert image.catalog_warnings == ()


def test_no_catalogers_no_packages() -> None:
    assert read_saved_image(chunks("legacy.tar.gz")).packages == ()


def test_os_release() -> None:
    text = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
    distro = parse_os_release(text)
    assert (distro.id, distro.version_id) == ("debian", "12")
