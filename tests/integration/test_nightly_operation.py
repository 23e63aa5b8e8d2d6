"""Unattended operation on the real engine: due slots, leases between processes, crash recovery,
timeouts, image clean-up, retention, shards and the long-running scheduler."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest
from conftest import Drift, GitRepo, MakeRepo

pytestmark = pytest.mark.usefixtures("docker_engine")


def images_of(drift: Drift, target: str) -> list[str]:
    """The images this test's drift keeps for a target (other drifts may share the engine)."""
    [(installation,)] = drift.rows("select id from installation")
    labels = [f"drift.target={target}", f"drift.installation={installation}"]
    return [i["Id"] for i in docker.APIClient(version="auto").images(filters={"label": labels})]


def spawn(drift: Drift, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DRIFT_DB": drift.db_url, "DRIFT_CACHE_DIR": str(drift.cache_dir)}
    return subprocess.Popen(
        [sys.executable, "-m", "drift", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def slow_repo(make_repo: MakeRepo, seconds: int) -> GitRepo:
    repo = make_repo("reproducible")
    (repo.path / "Dockerfile").write_text(f"FROM busybox:latest\nRUN sleep {seconds} && echo done > /done\n")
    repo.commit_all(f"a build that takes {seconds} s")
    return repo


def test_two_due_runs_at_once_build_each_target_exactly_once(drift: Drift, make_repo: MakeRepo) -> None:
    repo = make_repo("reproducible")
    names = ["alpha", "bravo", "charlie"]
    for name in names:
        assert drift("track", name, "--repo", str(repo.path), "--commit", "main", "--pull", "never").code == 0
    first, second = spawn(drift, "run", "--due", "--min-free", "0"), spawn(drift, "run", "--due", "--min-free", "0")
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    builds = drift.rows("select t.name, count(*) from builds b join targets t on t.id = b.target_id group by t.name")
    assert sorted(builds) == [(name, 1) for name in names]
    for name in names:
        assert len(images_of(drift, name)) == 1
    # And the slot is done: a third run has nothing to do.
    again = drift("run", "--due")
    assert again.code == 0 and drift.rows("select count(*) from builds") == [(3,)]


def test_killed_run_is_recovered_cleaned_up_and_retried(drift: Drift, make_repo: MakeRepo) -> None:
    repo = slow_repo(make_repo, 8)
    # The legacy builder's step containers are what a killed run leaves behind for the next to remove.
    drift.track("slow", repo, "--builder", "legacy")
    victim = spawn(drift, "run", "--min-free", "0")
    deadline = time.time() + 60
    objects: list[str] = []
    while time.time() < deadline and not any(o.startswith("container:") for o in objects):
        time.sleep(0.3)
        if drift.db_path.exists():
            rows = drift.rows("select engine_objects from builds where status = 'running'")
            objects = json.loads(rows[0][0]) if rows and rows[0][0] else []
    assert objects, "the build never started a container"
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)

    rerun = drift("run", "--min-free", "0")
    assert rerun.code == 0, rerun.stdout + rerun.stderr
    assert "marked interrupted" in rerun.stdout
    assert drift.rows("select status, verdict from builds order by id") == [
        ("interrupted", "error"),
        ("succeeded", "baseline"),
    ]
    api = docker.APIClient(version="auto")
    containers = {c["Id"] for c in api.containers(all=True)}
    for item in objects:
        kind, _, object_id = item.partition(":")
        if kind == "container":
            assert not any(c.startswith(object_id) for c in containers), f"container {object_id} left behind"
    with sqlite3.connect(drift.db_path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.parametrize("builder", ["legacy", "buildkit"])
def test_build_past_its_timeout_is_stopped_and_failed(drift: Drift, make_repo: MakeRepo, builder: str) -> None:
    repo = slow_repo(make_repo, 120)
    options = ("--pull", "never", "--timeout", "3s", "--builder", builder)
    track = drift("track", "hang", "--repo", str(repo.path), "--commit", "main", *options)
    assert track.code == 0, track.stderr
    started = time.monotonic()
    run = drift("run", "hang", "--min-free", "0")
    assert time.monotonic() - started < 60
    assert run.code == 1, run.stdout
    [(status, verdict, error)] = drift.rows("select status, verdict, error from builds")
    assert (status, verdict) == ("failed", "failed")
    assert error.startswith("timeout")
    # The stopped step's container (the legacy builder's; BuildKit runs none) is gone.
    [(objects,)] = drift.rows("select engine_objects from builds")
    api = docker.APIClient(version="auto")
    for item in json.loads(objects) if objects else []:
        kind, _, object_id = item.partition(":")
        if kind == "container":
            with pytest.raises(docker.errors.NotFound):
                api.inspect_container(object_id)


def test_keep_images_and_gc_keep_what_matters(drift: Drift, make_repo: MakeRepo) -> None:
    repo = make_repo("reproducible")
    drift.track("ten", repo)
    for _ in range(10):
        assert drift("run", "ten", "--keep-images", "1", "--min-free", "0").code == 0
    assert len(images_of(drift, "ten")) == 1
    assert [b for (b,) in drift.rows("select verdict from builds order by id")] == ["baseline"] + ["reproducible"] * 9

    with sqlite3.connect(drift.db_path) as connection:
        connection.execute("update builds set started_at = datetime('now', '-10 days')")
    gc = drift("gc", "--keep-days", "1")
    assert gc.code == 0, gc.stderr
    # Kept: the baseline, the first reproducible build (a verdict change), and the latest.
    assert [b for (b,) in drift.rows("select id from builds order by id")] == [1, 2, 10]
    assert drift("run", "ten", "--min-free", "0").code == 0  # history still judges against the baseline


def test_shards_cover_every_target_exactly_once(drift: Drift, make_repo: MakeRepo) -> None:
    repo = make_repo("reproducible")
    names = [f"svc-{i}" for i in range(6)]
    for name in names:
        assert drift("track", name, "--repo", str(repo.path), "--commit", "main", "--pull", "never").code == 0
    for shard in ("1/3", "2/3", "3/3"):
        assert drift("run", "--shard", shard, "--min-free", "0").code == 0
    rows = drift.rows("select t.name, count(*) from builds b join targets t on t.id = b.target_id group by t.name")
    assert sorted(rows) == [(name, 1) for name in names]
    bad = drift("run", "--shard", "4/3")
    assert bad.code == 2 and "--shard '4/3' is not K/N" in bad.stderr


def test_scheduler_runs_slots_on_time_and_stops_on_sigterm(drift: Drift, make_repo: MakeRepo) -> None:
    repo = make_repo("reproducible")
    every_10s = "* * * * * */10"
    track = drift(
        "track", "tick", "--repo", str(repo.path), "--commit", "main", "--pull", "never", "--schedule", every_10s
    )
    assert track.code == 0, track.stderr
    service = spawn(drift, "schedule", "--min-free", "0")
    deadline = time.time() + 90
    slots: list[tuple[str, str]] = []
    while time.time() < deadline and len(slots) < 3:
        time.sleep(0.5)
        slots = drift.rows("select slot, started_at from builds where status = 'succeeded' order by id")
    assert len(slots) >= 3, slots
    # Later slots are each built within a few seconds of their time (the first is the slot already past).
    from datetime import datetime

    for slot, started in slots[1:]:
        lag = (datetime.fromisoformat(started) - datetime.fromisoformat(slot)).total_seconds()
        assert 0 <= lag < 5, (slot, started)
    service.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    out, err = service.communicate(timeout=30)
    assert time.monotonic() - stopped < 10
    assert service.returncode == 0, err
    assert "stopped" in out and "tick: baseline" in out and "tick: reproducible" in out
    assert drift.rows("select count(*) from builds where status = 'running'") == [(0,)]


def test_drift_toml_errors_name_their_line_and_change_nothing(
    drift: Drift, make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo("reproducible")
    good = f'[[target]]\nname = "web"\nrepo = "{repo.path}"\ncommit = "main"\npull = "never"\n'
    cases = {
        "syntax": (good + 'schedule = "@daily\n', ":6:"),
        "unknown key": (good + 'pul = "never"\n', ":6:"),
        "duplicate": (good + "\n" + good, ":7:"),
    }
    for what, (text, where) in cases.items():
        path = tmp_path / "drift.toml"
        path.write_text(text)
        result = drift("run", "--config", str(path))
        assert result.code == 2, (what, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and f"drift.toml{where}" in lines[0], (what, lines)
        assert not drift.db_path.exists() or drift.rows("select count(*) from targets") == [(0,)]

    (tmp_path / "drift.toml").write_text(good)
    synced = drift("run", "--config", str(tmp_path / "drift.toml"), "--min-free", "0")
    assert synced.code == 0 and "added: web" in synced.stdout
    (tmp_path / "drift.toml").write_text("")
    emptied = drift("run", "--config", str(tmp_path / "drift.toml"))
    assert "disabled (gone from the file): web" in emptied.stdout
    assert drift.rows("select name, enabled from targets") == [("web", 0)]
    assert drift.rows("select count(*) from builds") == [(1,)]  # its history is kept
