"""Source stage: bare mirrors of tracked repositories and clean exports of pinned commits.

Every repository gets one `git clone --mirror` under the cache root, refreshed
with `git fetch --prune --force` before each use, so a branch deleted or
force-pushed upstream is deleted or moved here too. A pinned commit is built
only when some upstream ref still contains it: commits force-pushed away can
linger in the mirror's object store for weeks, and building one would hide
that the pin no longer exists upstream.

Exports come from `git archive`, never from a working copy: what a nightly
build sees is exactly the committed tree, whatever state a local repository's
checkout is in.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import stat
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import git
from git.exc import GitCommandError, GitCommandNotFound, UnsafeOptionError, UnsafeProtocolError

from drift.errors import SourceError, UsageError
from drift.process_owner import pid_gone
from drift.source.location import display_repo, mirror_dirname, mirror_key, redact

log = logging.getLogger(__name__)

# Exports are named drift-source-<pid>-<random>: a killed run's are found and removed by the next.
EXPORT_PREFIX = "drift-source-"
STALE_EXPORT_AGE_S = 7 * 86400

_FULL_SHA = re.compile(r"[0-9a-f]{40}")
# What git accepts as an abbreviated object name: a ref of this shape may be a
# commit that only lingers in the mirror, so its reachability is checked.
_HEX_NAME = re.compile(r"[0-9a-fA-F]{4,40}")

# ssh must fail rather than ask for a passphrase or a host key confirmation;
# the keepalives make a stalled connection fail instead of hanging the night.
_BATCH_SSH = "ssh -o BatchMode=yes -o ConnectTimeout=30 -o ServerAliveInterval=15 -o ServerAliveCountMax=4"

# git's generic trailer after a transport error; the line before it says what went wrong.
_GENERIC_STDERR = (
    "fatal: could not read from remote repository.",
    "please make sure you have the correct access rights",
    "and the repository exists.",
)

# `git archive` honours export-ignore and export-subst from .gitattributes, which
# a checkout does not: a build from an export would then miss or rewrite files
# the same build from a clone has. $GIT_DIR/info/attributes overrides the tree's.
_ARCHIVE_AS_CHECKOUT = "* -export-ignore -export-subst\n"


def _git_environment() -> dict[str, str]:
    """Variables that make git fail instead of waiting for a person who is not there."""
    env = {"GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never"}
    if "GIT_SSH_COMMAND" not in os.environ and "GIT_SSH" not in os.environ:
        env["GIT_SSH_COMMAND"] = _BATCH_SSH
    # Abort an HTTP transfer that stays below 1 kB/s for a minute.
    for name, value in (("GIT_HTTP_LOW_SPEED_LIMIT", "1000"), ("GIT_HTTP_LOW_SPEED_TIME", "60")):
        if name not in os.environ:
            env[name] = value
    return env


class RepositoryCache:
    """One bare mirror per repository under `root`, and exports of their commits.

    Repositories are git URLs (https://, ssh://, git@host:path, file://) or
    local paths, as stored by `drift.source.normalize_repo`. Mirrors are
    created and fetched under a per-repository file lock, so parallel runs
    (threads or processes) sharing a root do not trip over each other.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def mirror_path(self, repo: str) -> Path:
        """Where the mirror of `repo` lives (whether or not it exists yet)."""
        return self.root / mirror_dirname(mirror_key(repo))

    def mirror(self, repo: str) -> Path:
        """Clone `repo` on first use, else fetch all its refs; return the mirror's path.

        Raises:
            SourceError: the repository cannot be reached.
        """
        path = self.mirror_path(repo)
        self.root.mkdir(parents=True, exist_ok=True)
        with _exclusive(path.with_suffix(".lock")):
            if path.is_dir():
                self._fetch(repo, path)
            else:
                self._clone(repo, path)
        return path

    def resolve(self, repo: str, ref: str) -> str:
        """The full commit SHA `ref` names in `repo` today.

        `ref` is a branch, a tag (annotated tags are peeled to their commit),
        a full or abbreviated commit SHA, or `HEAD` (the upstream's default
        branch as it is now, not as it was when the mirror was cloned).

        Raises:
            UsageError: `ref` names nothing in `repo`, names a commit that no
                branch or tag contains, or is an ambiguous abbreviation.
            SourceError: the repository cannot be reached.
        """
        shown = display_repo(repo)
        unknown = UsageError(f"{ref} is not a branch, tag or commit of {shown}")
        # A leading dash would be read as an option by git.
        if not ref or ref.startswith("-") or any(char.isspace() for char in ref):
            raise unknown
        path = self.mirror(repo)
        with _opened(path) as mirror:
            sha = self._upstream_head(mirror, repo) if ref == "HEAD" else _rev_parse(mirror, repo, ref)
            if sha is None:
                raise unknown
            if _HEX_NAME.fullmatch(ref) and not _reachable(mirror, sha):
                raise UsageError(
                    f"commit {ref} is on no branch or tag of {shown} (force-pushed away or deleted); "
                    "give a commit that a branch or tag contains"
                )
        return sha

    def check_pinned(self, repo: str, sha: str, *, target: str = "NAME") -> None:
        """Fetch `repo` and make sure the pinned commit `sha` is still there.

        The commit must be in the mirror and contained in at least one ref
        the upstream has now. `target` names the target in the message that
        tells the user how to move the pin.

        Raises:
            SourceError: the repository cannot be reached, or the commit is gone.
            UsageError: `sha` is not a full commit SHA.
        """
        path = self.mirror(repo)
        with _opened(path) as mirror:
            _require_pinned(mirror, repo, sha, target)

    def export(self, repo: str, sha: str, dest: Path) -> Path:
        """Write the tree of commit `sha` into the empty or new directory `dest`; return `dest`.

        Only committed content appears: no untracked, ignored or modified file
        of a local repository's working copy. Symlinks and executable bits are
        kept; `.dockerignore` is exported like any file (honouring it is the
        build's job). `export-ignore` / `export-subst` attributes are not
        applied, so the tree matches a checkout. Submodules are ignored: their
        directories are exported empty, as in a clone without
        `--recurse-submodules`.

        The mirror is fetched only when it does not hold the commit yet; this
        does not check that the commit is still upstream (see `check_pinned`).

        Raises:
            SourceError: the repository cannot be reached, the commit is not
                in it, or git failed while writing the archive.
            UsageError: `sha` is not a full commit SHA, or `dest` is not empty.
        """
        _require_full_sha(sha, "NAME")
        path = self.mirror_path(repo)
        if not (path.is_dir() and _has_commit_at(path, sha)):
            path = self.mirror(repo)
        with _opened(path) as mirror:
            if not _is_commit(mirror, sha):
                raise _gone(repo, sha, "NAME")
            _archive_into(mirror, repo, sha, dest)
        return dest

    @contextmanager
    def checkout(self, repo: str, sha: str, *, target: str = "NAME") -> Iterator[Path]:
        """Fetch, check the pin, and export commit `sha` into a temporary directory removed afterwards.

        Raises:
            SourceError: the repository cannot be reached, or the commit is gone.
            UsageError: `sha` is not a full commit SHA.
        """
        path = self.mirror(repo)
        with tempfile.TemporaryDirectory(prefix=f"{EXPORT_PREFIX}{os.getpid()}-") as scratch:
            tree = Path(scratch)
            with _opened(path) as mirror:
                _require_pinned(mirror, repo, sha, target)
                _archive_into(mirror, repo, sha, tree)
            yield tree

    @staticmethod
    def remove_stale_exports(now: float | None = None) -> int:
        """Delete the exports a killed drift left in the temp dir; returns how many went.

        An export is named after the PID that made it: it is stale once that
        process is gone, or, whatever its PID says (PIDs are reused), after a week.
        """
        now = time.time() if now is None else now
        removed = 0
        for export in Path(tempfile.gettempdir()).glob(f"{EXPORT_PREFIX}*"):
            pid_text = export.name.removeprefix(EXPORT_PREFIX).partition("-")[0]
            try:
                age = now - export.lstat().st_mtime
            except OSError:
                continue
            if not (age > STALE_EXPORT_AGE_S or (pid_text.isdigit() and pid_gone(int(pid_text)))):
                continue
            if export.is_dir() and not export.is_symlink():
                shutil.rmtree(export, ignore_errors=True)
                removed += 1
        return removed

    def _clone(self, repo: str, path: Path) -> None:
        # A clone killed halfway must not look like a mirror to the next run:
        # clone beside the final place, then rename (atomic on one filesystem).
        # Staging directories left by a killed run are stale: we hold the lock.
        for stale in self.root.glob(f".{path.name}.*.staging"):
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".staging", dir=self.root))
        log.info("cloning %s into %s", display_repo(repo), path)
        try:
            cloned = git.Repo.clone_from(mirror_key(repo), staging, mirror=True, env=_git_environment())
            cloned.close()
            _configure_mirror(staging)
            os.rename(staging, path)
        except GitCommandError as exc:
            raise _unreachable(repo, exc) from exc
        except GitCommandNotFound as exc:
            raise SourceError("git is not installed or not on PATH; install git") from exc
        except (UnsafeProtocolError, UnsafeOptionError):
            raise SourceError(
                f"repository {display_repo(repo)} uses a git transport that can run commands; drift refuses it: "
                "track the repository by an https://, ssh:// or git@host:path URL"
            ) from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _fetch(self, repo: str, path: Path) -> None:
        log.info("fetching %s into %s", display_repo(repo), path)
        with _opened(path) as mirror:
            try:
                # The mirror refspec (+refs/*:refs/*) already forces; --prune
                # drops refs deleted upstream, so their commits stop counting
                # as reachable.
                mirror.git.fetch("--prune", "--force", "origin")
            except GitCommandError as exc:
                raise _unreachable(repo, exc) from exc

    @staticmethod
    def _upstream_head(mirror: git.Repo, repo: str) -> str | None:
        # A mirror's own HEAD is frozen at clone time; fetch never moves it.
        # Ask the upstream which commit its HEAD is now.
        try:
            listing = str(mirror.git.ls_remote("origin", "HEAD"))
        except GitCommandError as exc:
            raise _unreachable(repo, exc) from exc
        for line in listing.splitlines():
            sha, _, name = line.partition("\t")
            if name == "HEAD" and _is_commit(mirror, sha):
                return sha
        return None


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    # flock locks belong to the open file, so two threads of one process
    # exclude each other as two processes do. The lock file is never removed:
    # removing it would let a waiter lock an unlinked file.
    with lock_path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def _opened(path: Path) -> Iterator[git.Repo]:
    # Repo keeps `git cat-file` helper processes; close them with the Repo.
    repo = git.Repo(path)
    repo.git.update_environment(**_git_environment())
    try:
        yield repo
    finally:
        repo.close()


