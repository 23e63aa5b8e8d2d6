"""An `Engine` without Docker, for unit tests of the check: it serves real `docker save` streams.

The streams are the real fixtures under tests/fixtures/images, or legacy-layout
streams made here (`saved_image`) from layer contents a test chooses, so that
a test can make two builds that differ exactly where it wants.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from drift.build.interface import BuildFailed, BuiltImage, LogSink, PulledImage
from drift.dockerfile.model import Dockerfile
from drift.errors import PublishedImageError
from drift.values import BaseImage, BuilderInfo, TargetSpec

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "images"
BUILDER = BuilderInfo(
    engine_version="20.10.24", api_version="1.41", os="linux", arch="amd64", storage_driver="overlay2"
)


def fixture_image(name: str = "legacy.tar.gz") -> bytes:
    """A real `docker save` stream from tests/fixtures/images."""
    with gzip.open(FIXTURES / name) as stream:
        return stream.read()


def layer_tar(files: Mapping[str, bytes], xattrs: Mapping[str, Mapping[str, bytes]] | None = None) -> bytes:
    """A layer: one regular file per path (no leading slash), fixed owner, mode and mtime.

    A path ending in "/" is a directory. `xattrs`: extended attributes by path,
    written as Docker writes them (pax `SCHILY.xattr.<name>` records).
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, content in sorted(files.items()):
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.mtime = len(content), 0o644, 1_600_000_000
            if path.endswith("/"):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            info.pax_headers = {
                f"SCHILY.xattr.{name}": value.decode("utf-8", "surrogateescape")
                for name, value in (xattrs or {}).get(path, {}).items()
            }
            tar.addfile(info, io.BytesIO(content) if info.isreg() else None)
    return buffer.getvalue()


def saved_image(
    layers: Sequence[Mapping[str, bytes]],
    instructions: Sequence[str],
    cmd: str = "sh",
    xattrs: Sequence[Mapping[str, Mapping[str, bytes]]] = (),
) -> bytes:
    """A legacy-layout `docker save` stream of an image with these layers, made by these instructions.

    `xattrs`, per layer: the extended attributes of its files by path.
    """
    tars = [layer_tar(files, xattrs[index] if index < len(xattrs) else None) for index, files in enumerate(layers)]
    diff_ids = ["sha256:" + hashlib.sha256(tar).hexdigest() for tar in tars]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": [cmd], "Env": ["PATH=/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"/bin/sh -c #(nop) {text}"} for text in instructions],
    }
    config_bytes = json.dumps(config).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_names = [f"{diff_id[7:]}/layer.tar" for diff_id in diff_ids]
    manifest = json.dumps([{"Config": config_name, "RepoTags": None, "Layers": layer_names}]).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        members = [*zip(layer_names, tars, strict=True), (config_name, config_bytes), ("manifest.json", manifest)]
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


Outcome = bytes | BaseException | Callable[[], bytes]


@dataclass
class FakeEngine:
    """Each build takes the next outcome: a save stream to serve, or an exception to raise."""

    outcomes: list[Outcome]
    host: str = "fake://engine"
    base_layers: int = 0
    log_lines: Sequence[str] = ("Step 1/2 : FROM busybox:latest", "Step 2/2 : RUN make")
    builds: list[TargetSpec] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    builders: list[str] = field(default_factory=list)
    proxy_args: list[dict[str, str]] = field(default_factory=list)
    images: dict[str, bytes] = field(default_factory=dict)
    # A registry: reference -> (save stream, labels); its digest is the stream's sha256 (a re-push changes it).
    registry: dict[str, tuple[bytes, dict[str, str]]] = field(default_factory=dict)
    pulls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def builder_info(self) -> BuilderInfo:
        return BUILDER

    def free_bytes(self) -> int | None:
        return None

    def resolve_builder(self, requested: str) -> str:
        return "legacy" if requested == "legacy" else "buildkit"

    def build(
        self,
        spec: TargetSpec,
        context_dir: Path,
        dockerfile: Path,
        *,
        model: Dockerfile,
        tag: str,
        labels: Mapping[str, str],
        on_log: LogSink | None = None,
        on_object: LogSink | None = None,
        stop: threading.Event | None = None,
        builder: str = "legacy",
        on_step: LogSink | None = None,
        proxy_args: Mapping[str, str] | None = None,
    ) -> BuiltImage:
        assert dockerfile.is_file() and context_dir.is_dir()
        self.builders.append(builder)
        self.proxy_args.append(dict(proxy_args or {}))
        with self.lock:
            self.builds.append(spec)
            outcome = self.outcomes.pop(0)
        for line in self.log_lines:
            if on_log:
                on_log(line)
            if on_step and line.startswith("Step "):
                on_step(line.partition(" : ")[2])
        if on_object:
            on_object(f"container:{len(self.builds):064x}")
        if isinstance(outcome, BaseException):
            raise outcome
        data = outcome() if callable(outcome) else outcome
        image_id = "sha256:" + hashlib.sha256(data).hexdigest()
        self.images[image_id] = data
        return BuiltImage(image_id=image_id, tag=tag, created="2026-11-30T03:00:00Z")

    def bridge_gateway(self) -> str | None:
        return None

    def resolve_base_images(self, dockerfile: Dockerfile, target_stage: str | None) -> tuple[list[BaseImage], int]:
        stage = dockerfile.final_stage(target_stage)
        base = BaseImage(
            stage=stage.index,
            reference=stage.base_resolved,
            image_id="sha256:" + "b" * 64,
            repo_digest="",
            layer_count=self.base_layers,
            final=True,
        )
        return [base], self.base_layers

    def pull_image(self, reference: str, platform: str | None = None) -> PulledImage:
        self.pulls.append(reference)
        if reference not in self.registry:
            raise PublishedImageError(f"cannot pull {reference}: manifest unknown")
        data, labels = self.registry[reference]
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        image_id = "sha256:" + hashlib.sha256(b"id" + data).hexdigest()
        self.images[image_id] = data
        return PulledImage(reference, digest, image_id, dict(labels), "linux/amd64", "2026-11-01T12:00:00Z")

    def get_image(self, image: str) -> Iterable[bytes]:
        data = self.images[image]
        return _chunks(data)

    def remove_older_images(self, target: str, installation: str, keep: int = 1) -> int:
        return 0

    def remove_objects(self, objects: Sequence[str]) -> None:
        self.removed.extend(objects)


def _chunks(data: bytes, size: int = 65536) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def failed(message: str = "The command '/bin/sh -c make' returned a non-zero code: 2") -> BuildFailed:
    return BuildFailed(message, "RUN make", "make: *** [all] Error 2\n" + message)
