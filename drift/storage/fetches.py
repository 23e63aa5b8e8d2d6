"""The fetch ledger of each build: its requests stored once per distinct set, however many builds share it.

A set is the build's requests sorted (concurrent requests end in any order),
keyed by the digest of those rows: a night that fetched what the night before
did adds no rows, only its build's pointer to the set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from drift.storage.models import BuildRow, FetchRow, FetchSetRow
from drift.storage.rows import IDS, insert_once, read_rows_for
from drift.values import RecordedFetch


def _sort_key(fetch: RecordedFetch) -> tuple[str, str, str, int, str, int, int, str, str]:
    return (
        fetch.url,
        fetch.method,
        fetch.sha256,
        fetch.bytes,
        fetch.instruction,
        -1 if fetch.layer is None else fetch.layer,
        -1 if fetch.status is None else fetch.status,
        fetch.risk,
        fetch.error,
    )


def fetch_set_digest(fetches: Sequence[RecordedFetch]) -> str:
    """ "sha256:<hex>" over the sorted rows: equal for equal ledgers whatever order the requests ended in."""
    material = "\n".join(
        "\0".join(
            (
                f.method,
                f.url,
                f.host,
                "" if f.status is None else str(f.status),
                str(f.bytes),
                f.sha256,
                f.instruction,
                "" if f.layer is None else str(f.layer),
                f.risk,
                f.error,
            )
        )
        for f in sorted(fetches, key=_sort_key)
    )
    return "sha256:" + hashlib.sha256(material.encode("utf-8", "surrogateescape")).hexdigest()


def save_fetches(session: Session, build: BuildRow, ledger: str, fetches: Sequence[RecordedFetch]) -> None:
    """Record whether a build's ledger was on and, when it was, what the build fetched (an empty set too)."""
    build.ledger = ledger
    if ledger != "on":
        build.fetch_set_id = None
        return
    ordered = sorted(fetches, key=_sort_key)
    digest = fetch_set_digest(ordered)
    existing = session.scalar(select(FetchSetRow.id).where(FetchSetRow.digest == digest))
    if existing is not None:
        build.fetch_set_id = existing
        return
    set_id = insert_once(session, FetchSetRow, FetchSetRow.digest, digest=digest, fetch_count=len(ordered))
    if set_id is None:  # another worker stored the same set just now
        build.fetch_set_id = session.scalars(select(FetchSetRow.id).where(FetchSetRow.digest == digest)).one()
        return
    if ordered:
        session.execute(
            insert(FetchRow),
            [
                {
                    "set_id": set_id,
                    "method": f.method,
                    "url": f.url,
                    "host": f.host,
                    "status": f.status,
                    "bytes": f.bytes,
                    "sha256": f.sha256,
                    "instruction": f.instruction,
                    "layer": f.layer,
                    "risk": f.risk or None,
                    "error": f.error,
                }
                for f in ordered
            ],
        )
    build.fetch_set_id = set_id


def load_fetches(session: Session, fetch_set_id: int | None) -> tuple[RecordedFetch, ...]:
    """The requests of a fetch set, sorted by URL; () for none."""
    if fetch_set_id is None:
        return ()
    return load_fetch_sets(session, [fetch_set_id]).get(fetch_set_id, ())


def load_fetch_sets(session: Session, fetch_set_ids: Collection[int]) -> dict[int, tuple[RecordedFetch, ...]]:
    """The requests of many fetch sets at once, by set (a set with no request is left out)."""
    requests: dict[int, list[RecordedFetch]] = {}
    query = (
        select(
            FetchRow.set_id,
            FetchRow.method,
            FetchRow.url,
            FetchRow.host,
            FetchRow.status,
            FetchRow.bytes,
            FetchRow.sha256,
            FetchRow.instruction,
            FetchRow.layer,
            FetchRow.risk,
            FetchRow.error,
        )
        .where(FetchRow.set_id.in_(IDS))
        .order_by(FetchRow.set_id, FetchRow.id)
    )
    for set_id, method, url, host, status, size, sha256, instruction, layer, risk, error in read_rows_for(
        session, query, fetch_set_ids
    ):
        requests.setdefault(set_id, []).append(
            RecordedFetch(
                method=method,
                url=url,
                host=host,
                status=status,
                bytes=size,
                sha256=sha256,
                instruction=instruction,
                layer=layer,
                risk=risk or "",
                error=error,
            )
        )
    return {set_id: tuple(fetched) for set_id, fetched in requests.items()}


def build_ledger(session: Session, build_id: int) -> tuple[str | None, tuple[RecordedFetch, ...]]:
    """Whether a build's ledger was on ("on", "off", "off: <why>", None before drift had one), and what it
    fetched through drift's proxy."""
    build = session.get_one(BuildRow, build_id)
    return build.ledger, load_fetches(session, build.fetch_set_id)


def delete_unused_fetch_sets(session: Session) -> int:
    """Delete the fetch sets no build refers to any more; returns how many went."""
    used = select(BuildRow.fetch_set_id).where(BuildRow.fetch_set_id.is_not(None))
    orphans = session.scalars(select(FetchSetRow.id).where(FetchSetRow.id.not_in(used))).all()
    if orphans:
        session.execute(delete(FetchRow).where(FetchRow.set_id.in_(orphans)))
        session.execute(delete(FetchSetRow).where(FetchSetRow.id.in_(orphans)))
    return len(orphans)