def _configure_mirror(path: Path) -> None:
    (path / "info").mkdir(exist_ok=True)
    (path / "info" / "attributes").write_text(_ARCHIVE_AS_CHECKOUT)
    with git.Repo(path) as mirror, mirror.config_writer() as config:
        # Commit graphs make the "is the pin still on some ref" walk fast on big repositories.
        config.set_value("fetch", "writeCommitGraph", "true")


def _rev_parse(mirror: git.Repo, repo: str, ref: str) -> str | None:
    try:
        return str(mirror.git.rev_parse("--verify", f"{ref}^{{commit}}"))
    except GitCommandError as exc:
        if "is ambiguous" in str(exc.stderr):
            raise UsageError(
                f"{ref} is an ambiguous abbreviation in {display_repo(repo)}; give more characters of the SHA"
            ) from exc
        return None


def _is_commit(mirror: git.Repo, sha: str) -> bool:
    try:
        return str(mirror.git.cat_file("-t", sha)) == "commit"
    except GitCommandError:
        return False


def _has_commit_at(path: Path, sha: str) -> bool:
    with _opened(path) as mirror:
        return _is_commit(mirror, sha)


def _reachable(mirror: git.Repo, sha: str) -> bool:
    contained_in = mirror.git.for_each_ref("--count=1", "--contains", sha, "--format=%(refname)")
    return bool(str(contained_in).strip())


