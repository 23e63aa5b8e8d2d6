"""Workers sharing one database: content stored once under a race, owners that survive PID reuse, leases that
stop a build when lost, alerts a crashed sender left behind, and exports a killed run left in the temp dir."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import update

from drift import run as run_module
from drift.alerts.outbox import deliver_pending
from drift.process_owner import owner_alive, process_owner
from drift.source.git import EXPORT_PREFIX, RepositoryCache
from drift.storage import alerts, builds, history, leases, targets
from drift.storage.database import Database
from drift.storage.models import BuildRow, utcnow
from drift.values import EntryType, FileEntry, ImageRecord, LayerRecord, Package, TargetSpec, Verdict


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if request.param == "sqlite":
        return Database(f"sqlite:///{tmp_path / 'drift.db'}")
    return Database(str(request.getfixturevalue("postgres_url")))


def _image(marker: str) -> ImageRecord:
    entry = FileEntry("/app/x", EntryType.FILE, 0o644, 0, 0, 4, "a" * 64, "")
    layer = LayerRecord(0, "sha256:" + "1" * 64, 1024, "COPY x /app/x", f"sha256:{marker * 64}", (entry,))
    package = Package("deb", "curl", "7.88", "amd64", "pkg:deb/debian/curl@7.88?arch=amd64", "", 0)
    return ImageRecord("sha256:" + "2" * 64, (layer,), {"Cmd": ["sh"]}, "sha256:" + "3" * 64, packages=(package,))


def _target(db: Database, name: str = "t") -> None:
    with db.session() as session:
        targets.save_target(session, TargetSpec(name=name, repo="/r", commit="a" * 40))


def test_two_workers_storing_the_same_content_at_once_do_not_collide(postgres_url: str) -> None:
    """Worker A has stored a layer content and a package set but not committed; worker B stores the same.
    B waits for A's commit and then reuses A's rows: no IntegrityError, each content stored once."""
    db = Database(postgres_url)
    _target(db)
    with db.session() as session:
        first, second = (builds.start_build(session, "t", "fp", "a" * 40) for _ in range(2))
    errors: list[BaseException] = []
    a_stored = threading.Event()
    a_may_commit = threading.Event()

    def worker_a() -> None:
        try:
            with db.session() as session:
                builds.finish_build(session, first, status="succeeded", verdict=Verdict.BASELINE, image=_image("f"))
                a_stored.set()
                a_may_commit.wait(30)
        except BaseException as exc:
            errors.append(exc)

    def worker_b() -> None:
        try:
            with db.session() as session:
                builds.finish_build(
                    session, second, status="succeeded", verdict=Verdict.REPRODUCIBLE, image=_image("f")
                )
        except BaseException as exc:
            errors.append(exc)

    a = threading.Thread(target=worker_a)
    a.start()
    assert a_stored.wait(30)
    b = threading.Thread(target=worker_b)
    b.start()
    time.sleep(1.0)  # B is now blocked on A's uncommitted unique key
    a_may_commit.set()
    a.join(30)
    b.join(30)
    assert errors == []
    counts = {
        table: db.engine.connect().exec_driver_sql(f"select count(*) from {table}").scalar()
        for table in ("layer_contents", "layer_files", "package_sets", "packages", "build_layers")
    }
    assert counts == {"layer_contents": 1, "layer_files": 1, "package_sets": 1, "packages": 1, "build_layers": 2}


def test_an_owner_is_not_alive_just_because_its_pid_is() -> None:
    me = process_owner()
    host = socket.gethostname()
    assert owner_alive(me, me) is True
    # The same PID with another token: a process that died and whose PID came back (PID 1 in a container).
    assert owner_alive(f"{host}:{os.getpid()}:deadbeef", me) is None
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert owner_alive(f"{host}:{dead.pid}:cafe", me) is False
    assert owner_alive(f"elsewhere:{os.getpid()}:cafe", me) is None
    assert owner_alive(None, me) is False


def test_a_build_of_a_reused_pid_is_recovered_once_its_heartbeat_is_stale(db: Database) -> None:
    _target(db)
    host = socket.gethostname()
    me = process_owner()
    # Both builds claim this very PID, as every run does under `unshare --pid --fork` (PID 1).
    stale_owner, fresh_owner = f"{host}:{os.getpid()}:0000dead", f"{host}:{os.getpid()}:0000beef"
    with db.session() as session:
        stale = builds.start_build(session, "t", "fp", "a" * 40, owner=stale_owner)
        fresh = builds.start_build(session, "t", "fp", "a" * 40, owner=fresh_owner)
        mine = builds.start_build(session, "t", "fp", "a" * 40, owner=me)
    now = utcnow()
    with db.session() as session:
        session.execute(
            update(BuildRow).where(BuildRow.id.in_([stale, mine])).values(heartbeat_at=now - 4 * run_module.LEASE_TTL)
        )
    assert run_module.recover(db, None, now, me) == [stale]
    with db.session() as session:
        statuses = {b: history.get_build(session, b).status for b in (stale, fresh, mine)}
    assert statuses == {stale: "interrupted", fresh: "running", mine: "running"}


def test_a_lost_lease_stops_the_build_and_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(f"sqlite:///{tmp_path / 'drift.db'}")
    _target(db)
    monkeypatch.setattr(run_module, "LEASE_TTL", timedelta(seconds=1.5))
    with db.session() as session:
        assert leases.claim_lease(session, "t", "me", run_module.LEASE_TTL)
    heartbeat = run_module._Heartbeat(db, "t", "me", threading.Event())
    try:
        with db.session() as session:  # another worker takes the lease over (as after a long stall)
            leases.claim_lease(session, "t", "me", timedelta(seconds=-1))
            assert leases.claim_lease(session, "t", "other", timedelta(seconds=60))
        assert heartbeat.stop_build.wait(10)
        assert heartbeat.lost == "another worker took over its lease"
    finally:
        heartbeat.stop()


def test_a_lease_that_cannot_be_renewed_stops_the_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(f"sqlite:///{tmp_path / 'drift.db'}")
    _target(db)
    monkeypatch.setattr(run_module, "LEASE_TTL", timedelta(seconds=1.5))

    def database_away(*_args: object, **_kwargs: object) -> bool:
        raise ConnectionError("the database server went away")

    monkeypatch.setattr(leases, "renew_lease", database_away)
    heartbeat = run_module._Heartbeat(db, "t", "me", threading.Event())
    try:
        assert heartbeat.stop_build.wait(10)
        assert heartbeat.lost is not None and "could not be renewed" in heartbeat.lost
        assert "went away" in heartbeat.lost
    finally:
        heartbeat.stop()


def test_an_alert_left_sending_by_a_dead_process_is_sent_by_the_next_run(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'drift.db'}")
    _target(db)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    receiver = HTTPServer(host="127.0.0.1", port=port)
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    receiver.start()
    try:
        route = f"json://127.0.0.1:{port}/hook"
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        with db.session() as session:
            build = builds.start_build(session, "t", "fp", "a" * 40)
            builds.finish_build(session, build, status="failed", verdict=Verdict.BROKEN, error="x")
            assert alerts.enqueue_alert(session, build, "broken", route, "t broken", "body")
            assert not alerts.enqueue_alert(session, build, "broken", route, "t broken", "body")  # once
            [alert] = alerts.list_alerts(session)
            assert alerts.claim_alert(session, alert.id, f"{socket.gethostname()}:{dead.pid}:0")
        # A live sender's claim is left alone.
        delivery = deliver_pending(db, owner=process_owner())
        assert delivery.sent == 1 and len(receiver.log) == 1
        with db.session() as session:
            assert [a.status for a in alerts.list_alerts(session)] == ["sent"]
    finally:
        receiver.clear()
        receiver.stop()


def test_an_alert_claimed_by_a_live_sender_is_not_sent_twice(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'drift.db'}")
    _target(db)
    with db.session() as session:
        build = builds.start_build(session, "t", "fp", "a" * 40)
        builds.finish_build(session, build, status="failed", verdict=Verdict.BROKEN, error="x")
        alerts.enqueue_alert(session, build, "broken", "json://127.0.0.1:9/hook", "t broken", "body")
        [alert] = alerts.list_alerts(session)
        sender = process_owner()
        assert alerts.claim_alert(session, alert.id, sender)
    assert deliver_pending(db, owner=process_owner()).sent == 0
    with db.session() as session:
        assert [a.status for a in alerts.list_alerts(session)] == ["sending"]
    # Past any send's time limit, the claim is taken over.
    later = datetime.now(UTC) + timedelta(hours=1)
    from drift.alerts.outbox import reclaim_abandoned

    assert reclaim_abandoned(db, process_owner(), later) == 1


def test_exports_of_a_killed_run_are_removed_by_the_next(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    temp = Path(tempfile.gettempdir())
    stale = temp / f"{EXPORT_PREFIX}{dead.pid}-abc"
    live = temp / f"{EXPORT_PREFIX}{os.getpid()}-abc"
    ancient = temp / f"{EXPORT_PREFIX}zz-old"
    for directory in (stale, live, ancient):
        (directory / "src").mkdir(parents=True, exist_ok=True)
        (directory / "src" / "Dockerfile").write_text("FROM scratch\n")
    week_ago = time.time() - 8 * 86400
    os.utime(ancient, (week_ago, week_ago))
    try:
        assert RepositoryCache.remove_stale_exports() >= 2
        assert not stale.exists() and not ancient.exists()
        assert live.exists()
    finally:
        for directory in (stale, live, ancient):
            subprocess.run(["rm", "-rf", str(directory)], check=False)


def test_an_alert_the_receiver_refuses_waits_and_is_retried_after_its_backoff(tmp_path: Path) -> None:
    from drift.alerts.outbox import deliver_pending, queue_alerts

    db = Database(f"sqlite:///{tmp_path / 'drift.db'}")
    _target(db)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here yet: the receiver is down
    with db.session() as session:
        first = builds.start_build(session, "t", "fp", "a" * 40)
        builds.finish_build(session, first, status="succeeded", verdict=Verdict.BASELINE, image=_image("1"))
        second = builds.start_build(session, "t", "fp", "a" * 40)
        builds.finish_build(session, second, status="failed", verdict=Verdict.BROKEN, error="gone")
        targets.save_target(
            session, TargetSpec(name="t", repo="/r", commit="a" * 40, alerts=(f"json://127.0.0.1:{port}/hook",))
        )
    assert queue_alerts(db, [second]) == 1
    assert queue_alerts(db, [second]) == 0  # queued once, however often asked
    failed = deliver_pending(db, respect_backoff=True, owner=process_owner())
    assert failed.sent == 0 and failed.failed and "retried next run" in failed.failed[0]
    with db.session() as session:
        [alert] = alerts.list_alerts(session)
    assert (alert.status, alert.attempts) == ("pending", 1) and alert.last_error
    # Within its backoff a scheduler leaves it alone; the receiver comes back and the next try delivers it.
    assert deliver_pending(db, respect_backoff=True, owner=process_owner()).failed == ()
    receiver = HTTPServer(host="127.0.0.1", port=port)
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    receiver.start()
    try:
        assert deliver_pending(db, owner=process_owner()).sent == 1
        assert "drift: t is broken (build 2)" in receiver.log[0][0].get_data(as_text=True)
    finally:
        receiver.clear()
        receiver.stop()
