"""Layer manifests stored as deltas: a noisy layer's nightly manifest adds the rows that differ, reads back
whole and exact, and garbage collection keeps a base as long as a delta needs it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from drift.storage import builds, garbage, history, images, targets
from drift.storage.database import Database
from drift.values import EntryType, FileEntry, ImageRecord, LayerRecord, TargetSpec, Verdict

FILES = 400


def _file(path: str, content: str, mode: int = 0o644) -> FileEntry:
    digest = hashlib.sha256(content.encode()).hexdigest()
    return FileEntry(path, EntryType.FILE, mode, 0, 0, len(content), digest, "")


def _layer(entries: list[FileEntry], index: int = 1) -> LayerRecord:
    material = "".join(f"{e.path}{e.type.value}{e.sha256}{e.mode}" for e in entries)
    digest = "sha256:" + hashlib.sha256(material.encode()).hexdigest()
    return LayerRecord(
        index,
        "sha256:" + hashlib.sha256(digest.encode()).hexdigest(),
        1,
        "RUN apt-get",
        digest,
        tuple(sorted(entries, key=lambda e: (e.path, e.type.value))),
    )


def _night(log: str, extra: dict[str, str] | None = None, gone: int | None = None) -> ImageRecord:
    """A base layer and an apt layer: FILES packages' files, and a log that differs every night."""
    apt = [_file(f"/usr/share/doc/pkg{i}/copyright", f"package {i}") for i in range(FILES) if i != gone]
    apt += [_file("/var/log/apt/history.log", log), FileEntry("/var/cache/apt", EntryType.DIR, 0o755, 0, 0, 0, "", "")]
    apt += [_file(path, text) for path, text in (extra or {}).items()]
    apt.append(FileEntry("/etc/old.conf", EntryType.WHITEOUT, 0, 0, 0, 0, "", ""))
    base = _layer([_file("/bin/sh", "busybox")], index=0)
    return ImageRecord("sha256:" + "2" * 64, (base, _layer(apt)), {"config": {"Cmd": ["sh"]}}, "sha256:" + "3" * 64)


def _record(db: Database, image: ImageRecord, started: datetime | None = None) -> int:
    with db.session() as session:
        build = builds.start_build(session, "apt", "fp", "a" * 40)
        builds.finish_build(session, build, status="succeeded", verdict=Verdict.REPRODUCIBLE, image=image)
        if started is not None:
            session.execute(text("update builds set started_at = :at where id = :id"), {"at": started, "id": build})
    return build


def _rows(db: Database, query: str) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(text(query)).scalar() or 0)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'drift.db'}")
    with database.session() as session:
        targets.save_target(session, TargetSpec(name="apt", repo="/r", commit="a" * 40))
    return database


def test_a_noisy_nights_manifest_adds_only_what_differs_and_reads_back_exact(db: Database) -> None:
    first = _night("installed at 03:00")
    _record(db, first)
    full_rows = _rows(db, "select count(*) from layer_files")
    assert full_rows == 1 + FILES + 3  # both layers whole

    # Tonight: the log differs, a file more, a package's file gone, one file's mode changed.
    second = _night("installed at 03:01", extra={"/var/lib/apt/new": "x"}, gone=7)
    second_apt = list(second.layers[1].entries)
    second_apt[3] = FileEntry(
        second_apt[3].path, EntryType.FILE, 0o600, 0, 0, second_apt[3].size, second_apt[3].sha256, ""
    )
    second = ImageRecord(second.image_id, (second.layers[0], _layer(second_apt)), second.config, second.config_digest)
    build = _record(db, second)
    assert _rows(db, "select count(*) from layer_files") - full_rows == 4  # log, new file, mode, one gone
    assert _rows(db, "select count(*) from layer_contents where base_id is not null") == 1
    with db.session() as session:
        loaded = images.load_image(session, build)
    assert loaded.layers == second.layers

    # A third night is a delta of the same full manifest, not of the second night's delta.
    third = _night("installed at 03:02")
    build = _record(db, third)
    with db.session() as session:
        assert images.load_image(session, build).layers == third.layers
    assert _rows(db, "select count(*) from layer_contents where base_id is not null") == 2
    assert _rows(db, "select count(distinct base_id) from layer_contents where base_id is not null") == 1


def test_a_layer_that_changed_in_more_than_half_its_entries_is_stored_whole(db: Database) -> None:
    _record(db, _night("one"))
    rewritten = [_file(f"/usr/share/doc/pkg{i}/copyright", f"rebuilt {i}") for i in range(FILES)]
    image = _night("two")
    changed = ImageRecord(image.image_id, (image.layers[0], _layer(rewritten)), image.config, image.config_digest)
    build = _record(db, changed)
    assert _rows(db, "select count(*) from layer_contents where base_id is not null") == 0
    with db.session() as session:
        assert images.load_image(session, build).layers == changed.layers


def test_garbage_collection_keeps_a_base_while_a_kept_delta_needs_it(db: Database) -> None:
    first = _record(db, _night("one"))
    second = _record(db, _night("two"))
    last = _record(db, _night("three"))
    with db.session() as session:
        for build in (first, second):  # the build that stored the full manifest goes, and the one after it
            history.delete_build(session, build)
        collected = garbage.collect_garbage(session, datetime.now(UTC))
    assert collected.layer_contents == 1  # the second night's delta; the full manifest is the last's base
    with db.session() as session:
        assert images.load_image(session, last).layers == _night("three").layers  # its base stayed
        history.delete_build(session, last)
        garbage.collect_garbage(session, datetime.now(UTC))
    assert _rows(db, "select count(*) from layer_contents") == 0  # then the delta, then its base
    assert _rows(db, "select count(*) from layer_files") == 0
