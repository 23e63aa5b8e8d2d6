"""The command line (Typer): parse, call one function of the core, render. No business logic here."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import threading
import traceback
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from drift import __version__
from drift.alerts.deliver import redact
from drift.alerts.deliver import send as send_alert
from drift.alerts.outbox import global_routes
from drift.baseline_pins import suggested_pins as pins_for_build
from drift.build.pool import EnginePool, EngineSpec
from drift.build_diff import diff_builds
from drift.check import default_cache_dir, exit_code
from drift.config import load_config, parse_duration
from drift.config_sync import SyncResult, sync_config
from drift.errors import DriftError, UsageError
from drift.report import build_markdown as markdown
from drift.report import sbom, table
from drift.report.document import build_document, fetch_document, finding_document, report_document
from drift.report.explanation import explanation
from drift.report.html import report_html
from drift.report.junit import junit_xml
from drift.report.printable import printable, printable_block, printable_build, printable_finding, printable_spec
from drift.report.report_markdown import report_markdown
from drift.run import RunOptions, RunResult, run
from drift.schedule import next_slot, parse_shard
from drift.service import serve
from drift.source import RepositoryCache
from drift.source.location import redact_credentials
from drift.storage import alerts, garbage, history, images, targets
from drift.storage.database import Database, default_database_url
from drift.storage.transfer import copy_history
from drift.targets import BuilderChoice, PullPolicy, parse_build_args
from drift.tracking import accept, track
from drift.values import BuildSummary, TargetSpec, Verdict

app = typer.Typer(
    name="drift",
    help="Nightly reproducibility checks for container image builds.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
alerts_app = typer.Typer(help="Alert routes and the alert outbox.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")

# soft_wrap: a finding is one line however long, so it can be grepped and copied.
# Everything drift prints is data from other people's repositories and images:
# never Rich markup, never emoji codes, never highlighted as if it were code.
out = Console(soft_wrap=True, markup=False, highlight=False, emoji=False)
err = Console(stderr=True, soft_wrap=True, markup=False, highlight=False, emoji=False)
if not out.is_terminal:
    # CI logs and files: Rich would assume 80 columns and fold every table.
    out.width = max(out.width, 160)


class Format(StrEnum):
    table = "table"
    json = "json"


class DetailFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


class Annotations(StrEnum):
    github = "github"


class Switch(StrEnum):
    on = "on"
    off = "off"


class FailOn(StrEnum):
    drifted = "drifted"
    noisy = "noisy"
    never = "never"


@dataclass
class Settings:
    db_url: str
    docker_hosts: list[str]
    verbose: bool
    _db: Database | None = None

    def database(self) -> Database:
        if self._db is None:
            self._db = Database(self.db_url)
        return self._db

    def pool(self, config: Path | None = None) -> EnginePool:
        """The engines to build on: --docker-host (repeated), plus the [[builders]] of a drift.toml."""
        engines: list[EngineSpec] = [EngineSpec(host) for host in self.docker_hosts]
        if config is not None:
            engines += [EngineSpec(b.host, b.tls_verify, b.cert_path) for b in load_config(config).builders]
        return EnginePool(engines or [EngineSpec(None)])

    def cache(self) -> RepositoryCache:
        return RepositoryCache(default_cache_dir())


def _settings(ctx: typer.Context) -> Settings:
    settings = ctx.find_object(Settings)
    assert settings is not None
    return settings


def _version(value: bool) -> None:
    if value:
        out.print(f"drift {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option("--db", envvar="DRIFT_DB", help="Database URL (default: SQLite in the user data dir)."),
    ] = None,
    docker_host: Annotated[
        list[str] | None,
        typer.Option(
            "--docker-host",
            envvar="DOCKER_HOST",
            help="Docker Engine to build on; repeat it for a pool (each build goes to the least busy engine).",
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Stream build logs; tracebacks on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    ctx.obj = Settings(db_url=db or default_database_url(), docker_hosts=list(docker_host or []), verbose=verbose)


# --- targets -------------------------------------------------------------------


@app.command("track")
def track_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Target name: [a-z0-9][a-z0-9._-]*.")],
    repo: Annotated[str, typer.Option("--repo", help="Git URL or local path.")],
    commit: Annotated[str, typer.Option("--commit", help="Commit, branch or tag; stored as the full SHA.")],
    dockerfile: Annotated[
        str | None, typer.Option(help="Dockerfile path in the repo (default CONTEXT/Dockerfile).")
    ] = None,
    context: Annotated[str, typer.Option(help="Build context directory in the repo.")] = ".",
    build_arg: Annotated[list[str] | None, typer.Option("--build-arg", help="KEY=VALUE, repeatable.")] = None,
    target: Annotated[str | None, typer.Option("--target", help="Stage to build.")] = None,
    platform: Annotated[str | None, typer.Option(help="Platform, e.g. linux/amd64.")] = None,
    network: Annotated[str | None, typer.Option(help="Network mode of RUN steps, e.g. host.")] = None,
    pull: Annotated[PullPolicy, typer.Option(help="Base image pull policy.")] = PullPolicy.always,
    schedule: Annotated[str, typer.Option(help="Cron expression.")] = "@daily",
    ignore: Annotated[
        list[str] | None, typer.Option("--ignore", help="Glob of paths that are noise, repeatable.")
    ] = None,
    timeout: Annotated[str, typer.Option("--timeout", help="Build timeout: seconds, or 90s, 30m, 2h.")] = "1h",
    alert: Annotated[
        list[str] | None, typer.Option("--alert", help="Apprise URL for this target's alerts, repeatable.")
    ] = None,
    builder: Annotated[
        BuilderChoice, typer.Option("--builder", help="auto: BuildKit where the engine has it; or buildkit, legacy.")
    ] = BuilderChoice.auto,
    ledger: Annotated[
        Switch, typer.Option("--ledger", help="Record what the build fetches through drift's proxy (on by default).")
    ] = Switch.on,
) -> None:
    """Track a repository at a pinned commit (re-tracking updates it; a new commit starts a new baseline)."""
    settings = _settings(ctx)
    spec, created, pin_moved = track(
        settings.database(),
        settings.cache(),
        name=name,
        repo=repo,
        commit=commit,
        dockerfile=dockerfile,
        context=context,
        build_args=parse_build_args(build_arg or []),
        stage=target,
        platform=platform,
        network=network,
        pull=pull.value,
        schedule=schedule,
        ignore=ignore or [],
        timeout_s=parse_duration(timeout, "--timeout"),
        alerts=alert or [],
        builder=builder.value,
        ledger=ledger is Switch.on,
    )
    if created:
        out.print(f"tracking {spec.name} at {spec.commit[:12]} ({printable_spec(spec).repo})")
    elif pin_moved:
        out.print(
            f"{spec.name} now pinned at {spec.commit[:12]}: its next build starts a new baseline", highlight=False
        )
    else:
        out.print(f"{spec.name} updated (still at {spec.commit[:12]})", highlight=False)


@app.command("untrack")
def untrack_command(ctx: typer.Context, name: str) -> None:
    """Stop tracking a target and forget its history."""
    with _settings(ctx).database().session() as session:
        targets.remove_target(session, name)
    out.print(f"{name} is no longer tracked")


def _spec_document(spec: TargetSpec) -> dict[str, Any]:
    spec = printable_spec(spec)
    return {
        "name": spec.name,
        "repo": spec.repo,
        "commit": spec.commit,
        "dockerfile": spec.dockerfile,
        "context": spec.context,
        "build_args": spec.build_args,
        "target": spec.stage,
        "platform": spec.platform,
        "network": spec.network,
        "pull": spec.pull,
        "schedule": spec.schedule,
        "ignore": list(spec.ignore),
        "timeout_s": spec.timeout_s,
        "alerts": list(spec.alerts),
        "builder": spec.builder,
        "ledger": spec.ledger,
    }


@app.command("targets")
def targets_command(ctx: typer.Context, format: Annotated[Format, typer.Option("--format")] = Format.table) -> None:
    """List the tracked targets and their latest verdict."""
    now = datetime.now(UTC)
    with _settings(ctx).database().session() as session:
        rows = [
            (printable_spec(spec), _printable_or_none(history.latest_finished_build(session, spec.name)))
            for spec in targets.list_targets(session)
        ]
    if format is Format.json:
        documents = [
            {
                **_spec_document(spec),
                "next_run": next_run.isoformat(timespec="seconds")
                if (next_run := next_slot(spec.schedule, now))
                else None,
                "latest": build_document(latest) if latest else None,
            }
            for spec, latest in rows
        ]
        _print_json({"schema": 1, "targets": documents})
    else:
        table.render_targets(out, rows, {spec.name: next_slot(spec.schedule, now) for spec, _latest in rows})


# --- running -------------------------------------------------------------------


class _ConsoleProgress:
    """Build progress on the terminal: a Rich progress bar (targets done, current step, elapsed)."""

    def __init__(self, verbose: bool, progress: Progress | None, total: int) -> None:
        self.verbose = verbose
        self.progress = progress
        self.task = progress.add_task("starting", total=total) if progress is not None else None
        self.lock = threading.Lock()

    def step(self, target: str, text: str) -> None:
        if self.progress is not None and self.task is not None:
            first_line = printable(" ".join(text.split()))
            self.progress.update(self.task, description=f"{target}: {first_line[:80]}")

    def log(self, target: str, line: str) -> None:
        if self.verbose:
            err.print(Text.assemble((f"{target} | ", "dim"), printable(line)), highlight=False, soft_wrap=True)

    def done(self, target: str) -> None:
        if self.progress is not None and self.task is not None:
            with self.lock:
                self.progress.advance(self.task)


@contextmanager
def _progress(verbose: bool, quiet: bool, total: int) -> Iterator[_ConsoleProgress]:
    if verbose or quiet or not err.is_terminal:
        yield _ConsoleProgress(verbose, None, total)
        return
    columns = (
        SpinnerColumn(),
        TextColumn("{task.completed}/{task.total} targets"),
        TextColumn("{task.description}", style="progress.description", markup=False),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        yield _ConsoleProgress(verbose, progress, total)


def _parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?b?)?\s*", text.lower())
    if match is None:
        raise UsageError(f"--min-free {text!r} is not a size; e.g. 5GB, 500MB or 0 to skip the check")
    factor = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12}
    return int(float(match[1]) * factor[match[2] or ""])


def _run_options(
    *, due: bool, shard: str | None, twice: bool, jobs: int, keep_images: int, min_free: str
) -> RunOptions:
    if jobs < 1:
        raise UsageError(f"--jobs {jobs} must be at least 1")
    if keep_images < 0:
        raise UsageError(f"--keep-images {keep_images} must be 0 or more")
    return RunOptions(
        due=due,
        shard=parse_shard(shard) if shard else None,
        twice=twice,
        jobs=jobs,
        keep_images=keep_images,
        min_free_bytes=_parse_size(min_free),
    )


MAX_KEEP_DAYS = 36_500

JobsOption = Annotated[int, typer.Option("--jobs", "-j", help="Builds at once (builds are heavy: default 1).")]
KeepImagesOption = Annotated[
    int, typer.Option("--keep-images", help="Images to keep per target after reading them (newest first).")
]
MinFreeOption = Annotated[
    str, typer.Option("--min-free", help="Refuse to build under this much free space in the engine's data root.")
]


@app.command("run")
def run_command(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="Targets to check (default: all).")] = None,
    fail_on: Annotated[FailOn, typer.Option("--fail-on", help="Which verdicts make the exit code 1.")] = FailOn.drifted,
    due: Annotated[
        bool, typer.Option("--due", help="Only targets whose schedule slot has come and is not built.")
    ] = False,
    shard: Annotated[str | None, typer.Option("--shard", help="K/N: a stable share of the targets, by name.")] = None,
    jobs: JobsOption = 1,
    twice: Annotated[
        bool, typer.Option("--twice", help="Build each target twice back to back; learn what differs as noise.")
    ] = False,
    config: Annotated[Path | None, typer.Option("--config", help="Sync the targets of this drift.toml first.")] = None,
    keep_images: KeepImagesOption = 1,
    min_free: MinFreeOption = "5GB",
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only problems and the summary (for cron).")
    ] = False,
    annotate: Annotated[
        Annotations | None,
        typer.Option("--annotations", help="Also print CI annotations for drifted and broken targets."),
    ] = None,
) -> None:
    """Rebuild targets from scratch and judge each build against its baseline.

    When GITHUB_STEP_SUMMARY is set (GitHub Actions), the Markdown report of the
    targets checked is appended to it.
    """
    settings = _settings(ctx)
    options = _run_options(due=due, shard=shard, twice=twice, jobs=jobs, keep_images=keep_images, min_free=min_free)
    db = settings.database()
    if config is not None:
        _print_sync(sync_config(db, settings.cache(), config), quiet)
    with db.session() as session:
        total = len(targets.list_targets(session, names or []))
    with _progress(settings.verbose, quiet, total) as progress:
        result = run(db, settings.cache(), settings.pool(config), names or [], progress, options)
    _print_run(db, result, quiet)
    checked = sorted({o.target for o in result.outcomes})
    if checked and (annotate is not None or os.environ.get("GITHUB_STEP_SUMMARY")):
        rows = [row for row in _report_rows(db, checked, None, nights=30) if row[0].name in checked]
        if annotate is Annotations.github:
            for line in github_annotations(rows):
                sys.stdout.write(line + "\n")
        summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary_path:
            with open(summary_path, "a", encoding="utf-8") as summary:
                summary.write(report_markdown(rows, datetime.now(UTC)) + "\n")
    raise typer.Exit(exit_code(result.outcomes, fail_on.value))


def github_annotations(rows: Rows) -> list[str]:
    """GitHub Actions workflow commands: an error per broken target, a warning per drifted one."""

    def escape(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    lines = []
    for spec, latest, _history in rows:
        if latest is None or latest.verdict not in (Verdict.DRIFTED, Verdict.BROKEN, Verdict.FAILED):
            continue
        level = "warning" if latest.verdict is Verdict.DRIFTED else "error"
        title = escape(f"drift: {spec.name} {latest.verdict.value}").replace(",", "%2C").replace("::", "%3A%3A")
        lines.append(f"::{level} title={title}::{escape(explanation(latest))} (drift show {latest.id})")
    return lines


def _print_sync(result: SyncResult, quiet: bool) -> None:
    changes = [
        ("added", result.added),
        ("updated", result.updated),
        ("pin moved (new baseline)", result.moved),
        ("disabled (gone from the file)", result.disabled),
    ]
    if quiet:
        return
    said = [f"{word}: {', '.join(names)}" for word, names in changes if names]
    if result.unreachable:
        said.append(f"unreachable tonight (checked as errors): {', '.join(name for name, _why in result.unreachable)}")
    out.print(f"{result.path.name}: " + ("; ".join(said) if said else "targets up to date"), highlight=False)


def _print_run(db: Database, result: RunResult, quiet: bool) -> None:
    outcomes = result.outcomes
    for down in result.engines_down:
        _error_line(f"drift: warning: engine marked down: {down}")
    for build_id in result.recovered:
        out.print(f"build {build_id} was left running by a process that stopped: marked interrupted", highlight=False)
    for name, reason in result.skipped:
        if not quiet:
            out.print(f"{name}: skipped ({reason})", highlight=False, markup=False)
    if not outcomes:
        if not quiet and not result.skipped:
            err.print("nothing to check: no targets are tracked, or none is due")
        return
    for outcome in outcomes:
        if not outcome.build_id:  # the error could not even be recorded (the database is away)
            out.print(f"{outcome.target}: error (not recorded)")
    outcomes = tuple(outcome for outcome in outcomes if outcome.build_id)
    with db.session() as session:
        builds = [printable_build(history.get_build(session, outcome.build_id)) for outcome in outcomes]
    for outcome, build in zip(outcomes, builds, strict=True):
        problem = build.verdict in (Verdict.DRIFTED, Verdict.BROKEN, Verdict.FAILED, Verdict.ERROR)
        if quiet and (not problem or outcome.superseded):
            continue
        table.render_outcome(out, build)
        if outcome.learned:
            out.print(
                f"  learned {len(outcome.learned)} nondeterministic path(s) from two back-to-back builds: "
                f"{', '.join(printable(path) for path in outcome.learned[:5])}"
                + (" ..." if len(outcome.learned) > 5 else ""),
                highlight=False,
            )
    final = [o for o in result.outcomes if not o.superseded]
    counts = Counter(o.verdict.value for o in final)
    summary = ", ".join(f"{count} {verdict}" for verdict, count in sorted(counts.items()))
    out.print(f"checked {len(final)} target(s): {summary}", highlight=False)
    if result.alerts_sent:
        out.print(f"sent {result.alerts_sent} alert(s)", highlight=False)
    for failure in result.alert_failures:
        _error_line(f"drift: warning: {failure}")
    for message in sorted({o.error for o in final if o.error and o.verdict is Verdict.ERROR}):
        _error_line(f"drift: error: {message}")


@app.command("schedule")
def schedule_command(
    ctx: typer.Context,
    jobs: JobsOption = 1,
    config: Annotated[Path | None, typer.Option("--config", help="Sync this drift.toml at start.")] = None,
    keep_images: KeepImagesOption = 1,
    min_free: MinFreeOption = "5GB",
) -> None:
    """Run as a service: sleep until the next due slot, build what is due, repeat. Stops cleanly on SIGTERM."""
    settings = _settings(ctx)
    options = _run_options(due=True, shard=None, twice=False, jobs=jobs, keep_images=keep_images, min_free=min_free)
    db = settings.database()
    if config is not None:
        _print_sync(sync_config(db, settings.cache(), config), quiet=False)
    stop = options.stop

    def on_signal(signum: int, _frame: object) -> None:
        _log_line(f"received {signal.Signals(signum).name}: finishing, then stopping")
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    serve(db, settings.cache(), settings.pool(config), options, log=_log_line)
    _log_line("stopped")


def _log_line(message: str) -> None:
    sys.stdout.write(f"{datetime.now(UTC).isoformat(timespec='seconds')} {message}\n")
    sys.stdout.flush()


@app.command("gc")
def gc_command(
    ctx: typer.Context,
    keep_days: Annotated[int, typer.Option("--keep-days", help="Keep builds started within this many days.")] = 90,
) -> None:
    """Prune old history; builds where a verdict changed (baselines, first drift, recovery) are always kept."""
    if not 0 <= keep_days <= MAX_KEEP_DAYS:
        raise UsageError(f"--keep-days {keep_days} must be between 0 and {MAX_KEEP_DAYS} (a hundred years)")
    with _settings(ctx).database().session() as session:
        removed = garbage.collect_garbage(session, datetime.now(UTC) - timedelta(days=keep_days))
    out.print(
        f"removed {removed.builds} build(s), {removed.layer_contents} layer content(s), "
        f"{removed.package_sets} package set(s); kept every build where a verdict changed",
        highlight=False,
    )


@app.command("accept")
def accept_command(
    ctx: typer.Context,
    name: str,
    build: Annotated[int | None, typer.Argument(help="Build to accept (default: the latest succeeded).")] = None,
) -> None:
    """Make a build the baseline of its source: acknowledge a change you will not pin."""
    accepted = accept(_settings(ctx).database(), name, build)
    out.print(f"build {accepted.id} is now the baseline of {name} at {accepted.commit[:12]}", highlight=False)


# --- reading -------------------------------------------------------------------


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"
    html = "html"
    junit = "junit"


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--since {value!r} is not a date; use YYYY-MM-DD or an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


Rows = list[tuple[TargetSpec, BuildSummary | None, list[BuildSummary]]]


def _report_rows(db: Database, names: Sequence[str], since: datetime | None, nights: int = 60) -> Rows:
    with db.session() as session:
        rows: Rows = []
        for spec in targets.list_targets(session, names):
            builds = [
                printable_build(b)
                for b in history.target_history(session, spec.name, since=since, limit=nights)
                if b.verdict is not None
            ]
            rows.append((printable_spec(spec), builds[0] if builds else None, builds))
    return rows


def _risks_of(db: Database, rows: Rows) -> dict[int, list[dict[str, Any]]]:
    with db.session() as session:
        return {b.id: history.build_dockerfile(session, b.id)[1] for _spec, _latest, builds in rows for b in builds}


@app.command("report")
def report_command(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="Targets (default: all).")] = None,
    format: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.table,
    output: Annotated[Path | None, typer.Option("--output", help="Write to this file instead of stdout.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only builds started on or after this date.")] = None,
) -> None:
    """The latest verdict of each target, with what explains it (table, json, markdown, html or junit)."""
    db = _settings(ctx).database()
    rows = _report_rows(db, names or [], _parse_since(since))
    now = datetime.now(UTC)
    if format is ReportFormat.table:
        console = (
            Console(file=output.open("w"), width=160, markup=False, highlight=False, emoji=False) if output else out
        )
        table.render_report(console, rows)
        return
    if format is ReportFormat.json:
        text = json.dumps(report_document(rows, generated_at=now), indent=2) + "\n"
    elif format is ReportFormat.markdown:
        text = report_markdown(rows, now)
    elif format is ReportFormat.html:
        text = report_html(rows, now, _risks_of(db, rows))
    else:
        text = junit_xml(rows, now)
    if output:
        output.write_text(text)
        err.print(f"wrote {output}", highlight=False)
    else:
        sys.stdout.write(text)


@app.command("history")
def history_command(
    ctx: typer.Context, name: str, format: Annotated[Format, typer.Option("--format")] = Format.table
) -> None:
    """A target's builds, newest first."""
    with _settings(ctx).database().session() as session:
        builds = [printable_build(b) for b in history.target_history(session, name)]
    if format is Format.json:
        _print_json({"schema": 1, "target": name, "builds": [build_document(b) for b in builds]})
    else:
        table.render_history(out, name, builds)


