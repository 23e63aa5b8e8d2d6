"""Files with a field that changes by itself: compared by their content with that field blanked.

Some files hold real content and, beside it, one field the build's clock
writes. `useradd`, `adduser`, `groupadd -r`-style package scripts and
`chpasswd` write the day of the change (days since 1970) into the third field
of each `/etc/shadow` entry they touch, so every image that creates a user
differs from its baseline on the first build of each new day, and two
back-to-back builds (`drift run --twice`) cannot learn that. Ignoring the file
would hide a changed user, password hash or expiry, which is exactly what a
reviewer wants to see.

So the image reader, while it streams such a file past, also hashes its
content with the volatile field blanked (`normalized_sha256`), and the
comparison calls a difference whose normalized hashes agree noise, with the
reason below. The raw sha256 stays what the file manifest and the layer's
normalized digest record: stored digests keep their meaning.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

MAX_VOLATILE_FILE_SIZE = 1 << 20
"""Larger files at these paths are hashed as they are (no real shadow file comes near this)."""


def _blank_shadow_days(content: bytes) -> bytes:
    """shadow(5) lines `name:hash:lastchg:min:max:warn:inactive:expire:`, field 3 blanked."""
    lines = []
    for line in content.split(b"\n"):
        fields = line.split(b":")
        if len(fields) >= 3:
            fields[2] = b""
        lines.append(b":".join(fields))
    return b"\n".join(lines)


@dataclass(frozen=True, slots=True)
class VolatileField:
    """Files that carry a field written by the build's clock, and how to blank it.

    Attributes:
        paths: the absolute paths of the files.
        field: what the field is, in a few words.
        reason: why a difference only there is noise, for the finding.
        blank: the content with the field blanked.
    """

    paths: tuple[str, ...]
    field: str
    reason: str
    blank: Callable[[bytes], bytes]

    def normalized_sha256(self, content: bytes) -> str:
        """Hex sha256 of the content with the volatile field blanked."""
        return hashlib.sha256(self.blank(content)).hexdigest()

    def describe(self, path: str) -> str:
        return f"volatile field of {path} ({self.field}): {self.reason}"


VOLATILE_FIELDS: tuple[VolatileField, ...] = (
    VolatileField(
        ("/etc/shadow", "/etc/shadow-"),
        "the last-change day, field 3",
        "only the last-change day of a shadow entry differs; useradd, adduser and "
        "package scripts write the day of the build there",
        _blank_shadow_days,
    ),
)

_BY_PATH = {path: volatile for volatile in VOLATILE_FIELDS for path in volatile.paths}


def volatile_field(path: str) -> VolatileField | None:
    """The volatile field the file at `path` carries, or None for every other file."""
    return _BY_PATH.get(path)
