"""Version ordering per ecosystem, with each ecosystem's own rules.

dpkg versions go through python-debian (epochs, `~`, `+deb12u8`); Python
versions through `packaging`, which is right for PEP 440 only (it would read
`7.88.1-10+deb12u8` as a post-release); the others through univers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from debian.debian_support import Version as DebianVersion
from packaging.version import InvalidVersion
from packaging.version import Version as PythonVersion
from univers.versions import AlpineLinuxVersion, GolangVersion, RpmVersion, SemverVersion

_PARSERS: dict[str, Callable[[str], Any]] = {
    "deb": DebianVersion,
    "pypi": PythonVersion,
    "apk": AlpineLinuxVersion,
    "rpm": RpmVersion,
    "npm": SemverVersion,
    "golang": GolangVersion,
}


def compare_versions(ecosystem: str, before: str, after: str) -> int | None:
    """-1 when `after` is older, 0 when equal, 1 when newer; None when the versions cannot be ordered."""
    if before == after:
        return 0
    parse = _PARSERS.get(ecosystem)
    if parse is None:
        return None
    try:
        old, new = parse(before), parse(after)
    except (InvalidVersion, ValueError, TypeError, AttributeError):
        return None
    try:
        if new > old:
            return 1
        if new < old:
            return -1
    except TypeError:
        return None
    return 0


def direction(ecosystem: str, before: str, after: str) -> str:
    """'upgraded', 'downgraded' or 'changed' (versions the ecosystem cannot order, or equal ones)."""
    order = compare_versions(ecosystem, before, after)
    return {1: "upgraded", -1: "downgraded"}.get(order, "changed") if order is not None else "changed"
