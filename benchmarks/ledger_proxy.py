"""Benchmark: a 1 GB download through drift's recording proxy, against the same download made directly.

An origin server (its own process) generates the body on the fly, never from a
file; the proxy runs in its own process too, so its peak RSS is its own. The
client (this process, or curl) fetches the body directly and through the proxy,
interleaved, --repeat times; the medians are compared.

Prints both times, the proxy's overhead beside the 10% target, the proxy's peak
RSS growth (VmHWM at the end less VmHWM once listening) beside a 64 MB bound, and
checks that the proxy recorded each proxied download once, whole, with the right
sha256.

`--rate MBPS` paces the origin (as a network link would): on loopback with no
pacing the proxy's own throughput (sha256 and HTTP framing in Python) is what is
measured; with pacing, what a build on a real link would see.

    python benchmarks/ledger_proxy.py [--size-mb 1024] [--repeat 3] [--chunked] [--rate MBPS] [--client python|curl]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OVERHEAD_TARGET = 10.0  # percent
RSS_BOUND_MB = 64.0

ORIGIN = r"""
import socket, sys, threading, time
size, chunked, rate = int(sys.argv[1]), sys.argv[2] == "1", float(sys.argv[3])
BLOCK = 1 << 20

def block(index):
    # Different bytes per MiB, so a body is not one repeated block.
    return (index.to_bytes(8, "big") * (BLOCK // 8))

def serve(conn):
    with conn:
        head = b""
        while b"\r\n\r\n" not in head:
            data = conn.recv(65536)
            if not data:
                return
            head += data
        framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % size
        conn.sendall(b"HTTP/1.1 200 OK\r\n" + framing + b"\r\nConnection: close\r\n\r\n")
        start, sent, index = time.perf_counter(), 0, 0
        while sent < size:
            piece = block(index)[: size - sent]
            conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            sent += len(piece)
            index += 1
            if rate:
                ahead = sent / (rate * 1e6) - (time.perf_counter() - start)
                if ahead > 0:
                    time.sleep(ahead)
        if chunked:
            conn.sendall(b"0\r\n\r\n")

listener = socket.create_server(("127.0.0.1", 0), backlog=64)
print(listener.getsockname()[1], flush=True)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""

PROXY = r"""
import json, sys
from drift.ledger import RecordingProxy

def hwm_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0

with RecordingProxy() as proxy:
    start_kb = hwm_kb()
    print(proxy.url, flush=True)
    sys.stdin.readline()
    fetches = proxy.wait_fetches(int(sys.argv[1]), timeout=30)
    end_kb = hwm_kb()
print(json.dumps({"start_kb": start_kb, "end_kb": end_kb,
                  "fetches": [[f.url, f.status, f.bytes_in, f.sha256, f.error] for f in fetches]}))
"""


def expected_sha256(size: int) -> str:
    digest = hashlib.sha256()
    block_size, sent, index = 1 << 20, 0, 0
    while sent < size:
        piece = (index.to_bytes(8, "big") * (block_size // 8))[: size - sent]
        digest.update(piece)
        sent += len(piece)
        index += 1
    return digest.hexdigest()


def download_python(url: str, proxy: str | None) -> tuple[float, int]:
    """GET `url` (through `proxy` when given) with a plain socket, body discarded; (seconds, body bytes)."""
    import socket
    from urllib.parse import urlsplit

    target = urlsplit(url)
    hop = urlsplit(proxy) if proxy else target
    request_target = url if proxy else (target.path or "/")
    start = time.perf_counter()
    with socket.create_connection((hop.hostname, hop.port)) as sock:
        sock.sendall(f"GET {request_target} HTTP/1.1\r\nHost: {target.netloc}\r\nConnection: close\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(65536)
            if not data:
                break
            head += data
        received = len(head.partition(b"\r\n\r\n")[2])
        buffer = memoryview(bytearray(1 << 20))
        while n := sock.recv_into(buffer):
            received += n
    return time.perf_counter() - start, received


def download_curl(url: str, proxy: str | None) -> tuple[float, int]:
    command = ["curl", "-sS", "-o", "/dev/null", "-w", "%{time_total} %{size_download}", "--noproxy", ""]
    command += ["-x", proxy] if proxy else ["--noproxy", "*"]
    output = subprocess.run([*command, url], check=True, capture_output=True, text=True).stdout.split()
    return float(output[0]), int(output[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunked", action="store_true", help="the origin answers with chunked framing")
    parser.add_argument("--rate", type=float, default=0.0, help="pace the origin at this many MB/s (0: no pacing)")
    parser.add_argument(
        "--client",
        choices=["python", "curl"],
        default="python",
        help="python: a socket read into one buffer (the least client work); curl: what builds run",
    )
    args = parser.parse_args()
    if args.chunked and args.client == "python":
        parser.error("the python client counts raw bytes and does not de-chunk: use --chunked with --client curl")
    size = args.size_mb * 1024 * 1024
    download = download_curl if args.client == "curl" else download_python

    origin = subprocess.Popen(
        [sys.executable, "-c", ORIGIN, str(size), "1" if args.chunked else "0", str(args.rate)],
        stdout=subprocess.PIPE,
        text=True,
    )
    proxy = subprocess.Popen(
        [sys.executable, "-c", PROXY, str(args.repeat)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert origin.stdout and proxy.stdout and proxy.stdin
        url = f"http://127.0.0.1:{origin.stdout.readline().strip()}/big"
        proxy_url = proxy.stdout.readline().strip()
        direct: list[float] = []
        proxied: list[float] = []
        for _ in range(args.repeat):
            for times, via in ((direct, None), (proxied, proxy_url)):
                seconds, received = download(url, via)
                if received != size:
                    print(f"short download ({received} of {size} bytes) via {via or 'direct'}", file=sys.stderr)
                    return 1
                times.append(seconds)
        proxy.stdin.write("done\n")
        proxy.stdin.flush()
        report = json.loads(proxy.stdout.readline())
    finally:
        origin.kill()
        proxy.kill()
        origin.wait()
        proxy.wait()

    digest = expected_sha256(size)
    recorded = report["fetches"]
    whole = [f for f in recorded if f[1] == 200 and f[2] == size and f[3] == digest and not f[4]]
    direct_s, proxied_s = statistics.median(direct), statistics.median(proxied)
    overhead = (proxied_s / direct_s - 1) * 100
    growth_mb = (report["end_kb"] - report["start_kb"]) / 1024
    framing = "chunked" if args.chunked else "content-length"
    pacing = f"{args.rate:g} MB/s" if args.rate else "unpaced"
    print(f"{args.size_mb} MB, {framing}, origin {pacing}, client {args.client}, median of {args.repeat}")
    print(f"  direct:        {direct_s:7.2f} s   ({size / direct_s / 1e6:7.1f} MB/s)  runs {_runs(direct)}")
    print(f"  through proxy: {proxied_s:7.2f} s   ({size / proxied_s / 1e6:7.1f} MB/s)  runs {_runs(proxied)}")
    verdict = "ok" if overhead <= OVERHEAD_TARGET else "OVER"
    print(f"  overhead:      {overhead:7.1f} %   (target <= {OVERHEAD_TARGET:g} %: {verdict})")
    verdict = "ok" if growth_mb <= RSS_BOUND_MB else "OVER"
    print(
        f"  proxy peak RSS growth: {growth_mb:.1f} MB (peak {report['end_kb'] / 1024:.1f} MB; "
        f"bound {RSS_BOUND_MB:g} MB: {verdict})"
    )
    print(f"  recorded: {len(recorded)} fetches, {len(whole)} whole with the right sha256 (expected {args.repeat})")
    return 0 if len(whole) == len(recorded) == args.repeat else 1


def _runs(times: list[float]) -> str:
    return " ".join(f"{t:.2f}" for t in times)


if __name__ == "__main__":
    raise SystemExit(main())
