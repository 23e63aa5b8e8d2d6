"""Running checks unattended: which targets are due, leases so no target is built twice at once,
crash recovery, concurrency, and stopping cleanly.

Coordination is the database alone: a lease row per target, taken with one
atomic upsert (SQLite and PostgreSQL), renewed while the build runs and
expiring when its holder dies, so a killed process never blocks a target for
longer than the lease's lifetime.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from drift.alerts.outbox import deliver_pending, queue_alerts
from drift.build.pool import EnginePool
from drift.check import BuildContext, CheckOutcome, Progress, SilentProgress, check_target, record_error
from drift.errors import EngineError
from drift.process_owner import owner_alive, process_owner
from drift.schedule import current_slot, in_shard
from drift.source.git import RepositoryCache
from drift.storage import builds, leases, targets
from drift.storage.database import Database
from drift.values import TargetSpec, Verdict

LEASE_TTL = timedelta(seconds=60)
log = logging.getLogger(__name__)


@dataclass
class RunOptions:
    """How `drift run` / `drift schedule` pick and build targets."""

    due: bool = False
    shard: tuple[int, int] | None = None
    twice: bool = False
    jobs: int = 1
    keep_images: int = 1
    min_free_bytes: int = 0
    owner: str = field(default_factory=process_owner)
    stop: threading.Event = field(default_factory=threading.Event)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # `drift schedule` runs often: it waits out each failed alert's backoff.
    alert_backoff: bool = False


@dataclass(frozen=True, slots=True)
class RunResult:
    """What one run did: the checks it made, what it skipped and why, the crashed builds it cleaned up."""

    outcomes: tuple[CheckOutcome, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    recovered: tuple[int, ...] = ()
    alerts_sent: int = 0
    alert_failures: tuple[str, ...] = ()
    engines_down: tuple[str, ...] = ()


def recover(db: Database, pool: EnginePool | None, now: datetime, me: str = "") -> list[int]:
    """Mark builds left running by a process that died as interrupted, and remove what they left in the engine.

    `me`: this process's owner token; its own running builds are never taken for dead ones.
    """
    with db.session() as session:
        running = leases.running_builds(session)
    recovered = []
    for build_id, _target, owner, heartbeat, objects, host in running:
        alive = owner_alive(owner, me)
        stale_heartbeat = heartbeat is None or heartbeat < now - 3 * LEASE_TTL
        if alive is True or (alive is None and not stale_heartbeat):
            continue
        if pool is not None and host in pool.hosts and host not in pool.down:
            with contextlib.suppress(EngineError):
                pool.engine(host).remove_objects(objects)
        with db.session() as session:
            leases.mark_interrupted(
                session,
                build_id,
                f"interrupted: the drift process building it ({owner or 'unknown'}) stopped; the slot is retried",
            )
        recovered.append(build_id)
    return recovered


class _Heartbeat:
    """Renews a target's lease (and its build's heartbeat) while the build runs.

    A lease that cannot be renewed before it expires, or that another worker
    has taken, stops the build (`stop` is set and `lost` says why): building on
    without the lease would let a second worker build the same target.
    """

    def __init__(self, db: Database, target: str, owner: str, run_stop: threading.Event) -> None:
        self.db, self.target, self.owner = db, target, owner
        self.build_id: int | None = None
        self.stop_build = threading.Event()
        self.lost: str | None = None
        self._run_stop = run_stop
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"drift-lease-{target}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        interval = LEASE_TTL.total_seconds() / 3
        renewed_at = time.monotonic()
        while not self._done.wait(min(interval, 1.0)):
            if self._run_stop.is_set():
                self.stop_build.set()
            if time.monotonic() - renewed_at < interval:
                continue
            try:
                with self.db.session() as session:
                    held = leases.renew_lease(session, self.target, self.owner, LEASE_TTL, self.build_id)
            except Exception as exc:  # the database is away: keep trying until the lease would lapse
                log.warning("cannot renew the lease of %s: %s", self.target, exc)
                if time.monotonic() - renewed_at > LEASE_TTL.total_seconds() * 2 / 3:
                    self._lose(f"its lease could not be renewed ({exc.__class__.__name__}: {exc})")
                continue
            if not held:
                self._lose("another worker took over its lease")
                continue
            renewed_at = time.monotonic()

    def _lose(self, reason: str) -> None:
        if self.lost is None:
            self.lost = reason
            log.error("stopping the build of %s: %s", self.target, reason)
        self.stop_build.set()

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)


def _select(db: Database, names: Sequence[str], options: RunOptions) -> list[tuple[TargetSpec, datetime | None]]:
    with db.session() as session:
        specs = targets.list_targets(session, names)
    if options.shard is not None:
        specs = [spec for spec in specs if in_shard(spec.name, options.shard)]
    now = options.now()
    selected: list[tuple[TargetSpec, datetime | None]] = []
    for spec in specs:
        slot = current_slot(spec.schedule, now) if options.due else None
        if options.due and slot is None:
            continue  # a schedule that never fires (an older drift accepted such) is never due
        if slot is not None:
            with db.session() as session:
                if leases.built_for_slot(session, spec.name, slot):
                    continue
        selected.append((spec, slot))
    return selected


def run(
    db: Database,
    cache: RepositoryCache,
    pool: EnginePool,
    names: Sequence[str] = (),
    progress: Progress | None = None,
    options: RunOptions | None = None,
) -> RunResult:
    """Check the named targets (all enabled ones when none are named; only the due ones with `due`).

    With `twice`, each target is built a second time right after the first;
    paths that differ between the two are nondeterministic, learned as noise
    for that source, and the second build is judged with them (the first
    build's outcome is then marked superseded).
    """
    options = options or RunOptions()
    progress = progress or SilentProgress()
    selected = _select(db, names, options)
    try:
        pool.check()
    except EngineError as exc:
        return RunResult(tuple(record_error(db, spec, str(exc), slot) for spec, slot in selected))
    recovered = recover(db, pool, options.now(), options.owner)
    cache.remove_stale_exports()
    if recovered:
        selected = _select(db, names, options)  # a recovered slot is due again
    outcomes: list[CheckOutcome] = []
    skipped: list[tuple[str, str]] = []
    lock = threading.Lock()

    def running_on(host: str | None) -> int:
        with db.session() as session:
            return leases.running_builds_on(session, host, exclude_owner=options.owner)

    def build_somewhere(spec: TargetSpec, context: BuildContext, learn_from: int | None = None) -> CheckOutcome:
        """Build on the least busy engine; when that engine stops answering, mark it down and try another."""
        outcome: CheckOutcome | None = None
        for _attempt in range(len(pool.hosts)):
            host = pool.acquire(running_on)
            if host is None and pool.down:
                break
            try:
                try:
                    engine = pool.engine(host)
                except EngineError as exc:
                    pool.mark_down(host, str(exc))
                    continue
                outcome = check_target(
                    db, cache, engine, spec, progress, learn_from=learn_from, context=replace(context, engine_host=host)
                )
            finally:
                pool.release(host)
            if outcome.verdict is not Verdict.ERROR or outcome.interrupted or pool.answers(host):
                return outcome
            pool.mark_down(host, outcome.error or "stopped answering")
        if outcome is None:
            reason = "; ".join(pool.down.values()) or "no engine"
            return record_error(db, spec, f"no Docker Engine of the pool answers: {reason}", context.slot)
        return outcome

    def one(spec: TargetSpec, slot: datetime | None) -> None:
        if options.stop.is_set():
            return
        with db.session() as session:
            claimed = leases.claim_lease(session, spec.name, options.owner, LEASE_TTL)
            holder = None if claimed else leases.lease_holder(session, spec.name)
        if not claimed:
            with lock:
                skipped.append((spec.name, f"being built by {holder}"))
            return
        heartbeat = _Heartbeat(db, spec.name, options.owner, options.stop)
        try:
            if slot is not None:
                with db.session() as session:
                    if leases.built_for_slot(session, spec.name, slot):
                        with lock:
                            skipped.append((spec.name, "already built for this slot"))
                        return
            context = BuildContext(
                owner=options.owner,
                stop=heartbeat.stop_build,
                slot=slot,
                keep_images=options.keep_images,
                min_free_bytes=options.min_free_bytes,
                on_build_started=lambda build_id: setattr(heartbeat, "build_id", build_id),
            )
            first = _lease_kept(db, heartbeat, build_somewhere(spec, context))
            results = [first]
            if options.twice and first.verdict not in (Verdict.ERROR, Verdict.BROKEN, Verdict.FAILED):
                second = _lease_kept(db, heartbeat, build_somewhere(spec, context, learn_from=first.build_id))
                results = [replace(first, superseded=True), second]
            with lock:
                outcomes.extend(results)
            progress.done(spec.name)
        finally:
            heartbeat.stop()
            try:
                with db.session() as session:
                    leases.release_lease(session, spec.name, options.owner)
            except Exception as exc:  # it expires by itself within LEASE_TTL
                log.warning("cannot release the lease of %s: %s", spec.name, exc)

    def guarded(spec: TargetSpec, slot: datetime | None) -> None:
        """One target's trouble (its lease, its database rows) never stops the night for the others."""
        try:
            one(spec, slot)
        except Exception as exc:
            log.exception("checking %s failed outside its build", spec.name)
            message = f"internal error while checking {spec.name}: {exc.__class__.__name__}: {exc} (a bug in drift)"
            try:
                outcome = record_error(db, spec, message, slot)
            except Exception:  # the database itself is away: say so in the run's result all the same
                outcome = CheckOutcome(spec.name, 0, Verdict.ERROR, (), message)
            with lock:
                outcomes.append(outcome)

    if options.jobs <= 1:
        for spec, slot in selected:
            guarded(spec, slot)
    else:
        # The pool keeps one docker-py client per thread and engine: they are not shared between threads.
        with ThreadPoolExecutor(max_workers=options.jobs, thread_name_prefix="drift-build") as workers:
            for future in [workers.submit(guarded, spec, slot) for spec, slot in selected]:
                future.result()
    order = {spec.name: index for index, (spec, _slot) in enumerate(selected)}
    outcomes.sort(key=lambda o: (order.get(o.target, 0), o.build_id))
    queue_alerts(db, [o.build_id for o in outcomes if o.build_id and not o.superseded and not o.interrupted])
    delivery = deliver_pending(db, respect_backoff=options.alert_backoff, owner=options.owner)
    down = tuple(f"{pool.name(host)}: {reason}" for host, reason in pool.down.items())
    return RunResult(tuple(outcomes), tuple(skipped), tuple(recovered), delivery.sent, delivery.failed, down)


def _lease_kept(db: Database, heartbeat: _Heartbeat, outcome: CheckOutcome) -> CheckOutcome:
    """An outcome stopped because the lease was lost says so: an error of the check, not a stop asked for."""
    if heartbeat.lost is None or not outcome.interrupted:
        return outcome
    reason = f"interrupted: the build was stopped because {heartbeat.lost}; the slot is retried"
    with db.session() as session:
        builds.set_build_error(session, outcome.build_id, reason)
    return replace(outcome, error=reason, interrupted=False)
