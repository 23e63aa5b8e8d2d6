"""Syncing a drift.toml into the database: new targets added, changed ones updated, gone ones disabled.

Everything is validated and resolved first (refs to commits, Dockerfiles
present); only then is the database written, in one unit of work, so an
invalid file leaves it unchanged. A repository that cannot be reached tonight
is not an invalid file: its target keeps what the database knows of it (or,
when new, is saved with its ref unresolved), and the run records an `error`
for it while the other targets are checked.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from drift.config import DeclaredTarget, load_config
from drift.errors import DriftError, SourceError, UsageError
from drift.source.git import RepositoryCache
from drift.source.location import is_url
from drift.storage import targets
from drift.storage.database import Database
from drift.targets import check_relative_path
from drift.tracking import prepare_target
from drift.values import TargetSpec


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What a sync changed, by target name."""

    path: Path
    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    moved: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()
    unreachable: tuple[tuple[str, str], ...] = ()


def sync_config(db: Database, cache: RepositoryCache, path: Path) -> SyncResult:
    config = load_config(path)
    specs: list[TargetSpec] = []
    unreachable: list[tuple[TargetSpec, str]] = []
    for declared in config.targets:
        if not is_url(declared.repo_resolved) and not Path(declared.repo_resolved).expanduser().exists():
            message = f"repository path {declared.repo_resolved} does not exist"
            unreachable.append((_unresolved(declared), message))
            continue
        try:
            specs.append(prepare_target(cache, **_spec_fields(declared)))
        except SourceError as exc:
            unreachable.append((_unresolved(declared), str(exc)))
        except DriftError as exc:
            raise UsageError(f"{path}:{declared.line}: target {declared.name!r}: {exc}") from None
    key = str(path.resolve())
    added, updated, moved = [], [], []
    with db.session() as session:
        before = {spec.name: spec for spec in targets.list_targets(session)}
        for spec, _message in unreachable:
            if spec.name not in before:  # new: saved with its ref unresolved, so the run can record its error
                targets.save_target(session, spec, config_path=key)
                added.append(spec.name)
        for spec in specs:
            created, pin_moved = targets.save_target(session, spec, config_path=key)
            if created:
                added.append(spec.name)
            elif pin_moved:
                moved.append(spec.name)
            elif before.get(spec.name) != spec:
                updated.append(spec.name)
        declared_names = [spec.name for spec in specs] + [spec.name for spec, _message in unreachable]
        disabled = targets.disable_targets_not_in(session, key, declared_names)
    return SyncResult(
        path,
        tuple(added),
        tuple(updated),
        tuple(moved),
        tuple(disabled),
        tuple((spec.name, message) for spec, message in unreachable),
    )


def _spec_fields(declared: DeclaredTarget) -> dict[str, Any]:
    """The declared target as TargetSpec's fields: its repository resolved against the file, its ref as written."""
    written = {field.name: getattr(declared, field.name) for field in fields(TargetSpec)}
    return {**written, "repo": declared.repo_resolved, "build_args": dict(declared.build_args)}


def _unresolved(declared: DeclaredTarget) -> TargetSpec:
    """A declared target as written, its ref not resolved to a commit (its repository cannot be reached)."""
    spec = _spec_fields(declared)
    return TargetSpec(
        **{
            **spec,
            "dockerfile": check_relative_path(declared.dockerfile or f"{declared.context}/Dockerfile", "dockerfile"),
            "context": check_relative_path(declared.context, "context"),
            "stage": declared.stage or None,
            "platform": declared.platform or None,
            "network": declared.network or None,
            "ignore": tuple(declared.ignore),
            "alerts": tuple(declared.alerts),
        }
    )
