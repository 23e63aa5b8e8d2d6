"""What the fetch ledger records: one `Fetch` per request a build made through drift's proxy.

`FetchLog` collects them from the proxy's event loop thread and hands them to any
other thread in the order the requests started, whatever order they ended in.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Fetch:
    """One request a build made through drift's proxy.

    Attributes:
        method: the request method as sent ("GET", "POST", "HEAD", "CONNECT", ...).
        url: the full URL for plain HTTP ("http://deb.example/dists/bookworm/Release");
            "host:port" for CONNECT. Bytes that are not UTF-8 are shown as backslash escapes.
        host: the origin's host name or address, without port ("" when the request named none).
        status: the status code the origin (or the upstream proxy) answered; for CONNECT,
            200 when drift's proxy opened the tunnel itself; None when no answer came.
        bytes_in: body bytes from the server to the client (the response body as the client
            received it, after de-chunking; for CONNECT, every tunnel byte server -> client).
        bytes_out: request body bytes from the client to the server (for CONNECT, every
            tunnel byte client -> server).
        sha256: hex digest of the response body as the client received it (after
            de-chunking, Content-Encoding left as is); "" for CONNECT and when the body
            did not arrive complete.
        step: the Dockerfile instruction that was running when the request started
            ("RUN curl -fsSLO http://..."), None when unknown.
        error: "" when the exchange completed, else why not, in one line.
    """

    method: str
    url: str
    host: str
    status: int | None
    bytes_in: int
    bytes_out: int
    sha256: str
    step: str | None
    error: str = ""


@dataclass(slots=True)
class Exchange:
    """A request in flight: what the proxy learns as bytes pass, frozen into a `Fetch` when it ends."""

    method: str
    url: str
    host: str
    step: str | None
    status: int | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    body_hash: hashlib._Hash = field(default_factory=hashlib.sha256, repr=False)
    complete: bool = False
    error: str = ""

    def fail(self, reason: str) -> None:
        """Note why the exchange did not complete; the first reason wins."""
        if not self.error:
            self.error = " ".join(reason.split()) or "failed"

    def to_fetch(self) -> Fetch:
        hashed = self.method != "CONNECT" and self.complete and not self.error
        digest = self.body_hash.hexdigest() if hashed else ""
        return Fetch(
            method=self.method,
            url=self.url,
            host=self.host,
            status=self.status,
            bytes_in=self.bytes_in,
            bytes_out=self.bytes_out,
            sha256=digest,
            step=self.step,
            error=self.error,
        )


class FetchLog:
    """The fetches of one proxy run, thread-safe, kept in the order their requests started."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._next = 0
        self._done: dict[int, Fetch] = {}

    def start(self) -> int:
        """Reserve the place of a request that just started."""
        with self._lock:
            seq = self._next
            self._next += 1
            return seq

    def finish(self, seq: int, exchange: Exchange) -> None:
        """Record a request that ended (completed or not) at the place `start` gave it. Once per request."""
        fetch = exchange.to_fetch()
        with self._lock:
            if seq in self._done:
                raise RuntimeError(f"request {seq} recorded twice")
            self._done[seq] = fetch
            self._lock.notify_all()

    def fetches(self) -> list[Fetch]:
        """Every request that has ended, in the order they started."""
        with self._lock:
            return [self._done[seq] for seq in sorted(self._done)]

    def wait(self, count: int, timeout: float) -> list[Fetch]:
        """`fetches()` once at least `count` requests have ended, or when `timeout` seconds have passed."""
        with self._lock:
            self._lock.wait_for(lambda: len(self._done) >= count, timeout)
            return [self._done[seq] for seq in sorted(self._done)]
