"""drift's recording proxy against real servers on 127.0.0.1: what a client gets, and what the ledger records."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import http.server
import socket
import socketserver
import threading
import time
from collections import Counter
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from drift.ledger import Fetch, ProxyError, RecordingProxy


def body_of(size: int) -> bytes:
    return (b"drift-ledger-" * (size // 13 + 1))[:size]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Origin(http.server.BaseHTTPRequestHandler):
    """An origin server: /cl/N (Content-Length), /chunked, /close (ends at close), /204, POST /echo."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self, body: bytes, send_body: bool = True) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Path", self.path)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self._answer(body_of(int(self.path.rsplit("/", 1)[1])), send_body=False)

    def do_GET(self) -> None:
        if self.path.startswith("/cl/"):
            self._answer(body_of(int(self.path.split("/")[2])))
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (b"hello ", b"chunked ", b"world"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/close":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body_of(5000))
            self.close_connection = True
        elif self.path == "/headers":
            self._answer(str(self.headers).encode())
        elif self.path == "/204":
            self.send_response(204)
            self.end_headers()
        else:
            self.send_error(404)

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while size := int(self.rfile.readline().split(b";")[0], 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._answer(body)


class OriginServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # 200 clients connect at once


class Echo(socketserver.BaseRequestHandler):
    """A TCP echo server: sends back every byte until the client closes its side."""

    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    server = OriginServer(("127.0.0.1", 0), Origin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def echo() -> Iterator[str]:
    server = EchoServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy() -> Iterator[RecordingProxy]:
    with RecordingProxy() as running:
        yield running


def client(proxy: RecordingProxy) -> http.client.HTTPConnection:
    parts = urlsplit(proxy.url)
    assert parts.hostname and parts.port
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)


def fetch(proxy: RecordingProxy, method: str, url: str, body: bytes | None = None) -> tuple[int, bytes]:
    connection = client(proxy)
    try:
        connection.request(method, url, body=body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def raw_exchange(proxy: RecordingProxy, data: bytes) -> bytes:
    """Send raw bytes to the proxy and read its answer to the end."""
    parts = urlsplit(proxy.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


@pytest.mark.parametrize("size", [0, 100, 100_000, 8_000_000])
def test_get_with_content_length_is_passed_on_and_recorded(proxy: RecordingProxy, origin: str, size: int) -> None:
    status, body = fetch(proxy, "GET", f"{origin}/cl/{size}")
    assert (status, body) == (200, body_of(size))
    [entry] = proxy.wait_fetches(1)
    assert entry == Fetch(
        method="GET",
        url=f"{origin}/cl/{size}",
        host="127.0.0.1",
        status=200,
        bytes_in=size,
        bytes_out=0,
        sha256=sha(body_of(size)),
        step=None,
        error="",
    )


def test_chunked_response_is_hashed_as_the_client_receives_it(proxy: RecordingProxy, origin: str) -> None:
    status, body = fetch(proxy, "GET", f"{origin}/chunked")
    assert (status, body) == (200, b"hello chunked world")
    [entry] = proxy.wait_fetches(1)
    assert (entry.bytes_in, entry.sha256, entry.error) == (19, sha(b"hello chunked world"), "")


def test_response_that_ends_at_close_is_complete(proxy: RecordingProxy, origin: str) -> None:
    status, body = fetch(proxy, "GET", f"{origin}/close")
    assert (status, body) == (200, body_of(5000))
    [entry] = proxy.wait_fetches(1)
    assert (entry.bytes_in, entry.sha256, entry.error) == (5000, sha(body_of(5000)), "")


def test_head_and_204_have_no_body(proxy: RecordingProxy, origin: str) -> None:
    connection = client(proxy)
    connection.request("HEAD", f"{origin}/cl/4096")
    response = connection.getresponse()
    assert (response.status, response.getheader("Content-Length"), response.read()) == (200, "4096", b"")
    connection.request("GET", f"{origin}/204")
    response = connection.getresponse()
    assert (response.status, response.read()) == (204, b"")
    connection.close()
    head, no_content = proxy.wait_fetches(2)
    assert (head.method, head.status, head.bytes_in, head.sha256) == ("HEAD", 200, 0, sha(b""))
    assert (no_content.status, no_content.bytes_in, no_content.error) == (204, 0, "")


def test_post_body_goes_to_the_origin(proxy: RecordingProxy, origin: str) -> None:
    payload = body_of(70000)
    status, body = fetch(proxy, "POST", f"{origin}/echo", body=payload)
    assert (status, body) == (200, payload)
    connection = client(proxy)
    connection.request("POST", f"{origin}/echo", body=iter([b"abc", b"defg"]), encode_chunked=True)
    response = connection.getresponse()
    assert (response.status, response.read()) == (200, b"abcdefg")
    connection.close()
    sized, chunked = proxy.wait_fetches(2)
    assert (sized.method, sized.bytes_out, sized.bytes_in, sized.sha256) == ("POST", 70000, 70000, sha(payload))
    assert (chunked.bytes_out, chunked.bytes_in, chunked.error) == (7, 7, "")


def test_keep_alive_serves_three_requests_on_one_connection(proxy: RecordingProxy, origin: str) -> None:
    connection = client(proxy)
    sockets = set()
    for size in (10, 20, 30):
        connection.request("GET", f"{origin}/cl/{size}")
        response = connection.getresponse()
        assert response.read() == body_of(size)
        assert response.getheader("X-Path") == f"/cl/{size}"
        sockets.add(id(connection.sock))
    connection.close()
    assert len(sockets) == 1
    assert [entry.bytes_in for entry in proxy.wait_fetches(3)] == [10, 20, 30]


def test_http10_client_gets_a_chunked_origin_body_ended_by_close(proxy: RecordingProxy, origin: str) -> None:
    answer = raw_exchange(proxy, f"GET {origin}/chunked HTTP/1.0\r\n\r\n".encode())
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"chunked" not in head.lower()
    assert body == b"hello chunked world"
    assert proxy.wait_fetches(1)[0].sha256 == sha(b"hello chunked world")


def test_expect_100_continue_is_answered_before_the_body(proxy: RecordingProxy, origin: str) -> None:
    parts = urlsplit(proxy.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            f"POST {origin}/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        interim = b""
        while not interim.endswith(b"\r\n\r\n"):
            interim += sock.recv(1)
        assert interim.startswith(b"HTTP/1.1 100")
        sock.sendall(b"ping")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"\r\n\r\nping")
    assert proxy.wait_fetches(1)[0].bytes_out == 4


def test_a_taken_port_is_a_one_line_error(proxy: RecordingProxy) -> None:
    port = urlsplit(proxy.url).port
    assert port
    with pytest.raises(ProxyError, match=f"cannot listen on 127.0.0.1:{port}"):
        RecordingProxy(listen_port=port).start()


def test_hop_by_hop_headers_are_not_forwarded(proxy: RecordingProxy, origin: str) -> None:
    answer = raw_exchange(
        proxy,
        f"GET {origin}/headers HTTP/1.1\r\nHost: elsewhere\r\nProxy-Connection: keep-alive\r\n"
        "Connection: close, X-Secret\r\nX-Secret: 1\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n"
        "X-Kept: yes\r\n\r\n".encode(),
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    seen = {line.partition(":")[0].lower(): line.partition(":")[2].strip() for line in body.decode().splitlines()}
    assert seen["host"] == urlsplit(origin).netloc and seen["x-kept"] == "yes"
    assert not {"x-secret", "proxy-authorization", "proxy-connection"} & set(seen)
    assert proxy.wait_fetches(1)[0].status == 200


def test_connect_tunnel_counts_bytes_both_ways(proxy: RecordingProxy, echo: str) -> None:
    parts = urlsplit(proxy.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(f"CONNECT {echo} HTTP/1.1\r\nHost: {echo}\r\n\r\n".encode() + b"early")
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        head, _, echoed = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        payload = b"x" * 300000
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        while chunk := sock.recv(65536):
            echoed += chunk
    assert echoed == b"early" + payload
    [entry] = proxy.wait_fetches(1)
    assert entry == Fetch(
        method="CONNECT",
        url=echo,
        host="127.0.0.1",
        status=200,
        bytes_in=300005,
        bytes_out=300005,
        sha256="",
        step=None,
        error="",
    )


def test_unreachable_origin_gets_502_and_an_entry(proxy: RecordingProxy) -> None:
    port = closed_port()
    status, body = fetch(proxy, "GET", f"http://127.0.0.1:{port}/x")
    assert status == 502 and b"cannot connect" in body
    answer = raw_exchange(proxy, f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 502")
    plain, tunnel = proxy.wait_fetches(2)
    for entry in (plain, tunnel):
        assert entry.status is None and entry.sha256 == ""
        assert entry.error.startswith(f"server: cannot connect to 127.0.0.1:{port}")
    assert tunnel.method == "CONNECT" and tunnel.url == f"127.0.0.1:{port}"


def test_each_entry_names_the_step_running_when_its_request_started(origin: str) -> None:
    steps = iter(["RUN apt-get update", "RUN curl -O http://example/tool"])
    current: list[str | None] = [None]
    with RecordingProxy(step=lambda: current[0]) as proxy:
        for step in steps:
            current[0] = step
            fetch(proxy, "GET", f"{origin}/cl/1")
        entries = proxy.wait_fetches(2)
    assert [entry.step for entry in entries] == ["RUN apt-get update", "RUN curl -O http://example/tool"]


def test_upstream_proxy_carries_plain_requests_and_tunnels(origin: str, echo: str) -> None:
    with RecordingProxy() as upstream, RecordingProxy(upstream=upstream.url) as proxy:
        assert fetch(proxy, "GET", f"{origin}/cl/1000") == (200, body_of(1000))
        parts = urlsplit(proxy.url)
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
            sock.sendall(f"CONNECT {echo} HTTP/1.1\r\nHost: {echo}\r\n\r\n".encode())
            answer = b""
            while not answer.endswith(b"\r\n\r\n"):
                answer += sock.recv(1)
            assert answer.startswith(b"HTTP/1.1 200")
            sock.sendall(b"ping")
            sock.shutdown(socket.SHUT_WR)
            assert sock.recv(4) == b"ping"
        port = closed_port()
        assert fetch(proxy, "GET", f"http://127.0.0.1:{port}/")[0] == 502
        ours, theirs = proxy.wait_fetches(3), upstream.wait_fetches(3)
    for entries in (ours, theirs):
        get, tunnel, _ = entries
        assert (get.url, get.status, get.sha256) == (f"{origin}/cl/1000", 200, sha(body_of(1000)))
        assert (tunnel.method, tunnel.url, tunnel.bytes_out, tunnel.bytes_in) == ("CONNECT", echo, 4, 4)
    # The upstream could not reach the closed port: its 502 is an answer, passed on and recorded as one.
    assert (ours[2].status, theirs[2].status) == (502, None)


def test_200_concurrent_requests_are_each_recorded_once(proxy: RecordingProxy, origin: str) -> None:
    parts = urlsplit(proxy.url)
    assert parts.hostname and parts.port

    async def one(index: int) -> bytes:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        writer.write(f"GET {origin}/cl/{1000 + index} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        answer = await reader.read()
        writer.close()
        return answer

    async def all_at_once() -> list[bytes]:
        return await asyncio.gather(*(one(index) for index in range(200)))

    answers = asyncio.run(all_at_once())
    for index, answer in enumerate(answers):
        assert answer.partition(b"\r\n\r\n")[2] == body_of(1000 + index)
    entries = proxy.wait_fetches(200)
    assert len(entries) == 200
    assert Counter(entry.url for entry in entries) == Counter(f"{origin}/cl/{1000 + i}" for i in range(200))
    assert all(entry.status == 200 and entry.sha256 == sha(body_of(entry.bytes_in)) for entry in entries)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GARBAGE\r\n\r\n", b"400"),
        (b"GET http://127.0.0.1:9/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n", b"400"),
        (b"GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n", b"431"),
        (b"GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: x\r\n" + b"X-Many: a\r\n" * 20000 + b"\r\n", b"431"),
    ],
    ids=["bad-request-line", "non-ascii-target", "huge-header", "many-headers"],
)
def test_malformed_requests_are_refused_not_recorded(
    proxy: RecordingProxy, request_bytes: bytes, status: bytes
) -> None:
    assert raw_exchange(proxy, request_bytes).startswith(b"HTTP/1.1 " + status)
    assert proxy.fetches() == []


def test_non_utf8_header_values_pass(proxy: RecordingProxy, origin: str) -> None:
    answer = raw_exchange(
        proxy, f"GET {origin}/cl/2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode() + b"X-Latin: caf\xe9\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 200")


def test_requests_the_proxy_cannot_forward_are_answered_and_recorded(proxy: RecordingProxy) -> None:
    not_proxied = raw_exchange(proxy, b"GET /local HTTP/1.1\r\nHost: x\r\n\r\n")
    other_scheme = raw_exchange(proxy, b"GET ftp://127.0.0.1:9/file HTTP/1.1\r\nHost: x\r\n\r\n")
    assert not_proxied.startswith(b"HTTP/1.1 400") and other_scheme.startswith(b"HTTP/1.1 501")
    local, ftp = proxy.wait_fetches(2)
    assert local.error.startswith("not a proxy request") and ftp.error.startswith("drift's proxy forwards http://")


def test_stopping_closes_an_open_tunnel_promptly(echo: str) -> None:
    proxy = RecordingProxy().start()
    parts = urlsplit(proxy.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(f"CONNECT {echo} HTTP/1.1\r\nHost: {echo}\r\n\r\n".encode())
        answer = b""
        while not answer.endswith(b"\r\n\r\n"):
            answer += sock.recv(1)
        sock.sendall(b"held open")
        assert sock.recv(9) == b"held open"
        started = time.monotonic()
        proxy.stop()
        assert time.monotonic() - started < 1.5
        assert sock.recv(10) == b""
    [entry] = proxy.fetches()
    assert (entry.method, entry.bytes_out, entry.bytes_in) == ("CONNECT", 9, 9)
    assert entry.error == "drift's proxy stopped before the exchange ended"


def test_a_proxy_on_the_bridge_refuses_the_hosts_loopback() -> None:
    """A build on the bridge network cannot reach 127.0.0.1 on the host; drift's proxy must not open the way."""
    import urllib.error
    import urllib.request

    with RecordingProxy(refuse_loopback=True) as proxy:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy.url}))
        with pytest.raises(urllib.error.HTTPError) as refused:
            opener.open("http://127.0.0.1:9/secret", timeout=10)
        assert refused.value.code == 502
        [fetch] = proxy.wait_fetches(1)
    assert fetch.status is None and "may not reach the host's loopback" in fetch.error
