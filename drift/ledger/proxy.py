"""drift's recording forward proxy: runs on the host for the length of one build and records its fetches.

The build reaches it through Docker's predefined proxy build args (HTTP_PROXY,
HTTPS_PROXY, http_proxy, https_proxy). Plain HTTP requests are forwarded and
recorded with their status, sizes and the sha256 of the response body; HTTPS
passes through `CONNECT` tunnels, recorded as `CONNECT host:port` and the bytes
each way: there is no interception, drift never installs a CA into a build.
When the target has a proxy of its own, it is the `upstream`: plain requests and
tunnels go through it.

The proxy is an asyncio server in a background thread, so a synchronous caller
(the build) can run beside it:

    with RecordingProxy(step=progress.current_step) as proxy:
        engine.build(..., build_args={"HTTP_PROXY": proxy.url, ...})
    fetches = proxy.fetches()

Each client connection is a `drift.ledger.session.ClientSession`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType

from drift.errors import DriftError
from drift.ledger.fetch import Fetch, FetchLog
from drift.ledger.http import Upstream
from drift.ledger.session import ClientSession, StepSource

STOP_GRACE = 1.0  # seconds the sessions get to end after they are cancelled


def _no_step() -> str | None:
    return None


class ProxyError(DriftError):
    """drift's proxy could not start (its address is taken or cannot be bound)."""


class RecordingProxy:
    """A recording HTTP forward proxy in a background thread; a context manager.

    Args:
        listen_host: the address to listen on.
        listen_port: the port to listen on; 0 picks a free one (see `url`).
        upstream: "http://[user:password@]host:port" of a proxy to forward through, or None.
        step: called (in the proxy's thread) when each request starts; returns the
            Dockerfile instruction running then, or None. Must be quick and thread-safe.
        connect_timeout: seconds to wait for a TCP connection to an origin or the upstream.
    """

    def __init__(
        self,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        upstream: str | None = None,
        step: StepSource = _no_step,
        connect_timeout: float = 30.0,
        refuse_loopback: bool = False,
    ) -> None:
        self.listen_host = listen_host
        self.listen_port = listen_port
        self.upstream = Upstream.parse(upstream) if upstream else None
        self.step = step
        self.connect_timeout = connect_timeout
        # On the bridge network: the build must not reach the host's 127.0.0.1 through the proxy.
        self.refuse_loopback = refuse_loopback
        self._log = FetchLog()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._port: int | None = None

    @property
    def url(self) -> str:
        """The proxy's URL ("http://127.0.0.1:41234"), for HTTP_PROXY and HTTPS_PROXY alike."""
        if self._port is None:
            raise RuntimeError("the proxy is not running")
        host = f"[{self.listen_host}]" if ":" in self.listen_host else self.listen_host
        return f"http://{host}:{self._port}"

    def fetches(self) -> list[Fetch]:
        """What has been recorded so far: every ended request, in the order they started. Thread-safe."""
        return self._log.fetches()

    def wait_fetches(self, count: int, timeout: float = 5.0) -> list[Fetch]:
        """`fetches()` once at least `count` requests have ended (a client may see its response end a
        moment before the proxy records it), or when `timeout` seconds have passed."""
        return self._log.wait(count, timeout)

    def start(self) -> RecordingProxy:
        """Start listening; returns once `url` is valid. Raises ProxyError."""
        if self._thread is not None:
            raise RuntimeError("the proxy is already running")
        self._ready = threading.Event()
        self._startup_error = None
        self._thread = threading.Thread(target=self._run, name="drift-ledger-proxy", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            error = self._startup_error
            raise ProxyError(f"cannot listen on {self.listen_host}:{self.listen_port}: {error}") from error
        return self

    def stop(self) -> None:
        """Close the listener and every connection (open tunnels too), recording what was in flight."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stopping.set)
        thread.join()
        self._thread = None
        self._port = None

    def __enter__(self) -> RecordingProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            if not self._ready.is_set():
                self._startup_error = exc
            else:
                raise
        finally:
            self._ready.set()
            loop.run_until_complete(loop.shutdown_default_executor())  # the body hashing threads
            loop.close()
            self._loop = None

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        sessions: set[asyncio.Task[None]] = set()

        async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            sessions.add(task)
            try:
                await ClientSession(
                    reader,
                    writer,
                    fetch_log=self._log,
                    step=self.step,
                    upstream=self.upstream,
                    connect_timeout=self.connect_timeout,
                    refuse_loopback=self.refuse_loopback,
                ).run()
            finally:
                sessions.discard(task)

        server = await asyncio.start_server(
            on_connection, self.listen_host, self.listen_port, backlog=1024, limit=256 * 1024
        )
        self._port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            for task in list(sessions):
                task.cancel()
            if sessions:
                await asyncio.wait(list(sessions), timeout=STOP_GRACE)
            await server.wait_closed()
