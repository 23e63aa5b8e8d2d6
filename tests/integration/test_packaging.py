"""drift as people install it: the wheel and sdist of `python -m build`, the wheel installed (not editable) into a
fresh venv and run outside the checkout, and drift's own image (the top-level Dockerfile) checking a sample
target through the engine socket mounted into it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT, Drift, GitRepo, MakeRepo, Result

from drift import __version__
from drift.storage.database import Database

DISTRIBUTION = "drift-image-repro"
FIXTURE_BOOKWORM = ROOT / "tests" / "fixtures" / "catalog" / "dpkg" / "bookworm"
STORE_FIXTURE_BUILD = ROOT / "tests" / "support" / "store_fixture_build.py"
IMAGE_TAG = f"drift-image-repro-test:{os.getpid()}"
IMAGE_UID = 10001  # the Dockerfile's user `drift`


def _run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: int = 600) -> Result:
    proc = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


# --- the wheel and the sdist -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m build` of the checkout: the sdist, then the wheel built from that sdist."""
    out = tmp_path_factory.mktemp("dist")
    result = _run(sys.executable, "-m", "build", "--outdir", out, ROOT, cwd=out)
    assert result.code == 0, result.stderr[-3000:]
    return out


def _one(directory: Path, pattern: str) -> Path:
    [found] = directory.glob(pattern)
    return found


def test_build_gives_a_wheel_and_an_sdist_of_the_new_name_with_everything_drift_reads_at_run_time(dist: Path) -> None:
    wheel = _one(dist, "drift_image_repro-*.whl")
    sdist = _one(dist, "drift_image_repro-*.tar.gz")
    assert wheel.name == f"drift_image_repro-{__version__}-py3-none-any.whl"
    assert sdist.name == f"drift_image_repro-{__version__}.tar.gz"

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"drift_image_repro-{__version__}.dist-info"
        metadata = archive.read(f"{info}/METADATA").decode()
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    migrations = {p.name for p in (ROOT / "migrations" / "versions").glob("*.py")}
    assert migrations and {f"drift/migrations/versions/{m}" for m in migrations} <= names
    assert {"drift/migrations/env.py", "drift/migrations/script.py.mako", "drift/report/schema.json"} <= names
    templates = {p.name for p in (ROOT / "drift" / "report" / "templates").iterdir()}
    assert {f"drift/report/templates/{t}" for t in templates} <= names
    assert f"Name: {DISTRIBUTION}\n" in metadata
    assert f"Version: {__version__}\n" in metadata
    assert re.search(r"^drift = drift\.__main__:run$", entry_points, re.M)

    with tarfile.open(sdist) as archive:
        sdist_names = {name.partition("/")[2] for name in archive.getnames()}
    assert {"pyproject.toml", "README.md", "drift/report/schema.json", "migrations/env.py"} <= sdist_names


