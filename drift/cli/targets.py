"""Commands that manage targets: track, untrack, targets, accept."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import typer

from drift.cli.app import app, settings
from drift.cli.output import Format, out, print_json
from drift.targets import BuilderChoice, PullPolicy, parse_build_args


class Switch(StrEnum):
    on = "on"
    off = "off"


@app.command("track")
def track_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Target name: lowercase letters, digits, dots, dashes, underscores.")],
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
    published: Annotated[
        str | None,
        typer.Option(
            "--published",
            help="Judge every build against this published image (REG/NAME:TAG or @sha256:...), pulled now.",
        ),
    ] = None,
) -> None:
    """Track a repository at a pinned commit (re-tracking updates it; a new commit starts a new baseline)."""
    from drift.config import parse_duration
    from drift.report.printable import printable_spec
    from drift.tracking import track

    chosen = settings(ctx)
    spec, created, pin_moved = track(
        chosen.database(),
        chosen.cache(),
        chosen.engine() if published is not None else None,
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
        published=published,
    )
    if created:
        out.print(f"tracking {spec.name} at {spec.commit[:12]} ({printable_spec(spec).repo})")
    elif pin_moved:
        out.print(f"{spec.name} now pinned at {spec.commit[:12]}: its next build starts a new baseline")
    else:
        out.print(f"{spec.name} updated (still at {spec.commit[:12]})")


@app.command("untrack")
def untrack_command(ctx: typer.Context, name: str) -> None:
    """Stop tracking a target and forget its history."""
    from drift.storage import targets

    with settings(ctx).database().session() as session:
        targets.remove_target(session, name)
    out.print(f"{name} is no longer tracked")


@app.command("targets")
def targets_command(ctx: typer.Context, format: Annotated[Format, typer.Option("--format")] = Format.table) -> None:
    """List the tracked targets and their latest verdict."""
    from drift.report import table
    from drift.report.document import build_document, spec_document
    from drift.report.printable import printable_build, printable_spec
    from drift.schedule import next_slot
    from drift.storage import history, targets

    now = datetime.now(UTC)
    with settings(ctx).database().session() as session:
        rows = []
        for spec in targets.list_targets(session):
            latest = history.latest_finished_build(session, spec.name)
            rows.append((printable_spec(spec), printable_build(latest) if latest else None))
    if format is Format.table:
        table.render_targets(out, rows, {spec.name: next_slot(spec.schedule, now) for spec, _latest in rows})
        return
    documents = []
    for spec, latest in rows:
        next_run = next_slot(spec.schedule, now)
        documents.append(
            {
                **spec_document(spec),
                "next_run": next_run.isoformat(timespec="seconds") if next_run else None,
                "latest": build_document(latest) if latest else None,
            }
        )
    print_json({"schema": 1, "targets": documents})


@app.command("accept")
def accept_command(
    ctx: typer.Context,
    name: str,
    build: Annotated[int | None, typer.Argument(help="Build to accept (default: the latest succeeded).")] = None,
) -> None:
    """Make a build the baseline of its source: acknowledge a change you will not pin."""
    from drift.tracking import accept

    accepted = accept(settings(ctx).database(), name, build)
    out.print(f"build {accepted.id} is now the baseline of {name} at {accepted.commit[:12]}")