@app.command("show")
def show_command(
    ctx: typer.Context,
    build: int,
    format: Annotated[DetailFormat, typer.Option("--format")] = DetailFormat.table,
    suggest_pins: Annotated[
        bool, typer.Option("--suggest-pins", help="Print the pins of the last good build as a diff of the Dockerfile.")
    ] = False,
) -> None:
    """One build: verdict, findings by layer, noise and its rules, base images, risks, layers."""
    db = _settings(ctx).database()
    with db.session() as session:
        summary = printable_build(history.get_build(session, build))
        layers = [
            {**layer, "instruction": printable(str(layer["instruction"]))}
            for layer in images.layer_summaries(session, build)
        ]
        _text, risks = history.build_dockerfile(session, build)
    risks = [{key: printable(value) if isinstance(value, str) else value for key, value in r.items()} for r in risks]
    pins = pins_for_build(db, build) if suggest_pins else None
    if format is DetailFormat.json:
        document = {
            "schema": 1,
            **build_document(summary),
            "risks": risks,
            "layers": layers,
            "ledger": summary.ledger,
            "fetches": [fetch_document(f) for f in summary.fetches],
        }
        if pins is not None:
            document["suggested_pins"] = [
                {
                    "line": p.line,
                    "risk": p.risk_id,
                    "subject": p.subject,
                    "before": p.before,
                    "after": p.after,
                    "description": p.description,
                }
                for p in pins.pins
            ]
            document["pins_diff"] = pins.diff
        _print_json(document)
        return
    if format is DetailFormat.markdown:
        sys.stdout.write(markdown.build_markdown(summary, layers, risks, pins.diff if pins else ""))
        return
    if pins is not None:
        for pin in pins.pins:
            out.print(
                f"# line {pin.line} ({pin.risk_id}, {pin.subject}): {pin.description}", highlight=False, markup=False
            )
        if pins.diff:
            sys.stdout.write(printable_block(pins.diff))
        elif not pins.pins:
            err.print("no pins to suggest: no risk of this Dockerfile has a known last good value")
        return
    table.render_outcome(out, summary, show_noise=True)
    for base in summary.base_images:
        out.print(
            f"  stage {base.stage}: FROM {base.reference} -> {base.digest}"
            + (f" ({base.layer_count} inherited layers)" if base.final else ""),
            highlight=False,
            markup=False,
        )
    if summary.builder:
        b = summary.builder
        out.print(
            f"  built by Docker Engine {b.engine_version} (API {b.api_version}, {b.os}/{b.arch}, {b.storage_driver})",
            highlight=False,
        )
    if risks:
        out.print(f"  unpinned inputs ({len(risks)}):", highlight=False)
        for risk in risks:
            out.print(
                f"    {risk['id']} line {risk['line']}: {risk['message']}; fix: {risk['fix']}",
                highlight=False,
                markup=False,
            )
    table.render_external_inputs(out, summary)
    for layer in layers:
        out.print(
            f"  layer {layer['index']}: {layer['normalized_digest'][:19]}  {layer['files']:>6} files  "
            f"{layer['instruction']}",
            highlight=False,
            markup=False,
        )
    if summary.log_tail:
        out.print("  log tail:", highlight=False)
        out.print(summary.log_tail, highlight=False, markup=False)


