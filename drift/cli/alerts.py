"""Commands for alert routes and the outbox: alerts test, alerts list."""

from __future__ import annotations

from typing import Annotated

import typer

from drift.cli.app import alerts_app, settings
from drift.cli.output import Format, error_line, out, print_json
from drift.errors import UsageError


@alerts_app.command("test")
def alerts_test_command(
    ctx: typer.Context,
    route: Annotated[str | None, typer.Argument(help="An apprise URL (default: every global route).")] = None,
) -> None:
    """Send a test message, to check a route works."""
    from drift.alerts.deliver import redact, send
    from drift.alerts.outbox import global_routes

    routes = [route] if route else global_routes()
    if not routes:
        raise UsageError("no route to test; give an apprise URL or set DRIFT_ALERT_URLS")
    failures = 0
    for each in routes:
        error = send(each, "drift: test alert", "This is a test message from drift. Alerts reach this route.")
        if error is None:
            out.print(f"sent a test message to {redact(each)}")
        else:
            failures += 1
            error_line(f"drift: error: {redact(each)}: {error}")
    raise typer.Exit(2 if failures else 0)


@alerts_app.command("list")
def alerts_list_command(
    ctx: typer.Context,
    pending: Annotated[bool, typer.Option("--pending", help="Only alerts not delivered yet.")] = False,
    format: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """The alert outbox: pending and sent alerts."""
    from drift.alerts.deliver import redact
    from drift.report import table
    from drift.report.document import alert_document
    from drift.storage import alerts

    with settings(ctx).database().session() as session:
        rows = alerts.list_alerts(session, pending_only=pending)
    if format is Format.json:
        print_json({"schema": 1, "alerts": [alert_document(alert, redact) for alert in rows]})
        return
    table.render_alerts(out, rows, redact)
