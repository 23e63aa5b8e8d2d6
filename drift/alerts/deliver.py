"""Sending one message to one apprise route (Slack, Teams, email, a JSON webhook, ...)."""

from __future__ import annotations

import logging

import apprise

log = logging.getLogger(__name__)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def valid_route(route: str) -> bool:
    """Whether apprise understands the URL (it says nothing about the receiver being up)."""
    return bool(apprise.Apprise().add(route))


def send(route: str, title: str, body: str) -> str | None:
    """Deliver; None on success, else why it failed (one line)."""
    notifier = apprise.Apprise()
    if not notifier.add(route):
        return f"not an apprise URL drift can use: {redact(route)}"
    capture = _Capture()
    logger = logging.getLogger("apprise")
    logger.addHandler(capture)
    try:
        delivered = notifier.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT)
    except Exception as exc:  # a plugin bug must not lose the run
        log.warning("apprise failed on %s", redact(route), exc_info=True)
        return f"{type(exc).__name__}: {exc}"
    finally:
        logger.removeHandler(capture)
    if delivered:
        return None
    reason = capture.messages[-1] if capture.messages else "the receiver did not accept it"
    return " ".join(reason.split())


def redact(route: str) -> str:
    """A route without its secrets, for messages and listings: apprise's privacy form, without the query.

    apprise hides passwords and tokens in the path (`slack://T...2/A...D/T...Q`)
    but prints custom headers (`+X-Api-Key=...`) and other query values as they
    are, so the query is left out altogether.
    """
    try:
        plugin = apprise.Apprise.instantiate(route)
    except Exception:  # apprise's plugins parse untrusted text; any failure means "not a route we can show"
        log.debug("apprise cannot parse a route", exc_info=True)
        plugin = None
    if not plugin:
        scheme, sep, _rest = route.partition("://")
        return f"{scheme}://***" if sep else "***"
    private = str(plugin.url(privacy=True))  # type: ignore[no-untyped-call]
    base, query_mark, _query = private.partition("?")
    return base + ("?..." if query_mark and "?" in route else "")
