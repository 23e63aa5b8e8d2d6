"""Where a tracked repository lives: a git URL or a local path.

A target's `repo` is stored as the user gave it once normalized here: URLs
untouched, local paths made absolute at track time so that a nightly run from
another working directory still finds them. The mirror cache derives one
directory name per repository from the same normalized form.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import urlsplit

from drift.errors import UsageError

# "https://...", "ssh://...", "file://...", "git://..." and any other scheme git may know.
_SCHEME_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

# git's "transport::address" (ext::, fd::, a remote helper): ext:: runs a command of the URL's choosing.
_TRANSPORT_ADDRESS = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")

# What is left of a repository's name in its mirror directory: readable, filesystem-safe.
_SLUG_UNSAFE = re.compile(r"[^a-z0-9._-]+")
_SLUG_MAX = 48


def is_url(repo: str) -> bool:
    """Tell a git URL from a local path, the way git itself does.

    Besides `scheme://` URLs, git reads `[user@]host:path` (scp-like ssh) as a
    URL when the first colon comes before any slash; `./a:b` or `/x/a:b` are
    paths. `transport::address` forms (`ext::...`) count as URLs too, and the
    mirror refuses the unsafe ones when it clones.
    """
    if _SCHEME_URL.match(repo):
        return True
    colon = repo.find(":")
    if colon <= 0:
        return False
    slash = repo.find("/")
    return slash == -1 or slash > colon


def normalize_repo(repo: str) -> str:
    """Return the form of `repo` to store for a target.

    URLs (https://, ssh://, git@host:path, file://) come back unchanged. A
    local path must exist and comes back absolute, with `~` expanded and
    symlinks resolved, so the same repository always maps to the same mirror.

    Raises:
        UsageError: `repo` is empty, or a local path that does not exist.
    """
    if not repo:
        raise UsageError("the repository is empty; give a git URL or the path of a local git repository")
    if _TRANSPORT_ADDRESS.match(repo):
        raise UsageError(
            f"repository {redact_credentials(repo)!r} uses git's transport::address form, which can run "
            "commands on this machine; give an https://, ssh://, git@host:path URL or a local path"
        )
    if is_url(repo):
        return repo
    path = Path(repo).expanduser()
    if not path.exists():
        raise UsageError(f"repository path {repo} does not exist; give an existing local git repository or a git URL")
    return str(path.resolve())


def mirror_key(repo: str) -> str:
    """The identity of `repo` in the mirror cache.

    Unlike `normalize_repo` this never checks that a local path exists: a
    repository deleted since it was tracked must surface as "cannot reach
    repository" from git, not as a usage error. A trailing slash does not make
    another repository.
    """
    if is_url(repo):
        trimmed = repo.rstrip("/")
        return trimmed or repo
    return str(Path(repo).expanduser().resolve())


def mirror_dirname(key: str) -> str:
    """Directory name of the bare mirror for a `mirror_key`: `<slug>-<hash>.git`.

    The hash keeps distinct repositories apart (two forks both named `app`);
    the slug lets a person find a mirror with `ls`.
    """
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{_slug(key)}-{digest}.git"


def display_repo(repo: str) -> str:
    """`repo` as it may appear in a message or a log: any password or token in the URL masked."""
    return redact_credentials(repo)


def redact(text: str, repo: str) -> str:
    """Mask the password of `repo`, if it has one, wherever it appears in `text` (git's messages)."""
    if not _SCHEME_URL.match(repo):
        return text
    password = urlsplit(repo).password
    return text.replace(password, "***") if password else text


def _slug(key: str) -> str:
    host = ""
    if _SCHEME_URL.match(key):
        parts = urlsplit(key)
        # Only the host and path: user names and tokens stay out of directory names.
        host, path = parts.hostname or "", parts.path
    elif is_url(key):
        host, path = key.split(":", 1)
        host = host.rpartition("@")[2]
    else:
        path = key
    names = [name for name in path.split("/") if name]
    if names:
        names[-1] = names[-1].removesuffix(".git")
    readable = "-".join(names[-2:]) if len(names) >= 2 else "-".join([host, *names])
    slug = _SLUG_UNSAFE.sub("-", readable.lower()).strip("-.")[:_SLUG_MAX].strip("-.")
    return slug or "repo"


# userinfo of a URL inside any text: "https://user:TOKEN@host" or "https://TOKEN@host".
_URL_CREDENTIALS = re.compile(r"\b(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")
_SECRET_QUERY = re.compile(r"(?P<key>[?&][^=&#\s]*(?:token|key|secret|password|passwd|auth)[^=&#\s]*=)[^&#\s]*", re.I)


def _hide_userinfo(match: re.Match[str]) -> str:
    scheme, userinfo = match["scheme"], match["userinfo"]
    user, colon, _secret = userinfo.partition(":")
    if colon:
        return f"{scheme}{user}:***@"
    # A lone user name is a token in https://TOKEN@host; ssh://git@host names a plain account.
    return f"{scheme}***@" if scheme.lower().startswith("http") else match.group()


def redact_credentials(text: str) -> str:
    """`text` with the secrets of every URL in it hidden: passwords, tokens in the user part or the query.

    The stored repository URL keeps its secret, since fetching needs it; what
    is printed, reported or written into an error never does.
    """
    return _SECRET_QUERY.sub(lambda m: m["key"] + "***", _URL_CREDENTIALS.sub(_hide_userinfo, text))
