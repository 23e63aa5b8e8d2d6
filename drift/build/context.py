"""The build context a build through the Engine API sends: the exported tree as a tar, .dockerignore applied.

The legacy builder's requests use docker-py's own `build`; BuildKit's need the
tar made here (see `context_archive`).
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
from pathlib import Path
from typing import IO

from docker.utils.build import exclude_paths


def context_archive(context_dir: Path, dockerfile: str, outside_dockerfile: str | None) -> IO[bytes]:
    """The build context as a tar in a temporary file, as docker-py makes it, but in GNU format.

    The engine tells an uploaded context from an uploaded Dockerfile by the
    first tar header in the body: a pax header first (Python's default
    format) makes it read the whole tar as a Dockerfile. The files and the
    .dockerignore handling are docker-py's (`exclude_paths`); names that fit a
    plain header come first.
    """
    root = str(context_dir)
    files = exclude_paths(root, dockerignore(context_dir) or [], dockerfile=dockerfile)
    # Returned open: the build request streams it, then closes it.
    archive = tempfile.TemporaryFile()  # noqa: SIM115
    with tarfile.open(fileobj=archive, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path in sorted(files, key=lambda name: (len(name.encode()) >= 100, name)):
            if outside_dockerfile is not None and path in (dockerfile, ".dockerignore"):
                continue
            info = tar.gettarinfo(os.path.join(root, path), arcname=path)
            if info is None:
                continue  # a socket
            info.mtime = int(info.mtime)
            if info.isfile():
                with open(os.path.join(root, path), "rb") as content:
                    tar.addfile(info, content)
            else:
                tar.addfile(info)
        if outside_dockerfile is not None:
            # A Dockerfile outside the context travels inside it, hidden from COPY by .dockerignore, as docker-py does.
            ignore = "\n".join([*(dockerignore(context_dir) or [".dockerignore"]), dockerfile]).encode()
            for name, data in ((".dockerignore", ignore), (dockerfile, outside_dockerfile.encode())):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    archive.seek(0)
    return archive


def dockerignore(context_dir: Path) -> list[str] | None:
    """The context's .dockerignore patterns, read as docker-py's build reads them."""
    path = context_dir / ".dockerignore"
    if not path.is_file():
        return None
    lines = path.read_text(errors="replace").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
