"""The tracked targets: adding and updating them, listing them, and disabling or removing them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from drift.storage.models import TargetRow, utcnow
from drift.storage.rows import target_row, target_spec, write_target_spec
from drift.values import TargetSpec


def get_target(session: Session, name: str) -> TargetSpec:
    return target_spec(target_row(session, name))


def list_targets(session: Session, names: Sequence[str] = ()) -> list[TargetSpec]:
    """The enabled targets, by name; the named ones only (in that order) when names are given."""
    if names:
        return [get_target(session, name) for name in names]
    rows = session.scalars(select(TargetRow).where(TargetRow.enabled).order_by(TargetRow.name))
    return [target_spec(row) for row in rows]


def save_target(session: Session, spec: TargetSpec, *, config_path: str | None = None) -> tuple[bool, bool]:
    """Insert or update a target; returns (created, pin_moved).

    `config_path`: the drift.toml declaring it, or None for a target tracked by hand.
    """
    row = session.scalar(select(TargetRow).where(TargetRow.name == spec.name))
    created = row is None or not row.enabled
    pin_moved = row is not None and row.commit != spec.commit
    if row is None:
        row = TargetRow(name=spec.name)
        session.add(row)
    write_target_spec(row, spec)
    row.config_path = config_path
    row.enabled = True
    row.updated_at = utcnow()
    session.flush()
    return created, pin_moved


def disable_targets_not_in(session: Session, config_path: str, names: Iterable[str]) -> list[str]:
    """Disable the targets a drift.toml declared before but no longer does (their history stays)."""
    keep = set(names)
    rows = session.scalars(
        select(TargetRow).where(TargetRow.config_path == config_path, TargetRow.enabled, TargetRow.name.not_in(keep))
    ).all()
    for row in rows:
        row.enabled = False
        row.updated_at = utcnow()
    return [row.name for row in rows]


def remove_target(session: Session, name: str) -> None:
    """Stop tracking a target; its history goes with it."""
    session.delete(target_row(session, name))
