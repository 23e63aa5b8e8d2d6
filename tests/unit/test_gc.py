"""`drift gc` on a SQLite file: old builds go, and the file gives their space back and says how much."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

from drift.storage import builds, targets
from drift.storage.database import Database
from drift.values import EntryType, FileEntry, ImageRecord, LayerRecord, TargetSpec, Verdict

COMMIT = "c" * 40
UNITS = {"bytes": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}


def _sha(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _image(night: int) -> ImageRecord:
    """An image whose one layer has a manifest of its own (2,000 files): each night stores a new one."""
    entries = tuple(
        FileEntry(f"/var/cache/app/{night}/{i:05d}.bin", EntryType.FILE, 0o644, 0, 0, i, _sha(night, i), "")
        for i in range(2000)
    )
    content = "sha256:" + _sha("content", night)
    layer = LayerRecord(0, "sha256:" + _sha("diff", night), 1 << 20, "RUN make", content, entries)
    return ImageRecord("sha256:" + _sha("image", night), (layer,), {"Cmd": ["sh"]}, "sha256:" + _sha("config"))


def _bytes(size: str) -> float:
    number, unit = size.split()
    return float(number) * UNITS[unit]


def test_gc_shrinks_the_sqlite_file_and_says_by_how_much(tmp_path: Path) -> None:
    path = tmp_path / "drift.db"
    url = f"sqlite:///{path}"
    with Database(url).session() as session:
        targets.save_target(session, TargetSpec(name="nightly", repo="/src/nightly", commit=COMMIT))
        for night in range(12):
            build = builds.start_build(session, "nightly", "fp", COMMIT)
            verdict = Verdict.BASELINE if night == 0 else Verdict.NOISY
            builds.finish_build(session, build, status="succeeded", verdict=verdict, image=_image(night))

    gc = subprocess.run(
        [sys.executable, "-m", "drift", "--db", url, "gc", "--keep-days", "0"], capture_output=True, text=True
    )

    assert gc.returncode == 0, gc.stderr
    # Kept: the baseline, the first noisy build (a verdict change) and the latest; nine builds went.
    assert "removed 9 build(s), 9 layer content(s)" in gc.stdout
    match = re.search(r"reclaimed (\S+ \S+): the database went from (\S+ \S+) to (\S+ \S+) on disk", gc.stdout)
    assert match is not None, gc.stdout
    reclaimed, before, after = (_bytes(size) for size in match.groups())
    assert after < before / 2 and reclaimed > 0
    wal = tmp_path / "drift.db-wal"
    on_disk = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    assert abs(on_disk - after) <= after * 0.05  # the size it states is the database's, as rounded
    report = subprocess.run(
        [sys.executable, "-m", "drift", "--db", url, "history", "nightly", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert report.stdout.count('"build":') == 3
