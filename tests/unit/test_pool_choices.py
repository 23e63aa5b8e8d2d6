"""The engine pool's choices, with stand-in engines; and [[builders]] in drift.toml."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from drift.build.interface import Engine
from drift.build.pool import EnginePool, EngineSpec
from drift.config import parse_config
from drift.errors import EngineError, UsageError


class FakeEngine:
    def __init__(self, spec: EngineSpec, up: set[str | None]) -> None:
        self.host = spec.host
        self.up = up

    def builder_info(self) -> None:
        if self.host not in self.up:
            raise EngineError(f"cannot reach the Docker Engine at {self.host}")


def pool_of(hosts: list[str], up: set[str | None]) -> EnginePool:
    # A stand-in, not an Engine: the pool asks it for builder_info() only.
    return EnginePool(hosts, connect=lambda spec: cast(Engine, FakeEngine(spec, up)))


def test_builds_go_to_the_least_busy_engine() -> None:
    pool = pool_of(["tcp://a", "tcp://b"], {"tcp://a", "tcp://b"})
    first = pool.acquire(lambda host: 0)
    second = pool.acquire(lambda host: 0)
    assert {first, second} == {"tcp://a", "tcp://b"}
    pool.release(first)
    # Builds other workers run count too.
    assert pool.acquire(lambda host: 5 if host == first else 0) == second


def test_an_engine_that_does_not_answer_is_marked_down_and_skipped() -> None:
    pool = pool_of(["tcp://a", "tcp://b"], {"tcp://b"})
    pool.check()
    assert list(pool.down) == ["tcp://a"]
    assert pool.acquire(lambda host: 0) == "tcp://b"
    with pytest.raises(EngineError, match="cannot reach the Docker Engine at tcp://a"):
        pool_of(["tcp://a"], set()).check()


def test_builders_in_drift_toml(tmp_path: Path) -> None:
    text = '[[builders]]\nhost = "tcp://builder-1:2376"\ntls_verify = true\ncert_path = "certs"\n\n[[builders]]\nhost = "unix:///var/run/docker.sock"\n'
    config = parse_config(text, tmp_path / "drift.toml")
    assert [(b.host, b.tls_verify, b.cert_path, b.line) for b in config.builders] == [
        ("tcp://builder-1:2376", True, str(tmp_path / "certs"), 1),
        ("unix:///var/run/docker.sock", False, None, 6),
    ]
    with pytest.raises(UsageError, match=r"drift.toml:2: host 'builder-1' is not a Docker host URL"):
        parse_config('[[builders]]\nhost = "builder-1"\n', tmp_path / "drift.toml")
    with pytest.raises(UsageError, match=r"drift.toml:2: unknown key 'hots'"):
        parse_config('[[builders]]\nhots = "tcp://x:2376"\n', tmp_path / "drift.toml")
