"""Stopping a build: past its deadline, or when drift is asked to stop.

The legacy builder runs each step in a container, which the watchdog kills;
a BuildKit build is stopped by hanging up its request (`on_fire`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class Killer(Protocol):
    def kill_container(self, container: str) -> None: ...


class Watchdog:
    """Stops a build past its deadline, or when drift is asked to stop: kills the step's container,
    which makes the engine end the build at once."""

    def __init__(
        self,
        engine: Killer,
        timeout_s: int,
        stop: threading.Event | None,
        on_fire: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.on_fire = on_fire
        self.timeout_s = timeout_s
        self.stop = stop
        self.container: str | None = None
        self.fired: str | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="drift-build-watchdog", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not self._done.wait(0.2):
            if self.stop is not None and self.stop.is_set():
                self._fire("stop")
                return
            if time.monotonic() >= deadline:
                self._fire("timeout")
                return

    def _fire(self, reason: str) -> None:
        self.fired = reason
        if self.on_fire is not None:
            self.on_fire()  # it handles its own transport errors
        container = self.container
        if container is not None:
            self.engine.kill_container(container)

    def cancel(self) -> None:
        self._done.set()
