"""The nightly check, one flow: source at a commit -> build -> read the image -> compare -> store.

The command line calls these functions; they take the open database, the
repository cache and the engine, and return values, never rows.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

from drift.build.interface import BuildFailed, BuildInterrupted, Engine
from drift.catalog import default_catalogers
from drift.compare.diff import compare_builds
from drift.compare.fetches import compare_fetches, order_findings
from drift.compare.ignore import IgnoreRule, IgnoreRules
from drift.compare.risk_links import link_risks
from drift.compare.verdict import judge, mark_new
from drift.dockerfile import Dockerfile, Risk, find_risks, layer_instructions, parse_dockerfile
from drift.dockerfile.features import buildkit_only
from drift.errors import DriftError, EngineError, SourceError
from drift.image import read_image
from drift.ledger.build import ON, BuildLedger
from drift.ledger.fetch import Fetch
from drift.ledger.record import record_fetches
from drift.published import PublishedCheck, refresh_published
from drift.source.git import RepositoryCache
from drift.storage import baselines, builds, fetches, history, images, installation, noise
from drift.storage.database import Database
from drift.targets import source_fingerprint
from drift.values import (
    BaseImage,
    BuilderInfo,
    BuildOutput,
    Finding,
    ImageRecord,
    RecordedFetch,
    TargetSpec,
    Verdict,
)

log = logging.getLogger(__name__)


class Progress(Protocol):
    """What the check tells the person watching, while it works."""

    def step(self, target: str, text: str) -> None: ...

    def log(self, target: str, line: str) -> None: ...

    def done(self, target: str) -> None: ...


class SilentProgress:
    def step(self, target: str, text: str) -> None:
        pass

    def log(self, target: str, line: str) -> None:
        pass

    def done(self, target: str) -> None:
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
    interrupted: bool = False


# --- running -------------------------------------------------------------------


def record_error(db: Database, spec: TargetSpec, message: str, slot: datetime | None = None) -> CheckOutcome:
    """Record that the check of a target could not run at all (never as drift)."""
    with db.session() as session:
        build_id = builds.start_build(session, spec.name, source_fingerprint(spec), spec.commit, slot=slot)
        builds.finish_build(session, build_id, status="error", verdict=Verdict.ERROR, error=message)
    return CheckOutcome(spec.name, build_id, Verdict.ERROR, (), error=message)


@dataclass(frozen=True)
class BuildContext:
    """How one run builds: who it is, when to stop, what to keep.

    Attributes:
        owner: this process ("host:pid:nonce"), recorded on its builds and leases.
        stop: set when drift is asked to stop; running builds are interrupted.
        slot: the schedule slot the build is for (None when asked for by hand).
        keep_images: how many of its newest images to keep per target.
        min_free_bytes: refuse to build when the engine's data root has less free space.
        on_build_started: told the build id as soon as the row exists.
    """

    owner: str = "local"
    stop: threading.Event = field(default_factory=threading.Event)
    slot: datetime | None = None
    keep_images: int = 1
    min_free_bytes: int = 0
    on_build_started: Callable[[int], None] | None = None
    engine_host: str | None = None


def check_target(
    db: Database,
    cache: RepositoryCache,
    engine: Engine,
    spec: TargetSpec,
    progress: Progress,
    *,
    learn_from: int | None = None,
    context: BuildContext | None = None,
) -> CheckOutcome:
    """Build one target from scratch, read its image, judge it against its baseline and record it all.

    `learn_from`: a build of the same source made minutes ago; what differs
    from it is learned as noise before this build is judged. The caller holds
    the target's lease (drift.run) when builds may run concurrently.
    """
    context = context or BuildContext()
    fingerprint = source_fingerprint(spec)
    published = PublishedCheck()
    if spec.published is not None:
        # Before the build's row: a re-pushed tag's new baseline comes before the build judged against it.
        progress.step(spec.name, "pulling the published image")
        try:
            published = refresh_published(db, engine, spec, fingerprint)
        except DriftError as exc:
            return record_error(db, spec, str(exc), context.slot)
    with db.session() as session:
        installation_id = installation.installation_id(session)
        build_id = builds.start_build(
            session,
            spec.name,
            fingerprint,
            spec.commit,
            slot=context.slot,
            owner=context.owner,
            engine_host=context.engine_host or engine.host,
        )
    if context.on_build_started is not None:
        context.on_build_started(build_id)
    builder: BuilderInfo | None = None
    bases: list[BaseImage] = []
    ledger = BuildLedger(
        enabled=spec.ledger,
        engine_host=engine.host,
        network=spec.network,
        build_args=spec.build_args,
        bridge_gateway=engine.bridge_gateway,
    )
    dockerfile_text: str | None = None

    def remember(item: str) -> None:
        with db.session() as session:
            builds.add_engine_objects(session, build_id, [item])

    def clean_up() -> None:
        with db.session() as session:
            objects = builds.engine_objects(session, build_id)
        engine.remove_objects(objects)

    try:
        builder = replace(engine.builder_info(), builder=engine.resolve_builder(spec.builder))
        _check_free_space(engine, context.min_free_bytes)
        progress.step(spec.name, "fetching source")
        with cache.checkout(spec.repo, spec.commit, target=spec.name) as tree:
            dockerfile, context_dir = _inside_export(tree, spec)
            dockerfile_text = dockerfile.read_text(errors="replace")
            model = parse_dockerfile(dockerfile_text, spec.build_args)
            if builder.builder == "legacy" and (needs := buildkit_only(model, dockerfile_text)):
                raise BuildFailed(
                    f"the legacy builder cannot build this Dockerfile: {'; '.join(needs)}; "
                    f"track it with --builder buildkit (or auto on an engine with BuildKit)",
                    None,
                    "",
                )
            progress.step(spec.name, "building with " + builder.builder)
            with ledger:
                built = engine.build(
                    spec,
                    context_dir,
                    dockerfile,
                    model=model,
                    tag=f"drift-{installation_id[:12]}:{spec.name[:100]}-b{build_id}",
                    labels={
                        **published.labels,
                        "drift.target": spec.name,
                        "drift.build": str(build_id),
                        "drift.installation": installation_id,
                    },
                    on_log=lambda line: _on_log(progress, spec.name, line),
                    on_object=remember,
                    stop=context.stop,
                    builder=builder.builder,
                    on_step=ledger.on_step,
                    proxy_args=ledger.proxy_args,
                )
            bases, inherited = engine.resolve_base_images(model, spec.stage)
        progress.step(spec.name, "reading image")
        image = read_image(engine, built.image_id, default_catalogers())
        engine.remove_older_images(spec.name, installation_id, keep=context.keep_images)
        progress.step(spec.name, "comparing")
        recorded = _Recorded(
            build_id,
            fingerprint,
            dockerfile_text,
            image,
            tuple(bases),
            inherited,
            builder,
            ledger.state,
            tuple(ledger.fetches()),
            published.with_rebuild(built.created),
        )
        return _judge_and_record(db, spec, recorded, learn_from)
    except BuildFailed as failure:
        clean_up()
        with db.session() as session:
            has_baseline = baselines.baseline_build_id(session, spec.name, fingerprint) is not None
            verdict = Verdict.BROKEN if has_baseline else Verdict.FAILED
            builds.finish_build(
                session,
                build_id,
                status="failed",
                verdict=verdict,
                builder=builder,
                error=failure.message,
                failed_step=failure.failed_step,
                log_tail=failure.log_tail,
                ledger=ledger.state if ledger.started else None,
                fetched=_unjudged_ledger(spec, dockerfile_text, ledger.fetches()),
            )
        return CheckOutcome(spec.name, build_id, verdict, (), failure.message, failure.failed_step)
    except BuildInterrupted as stopped:
        clean_up()
        reason = f"interrupted: drift was asked to stop ({stopped})"
        with db.session() as session:
            builds.finish_build(
                session, build_id, status="interrupted", verdict=Verdict.ERROR, builder=builder, error=reason
            )
        return CheckOutcome(spec.name, build_id, Verdict.ERROR, (), reason, interrupted=True)
    except DriftError as exc:
        clean_up()
        with db.session() as session:
            builds.finish_build(
                session, build_id, status="error", verdict=Verdict.ERROR, builder=builder, error=str(exc)
            )
        return CheckOutcome(spec.name, build_id, Verdict.ERROR, (), str(exc))
    except (KeyboardInterrupt, SystemExit) as exc:
        # Ctrl-C: never leave the row running; say what stopped it, and stop.
        _clean_up_after_bug(clean_up, exc)
        with db.session() as session:
            reason = "interrupted before the build was recorded"
            builds.finish_build(session, build_id, status="interrupted", verdict=Verdict.ERROR, error=reason)
        raise
    except Exception as exc:
        # Whatever a hostile repository or image makes go wrong in drift itself is this
        # target's error, with its reason; the night goes on for the other targets.
        log.exception("checking %s failed", spec.name)
        _clean_up_after_bug(clean_up, exc)
        reason = f"internal error while checking {spec.name}: {exc.__class__.__name__}: {exc} (a bug in drift)"
        with db.session() as session:
            builds.finish_build(session, build_id, status="error", verdict=Verdict.ERROR, builder=builder, error=reason)
        return CheckOutcome(spec.name, build_id, Verdict.ERROR, (), reason)


@dataclass(frozen=True, slots=True)
class _Recorded:
    """What a finished build left to judge: its row, its image, what it was built from and by."""

    build_id: int
    fingerprint: str
    dockerfile_text: str
    image: ImageRecord
    bases: tuple[BaseImage, ...]
    inherited: int
    builder: BuilderInfo | None
    ledger: str = "off"
    fetches: tuple[Fetch, ...] = ()
    # Said before the build was compared: the published image it is judged against was re-pushed.
    published: tuple[Finding, ...] = ()


def _judge_and_record(db: Database, spec: TargetSpec, recorded: _Recorded, learn_from: int | None) -> CheckOutcome:
    """Compare a built image with its source's baseline and record the build, its verdict and findings."""
    build_id, fingerprint, builder = recorded.build_id, recorded.fingerprint, recorded.builder
    source = _explain_source(spec, recorded.dockerfile_text, recorded.image, recorded.bases)
    image = source.image
    fetched = record_fetches(
        recorded.fetches,
        source.dockerfile,
        final_stage=source.final_stage,
        layer_by_line=source.instruction_layers,
        risks=source.risks,
    )
    output = BuildOutput(image=image, base_images=recorded.bases, base_layer_count=recorded.inherited, builder=builder)
    learned: list[str] = []
    with db.session() as session:
        if learn_from is not None:
            twin = compare_builds(images.load_output(session, learn_from), output, IgnoreRules.for_target(spec.ignore))
            nondeterministic = {f.subject for f in twin if f.kind == "file" and not f.ignored}
            learned = noise.learn_noise(session, learn_from, build_id, nondeterministic)
        rules = _ignore_rules(spec, noise.learned_noise(session, spec.name, fingerprint))
        baseline_id = baselines.baseline_build_id(session, spec.name, fingerprint)
        findings: list[Finding] = []
        if baseline_id is None:
            verdict = Verdict.BASELINE
        else:
            findings = [*recorded.published, *compare_builds(images.load_output(session, baseline_id), output, rules)]
            baseline_ledger, baseline_fetches = fetches.build_ledger(session, baseline_id)
            if recorded.ledger == ON and baseline_ledger == ON:  # else one of them does not know what was fetched
                findings += compare_fetches(baseline_fetches, fetched)
            previous = history.previous_succeeded_build(session, build_id)
            seen = history.finding_keys(session, previous) if previous is not None else set()
            findings = mark_new(findings, seen)
            findings = link_risks(findings, source.risks, source.layer_lines, source.from_lines)
            verdict = judge(findings)
            findings = order_findings(findings, verdict)
        builds.finish_build(
            session,
            build_id,
            status="succeeded",
            verdict=verdict,
            builder=builder,
            image=image,
            compared_to=baseline_id,
            findings=findings,
            base_images=recorded.bases,
            dockerfile_text=recorded.dockerfile_text,
            risks=[_risk_document(risk) for risk in source.risks],
            ledger=recorded.ledger,
            fetched=fetched,
        )
    return CheckOutcome(spec.name, build_id, verdict, tuple(findings), learned=tuple(learned))


