"""Benchmark: drift's peak memory checking an image of very many small files, two nights running.

Generates a `docker save` stream (legacy layout) of one layer holding --files
small files, as a stream: nothing is written to disk and the generator holds
one file's bytes at a time. The layer's tar is produced twice, once to learn
its digest (the config, which names it, comes after the layer in the stream,
as `docker save` writes it) and once to stream it.

In a process of its own, what `drift run` does with a built image, without the
engine: night 1 reads the stream (with the package catalogers) and records it
in a new SQLite database (with --postgres, a new database on that server)
as the baseline; night 2 reads the image again, one file changed, compares
it with the baseline read back from the database, and records it with its
finding (its layer stored as a delta). The peak RSS of the whole is printed
beside the target.

    python benchmarks/memory.py [--files 1000000] [--postgres postgresql://drift@host/postgres]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

from storage import drop_postgres_database, new_postgres_database

ROOT = Path(__file__).resolve().parent.parent
TARGET_MB = 150.0
PER_DIRECTORY = 1000

MEASURE = r"""
import json, resource, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from memory import saved_stream
from drift.catalog import default_catalogers
from drift.compare.diff import compare_images
from drift.compare.ignore import IgnoreRules
from drift.image import read_saved_image
from drift.storage import builds, images, targets
from drift.storage.database import Database
from drift.values import TargetSpec, Verdict

files = int(sys.argv[1])
seconds = {}
with tempfile.TemporaryDirectory() as directory:
    db = Database(sys.argv[3] if len(sys.argv) > 3 else f"sqlite:///{Path(directory) / 'drift.db'}")
    with db.session() as session:
        targets.save_target(session, TargetSpec(name="many", repo="/r", commit="a" * 40))
    for night in (1, 2):
        start = time.perf_counter()
        record = read_saved_image(saved_stream(files, night), default_catalogers())
        seconds[f"night {night}: read"] = time.perf_counter() - start
        start = time.perf_counter()
        with db.session() as session:
            build = builds.start_build(session, "many", "fp", "a" * 40)
            findings = []
            baseline = None
            if night == 2:
                baseline = build - 1
                findings = compare_images(images.load_image(session, baseline), record, IgnoreRules.for_target())
            verdict = Verdict.BASELINE if night == 1 else Verdict.DRIFTED
            builds.finish_build(
                session, build, status="succeeded", verdict=verdict, image=record, compared_to=baseline,
                findings=findings,
            )
        seconds[f"night {night}: compare and store"] = time.perf_counter() - start
    entries = sum(len(layer.entries) for layer in record.layers)
print(json.dumps({
    "seconds": seconds,
    "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "entries": entries,
    "findings": [f"{f.change} {f.subject}" for f in findings],
}))
"""


def _header(name: str, size: int, directory: bool = False) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o755 if directory else 0o644
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mtime = 1_700_000_000
    return info.tobuf(format=tarfile.GNU_FORMAT)


def _padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 512)


def layer_blocks(files: int, night: int = 1) -> Iterator[bytes]:
    """The layer tar, a file at a time: /srv/data/dNNNN/ directories of PER_DIRECTORY small files each;
    the first file says which night it is."""
    yield _header("srv/", 0, True) + _header("srv/data/", 0, True)
    for index in range(files):
        if index % PER_DIRECTORY == 0:
            yield _header(f"srv/data/d{index // PER_DIRECTORY:05d}/", 0, True)
        content = f"file {index}{f' night {night}' if index == 0 else ''}\n".encode()
        yield _header(f"srv/data/d{index // PER_DIRECTORY:05d}/f{index:07d}.txt", len(content)) + _padded(content)
    yield b"\0" * 1024


def saved_stream(files: int, night: int = 1) -> Iterator[bytes]:
    """A `docker save` stream of one image whose one layer holds `files` small files."""
    digest, size = hashlib.sha256(), 0
    for block in layer_blocks(files, night):
        digest.update(block)
        size += len(block)
    diff_id = "sha256:" + digest.hexdigest()
    layer_name = f"{diff_id[7:]}/layer.tar"
    yield _header(layer_name, size)
    pending = b""
    for block in layer_blocks(files, night):
        pending += block
        if len(pending) >= 1 << 16:
            yield pending
            pending = b""
    yield pending  # the blocks are whole 512-byte records: the member needs no padding
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created_by": "/bin/sh -c #(nop) ADD dir:data in /srv"}],
        }
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": None, "Layers": [layer_name]}]).encode()
    tail = io.BytesIO()
    for name, data in ((config_name, config), ("manifest.json", manifest)):
        tail.write(_header(name, len(data)) + _padded(data))
    tail.write(b"\0" * 1024)
    yield tail.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--postgres", help="a PostgreSQL server URL: the nights go to a new database there")
    options = parser.parse_args()
    started = time.perf_counter()
    db_url = [new_postgres_database(options.postgres)] if options.postgres else []
    try:
        result = subprocess.run(
            [sys.executable, "-c", MEASURE, str(options.files), str(Path(__file__).parent.resolve()), *db_url],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
    finally:
        if options.postgres and db_url:
            drop_postgres_database(options.postgres, db_url[0])
    if result.returncode != 0:
        print(result.stderr, file=sys.stderr)
        return 2
    measured = json.loads(result.stdout)
    peak_mb = measured["max_rss_kb"] / 1024
    verdict = "ok" if peak_mb < TARGET_MB else "OVER"
    where = "PostgreSQL" if options.postgres else "SQLite"
    entries = measured["entries"]
    print(f"{where}: image of {options.files:,} small files, {entries:,} manifest entries, generated as a stream")
    for phase, seconds in measured["seconds"].items():
        print(f"{phase}: {seconds:.1f} s")
    findings = ", ".join(measured["findings"]) or "none"
    print(f"night 2's findings: {findings} ({time.perf_counter() - started:.1f} s in all)")
    print(f"peak RSS: {peak_mb:.0f} MB (target < {TARGET_MB:.0f} MB whatever the number of files): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
