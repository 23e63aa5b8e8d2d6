"""drift as people install it: the wheel and sdist of `python -m build`, the wheel installed (not editable) into a
fresh venv and run outside the checkout."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT, Result

from drift import __version__
from drift.storage.database import Database

DISTRIBUTION = "drift-image-repro"
FIXTURE_BOOKWORM = ROOT / "tests" / "fixtures" / "catalog" / "dpkg" / "bookworm"
STORE_FIXTURE_BUILD = ROOT / "tests" / "support" / "store_fixture_build.py"


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
    assert re.search(r"^drift = drift\.cli:main$", entry_points, re.M)

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
        return {**env, "HOME": str(self.workdir), "XDG_DATA_HOME": str(self.workdir / "data"),
                "DRIFT_CACHE_DIR": str(self.workdir / "cache")}

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
