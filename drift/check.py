"""The nightly check, one flow: source at a commit -> build -> read the image -> compare -> store.

The command line calls these functions; they take the open database, the
repository cache and the engine, and return values, never rows.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import platformdirs

from drift.build.engine import BuildFailed, Engine
from drift.catalog import default_catalogers
from drift.compare.diff import compare_builds
from drift.compare.ignore import IgnoreRule, IgnoreRules
from drift.compare.risks import link_risks
from drift.compare.verdict import judge, mark_new
from drift.dockerfile import Risk, find_risks, layer_instructions, parse_dockerfile
from drift.errors import DriftError, EngineError, SourceError, UsageError
from drift.image import read_image
from drift.source import RepositoryCache, normalize_repo
from drift.storage import store
from drift.storage.database import Database
from drift.targets import check_name, check_pull, check_relative_path, source_fingerprint
from drift.values import (
    BaseImage,
    BuilderInfo,
    BuildOutput,
    BuildSummary,
    Finding,
    ImageRecord,
    TargetSpec,
    Verdict,
)


def default_cache_dir() -> Path:
    """Where repository mirrors are kept (DRIFT_CACHE_DIR, else the user cache dir)."""
    return Path(os.environ.get("DRIFT_CACHE_DIR") or platformdirs.user_cache_dir("drift")) / "repos"


class Progress(Protocol):
    """What the check tells the person watching, while it works."""

    def step(self, target: str, text: str) -> None: ...

    def log(self, target: str, line: str) -> None: ...


class SilentProgress:
    def step(self, target: str, text: str) -> None:
        pass

    def log(self, target: str, line: str) -> None:
        pass


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """The result of checking one target: its recorded build and verdict."""

    target: str
    build_id: int
    verdict: Verdict
    findings: tuple[Finding, ...]
    error: str | None = None
    failed_step: str | None = None
    learned: tuple[str, ...] = ()
    superseded: bool = False


# --- tracking ------------------------------------------------------------------


def track(
    db: Database,
    cache: RepositoryCache,
    *,
    name: str,
    repo: str,
    commit: str,
    dockerfile: str | None = None,
    context: str = ".",
    build_args: dict[str, str] | None = None,
    stage: str | None = None,
    platform: str | None = None,
    network: str | None = None,
    pull: str = "always",
    schedule: str = "@daily",
    ignore: Sequence[str] = (),
) -> tuple[TargetSpec, bool, bool]:
    """Validate, resolve the ref to a commit, check the Dockerfile is there, and save the target.

    Returns the saved spec, whether it is new, and whether its pin moved.
    """
    check_name(name)
    check_pull(pull)
    context = check_relative_path(context, "context")
    dockerfile = check_relative_path(dockerfile or f"{context}/Dockerfile", "dockerfile")
    repo = normalize_repo(repo)
    sha = cache.resolve(repo, commit)
    with cache.checkout(repo, sha, target=name) as tree:
        if not (tree / context).is_dir():
            raise UsageError(f"context {context!r} is not a directory in {repo} at {sha[:12]}; check --context")
        if not (tree / dockerfile).is_file():
            raise UsageError(f"no Dockerfile at {dockerfile!r} in {repo} at {sha[:12]}; check --dockerfile")
    spec = TargetSpec(
        name=name,
        repo=repo,
        commit=sha,
        dockerfile=dockerfile,
        context=context,
        build_args=dict(build_args or {}),
        stage=stage or None,
        platform=platform or None,
        network=network or None,
        pull=pull,
        schedule=schedule,
        ignore=tuple(ignore),
    )
    with db.session() as session:
        created, pin_moved = store.save_target(session, spec)
    return spec, created, pin_moved


def accept(db: Database, name: str, build_id: int | None = None) -> BuildSummary:
    """Make a succeeded build (the latest of the current pin, or the given one) its fingerprint's baseline."""
    with db.session() as session:
        store.get_target(session, name)
        if build_id is None:
            build_id = store.latest_succeeded_build_id(session, name)
            if build_id is None:
                raise UsageError(f"{name} has no succeeded build of its current commit to accept; run it first")
        build = store.get_build(session, build_id)
        if build.target != name:
            raise UsageError(f"build {build_id} belongs to {build.target}, not {name}")
        if build.status != "succeeded":
            raise UsageError(f"build {build_id} did not succeed ({build.status}); only a built image can be a baseline")
        store.set_baseline(session, build_id, accepted=True)
        return store.get_build(session, build_id)


# --- running -------------------------------------------------------------------


