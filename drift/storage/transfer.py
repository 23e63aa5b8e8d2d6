"""Copying a whole drift history from one database to another (`drift db migrate-to`), for teams that
start on SQLite and move to PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Integer, delete, func, insert, select, text

from drift.errors import UsageError
from drift.storage.database import Database
from drift.storage.models import Base, InstallationRow, TargetRow

BATCH = 2000


def copy_history(source: Database, destination: Database) -> dict[str, int]:
    """Copy every row, table by table in dependency order, in one transaction; returns rows per table.

    The destination must be empty (migrated, no targets): merging two histories
    would mix build numbers.
    """
    with destination.session() as session:
        if session.scalar(select(func.count()).select_from(TargetRow)):
            raise UsageError(f"{destination.url} already holds drift data; migrate into an empty database")
    counts: dict[str, int] = {}
    with source.engine.connect() as reader, destination.engine.begin() as writer:
        for table in Base.metadata.sorted_tables:
            if table.name == InstallationRow.__tablename__:
                # The identity moves with the history: the images it labelled stay this installation's.
                writer.execute(delete(table))
            order = [column for column in table.primary_key.columns]
            result = reader.execution_options(yield_per=BATCH).execute(select(table).order_by(*order))
            copied = 0
            for batch in result.mappings().partitions(BATCH):
                writer.execute(insert(table), [dict(row) for row in batch])
                copied += len(batch)
            counts[table.name] = copied
        if writer.dialect.name == "postgresql":
            # Rows came with their ids: move each id sequence past them.
            for table in Base.metadata.sorted_tables:
                id_column = table.columns.get("id")
                if id_column is None or not isinstance(id_column.type, Integer):
                    continue
                writer.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                    )
                )
    return counts
