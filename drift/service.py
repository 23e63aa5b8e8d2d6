"""`drift schedule`: the long-running scheduler. All its state is in the database, so a restart loses nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from drift.build.pool import EnginePool
from drift.run import RunOptions, run
from drift.schedule import next_slot
from drift.source.git import RepositoryCache
from drift.storage import targets
from drift.storage.database import Database

# Wake at least this often: targets added or changed meanwhile are picked up.
MAX_SLEEP = timedelta(seconds=60)


class _LogProgress:
    def __init__(self, log: Callable[[str], None]) -> None:
        self.log_line = log

    def step(self, target: str, text: str) -> None:
        if text in ("building", "reading image", "comparing"):
            self.log_line(f"{target}: {text}")

    def log(self, target: str, line: str) -> None:
        pass

    def done(self, target: str) -> None:
        pass


def serve(
    db: Database,
    cache: RepositoryCache,
    pool: EnginePool,
    options: RunOptions,
    *,
    log: Callable[[str], None],
) -> None:
    """Build what is due, sleep until the next slot, repeat, until `options.stop` is set. One log line per event."""
    options.due = True
    options.alert_backoff = True
    log(f"drift schedule started as {options.owner}, {options.jobs} build(s) at once")
    while not options.stop.is_set():
        result = run(db, cache, pool, (), _LogProgress(log), options)
        for down in result.engines_down:
            log(f"engine marked down: {down}")
        for build_id in result.recovered:
            log(f"build {build_id} was left running by a stopped process: marked interrupted, slot retried")
        for outcome in result.outcomes:
            verdict = "interrupted" if outcome.interrupted else outcome.verdict.value
            detail = f": {outcome.error}" if outcome.error else ""
            log(f"{outcome.target}: {verdict} (build {outcome.build_id}){detail}")
        for name, reason in result.skipped:
            log(f"{name}: skipped ({reason})")
        if result.alerts_sent:
            log(f"sent {result.alerts_sent} alert(s)")
        for failure in result.alert_failures:
            log(failure)
        if options.stop.is_set():
            break
        now = options.now()
        with db.session() as session:
            specs = targets.list_targets(session)
        slots = [slot for spec in specs if (slot := next_slot(spec.schedule, now)) is not None]
        wake = min(slots, default=now + MAX_SLEEP)
        wait = min(max(wake - now, timedelta(seconds=0.5)), MAX_SLEEP)
        if specs:
            log(f"next slot at {wake.isoformat(timespec='seconds')}")
        options.stop.wait(wait.total_seconds())
