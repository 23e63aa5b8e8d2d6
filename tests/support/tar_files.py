"""tarfile's extractfile() for the tests: a member that is a file, never None."""

from __future__ import annotations

import tarfile
from typing import IO


def extracted(tar: tarfile.TarFile, member: str | tarfile.TarInfo) -> IO[bytes]:
    """The member's content, as tar.extractfile() gives it; fails for a member that is not a file."""
    content = tar.extractfile(member)
    assert content is not None, f"{member} is not a file in the tar"
    return content
