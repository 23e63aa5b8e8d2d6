"""Database maintenance: db upgrade, db migrate-to."""

from __future__ import annotations

from typing import Annotated

import typer

from drift.cli.app import db_app, settings
from drift.cli.output import out


@db_app.command("migrate-to")
def db_migrate_to_command(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Argument(help="The database to copy the history into, e.g. postgresql://user@host/drift")
    ],
) -> None:
    """Copy the whole history of --db into another (empty) database, e.g. SQLite into PostgreSQL."""
    from drift.storage.database import Database
    from drift.storage.transfer import copy_history

    source = settings(ctx).database()
    destination = Database(url)
    counts = copy_history(source, destination)
    moved = ", ".join(f"{count} {table}" for table, count in counts.items() if count)
    out.print(f"copied into {destination.display_url}: {moved}")


@db_app.command("upgrade")
def db_upgrade_command(ctx: typer.Context) -> None:
    """Apply pending schema migrations (drift also does this on first use)."""
    from drift.storage.database import Database

    db = Database(settings(ctx).db_url, upgrade=False)
    applied = db.upgrade()
    out.print(f"database at revision {db.current_revision()}" + (" (upgraded)" if applied else " (already current)"))
