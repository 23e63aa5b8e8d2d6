"""`drift verify`: rebuild the commit behind a published image once, and judge the published image by it.

No tracking: the check runs in a database of its own that lives as long as the
command (the caller's temporary directory), with the published image as the
baseline, exactly as a target tracked with `--published` is judged each night.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from drift.build.interface import Engine, PulledImage
from drift.check import BuildContext, CheckOutcome, Progress, check_target
from drift.errors import UsageError
from drift.published import built_with, fetch_published, labelled_source
from drift.source.git import RepositoryCache
from drift.storage import builds, targets
from drift.storage.database import Database
from drift.targets import check_reference, source_fingerprint
from drift.tracking import prepare_target
from drift.values import Verdict

TARGET_NAME = "verify"


@dataclass(frozen=True, slots=True)
class VerifyRequest:
    """What the person asked to verify; what is None is read from the image's labels."""

    reference: str
    repo: str | None = None
    commit: str | None = None
    dockerfile: str | None = None
    context: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    stage: str | None = None
    platform: str | None = None
    network: str | None = None
    pull: str = "always"
    builder: str = "auto"
    timeout_s: int = 3600
    ledger: bool = True


@dataclass(frozen=True, slots=True)
class Verification:
    """The published image, what its labels said, and the verdict of its rebuild (build `outcome.build_id`)."""

    published: PulledImage
    from_labels: tuple[str, ...]
    outcome: CheckOutcome
    repo: str
    commit: str
    # The builder taken from the published image's history when asked for `auto`, else None.
    builder_shown: str | None = None


def verify(
    db_path: Path, engine: Engine, cache: RepositoryCache, request: VerifyRequest, progress: Progress
) -> tuple[Database, Verification]:
    """Pull and read the published image, rebuild its source and judge the image against it.

    Returns the database the check was recorded in (at `db_path`, for the
    caller to render the build from) and the verification. Raises a DriftError
    (exit 2) when the image cannot be pulled or its source cannot be found.
    """
    reference = check_reference(request.reference)
    progress.step(TARGET_NAME, f"pulling {reference}")
    published = fetch_published(engine, reference, request.platform)
    labelled = labelled_source(published.pulled.labels)
    shown = built_with(published.image) if request.builder == "auto" else None
    builder = shown or request.builder
    repo, commit = request.repo or labelled.repo, request.commit or labelled.commit
    if repo is None or commit is None:
        missing = " and ".join(label for label, value in (("--repo", repo), ("--commit", commit)) if value is None)
        raise UsageError(
            f"{reference} does not say where it was built from (no org.opencontainers.image.source and "
            f"org.opencontainers.image.revision labels); pass {missing}"
        )
    used = tuple(
        said
        for said in labelled.said
        if not (said.startswith("org.opencontainers.image.source=") and request.repo)
        and not (said.startswith("org.opencontainers.image.revision=") and request.commit)
    )
    spec = prepare_target(
        cache,
        name=TARGET_NAME,
        repo=repo,
        commit=commit,
        dockerfile=request.dockerfile or labelled.dockerfile,
        context=request.context or labelled.context or ".",
        build_args={**labelled.build_args, **request.build_args},
        stage=request.stage or labelled.stage,
        platform=request.platform,
        network=request.network,
        pull=request.pull,
        timeout_s=request.timeout_s,
        builder=builder,
        ledger=request.ledger,
        published=reference,
    )
    db = Database(f"sqlite:///{db_path}")
    with db.session() as session:
        targets.save_target(session, spec)
        builds.record_published(
            session, spec.name, source_fingerprint(spec), spec.commit, published.pulled.pinned, published.image
        )
    # keep_images=0: the rebuilt image is read, then removed; nothing of the check stays in the engine.
    outcome = check_target(db, cache, engine, spec, progress, context=BuildContext(keep_images=0))
    return db, Verification(published.pulled, used, outcome, spec.repo, spec.commit, shown)


def verify_exit_code(verdict: Verdict) -> int:
    """0: the rebuild matches (reproducible, or noisy); 1: it drifted; 2: it could not be checked."""
    if verdict in (Verdict.REPRODUCIBLE, Verdict.NOISY):
        return 0
    if verdict is Verdict.DRIFTED:
        return 1
    return 2
