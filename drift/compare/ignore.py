"""Ignore rules: paths that change on every build by nature, so a difference there is noise, not drift.

A rule is a shell-style glob over absolute image paths in which `*` also
matches `/`. A rule without wildcards covers that path and everything below
it. A rule without any `/` is matched against the file name alone
(`*.pyc` covers every .pyc file in the image).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from posixpath import basename


@dataclass(frozen=True, slots=True)
class IgnoreRule:
    """One glob and why its paths are noise."""

    pattern: str
    reason: str
    origin: str = "default"  # default | target | learned

    def describe(self) -> str:
        return f"{self.origin} rule {self.pattern}: {self.reason}"

    def matches(self, path: str) -> bool:
        pattern = self.pattern
        if "/" not in pattern:
            return fnmatchcase(basename(path), pattern)
        pattern = pattern.rstrip("/") or "/"
        if not any(ch in pattern for ch in "*?["):
            return path == pattern or path.startswith(pattern + "/")
        return fnmatchcase(path, pattern)


DEFAULT_RULES: tuple[IgnoreRule, ...] = (
    IgnoreRule("/var/lib/apt/lists", "apt indexes: fetched anew by `apt-get update`, dated by the mirror"),
    IgnoreRule("/var/cache", "package manager and font caches (apt's pkgcache.bin embeds build-time data)"),
    IgnoreRule("/var/log", "dpkg, apt and installer logs record the time of the build"),
    IgnoreRule("/var/lib/dpkg/*-old", "dpkg keeps a backup of its previous database state"),
    IgnoreRule("/var/lib/dpkg/lock*", "lock files, content meaningless"),
    IgnoreRule("/var/lib/apt/lists/lock", "apt's lock file"),
    IgnoreRule("/var/lib/apk/lock", "apk's lock file"),
    IgnoreRule("/etc/ld.so.cache", "rebuilt by ldconfig on every package install; its order is not stable"),
    IgnoreRule("*.pyc", "compiled Python embeds the source file's mtime"),
    IgnoreRule("*/__pycache__", "compiled Python caches"),
    IgnoreRule("/tmp", "scratch space of build steps"),
    IgnoreRule("/var/tmp", "scratch space of build steps"),
    IgnoreRule("/run", "runtime state, recreated at container start"),
    IgnoreRule("/root/.cache", "pip, npm and other per-user download caches"),
    IgnoreRule("/root/.npm/_logs", "npm debug logs are named by time"),
    IgnoreRule("/root/.wget-hsts", "wget's HSTS database records access times"),
    IgnoreRule("/var/lib/systemd/catalog/database", "journal catalog, rebuilt with a timestamp"),
    IgnoreRule("/etc/machine-id", "generated at random when systemd is installed"),
)


@dataclass(frozen=True, slots=True)
class IgnoreRules:
    """The rules that apply to one target: drift's defaults plus the target's own."""

    rules: tuple[IgnoreRule, ...]

    @classmethod
    def for_target(
        cls, extra: Iterable[str] = (), *, learned: Iterable[IgnoreRule] = (), defaults: bool = True
    ) -> IgnoreRules:
        own = tuple(IgnoreRule(pattern, "the target's --ignore", "target") for pattern in extra)
        return cls((DEFAULT_RULES if defaults else ()) + own + tuple(learned))

    def rule_for(self, path: str) -> IgnoreRule | None:
        for rule in self.rules:
            if rule.matches(path):
                return rule
        return None

    def ignores(self, path: str) -> bool:
        return self.rule_for(path) is not None
