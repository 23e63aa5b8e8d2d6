"""Base images made by the tests on the real engine: a Dockerfile built from a one-file context, no cache."""

from __future__ import annotations

import io
import tarfile

import docker


def build_image(tag: str, dockerfile: str, *, network_mode: str | None = None) -> str:
    """Build `dockerfile` (no context besides it) as `tag`; its image ID."""
    data = dockerfile.encode()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    api = docker.APIClient(version="auto")
    for message in api.build(
        fileobj=context, custom_context=True, tag=tag, nocache=True, rm=True, network_mode=network_mode, decode=True
    ):
        assert "error" not in message, message
    return str(api.inspect_image(tag)["Id"])
