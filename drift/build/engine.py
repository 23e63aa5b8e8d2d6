"""The build stage: rebuild a target from scratch through the Docker Engine build API (docker-py's low-level client)."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from http.client import HTTPException
from pathlib import Path
from typing import Any

import docker
from docker.api.build import process_dockerfile
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from requests.exceptions import RequestException
from urllib3.exceptions import HTTPError

from drift.build.buildkit import TRACE_ID, BuildkitProgress
from drift.build.context import build_parameters, context_archive, gateway_of
from drift.build.interface import BuildFailed, BuildInterrupted, BuiltImage, LogSink, PulledImage
from drift.build.messages import BUILT, INTERMEDIATE, RUNNING_IN, STEP, is_from, registry_outage
from drift.build.watchdog import Watchdog
from drift.dockerfile.features import final_base_of, stage_bases
from drift.dockerfile.model import Dockerfile
from drift.errors import EngineError, PublishedImageError
from drift.targets import check_pull
from drift.values import BaseImage, BuilderInfo, TargetSpec

LOG_TAIL_LINES = 40
DEFAULT_BUILD_TIMEOUT_S = 3600


# What talking to an engine can raise: docker-py's errors, and the transport's
# when the engine goes away mid-request.
ENGINE_ERRORS = (DockerException, RequestException, HTTPError, HTTPException, OSError)


def _one_line(exc: BaseException) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return " ".join(str(text).split())


class DockerEngine:
    """A connection to one Docker Engine through docker-py's low-level client: drift's `Engine`."""

    def __init__(
        self,
        docker_host: str | None = None,
        *,
        timeout: int = DEFAULT_BUILD_TIMEOUT_S,
        tls_verify: bool = False,
        cert_path: str | None = None,
    ) -> None:
        try:
            kwargs: dict[str, Any] = docker.utils.kwargs_from_env()
        except ENGINE_ERRORS as exc:
            raise EngineError(f"the Docker settings in the environment are invalid: {_one_line(exc)}") from None
        if docker_host:
            kwargs["base_url"] = docker_host
            kwargs.pop("tls", None)
        if cert_path:
            # A [[builders]] entry of drift.toml: its own client certificate, and its CA when verifying.
            directory = Path(cert_path)
            kwargs["tls"] = docker.tls.TLSConfig(
                client_cert=(str(directory / "cert.pem"), str(directory / "key.pem")),
                ca_cert=str(directory / "ca.pem") if tls_verify else None,
                verify=tls_verify,
            )
        self.host = str(kwargs.get("base_url") or "unix:///var/run/docker.sock")
        try:
            # version="auto" asks the engine at once, so an engine that does not
            # answer is reported here, before any build row is written.
            self.api = docker.APIClient(version="auto", timeout=timeout, **kwargs)
        except ENGINE_ERRORS as exc:
            raise EngineError(
                f"cannot reach the Docker Engine at {self.host} ({_one_line(exc)}); "
                "start dockerd or point --docker-host / DOCKER_HOST at a running engine"
            ) from None

    def builder_info(self) -> BuilderInfo:
        try:
            version = self.api.version()
            info = self.api.info()
        except ENGINE_ERRORS as exc:
            raise EngineError(f"the Docker Engine at {self.host} stopped answering: {_one_line(exc)}") from None
        return BuilderInfo(
            engine_version=str(version.get("Version", "")),
            api_version=str(version.get("ApiVersion", "")),
            os=str(version.get("Os", "")),
            arch=str(version.get("Arch", "")),
            storage_driver=str(info.get("Driver", "")),
        )

    def base_images(self, dockerfile: Dockerfile) -> list[str]:
        """The external images the Dockerfile's FROM lines name, ARGs substituted, once each."""
        images: list[str] = []
        for _stage, _name, image in stage_bases(dockerfile):
            if image is not None and image not in images:
                images.append(image)
        return images

    def resolve_base_images(self, dockerfile: Dockerfile, target_stage: str | None) -> tuple[list[BaseImage], int]:
        """What every FROM resolved to in the engine, and how many layers the final stage inherits.

        Called right after the build, so the images inspected are the ones the
        build used (a pull policy of `always` may just have moved a tag).
        """
        resolved = [self._inspect_base(index, image) for index, _name, image in _externals(dockerfile)]
        return final_base_of(dockerfile, target_stage, resolved)

    def _inspect_base(self, stage: int, image: str) -> BaseImage:
        try:
            inspected = self.api.inspect_image(image)
        except ENGINE_ERRORS as exc:
            raise EngineError(f"cannot inspect base image {image}: {_one_line(exc)}") from None
        digests = inspected.get("RepoDigests") or []
        try:
            history_length = len(self.api.history(inspected["Id"]))
        except ENGINE_ERRORS:
            history_length = 0
        return BaseImage(
            stage=stage,
            reference=image,
            image_id=str(inspected["Id"]),
            repo_digest=str(digests[0]) if digests else "",
            layer_count=len((inspected.get("RootFS") or {}).get("Layers") or []),
            history_length=history_length,
        )

    def resolve_builder(self, requested: str) -> str:
        """The builder a build asking for `requested` (auto, buildkit, legacy) runs with on this engine.

        BuildKit builds through the API need API 1.39 (Engine 18.09) on Linux;
        `auto` takes it wherever it is there.
        """
        if requested == "legacy":
            return "legacy"
        info = self.builder_info()
        has_buildkit = info.os == "linux" and _api_at_least(info.api_version, (1, 39))
        if has_buildkit:
            return "buildkit"
        if requested == "buildkit":
            raise EngineError(
                f"the Docker Engine at {self.host} has no BuildKit (API {info.api_version}, {info.os}); "
                "track the target with --builder legacy or auto"
            )
        return "legacy"

    def pull_image(self, reference: str, platform: str | None = None) -> PulledImage:
        """Pull a published image through the engine, with the registry auth of the Docker config
        (docker-py reads ~/.docker/config.json, as the CLI does), and say what it resolved to."""
        repository, tag = pull_arguments(reference)
        digest: str | None = tag if tag.startswith("sha256:") else None
        try:
            for message in self.api.pull(repository, tag=tag, stream=True, decode=True, platform=platform):
                if not isinstance(message, dict):
                    continue
                if "error" in message:
                    raise PublishedImageError(f"cannot pull {reference}: {' '.join(str(message['error']).split())}")
                status = str(message.get("status", ""))
                if status.startswith("Digest: sha256:"):
                    digest = status.removeprefix("Digest: ").strip()
            inspected = self.api.inspect_image(f"{repository}@{tag}" if tag.startswith("sha256:") else reference)
        except PublishedImageError:
            raise
        except ENGINE_ERRORS as exc:
            raise PublishedImageError(f"cannot pull {reference}: {_one_line(exc)}") from None
        if digest is None:
            digest = next(
                (d.partition("@")[2] for d in inspected.get("RepoDigests") or [] if d.partition("@")[0] == repository),
                None,
            )
        if digest is None:
            raise PublishedImageError(f"{reference} has no registry digest after the pull; push it to a registry first")
        config = inspected.get("Config") or {}
        platform_pulled = "/".join(
            part for part in (inspected.get("Os"), inspected.get("Architecture"), inspected.get("Variant")) if part
        )
        return PulledImage(
            reference=reference,
            digest=digest,
            image_id=str(inspected["Id"]),
            labels={str(k): str(v) for k, v in (config.get("Labels") or {}).items()},
            platform=platform_pulled,
            created=str(inspected.get("Created") or ""),
        )

    def get_image(self, image: str) -> Iterable[bytes]:
        """The `docker save` stream of `image`; transport errors surface while it is read."""
        chunks: Iterable[bytes] = self.api.get_image(image)
        return chunks

    def check_base_images_present(self, images: list[str], target: str) -> None:
        for image in images:
            try:
                self.api.inspect_image(image)
            except (ImageNotFound, NotFound):
                raise EngineError(
                    f"base image {image} is not in the engine and {target}'s pull policy is never; "
                    f"load or pull it, or track the target with --pull missing"
                ) from None
            except ENGINE_ERRORS as exc:
                raise EngineError(f"cannot inspect base image {image}: {_one_line(exc)}") from None

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
        """Build from scratch (no cache, intermediate containers removed even on failure).

        `builder` is "legacy" or "buildkit" (see `resolve_builder`). `on_object`
        hears of every container ("container:<id>") and step image ("image:<id>")
        the legacy builder makes, so a crash can be cleaned up after. The build
        is stopped after the target's timeout (recorded as a failure whose
        reason starts with "timeout"), or when `stop` is set. `on_step` hears each
        step's instruction as it starts; `proxy_args` are added to the build args of
        this build only (see the Engine protocol).
        """
        check_pull(spec.pull)
        build_args = {**spec.build_args, **(proxy_args or {})}
        if spec.pull == "never":
            self.check_base_images_present(self.base_images(model), spec.name)
        try:
            if builder == "buildkit":
                return self._build_with_buildkit(
                    spec,
                    context_dir,
                    dockerfile,
                    tag=tag,
                    labels=labels,
                    on_log=on_log,
                    stop=stop,
                    build_args=build_args,
                    on_step=on_step,
                )
            stream: Iterator[dict[str, Any]] = self.api.build(
                path=str(context_dir),
                dockerfile=str(dockerfile.relative_to(context_dir))
                if dockerfile.is_relative_to(context_dir)
                else str(dockerfile),
                tag=tag,
                nocache=True,
                rm=True,
                forcerm=True,
                pull=spec.pull == "always",
                buildargs=build_args,
                target=spec.stage,
                platform=spec.platform,
                network_mode=spec.network,
                labels=dict(labels),
                decode=True,
            )
            watchdog = Watchdog(self, spec.timeout_s, stop)
            try:
                return self._follow(stream, tag, on_log, on_object, watchdog, on_step=on_step)
            finally:
                watchdog.cancel()
        except (BuildFailed, BuildInterrupted):
            raise
        except (APIError, DockerException) as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if status is not None and 400 <= status < 500:
                # The engine refused the request (bad platform, bad Dockerfile
                # path...): that is a build failure of this source, not an outage.
                raise BuildFailed(_one_line(exc), None, "") from None
            raise EngineError(f"the Docker Engine at {self.host} failed during the build: {_one_line(exc)}") from None
        except (RequestException, HTTPError, HTTPException, OSError) as exc:
            # The connection broke: the engine stopped or went away mid-build.
            raise EngineError(
                f"the Docker Engine at {self.host} stopped answering during the build: {_one_line(exc)}"
            ) from None

    def _build_with_buildkit(
        self,
        spec: TargetSpec,
        context_dir: Path,
        dockerfile: Path,
        *,
        tag: str,
        labels: Mapping[str, str],
        on_log: LogSink | None,
        stop: threading.Event | None,
        build_args: Mapping[str, str],
        on_step: LogSink | None,
    ) -> BuiltImage:
        """The same build with BuildKit: POST /build?version=2 with the context tar as the body, no session.

        docker-py's `build` cannot ask for version 2, so the request is made
        here with docker-py's own context tar (its .dockerignore handling) and
        its HTTP session. Progress comes back as BuildKit trace messages.
        """
        name, extra = process_dockerfile(
            str(dockerfile.relative_to(context_dir)) if dockerfile.is_relative_to(context_dir) else str(dockerfile),
            str(context_dir),
        )
        context = context_archive(context_dir, name, extra)
        try:
            response = self.api._post(  # docker-py's own session, as its build() uses
                self.api._url("/build"),
                data=context,
                params=build_parameters(spec, tag, name or "Dockerfile", labels, build_args),
                headers={"Content-Type": "application/x-tar"},
                stream=True,
                timeout=None,
            )
            self.api._raise_for_status(response)
            stream: Iterator[dict[str, Any]] = self.api._stream_helper(response, decode=True)
        finally:
            context.close()
        # BuildKit runs its steps outside the engine's containers: closing the request is what cancels it.
        watchdog = Watchdog(self, spec.timeout_s, stop, on_fire=lambda: self._hang_up(response))
        try:
            return self._follow(stream, tag, on_log, None, watchdog, BuildkitProgress(LOG_TAIL_LINES), on_step=on_step)
        except (RequestException, HTTPError, HTTPException, OSError, ValueError, AttributeError):
            # A stream hung up by the watchdog ends with whatever error the transport meets.
            if watchdog.fired is None:
                raise
            return self._follow(iter(()), tag, on_log, None, watchdog, None)
        finally:
            watchdog.cancel()

    def _hang_up(self, response: Any) -> None:
        """End a streamed request from another thread: shut its socket down, which wakes the reader and makes
        the engine cancel the build (closing the response alone leaves a blocked read blocked)."""
        with contextlib.suppress(*ENGINE_ERRORS, AttributeError):
            raw = self.api._get_raw_response_socket(response)
            sock = getattr(raw, "_sock", raw)
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(*ENGINE_ERRORS, AttributeError):
            response.close()

    def _follow(
        self,
        stream: Iterator[dict[str, Any]],
        tag: str,
        on_log: LogSink | None,
        on_object: LogSink | None,
        watchdog: Watchdog,
        buildkit: BuildkitProgress | None = None,
        on_step: LogSink | None = None,
    ) -> BuiltImage:
        tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        step: str | None = None
        last_intermediate: str | None = None
        intermediates: list[str] = []
        image_id: str | None = None
        for message in stream:
            if watchdog.fired is not None:
                break
            if "error" in message:
                if watchdog.fired is not None:
                    break  # the step failed because the watchdog killed it
                error = " ".join(str(message.get("error", "")).split())
                if buildkit is not None:
                    step = buildkit.failed_step or buildkit.current_step
                    tail.extend(buildkit.log_tail().splitlines())
                tail.append(error)
                if on_log:
                    on_log(error)
                self._remove_quietly(last_intermediate)
                if registry_outage(error, step):
                    raise EngineError(
                        f"a registry could not be reached to pull a base image ({error}); this is not drift: "
                        "the check is retried at the next slot"
                    )
                raise BuildFailed(error or "build failed", step, "\n".join(tail))
            if buildkit is not None and message.get("id") == TRACE_ID:
                for line in buildkit.feed(message.get("aux")):
                    if on_log:
                        on_log(line)
                if buildkit.current_step != step and buildkit.current_step is not None and on_step:
                    on_step(buildkit.current_step)
                step = buildkit.current_step
                continue
            aux = message.get("aux")
            if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
                image_id = aux["ID"]
            text = message.get("stream")
            if not isinstance(text, str):
                continue
            for line in text.splitlines():
                if not line.strip():
                    continue
                tail.append(line)
                if on_log:
                    on_log(line)
                if match := STEP.match(line):
                    step = match["instruction"]
                    if on_step:
                        on_step(step)
                elif match := RUNNING_IN.match(line):
                    watchdog.container = match["id"]
                    if on_object:
                        on_object(f"container:{match['id']}")
                elif (match := INTERMEDIATE.match(line)) and not is_from(step):
                    # After a FROM step the id is the base image's (someone else's): never ours to remove.
                    last_intermediate = match["id"]
                    intermediates.append(match["id"])
                    watchdog.container = None
                    if on_object:
                        on_object(f"image:{match['id']}")
                elif (match := BUILT.match(line)) and image_id is None:
                    image_id = match["id"]
        if watchdog.fired == "stop":
            self._remove_quietly(last_intermediate)
            raise BuildInterrupted(f"stopped during step {step!r}")
        if watchdog.fired == "timeout" or (image_id is None and watchdog.fired):
            self._remove_quietly(last_intermediate)
            reason = f"timeout: the build ran longer than its {watchdog.timeout_s} s limit"
            if buildkit is not None:
                tail.extend(buildkit.log_tail().splitlines())
            tail.append(reason)
            raise BuildFailed(reason, step, "\n".join(tail))
        if image_id is None:
            raise BuildFailed("the engine ended the build without an image", step, "\n".join(tail))
        try:
            inspected = self.api.inspect_image(image_id)
        except ENGINE_ERRORS as exc:
            raise EngineError(f"the built image {image_id} vanished: {_one_line(exc)}") from None
        full_id = str(inspected["Id"])
        self._remove_stage_leftovers(intermediates, full_id)
        return BuiltImage(image_id=full_id, tag=tag, created=str(inspected.get("Created") or ""))

    def _remove_stage_leftovers(self, intermediates: Sequence[str], final: str) -> None:
        """Remove what the legacy builder left of earlier stages: their last images, untagged and unused.

        Only images this build's own log named are tried, newest first and
        without force: the final image's own parents have children and stay
        (they go with it), anything another build uses stays too.
        """
        for image in reversed(intermediates):
            if final.removeprefix("sha256:").startswith(image):
                continue
            with contextlib.suppress(*ENGINE_ERRORS):
                self.api.remove_image(image, force=False, noprune=False)

    def _remove_quietly(self, image: str | None) -> None:
        # The legacy builder keeps the images of the steps before a failure;
        # removing the last one removes its untagged parents too.
        if image is None:
            return
        with contextlib.suppress(*ENGINE_ERRORS):
            self.api.remove_image(image, force=True)

    def remove_older_images(self, target: str, installation: str, keep: int = 1) -> int:
        """Remove the images this installation of drift built for this target but the `keep` newest.

        Only images labelled with this database's installation id: another drift
        sharing the engine keeps its own images. Returns how many went.
        """
        try:
            images = self.api.images(
                filters={"label": [f"drift.target={target}", f"drift.installation={installation}"]}
            )
        except ENGINE_ERRORS:
            return 0

        def build_number(image: Mapping[str, Any]) -> int:
            label = (image.get("Labels") or {}).get("drift.build", "0")
            return int(label) if str(label).isdigit() else 0

        stale = sorted(images, key=build_number, reverse=True)[max(keep, 0) :]
        for image in stale:
            self._remove_quietly(image["Id"])
        return len(stale)

    def remove_objects(self, objects: Sequence[str]) -> None:
        """Remove containers and step images a build left behind (after a crash or a stop)."""
        for item in objects:
            kind, _, object_id = item.partition(":")
            with contextlib.suppress(*ENGINE_ERRORS):
                if kind == "container":
                    self.api.remove_container(object_id, force=True)
        for item in reversed(objects):
            kind, _, object_id = item.partition(":")
            if kind == "image":
                self._remove_quietly(object_id)

    def kill_container(self, container: str) -> None:
        with contextlib.suppress(*ENGINE_ERRORS):
            self.api.kill(container)

    def bridge_gateway(self) -> str | None:
        """The host's address on the default bridge network, from the engine's inspect of "bridge".

        An engine may leave the gateway out of the IPAM config (Engine 20.10 does for
        the default bridge); docker0 then has the first address of the subnet, as
        the engine's IPAM gives it.
        """
        try:
            network = self.api.inspect_network("bridge")
        except ENGINE_ERRORS:
            return None
        return gateway_of(network)

    def free_bytes(self) -> int | None:
        """Free space where the engine keeps its data, when the engine runs on this machine."""
        if not self.host.startswith(("unix://", "npipe://")):
            return None
        try:
            root = str(self.api.info().get("DockerRootDir") or "")
        except ENGINE_ERRORS:
            return None
        if not root or not os.path.isdir(root):
            return None
        stats = os.statvfs(root)
        return stats.f_bavail * stats.f_frsize


def pull_arguments(reference: str) -> tuple[str, str]:
    """(repository, tag or digest) to pull a reference with: "latest" when it names neither, the digest when
    it names both (the digest is what is pulled then)."""
    name, _, digest = reference.partition("@")
    last = name.rsplit("/", 1)[-1]
    repository, tag = name, "latest"
    if ":" in last:
        repository, _, tag = name.rpartition(":")
    return repository, digest or tag


def _externals(dockerfile: Dockerfile) -> list[tuple[int, str | None, str]]:
    return [(index, name, image) for index, name, image in stage_bases(dockerfile) if image is not None]


def _api_at_least(version: str, wanted: tuple[int, int]) -> bool:
    parts = version.split(".")
    try:
        return (int(parts[0]), int(parts[1])) >= wanted
    except (IndexError, ValueError):
        return False
