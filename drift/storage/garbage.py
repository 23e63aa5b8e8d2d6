"""Garbage collection: deleting old builds that carry no verdict change, then the contents nothing uses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from drift.storage import fetches, recent
from drift.storage.database import Database
from drift.storage.models import (
    BaseImageRow,
    BaselineRow,
    BuildLayerRow,
    BuildRow,
    FindingRow,
    LayerContentRow,
    LayerFileRow,
    PackageRow,
    PackageSetRow,
)


@dataclass(frozen=True, slots=True)
class GarbageCollected:
    """How many builds, layer contents, package sets and fetch sets one collection deleted."""

    builds: int
    layer_contents: int
    package_sets: int
    fetch_sets: int = 0


@dataclass(frozen=True, slots=True)
class SpaceReclaimed:
    """A SQLite database's size on disk (its file and its write-ahead log) before and after VACUUM."""

    before: int
    after: int


def _verdict_changes(session: Session) -> set[int]:
    """Builds that carry a verdict change: every baseline, and each build whose verdict differs from the
    previous finished build of its target and source (first drifted, first reproducible again...)."""
    keep = set(session.scalars(select(BaselineRow.build_id)))
    rows = session.execute(
        select(BuildRow.id, BuildRow.target_id, BuildRow.fingerprint, BuildRow.verdict)
        .where(BuildRow.verdict.is_not(None))
        .order_by(BuildRow.target_id, BuildRow.fingerprint, BuildRow.id)
    )
    previous: dict[tuple[int, str], str | None] = {}
    for build_id, target_id, fingerprint, verdict in rows:
        key = (target_id, fingerprint)
        if key not in previous or previous[key] != verdict:
            keep.add(build_id)
        previous[key] = verdict
    return keep


def collect_garbage(session: Session, older_than: datetime) -> GarbageCollected:
    """Delete finished builds started before `older_than`, except those that carry a verdict change and the
    latest build of each target; then the layer contents and package sets no build refers to any more."""
    keep = _verdict_changes(session)
    latest = set(session.scalars(select(func.max(BuildRow.id)).group_by(BuildRow.target_id)))
    # A build another build was judged against is evidence for that verdict: keep it too.
    compared = {i for i in session.scalars(select(BuildRow.compared_to_id).where(BuildRow.compared_to_id.is_not(None)))}
    candidates = session.scalars(
        select(BuildRow.id).where(BuildRow.started_at < older_than, BuildRow.status != "running")
    ).all()
    doomed = [i for i in candidates if i not in keep and i not in latest and i not in compared]
    _delete_builds(session, doomed)
    orphan_contents = _delete_unused_layer_contents(session)
    orphan_sets = _delete_unused_package_sets(session)
    orphan_fetch_sets = fetches.delete_unused_fetch_sets(session)
    return GarbageCollected(len(doomed), orphan_contents, orphan_sets, orphan_fetch_sets)


def _delete_builds(session: Session, doomed: Sequence[int]) -> None:
    touched: set[int] = set()
    for chunk_start in range(0, len(doomed), 500):
        chunk = doomed[chunk_start : chunk_start + 500]
        touched.update(session.scalars(select(BuildRow.target_id).where(BuildRow.id.in_(chunk)).distinct()))
        session.execute(delete(FindingRow).where(FindingRow.build_id.in_(chunk)))
        session.execute(delete(BuildLayerRow).where(BuildLayerRow.build_id.in_(chunk)))
        session.execute(delete(BaseImageRow).where(BaseImageRow.build_id.in_(chunk)))
        session.execute(delete(BuildRow).where(BuildRow.id.in_(chunk)))
    recent.rewrite(session, touched)


def _delete_unused_layer_contents(session: Session) -> int:
    """Delete the layer contents no build uses and no kept content is a delta of (deltas first, then the
    bases they alone kept)."""
    deleted = 0
    while True:
        used_contents = select(BuildLayerRow.content_id)
        bases = select(LayerContentRow.base_id).where(LayerContentRow.base_id.is_not(None))
        orphan_contents = session.scalars(
            select(LayerContentRow.id).where(LayerContentRow.id.not_in(used_contents), LayerContentRow.id.not_in(bases))
        ).all()
        if not orphan_contents:
            return deleted
        for start in range(0, len(orphan_contents), 500):
            chunk = orphan_contents[start : start + 500]
            session.execute(delete(LayerFileRow).where(LayerFileRow.content_id.in_(chunk)))
            session.execute(delete(LayerContentRow).where(LayerContentRow.id.in_(chunk)))
        deleted += len(orphan_contents)


def _delete_unused_package_sets(session: Session) -> int:
    used_sets = select(BuildRow.package_set_id).where(BuildRow.package_set_id.is_not(None))
    orphan_sets = session.scalars(select(PackageSetRow.id).where(PackageSetRow.id.not_in(used_sets))).all()
    if orphan_sets:
        session.execute(delete(PackageRow).where(PackageRow.set_id.in_(orphan_sets)))
        session.execute(delete(PackageSetRow).where(PackageSetRow.id.in_(orphan_sets)))
    return len(orphan_sets)


def reclaim_space(db: Database) -> SpaceReclaimed | None:
    """Give the space deleted rows left back to the file system: on SQLite, rewrite the file without its free
    pages (VACUUM) and fold the write-ahead log back into it. None for a database without a file of its own
    (PostgreSQL, whose autovacuum reuses the space in place; SQLite in memory)."""
    if db.engine.url.get_backend_name() != "sqlite":
        return None
    # VACUUM cannot run inside a transaction.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        files = [row[2] for row in connection.execute(text("PRAGMA database_list")) if row[1] == "main"]
        if not files or not files[0]:
            return None
        main = Path(files[0])
        before = _size_on_disk(main)
        connection.execute(text("VACUUM"))
        connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        return SpaceReclaimed(before, _size_on_disk(main))


def _size_on_disk(main: Path) -> int:
    wal = main.with_name(main.name + "-wal")
    return main.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
