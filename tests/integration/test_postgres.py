"""PostgreSQL as the shared database: several workers, one history, nothing built or recorded twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Drift, MakeRepo

pytestmark = pytest.mark.usefixtures("docker_engine")


@pytest.fixture
def pg_drift(tmp_path: Path, postgres_url: str) -> Drift:
    return Drift(db_path=tmp_path / "unused.db", cache_dir=tmp_path / "cache", url=postgres_url)


def spawn(drift: Drift, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DRIFT_DB": drift.db_url, "DRIFT_CACHE_DIR": str(drift.cache_dir)}
    return subprocess.Popen(
        [sys.executable, "-m", "drift", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_three_workers_build_twelve_due_targets_exactly_once(pg_drift: Drift, make_repo: MakeRepo) -> None:
    repo = make_repo("reproducible")
    names = [f"svc-{i:02d}" for i in range(12)]
    for name in names:
        pg_drift.track(name, repo)
    workers = [spawn(pg_drift, "run", "--due", "--min-free", "0") for _ in range(3)]
    outputs = [worker.communicate(timeout=600) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), outputs
    per_target = pg_drift.rows(
        "select t.name, count(*) from builds b join targets t on t.id = b.target_id group by t.name order by t.name"
    )
    assert per_target == [(name, 1) for name in names]
    owners = {owner.split(":")[1] for (owner,) in pg_drift.rows("select owner from builds")}
    assert len(owners) >= 2, owners  # the work was shared, not done by one worker while the others waited


def test_a_killed_worker_loses_its_build_and_another_rebuilds_it(pg_drift: Drift, make_repo: MakeRepo) -> None:
    repo = make_repo("reproducible")
    (repo.path / "Dockerfile").write_text("FROM busybox:latest\nRUN sleep 8 && echo done > /done\n")
    repo.commit_all("a slow build")
    pg_drift.track("slow", repo, "--builder", "legacy")  # its step container shows the build has started
    victim = spawn(pg_drift, "run", "--due", "--min-free", "0")
    deadline = time.time() + 60
    while time.time() < deadline:
        time.sleep(0.3)
        rows = pg_drift.rows("select engine_objects from builds where status = 'running'")
        if rows and rows[0][0] and any(str(o).startswith("container:") for o in rows[0][0]):
            break
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)

    other = pg_drift("run", "--due", "--min-free", "0")
    assert other.code == 0, other.stdout + other.stderr
    assert pg_drift.rows("select status, verdict from builds order by id") == [
        ("interrupted", "error"),
        ("succeeded", "baseline"),
    ]
    again = pg_drift("run", "--due", "--min-free", "0")
    assert again.code == 0
    assert pg_drift.rows("select count(*) from builds") == [(2,)]  # the slot is done: nothing recorded twice


def test_migrate_to_postgresql_keeps_the_report(drift: Drift, make_repo: MakeRepo, postgres_url: str) -> None:
    for sample in ("reproducible", "build-date"):
        drift.track(sample, make_repo(sample))
    for _ in range(2):
        drift("run", "--min-free", "0")

    def report(url: str) -> dict[str, Any]:
        result = drift("--db", url, "report", "--format", "json")
        assert result.code == 0, result.stderr
        document: dict[str, Any] = json.loads(result.stdout)
        document.pop("generated_at")
        return document

    before = report(drift.db_url)
    migrated = drift("db", "migrate-to", postgres_url)
    assert migrated.code == 0, migrated.stderr
    assert "4 builds" in migrated.stdout
    assert report(postgres_url) == before
    assert [t["latest"]["verdict"] for t in before["targets"]] == ["drifted", "reproducible"]
