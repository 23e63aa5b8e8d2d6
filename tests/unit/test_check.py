"""The nightly check without Docker: `check_target` and `run` against a fake engine serving real save streams.

Real git repositories, a real SQLite file and real `docker save` streams;
only the engine is a stand-in (tests/support/fake_engine.py).
"""

from __future__ import annotations

import io
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy.orm import Session
from support.fake_engine import FakeEngine, Outcome, failed, fixture_image, saved_image

from drift import check as check_module
from drift.build.pool import EnginePool, EngineSpec
from drift.check import BuildContext, SilentProgress, check_target, exit_code
from drift.errors import EngineError
from drift.report.build_markdown import build_markdown
from drift.report.table import render_outcome
from drift.run import RunOptions, run
from drift.source.git import RepositoryCache
from drift.storage import history, images, leases
from drift.storage.database import Database
from drift.tracking import track
from drift.values import TargetSpec, Verdict

DOCKERFILE = "FROM busybox:latest\nCOPY app /app\nRUN make\n"
INSTRUCTIONS = ("ADD file:base in /", "COPY app /app", "RUN make")


def image(app: bytes = b"v1", log: bytes = b"", extra: dict[str, bytes] | None = None) -> bytes:
    """A three-layer image: a base, the app's COPY, and a RUN that leaves a log and maybe more."""
    built = {"usr/bin/tool": b"tool 1", "var/log/make.log": log or b"made"}
    built.update(extra or {})
    return saved_image([{"bin/sh": b"busybox"}, {"app/main.txt": app}, built], INSTRUCTIONS)


def git_repo(path: Path, dockerfile: str = DOCKERFILE) -> Path:
    path.mkdir()
    (path / "Dockerfile").write_text(dockerfile)
    (path / "app").mkdir()
    (path / "app" / "main.txt").write_text("v1\n")
    for args in (
        ["init", "-q", "-b", "main"],
        ["-c", "user.email=t@example.invalid", "-c", "user.name=t", "add", "-A"],
        ["-c", "user.email=t@example.invalid", "-c", "user.name=t", "commit", "-q", "-m", "app"],
    ):
        subprocess.run(["git", "-C", str(path), *args], check=True)
    return path


def tracked(db: Database, cache: RepositoryCache, tmp_path: Path, name: str = "app") -> TargetSpec:
    spec, _created, _moved = track(db, cache, name=name, repo=str(git_repo(tmp_path / f"repo-{name}")), commit="main")
    return spec


def check(db: Database, cache: RepositoryCache, engine: FakeEngine, spec: TargetSpec) -> check_module.CheckOutcome:
    return check_target(db, cache, engine, spec, SilentProgress(), context=BuildContext(owner="test"))


def test_each_verdict_against_the_baseline(db: Database, cache: RepositoryCache, tmp_path: Path) -> None:
    spec = tracked(db, cache, tmp_path)
    engine = FakeEngine(
        [image(), image(), image(log=b"made again at 03:00"), image(app=b"v2"), image(app=b"v2"), failed()]
    )
    verdicts = [check(db, cache, engine, spec) for _ in range(6)]
    assert [o.verdict for o in verdicts] == [
        Verdict.BASELINE,
        Verdict.REPRODUCIBLE,
        Verdict.NOISY,
        Verdict.DRIFTED,
        Verdict.DRIFTED,  # a target that drifted stays drifted until someone acts
        Verdict.BROKEN,
    ]
    noisy = verdicts[2].findings
    assert [(f.subject, f.ignored) for f in noisy] == [("/var/log/make.log", True)]
    drifted = [f for f in verdicts[3].findings if not f.ignored]
    assert [(f.kind, f.layer, f.subject, f.change, f.instruction, f.new) for f in drifted] == [
        ("file", 1, "/app/main.txt", "modified", "COPY app /app", True)
    ]
    assert [f.new for f in verdicts[4].findings if not f.ignored] == [False]  # not new the second night
    assert verdicts[5].failed_step == "RUN make" and "non-zero code" in (verdicts[5].error or "")
    with db.session() as session:
        broken = history.get_build(session, verdicts[5].build_id)
    assert broken.status == "failed" and broken.log_tail and "Error 2" in broken.log_tail
    assert engine.removed  # what the failed build left in the engine was cleaned up


def test_a_first_build_that_fails_is_failed_not_broken(db: Database, cache: RepositoryCache, tmp_path: Path) -> None:
    spec = tracked(db, cache, tmp_path)
    assert check(db, cache, FakeEngine([failed()]), spec).verdict is Verdict.FAILED


def test_the_real_fixture_image_is_a_baseline_then_reproducible(
    db: Database, cache: RepositoryCache, tmp_path: Path
) -> None:
    spec = tracked(db, cache, tmp_path)
    engine = FakeEngine([fixture_image("legacy.tar.gz"), fixture_image("oci.tar.gz")])
    first, second = check(db, cache, engine, spec), check(db, cache, engine, spec)
    assert (first.verdict, second.verdict) == (Verdict.BASELINE, Verdict.REPRODUCIBLE)
    with db.session() as session:
        layers = images.layer_summaries(session, first.build_id)
    assert len(layers) == 8