def _require_full_sha(sha: str, target: str) -> None:
    if not _FULL_SHA.fullmatch(sha):
        raise UsageError(f"{sha} is not a full commit SHA; pin a commit with `drift track {target} --commit ...`")


def _require_pinned(mirror: git.Repo, repo: str, sha: str, target: str) -> None:
    _require_full_sha(sha, target)
    if not (_is_commit(mirror, sha) and _reachable(mirror, sha)):
        raise _gone(repo, sha, target)


def extract_tree(tree: tarfile.TarFile, dest: Path) -> None:
    """Extract a `git archive` stream under dest with tarfile's "tar" filter: paths that would end up
    outside dest (absolute, `..`, through a symlink) are refused; symlinks and exec bits are kept.

    Python 3.11.0 to 3.11.3 (Debian 12's python3 is 3.11.2) have no extraction
    filters; there the same checks are made here, member by member.
    """
    if hasattr(tarfile, "tar_filter"):
        tree.extractall(dest, filter="tar")
        return
    root = os.path.realpath(dest)
    for member in tree:
        name = member.name.lstrip("/" + os.sep)
        # realpath follows the symlinks extracted so far, as the filter does.
        target = os.path.realpath(os.path.join(root, name))
        if os.path.commonpath([root, target]) != root:
            raise tarfile.TarError(f"{member.name!r} would be extracted outside {dest}")
        member.name = name
        if member.mode is not None:
            member.mode &= ~(stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX | stat.S_IWGRP | stat.S_IWOTH)
        tree.extract(member, root)