@app.command("diff")
def diff_command(
    ctx: typer.Context,
    build_a: int,
    build_b: int,
    format: Annotated[DetailFormat, typer.Option("--format")] = DetailFormat.table,
) -> None:
    """Every difference between two succeeded builds (of any targets)."""
    first, second, findings = diff_builds(_settings(ctx).database(), build_a, build_b)
    first, second = printable_build(first), printable_build(second)
    findings = [printable_finding(f) for f in findings]
    if format is DetailFormat.markdown:
        sys.stdout.write(markdown.diff_markdown(first, second, findings))
        return
    if format is DetailFormat.json:
        _print_json({"schema": 1, "from": build_a, "to": build_b, "findings": [finding_document(f) for f in findings]})
        return
    if not findings:
        out.print(f"builds {build_a} and {build_b} have the same normalized content")
    table.render_findings(out, findings)


class SbomFormat(StrEnum):
    cyclonedx = "cyclonedx"
    spdx = "spdx"


@app.command("packages")
def packages_command(
    ctx: typer.Context, build: int, format: Annotated[Format, typer.Option("--format")] = Format.table
) -> None:
    """The packages installed in a build's image, with the layer that introduced each."""
    with _settings(ctx).database().session() as session:
        summary = history.get_build(session, build)
        packages = images.load_packages(session, build)
        warnings = images.catalog_warnings(session, build) if summary.status == "succeeded" else []
    if format is Format.json:
        documents = [
            {
                "ecosystem": p.ecosystem,
                "name": p.name,
                "version": p.version,
                "arch": p.arch,
                "purl": p.purl,
                "source": p.source,
                "layer": p.layer,
            }
            for p in packages
        ]
        _print_json({"schema": 1, "build": build, "packages": documents, "warnings": warnings})
        return
    table.render_packages(out, summary, packages, warnings)


