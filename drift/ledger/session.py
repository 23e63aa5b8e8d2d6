"""One client connection to drift's proxy: plain HTTP forwarding and CONNECT tunnels, recorded as they pass.

HTTP/1.1 is parsed and framed by h11 (pure Python, no I/O of its own, kept by
python-hyper): it already knows the rules a proxy must not get wrong (absolute-form
targets, Content-Length against chunked framing, bodiless HEAD/204/304 responses,
bodies that end at close, keep-alive, header size caps), and fed 256 KiB reads it
costs about 0.4 s of CPU per GB, less than hashing the body does. A hand-written
parser would save part of that, not the hashing, and would have to get those rules
right anew. The asyncio streams around h11 move bytes with flow control (`drain`),
so a body passes in pieces of at most one read and is hashed as it goes, never held
whole; large pieces are hashed in a worker thread (hashlib releases the GIL) while
the event loop sends them on and reads the next.

Each request the client makes becomes one `Exchange`, reserved in the `FetchLog`
when the request starts and recorded exactly once when it ends, however it ends.
Connections to origins are not kept alive: each request gets its own (with
`Connection: close`), which keeps a stale kept-alive origin connection from ever
turning into a failed fetch. The client's own connection is kept alive as it asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable

import h11

from drift.ledger.fetch import Exchange, FetchLog
from drift.ledger.http import (
    BadTarget,
    Header,
    Origin,
    Upstream,
    display,
    end_to_end,
    parse_authority,
    parse_plain_target,
)

log = logging.getLogger(__name__)

READ_SIZE = 256 * 1024
MAX_HEAD = 64 * 1024  # request or response head larger than this: 431 (client) or 502 (server)
HASH_INLINE = 64 * 1024  # response body pieces at least this large are hashed in a worker thread
LINGER_SECONDS = 2.0  # after an error answer, how long (and how much) the client's input is drained
LINGER_BYTES = 4 * 1024 * 1024

StepSource = Callable[[], str | None]


class PeerFailed(Exception):
    """Reading from or writing to one side of an exchange failed; `side` says which."""

    def __init__(self, side: str, reason: str) -> None:
        super().__init__(f"{side}: {reason}")
        self.side = side


def describe(exc: BaseException) -> str:
    """An exception as one line."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _head_size(head: h11.Request | h11.InformationalResponse | h11.Response) -> int:
    target = head.target if isinstance(head, h11.Request) else head.reason
    return len(target) + sum(len(name) + len(value) + 4 for name, value in head.headers.raw_items())


