"""This installation's identity: the random id of its database, which labels the images drift makes."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from drift.storage.models import InstallationRow


def installation_id(session: Session) -> str:
    """The random id of this database, made by its migration: it labels the images drift makes."""
    found = session.scalar(select(InstallationRow.id).order_by(InstallationRow.created_at).limit(1))
    if found is None:  # the row was deleted by hand: make a new identity
        found = uuid.uuid4().hex
        session.add(InstallationRow(id=found))
        session.flush()
    return found