def run_checks(
    db: Database,
    cache: RepositoryCache,
    connect: Callable[[], Engine],
    names: Sequence[str] = (),
    progress: Progress | None = None,
    *,
    twice: bool = False,
) -> list[CheckOutcome]:
    """Check the named targets (all enabled ones when none are named), one after the other.

    With `twice`, each target is built a second time right after the first;
    paths that differ between the two are nondeterministic, learned as noise
    for that source, and the second build is judged with them. The first
    build's outcome is then marked superseded.
    """
    progress = progress or SilentProgress()
    with db.session() as session:
        specs = store.list_targets(session, names)
    if not specs:
        return []
    try:
        engine = connect()
    except EngineError as exc:
        # The check could not run at all: record that, never as drift.
        return [_record_error(db, spec, str(exc)) for spec in specs]
    outcomes: list[CheckOutcome] = []
    for spec in specs:
        first = check_target(db, cache, engine, spec, progress)
        if not twice or first.verdict in (Verdict.ERROR, Verdict.BROKEN, Verdict.FAILED):
            outcomes.append(first)
            continue
        outcomes.append(replace(first, superseded=True))
        outcomes.append(check_target(db, cache, engine, spec, progress, learn_from=first.build_id))
    return outcomes


def _record_error(db: Database, spec: TargetSpec, message: str) -> CheckOutcome:
    with db.session() as session:
        build_id = store.start_build(session, spec.name, source_fingerprint(spec), spec.commit)
        store.finish_build(session, build_id, status="error", verdict=Verdict.ERROR, error=message)
    return CheckOutcome(spec.name, build_id, Verdict.ERROR, (), error=message)


def check_target(
    db: Database,
    cache: RepositoryCache,
    engine: Engine,
    spec: TargetSpec,
    progress: Progress,
    *,
    learn_from: int | None = None,
) -> CheckOutcome:
    """Build one target from scratch, read its image, judge it against its baseline and record it all.

    `learn_from`: a build of the same source made minutes ago; what differs
    from it is learned as noise before this build is judged.
    """
    fingerprint = source_fingerprint(spec)
    with db.session() as session:
        build_id = store.start_build(session, spec.name, fingerprint, spec.commit)
    builder: BuilderInfo | None = None
    bases: list[BaseImage] = []
    try:
        builder = engine.builder_info()
        progress.step(spec.name, "fetching source")
        with cache.checkout(spec.repo, spec.commit, target=spec.name) as tree:
            dockerfile = tree / spec.dockerfile
            if not dockerfile.is_file():
                raise SourceError(f"no Dockerfile at {spec.dockerfile!r} in commit {spec.commit[:12]} of {spec.repo}")
            dockerfile_text = dockerfile.read_text(errors="replace")
            progress.step(spec.name, "building")
            built = engine.build(
                spec,
                tree / spec.context,
                dockerfile,
                tag=f"drift:{spec.name[:100]}-b{build_id}",
                labels={"drift.target": spec.name, "drift.build": str(build_id)},
                on_log=lambda line: _on_log(progress, spec.name, line),
            )
            bases, inherited = engine.resolve_base_images(dockerfile, spec.build_args, spec.stage)
        progress.step(spec.name, "reading image")
        image = read_image(engine.api, built.image_id, default_catalogers())
        engine.remove_older_images(spec.name, keep=built.image_id)
    except BuildFailed as failure:
        with db.session() as session:
            has_baseline = store.baseline_build_id(session, spec.name, fingerprint) is not None
            verdict = Verdict.BROKEN if has_baseline else Verdict.FAILED
            store.finish_build(
                session,
                build_id,
                status="failed",
                verdict=verdict,
                builder=builder,
                error=failure.message,
                failed_step=failure.failed_step,
                log_tail=failure.log_tail,
            )
        return CheckOutcome(spec.name, build_id, verdict, (), failure.message, failure.failed_step)
    except DriftError as exc:
        with db.session() as session:
            store.finish_build(
                session, build_id, status="error", verdict=Verdict.ERROR, builder=builder, error=str(exc)
            )
        return CheckOutcome(spec.name, build_id, Verdict.ERROR, (), str(exc))
    except BaseException as exc:
        # Ctrl-C or a bug: never leave the row running; say what stopped it.
        with db.session() as session:
            stopped = isinstance(exc, KeyboardInterrupt | SystemExit | BrokenPipeError)
            reason = "interrupted before the build was recorded" if stopped else f"internal error: {exc!r}"
            store.finish_build(session, build_id, status="interrupted", verdict=Verdict.ERROR, error=reason)
        raise

    progress.step(spec.name, "comparing")
    source = _explain_source(spec, dockerfile_text, image, bases)
    image = source.image
    output = BuildOutput(image=image, base_images=tuple(bases), base_layer_count=inherited, builder=builder)
    learned: list[str] = []
    with db.session() as session:
        if learn_from is not None:
            twin = compare_builds(store.load_output(session, learn_from), output, IgnoreRules.for_target(spec.ignore))
            nondeterministic = {f.subject for f in twin if f.kind == "file" and not f.ignored}
            learned = store.learn_noise(session, learn_from, build_id, nondeterministic)
        rules = _ignore_rules(spec, store.learned_noise(session, spec.name, fingerprint))
        baseline_id = store.baseline_build_id(session, spec.name, fingerprint)
        findings: list[Finding] = []
        if baseline_id is None:
            verdict = Verdict.BASELINE
        else:
            findings = compare_builds(store.load_output(session, baseline_id), output, rules)
            previous = store.previous_succeeded_build(session, build_id)
            seen = store.finding_keys(session, previous) if previous is not None else set()
            findings = mark_new(findings, seen)
            findings = link_risks(findings, source.risks, source.layer_lines, source.from_lines)
            verdict = judge(findings)
        store.finish_build(
            session,
            build_id,
            status="succeeded",
            verdict=verdict,
            builder=builder,
            image=image,
            compared_to=baseline_id,
            findings=findings,
            base_images=bases,
            dockerfile_text=dockerfile_text,
            risks=[_risk_document(risk) for risk in source.risks],
        )
    return CheckOutcome(spec.name, build_id, verdict, tuple(findings), learned=tuple(learned))


