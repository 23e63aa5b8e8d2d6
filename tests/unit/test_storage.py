"""The schema: migrations and models agree; a real SQLite file in WAL mode; manifests shared across builds."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from drift.errors import StorageError, UsageError
from drift.storage import builds, history, images, leases, targets
from drift.storage.database import HEAD_REVISION, Database, _alembic_config
from drift.storage.models import Base
from drift.values import EntryType, FileEntry, ImageRecord, LayerRecord, TargetSpec, Verdict


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same tests on a SQLite file and on a real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'drift.db'}"
    return str(request.getfixturevalue("postgres_url"))


def test_migrations_create_exactly_the_models(database_url: str) -> None:
    db = Database(database_url)
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    assert db.current_revision() == db.head_revision()


def test_the_revision_drift_opens_databases_at_is_the_newest_migration(tmp_path: Path) -> None:
    """Opening a database compares it with HEAD_REVISION alone: a new migration must move it too."""
    assert Database(f"sqlite:///{tmp_path / 'drift.db'}", upgrade=False).head_revision() == HEAD_REVISION


def test_an_older_database_is_migrated_and_a_newer_one_refused_untouched(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'drift.db'}"
    command.upgrade(_alembic_config(Database(url, upgrade=False).engine), "0009")
    assert Database(url).current_revision() == HEAD_REVISION
    with Database(url).engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    with pytest.raises(StorageError, match=r"written by a newer drift \(schema revision 0999; this drift knows up to"):
        Database(url)
    assert Database(url, upgrade=False).current_revision() == "0999"


def test_sqlite_file_is_created_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "drift.db"
    db = Database(f"sqlite:///{path}")
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 30_000
    assert path.exists()


def test_upgrade_is_idempotent(database_url: str) -> None:
    url = database_url
    assert Database(url, upgrade=False).upgrade() is True
    assert Database(url, upgrade=False).upgrade() is False


def _image(content: bytes) -> ImageRecord:
    entry = FileEntry("/app/x", EntryType.FILE, 0o644, 0, 0, len(content), content.hex().ljust(64, "0"), "")
    layer = LayerRecord(
        0, "sha256:" + "1" * 64, 1024, "COPY x /app/x", "sha256:" + content.hex().ljust(64, "0"), (entry,)
    )
    return ImageRecord("sha256:" + "2" * 64, (layer,), {"Cmd": ["sh"]}, "sha256:" + "3" * 64)


def test_layer_contents_and_manifests_are_stored_once(database_url: str) -> None:
    db = Database(database_url)
    with db.session() as session:
        targets.save_target(session, TargetSpec(name="t", repo="/r", commit="a" * 40))
        for _ in range(3):
            build = builds.start_build(session, "t", "fp", "a" * 40)
            builds.finish_build(session, build, status="succeeded", verdict=Verdict.REPRODUCIBLE, image=_image(b"same"))
    with db.engine.connect() as connection:
        assert connection.execute(text("select count(*) from layer_contents")).scalar() == 1
        assert connection.execute(text("select count(*) from layer_files")).scalar() == 1
        assert connection.execute(text("select count(*) from build_layers")).scalar() == 3
    with db.session() as session:
        loaded = images.load_image(session, build)
    assert loaded.layers[0].entries == _image(b"same").layers[0].entries


def test_a_lease_is_held_by_one_owner_until_it_expires(database_url: str) -> None:
    db = Database(database_url)
    with db.session() as session:
        targets.save_target(session, TargetSpec(name="t", repo="/r", commit="a" * 40))
    with db.session() as session:
        assert leases.claim_lease(session, "t", "worker-a", timedelta(seconds=60))
    with db.session() as session:
        assert not leases.claim_lease(session, "t", "worker-b", timedelta(seconds=60))
        assert leases.lease_holder(session, "t") == "worker-a"
    with db.session() as session:
        assert leases.claim_lease(session, "t", "worker-a", timedelta(seconds=60))  # renewing is fine
    with db.session() as session:
        leases.claim_lease(session, "t", "worker-a", timedelta(seconds=-1))  # let it lapse
    with db.session() as session:
        assert leases.claim_lease(session, "t", "worker-b", timedelta(seconds=60))
    with db.session() as session:
        leases.release_lease(session, "t", "worker-b")
        assert leases.lease_holder(session, "t") is None


def test_history_moves_from_sqlite_to_postgresql(tmp_path: Path, postgres_url: str) -> None:
    from drift.storage.transfer import copy_history

    source = Database(f"sqlite:///{tmp_path / 'drift.db'}")
    with source.session() as session:
        targets.save_target(session, TargetSpec(name="t", repo="/r", commit="a" * 40))
        for _ in range(3):
            build = builds.start_build(session, "t", "fp", "a" * 40)
            builds.finish_build(session, build, status="succeeded", verdict=Verdict.REPRODUCIBLE, image=_image(b"same"))
    destination = Database(postgres_url)
    counts = copy_history(source, destination)
    assert counts["builds"] == 3 and counts["layer_files"] == 1
    with destination.session() as session:
        assert [b.id for b in history.target_history(session, "t")] == [3, 2, 1]
        # New rows continue after the copied ids.
        assert builds.start_build(session, "t", "fp", "a" * 40) == 4
    with pytest.raises(UsageError, match="already holds drift data"):
        copy_history(source, destination)


def test_revision_0009_moves_normalized_digests_out_of_link_target_and_leaves_the_new_columns_unrecorded(
    database_url: str,
) -> None:
    db = Database(database_url, upgrade=False)
    command.upgrade(_alembic_config(db.engine), "0008")
    normalized = "ab" * 32
    with db.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO layer_contents (id, normalized_digest, file_count, content_size) VALUES (1, 'd', 3, 9)")
        )
        for number, (path, kind, link) in enumerate(
            [
                ("/etc/shadow", "file", "normalized-sha256:" + normalized),
                ("/etc/passwd", "file", ""),
                ("/bin/sh", "symlink", "busybox"),
            ]
        ):
            connection.execute(
                text(
                    "INSERT INTO layer_files (id, content_id, path, type, mode, uid, gid, size, sha256, link_target) "
                    "VALUES (:id, 1, :path, :type, 420, 0, 0, 3, '', :link)"
                ),
                {"id": number + 1, "path": path, "type": kind, "link": link},
            )
    assert db.upgrade() is True
    with db.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT path, link_target, normalized_sha256, xattrs, device FROM layer_files ORDER BY id")
        ).all()
    assert [tuple(row) for row in rows] == [
        ("/etc/shadow", "", normalized, None, None),
        ("/etc/passwd", "", None, None, None),
        ("/bin/sh", "busybox", None, None, None),
    ]


def test_xattrs_devices_and_normalized_digests_are_stored_and_read_back(database_url: str) -> None:
    db = Database(database_url)
    entries = (
        FileEntry("/bin/ping", EntryType.FILE, 0o755, 0, 0, 4, "a" * 64, "", xattrs="security.capability=" + "c" * 64),
        FileEntry("/dev/null", EntryType.CHAR, 0o666, 0, 0, 0, "", "", device="1:3"),
        FileEntry("/etc/shadow", EntryType.FILE, 0o640, 0, 42, 9, "b" * 64, "", normalized_sha256="d" * 64),
    )
    layer = LayerRecord(0, "sha256:" + "1" * 64, 2048, "RUN setcap", "sha256:" + "e" * 64, entries)
    with db.session() as session:
        targets.save_target(session, TargetSpec(name="t", repo="/r", commit="a" * 40))
        build = builds.start_build(session, "t", "fp", "a" * 40)
        image = ImageRecord("sha256:" + "2" * 64, (layer,), {}, "sha256:" + "3" * 64)
        builds.finish_build(session, build, status="succeeded", verdict=Verdict.BASELINE, image=image)
    with db.session() as session:
        assert images.load_image(session, build).layers[0].entries == entries


def test_a_manifest_stored_before_0009_is_marked_recorded_once_a_layer_with_its_digest_is_read(
    database_url: str,
) -> None:
    db = Database(database_url)
    entry = FileEntry("/bin/ping", EntryType.FILE, 0o755, 0, 0, 4, "a" * 64, "")
    layer = LayerRecord(0, "sha256:" + "1" * 64, 2048, "RUN make", "sha256:" + "e" * 64, (entry,))

    def store(entries: tuple[FileEntry, ...]) -> int:
        with db.session() as session:
            build = builds.start_build(session, "t", "fp", "a" * 40)
            image = ImageRecord("sha256:" + "2" * 64, (replace(layer, entries=entries),), {}, "sha256:" + "3" * 64)
            builds.finish_build(session, build, status="succeeded", verdict=Verdict.REPRODUCIBLE, image=image)
            return build

    with db.session() as session:
        targets.save_target(session, TargetSpec(name="t", repo="/r", commit="a" * 40))
    old = store((replace(entry, xattrs=None, device=None),))  # what revision 0009 leaves of an older row
    with db.session() as session:
        (stored,) = images.load_image(session, old).layers[0].entries
        assert stored.xattrs is None
    store((entry,))  # the same digest, read by this release: no xattrs, no devices
    with db.session() as session:
        (read_back,) = images.load_image(session, old).layers[0].entries
    assert (read_back.xattrs, read_back.device) == ("", "")