def _unjudged_ledger(
    spec: TargetSpec, dockerfile_text: str | None, fetched: Sequence[Fetch]
) -> tuple[RecordedFetch, ...]:
    """The ledger of a build that made no image: each fetch with its instruction, no layer."""
    try:
        dockerfile = parse_dockerfile(dockerfile_text, spec.build_args) if dockerfile_text is not None else None
    except Exception:  # drift's parser failed on what the engine tried to build: keep the engine's step text
        log.warning("cannot parse the Dockerfile of %s to attribute its fetches", spec.name, exc_info=True)
        dockerfile = None
    return record_fetches(fetched, dockerfile)


@dataclass(frozen=True, slots=True)
class _Source:
    """What the Dockerfile at the pinned commit tells about a built image."""

    image: ImageRecord
    risks: tuple[Risk, ...]
    layer_lines: dict[int, tuple[int, int]]
    from_lines: dict[str, int]
    dockerfile: Dockerfile | None = None
    final_stage: int | None = None
    # The first line of each instruction that made a layer -> the layer's index.
    instruction_layers: dict[int, int] = field(default_factory=dict)


def _inside_export(tree: Path, spec: TargetSpec) -> tuple[Path, Path]:
    """The Dockerfile and the context directory of the export, both resolved inside it.

    A committed symlink may point anywhere on the build host (`Dockerfile ->
    /home/ci/.netrc`): it is never followed out of the export, and nothing of
    its target is read. Such a source cannot build, so the build fails (a
    verdict), it is not an error of drift.
    """
    root = tree.resolve()
    paths = []
    for relative, what in ((spec.dockerfile, "Dockerfile"), (spec.context, "context")):
        try:
            resolved = (tree / relative).resolve()
        except (OSError, RuntimeError) as exc:  # a symlink loop
            raise BuildFailed(f"the {what} {relative!r} cannot be resolved: {exc}", None, "") from None
        if not resolved.is_relative_to(root):
            raise BuildFailed(
                f"the {what} {relative!r} is a symlink that leads out of the repository; "
                "drift does not follow it (commit the file itself)",
                None,
                "",
            )
        paths.append(resolved)
    dockerfile, context_dir = paths
    if not dockerfile.is_file():
        raise SourceError(f"no Dockerfile at {spec.dockerfile!r} in commit {spec.commit[:12]} of {spec.repo}")
    ignore_file = context_dir / ".dockerignore"
    if ignore_file.is_symlink() and not ignore_file.resolve().is_relative_to(root):
        raise BuildFailed(
            "the context's .dockerignore is a symlink that leads out of the repository; drift does not follow it",
            None,
            "",
        )
    return dockerfile, context_dir