@pytest.mark.parametrize(
    ("outcome", "words"),
    [
        (EngineError("the Docker Engine at fake://engine stopped answering"), "stopped answering"),
        (lambda: b"this is not a docker save stream" * 40, "not a docker save stream"),
        (RuntimeError("a bug that one image triggers"), "internal error while checking app: RuntimeError"),
    ],
    ids=["engine-gone", "unreadable-image", "bug"],
)
def test_a_check_that_cannot_run_is_an_error_never_drift(
    db: Database, cache: RepositoryCache, tmp_path: Path, outcome: Outcome, words: str
) -> None:
    spec = tracked(db, cache, tmp_path)
    engine = FakeEngine([image(), outcome])
    check(db, cache, engine, spec)
    result = check(db, cache, engine, spec)
    assert result.verdict is Verdict.ERROR and words in (result.error or "")
    with db.session() as session:
        build = history.get_build(session, result.build_id)
    assert (build.status, build.verdict, build.findings) == ("error", Verdict.ERROR, ())
    assert build.finished_at is not None  # never left running


def test_a_symlinked_dockerfile_that_leaves_the_export_fails_the_build(
    db: Database, cache: RepositoryCache, tmp_path: Path
) -> None:
    secret = tmp_path / "netrc"
    secret.write_text("password TOPSECRET\n")
    repo = git_repo(tmp_path / "repo")
    (repo / "Dockerfile").unlink()
    (repo / "Dockerfile").symlink_to(secret)
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@x", "-c", "user.name=t", "commit", "-qam", "link"])
    spec, _, _ = track(db, cache, name="linked", repo=str(repo), commit="main")
    engine = FakeEngine([image()])
    result = check(db, cache, engine, spec)
    assert result.verdict is Verdict.FAILED and "leads out of the repository" in (result.error or "")
    assert engine.builds == []  # the engine never saw it


def two_targets(db: Database, cache: RepositoryCache, tmp_path: Path) -> list[TargetSpec]:
    return [tracked(db, cache, tmp_path, name) for name in ("alpha", "beta")]


def test_run_checks_every_target_and_maps_verdicts_to_an_exit_code(
    db: Database, cache: RepositoryCache, tmp_path: Path
) -> None:
    two_targets(db, cache, tmp_path)
    engine = FakeEngine([image(), image(), image(app=b"v2"), image()])
    pool = EnginePool([EngineSpec("fake://engine")], connect=lambda _spec: engine)
    first = run(db, cache, pool, options=RunOptions(owner="me"))
    assert [o.verdict for o in first.outcomes] == [Verdict.BASELINE, Verdict.BASELINE]
    assert exit_code(first.outcomes) == 0
    second = run(db, cache, pool, options=RunOptions(owner="me"))
    assert [(o.target, o.verdict) for o in second.outcomes] == [
        ("alpha", Verdict.DRIFTED),
        ("beta", Verdict.REPRODUCIBLE),
    ]
    assert exit_code(second.outcomes) == 1
    assert exit_code(second.outcomes, "never") == 0


def test_run_skips_a_target_another_worker_holds(db: Database, cache: RepositoryCache, tmp_path: Path) -> None:
    from datetime import timedelta

    two_targets(db, cache, tmp_path)
    with db.session() as session:
        assert leases.claim_lease(session, "alpha", "other-worker", timedelta(minutes=5))
    engine = FakeEngine([image()])
    pool = EnginePool([EngineSpec("fake://engine")], connect=lambda _spec: engine)
    result = run(db, cache, pool, options=RunOptions(owner="me"))
    assert result.skipped == (("alpha", "being built by other-worker"),)
    assert [o.target for o in result.outcomes] == ["beta"]


def test_run_with_an_engine_that_does_not_answer_records_errors(
    db: Database, cache: RepositoryCache, tmp_path: Path
) -> None:
    two_targets(db, cache, tmp_path)

    def unreachable(spec: EngineSpec) -> FakeEngine:
        raise EngineError(f"cannot reach the Docker Engine at {spec.host}")

    pool = EnginePool([EngineSpec("fake://down")], connect=unreachable)
    result = run(db, cache, pool, options=RunOptions(owner="me"))
    assert [o.verdict for o in result.outcomes] == [Verdict.ERROR, Verdict.ERROR]
    assert exit_code(result.outcomes) == 2
    with db.session() as session:
        assert [b.error for b in history.target_history(session, "alpha")] == [
            "cannot reach the Docker Engine at fake://down"
        ]


