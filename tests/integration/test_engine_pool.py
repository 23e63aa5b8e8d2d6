"""A pool of two Docker Engines on this machine: builds go to both; one stopping mid-run moves its build."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from conftest import Drift, MakeRepo

pytestmark = pytest.mark.usefixtures("docker_engine")

FIRST = "unix:///var/run/docker.sock"


@pytest.fixture
def second_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A second dockerd with its own socket, data root and network namespace, holding busybox:latest.

    Its own namespace keeps it away from the first engine's docker0 bridge (a
    second daemon in the host's namespace deletes or fights over it).
    """
    if shutil.which("dockerd") is None:
        message = "dockerd is not installed"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    root = Path(f"/tmp/drift-pool-{os.getpid()}")  # short: unix socket paths are limited to 108 bytes
    shutil.rmtree(root, ignore_errors=True)
    (root / "data").mkdir(parents=True)
    socket_path = root / "docker.sock"
    namespace = f"drift-pool-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    subprocess.run(["ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up"], check=True)
    # nsenter, not `ip netns exec`: only the network namespace, so the cgroup mounts stay visible.
    command = ["nsenter", f"--net=/var/run/netns/{namespace}", "dockerd", "--host", f"unix://{socket_path}"]
    command += ["--data-root", str(root / "data"), "--exec-root", str(root / "exec")]
    command += ["--pidfile", str(root / "docker.pid")]
    daemon = subprocess.Popen(
        command, stdout=(root / "dockerd.log").open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )
    host = f"unix://{socket_path}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                docker.APIClient(base_url=host, version="auto", timeout=5).version()
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        saved = docker.APIClient(version="auto").get_image("busybox:latest")
        docker.APIClient(base_url=host, version="auto", timeout=120).load_image(b"".join(saved))
        yield host, daemon
    finally:
        if daemon.poll() is None:
            daemon.terminate()
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()
        # Its own containerd and shims go with it.
        subprocess.run(["pkill", "-9", "-f", str(root)], check=False)
        time.sleep(1)
        for line in reversed(Path("/proc/mounts").read_text().splitlines()):
            mount_point = line.split()[1]
            if mount_point.startswith(str(root)):
                subprocess.run(["umount", "-l", mount_point], check=False)
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run(["ip", "netns", "delete", namespace], check=False)


def test_builds_go_to_both_engines_and_move_when_one_stops(
    drift: Drift, make_repo: MakeRepo, second_engine: tuple[str, subprocess.Popen[bytes]]
) -> None:
    host, daemon = second_engine
    pool = ["--docker-host", FIRST, "--docker-host", host]
    repo = make_repo("reproducible")
    for name in ("one", "two", "three", "four"):
        drift.track(name, repo)
    spread = drift(*pool, "run", "--jobs", "2", "--min-free", "0")
    assert spread.code == 0, spread.stdout + spread.stderr
    engines = {h for (h,) in drift.rows("select engine_host from builds")}
    assert engines == {FIRST, host}
    report = drift("report", "--format", "json").json()
    assert {t["latest"]["engine_host"] for t in report["targets"]} == {FIRST, host}  # the report says who built what

    slow = make_repo("build-date")
    (slow.path / "Dockerfile").write_text("FROM busybox:latest\nRUN sleep 6 && echo done > /done\n")
    slow.commit_all("slow builds")
    for name in ("slow-a", "slow-b"):
        # The legacy builder runs each step in a container: the test sees the build start on the second engine.
        drift.track(name, slow, "--builder", "legacy")
    env = {**os.environ, "DRIFT_DB": drift.db_url, "DRIFT_CACHE_DIR": str(drift.cache_dir)}
    run = subprocess.Popen(
        [sys.executable, "-m", "drift", *pool, "run", "slow-a", "slow-b", "--jobs", "2", "--min-free", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        time.sleep(0.3)
        rows = drift.rows(f"select engine_objects from builds where status = 'running' and engine_host = '{host}'")
        if rows and rows[0][0] and "container:" in rows[0][0]:
            break
    else:
        pytest.fail("no build started on the second engine")
    os.killpg(daemon.pid, signal.SIGKILL)  # the second engine stops mid-build
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, out + err
    assert "engine marked down" in err
    final = drift.rows(
        "select t.name, b.status, b.engine_host from builds b join targets t on t.id = b.target_id "
        "where t.name like 'slow-%' order by b.id"
    )
    succeeded = {(name, h) for name, status, h in final if status == "succeeded"}
    assert {name for name, _h in succeeded} == {"slow-a", "slow-b"}
    assert all(h == FIRST for _name, h in succeeded)  # the moved build finished on the engine still up
    assert any(status == "error" and h == host for _name, status, h in final)  # its attempt on the stopped one