def _clean_up_after_bug(clean_up: Callable[[], None], exc: BaseException) -> None:
    try:
        clean_up()
    except Exception as cleanup_error:  # the original error is the one to report
        log.warning("cleaning up after %r failed: %s", exc, cleanup_error)


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
        log.warning("cannot parse the Dockerfile of %s: layers keep the image history's text", spec.name, exc_info=True)
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
    instruction_layers = {first: index for index, (first, _last) in layer_lines.items()}
    explained = replace(image, layers=tuple(layers))
    return _Source(explained, risks, layer_lines, from_lines, dockerfile, stage.index, instruction_layers)


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
        IgnoreRule(path, f"differed between back-to-back builds {a} and {b}", "learned") for path, a, b in learned_paths
    ]
    return IgnoreRules.for_target(spec.ignore, learned=learned)


def _check_free_space(engine: Engine, min_free_bytes: int) -> None:
    if min_free_bytes <= 0:
        return
    free = engine.free_bytes()
    if free is not None and free < min_free_bytes:
        raise EngineError(
            f"only {free / 1e9:.1f} GB free where the Docker Engine keeps its data (under the "
            f"{min_free_bytes / 1e9:.1f} GB minimum); free space (`docker system prune`) or lower --min-free"
        )


def _on_log(progress: Progress, target: str, line: str) -> None:
    progress.log(target, line)
    # The legacy builder's "Step 2/5 : RUN make", BuildKit's "#7 [2/5] RUN make": the step now running.
    if line.startswith("Step ") or (line.startswith("#") and "] " in line and "[internal]" not in line):
        progress.step(target, line)


def exit_code(outcomes: Sequence[CheckOutcome], fail_on: str = "drifted") -> int:
    """0 nothing to flag, 1 drifted or broken (per fail_on), 2 when any check could not run."""
    outcomes = [outcome for outcome in outcomes if not outcome.superseded and not outcome.interrupted]
    if any(outcome.verdict is Verdict.ERROR for outcome in outcomes):
        return 2
    flagged = {
        "drifted": {Verdict.DRIFTED, Verdict.BROKEN, Verdict.FAILED},
        "noisy": {Verdict.DRIFTED, Verdict.BROKEN, Verdict.FAILED, Verdict.NOISY},
        "never": set(),
    }[fail_on]
    return 1 if any(outcome.verdict in flagged for outcome in outcomes) else 0


__all__ = ["BuildContext", "CheckOutcome", "Progress", "check_target", "exit_code", "record_error"]
