"""drift's proxy around one build: whether it can run, where it listens, the build args that point the build
at it, and the Dockerfile step running when each request starts.

The proxy must listen where the build's RUN steps can reach it: 127.0.0.1 for
`--network host`, the host's address on the engine's default bridge (docker0)
for the default network. An engine on another machine (not unix://) cannot
reach a proxy on this one, so the ledger is off there, with the reason kept on
the build. The proxy never stops a build: when it cannot start, the build runs
without it and the ledger says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from types import TracebackType

from drift.errors import DriftError
from drift.ledger.fetch import Fetch
from drift.ledger.proxy import RecordingProxy

log = logging.getLogger(__name__)

# Docker's predefined proxy build args: usable by RUN without an ARG, and kept out of the image history.
PROXY_ARGS = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
ON = "on"
OFF = "off"  # the target's choice (`--ledger off`)


class LedgerOff(Exception):
    """The ledger cannot run for this build; the message says why, in one line."""


def listen_host(engine_host: str, network: str | None, bridge_gateway: Callable[[], str | None]) -> str:
    """The address drift's proxy listens on so that the build's RUN steps reach it. Raises LedgerOff."""
    if not engine_host.startswith("unix://"):
        raise LedgerOff(f"the engine at {engine_host} is not on this machine, so its builds cannot reach drift's proxy")
    mode = (network or "default").lower()
    if mode == "host":
        return "127.0.0.1"
    if mode in ("default", "bridge"):
        gateway = bridge_gateway()
        if not gateway:
            raise LedgerOff("the engine's bridge network has no gateway address for drift's proxy to listen on")
        return gateway
    if mode == "none":
        raise LedgerOff("the build has no network (--network none)")
    raise LedgerOff(f"drift's proxy is reachable from the host and default bridge networks only, not from {network!r}")


def upstream_proxy(build_args: Mapping[str, str]) -> str | None:
    """The target's own proxy, from its proxy build args (HTTP_PROXY first): drift's proxy forwards to it."""
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        if build_args.get(name, "").strip():
            return build_args[name].strip()
    return None


class BuildLedger:
    """The fetch ledger of one build; a context manager around the build.

    `state` is what the build records: "on", "off" (the target turned it off) or
    "off: <why>". While it is on, `proxy_args` are the build args for this build
    and `on_step` is what the engine tells of each step as it starts.
    """

    def __init__(
        self,
        *,
        enabled: bool,
        engine_host: str,
        network: str | None,
        build_args: Mapping[str, str],
        bridge_gateway: Callable[[], str | None],
    ) -> None:
        self._proxy: RecordingProxy | None = None
        self._step: str | None = None
        self.started = False
        if not enabled:
            self.state = OFF
            return
        try:
            host = listen_host(engine_host, network, bridge_gateway)
            self._proxy = RecordingProxy(
                listen_host=host,
                upstream=upstream_proxy(build_args),
                step=self.current_step,
                # Only a build on the host network may reach the host's loopback; through the proxy, none other.
                refuse_loopback=host != "127.0.0.1",
            )
        except (LedgerOff, DriftError) as exc:
            self.state = f"{OFF}: {exc}"
            return
        self.state = ON

    def current_step(self) -> str | None:
        """The instruction of the step running now (read from the proxy's thread)."""
        return self._step

    def on_step(self, instruction: str) -> None:
        self._step = instruction

    @property
    def proxy_args(self) -> dict[str, str] | None:
        """HTTP_PROXY, HTTPS_PROXY, http_proxy, https_proxy set to drift's proxy; None while it is off."""
        if self._proxy is None or self.state != ON:
            return None
        return dict.fromkeys(PROXY_ARGS, self._proxy.url)

    def fetches(self) -> list[Fetch]:
        """Every request the build made through the proxy, in the order they started."""
        return self._proxy.fetches() if self._proxy is not None and self.state == ON else []

    def __enter__(self) -> BuildLedger:
        self.started = True
        if self._proxy is not None:
            try:
                self._proxy.start()
            except DriftError as exc:
                log.warning("the fetch ledger is off for this build: %s", exc)
                self.state = f"{OFF}: {exc}"
                self._proxy = None
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._proxy is not None:
            self._proxy.stop()
