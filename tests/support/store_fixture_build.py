"""Record one build with real packages in a drift database, without a Docker Engine.

    python store_fixture_build.py DATABASE_URL DPKG_FIXTURE_DIR

The packaging test runs this with the Python of a venv where drift's wheel is
installed, so every import below is the installed drift's. It wraps a real
Debian 12 `/var/lib/dpkg/status` and `/etc/os-release` (a directory of
tests/fixtures/catalog/dpkg/) in a one-layer image in the legacy `docker save`
layout, reads that stream with drift's own image reader and catalogers, and
stores the image as the baseline build of a target `fixture-bookworm` through
drift's own storage code. Prints the build's number.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path

from drift.catalog import default_catalogers
from drift.image.saved_image import read_saved_image
from drift.storage import builds, targets
from drift.storage.database import Database
from drift.values import TargetSpec, Verdict

COMMIT = "0" * 39 + "1"
MTIME = 1700000000


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(content), MTIME, 0o644
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def saved_image(fixture: Path) -> bytes:
    """A legacy-layout `docker save` stream of an image whose one layer holds the fixture's files."""
    layer = _tar(
        {
            "etc/os-release": (fixture / "os-release").read_bytes(),
            "var/lib/dpkg/status": (fixture / "status").read_bytes(),
        }
    )
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["bash"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created_by": "/bin/sh -c #(nop) ADD file:dpkg-fixture in / "}],
        }
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_dir = diff_id.partition(":")[2]
    manifest = json.dumps([{"Config": config_name, "RepoTags": None, "Layers": [f"{layer_dir}/layer.tar"]}]).encode()
    return _tar({config_name: config, f"{layer_dir}/layer.tar": layer, "manifest.json": manifest})


def main(database_url: str, fixture: Path) -> int:
    image = read_saved_image([saved_image(fixture)], default_catalogers())
    # The schema is already at head (`drift db upgrade` made it): only use it.
    database = Database(database_url, upgrade=False)
    with database.session() as session:
        targets.save_target(session, TargetSpec(name="fixture-bookworm", repo="/fixtures/bookworm", commit=COMMIT))
        build = builds.start_build(session, "fixture-bookworm", "fixture", COMMIT)
        builds.finish_build(session, build, status="succeeded", verdict=Verdict.BASELINE, image=image)
    print(build)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2])))
