"""What a BuildKit build through the Engine API sends: the exported tree as a tar (.dockerignore applied) and
the request's parameters; and the address the build's network reaches the host on.

The legacy builder's requests use docker-py's own `build`; BuildKit's need the
tar and the parameters made here (docker-py cannot ask for version 2).
"""

from __future__ import annotations

import io
import ipaddress
import json
import os
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from docker.utils.build import exclude_paths

from drift.values import TargetSpec


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


def build_parameters(
    spec: TargetSpec, tag: str, dockerfile: str, labels: Mapping[str, str], build_args: Mapping[str, str]
) -> dict[str, str]:
    """The query of POST /build?version=2: no cache, the target's stage, platform and network."""
    params = {
        "version": "2",
        "t": tag,
        "dockerfile": dockerfile,
        "nocache": "1",
        "rm": "1",
        "forcerm": "1",
        "pull": "1" if spec.pull == "always" else "",
        "buildargs": json.dumps(dict(build_args)),
        "labels": json.dumps(dict(labels)),
        "target": spec.stage or "",
        "platform": spec.platform or "",
        "networkmode": spec.network or "",
    }
    return {key: value for key, value in params.items() if value}


def gateway_of(network: Mapping[str, Any]) -> str | None:
    """The host's address on a network, from the engine's inspect of it.

    An engine may leave the gateway out of the IPAM config (Engine 20.10 does for
    the default bridge); the bridge then has the first address of the subnet, as
    the engine's IPAM gives it.
    """
    for config in (network.get("IPAM") or {}).get("Config") or []:
        gateway = str(config.get("Gateway") or "").split("/")[0]
        if gateway:
            return gateway
        subnet = str(config.get("Subnet") or "")
        try:
            parsed = ipaddress.ip_network(subnet, strict=False)
        except ValueError:
            continue
        if parsed.version == 4:
            return str(next(parsed.hosts()))
    return None
