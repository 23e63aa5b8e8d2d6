"""drift.image.saved_image on real `docker save` fixtures (legacy and OCI layouts) and on broken streams.

The fixtures are one image built by tests/fixtures/images/make_fixtures.sh;
README.md there says what each layer holds.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest
from support.tar_files import extracted

from drift.errors import ImageReadError
from drift.image import read_image, read_saved_image
from drift.values import EntryType, FileEntry, ImageRecord, LayerRecord

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "images"
LAYOUTS = ["legacy", "oci", "oci-uncompressed"]


def fixture_bytes(name: str) -> bytes:
    return gzip.decompress((FIXTURES / f"{name}.tar.gz").read_bytes())


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def stream(name: str) -> Iterator[bytes]:
    """A fixture as docker-py would hand it over: a generator of chunks, read once."""
    with gzip.open(FIXTURES / f"{name}.tar.gz") as saved:
        while chunk := saved.read(2 << 20):
            yield chunk


@pytest.fixture(scope="module")
def images() -> dict[str, ImageRecord]:
    return {layout: read_saved_image(stream(layout)) for layout in LAYOUTS}


@pytest.fixture(scope="module")
def image(images: dict[str, ImageRecord]) -> ImageRecord:
    return images["legacy"]


def entry(layer: LayerRecord, path: str, entry_type: EntryType) -> FileEntry:
    found = [e for e in layer.entries if e.path == path and e.type is entry_type]
    assert len(found) == 1, f"{entry_type.value} {path} not in layer {layer.index}: {layer.entries}"
    return found[0]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- both layouts, one image ---------------------------------------------------


def test_layouts_agree_on_layers_instructions_and_digests(images: dict[str, ImageRecord]) -> None:
    legacy = images["legacy"]
    for layout in ("oci", "oci-uncompressed"):
        other = images[layout]
        assert [layer.diff_id for layer in other.layers] == [layer.diff_id for layer in legacy.layers]
        assert [layer.size for layer in other.layers] == [layer.size for layer in legacy.layers]
        assert [layer.instruction for layer in other.layers] == [layer.instruction for layer in legacy.layers]
        assert [layer.normalized_digest for layer in other.layers] == [
            layer.normalized_digest for layer in legacy.layers
        ]
        assert [layer.entries for layer in other.layers] == [layer.entries for layer in legacy.layers]
        assert other.config_digest == legacy.config_digest


def test_layers_follow_rootfs_order_and_the_engine_image_id(image: ImageRecord) -> None:
    # image-id.txt is what `docker image inspect` said when the fixture was saved.
    image_id, rootfs = (FIXTURES / "image-id.txt").read_text().split(" ", 1)

    assert image.image_id == image_id
    assert [layer.diff_id for layer in image.layers] == json.loads(rootfs)
    assert [layer.index for layer in image.layers] == list(range(8))


def test_instructions_come_from_history_without_empty_layers(image: ImageRecord) -> None:
    instructions = [layer.instruction for layer in image.layers]

    assert instructions[0] == "Imported from -"
    assert instructions[1].startswith("COPY file:") and instructions[1].endswith(" in /app/hello.txt")
    assert instructions[2].startswith("COPY file:") and instructions[2].endswith(" in /stamp.txt")
    assert instructions[3].startswith('RUN echo "config v1" > /app/config.txt')
    assert instructions[4].startswith('RUN echo "config v2" > /app/config.txt')
    assert instructions[5].startswith('RUN echo "shared content"')
    # The ARG is in effect: the legacy builder wrote "|1 VERSION=2 /bin/sh -c ...".
    assert instructions[6] == 'RUN echo "version $VERSION" > /app/version.txt'
    assert instructions[7] == instructions[2]


def test_same_layer_twice_in_rootfs(image: ImageRecord) -> None:
    # COPY of one file with one mtime, twice: one blob (a symlink in the legacy
    # layout, one blob for two manifest entries in OCI), two layers.
    first, second = image.layers[2], image.layers[7]

    assert first.diff_id == second.diff_id
    assert first.normalized_digest == second.normalized_digest
    assert (first.index, second.index) == (2, 7)
    stamp = entry(second, "/stamp.txt", EntryType.FILE)
    assert stamp.sha256 == sha(b"same bytes, same mtime, in two layers\n")


def test_modified_file_appears_in_both_layers_with_new_content(image: ImageRecord) -> None:
    assert entry(image.layers[3], "/app/config.txt", EntryType.FILE).sha256 == sha(b"config v1\n")
    assert entry(image.layers[4], "/app/config.txt", EntryType.FILE).sha256 == sha(b"config v2\n")


def test_deleted_file_is_a_whiteout_in_the_deleting_layer(image: ImageRecord) -> None:
    assert entry(image.layers[3], "/app/gone.txt", EntryType.FILE).size == len(b"temporary\n")
    whiteout = entry(image.layers[4], "/app/gone.txt", EntryType.WHITEOUT)

    assert whiteout == FileEntry("/app/gone.txt", EntryType.WHITEOUT, 0, 0, 0, 0, "", "")


def test_recreated_directory_is_opaque_with_its_new_content(image: ImageRecord) -> None:
    layer = image.layers[4]

    assert entry(layer, "/data", EntryType.OPAQUE).link_target == ""
    assert entry(layer, "/data", EntryType.DIR).mode == 0o755
    assert entry(layer, "/data/c.txt", EntryType.FILE).sha256 == sha(b"new c\n")
    assert not [e for e in layer.entries if e.path.startswith("/data/old")]
    assert entry(image.layers[3], "/data/old/a.txt", EntryType.FILE).sha256 == sha(b"old a\n")


def test_hardlink_has_target_and_content_digest(image: ImageRecord) -> None:
    layer = image.layers[5]
    pair = {"/app/original.txt", "/app/hardlink.txt"}
    # The tar lists whichever name comes first as the file and the other as the link.
    (link,) = [e for e in layer.entries if e.type is EntryType.HARDLINK]

    assert link.path in pair
    assert link.link_target == (pair - {link.path}).pop()
    assert entry(layer, link.link_target, EntryType.FILE).sha256 == link.sha256 == sha(b"shared content\n")


def test_symlink_setuid_and_owner(image: ImageRecord) -> None:
    layer = image.layers[5]

    assert entry(layer, "/app/symlink.txt", EntryType.SYMLINK).link_target == "../app/hello.txt"
    assert entry(layer, "/usr/local/bin/suid-tool", EntryType.FILE).mode == 0o4755
    owned = entry(layer, "/app/owned.txt", EntryType.FILE)
    assert (owned.uid, owned.gid, owned.mode) == (1000, 1000, 0o644)


def test_base_layer_is_the_imported_busybox(image: ImageRecord) -> None:
    base = image.layers[0]

    busybox = entry(base, "/bin/busybox", EntryType.FILE)
    assert busybox.size > 500_000
    assert entry(base, "/bin/sh", EntryType.SYMLINK).link_target == "busybox"
    assert base.entries == tuple(sorted(base.entries, key=lambda e: (e.path, e.type.value)))


def test_config_is_normalized_without_drift_labels(image: ImageRecord) -> None:
    assert image.config == {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "APP_HOME=/app"],
            "Cmd": ["sh"],
            "WorkingDir": "/app",
            "Labels": {"org.example.kind": "fixture"},
        },
    }
    assert image.config_digest.startswith("sha256:")


@pytest.mark.parametrize("chunk_size", [7, 511, 4096, 1 << 20, 1 << 26])
def test_chunk_boundaries_do_not_matter(image: ImageRecord, chunk_size: int) -> None:
    # Headers, peeks and file contents straddle chunks at every one of these sizes.
    assert read_saved_image(chunked(fixture_bytes("legacy"), chunk_size)) == image


# -- layouts made from the fixtures --------------------------------------------


def rewrite(name: str, change: dict[str, bytes | None], add_last: dict[str, bytes] | None = None) -> bytes:
    """The fixture `name` with members replaced (bytes) or dropped (None), and members appended."""
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(fixture_bytes(name))) as source,
        tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for info in source.getmembers():
            data = extracted(source, info).read() if info.isreg() else b""
            if info.name in change:
                replacement = change[info.name]
                if replacement is None:
                    continue
                data = replacement
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
        for member, data in (add_last or {}).items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def oci_documents(name: str) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """index.json, the manifest's blob name and the manifest, from an OCI fixture."""
    with tarfile.open(fileobj=io.BytesIO(fixture_bytes(name))) as tar:
        index = json.load(extracted(tar, "index.json"))
        manifest_name = "blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1]
        manifest = json.load(extracted(tar, manifest_name))
    return index, manifest_name, manifest