@app.command("sbom")
def sbom_command(
    ctx: typer.Context,
    build: int,
    format: Annotated[SbomFormat, typer.Option("--format")] = SbomFormat.cyclonedx,
    output: Annotated[Path | None, typer.Option("--output", help="Write to this file instead of stdout.")] = None,
) -> None:
    """A software bill of materials of a build's image (CycloneDX 1.6 or SPDX 2.3 JSON)."""
    with _settings(ctx).database().session() as session:
        summary = history.get_build(session, build)
        if summary.status != "succeeded":
            raise UsageError(f"build {build} did not succeed ({summary.status}); it has no image to describe")
        packages = images.load_packages(session, build)
    text = (
        sbom.cyclonedx_json(summary, packages) if format is SbomFormat.cyclonedx else sbom.spdx_json(summary, packages)
    )
    if output:
        output.write_text(text + "\n")
    else:
        sys.stdout.write(text + "\n")


@alerts_app.command("test")
def alerts_test_command(
    ctx: typer.Context,
    route: Annotated[str | None, typer.Argument(help="An apprise URL (default: every global route).")] = None,
) -> None:
    """Send a test message, to check a route works."""
    routes = [route] if route else global_routes()
    if not routes:
        raise UsageError("no route to test; give an apprise URL or set DRIFT_ALERT_URLS")
    failures = 0
    for each in routes:
        error = send_alert(each, "drift: test alert", "This is a test message from drift. Alerts reach this route.")
        if error is None:
            out.print(f"sent a test message to {redact(each)}", highlight=False, markup=False)
        else:
            failures += 1
            _error_line(f"drift: error: {redact(each)}: {error}")
    raise typer.Exit(2 if failures else 0)