def _archive_into(mirror: git.Repo, repo: str, sha: str, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise UsageError(f"export directory {dest} is not empty; give an empty or new directory")
    archive: git.Git.AutoInterrupt = mirror.git.archive("--format=tar", sha, as_process=True)
    stream = archive.proc.stdout if archive.proc is not None else None
    if stream is None:
        raise SourceError(f"cannot export commit {sha[:7]} of {display_repo(repo)}: git archive did not run")
    failure = ""
    try:
        # Streamed: the tree never exists as a tar file on disk.
        with tarfile.open(fileobj=stream, mode="r|") as tree:
            extract_tree(tree, dest)
    except (tarfile.TarError, OSError) as exc:
        failure = str(exc)
    # Read what is left (tarfile stops at the end-of-archive marker, or at its
    # error) so that git can exit and its status and stderr can be read.
    while stream.read(65536):
        pass
    try:
        archive.wait()
    except GitCommandError as exc:
        # git's own reason (a corrupt object, say) beats the tar error it caused.
        failure = _stderr_reason(exc)
    if failure:
        # A half-written tree must never be built.
        _empty(dest)
        raise SourceError(
            f"cannot export commit {sha[:7]} of {display_repo(repo)}: {redact(failure, repo)}; "
            "check free disk space and the mirror under the cache directory"
        )


def _empty(directory: Path) -> None:
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _stderr_reason(exc: GitCommandError) -> str:
    """The line of git's stderr that says what went wrong."""
    # GitPython wraps stderr as "\n  stderr: '<text>'".
    text = str(exc.stderr).strip()
    text = text.removeprefix("stderr: '").removesuffix("'")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    telling = [line for line in lines if not line.lower().startswith(_GENERIC_STDERR)]
    line = (telling or lines or [f"git exited with status {exc.status}"])[-1]
    for prefix in ("fatal: ", "error: "):
        line = line.removeprefix(prefix)
    return line


def _unreachable(repo: str, exc: GitCommandError) -> SourceError:
    reason = redact(_stderr_reason(exc), repo)
    return SourceError(f"cannot reach repository {display_repo(repo)}: {reason}; check the URL and your credentials")


def _gone(repo: str, sha: str, target: str) -> SourceError:
    return SourceError(
        f"commit {sha[:7]} is no longer in {display_repo(repo)} (force-pushed away or deleted); "
        f"pin a new commit with `drift track {target} --commit ...`"
    )
