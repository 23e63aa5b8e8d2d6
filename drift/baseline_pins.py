"""Suggested pins for a recorded build: the values of its last good build written into its Dockerfile."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from drift.dockerfile import KnownValues, Pin, parse_dockerfile, pins_diff, suggest_pins
from drift.errors import UsageError
from drift.storage import fetches, history, images, targets
from drift.storage.database import Database
from drift.values import BuildOutput, BuildSummary, RecordedFetch


@dataclass(frozen=True, slots=True)
class SuggestedPins:
    """Pins for one build, and the unified diff that applies those that are edits."""

    build: int
    dockerfile: str
    pins: tuple[Pin, ...]
    diff: str


def _known_values(
    build: BuildSummary, good: BuildOutput, risks: list[dict[str, object]], good_fetches: Sequence[RecordedFetch] = ()
) -> KnownValues:
    base_digests = {base.reference: base.repo_digest for base in good.base_images if base.repo_digest}
    packages = {(p.ecosystem, p.name): p.version for p in good.image.packages}
    # Best: the body the last good build was served, from its fetch ledger.
    url_digests: dict[str, str] = {
        f.url: f.sha256 for f in good_fetches if f.method == "GET" and f.sha256 and f.status == 200
    }
    # A download's last good digest: the content the baseline had at the path
    # that drifted in the layer the download risk predicted.
    fetched = [
        finding
        for finding in build.findings
        if finding.kind == "file" and finding.cause == "network-fetch" and finding.risk and finding.layer is not None
    ]
    wanted = {(finding.layer, finding.subject) for finding in fetched}
    layers = {layer for layer, _path in wanted}
    # Only the layers a drifted download sits in are read, a manifest at a time.
    good_files: dict[tuple[int | None, str], str] = {
        (layer.index, entry.path): entry.sha256
        for layer in good.image.layers
        if layer.index in layers
        for entry in layer.entries
        if entry.sha256 and (layer.index, entry.path) in wanted
    }
    subjects = {str(r["id"]) + ":" + str(r["line"]): str(r["subject"]) for r in risks}
    for finding in fetched:
        digest = good_files.get((finding.layer, finding.subject))
        for key, subject in subjects.items():
            if key.startswith(finding.risk + ":") and subject.startswith(("http://", "https://")) and digest:
                url_digests.setdefault(subject, digest)
    add_checksum = build.builder is None or build.builder.builder == "buildkit"
    return KnownValues(base_digests=base_digests, url_digests=url_digests, packages=packages, add_checksum=add_checksum)


def suggested_pins(db: Database, build_id: int) -> SuggestedPins:
    """Pins from the baseline of the build's source (the build itself when it is the baseline)."""
    with db.session() as session:
        build = history.get_build(session, build_id)
        text, risks = history.build_dockerfile(session, build_id)
        if text is None:
            raise UsageError(
                f"build {build_id} has no recorded Dockerfile (it did not get that far); pick a succeeded build"
            )
        spec = targets.get_target(session, build.target)
        good_id = build.compared_to or (build.id if build.status == "succeeded" else None)
        if good_id is None:
            raise UsageError(f"build {build_id} has no good build to take pins from; run the target until it succeeds")
        good = images.load_output(session, good_id)
        _ledger, good_fetches = fetches.build_ledger(session, good_id)
    dockerfile = parse_dockerfile(text, spec.build_args)
    pins = tuple(suggest_pins(text, dockerfile, _known_values(build, good, risks, good_fetches)))
    return SuggestedPins(
        build=build_id, dockerfile=spec.dockerfile, pins=pins, diff=pins_diff(text, pins, spec.dockerfile)
    )
