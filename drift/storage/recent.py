"""Each target's recent history in brief (recent_builds): its latest finished builds, newest first, with their
verdict, start and commit. `drift report` reads every target's timeline from it in one query instead of
reading the builds table target by target; every change to a target's finished builds rewrites it here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from drift.storage.models import BuildRow, RecentBuildsRow
from drift.storage.rows import dialect_insert
from drift.values import HistoryEntry, Verdict

# The timeline of `drift report` shows up to 60 nights (drift.report.html.MAX_NIGHTS).
RECENT_BUILDS = 60


def _entry(build_id: int, verdict: str, started_at: datetime, commit: str) -> list[Any]:
    return [build_id, verdict, started_at.isoformat(), commit]


_VERDICTS = {verdict.value: verdict for verdict in Verdict}


def entries(stored: Sequence[Sequence[Any]]) -> list[HistoryEntry]:
    """The stored brief of a target's builds as values, newest first."""
    # Positional and by dictionary: a report makes sixty thousand of them.
    return [
        HistoryEntry(build_id, _VERDICTS[verdict], datetime.fromisoformat(started), commit)
        for build_id, verdict, started, commit in stored
    ]


def _locked(session: Session, target_id: int) -> RecentBuildsRow:
    """The target's row, made when missing, locked until the caller's transaction ends (PostgreSQL; a SQLite
    writer holds the whole file already): two writers never interleave their read and rewrite."""
    query = (
        select(RecentBuildsRow)
        .where(RecentBuildsRow.target_id == target_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    row = session.scalar(query)
    if row is None:  # the target's first finished build; another worker may be making the row right now
        missing = dialect_insert(session, RecentBuildsRow).values(target_id=target_id, builds=[])
        session.execute(missing.on_conflict_do_nothing(index_elements=["target_id"]))
        row = session.scalar(query)
    assert row is not None
    return row


def add_finished(session: Session, build: BuildRow) -> None:
    """Put a build that just got its verdict into its target's recent builds."""
    assert build.verdict is not None
    session.flush()
    row = _locked(session, build.target_id)
    others = [entry for entry in row.builds if entry[0] != build.id]
    entry = _entry(build.id, build.verdict, build.started_at, build.commit)
    row.builds = sorted([entry, *others], key=lambda e: int(e[0]), reverse=True)[:RECENT_BUILDS]


def rewrite(session: Session, target_ids: Iterable[int]) -> None:
    """Read the targets' recent builds from their builds again (after builds were deleted)."""
    session.flush()
    for target_id in sorted(set(target_ids)):
        row = _locked(session, target_id)
        latest = session.execute(
            select(BuildRow.id, BuildRow.verdict, BuildRow.started_at, BuildRow.commit)
            .where(BuildRow.target_id == target_id, BuildRow.verdict.is_not(None))
            .order_by(BuildRow.id.desc())
            .limit(RECENT_BUILDS)
        )
        row.builds = [_entry(build_id, str(verdict), started, commit) for build_id, verdict, started, commit in latest]