@dataclass
class Installed:
    """A fresh venv with drift's wheel installed, and a directory outside the checkout to run it from."""

    venv: Path
    workdir: Path

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "DRIFT_DB")}
        # Nothing of the user's: data and cache dirs in the test's own directory.
        return {
            **env,
            "HOME": str(self.workdir),
            "XDG_DATA_HOME": str(self.workdir / "data"),
            "DRIFT_CACHE_DIR": str(self.workdir / "cache"),
        }

    def __call__(self, program: str, *args: str | Path) -> Result:
        return _run(self.venv / "bin" / program, *args, cwd=self.workdir, env=self.env)


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel (not the checkout, not editable) in a new venv; its dependencies from the package index."""
    base = tmp_path_factory.mktemp("installed")
    venv = base / "venv"
    workdir = base / "elsewhere"
    workdir.mkdir()
    created = _run(sys.executable, "-m", "venv", venv, cwd=base)
    assert created.code == 0, created.stderr
    wheel = _one(dist, "drift_image_repro-*.whl")
    result = _run(venv / "bin" / "python", "-m", "pip", "install", "--disable-pip-version-check", "-q", wheel, cwd=base)
    assert result.code == 0, result.stderr[-3000:]
    return Installed(venv, workdir)


def test_the_installed_wheel_is_drift_from_the_venv_not_from_the_checkout(installed: Installed) -> None:
    probe = installed(
        "python",
        "-c",
        "import drift, importlib.metadata as m; d = m.distribution('drift-image-repro');"
        "print(drift.__file__); print(d.version); print(d.read_text('direct_url.json'))",
    )
    assert probe.code == 0, probe.stderr
    module, version, direct_url = probe.stdout.splitlines()
    assert Path(module).is_relative_to(installed.venv)
    assert not Path(module).is_relative_to(ROOT)
    assert version == __version__
    assert "archive_info" in json.loads(direct_url)  # installed from the wheel file, not `pip install -e`


def test_the_installed_wheel_runs_outside_the_checkout(installed: Installed) -> None:
    db = installed.workdir / "state" / "drift.db"
    url = f"sqlite:///{db}"

    version = installed("drift", "--version")
    assert (version.code, version.stdout.strip()) == (0, f"drift {__version__}")

    upgrade = installed("drift", "--db", url, "db", "upgrade")
    assert upgrade.code == 0, upgrade.stderr
    with sqlite3.connect(db) as connection:
        [(revision,)] = connection.execute("select version_num from alembic_version").fetchall()
    assert revision == Database(f"sqlite:///{installed.workdir / 'head.db'}", upgrade=False).head_revision()

    empty_page = installed.workdir / "empty.html"
    html = installed("drift", "--db", url, "report", "--format", "html", "--output", empty_page)
    assert html.code == 0, html.stderr
    assert empty_page.read_text().lstrip().lower().startswith("<!doctype html>")

    # A build with real packages, written by the installed drift's own reader, catalogers and storage.
    stored = installed("python", STORE_FIXTURE_BUILD, url, FIXTURE_BOOKWORM)
    assert stored.code == 0, stored.stderr
    build = stored.stdout.strip()

    sbom = installed("drift", "--db", url, "sbom", build, "--format", "cyclonedx")
    assert sbom.code == 0, sbom.stderr
    document = json.loads(sbom.stdout)
    assert (document["bomFormat"], document["specVersion"]) == ("CycloneDX", "1.6")
    expected = {tuple(line.split()) for line in (FIXTURE_BOOKWORM / "dpkg-query.txt").read_text().splitlines()}
    assert {(c["name"], c["version"]) for c in document["components"]} == expected
    [bash] = [c for c in document["components"] if c["name"] == "bash"]
    assert bash["purl"].startswith("pkg:deb/debian/bash@") and "distro=debian-12" in bash["purl"]

    report = installed("drift", "--db", url, "report", "--format", "json")
    assert report.code == 0, report.stderr
    document = json.loads(report.stdout)
    assert (document["schema"], document["drift_version"]) == (1, __version__)
    [target] = document["targets"]
    assert (target["name"], target["latest"]["verdict"]) == ("fixture-bookworm", "baseline")

    page = installed.workdir / "report.html"
    assert installed("drift", "--db", url, "report", "--format", "html", "--output", page).code == 0
    assert "fixture-bookworm" in page.read_text()


def test_shell_completion_is_not_offered(installed: Installed) -> None:
    """Typer's completion options are turned off (add_completion=False): not shown, not half-working."""
    help_text = installed("drift", "--help")
    assert help_text.code == 0, help_text.stderr
    assert "completion" not in help_text.stdout.lower()
    install = installed("drift", "--install-completion")
    assert install.code == 2
    assert "No such option" in install.stderr


# --- drift's own image -----------------------------------------------------------------------------------------


def _socket_path() -> Path:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        pytest.fail(f"drift's image test mounts the engine's socket; DOCKER_HOST is {host}")
    return Path(host.removeprefix("unix://"))