def blob(document: object) -> tuple[str, bytes, str]:
    data = json.dumps(document).encode()
    return "blobs/sha256/" + sha(data), data, "sha256:" + sha(data)


def test_engine_25_layout_with_manifest_json(images: dict[str, ImageRecord]) -> None:
    # Engine 25+ saves OCI layout with uncompressed blobs plus a legacy-style
    # manifest.json whose paths point into blobs/.
    _, _, manifest = oci_documents("oci-uncompressed")
    config_digest = manifest["config"]["digest"]
    layers = [layer["digest"] for layer in manifest["layers"]]
    docker_manifest = [
        {
            "Config": "blobs/sha256/" + config_digest.split(":")[1],
            "RepoTags": ["drift-fixture/layers:1"],
            "Layers": ["blobs/sha256/" + digest.split(":")[1] for digest in layers],
        }
    ]
    data = rewrite("oci-uncompressed", {}, {"manifest.json": json.dumps(docker_manifest).encode()})

    record = read_saved_image(chunked(data, 1 << 16))

    assert record == images["oci-uncompressed"]


def test_multi_platform_index_picks_the_saved_manifest(images: dict[str, ImageRecord]) -> None:
    index, _, manifest = oci_documents("oci")
    saved = index["manifests"][0]
    attestation_name, attestation, attestation_digest = blob(
        {"schemaVersion": 2, "config": manifest["config"], "layers": []}
    )
    nested_name, nested, nested_digest = blob(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {**saved, "platform": {"architecture": "amd64", "os": "linux"}},
                {  # another platform: listed, not saved
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": "sha256:" + "e" * 64,
                    "size": 1000,
                    "platform": {"architecture": "arm64", "os": "linux"},
                },
                {  # BuildKit's provenance attachment: not an image to read
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": attestation_digest,
                    "size": len(attestation),
                    "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
                },
            ],
        }
    )
    top = {
        "schemaVersion": 2,
        "manifests": [
            {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": nested_digest, "size": len(nested)}
        ],
    }
    data = rewrite(
        "oci",
        {"index.json": json.dumps(top).encode()},
        {nested_name: nested, attestation_name: attestation},
    )

    assert read_saved_image(chunked(data, 1 << 20)) == images["oci"]


# -- streams drift must refuse -------------------------------------------------


def test_random_bytes_are_not_a_docker_save() -> None:
    with pytest.raises(ImageReadError, match="not a docker save stream"):
        read_saved_image([os.urandom(64 * 1024)])


def test_empty_stream_is_not_a_docker_save() -> None:
    with pytest.raises(ImageReadError, match="not a docker save stream"):
        read_saved_image([])


def test_tar_without_manifest_is_not_a_docker_save() -> None:
    data = rewrite("legacy", {"manifest.json": None})

    with pytest.raises(ImageReadError, match=r"neither manifest\.json nor index\.json"):
        read_saved_image([data])


def test_a_plain_rootfs_tar_is_not_a_docker_save() -> None:
    # `docker export` output, or a layer tar handed over by mistake.
    with gzip.open(FIXTURES / "legacy.tar.gz") as saved, tarfile.open(fileobj=saved, mode="r|") as outer:
        for member in outer:
            if member.name.endswith("/layer.tar") and member.size > 1 << 20:
                layer = extracted(outer, member).read()
                break

    with pytest.raises(ImageReadError, match=r"not a docker save stream: it has neither manifest\.json"):
        read_saved_image(chunked(layer, 1 << 20))


def test_missing_layer_is_named() -> None:
    with tarfile.open(fileobj=io.BytesIO(fixture_bytes("legacy"))) as tar:
        manifest = json.load(extracted(tar, "manifest.json"))
    data = rewrite("legacy", {manifest[0]["Layers"][4]: None})

    with pytest.raises(ImageReadError, match=r"layer 4 \(sha256:[0-9a-f]{64}\) is not in the docker save stream"):
        read_saved_image([data])


def test_two_images_in_one_stream_are_refused() -> None:
    with tarfile.open(fileobj=io.BytesIO(fixture_bytes("legacy"))) as tar:
        manifest = json.load(extracted(tar, "manifest.json"))
    other_config = json.dumps({"rootfs": {"type": "layers", "diff_ids": []}}).encode()
    manifest.append({"Config": "other.json", "RepoTags": ["other:1"], "Layers": []})
    data = rewrite("legacy", {"manifest.json": json.dumps(manifest).encode()}, {"other.json": other_config})

    with pytest.raises(ImageReadError, match="holds 2 images"):
        read_saved_image([data])


def test_truncated_stream_is_an_error() -> None:
    data = fixture_bytes("legacy")

    with pytest.raises(ImageReadError):
        read_saved_image([data[: len(data) // 2]])


# -- reading from the engine ---------------------------------------------------


class FakeAPI:
    """Stands in for docker.APIClient.get_image: a generator that may fail like docker-py does."""

    def __init__(self, chunks: Iterable[bytes], error: Exception | None = None) -> None:
        self.chunks = chunks
        self.error = error
        self.requested: list[str] = []

    def get_image(self, image: str) -> Iterator[bytes]:
        self.requested.append(image)
        return self._stream()

    def _stream(self) -> Iterator[bytes]:
        # docker-py checks the HTTP status only once iteration starts.
        yield from self.chunks
        if self.error is not None:
            raise self.error


def test_read_image_streams_get_image(image: ImageRecord) -> None:
    api = FakeAPI(stream("legacy"))

    assert read_image(api, "drift-fixture/layers:1") == image
    assert api.requested == ["drift-fixture/layers:1"]


def test_engine_errors_become_one_line_image_read_errors() -> None:
    api = FakeAPI([], docker.errors.NotFound("404 Client Error: Not Found\n(reference does not exist)"))

    with pytest.raises(ImageReadError) as raised:
        read_image(api, "nope:1")

    message = str(raised.value)
    assert "nope:1" in message and "reference does not exist" in message
    assert "\n" not in message


def test_connection_lost_mid_stream_is_an_image_read_error() -> None:
    data = fixture_bytes("legacy")
    api = FakeAPI(chunked(data[:300_000], 65536), ConnectionResetError(104, "Connection reset by peer"))

    with pytest.raises(ImageReadError, match="Connection reset by peer"):
        read_image(api, "drift-fixture/layers:1")


def test_a_manifest_whose_layers_do_not_match_the_config_is_refused() -> None:
    with tarfile.open(fileobj=io.BytesIO(fixture_bytes("legacy"))) as tar:
        manifest = json.load(extracted(tar, "manifest.json"))
    manifest[0]["Layers"] = manifest[0]["Layers"][:-1]
    data = rewrite("legacy", {"manifest.json": json.dumps(manifest).encode()})

    with pytest.raises(ImageReadError, match=r"manifest lists \d+ layers and its config \d+"):
        read_saved_image([data])


def test_each_layer_is_the_member_the_manifest_names_in_the_configs_order() -> None:
    # Two layers' members swapped in the manifest: drift reads them as the engine (and `docker load`) would.
    image = read_saved_image([fixture_bytes("legacy")])
    with tarfile.open(fileobj=io.BytesIO(fixture_bytes("legacy"))) as tar:
        manifest = json.load(extracted(tar, "manifest.json"))
    layers = manifest[0]["Layers"]
    layers[0], layers[1] = layers[1], layers[0]
    swapped = read_saved_image([rewrite("legacy", {"manifest.json": json.dumps(manifest).encode()})])

    assert swapped.layers[0].entries == image.layers[1].entries
    assert swapped.layers[1].entries == image.layers[0].entries
    assert [layer.diff_id for layer in swapped.layers] == [layer.diff_id for layer in image.layers]