@alerts_app.command("list")
def alerts_list_command(
    ctx: typer.Context,
    pending: Annotated[bool, typer.Option("--pending", help="Only alerts not delivered yet.")] = False,
    format: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """The alert outbox: pending and sent alerts."""
    with _settings(ctx).database().session() as session:
        rows = alerts.list_alerts(session, pending_only=pending)
    if format is Format.json:
        documents = [
            {
                "id": a.id,
                "build": a.build_id,
                "target": a.target,
                "event": a.event,
                "route": redact(a.route),
                "status": a.status,
                "attempts": a.attempts,
                "created_at": a.created_at.isoformat(timespec="seconds"),
                "sent_at": a.sent_at.isoformat(timespec="seconds") if a.sent_at else None,
                "last_error": printable(a.last_error) if a.last_error else None,
                "title": printable(a.title),
            }
            for a in rows
        ]
        _print_json({"schema": 1, "alerts": documents})
        return
    table.render_alerts(out, rows, redact)


@db_app.command("migrate-to")
def db_migrate_to_command(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Argument(help="The database to copy the history into, e.g. postgresql://user@host/drift")
    ],
) -> None:
    """Copy the whole history of --db into another (empty) database, e.g. SQLite into PostgreSQL."""
    source = _settings(ctx).database()
    destination = Database(url)
    counts = copy_history(source, destination)
    moved = ", ".join(f"{count} {table}" for table, count in counts.items() if count)
    out.print(f"copied into {destination.engine.url.render_as_string(hide_password=True)}: {moved}", highlight=False)


