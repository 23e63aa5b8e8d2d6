"""The HTTP/1.1 rules a forward proxy applies to what it passes on, as pure functions.

Parsing a proxy request's target (absolute-form `http://host:port/path` or a
CONNECT's `host:port`), the upstream proxy option, and which headers are
hop-by-hop (RFC 9110 section 7.6.1) and so never forwarded.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import unquote

from drift.errors import UsageError

# Headers that describe one connection, never the message: a proxy drops them and
# re-frames the body itself (h11 writes Content-Length or chunked framing anew).
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        # The proxy answers `Expect: 100-continue` itself (see drift.ledger.session).
        b"expect",
    }
)

Header = tuple[bytes, bytes]


class BadTarget(ValueError):
    """A request's target cannot be forwarded; the message says why, in one line."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request goes: a host (name, IPv4 or bracketless IPv6) and a TCP port."""

    host: str
    port: int

    @property
    def authority(self) -> str:
        """ "host:port" as it appears in a URL or a CONNECT line (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class PlainTarget:
    """An absolute-form `http://` target, split for forwarding."""

    origin: Origin
    host_header: bytes  # the authority as the URL gave it, less any userinfo
    path: bytes  # origin-form: "/path?query", "/" when the URL had no path


def display(raw: bytes) -> str:
    """Bytes from the wire as text for the ledger: UTF-8, anything else as backslash escapes."""
    return raw.decode("utf-8", "backslashreplace")


def parse_authority(raw: bytes, default_port: int | None) -> Origin:
    """ "host", "host:port", "[v6]:port" -> Origin. Raises BadTarget."""
    text = display(raw)
    if not text:
        raise BadTarget("no host in the request target")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise BadTarget(f"unclosed IPv6 address in {text!r}")
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise BadTarget(f"bad authority {text!r}")
        port_text = rest[1:] if rest else ""
    else:
        host, _, port_text = text.partition(":")
    if not host or any(c in host for c in " /\\@?#"):
        raise BadTarget(f"bad host in {text!r}")
    if not port_text:
        if default_port is None:
            raise BadTarget(f"no port in {text!r}")
        return Origin(host, default_port)
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise BadTarget(f"bad port in {text!r}")
    return Origin(host, int(port_text))


def parse_plain_target(target: bytes) -> PlainTarget:
    """Split a proxy request's absolute-form target. Raises BadTarget (501 for a scheme other than http)."""
    scheme, sep, rest = target.partition(b"://")
    if not sep or b"/" in scheme:
        raise BadTarget(f"not a proxy request (target {display(target)!r} is not an absolute http:// URL)")
    if scheme.lower() != b"http":
        raise BadTarget(f"drift's proxy forwards http:// URLs only, not {display(scheme)}://", status=501)
    cut = len(rest)
    for stop in (b"/", b"?", b"#"):
        found = rest.find(stop)
        if 0 <= found < cut:
            cut = found
    authority, path = rest[:cut], rest[cut:]
    authority = authority.rpartition(b"@")[2]
    path = path.partition(b"#")[0]
    if not path.startswith(b"/"):
        path = b"/" + path
    return PlainTarget(parse_authority(authority, 80), authority, path)


def connection_tokens(headers: list[Header]) -> set[bytes]:
    """The header names a `Connection` header lists: they are hop-by-hop too."""
    tokens: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            tokens.update(token.strip().lower() for token in value.split(b","))
    return tokens


def end_to_end(headers: list[Header]) -> list[Header]:
    """The headers to forward: everything but hop-by-hop ones and those `Connection` names."""
    dropped = HOP_BY_HOP | connection_tokens(headers)
    return [(name, value) for name, value in headers if name.lower() not in dropped]


@dataclass(frozen=True, slots=True)
class Upstream:
    """A proxy that drift's proxy forwards through (the target's own proxy)."""

    origin: Origin
    authorization: bytes | None  # a `Proxy-Authorization` value from the URL's userinfo

    @classmethod
    def parse(cls, url: str) -> Upstream:
        """ "http://[user:password@]host:port" -> Upstream. Raises UsageError."""
        scheme, sep, rest = url.strip().partition("://")
        if not sep:
            scheme, rest = "http", url.strip()
        if scheme.lower() != "http":
            raise UsageError(f"upstream proxy {url!r}: only http:// proxies are supported")
        authority = rest.split("/", 1)[0]
        userinfo, at, hostport = authority.rpartition("@")
        try:
            origin = parse_authority(hostport.encode(), 80)
        except BadTarget as exc:
            raise UsageError(f"upstream proxy {url!r}: {exc}") from None
        authorization = None
        if at:
            user, _, password = userinfo.partition(":")
            credentials = f"{unquote(user)}:{unquote(password)}".encode()
            authorization = b"Basic " + base64.b64encode(credentials)
        return cls(origin, authorization)
