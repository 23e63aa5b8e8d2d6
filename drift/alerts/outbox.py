"""The alert outbox: events are queued in the same database as the builds, then delivered.

A delivery that fails (receiver down) stays pending and is tried again by the
next run, and an alert is marked sent right after its receiver took it, in its
own unit of work, so it is never sent twice. `drift schedule`, which runs
often, waits between tries (30 s, doubling, at most an hour); a `drift run`
tries every pending alert: nightly runs are far enough apart.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from drift.alerts.deliver import send
from drift.alerts.events import alert_event
from drift.alerts.message import alert_message
from drift.process_owner import owner_alive, process_owner
from drift.storage import alerts, history
from drift.storage.database import Database

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)
# apprise gives up on a receiver long before this: a claim this old belongs to a dead sender.
CLAIM_TIMEOUT = timedelta(minutes=10)


def global_routes() -> list[str]:
    """Routes every alert goes to: DRIFT_ALERT_URLS (apprise URLs separated by spaces, commas or newlines)."""
    return [route for route in re.split(r"[\s,]+", os.environ.get("DRIFT_ALERT_URLS", "")) if route]


def report_hint() -> str:
    url = os.environ.get("DRIFT_REPORT_URL", "")
    return f"Full report: {url}" if url else ""


def queue_alerts(db: Database, build_ids: Sequence[int]) -> int:
    """Queue the alerts the given (finished) builds call for; returns how many were queued."""
    queued = 0
    for build_id in build_ids:
        with db.session() as session:
            build = history.get_build(session, build_id)
            if build.verdict is None:
                continue
            event = alert_event(alerts.previous_verdict(session, build_id), build.verdict)
            if event is None:
                continue
            routes = list(dict.fromkeys(global_routes() + alerts.alert_routes(session, build.target)))
            if not routes:
                continue
            pins = _pin_lines(db, build_id) if event == "drifted" else []
            title, body = alert_message(event, build, pins, report_hint())
            for route in routes:
                queued += alerts.enqueue_alert(session, build_id, event, route, title, body)
    return queued


def _pin_lines(db: Database, build_id: int) -> list[str]:
    from drift.baseline_pins import suggested_pins  # drift.baseline_pins needs the whole Dockerfile stage

    try:
        pins = suggested_pins(db, build_id)
    except Exception:  # pins are a courtesy in an alert; their absence must not lose it
        log.warning("no pins for the alert of build %s", build_id, exc_info=True)
        return []
    return [f"line {p.line}: {p.description}" for p in pins.pins][:5]


@dataclass(frozen=True, slots=True)
class Delivery:
    sent: int
    failed: tuple[str, ...]


def reclaim_abandoned(db: Database, me: str, now: datetime) -> int:
    """Put back in the outbox the alerts a process claimed and then died while sending; returns how many.

    The sender is dead when it ran on this host and its PID is gone, or when its
    claim is older than any send can take. The receiver may have got the message
    before the crash: a second copy is better than a lost alert.
    """
    with db.session() as session:
        claims = alerts.alert_claims(session)
    reclaimed = 0
    for alert_id, owner, claimed_at in claims:
        alive = owner_alive(owner, me)
        if alive is True or (alive is None and claimed_at is not None and claimed_at > now - CLAIM_TIMEOUT):
            continue
        with db.session() as session:
            reclaimed += alerts.release_alert_claim(session, alert_id, owner)
    return reclaimed


def deliver_pending(db: Database, *, respect_backoff: bool = False, owner: str | None = None) -> Delivery:
    """Try every pending alert once (only those whose backoff has passed, with `respect_backoff`)."""
    now = datetime.now(UTC)
    owner = owner or process_owner()
    reclaim_abandoned(db, owner, now)
    with db.session() as session:
        pending = alerts.list_alerts(session, pending_only=True, due_at=now if respect_backoff else None)
    sent = 0
    failed: list[str] = []
    for alert in pending:
        with db.session() as session:
            if not alerts.claim_alert(session, alert.id, owner):
                continue  # another process is sending it
        error = send(alert.route, alert.title, alert.body)
        with db.session() as session:
            if error is None:
                alerts.alert_sent(session, alert.id)
                sent += 1
            else:
                backoff = min(timedelta(seconds=30) * 2**alert.attempts, MAX_BACKOFF)
                alerts.alert_failed(session, alert.id, error, backoff)
                failed.append(f"{alert.target} {alert.event} alert not delivered: {error}; it is retried next run")
    return Delivery(sent, tuple(failed))