class Peer:
    """One side of an exchange: an h11 connection over an asyncio stream pair."""

    def __init__(
        self,
        side: str,
        role: type[h11.CLIENT] | type[h11.SERVER],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.side = side
        self.conn = h11.Connection(role, max_incomplete_event_size=MAX_HEAD)
        self.reader = reader
        self.writer = writer

    async def next_event(self) -> h11.Event:
        """The next HTTP event from this side, reading as needed. Raises PeerFailed (h11.RemoteProtocolError
        for the client side, whose error status the session answers with)."""
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                if self.side == "client":
                    raise
                raise PeerFailed(self.side, f"bad HTTP: {describe(exc)}") from exc
            if event is h11.NEED_DATA:
                try:
                    data = await self.reader.read(READ_SIZE)
                except OSError as exc:
                    raise PeerFailed(self.side, describe(exc)) from exc
                self.conn.receive_data(data)
                continue
            if event is h11.PAUSED:
                raise PeerFailed(self.side, "sent more after switching protocols")
            assert isinstance(event, h11.Event)
            heads = (h11.Request, h11.InformationalResponse, h11.Response)
            if isinstance(event, heads) and _head_size(event) > MAX_HEAD:
                # h11 caps only a head still incomplete; one that arrived whole in a single read is measured here.
                if self.side == "client":
                    raise h11.RemoteProtocolError("request head too large", error_status_hint=431)
                raise PeerFailed(self.side, "response head too large")
            return event

    async def send(self, event: h11.Event) -> None:
        """Send one HTTP event to this side and wait until its buffer drains. Raises PeerFailed."""
        try:
            parts = self.conn.send_with_data_passthrough(event)
            if parts:
                self.writer.writelines(parts)
            await self.writer.drain()
        except (OSError, h11.LocalProtocolError) as exc:
            raise PeerFailed(self.side, describe(exc)) from exc

    def close(self, abort: bool = False) -> None:
        if abort:
            self.writer.transport.abort()
        else:
            self.writer.close()


class ClientSession:
    """Serves one client connection until it closes, fails, or the proxy stops (the task is cancelled)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        fetch_log: FetchLog,
        step: StepSource,
        upstream: Upstream | None,
        connect_timeout: float,
        refuse_loopback: bool = False,
    ) -> None:
        self.client = Peer("client", h11.SERVER, reader, writer)
        self.refuse_loopback = refuse_loopback
        self.fetch_log = fetch_log
        self.step = step
        self.upstream = upstream
        self.connect_timeout = connect_timeout
        self._servers: list[asyncio.StreamWriter] = []
        self._refused = False  # drift answered an error: the client may still be sending

    async def run(self) -> None:
        clean = False
        try:
            clean = await self._serve()
            if clean and self._refused:
                await self._linger()
        except (PeerFailed, OSError) as exc:
            log.debug("client connection ended: %s", describe(exc))
        except Exception:  # a bug here must cost one connection (already recorded), never the proxy
            log.exception("drift's proxy failed on a client connection")
        finally:
            self._close_servers(abort=True)
            self.client.close(abort=not clean)

    async def _serve(self) -> bool:
        """Answer requests until the connection is done; True when it ended cleanly."""
        conn = self.client.conn
        while True:
            try:
                event = await self.client.next_event()
            except h11.RemoteProtocolError as exc:
                await self._answer(exc.error_status_hint, f"bad request: {describe(exc)}")
                return True
            if isinstance(event, h11.ConnectionClosed):
                return True
            if not isinstance(event, h11.Request):  # h11 yields a Request first in each cycle
                return False
            if event.method == b"CONNECT":
                await self._record(event, self._tunnel)
                return True
            await self._record(event, self._forward)
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return conn.our_state is h11.MUST_CLOSE or conn.our_state is h11.DONE
            conn.start_next_cycle()

    async def _linger(self) -> None:
        """After an error answer, read and drop what the client is still sending before closing: closing
        with unread input resets the connection, and the client would lose the answer."""
        writer, reader = self.client.writer, self.client.reader
        if writer.can_write_eof():
            writer.write_eof()
        dropped = 0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LINGER_SECONDS):
                while dropped < LINGER_BYTES and (data := await reader.read(READ_SIZE)):
                    dropped += len(data)

    def _current_step(self) -> str | None:
        try:
            value = self.step()
        except Exception as exc:
            log.warning("the build's step callable failed: %s", describe(exc))
            return None
        return value if value is None else str(value)

    async def _record(self, request: h11.Request, handle: Callable[[h11.Request, Exchange], Awaitable[None]]) -> None:
        """Run one exchange, recording it exactly once however it ends."""
        seq = self.fetch_log.start()
        exchange = Exchange(
            method=display(request.method), url=display(request.target), host="", step=self._current_step()
        )
        try:
            await handle(request, exchange)
        except asyncio.CancelledError:
            exchange.fail("drift's proxy stopped before the exchange ended")
            raise
        except h11.RemoteProtocolError as exc:
            exchange.fail(f"client: bad HTTP: {describe(exc)}")
            raise PeerFailed("client", describe(exc)) from exc
        except Exception as exc:
            exchange.fail(describe(exc))
            raise
        finally:
            self.fetch_log.finish(seq, exchange)
            self._close_servers(abort=not exchange.complete)

    def _close_servers(self, abort: bool) -> None:
        """Close the connections opened for an exchange (each request gets its own)."""
        for writer in self._servers:
            if abort:
                writer.transport.abort()
            else:
                writer.close()
        self._servers.clear()

    async def _answer(self, status: int, message: str) -> None:
        """drift's own answer (an error) to the client, when no response has started yet; then close."""
        if self.client.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        self._refused = True
        body = f"drift proxy: {message}\n".encode("utf-8", "backslashreplace")
        headers = [
            (b"Content-Type", b"text/plain; charset=utf-8"),
            (b"Content-Length", str(len(body)).encode()),
            (b"Connection", b"close"),
        ]
        try:
            reason = http.HTTPStatus(status).phrase.encode()
        except ValueError:
            reason = b""
        await self.client.send(h11.Response(status_code=status, reason=reason, headers=headers))
        await self.client.send(h11.Data(data=body))
        await self.client.send(h11.EndOfMessage())

    async def _open(self, origin: Origin) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to the origin, or to the upstream proxy when there is one. Raises PeerFailed."""
        hop = self.upstream.origin if self.upstream else origin
        host = hop.host
        if self.refuse_loopback and not self.upstream:
            host = await self._not_loopback(hop.host, hop.port, hop.authority)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, hop.port, limit=READ_SIZE), self.connect_timeout
            )
        except (OSError, TimeoutError) as exc:
            what = "upstream proxy" if self.upstream else "server"
            raise PeerFailed(what, f"cannot connect to {hop.authority}: {describe(exc)}") from exc
        self._servers.append(writer)
        return reader, writer

    async def _not_loopback(self, host: str, port: int, authority: str) -> str:
        """The address to connect to, refusing the host's own loopback.

        A build on the bridge network cannot reach the host's 127.0.0.1; through
        a proxy on the bridge it could. The name is resolved once and the checked
        address is the one connected to (a second lookup could answer otherwise).
        """
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise PeerFailed("server", f"cannot resolve {authority}: {describe(exc)}") from exc
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not addresses or any(a.is_loopback or a.is_unspecified for a in addresses):
            raise PeerFailed(
                "server",
                f"refused {authority}: a build on the bridge network may not reach the host's loopback through "
                "drift's proxy",
            )
        return str(addresses[0])

    async def _forward(self, request: h11.Request, exchange: Exchange) -> None:
        try:
            target = parse_plain_target(request.target)
        except BadTarget as exc:
            exchange.fail(str(exc))
            await self._answer(exc.status, str(exc))
            return
        exchange.host = target.origin.host
        headers = self._request_headers(request, target.host_header)
        if self.client.conn.they_are_waiting_for_100_continue:
            await self.client.send(h11.InformationalResponse(status_code=100, headers=[]))
        try:
            server = Peer("server", h11.CLIENT, *await self._open(target.origin))
            path = request.target if self.upstream else target.path
            await server.send(h11.Request(method=request.method, target=path, headers=headers))
            await self._pass_request_body(server, exchange)
            response = await self._response_head(server)
        except PeerFailed as exc:
            if exc.side == "client":
                raise
            exchange.fail(str(exc))
            await self._answer(502, str(exc))
            return
        await self._relay_response(server, response, exchange)

    def _request_headers(self, request: h11.Request, host: bytes) -> list[Header]:
        raw = list(request.headers.raw_items())
        chunked = any(name.lower() == b"transfer-encoding" for name, _ in raw)
        # Host is the absolute URI's authority (RFC 9112 section 3.2.2), also when an HTTP/1.0 client sent none.
        headers = [(b"Host", host), *((name, value) for name, value in end_to_end(raw) if name.lower() != b"host")]
        if chunked:
            headers.append((b"Transfer-Encoding", b"chunked"))
        if self.upstream and self.upstream.authorization:
            headers.append((b"Proxy-Authorization", self.upstream.authorization))
        headers.append((b"Connection", b"close"))
        return headers

    async def _pass_request_body(self, server: Peer, exchange: Exchange) -> None:
        while True:
            event = await self.client.next_event()
            if isinstance(event, h11.Data):
                exchange.bytes_out += len(event.data)
                await server.send(event)
            elif isinstance(event, h11.EndOfMessage):
                await server.send(h11.EndOfMessage())
                return
            else:
                raise PeerFailed("client", "closed the connection during the request body")

    async def _response_head(self, server: Peer) -> h11.Response:
        while True:
            event = await server.next_event()
            if isinstance(event, h11.Response):
                return event
            if not isinstance(event, h11.InformationalResponse):  # 1xx: the proxy answered 100 itself
                raise PeerFailed(server.side, "closed the connection without answering")

    async def _relay_response(self, server: Peer, response: h11.Response, exchange: Exchange) -> None:
        """Pass a response on to the client, hashing its body as it goes. Once the head is sent, a failure
        can only end the client connection (the session closes it)."""
        exchange.status = response.status_code
        headers = end_to_end(list(response.headers.raw_items()))
        await self.client.send(h11.Response(status_code=response.status_code, reason=response.reason, headers=headers))
        loop = asyncio.get_running_loop()
        hashing: asyncio.Future[None] | None = None
        while True:
            event = await server.next_event()
            if isinstance(event, h11.Data):
                exchange.bytes_in += len(event.data)
                if hashing is not None:
                    await hashing
                    hashing = None
                if len(event.data) < HASH_INLINE:
                    exchange.body_hash.update(event.data)
                else:  # hashlib lets go of the GIL: the piece is hashed while it is sent and the next one read
                    hashing = loop.run_in_executor(None, exchange.body_hash.update, event.data)
                await self.client.send(event)
            elif isinstance(event, h11.EndOfMessage):
                if hashing is not None:
                    await hashing
                await self.client.send(h11.EndOfMessage())  # trailers are not forwarded
                exchange.complete = True
                return
            else:
                raise PeerFailed(server.side, "closed the connection during the response body")

    async def _tunnel(self, request: h11.Request, exchange: Exchange) -> None:
        try:
            origin = parse_authority(request.target, None)
        except BadTarget as exc:
            exchange.fail(str(exc))
            await self._answer(400, str(exc))
            return
        exchange.host = origin.host
        if not isinstance(await self.client.next_event(), h11.EndOfMessage):
            exchange.fail("CONNECT with a body")
            await self._answer(400, "CONNECT with a body")
            return
        try:
            reader, writer = await self._open(origin)
            early = b""
            if self.upstream:
                proxy = Peer("upstream proxy", h11.CLIENT, reader, writer)
                headers = [(b"Host", request.target)]
                if self.upstream.authorization:
                    headers.append((b"Proxy-Authorization", self.upstream.authorization))
                await proxy.send(h11.Request(method=b"CONNECT", target=request.target, headers=headers))
                await proxy.send(h11.EndOfMessage())
                response = await self._response_head(proxy)
                if not 200 <= response.status_code < 300:
                    await self._relay_response(proxy, response, exchange)
                    exchange.fail(f"upstream proxy refused the tunnel: {response.status_code}")
                    return
                early = proxy.conn.trailing_data[0]
            exchange.status = 200
        except PeerFailed as exc:
            if exc.side == "client":
                raise
            exchange.fail(str(exc))
            await self._answer(502, str(exc))
            return
        await self.client.send(h11.Response(status_code=200, reason=b"Connection established", headers=[]))
        await self._splice(
            self.client.reader, self.client.writer, self.client.conn.trailing_data[0], reader, writer, early, exchange
        )
        exchange.complete = True

    async def _splice(
        self,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
        client_early: bytes,
        server_reader: asyncio.StreamReader,
        server_writer: asyncio.StreamWriter,
        server_early: bytes,
        exchange: Exchange,
    ) -> None:
        """Copy bytes both ways until both sides have closed, counting them."""

        def count_out(n: int) -> None:
            exchange.bytes_out += n

        def count_in(n: int) -> None:
            exchange.bytes_in += n

        directions = [
            asyncio.create_task(_copy(client_reader, server_writer, client_early, count_out, "client")),
            asyncio.create_task(_copy(server_reader, client_writer, server_early, count_in, "server")),
        ]
        try:
            done, _ = await asyncio.wait(directions, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in directions:
                task.cancel()
            await asyncio.gather(*directions, return_exceptions=True)
        for task in done:
            if not task.cancelled() and (exc := task.exception()) is not None:
                raise exc


async def _copy(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, early: bytes, count: Callable[[int], None], side: str
) -> None:
    """One direction of a tunnel: `early` (bytes already read past the HTTP head), then the stream to its end."""
    data = early
    try:
        while True:
            if data:
                count(len(data))
                writer.write(data)
                await writer.drain()
            data = await reader.read(READ_SIZE)
            if not data:
                break
        if writer.can_write_eof():
            writer.write_eof()
    except OSError as exc:
        raise PeerFailed(side, describe(exc)) from exc
    with contextlib.suppress(OSError):
        await writer.drain()
