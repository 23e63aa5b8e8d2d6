"""Ignore rules: paths that change on every build by nature, so a difference there is noise, not drift.

A rule is a shell-style glob over absolute image paths in which `*` also
matches `/`. A rule covers the paths it matches and everything below them
(`*/.npm/_cacache` covers every file of every user's npm cache). A rule
without any `/` is matched against the file name alone (`*.pyc` covers every
.pyc file in the image). A rule learned from two back-to-back builds is no
glob: it is the path that differed, and covers that path and what is below it.

The defaults are narrow on purpose: a default rule hides a difference from
every user of drift, so it names only what is a leftover of the build or a
value drawn anew on every build, never content the image serves or runs. Download
caches are noise (pip, poetry, yarn, go-build); caches that are the image's
runtime content are not (a Hugging Face model under `~/.cache/huggingface`,
torch hub weights, Playwright or Puppeteer browsers): a new upstream revision
there is exactly the drift drift exists to find.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
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
        if self.origin == "learned":
            # A learned rule is a path that differed between two builds, not a
            # glob: "[", "*" and "?" in it are characters of a file name.
            return path == pattern or path.startswith(pattern + "/")
        if "/" not in pattern:
            return fnmatchcase(basename(path), pattern)
        pattern = pattern.rstrip("/") or "/"
        if not any(ch in pattern for ch in "*?["):
            return path == pattern or path.startswith(pattern + "/")
        return fnmatchcase(path, pattern) or fnmatchcase(path, pattern + "/*")


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
    # Download caches a build leaves behind, in any user's home. Not all of
    # ~/.cache: model and browser caches there are what the image runs.
    IgnoreRule("*/.cache/pip", "pip's download and wheel cache: a build leftover, its HTTP entries are dated"),
    IgnoreRule("*/.cache/pypoetry", "poetry's download cache and its virtualenvs' caches: a build leftover"),
    IgnoreRule("*/.cache/yarn", "yarn's package cache: a build leftover, its metadata records fetch times"),
    IgnoreRule("*/.cache/go-build", "the Go build cache: a build leftover keyed by the toolchain, with dated trims"),
    IgnoreRule(
        "*/.npm/_cacache",
        "npm's cache (npm keeps it in ~/.npm, not ~/.cache): a build leftover, each index entry has a millisecond time",
    ),
    IgnoreRule("*/.npm/_logs", "npm debug logs are named by time"),
    IgnoreRule("/root/.wget-hsts", "wget's HSTS database records access times"),
    # A git clone made during the build: its objects and refs are content,
    # these files are bookkeeping of when and how the clone ran.
    IgnoreRule("*/.git/index", "git's index caches the stat data (mtimes, inodes) of the checkout"),
    IgnoreRule("*/.git/modules/*/index", "a submodule's index caches the stat data of its checkout"),
    IgnoreRule("*/.git/logs", "git's reflogs record the time of the clone"),
    IgnoreRule("*/.git/modules/*/logs", "a submodule's reflogs record the time of the clone"),
    IgnoreRule("*/.git/*FETCH_HEAD", "git's record of the last fetch, rewritten by every fetch"),
    IgnoreRule("*/.git/*ORIG_HEAD", "git's record of HEAD before a reset or merge, a leftover of the operation"),
    IgnoreRule("/var/lib/systemd/catalog/database", "journal catalog, rebuilt with a timestamp"),
    IgnoreRule("/etc/machine-id", "generated at random when systemd is installed"),
    IgnoreRule("/var/lib/dbus/machine-id", "generated at random by dbus's install script (dbus-uuidgen)"),
)


@dataclass(frozen=True, slots=True)
class IgnoreRules:
    """The rules that apply to one target: drift's defaults plus the target's own."""

    rules: tuple[IgnoreRule, ...]
    runtime_paths: tuple[str, ...] = ()
    """Paths the image's Cmd or Entrypoint names: what the image runs is content, whatever default rule covers it."""

    @classmethod
    def for_target(
        cls, extra: Iterable[str] = (), *, learned: Iterable[IgnoreRule] = (), defaults: bool = True
    ) -> IgnoreRules:
        own = tuple(IgnoreRule(pattern, "the target's --ignore", "target") for pattern in extra)
        return cls((DEFAULT_RULES if defaults else ()) + own + tuple(learned))

    def with_runtime_paths(self, paths: Iterable[str]) -> IgnoreRules:
        """These rules, less the defaults' hold on the files below `paths` (see `runtime_paths_of`)."""
        return replace(self, runtime_paths=tuple(paths))

    def rule_for(self, path: str) -> IgnoreRule | None:
        for rule in self.rules:
            if rule.matches(path):
                if rule.origin == "default" and self._run_from(path, rule):
                    continue
                return rule
        return None

    def _run_from(self, path: str, rule: IgnoreRule) -> bool:
        # Only a command that names a path inside the ignored area itself
        # counts: `--notebook-dir=/root` does not make all of ~/.cache content.
        return any((path == run or path.startswith(run + "/")) and rule.matches(run) for run in self.runtime_paths)

    def ignores(self, path: str) -> bool:
        return self.rule_for(path) is not None


def runtime_paths_of(config: Mapping[str, object]) -> tuple[str, ...]:
    """The absolute paths named in a normalized image config's Cmd and Entrypoint.

    A default rule treats a cache as a build leftover; when the image's
    command reads from it (`CMD ["serve", "--model", "/root/.cache/pip/m"]`)
    it is the image's content, and a change there is drift.
    """
    runtime = config.get("config")
    if not isinstance(runtime, Mapping):
        return ()
    paths: list[str] = []
    for key in ("Entrypoint", "Cmd"):
        value = runtime.get(key)
        words = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        for word in words:
            for token in re.split(r"[\s=:,;'\"]+", str(word)):
                token = token.rstrip("/")
                if token.startswith("/") and len(token) > 1 and token not in paths:
                    paths.append(token)
    return tuple(paths)
