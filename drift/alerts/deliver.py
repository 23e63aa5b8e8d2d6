"""Sending one message to one apprise route (Slack, Teams, email, a JSON webhook, ...)."""

from __future__ import annotations

import logging

import apprise


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
        return f"{type(exc).__name__}: {exc}"
    finally:
        logger.removeHandler(capture)
    if delivered:
        return None
    reason = capture.messages[-1] if capture.messages else "the receiver did not accept it"
    return " ".join(reason.split())


def redact(route: str) -> str:
    """A route without its credentials, for messages and listings."""
    scheme, sep, rest = route.partition("://")
    if not sep:
        return route
    credentials, at, host = rest.rpartition("@")
    return f"{scheme}://***@{host}" if at and credentials else route
