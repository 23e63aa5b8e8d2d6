"""Tracking targets: validating what a user asks to track, resolving its ref to a commit, saving it;
and accepting a build as its source's baseline.

The command line and drift.toml sync call these; the nightly check itself is
drift.check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from drift.alerts.deliver import valid_route
from drift.build.interface import Engine
from drift.config import MAX_TIMEOUT_S
from drift.dockerfile.features import session_mounts
from drift.dockerfile.model import parse_dockerfile
from drift.errors import UsageError
from drift.schedule import check_schedule
from drift.source.git import RepositoryCache
from drift.source.location import normalize_repo
from drift.storage import baselines, builds, history, targets
from drift.storage.database import Database
from drift.targets import (
    check_builder,
    check_name,
    check_pull,
    check_reference,
    check_relative_path,
    source_fingerprint,
)
from drift.values import BuildSummary, TargetSpec


def prepare_target(
    cache: RepositoryCache,
    *,
    name: str,
    repo: str,
    commit: str,
    dockerfile: str | None = None,
    context: str = ".",
    build_args: dict[str, str] | None = None,
    stage: str | None = None,
    platform: str | None = None,
    network: str | None = None,
    pull: str = "always",
    schedule: str = "@daily",
    ignore: Sequence[str] = (),
    timeout_s: int = 3600,
    alerts: Sequence[str] = (),
    builder: str = "auto",
    ledger: bool = True,
    published: str | None = None,
) -> TargetSpec:
    """Validate a target, resolve its ref to a commit and check its Dockerfile is there. Writes nothing."""
    check_name(name)
    check_pull(pull)
    check_builder(builder)
    check_schedule(schedule)
    if published is not None:
        published = check_reference(published)
    if not 0 < timeout_s <= MAX_TIMEOUT_S:
        raise UsageError(f"timeout {timeout_s} s must be positive and at most {MAX_TIMEOUT_S} s (7 days)")
    for route in alerts:
        if not valid_route(route):
            raise UsageError(f"alert route {route!r} is not an apprise URL; e.g. json://host/path or mailto://...")
    context = check_relative_path(context, "context")
    dockerfile = check_relative_path(dockerfile or f"{context}/Dockerfile", "dockerfile")
    repo = normalize_repo(repo)
    sha = cache.resolve(repo, commit)
    with cache.checkout(repo, sha, target=name) as tree:
        if not (tree / context).is_dir():
            raise UsageError(f"context {context!r} is not a directory in {repo} at {sha[:12]}; check --context")
        if not (tree / dockerfile).is_file():
            raise UsageError(f"no Dockerfile at {dockerfile!r} in {repo} at {sha[:12]}; check --dockerfile")
        _refuse_session_mounts(tree / dockerfile, dict(build_args or {}))
    return TargetSpec(
        name=name,
        repo=repo,
        commit=sha,
        dockerfile=dockerfile,
        context=context,
        build_args=dict(build_args or {}),
        stage=stage or None,
        platform=platform or None,
        network=network or None,
        pull=pull,
        schedule=schedule,
        ignore=tuple(ignore),
        timeout_s=timeout_s,
        alerts=tuple(alerts),
        builder=builder,
        ledger=ledger,
        published=published,
    )


def track(
    db: Database, cache: RepositoryCache, engine: Engine | None = None, **fields: Any
) -> tuple[TargetSpec, bool, bool]:
    """Validate and save a target (see prepare_target). Returns the spec, whether it is new, whether its pin moved.

    A target with a published image has it pulled and read first, and recorded as
    its baseline with the target, in one transaction: a registry that does not
    answer or a tag it does not have leaves nothing written.
    """
    spec = prepare_target(cache, **fields)
    published = None
    if spec.published is not None:
        from drift.published import built_with, fetch_published

        if engine is None:
            raise UsageError("a target with a published image needs a Docker Engine to pull it; start dockerd")
        published = fetch_published(engine, spec.published, spec.platform)
        if spec.builder == "auto" and (builder := built_with(published.image)) is not None:
            spec = replace(spec, builder=builder)  # the publisher's builder, as its history shows
    with db.session() as session:
        created, pin_moved = targets.save_target(session, spec)
        fingerprint = source_fingerprint(spec)
        if published is not None and baselines.baseline_published(session, spec.name, fingerprint) != (
            pinned := published.pulled.pinned
        ):
            builds.record_published(session, spec.name, fingerprint, spec.commit, pinned, published.image)
    return spec, created, pin_moved


def accept(db: Database, name: str, build_id: int | None = None) -> BuildSummary:
    """Make a succeeded build (the latest of the current pin, or the given one) its fingerprint's baseline."""
    with db.session() as session:
        spec = targets.get_target(session, name)
        if spec.published is not None:
            raise UsageError(
                f"{name} is judged against its published image {spec.published}, which is the truth to match; "
                "accept is for targets whose baseline is a build (track it without --published to use one)"
            )
        if build_id is None:
            build_id = history.latest_succeeded_build_id(session, name)
            if build_id is None:
                raise UsageError(f"{name} has no succeeded build of its current commit to accept; run it first")
        build = history.get_build(session, build_id)
        if build.target != name:
            raise UsageError(f"build {build_id} belongs to {build.target}, not {name}")
        if build.status != "succeeded":
            raise UsageError(f"build {build_id} did not succeed ({build.status}); only a built image can be a baseline")
        baselines.set_baseline(session, build_id, accepted=True)
        return history.get_build(session, build_id)


def _refuse_session_mounts(dockerfile: Path, build_args: dict[str, str]) -> None:
    """Secret and ssh mounts need a client session, which a build through the Engine API does not have."""
    if dockerfile.is_symlink():
        return  # the build says it fails; nothing of a file outside the export is read here
    needs = session_mounts(parse_dockerfile(dockerfile.read_text(errors="replace"), build_args))
    if needs:
        raise UsageError(
            f"{'; '.join(needs)}: secret and ssh mounts need a client session, which drift's builds through "
            "the Engine API do not have; secrets are not supported yet"
        )
