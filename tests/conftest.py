"""Shared fixtures: a real Docker Engine, real git repositories, the samples' upstream servers, and drift itself."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from drift.source.git import RepositoryCache
    from drift.storage.database import Database

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_projects"
sys.path.insert(0, str(SAMPLES))

import upstream  # noqa: E402  (sample_projects/upstream.py: the samples' "outside world")

BASE_IMAGES = ("busybox:latest", "debian:bookworm")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/integration is an `engine` test: `-m 'not engine'` runs the unit suite alone."""
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.engine)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def docker_engine() -> str:
    """A Docker Engine with the samples' base images. Missing under CI=true is a failure, never a skip."""
    import docker

    try:
        client = docker.APIClient(version="auto", timeout=30)
        client.version()
    except Exception as exc:
        message = f"no Docker Engine answers ({exc}); start dockerd (`.ci/run` does)"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    missing = []
    for image in BASE_IMAGES:
        try:
            client.inspect_image(image)
        except docker.errors.ImageNotFound:
            missing.append(image)
    if missing:
        pytest.fail(f"base images {', '.join(missing)} are missing; run scripts/provision-base-images")
    return str(client.base_url)


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.stdout)
        return document


@dataclass
class Drift:
    """Runs the real `drift` command line against one SQLite file and one repository cache."""

    db_path: Path
    cache_dir: Path
    url: str | None = None  # another database (PostgreSQL) instead of the SQLite file

    @property
    def db_url(self) -> str:
        return self.url or f"sqlite:///{self.db_path}"

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result:
        full_env = {**os.environ, "DRIFT_DB": self.db_url, "DRIFT_CACHE_DIR": str(self.cache_dir), **(env or {})}
        proc = subprocess.run(
            [sys.executable, "-m", "drift", *args], capture_output=True, text=True, env=full_env, timeout=900
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def latest(self, name: str) -> dict[str, Any]:
        """The latest build of a target, as `drift report --format json` gives it."""
        [target] = [t for t in self("report", "--format", "json").json()["targets"] if t["name"] == name]
        latest: dict[str, Any] = target["latest"]
        return latest

    def track(self, name: str, repo: GitRepo, *options: str) -> None:
        """`drift track NAME --repo REPO --commit main --pull never OPTIONS...`, which must succeed."""
        result = self("track", name, "--repo", str(repo.path), "--commit", "main", "--pull", "never", *options)
        assert result.code == 0, result.stderr

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        if self.url is None:
            with sqlite3.connect(self.db_path) as connection:
                return connection.execute(query).fetchall()
        import sqlalchemy

        engine = sqlalchemy.create_engine(self.url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(sqlalchemy.text(query))]
        finally:
            engine.dispose()


@pytest.fixture
def drift(tmp_path: Path) -> Iterator[Drift]:
    runner = Drift(db_path=tmp_path / "state" / "drift.db", cache_dir=tmp_path / "cache")
    yield runner
    _remove_images_of(runner)


def _remove_images_of(runner: Drift) -> None:
    """drift keeps the latest image of each target; a test's images go with the test (only its own:
    other test runs may share the engine)."""
    import docker

    if runner.url is None and not runner.db_path.exists():
        return
    try:
        image_ids = [row[0] for row in runner.rows("select image_id from builds where image_id is not null")]
        api = docker.APIClient(version="auto", timeout=60)
    except Exception:
        return
    for image_id in image_ids:
        with contextlib.suppress(Exception):
            api.remove_image(image_id, force=True)


@dataclass
class GitRepo:
    """A real git repository made in the test."""

    path: Path

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(self.path), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    def commit_all(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")


MakeRepo = Callable[[str], GitRepo]
"""The make_repo fixture: make_repo(sample_name) -> GitRepo."""


@pytest.fixture
def make_repo(tmp_path: Path) -> Iterator[MakeRepo]:
    """make_repo(sample_name) -> GitRepo holding a copy of sample_projects/<sample_name>, committed."""

    def make(sample: str) -> GitRepo:
        path = tmp_path / f"repo-{sample}"
        shutil.copytree(SAMPLES / sample, path)
        repo = GitRepo(path)
        repo.git("init", "-q", "-b", "main")
        repo.git("config", "user.email", "test@example.invalid")
        repo.git("config", "user.name", "drift tests")
        repo.commit_all(f"{sample} sample")
        return repo

    yield make


@dataclass
class UpstreamServer:
    """The upstream_server fixture: a running upstream.Upstream and root, the directory it serves."""

    server: upstream.Upstream
    root: Path  # tmp_path / "upstream", as the test made it (server.directory is its resolved path)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def directory(self) -> Path:
        return self.server.directory

    @property
    def requests(self) -> list[str]:
        return self.server.requests

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def upstream_server(tmp_path: Path) -> Iterator[UpstreamServer]:
    """A changing 'upstream' file server on 127.0.0.1."""
    root = tmp_path / "upstream"
    root.mkdir()
    server = UpstreamServer(upstream.serve(root, 0), root)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty database on the PostgreSQL server .ci/run starts (DRIFT_TEST_POSTGRES_URL), dropped after.

    Missing under CI=true is a failure, never a skip.
    """
    import uuid

    import psycopg

    server = os.environ.get("DRIFT_TEST_POSTGRES_URL")
    if not server:
        message = "no PostgreSQL server: set DRIFT_TEST_POSTGRES_URL (`.ci/run` starts one)"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    name = f"drift_test_{uuid.uuid4().hex[:12]}"
    admin = server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    base, _, _ = admin.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real registry (Debian's docker-registry, the distribution registry 2.8) on 127.0.0.1: "host:port".

    `.ci/run` starts one and names it in DRIFT_TEST_REGISTRY; without it, one is
    started here when the binary is installed. Missing under CI=true is a failure.
    """
    import socket
    import time
    import urllib.request

    address = os.environ.get("DRIFT_TEST_REGISTRY")
    if address:
        yield address
        return
    binary = shutil.which("docker-registry")
    if binary is None:
        message = "no registry: install Debian's docker-registry or set DRIFT_TEST_REGISTRY (`.ci/run` does)"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = tmp_path_factory.mktemp("registry")
    (root / "config.yml").write_text(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n"
    )
    with (root / "log").open("wb") as log:
        process = subprocess.Popen([binary, "serve", str(root / "config.yml")], stdout=log, stderr=log)
    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1).close()
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"the registry did not answer on 127.0.0.1:{port}: {(root / 'log').read_text()[-500:]}")
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    """A real SQLite file in the test's directory, migrated."""
    from drift.storage.database import Database

    return Database(f"sqlite:///{tmp_path / 'drift.db'}")


@pytest.fixture
def cache(tmp_path: Path) -> RepositoryCache:
    """A repository cache in the test's directory."""
    from drift.source.git import RepositoryCache

    return RepositoryCache(tmp_path / "cache")
