"""Learned noise: paths that differed between two back-to-back builds of the same source, ignored from then on."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from drift.storage.models import BuildRow, LearnedNoiseRow
from drift.storage.rows import target_row


def learn_noise(session: Session, build_a: int, build_b: int, paths: Iterable[str]) -> list[str]:
    """Remember paths that differed between two back-to-back builds; returns the newly learned ones."""
    first = session.get_one(BuildRow, build_a)
    known = {
        path
        for (path,) in session.execute(
            select(LearnedNoiseRow.path).where(
                LearnedNoiseRow.target_id == first.target_id, LearnedNoiseRow.fingerprint == first.fingerprint
            )
        )
    }
    new = sorted(set(paths) - known)
    for path in new:
        session.add(
            LearnedNoiseRow(
                target_id=first.target_id,
                fingerprint=first.fingerprint,
                path=path,
                first_build_id=build_a,
                second_build_id=build_b,
            )
        )
    session.flush()
    return new


def learned_noise(session: Session, target: str, fingerprint: str) -> list[tuple[str, int, int]]:
    """(path, first build, second build) of every path learned as noise for this source."""
    target_id = target_row(session, target).id
    rows = session.execute(
        select(LearnedNoiseRow.path, LearnedNoiseRow.first_build_id, LearnedNoiseRow.second_build_id)
        .where(LearnedNoiseRow.target_id == target_id, LearnedNoiseRow.fingerprint == fingerprint)
        .order_by(LearnedNoiseRow.path)
    )
    return [(path, a, b) for path, a, b in rows]