@dataclass(frozen=True, slots=True)
class _Source:
    """What the Dockerfile at the pinned commit tells about a built image."""

    image: ImageRecord
    risks: tuple[Risk, ...]
    layer_lines: dict[int, tuple[int, int]]
    from_lines: dict[str, int]


def _explain_source(spec: TargetSpec, text: str, image: ImageRecord, bases: Sequence[BaseImage]) -> _Source:
    """Name each layer by its Dockerfile instruction and list the Dockerfile's unpinned inputs.

    The image history's own text is kept where the Dockerfile cannot be
    matched (a Dockerfile the parser does not understand must not fail a build
    that the engine understood).
    """
    try:
        dockerfile = parse_dockerfile(text, spec.build_args)
        stage = dockerfile.final_stage(spec.stage)
        risks = tuple(find_risks(dockerfile))
    except Exception:  # drift's parser, not the engine, is the one that failed here
        return _Source(image, (), {}, {})
    final_base = next((b for b in bases if b.final), None)
    attributed = layer_instructions(stage, image.history, final_base.history_length if final_base else 0)
    layers = []
    layer_lines: dict[int, tuple[int, int]] = {}
    for layer, instruction in zip(image.layers, attributed, strict=False):
        if instruction is None:
            layers.append(layer)
            continue
        layers.append(replace(layer, instruction=instruction.summary))
        layer_lines[layer.index] = (instruction.line, instruction.end_line)
    layers.extend(image.layers[len(layers) :])
    from_lines = {s.base_resolved: s.from_line for s in dockerfile.stages}
    return _Source(replace(image, layers=tuple(layers)), risks, layer_lines, from_lines)


def _risk_document(risk: Risk) -> dict[str, object]:
    return {
        "id": risk.id,
        "line": risk.line,
        "stage": risk.stage,
        "instruction": risk.instruction,
        "subject": risk.subject,
        "cause": risk.cause,
        "message": risk.message,
        "fix": risk.fix,
    }


def _ignore_rules(spec: TargetSpec, learned_paths: Sequence[tuple[str, int, int]]) -> IgnoreRules:
    learned = [
        IgnoreRule(path, f"differed between back-to-back builds {a} and {b}", "learned")
        for path, a, b in learned_paths
    ]
    return IgnoreRules.for_target(spec.ignore, learned=learned)



def _on_log(progress: Progress, target: str, line: str) -> None:
    progress.log(target, line)
    if line.startswith("Step "):
        progress.step(target, line)


def exit_code(outcomes: Sequence[CheckOutcome], fail_on: str = "drifted") -> int:
    """0 nothing to flag, 1 drifted or broken (per fail_on), 2 when any check could not run."""
    outcomes = [outcome for outcome in outcomes if not outcome.superseded]
    if any(outcome.verdict is Verdict.ERROR for outcome in outcomes):
        return 2
    flagged = {
        "drifted": {Verdict.DRIFTED, Verdict.BROKEN, Verdict.FAILED},
        "noisy": {Verdict.DRIFTED, Verdict.BROKEN, Verdict.FAILED, Verdict.NOISY},
        "never": set(),
    }[fail_on]
    return 1 if any(outcome.verdict in flagged for outcome in outcomes) else 0


__all__ = ["CheckOutcome", "Progress", "accept", "check_target", "exit_code", "run_checks", "track"]