@pytest.fixture(scope="module")
def dependency_index(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """drift's dependencies (and the build backend) as a package index on 127.0.0.1.

    The image's build reaches PyPI through this mirror (PIP_INDEX_URL, --network
    host): where the tests run, HTTPS from inside a container may not be trusted
    as it is on the host (an intercepting proxy whose CA only the host has).
    """
    import upstream

    wheels = tmp_path_factory.mktemp("wheels")
    wheel = _one(dist, "drift_image_repro-*.whl")
    download = _run(
        sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q", "--only-binary=:all:",
        "--dest", wheels, wheel, "setuptools>=77", "wheel", cwd=wheels,
    )  # fmt: skip
    assert download.code == 0, download.stderr[-3000:]
    (wheels / wheel.name).unlink()  # the image builds its own wheel from the source
    root = tmp_path_factory.mktemp("index")
    upstream.publish_wheels(root, sorted(wheels.glob("*.whl")))
    with upstream.serve(root, 0) as server:
        yield f"{server.url}simple/"


@pytest.fixture(scope="module")
def drift_image(docker_engine: str, dependency_index: str) -> Iterator[str]:
    """drift's own image, built from the top-level Dockerfile as CI builds it; removed after the module."""
    import docker

    api = docker.APIClient(version="auto", timeout=600)
    stage_images: list[str] = []
    last_id = ""
    log: list[str] = []
    for chunk in api.build(
        path=str(ROOT),
        tag=IMAGE_TAG,
        buildargs={"PIP_INDEX_URL": dependency_index},
        network_mode="host",
        rm=True,
        forcerm=True,
        decode=True,
    ):
        if "error" in chunk:
            pytest.fail(f"drift's image did not build: {chunk['error']}\n{''.join(log[-40:])}")
        text = chunk.get("stream", "")
        log.append(text)
        if match := re.match(r" ---> ([0-9a-f]{12})\b", text):
            last_id = match.group(1)
        elif re.match(r"Step \d+/\d+ : FROM ", text) and last_id:
            stage_images.append(last_id)  # the builder stage's image: untagged, ours to remove
    try:
        yield IMAGE_TAG
    finally:
        for image in [IMAGE_TAG, *stage_images]:
            with contextlib.suppress(Exception):
                api.remove_image(image)


def _in_image(image: str, *args: str, mounts: dict[Path, str]) -> Result:
    """`docker run --rm --group-add <socket's group> -v ... IMAGE ARGS`: as the image's own user."""
    import docker

    client = docker.from_env(version="auto", timeout=900)
    socket = _socket_path()
    volumes = {str(socket): {"bind": "/var/run/docker.sock", "mode": "rw"}}
    volumes |= {
        str(host): {"bind": inside.removesuffix(":ro"), "mode": "ro" if inside.endswith(":ro") else "rw"}
        for host, inside in mounts.items()
    }
    container = client.containers.create(
        image, list(args), group_add=[str(socket.stat().st_gid)], volumes=volumes, detach=True
    )
    try:
        container.start()
        code = container.wait(timeout=900)["StatusCode"]
        stdout = container.logs(stdout=True, stderr=False).decode()
        stderr = container.logs(stdout=False, stderr=True).decode()
    finally:
        container.remove(force=True)
    return Result(code, stdout, stderr)


def _chown_tree(path: Path, uid: int) -> None:
    for each in [path, *path.rglob("*")]:
        os.lchown(each, uid, uid)


@pytest.mark.engine
def test_drift_in_its_own_image_checks_a_sample_through_the_mounted_socket(
    drift_image: str, drift: Drift, make_repo: MakeRepo
) -> None:
    repo: GitRepo = make_repo("reproducible")
    commit = repo.git("rev-parse", "HEAD")
    state = drift.db_path.parent  # the image's /var/lib/drift: its SQLite database lands where `drift` reads it
    state.mkdir(parents=True)
    # The image's user owns what it writes, and git reads only repositories of its own user.
    _chown_tree(repo.path, IMAGE_UID)
    _chown_tree(state, IMAGE_UID)
    mounts = {repo.path: "/repos/reproducible:ro", state: "/var/lib/drift"}

    whoami = _in_image(drift_image, "--version", mounts=mounts)
    assert (whoami.code, whoami.stdout.strip()) == (0, f"drift {__version__}"), whoami.stderr
    track = _in_image(
        drift_image, "track", "reproducible", "--repo", "/repos/reproducible", "--commit", "main", "--pull", "never",
        mounts=mounts,
    )  # fmt: skip
    assert track.code == 0, track.stderr
    run = _in_image(drift_image, "run", "reproducible", mounts=mounts)
    assert run.code == 0, run.stderr
    assert "reproducible: baseline" in run.stdout

    latest = drift.latest("reproducible")  # the database the image wrote, read by the drift of the checkout
    assert latest["verdict"] == "baseline"
    assert latest["commit"] == commit
    assert latest["image_id"]
