"""The Engine interface: what the nightly check asks of a Docker Engine, and the values it gets back.

`drift.build.engine.DockerEngine` implements it over docker-py; the unit tests
implement it over real `docker save` fixtures, so the check itself can be
tested without an engine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from drift.dockerfile.model import Dockerfile
from drift.values import BaseImage, BuilderInfo, TargetSpec

LogSink = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class BuiltImage:
    """A build that succeeded: the image, the tag drift gave it, and when the engine says it was created."""

    image_id: str
    tag: str
    created: str = ""


@dataclass(frozen=True, slots=True)
class PulledImage:
    """A published image as the engine pulled it.

    Attributes:
        reference: the reference asked for ("registry/app:1", "registry/app@sha256:...").
        digest: the registry digest people pull it by ("sha256:..."): of the index for a multi-platform image.
        image_id: the engine's image ID of the platform pulled.
        labels: the image config's labels.
        platform: "os/arch[/variant]" of the image pulled.
        created: the image config's creation time, as the engine says it ("" when it does not).
    """

    reference: str
    digest: str
    image_id: str
    labels: Mapping[str, str]
    platform: str
    created: str = ""

    @property
    def pinned(self) -> str:
        """The reference with the digest it resolved to: "registry/app:1@sha256:..."."""
        name = self.reference.split("@", 1)[0]
        return f"{name}@{self.digest}"


class BuildFailed(Exception):
    """The Dockerfile did not build. Not a DriftError: it is a verdict (broken or failed), not a user error.

    Attributes:
        message: why, in one line (the engine's error, or drift's).
        failed_step: the Dockerfile instruction that failed, when known.
        log_tail: the last lines of the build log.
    """

    def __init__(self, message: str, failed_step: str | None, log_tail: str) -> None:
        super().__init__(message)
        self.message = message
        self.failed_step = failed_step
        self.log_tail = log_tail


class BuildInterrupted(Exception):
    """The build was stopped on purpose (drift is shutting down); the caller records it interrupted."""


class Engine(Protocol):
    """One Docker Engine, as the check uses it. Failures to reach it raise `drift.errors.EngineError`."""

    host: str
    """The engine's address (its DOCKER_HOST), as recorded on each build."""

    def builder_info(self) -> BuilderInfo:
        """The engine's version, API version, OS/arch and storage driver."""

    def resolve_builder(self, requested: str) -> str:
        """ "legacy" or "buildkit": what a build asking for `requested` (auto, buildkit, legacy) runs with."""

    def free_bytes(self) -> int | None:
        """Free space where the engine keeps its data; None when it cannot be known (a remote engine)."""

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
        """Build from scratch, no cache, with `builder` ("legacy" or "buildkit").

        `on_step` hears the Dockerfile instruction each step runs ("RUN make") as it
        starts. `proxy_args` are build args for this build only (drift's proxy, as
        HTTP_PROXY and its kin); they win over the target's own build args.
        Raises BuildFailed (a verdict), BuildInterrupted or EngineError.
        """

    def bridge_gateway(self) -> str | None:
        """The host's address on the engine's default bridge network (docker0), where a RUN step on the
        default network reaches the host; None when the engine does not say."""

    def resolve_base_images(self, dockerfile: Dockerfile, target_stage: str | None) -> tuple[list[BaseImage], int]:
        """What each FROM resolved to, and how many layers the final stage inherits from its base."""

    def pull_image(self, reference: str, platform: str | None = None) -> PulledImage:
        """Pull a published image (POST /images/create, with the registry auth of the Docker config).

        Raises drift.errors.PublishedImageError when the registry cannot be reached or has no such image.
        """

    def get_image(self, image: str) -> Iterable[bytes]:
        """The `docker save` stream of an image (GET /images/{name}/get), read once."""

    def remove_older_images(self, target: str, installation: str, keep: int = 1) -> int:
        """Remove this installation's images of the target but the `keep` newest; returns how many went."""

    def remove_objects(self, objects: Sequence[str]) -> None:
        """Remove the containers and step images ("container:<id>", "image:<id>") a build left behind."""
