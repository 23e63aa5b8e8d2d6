"""Benchmark: drift's peak memory reading an image of very many small files.

Generates a `docker save` stream (legacy layout) of one layer holding --files
small files, as a stream: nothing is written to disk and the generator holds
one file's bytes at a time. The layer's tar is produced twice, once to learn
its digest (the config, which names it, comes after the layer in the stream,
as `docker save` writes it) and once to stream it. The reader (drift.image,
with the package catalogers) runs in its own process; its peak RSS is printed
beside the target.

    python benchmarks/memory.py [--files 1000000]
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

ROOT = Path(__file__).resolve().parent.parent
TARGET_MB = 150.0
PER_DIRECTORY = 1000

MEASURE = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[2])
from memory import saved_stream
from drift.catalog import default_catalogers
from drift.image import read_saved_image
start = time.perf_counter()
record = read_saved_image(saved_stream(int(sys.argv[1])), default_catalogers())
print(json.dumps({
    "seconds": time.perf_counter() - start,
    "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "entries": sum(len(layer.entries) for layer in record.layers),
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


def layer_blocks(files: int) -> Iterator[bytes]:
    """The layer tar, a file at a time: /srv/data/dNNNN/ directories of PER_DIRECTORY small files each."""
    yield _header("srv/", 0, True) + _header("srv/data/", 0, True)
    for index in range(files):
        if index % PER_DIRECTORY == 0:
            yield _header(f"srv/data/d{index // PER_DIRECTORY:05d}/", 0, True)
        content = f"file {index}\n".encode()
        yield _header(f"srv/data/d{index // PER_DIRECTORY:05d}/f{index:07d}.txt", len(content)) + _padded(content)
    yield b"\0" * 1024


def saved_stream(files: int) -> Iterator[bytes]:
    """A `docker save` stream of one image whose one layer holds `files` small files."""
    digest, size = hashlib.sha256(), 0
    for block in layer_blocks(files):
        digest.update(block)
        size += len(block)
    diff_id = "sha256:" + digest.hexdigest()
    layer_name = f"{diff_id[7:]}/layer.tar"
    yield _header(layer_name, size)
    pending = b""
    for block in layer_blocks(files):
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
    options = parser.parse_args()
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(options.files), str(Path(__file__).resolve().parent)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if result.returncode != 0:
        print(result.stderr, file=sys.stderr)
        return 2
    measured = json.loads(result.stdout)
    peak_mb = measured["max_rss_kb"] / 1024
    verdict = "ok" if peak_mb < TARGET_MB else "OVER"
    print(f"image of {options.files:,} small files, {measured['entries']:,} manifest entries, generated as a stream")
    print(f"read + catalogers: {measured['seconds']:.1f} s ({time.perf_counter() - started:.1f} s in all)")
    print(f"peak RSS: {peak_mb:.0f} MB (target < {TARGET_MB:.0f} MB whatever the number of files): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
