"""Which verdict changes are worth a message. One event, one alert: a target that stays drifted
for a week alerts once, when it drifts, and once more when it is reproducible again."""

from __future__ import annotations

from drift.values import Verdict

DRIFTED = "drifted"
BROKEN = "broken"
RECOVERED = "recovered"

_GOOD = (Verdict.BASELINE, Verdict.REPRODUCIBLE, Verdict.NOISY)
_BAD = (Verdict.DRIFTED, Verdict.BROKEN)


def alert_event(previous: Verdict | None, current: Verdict) -> str | None:
    """The event a build's verdict makes, given the verdict of the previous build of the same source.

    `previous` skips builds that could not run (`error`): an engine outage
    between two drifted nights is not a recovery, and not a new drift.
    """
    if current is Verdict.DRIFTED and previous is not Verdict.DRIFTED:
        return DRIFTED
    if current is Verdict.BROKEN and previous is not Verdict.BROKEN:
        return BROKEN
    if current in _GOOD and previous in _BAD:
        return RECOVERED
    return None
