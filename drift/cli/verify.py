"""`drift verify`: one-shot check, for CI, that a published image is what its commit builds."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from drift.cli.app import app, settings
from drift.cli.output import DetailFormat, err
from drift.cli.reading import render_build
from drift.cli.running import _progress
from drift.cli.targets import Switch
from drift.report.printable import printable
from drift.targets import BuilderChoice, PullPolicy, parse_build_args


@app.command("verify")
def verify_command(
    ctx: typer.Context,
    reference: Annotated[str, typer.Argument(help="The published image: REGISTRY/NAME:TAG or NAME@sha256:...")],
    repo: Annotated[
        str | None, typer.Option("--repo", help="Git URL or path (default: its org.opencontainers.image.source).")
    ] = None,
    commit: Annotated[
        str | None, typer.Option("--commit", help="Commit (default: its org.opencontainers.image.revision).")
    ] = None,
    dockerfile: Annotated[str | None, typer.Option(help="Dockerfile path in the repo.")] = None,
    context: Annotated[str | None, typer.Option(help="Build context directory in the repo.")] = None,
    build_arg: Annotated[list[str] | None, typer.Option("--build-arg", help="KEY=VALUE, repeatable.")] = None,
    target: Annotated[str | None, typer.Option("--target", help="Stage to build.")] = None,
    platform: Annotated[
        str | None, typer.Option(help="Platform to pull from a multi-platform image and build, e.g. linux/amd64.")
    ] = None,
    network: Annotated[str | None, typer.Option(help="Network mode of RUN steps, e.g. host.")] = None,
    pull: Annotated[PullPolicy, typer.Option(help="Base image pull policy.")] = PullPolicy.always,
    builder: Annotated[BuilderChoice, typer.Option("--builder")] = BuilderChoice.auto,
    timeout: Annotated[str, typer.Option("--timeout", help="Build timeout: seconds, or 90s, 30m, 2h.")] = "1h",
    ledger: Annotated[Switch, typer.Option("--ledger", help="Record what the rebuild fetches.")] = Switch.on,
    format: Annotated[DetailFormat, typer.Option("--format")] = DetailFormat.table,
) -> None:
    """Rebuild the commit behind a published image and judge the image against it, once (exit 0 reproducible
    or noisy, 1 drifted, 2 could not check)."""
    from drift.config import parse_duration
    from drift.verify import VerifyRequest, verify, verify_exit_code

    chosen = settings(ctx)
    request = VerifyRequest(
        reference=reference,
        repo=repo,
        commit=commit,
        dockerfile=dockerfile,
        context=context,
        build_args=parse_build_args(build_arg or []),
        stage=target,
        platform=platform,
        network=network,
        pull=pull.value,
        builder=builder.value,
        timeout_s=parse_duration(timeout, "--timeout"),
        ledger=ledger is Switch.on,
    )
    with tempfile.TemporaryDirectory(prefix="drift-verify-") as scratch, _progress(chosen.verbose, False, 1) as shown:
        db, result = verify(Path(scratch) / "verify.db", chosen.engine(), chosen.cache(), request, shown)
        try:
            if result.from_labels:
                err.print("from the image's labels: " + printable(", ".join(result.from_labels)))
            if result.builder_shown:
                err.print(f"rebuilt with the {result.builder_shown} builder, as the image's history shows")
            err.print(
                f"rebuilt {printable(result.repo)} at {result.commit[:12]}, judged against "
                f"{printable(result.published.pinned)}: {result.outcome.verdict.value}"
            )
            render_build(db, result.outcome.build_id, format)
        finally:
            db.dispose()
    raise typer.Exit(verify_exit_code(result.outcome.verdict))