@db_app.command("upgrade")
def db_upgrade_command(ctx: typer.Context) -> None:
    """Apply pending schema migrations (drift also does this on first use)."""
    db = Database(_settings(ctx).db_url, upgrade=False)
    applied = db.upgrade()
    out.print(f"database at revision {db.current_revision()}" + (" (upgraded)" if applied else " (already current)"))


def _error_line(message: str) -> None:
    # Plain write: an error is one line, never folded to the terminal's width, never a secret or an escape code.
    sys.stderr.write(printable(redact_credentials(" ".join(message.split()))) + "\n")


def _print_json(document: dict[str, Any]) -> None:
    # ASCII JSON: control characters and undecodable bytes stay escaped, whatever the terminal.
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


def _printable_or_none(build: BuildSummary | None) -> BuildSummary | None:
    return printable_build(build) if build is not None else None


class _OneLineLog(logging.Formatter):
    """drift's own log records on stderr: one escaped line each; the traceback only with --verbose."""

    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        line = f"drift: {record.levelname.lower()}: {printable(' '.join(record.getMessage().split()))}"
        if self.verbose and record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineLog(verbose))
    logger = logging.getLogger("drift")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    logger.propagate = False


def main() -> None:
    """Console entry point: one line and exit code 2 for every error drift can name."""
    verbose = "--verbose" in sys.argv or "-v" in sys.argv
    _configure_logging(verbose)
    for stream in (sys.stdout, sys.stderr):
        # A last guard: an undecodable byte that reaches a write is shown escaped, never a crash.
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    try:
        # Standalone mode: Typer prints usage errors (exit 2) and exits with
        # the code of typer.Exit; drift's own errors come through to here.
        app()
    except DriftError as exc:
        _error_line(f"drift: error: {exc}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _error_line("drift: interrupted")
        sys.exit(130)
    except Exception as exc:
        if verbose:
            traceback.print_exc()
        _error_line(f"drift: internal error: {exc!r} (a bug; rerun with --verbose for the traceback)")
        sys.exit(70)
