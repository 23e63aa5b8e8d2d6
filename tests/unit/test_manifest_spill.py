"""Manifests past drift.manifest.SPILL_AT entries: spooled to a temporary file while a layer is read, walked
side by side when compared and stored, read back from the database in batches; the same manifests,
digests, findings and stored rows as when they were held in memory."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Collection, Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session
from test_image_layer_tar import Member, make_tar

import drift.manifest
from drift.compare.diff import compare_images
from drift.compare.ignore import IgnoreRules
from drift.image import read_layer_tar
from drift.image.normalize import normalized_digest
from drift.manifest import SpooledManifest, apply_delta, by_path, entry_sort_key
from drift.storage import builds, images, targets
from drift.storage.database import Database
from drift.storage.models import BuildLayerRow, LayerContentRow
from drift.values import EntryType, FileEntry, ImageRecord, LayerRecord, TargetSpec, Verdict


def _members(night: int = 0) -> list[Member]:
    """A layer with what makes a manifest tricky, listed out of order: a path listed twice, a directory made
    opaque, whiteouts, a hard-linked pair whose later name sorts first, a symlink beside an opaque marker."""
    members = [Member(f"srv/data/f{i:03d}.txt", f"file {i}\n".encode()) for i in range(60, 0, -1)]
    members += [
        Member("srv/log.txt", f"night {night}\n".encode()),
        Member("srv/twice", b"first"),
        Member("srv/data/", type=tarfile.DIRTYPE, mode=0o755),
        Member("srv/data/.wh..wh..opq"),
        Member("srv/.wh.gone"),
        Member("srv/z-inode", b"shared"),
        Member("srv/a-link", type=tarfile.LNKTYPE, linkname="srv/z-inode"),
        Member("srv/twice", b"second"),
        Member("srv/sym", type=tarfile.SYMTYPE, linkname="data"),
        Member("srv/sym/.wh..wh..opq"),
    ]
    return members


@pytest.fixture
def spill_at_7(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drift.manifest, "SPILL_AT", 7)


def _read(data: bytes) -> tuple[Collection[FileEntry], str]:
    manifest, _diff_id, _size = read_layer_tar(io.BytesIO(data))
    return manifest, normalized_digest(manifest, in_order=True)


def test_a_spilled_manifest_is_the_one_held_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_tar(*_members())
    held, held_digest = _read(data)
    monkeypatch.setattr(drift.manifest, "SPILL_AT", 7)
    spooled, spooled_digest = _read(data)
    assert isinstance(held, tuple) and isinstance(spooled, SpooledManifest)
    assert spooled == held and len(spooled) == len(held) == 69
    assert list(spooled) == list(spooled)  # read again: the same
    assert spooled_digest == held_digest == normalized_digest(held)
    by_key = {(e.path, e.type): e for e in spooled}
    assert by_key[("/srv/twice", EntryType.FILE)].sha256 == hashlib.sha256(b"second").hexdigest()
    # The hard-linked pair in canonical form: the smaller name is the file.
    assert by_key[("/srv/a-link", EntryType.FILE)].sha256 == hashlib.sha256(b"shared").hexdigest()
    assert by_key[("/srv/z-inode", EntryType.HARDLINK)].link_target == "/srv/a-link"
    assert [e.type for e in spooled if e.path == "/srv/sym"] == [EntryType.OPAQUE, EntryType.SYMLINK]


def test_comparing_spilled_manifests_finds_what_comparing_held_ones_does(monkeypatch: pytest.MonkeyPatch) -> None:
    before, after = make_tar(*_members(1)), make_tar(*_members(2)[1:], Member("srv/new", b"n"))

    def findings() -> list[tuple[str, str, str, str]]:
        old, new = (_image(*_read(data)) for data in (before, after))
        return [(f.subject, f.change, f.before, f.after) for f in compare_images(old, new, IgnoreRules.for_target())]

    held = findings()
    monkeypatch.setattr(drift.manifest, "SPILL_AT", 7)
    assert findings() == held
    assert [subject for subject, *_ in held] == ["/srv/data/f060.txt", "/srv/log.txt", "/srv/new"]


def _image(manifest: Collection[FileEntry], digest: str) -> ImageRecord:
    layer = LayerRecord(0, "sha256:" + digest[7:], 1, "RUN make", digest, manifest)
    return ImageRecord("sha256:" + "1" * 64, (layer,), {"config": {}}, "sha256:" + "2" * 64)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """A SQLite file, or a new database on a real PostgreSQL server (read back with a server-side cursor)."""
    if request.param == "sqlite":
        return Database(f"sqlite:///{tmp_path / 'drift.db'}")
    return Database(str(request.getfixturevalue("postgres_url")))


def test_a_spilled_manifest_is_stored_and_read_back_whole_and_as_a_delta(any_db: Database, spill_at_7: None) -> None:
    db = any_db
    with db.session() as session:
        targets.save_target(session, TargetSpec(name="t", repo="/r", commit="a" * 40))
    stored = []
    for night in (1, 2):
        image = _image(*_read(make_tar(*_members(night))))
        with db.session() as session:
            build = builds.start_build(session, "t", "fp", "a" * 40)
            builds.finish_build(session, build, status="succeeded", verdict=Verdict.REPRODUCIBLE, image=image)
        with db.session() as session:
            (layer,) = images.load_image(session, build).layers
            assert layer.entries == image.layers[0].entries
            assert normalized_digest(layer.entries, in_order=True) == layer.normalized_digest
            stored.append(session.get_one(LayerContentRow, _content_id(session, build)))
    first, second = stored
    assert (first.base_id, second.base_id) == (None, first.id)  # night 2: only the log differs
    assert (first.file_count, second.file_count) == (69, 69)


def _content_id(session: Session, build: int) -> int:
    return session.scalars(select(BuildLayerRow.content_id).where(BuildLayerRow.build_id == build)).one()


def test_a_delta_over_the_cap_is_stored_whole(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "MAX_DELTA", 2)
    with db.session() as session:
        targets.save_target(session, TargetSpec(name="t", repo="/r", commit="a" * 40))
    contents = []
    for night in (1, 2):
        members = _members(night)
        if night == 2:
            members += [Member(f"srv/more{i}", b"m") for i in range(3)]
        image = _image(*_read(make_tar(*members)))
        with db.session() as session:
            build = builds.start_build(session, "t", "fp", "a" * 40)
            builds.finish_build(session, build, status="succeeded", verdict=Verdict.REPRODUCIBLE, image=image)
            contents.append(session.get_one(LayerContentRow, _content_id(session, build)))
            (layer,) = images.load_image(session, build).layers
            assert layer.entries == image.layers[0].entries
    assert contents[1].base_id is None  # 4 rows of delta, over the cap of 2


def test_a_check_reads_no_file_rows_of_the_baselines_layers_that_match(db: Database) -> None:
    image = _image(*_read(make_tar(*_members())))
    with db.session() as session:
        targets.save_target(session, TargetSpec(name="t", repo="/r", commit="a" * 40))
        build = builds.start_build(session, "t", "fp", "a" * 40)
        builds.finish_build(session, build, status="succeeded", verdict=Verdict.BASELINE, image=image)
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        with db.session() as session:
            baseline = images.load_image(session, build)
            assert compare_images(baseline, image, IgnoreRules.for_target()) == []
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert statements and not [s for s in statements if "FROM layer_files" in s]


def _entry(path: str, kind: EntryType, link: str = "") -> FileEntry:
    return FileEntry(path, kind, 0o755, 0, 0, 0, "", link)


def test_a_delta_that_changes_an_entrys_type_keeps_manifest_order() -> None:
    # "/x": symlink + opaque (opaque sorts first); the delta turns the symlink into a directory (sorts first).
    base = [_entry("/a", EntryType.DIR), _entry("/x", EntryType.OPAQUE), _entry("/x", EntryType.SYMLINK, "y")]
    changed = [_entry("/x", EntryType.DIR), _entry("/b", EntryType.DIR), _entry("/z", EntryType.DIR)]
    applied = list(apply_delta(base, changed, {("/a", "")}))
    assert applied == sorted(applied, key=entry_sort_key)
    assert [(e.path, e.type.value) for e in applied] == [("/b", "dir"), ("/x", "dir"), ("/x", "opaque"), ("/z", "dir")]


def test_by_path_pairs_every_path_of_either_side() -> None:
    def entries(*paths: str) -> Iterator[FileEntry]:
        return (_entry(path, EntryType.DIR) for path in paths)

    pairs = [(path, len(old), len(new)) for path, old, new in by_path(entries("/a", "/c", "/d"), entries("/b", "/c"))]
    assert pairs == [("/a", 1, 0), ("/b", 0, 1), ("/c", 1, 1), ("/d", 1, 0)]
