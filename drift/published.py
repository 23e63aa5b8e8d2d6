"""Published images: the image a registry serves for a tag, pulled and read like a build, as a target's baseline.

A target tracked with `--published REF` is judged against the image people
pull, not against drift's own first build. Each night the reference is pulled
again; when the tag points at another digest, someone re-pushed the release:
that is a finding of its own (`published`, `retagged`), and the new image is
the baseline from then on. `drift verify` does the same once, for CI, with no
tracking (drift.verify).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from drift.build.interface import Engine, PulledImage
from drift.catalog import default_catalogers
from drift.errors import UsageError
from drift.image import read_image
from drift.storage import baselines, builds
from drift.storage.database import Database
from drift.values import Finding, ImageRecord, TargetSpec

# The OCI annotations a publisher's build command puts on an image (docker/metadata-action, `docker build
# --label`): where the source is, which commit, when. A rebuild carries the same ones, as that command would.
OCI_PREFIX = "org.opencontainers.image."
OCI_SOURCE = OCI_PREFIX + "source"
OCI_REVISION = OCI_PREFIX + "revision"
# How the image was built, when the publisher says so on the image (`drift verify` reads them). drift's own
# "drift." labels are left out of every comparison, so these never show as a difference either.
DOCKERFILE_LABEL = "drift.source.dockerfile"
CONTEXT_LABEL = "drift.source.context"
TARGET_LABEL = "drift.source.target"
BUILD_ARGS_LABEL = "drift.source.build-args"


def name_of(pinned: str) -> str:
    """ "registry/app:1" of "registry/app:1@sha256:..."."""
    return pinned.partition("@")[0]


def digest_of(pinned: str) -> str:
    return pinned.partition("@")[2]


@dataclass(frozen=True, slots=True)
class Published:
    """A published image, pulled and read."""

    pulled: PulledImage
    image: ImageRecord


def fetch_published(engine: Engine, reference: str, platform: str | None) -> Published:
    """Pull the image (the platform asked for, from an index) and read it."""
    pulled = engine.pull_image(reference, platform)
    return Published(pulled, _read(engine, pulled))


def _read(engine: Engine, pulled: PulledImage) -> ImageRecord:
    """A pulled image read as a build's image is read: manifests, fingerprints and packages."""
    return read_image(engine, pulled.image_id, default_catalogers())


BUILDKIT_COMMENT = "buildkit.dockerfile.v0"
CREATED_RULE = "default rule: an image's creation time is when it was built; a rebuild never has the publisher's"


def built_with(image: ImageRecord) -> str | None:
    """The builder the image's last Dockerfile step shows: "buildkit" (its history comment), "legacy" (a
    `/bin/sh -c` command line), None when the history does not say. A rebuild with another builder than the
    publisher's differs in detail (directories BuildKit creates, ...), so `auto` takes the publisher's."""
    for entry in reversed(image.history):
        created_by = entry.get("created_by")
        if not isinstance(created_by, str) or not created_by:
            continue
        if entry.get("comment") == BUILDKIT_COMMENT:
            return "buildkit"
        if created_by.startswith(("/bin/sh -c ", "|")) or "#(nop)" in created_by:
            return "legacy"
        return None
    return None


def rebuild_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The labels of a published image that its build command gave it (OCI annotations): a rebuild gets them too."""
    return {key: value for key, value in labels.items() if key.startswith(OCI_PREFIX)}


@dataclass(frozen=True, slots=True)
class PublishedCheck:
    """What pulling a target's published image tonight found: a re-push, and the labels a rebuild carries."""

    findings: tuple[Finding, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    created: str = ""

    def with_rebuild(self, created: str) -> tuple[Finding, ...]:
        """The findings, and the rebuild's creation time beside the publisher's: noise, with its reason."""
        if not self.created or not created or self.created == created:
            return self.findings
        noise = Finding(
            kind="published",
            layer=None,
            instruction="",
            subject="created",
            change="modified",
            before=self.created,
            after=created,
            cause="timestamp",
            ignored=True,
            ignored_by=CREATED_RULE,
        )
        return (*self.findings, noise)


def refresh_published(db: Database, engine: Engine, spec: TargetSpec, fingerprint: str) -> PublishedCheck:
    """Pull the target's published image; when it is not tonight's baseline already, it becomes it.

    A tag that points at another digest than the baseline's is a re-pushed
    release: a `published` finding says so (alerted: its verdict is drifted).
    """
    assert spec.published is not None
    pulled = engine.pull_image(spec.published, spec.platform)
    with db.session() as session:
        current = baselines.baseline_published(session, spec.name, fingerprint)
    if current == pulled.pinned:
        return PublishedCheck(labels=rebuild_labels(pulled.labels), created=pulled.created)
    image = _read(engine, pulled)
    with db.session() as session:
        builds.record_published(session, spec.name, fingerprint, spec.commit, pulled.pinned, image)
    findings: tuple[Finding, ...] = ()
    if current is not None and name_of(current) == name_of(pulled.pinned):
        findings = (
            Finding(
                kind="published",
                layer=None,
                instruction="",
                subject=name_of(current),
                change="retagged",
                before=digest_of(current),
                after=pulled.digest,
                cause="published-retag",
            ),
        )
    return PublishedCheck(findings, rebuild_labels(pulled.labels), pulled.created)


@dataclass(frozen=True, slots=True)
class LabelledSource:
    """Where and how a published image says it was built, from its labels."""

    repo: str | None = None
    commit: str | None = None
    dockerfile: str | None = None
    context: str | None = None
    stage: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    said: tuple[str, ...] = ()


def labelled_source(labels: Mapping[str, str]) -> LabelledSource:
    """The source the image's labels name: the OCI source and revision, and drift's build hints."""
    said = tuple(
        f"{key}={labels[key]}"
        for key in (OCI_SOURCE, OCI_REVISION, DOCKERFILE_LABEL, CONTEXT_LABEL, TARGET_LABEL, BUILD_ARGS_LABEL)
        if labels.get(key)
    )
    build_args: dict[str, str] = {}
    if text := labels.get(BUILD_ARGS_LABEL):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
            raise UsageError(
                f"the image's label {BUILD_ARGS_LABEL} is not a JSON object of strings; pass --build-arg instead"
            )
        build_args = {str(k): v for k, v in parsed.items()}
    return LabelledSource(
        repo=labels.get(OCI_SOURCE) or None,
        commit=labels.get(OCI_REVISION) or None,
        dockerfile=labels.get(DOCKERFILE_LABEL) or None,
        context=labels.get(CONTEXT_LABEL) or None,
        stage=labels.get(TARGET_LABEL) or None,
        build_args=build_args,
        said=said,
    )
