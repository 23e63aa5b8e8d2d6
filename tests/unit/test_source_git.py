"""The source stage against real git repositories made in tmp_path: mirrors, refs, pins, exports."""

from __future__ import annotations

import io
import os
import shutil
import stat
import tarfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import git
import pytest

from drift.errors import SourceError, UsageError
from drift.source.git import RepositoryCache, extract_tree
from drift.source.location import mirror_dirname, mirror_key, normalize_repo


@pytest.fixture(autouse=True)
def hermetic_git(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's ~/.gitconfig (signing, hooks, default branch) must not change what the tests see.
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


class Upstream:
    """A non-bare repository standing for the user's repository, working copy and all."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.repo = git.Repo.init(path, initial_branch="main")
        with self.repo.config_writer() as config:
            config.set_value("user", "name", "Drift Test")
            config.set_value("user", "email", "drift-test@example.invalid")
            config.set_value("commit", "gpgsign", "false")

    def write(self, name: str, content: str, *, executable: bool = False) -> Path:
        file = self.path / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(content)
        file.chmod(0o755 if executable else 0o644)
        return file

    def symlink(self, name: str, target: str) -> None:
        (self.path / name).symlink_to(target)

    def commit(self, message: str) -> str:
        self.repo.git.add("--all")
        self.repo.git.commit("--message", message)
        return self.repo.head.commit.hexsha

    def forget_unreachable(self) -> None:
        """Make commits no ref contains truly gone upstream, as a server's gc would."""
        self.repo.git.reflog("expire", "--expire=now", "--all")
        self.repo.git.gc("--prune=now", "--quiet")


@pytest.fixture
def upstream(tmp_path: Path) -> Upstream:
    return Upstream(tmp_path / "upstream")


@pytest.fixture
def cache(tmp_path: Path) -> RepositoryCache:
    return RepositoryCache(tmp_path / "cache")


def files_under(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*") if not path.is_dir() or path.is_symlink()}


# --- resolve -------------------------------------------------------------------------------------


def test_resolve_branch_tag_sha_and_head(upstream: Upstream, cache: RepositoryCache) -> None:
    upstream.write("README", "one\n")
    first = upstream.commit("first")
    upstream.repo.create_tag("v1.0", message="release 1.0")  # annotated: a tag object, peeled to the commit
    upstream.repo.create_tag("light")
    upstream.repo.create_head("stable")
    upstream.write("README", "two\n")
    second = upstream.commit("second")
    repo = str(upstream.path)

    assert cache.resolve(repo, "main") == second
    assert cache.resolve(repo, "stable") == first
    assert cache.resolve(repo, "v1.0") == first
    assert cache.resolve(repo, "light") == first
    assert cache.resolve(repo, first[:7]) == first
    assert cache.resolve(repo, first) == first
    assert cache.resolve(repo, "HEAD") == second


def test_resolve_head_follows_upstream_default_branch_after_clone(upstream: Upstream, cache: RepositoryCache) -> None:
    upstream.write("README", "one\n")
    upstream.commit("first")
    repo = str(upstream.path)
    cache.mirror(repo)
    upstream.repo.create_head("next").checkout()
    upstream.write("README", "next\n")
    on_next = upstream.commit("on next")

    assert cache.resolve(repo, "HEAD") == on_next


def test_resolve_unknown_ref_is_usage_error(upstream: Upstream, cache: RepositoryCache) -> None:
    upstream.write("README", "one\n")
    upstream.commit("first")
    repo = str(upstream.path)

    with pytest.raises(UsageError) as raised:
        cache.resolve(repo, "no-such-branch")

    assert str(raised.value) == f"no-such-branch is not a branch, tag or commit of {repo}"


@pytest.mark.parametrize("ref", ["--all", "", "main two"])
def test_resolve_refuses_option_like_or_blank_refs(upstream: Upstream, cache: RepositoryCache, ref: str) -> None:
    upstream.write("README", "one\n")
    upstream.commit("first")

    with pytest.raises(UsageError, match="is not a branch, tag or commit of"):
        cache.resolve(str(upstream.path), ref)


def test_resolve_ambiguous_abbreviation_asks_for_more_characters(
    upstream: Upstream, cache: RepositoryCache, tmp_path: Path
) -> None:
    # 1000 commits with fixed dates: their SHAs are fixed, and two of them share a 4-digit prefix.
    stream = []
    for number in range(1, 1001):
        message = f"commit {number}\n"
        stream.append(f"commit refs/heads/main\nmark :{number}\n")
        stream.append(f"committer Drift Test <drift-test@example.invalid> {1_700_000_000 + number} +0000\n")
        stream.append(f"data {len(message)}\n{message}")
        if number > 1:
            stream.append(f"from :{number - 1}\n")
        stream.append("\n")
    commands = tmp_path / "fast-import"
    commands.write_text("".join(stream))
    with commands.open("rb") as commands_stream:
        upstream.repo.git.fast_import("--quiet", istream=commands_stream)
    prefixes: dict[str, str] = {}
    shared = next(
        sha[:4] for sha in upstream.repo.git.rev_list("main").split() if prefixes.setdefault(sha[:4], sha) != sha
    )

    with pytest.raises(UsageError) as raised:
        cache.resolve(str(upstream.path), shared)

    assert str(raised.value) == (
        f"{shared} is an ambiguous abbreviation in {upstream.path}; give more characters of the SHA"
    )


# --- export --------------------------------------------------------------------------------------


def test_export_contains_committed_files_only(upstream: Upstream, cache: RepositoryCache, tmp_path: Path) -> None:
    upstream.write("Dockerfile", "FROM scratch\nCOPY . /app\n")
    upstream.write(".dockerignore", "*.log\n")
    upstream.write("app/main.py", "print('committed')\n")
    sha = upstream.commit("app")
    # The working copy moves on without committing: none of it may reach a build.
    upstream.write("app/main.py", "print('edited, not committed')\n")
    upstream.write("untracked.txt", "not in git\n")
    upstream.write("staged.txt", "added, not committed\n")
    upstream.repo.git.add("staged.txt")

    tree = cache.export(str(upstream.path), sha, tmp_path / "export")

    assert tree == tmp_path / "export"
    assert files_under(tree) == {"Dockerfile", ".dockerignore", "app/main.py"}
    assert (tree / "app/main.py").read_text() == "print('committed')\n"
    # Honouring .dockerignore is the build's job: the source stage hands it over.
    assert (tree / ".dockerignore").read_text() == "*.log\n"


def test_export_keeps_symlinks_and_executable_bits(upstream: Upstream, cache: RepositoryCache, tmp_path: Path) -> None:
    upstream.write("bin/entrypoint.sh", '#!/bin/sh\nexec "$@"\n', executable=True)
    upstream.write("etc/app.conf", "level = info\n")
    upstream.symlink("entrypoint", "bin/entrypoint.sh")
    upstream.symlink("hosts", "/etc/hosts")
    sha = upstream.commit("links and scripts")

    tree = cache.export(str(upstream.path), sha, tmp_path / "export")

    assert (tree / "entrypoint").is_symlink()
    assert os.readlink(tree / "entrypoint") == "bin/entrypoint.sh"
    assert os.readlink(tree / "hosts") == "/etc/hosts"
    assert stat.S_IMODE((tree / "bin/entrypoint.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((tree / "etc/app.conf").stat().st_mode) == 0o644


def test_export_without_tar_filters_as_on_debian_12s_python(
    upstream: Upstream, cache: RepositoryCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python 3.11.0-3.11.3 (Debian 12's python3, the python:3.11-slim stand-in) lack tarfile's filters."""
    monkeypatch.delattr(tarfile, "tar_filter")
    upstream.write("bin/entrypoint.sh", '#!/bin/sh\nexec "$@"\n', executable=True)
    upstream.write("etc/app.conf", "level = info\n")
    upstream.symlink("hosts", "/etc/hosts")
    sha = upstream.commit("links and scripts")

    tree = cache.export(str(upstream.path), sha, tmp_path / "export")

    assert files_under(tree) == {"bin/entrypoint.sh", "etc/app.conf", "hosts"}
    assert os.readlink(tree / "hosts") == "/etc/hosts"
    assert stat.S_IMODE((tree / "bin/entrypoint.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((tree / "etc/app.conf").stat().st_mode) == 0o644


@pytest.mark.parametrize("filters", [True, False], ids=["tar-filter", "no-filters"])
@pytest.mark.parametrize(
    "members",
    [
        [("../outside.txt", None)],
        [("escape", ".."), ("escape/outside.txt", None)],
        [("etc", "/tmp"), ("etc/outside.txt", None)],
    ],
    ids=["dotdot", "relative-symlink", "absolute-symlink"],
)
def test_a_tree_reaching_outside_the_export_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, filters: bool, members: list[tuple[str, str | None]]
) -> None:
    if not filters:
        monkeypatch.delattr(tarfile, "tar_filter")
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w") as archive:
        for name, link in members:
            info = tarfile.TarInfo(name)
            if link is None:
                info.size = 3
                archive.addfile(info, io.BytesIO(b"bad"))
            else:
                info.type, info.linkname = tarfile.SYMTYPE, link
                archive.addfile(info)
    stream.seek(0)
    dest = tmp_path / "export"
    dest.mkdir()

    with pytest.raises(tarfile.TarError), tarfile.open(fileobj=stream, mode="r|") as tree:
        extract_tree(tree, dest)
    assert not (tmp_path / "outside.txt").exists()
    assert not Path("/tmp/outside.txt").exists() or Path("/tmp/outside.txt").read_bytes() != b"bad"


def test_export_ignores_archive_only_attributes(upstream: Upstream, cache: RepositoryCache, tmp_path: Path) -> None:
    # A checkout has these files verbatim; an export must too, or the build differs from a clone's.
    upstream.write(".gitattributes", "secret.txt export-ignore\nversion.txt export-subst\n")
    upstream.write("secret.txt", "kept\n")
    upstream.write("version.txt", "$Format:%H$\n")
    sha = upstream.commit("attributes")

    tree = cache.export(str(upstream.path), sha, tmp_path / "export")

    assert (tree / "secret.txt").read_text() == "kept\n"
    assert (tree / "version.txt").read_text() == "$Format:%H$\n"


def test_export_refuses_a_directory_with_files(upstream: Upstream, cache: RepositoryCache, tmp_path: Path) -> None:
    upstream.write("README", "one\n")
    sha = upstream.commit("first")
    dest = tmp_path / "export"
    dest.mkdir()
    (dest / "leftover").write_text("from yesterday\n")

    with pytest.raises(UsageError, match="is not empty"):
        cache.export(str(upstream.path), sha, dest)


def test_checkout_exports_into_a_directory_removed_afterwards(upstream: Upstream, cache: RepositoryCache) -> None:
    upstream.write("Dockerfile", "FROM scratch\n")
    sha = upstream.commit("first")

    with cache.checkout(str(upstream.path), sha, target="app") as tree:
        assert files_under(tree) == {"Dockerfile"}

    assert not tree.exists()


# --- pins that disappear -------------------------------------------------------------------------


@pytest.fixture
def force_pushed(upstream: Upstream, cache: RepositoryCache) -> Iterator[str]:
    """A commit pinned and mirrored, then force-pushed away upstream (`git reset --hard HEAD~1`)."""
    upstream.write("README", "one\n")
    upstream.commit("first")
    upstream.write("README", "two\n")
    pinned = upstream.commit("second")
    cache.check_pinned(str(upstream.path), pinned, target="app")
    upstream.repo.git.reset("--hard", "HEAD~1")
    upstream.forget_unreachable()
    yield pinned


def test_force_pushed_away_commit_is_reported(upstream: Upstream, cache: RepositoryCache, force_pushed: str) -> None:
    repo = str(upstream.path)

    with pytest.raises(SourceError) as raised:
        cache.check_pinned(repo, force_pushed, target="app")

    assert str(raised.value) == (
        f"commit {force_pushed[:7]} is no longer in {repo} (force-pushed away or deleted); "
        "pin a new commit with `drift track app --commit ...`"
    )
    # The commit still lingers in the mirror's object store: only the ref check catches it.
    with git.Repo(cache.mirror_path(repo)) as mirror:
        assert mirror.git.cat_file("-t", force_pushed) == "commit"


def test_force_pushed_away_commit_cannot_be_checked_out(
    upstream: Upstream, cache: RepositoryCache, force_pushed: str
) -> None:
    with (
        pytest.raises(SourceError, match=f"commit {force_pushed[:7]} is no longer in"),
        cache.checkout(str(upstream.path), force_pushed, target="app"),
    ):
        pytest.fail("a force-pushed-away commit was exported")


def test_force_pushed_away_commit_cannot_be_pinned_again(
    upstream: Upstream, cache: RepositoryCache, force_pushed: str
) -> None:
    with pytest.raises(UsageError, match=f"commit {force_pushed} is on no branch or tag of"):
        cache.resolve(str(upstream.path), force_pushed)


def test_force_pushed_away_commit_unknown_to_a_fresh_cache(
    upstream: Upstream, tmp_path: Path, force_pushed: str
) -> None:
    with pytest.raises(SourceError, match=f"commit {force_pushed[:7]} is no longer in"):
        RepositoryCache(tmp_path / "fresh-cache").check_pinned(str(upstream.path), force_pushed)


def test_deleted_branch_is_pruned_from_the_mirror(upstream: Upstream, cache: RepositoryCache) -> None:
    upstream.write("README", "one\n")
    upstream.commit("first")
    upstream.repo.create_head("topic").checkout()
    upstream.write("README", "topic\n")
    on_topic = upstream.commit("on topic")
    repo = str(upstream.path)
    assert cache.resolve(repo, "topic") == on_topic
    upstream.repo.heads.main.checkout()
    upstream.repo.delete_head("topic", force=True)

    with pytest.raises(UsageError, match="topic is not a branch, tag or commit of"):
        cache.resolve(repo, "topic")
    with pytest.raises(SourceError, match=f"commit {on_topic[:7]} is no longer in"):
        cache.check_pinned(repo, on_topic)


def test_pin_must_be_a_full_sha(upstream: Upstream, cache: RepositoryCache) -> None:
    upstream.write("README", "one\n")
    sha = upstream.commit("first")

    with pytest.raises(UsageError) as raised:
        cache.check_pinned(str(upstream.path), sha[:7], target="app")

    assert str(raised.value) == f"{sha[:7]} is not a full commit SHA; pin a commit with `drift track app --commit ...`"


# --- unreachable repositories --------------------------------------------------------------------


def test_deleted_repository_is_unreachable(upstream: Upstream, cache: RepositoryCache) -> None:
    upstream.write("README", "one\n")
    sha = upstream.commit("first")
    repo = str(upstream.path)
    cache.check_pinned(repo, sha)
    shutil.rmtree(upstream.path)

    with pytest.raises(SourceError) as raised:
        cache.check_pinned(repo, sha)

    message = str(raised.value)
    assert message.startswith(f"cannot reach repository {repo}: ")
    assert "does not appear to be a git repository" in message
    assert message.endswith("; check the URL and your credentials")
    assert "\n" not in message


def test_missing_repository_leaves_no_mirror_behind(tmp_path: Path, cache: RepositoryCache) -> None:
    repo = str(tmp_path / "never-existed")

    with pytest.raises(SourceError, match=f"^cannot reach repository {repo}: .*does not exist"):
        cache.mirror(repo)

    assert [path.name for path in cache.root.iterdir()] == [cache.mirror_path(repo).with_suffix(".lock").name]


def test_unreachable_url_fails_instead_of_prompting_and_hides_the_password(cache: RepositoryCache) -> None:
    # Nothing listens on the discard port: git must give up at once, not ask for credentials.
    with pytest.raises(SourceError) as raised:
        cache.mirror("https://drift:s3cret@127.0.0.1:9/team/app.git")

    message = str(raised.value)
    assert message.startswith("cannot reach repository https://drift:***@127.0.0.1:9/team/app.git: ")
    assert "s3cret" not in message


# --- repository locations and mirrors -------------------------------------------------------------


def test_relative_local_path_is_made_absolute(upstream: Upstream, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(upstream.path.parent)

    assert normalize_repo("upstream") == str(upstream.path.resolve())
    assert normalize_repo("./upstream/") == str(upstream.path.resolve())


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/acme/app.git",
        "ssh://git@github.com/acme/app.git",
        "git@github.com:acme/app.git",
        "file:///srv/git/app.git",
    ],
)
def test_urls_are_left_alone(url: str) -> None:
    assert normalize_repo(url) == url


def test_missing_local_path_is_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    with pytest.raises(UsageError) as raised:
        normalize_repo("no/such/repo")

    assert str(raised.value) == (
        "repository path no/such/repo does not exist; give an existing local git repository or a git URL"
    )


def test_one_mirror_per_repository_whatever_the_spelling(
    upstream: Upstream, cache: RepositoryCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream.write("README", "one\n")
    upstream.commit("first")
    monkeypatch.chdir(upstream.path.parent)

    first = cache.mirror(str(upstream.path))
    second = cache.mirror("upstream/")

    assert first == second
    assert [path.name for path in cache.root.glob("*.git")] == [first.name]
    assert first.name.endswith(".git") and "upstream" in first.name


def test_parallel_runs_share_one_mirror(upstream: Upstream, cache: RepositoryCache) -> None:
    upstream.write("README", "one\n")
    sha = upstream.commit("first")
    repo = str(upstream.path)

    with ThreadPoolExecutor(max_workers=4) as pool:
        resolved = list(pool.map(lambda _: cache.resolve(repo, "main"), range(8)))

    assert resolved == [sha] * 8
    assert sorted(path.name for path in cache.root.iterdir()) == sorted(
        [cache.mirror_path(repo).name, cache.mirror_path(repo).with_suffix(".lock").name]
    )


def test_forks_with_the_same_name_get_separate_readable_mirrors() -> None:
    ours = mirror_dirname(mirror_key("https://github.com/acme/app.git"))
    theirs = mirror_dirname(mirror_key("git@gitlab.example.com:other/app.git"))

    assert ours.startswith("acme-app-")
    assert theirs.startswith("other-app-")
    assert ours != theirs
