"""A pool of Docker Engines: each build goes to the engine with the fewest running builds; an engine that
stops answering is marked down and its build is retried on another."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from drift.build.engine import DockerEngine
from drift.build.interface import Engine
from drift.errors import EngineError


@dataclass(frozen=True, slots=True)
class EngineSpec:
    """How to reach one engine of the pool: its DOCKER_HOST and, for tcp://, its TLS settings."""

    host: str | None
    tls_verify: bool = False
    cert_path: str | None = None


def _connect(spec: EngineSpec) -> Engine:
    return DockerEngine(spec.host, tls_verify=spec.tls_verify, cert_path=spec.cert_path)


class EnginePool:
    """Engines by DOCKER_HOST (None: the environment's default). One docker-py client per thread and engine."""

    def __init__(
        self, engines: Sequence[EngineSpec | str | None], connect: Callable[[EngineSpec], Engine] = _connect
    ) -> None:
        specs = [e if isinstance(e, EngineSpec) else EngineSpec(e) for e in engines] or [EngineSpec(None)]
        self.specs: dict[str | None, EngineSpec] = {}
        for spec in specs:
            self.specs.setdefault(spec.host, spec)
        self.hosts: list[str | None] = list(self.specs)
        self._connect = connect
        self._lock = threading.Lock()
        self._active: Counter[str | None] = Counter()
        self.down: dict[str | None, str] = {}
        self._local = threading.local()

    def name(self, host: str | None) -> str:
        return host or "default"

    def engine(self, host: str | None) -> Engine:
        """This thread's client for `host` (connecting on first use; EngineError when it does not answer)."""
        engines: dict[str | None, Engine] = self._local.__dict__.setdefault("engines", {})
        if host not in engines:
            engines[host] = self._connect(self.specs[host])
        return engines[host]

    def check(self) -> None:
        """Connect to every engine once; those that do not answer are marked down. EngineError when none does."""
        errors = []
        for host in self.hosts:
            try:
                self.engine(host).builder_info()
            except EngineError as exc:
                self.mark_down(host, str(exc))
                errors.append(str(exc))
        if len(self.down) == len(self.hosts):
            raise EngineError(
                errors[0] if len(errors) == 1 else "no Docker Engine of the pool answers: " + "; ".join(errors)
            )

    def acquire(self, running: Callable[[str | None], int]) -> str | None:
        """The up engine with the fewest running builds (this process's, plus `running(host)` from the database)."""
        with self._lock:
            up = [host for host in self.hosts if host not in self.down]
            if not up:
                return None
            choice = min(up, key=lambda host: (self._active[host] + running(host), self.hosts.index(host)))
            self._active[choice] += 1
            return choice

    def release(self, host: str | None) -> None:
        with self._lock:
            self._active[host] -= 1

    def mark_down(self, host: str | None, reason: str) -> None:
        with self._lock:
            self.down.setdefault(host, reason)

    def answers(self, host: str | None) -> bool:
        try:
            self.engine(host).builder_info()
        except EngineError:
            return False
        return True
