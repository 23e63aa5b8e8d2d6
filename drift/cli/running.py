"""Commands that build: run, schedule, gc; and how a run shows its progress and its outcome."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from drift.cli.app import app, settings
from drift.cli.output import err, error_line, human_size, out
from drift.errors import UsageError
from drift.report.printable import printable

if TYPE_CHECKING:
    from rich.progress import Progress

    from drift.config_sync import SyncResult
    from drift.run import RunOptions, RunResult
    from drift.storage.database import Database

MAX_KEEP_DAYS = 36_500


class Annotations(StrEnum):
    github = "github"


class FailOn(StrEnum):
    drifted = "drifted"
    noisy = "noisy"
    never = "never"


JobsOption = Annotated[int, typer.Option("--jobs", "-j", help="Builds at once (builds are heavy: default 1).")]
KeepImagesOption = Annotated[
    int, typer.Option("--keep-images", help="Images to keep per target after reading them (newest first).")
]
MinFreeOption = Annotated[
    str, typer.Option("--min-free", help="Refuse to build under this much free space in the engine's data root.")
]


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
            from rich.text import Text

            err.print(Text.assemble((f"{target} | ", "dim"), printable(line)), soft_wrap=True)

    def done(self, target: str) -> None:
        if self.progress is not None and self.task is not None:
            with self.lock:
                self.progress.advance(self.task)


@contextmanager
def _progress(verbose: bool, quiet: bool, total: int) -> Iterator[_ConsoleProgress]:
    if verbose or quiet or not err.is_terminal:
        yield _ConsoleProgress(verbose, None, total)
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (
        SpinnerColumn(),
        TextColumn("{task.completed}/{task.total} targets"),
        TextColumn("{task.description}", style="progress.description", markup=False),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        yield _ConsoleProgress(verbose, progress, total)


def _run_options(
    *, due: bool, shard: str | None, twice: bool, jobs: int, keep_images: int, min_free: str
) -> RunOptions:
    from drift.config import parse_size
    from drift.run import RunOptions
    from drift.schedule import parse_shard

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
        min_free_bytes=parse_size(min_free, "--min-free"),
    )


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
    from drift.check import exit_code
    from drift.cli.reading import report_rows
    from drift.config_sync import sync_config
    from drift.report.annotations import github_annotations
    from drift.report.report_markdown import report_markdown
    from drift.run import run
    from drift.storage import targets

    chosen = settings(ctx)
    options = _run_options(due=due, shard=shard, twice=twice, jobs=jobs, keep_images=keep_images, min_free=min_free)
    db = chosen.database()
    if config is not None:
        _print_sync(sync_config(db, chosen.cache(), config), quiet)
    with db.session() as session:
        total = len(targets.list_targets(session, names or []))
    with _progress(chosen.verbose, quiet, total) as progress:
        result = run(db, chosen.cache(), chosen.pool(config), names or [], progress, options)
    _print_run(db, result, quiet)
    checked = sorted({o.target for o in result.outcomes})
    if checked and (annotate is not None or os.environ.get("GITHUB_STEP_SUMMARY")):
        rows = [row for row in report_rows(db, checked, None, nights=30) if row[0].name in checked]
        if annotate is Annotations.github:
            for line in github_annotations(rows):
                sys.stdout.write(line + "\n")
        summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary_path:
            with open(summary_path, "a", encoding="utf-8") as summary:
                summary.write(report_markdown(rows, datetime.now(UTC)) + "\n")
    raise typer.Exit(exit_code(result.outcomes, fail_on.value))


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
    out.print(f"{result.path.name}: " + ("; ".join(said) if said else "targets up to date"))


def _print_run(db: Database, result: RunResult, quiet: bool) -> None:
    from drift.report import table
    from drift.report.printable import printable_build
    from drift.storage import history
    from drift.values import Verdict

    outcomes = result.outcomes
    for down in result.engines_down:
        error_line(f"drift: warning: engine marked down: {down}")
    for build_id in result.recovered:
        out.print(f"build {build_id} was left running by a process that stopped: marked interrupted")
    for name, reason in result.skipped:
        if not quiet:
            out.print(f"{name}: skipped ({reason})")
    if not outcomes:
        if not quiet and not result.skipped:
            err.print("nothing to check: no targets are tracked, or none is due")
        return
    for outcome in outcomes:
        if not outcome.build_id:  # the error could not even be recorded (the database is away)
            out.print(f"{outcome.target}: error (not recorded)")
    recorded = tuple(outcome for outcome in outcomes if outcome.build_id)
    with db.session() as session:
        builds = [printable_build(history.get_build(session, outcome.build_id)) for outcome in recorded]
    for outcome, build in zip(recorded, builds, strict=True):
        problem = build.verdict in (Verdict.DRIFTED, Verdict.BROKEN, Verdict.FAILED, Verdict.ERROR)
        if quiet and (not problem or outcome.superseded):
            continue
        table.render_outcome(out, build)
        if outcome.learned:
            out.print(
                f"  learned {len(outcome.learned)} nondeterministic path(s) from two back-to-back builds: "
                f"{', '.join(printable(path) for path in outcome.learned[:5])}"
                + (" ..." if len(outcome.learned) > 5 else "")
            )
    final = [o for o in outcomes if not o.superseded]
    counts = Counter(o.verdict.value for o in final)
    summary = ", ".join(f"{count} {verdict}" for verdict, count in sorted(counts.items()))
    out.print(f"checked {len(final)} target(s): {summary}")
    if result.alerts_sent:
        out.print(f"sent {result.alerts_sent} alert(s)")
    for failure in result.alert_failures:
        error_line(f"drift: warning: {failure}")
    for message in sorted({o.error for o in final if o.error and o.verdict is Verdict.ERROR}):
        error_line(f"drift: error: {message}")


@app.command("schedule")
def schedule_command(
    ctx: typer.Context,
    jobs: JobsOption = 1,
    config: Annotated[Path | None, typer.Option("--config", help="Sync this drift.toml at start.")] = None,
    keep_images: KeepImagesOption = 1,
    min_free: MinFreeOption = "5GB",
) -> None:
    """Run as a service: sleep until the next due slot, build what is due, repeat. Stops cleanly on SIGTERM."""
    from drift.config_sync import sync_config
    from drift.service import serve

    chosen = settings(ctx)
    options = _run_options(due=True, shard=None, twice=False, jobs=jobs, keep_images=keep_images, min_free=min_free)
    db = chosen.database()
    if config is not None:
        _print_sync(sync_config(db, chosen.cache(), config), quiet=False)
    stop = options.stop

    def on_signal(signum: int, _frame: object) -> None:
        _log_line(f"received {signal.Signals(signum).name}: finishing, then stopping")
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    serve(db, chosen.cache(), chosen.pool(config), options, log=_log_line)
    _log_line("stopped")


def _log_line(message: str) -> None:
    sys.stdout.write(f"{datetime.now(UTC).isoformat(timespec='seconds')} {printable(message)}\n")
    sys.stdout.flush()


@app.command("gc")
def gc_command(
    ctx: typer.Context,
    keep_days: Annotated[int, typer.Option("--keep-days", help="Keep builds started within this many days.")] = 90,
) -> None:
    """Prune old history; builds where a verdict changed (baselines, first drift, recovery) are always kept.

    On SQLite the file then shrinks by the space freed (VACUUM), and drift says by how much.
    """
    from drift.storage import garbage

    if not 0 <= keep_days <= MAX_KEEP_DAYS:
        raise UsageError(f"--keep-days {keep_days} must be between 0 and {MAX_KEEP_DAYS} (a hundred years)")
    db = settings(ctx).database()
    with db.session() as session:
        removed = garbage.collect_garbage(session, datetime.now(UTC) - timedelta(days=keep_days))
    out.print(
        f"removed {removed.builds} build(s), {removed.layer_contents} layer content(s), "
        f"{removed.package_sets} package set(s); kept every build where a verdict changed"
    )
    space = garbage.reclaim_space(db)
    if space is not None:
        out.print(
            f"reclaimed {human_size(max(0, space.before - space.after))}: the database went from "
            f"{human_size(space.before)} to {human_size(space.after)} on disk"
        )
