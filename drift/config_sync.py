"""Syncing a drift.toml into the database: new targets added, changed ones updated, gone ones disabled.

Everything is validated and resolved first (refs to commits, Dockerfiles
present); only then is the database written, in one unit of work, so an
invalid file leaves it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from drift.check import prepare_target
from drift.config import load_config
from drift.errors import DriftError, UsageError
from drift.source import RepositoryCache
from drift.storage import store
from drift.storage.database import Database
from drift.values import TargetSpec


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What a sync changed, by target name."""

    path: Path
    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    moved: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()


def sync_config(db: Database, cache: RepositoryCache, path: Path) -> SyncResult:
    config = load_config(path)
    specs: list[TargetSpec] = []
    for declared in config.targets:
        try:
            specs.append(
                prepare_target(
                    cache,
                    name=declared.name,
                    repo=declared.repo_resolved,
                    commit=declared.commit,
                    dockerfile=declared.dockerfile,
                    context=declared.context,
                    build_args=dict(declared.build_args),
                    stage=declared.stage,
                    platform=declared.platform,
                    network=declared.network,
                    pull=declared.pull,
                    schedule=declared.schedule,
                    ignore=declared.ignore,
                    timeout_s=declared.timeout_s,
                    alerts=declared.alerts,
                )
            )
        except DriftError as exc:
            raise UsageError(f"{path}:{declared.line}: target {declared.name!r}: {exc}") from None
    key = str(path.resolve())
    added, updated, moved = [], [], []
    with db.session() as session:
        before = {spec.name: spec for spec in store.list_targets(session)}
        for spec in specs:
            created, pin_moved = store.save_target(session, spec, config_path=key)
            if created:
                added.append(spec.name)
            elif pin_moved:
                moved.append(spec.name)
            elif before.get(spec.name) != spec:
                updated.append(spec.name)
        disabled = store.disable_targets_not_in(session, key, [spec.name for spec in specs])
    return SyncResult(path, tuple(added), tuple(updated), tuple(moved), tuple(disabled))
