"""The one exception family drift raises; the CLI maps each to a one-line message and an exit code."""

from __future__ import annotations


class DriftError(Exception):
    """Base of every error drift reports to a user. The message is one line: what is wrong and what to do."""

    exit_code = 2


class UsageError(DriftError):
    """The user's input is wrong (unknown target, bad name, malformed build arg...)."""


class SourceError(DriftError):
    """The repository or the pinned commit cannot be reached or is gone."""


class EngineError(DriftError):
    """The Docker Engine does not answer or refused a request."""


class ImageReadError(DriftError):
    """A `docker save` stream could not be read."""


class StorageError(DriftError):
    """The database cannot be opened or migrated."""


class PublishedImageError(DriftError):
    """A published image cannot be pulled: its registry does not answer, or has no such tag or digest."""
