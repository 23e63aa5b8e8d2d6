"""When targets are due: cron schedules (croniter), slots, and stable shards for CI matrices."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

from drift.errors import UsageError

_SHARD = re.compile(r"^(?P<k>[1-9][0-9]*)/(?P<n>[1-9][0-9]*)$")


CRON_ALIASES = ("@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually")


def check_schedule(expression: str) -> str:
    """A schedule that fires: five cron fields (minute hour day month weekday), an alias such as @daily,
    or six fields whose sixth is seconds (for tests of the scheduler). The one check for `track` and drift.toml.

    Returns the expression with its whitespace normalized.
    """
    normalized = " ".join(expression.split())
    aliases = ", ".join(CRON_ALIASES)
    valid = normalized in CRON_ALIASES or (len(normalized.split()) in (5, 6) and croniter.is_valid(normalized))
    if not valid:
        raise UsageError(
            f"schedule {expression!r} is not a cron expression; write five fields "
            f'(minute hour day month weekday), e.g. "0 3 * * *", or {aliases}'
        )
    now = datetime.now(UTC)
    try:
        croniter(normalized, now).get_next(datetime)
        croniter(normalized, now + timedelta(seconds=1)).get_prev(datetime)
    except CroniterBadDateError:
        raise UsageError(
            f"schedule {expression!r} never fires (no date matches it, e.g. February 30th); "
            'give a day that exists, e.g. "0 3 28 2 *"'
        ) from None
    return normalized


def current_slot(expression: str, now: datetime) -> datetime | None:
    """The latest slot of the schedule at or before `now`; None for a schedule that never fires.

    Such a schedule is refused at `track`, but a database of an older drift may hold one.
    """
    # croniter's get_prev is strictly before its start: start a second later
    # so that a build started exactly on the slot belongs to it.
    try:
        slot: datetime = croniter(expression, now + timedelta(seconds=1)).get_prev(datetime)
    except (CroniterBadDateError, CroniterBadCronError, ValueError):
        return None
    return slot


def next_slot(expression: str, now: datetime) -> datetime | None:
    """The first slot of the schedule after `now`; None for a schedule that never fires."""
    try:
        slot: datetime = croniter(expression, now).get_next(datetime)
    except (CroniterBadDateError, CroniterBadCronError, ValueError):
        return None
    return slot


def parse_shard(text: str) -> tuple[int, int]:
    """`K/N` (1 <= K <= N) as (K, N)."""
    match = _SHARD.match(text.strip())
    if match is None or int(match["k"]) > int(match["n"]):
        raise UsageError(f"--shard {text!r} is not K/N with 1 <= K <= N; e.g. --shard 2/3")
    return int(match["k"]), int(match["n"])


def in_shard(name: str, shard: tuple[int, int]) -> bool:
    """Whether the target belongs to shard K of N: stable across runs and machines, by name alone."""
    k, n = shard
    bucket = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % n
    return bucket == k - 1