def test_run_goes_on_when_one_target_hits_a_bug(
    db: Database, cache: RepositoryCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_targets(db, cache, tmp_path)
    engine = FakeEngine([image(), image()])
    pool = EnginePool([EngineSpec("fake://engine")], connect=lambda _spec: engine)
    real = leases.claim_lease

    def lease_bug(session: Session, target: str, owner: str, ttl: timedelta) -> bool:
        if target == "alpha":
            raise KeyError("an odd lease row")
        return real(session, target, owner, ttl)

    monkeypatch.setattr(leases, "claim_lease", lease_bug)
    result = run(db, cache, pool, options=RunOptions(owner="me"))
    assert [(o.target, o.verdict) for o in result.outcomes] == [("alpha", Verdict.ERROR), ("beta", Verdict.BASELINE)]
    assert "KeyError" in (result.outcomes[0].error or "")


def test_run_twice_learns_what_differs_between_back_to_back_builds(
    db: Database, cache: RepositoryCache, tmp_path: Path
) -> None:
    tracked(db, cache, tmp_path)
    engine = FakeEngine(
        [
            image(extra={"opt/stamp": b"1"}),
            image(extra={"opt/stamp": b"2"}),
            image(extra={"opt/stamp": b"3"}),
        ]
    )
    pool = EnginePool([EngineSpec("fake://engine")], connect=lambda _spec: engine)
    twice = run(db, cache, pool, options=RunOptions(owner="me", twice=True))
    assert [o.superseded for o in twice.outcomes] == [True, False]
    assert twice.outcomes[1].learned == ("/opt/stamp",)
    night = run(db, cache, pool, options=RunOptions(owner="me"))
    assert night.outcomes[0].verdict is Verdict.NOISY


CAP_NET_RAW = bytes.fromhex("0100000200200000000000000000000000000000")  # `setcap cap_net_raw=ep`


def test_a_file_that_gains_a_capability_drifts(db: Database, cache: RepositoryCache, tmp_path: Path) -> None:
    spec = tracked(db, cache, tmp_path)
    capable = saved_image(
        [{"bin/sh": b"busybox"}, {"app/main.txt": b"v1"}, {"usr/bin/tool": b"tool 1", "var/log/make.log": b"made"}],
        INSTRUCTIONS,
        xattrs=[{}, {}, {"usr/bin/tool": {"security.capability": CAP_NET_RAW}}],
    )
    engine = FakeEngine([image(), capable, capable])
    first, second, third = (check(db, cache, engine, spec) for _ in range(3))

    assert (first.verdict, second.verdict, third.verdict) == (Verdict.BASELINE, Verdict.DRIFTED, Verdict.DRIFTED)
    (finding,) = second.findings
    assert (finding.kind, finding.layer, finding.subject, finding.change, finding.before) == (
        "file",
        2,
        "/usr/bin/tool",
        "xattrs",
        "none",
    )
    assert finding.after.startswith("security.capability sha256:")
    with db.session() as session:
        stored = history.get_build(session, second.build_id).findings
    assert [(f.subject, f.change) for f in stored] == [("/usr/bin/tool", "xattrs")]


def test_a_recreated_directory_shows_once_in_the_table_and_the_markdown(
    db: Database, cache: RepositoryCache, tmp_path: Path
) -> None:
    spec = tracked(db, cache, tmp_path)
    recreated = image(extra={"srv/": b"", "srv/.wh..wh..opq": b"", "srv/index.html": b"hi"})
    engine = FakeEngine([image(), recreated])
    check(db, cache, engine, spec)
    outcome = check(db, cache, engine, spec)
    with db.session() as session:
        build = history.get_build(session, outcome.build_id)

    assert [(f.subject, f.change) for f in build.findings] == [("/srv", "replaced"), ("/srv/index.html", "added")]
    output = io.StringIO()
    console = Console(file=output, width=200)
    render_outcome(console, build)
    table = output.getvalue()
    markdown = build_markdown(build, [])
    assert [line.split() for line in table.splitlines() if "/srv" in line and "index" not in line] == [
        ["replaced", "/srv"]
    ]
    assert [line for line in markdown.splitlines() if "`/srv`" in line] == ["- replaced `/srv`: dir, opaque"]
    assert "layer 2: RUN make" in table


def test_a_learned_path_with_brackets_matches_itself(db: Database, cache: RepositoryCache, tmp_path: Path) -> None:
    tracked(db, cache, tmp_path)
    engine = FakeEngine(
        [
            image(extra={"opt/cache[1]/stamp": b"1"}),
            image(extra={"opt/cache[1]/stamp": b"2"}),
            image(extra={"opt/cache[1]/stamp": b"3"}),
        ]
    )
    pool = EnginePool([EngineSpec("fake://engine")], connect=lambda _spec: engine)
    twice = run(db, cache, pool, options=RunOptions(owner="me", twice=True))
    assert twice.outcomes[1].learned == ("/opt/cache[1]/stamp",)
    night = run(db, cache, pool, options=RunOptions(owner="me"))
    assert night.outcomes[0].verdict is Verdict.NOISY
