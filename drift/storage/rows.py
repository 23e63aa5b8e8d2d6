"""What the storage repositories share: finding a target's row, turning rows into values and back, and
inserting on SQLite and PostgreSQL alike. Only drift.storage uses it."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import BindParameter, Boolean, ColumnElement, Result, Row, Select, bindparam, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.visitors import ExternallyTraversible, InternalTraversal, replacement_traverse

from drift.errors import UsageError
from drift.storage.models import BuildRow, TargetRow
from drift.values import BuilderInfo, TargetSpec

# Ids per `IN (...)` when many rows are read at once: far below SQLite's and PostgreSQL's limits on parameters.
CHUNK = 2000


def read_rows(session: Session, query: Select[*tuple[Any, ...]]) -> Result[*tuple[Any, ...]]:
    """The rows of a query of columns, read on the session's connection as plain rows: thousands of them at
    a time without the ORM's work per row. The session's pending changes are flushed first, as its own
    queries would."""
    session.flush()
    return session.connection().execute(query)


# The ids a query of read_rows_for reads rows for: `WHERE x.id IN IDS`.
IDS: BindParameter[int] = bindparam("ids", expanding=True)


def read_rows_for(
    session: Session, query: Select[*tuple[Any, ...]], ids: Collection[int]
) -> list[Row[*tuple[Any, ...]]]:
    """The rows of a query that selects by IDS, for many ids: in chunks of CHUNK ids, each chunk executing
    the same compiled statement."""
    session.flush()
    connection = session.connection()
    ordered = sorted(set(ids))
    rows: list[Row[*tuple[Any, ...]]] = []
    for start in range(0, len(ordered), CHUNK):
        rows.extend(connection.execute(query, {"ids": ordered[start : start + CHUNK]}).all())
    return rows


class _AmongIds(ColumnElement[bool]):
    """`column` among the ids given to read_rows_among. On PostgreSQL all of them are one parameter, an array:
    one statement, planned and sent once however many ids, where `IN (...)` is sent chunk by chunk. On SQLite
    read_rows_among makes it `IN (...)` by chunks of ids (read_rows_for), which its planner reads fastest."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]  # noqa: RUF012  (SQLAlchemy's own)

    def __init__(self, column: ColumnElement[int] | InstrumentedAttribute[int]) -> None:
        self.column = column.__clause_element__() if isinstance(column, InstrumentedAttribute) else column


_ID_ARRAY: BindParameter[Any] = bindparam("id_array")


@compiles(_AmongIds)
def _among_ids(element: _AmongIds, compiler: Any, **kw: Any) -> str:
    column, ids = compiler.process(element.column, **kw), compiler.process(_ID_ARRAY, **kw)
    return f"{column} IN (SELECT value FROM json_each({ids}))"  # the ids as a JSON array


@compiles(_AmongIds, "postgresql")
def _among_ids_postgresql(element: _AmongIds, compiler: Any, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} = ANY({compiler.process(_ID_ARRAY, **kw)})"


def among_ids(column: ColumnElement[int] | InstrumentedAttribute[int]) -> ColumnElement[bool]:
    """`WHERE column among the ids`, the ids given to read_rows_among."""
    return _AmongIds(column)


def read_rows_among(
    session: Session, query: Select[*tuple[Any, ...]], ids: Collection[int]
) -> list[Row[*tuple[Any, ...]]]:
    """The rows of a query that selects by among_ids, for many ids."""
    if session.get_bind().dialect.name != "postgresql":

        def in_chunks(element: ExternallyTraversible) -> ExternallyTraversible | None:
            return element.column.in_(IDS) if isinstance(element, _AmongIds) else None

        # SQLAlchemy types the callback as a protocol of its own, which a plain function does not name.
        chunked = replacement_traverse(query, {}, in_chunks)  # type: ignore[call-overload]
        return read_rows_for(session, chunked, ids)
    if not ids:
        return []
    session.flush()
    return list(session.connection().execute(query, {"id_array": sorted(set(ids))}).all())


def target_row(session: Session, name: str) -> TargetRow:
    """The row of an enabled target; a usage error naming it when there is none."""
    row = session.scalar(select(TargetRow).where(TargetRow.name == name, TargetRow.enabled))
    if row is None:
        raise UsageError(f"unknown target {name!r}; `drift targets` lists the tracked ones")
    return row


# A target's fields, copied one by one both ways: this pair is the one place storage spells them out.


def target_spec(row: TargetRow) -> TargetSpec:
    return TargetSpec(
        name=row.name,
        repo=row.repo,
        commit=row.commit,
        dockerfile=row.dockerfile,
        context=row.context,
        build_args=dict(row.build_args),
        stage=row.stage,
        platform=row.platform,
        network=row.network,
        pull=row.pull,
        schedule=row.schedule,
        ignore=tuple(row.ignore),
        timeout_s=row.timeout_s,
        alerts=tuple(row.alert_routes or ()),
        builder=row.builder,
        ledger=row.ledger,
        published=row.published,
    )


def write_target_spec(row: TargetRow, spec: TargetSpec) -> None:
    """Copy what the user controls onto the row (its name is the row's key and stays)."""
    row.repo = spec.repo
    row.commit = spec.commit
    row.dockerfile = spec.dockerfile
    row.context = spec.context
    row.build_args = dict(spec.build_args)
    row.stage = spec.stage
    row.platform = spec.platform
    row.network = spec.network
    row.pull = spec.pull
    row.schedule = spec.schedule
    row.ignore = list(spec.ignore)
    row.timeout_s = spec.timeout_s
    row.alert_routes = list(spec.alerts) or None
    row.builder = spec.builder
    row.ledger = spec.ledger
    row.published = spec.published


def builder_info(row: BuildRow) -> BuilderInfo | None:
    """The engine that made a build, when the build reached one."""
    return builder_of(row.engine_version, row.api_version, row.os_arch, row.storage_driver, row.builder)


def builder_of(
    engine_version: str | None,
    api_version: str | None,
    os_arch: str | None,
    storage_driver: str | None,
    builder: str | None,
) -> BuilderInfo | None:
    """The same from a build's columns, read without its row."""
    if engine_version is None:
        return None
    os_name, _, arch = (os_arch or "/").partition("/")
    return BuilderInfo(
        engine_version=engine_version,
        api_version=api_version or "",
        os=os_name,
        arch=arch,
        storage_driver=storage_driver or "",
        builder=builder or "legacy",
    )


def write_builder_info(row: BuildRow, builder: BuilderInfo) -> None:
    row.engine_version = builder.engine_version
    row.api_version = builder.api_version
    row.os_arch = f"{builder.os}/{builder.arch}"
    row.storage_driver = builder.storage_driver
    row.builder = builder.builder


def dialect_insert(session: Session, model: type[Any]) -> Any:
    """An INSERT for the session's database that takes ON CONFLICT clauses (SQLite and PostgreSQL both do)."""
    # Each dialect's module is imported when a statement needs it: reading never loads either.
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(model)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(model)


def insert_once(session: Session, model: type[Any], key: Any, **values: Any) -> int | None:
    """Insert a content-addressed row unless its key is stored already; the new id, or None when it was.

    One statement (INSERT ... ON CONFLICT DO NOTHING) on SQLite and PostgreSQL
    alike, so two workers storing the same content at once never collide: the
    second waits for the first's transaction and then inserts nothing.
    """
    statement = dialect_insert(session, model).values(**values)
    statement = statement.on_conflict_do_nothing(index_elements=[key]).returning(model.id)
    inserted: int | None = session.scalar(statement)
    return inserted
