"""Opening drift's database: the default SQLite file, WAL and busy timeout, and Alembic upgrades."""

from __future__ import annotations

import fcntl
import importlib.util
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from drift.errors import StorageError, UsageError

if TYPE_CHECKING:
    from alembic.config import Config

SQLITE_BUSY_TIMEOUT_MS = 30_000
# The newest revision in migrations/versions. Opening a database only compares its alembic_version with this:
# loading Alembic and every migration script costs more than a whole `drift report` on an empty database.
# A unit test holds it equal to Alembic's own head; Alembic is loaded only when a database needs migrating.
HEAD_REVISION = "0013"
# An arbitrary constant: the PostgreSQL advisory lock drift holds while it migrates.
MIGRATION_LOCK_KEY = 0x64726966


def migrations_dir() -> Path:
    """The Alembic environment, installed as the package drift.migrations."""
    spec = importlib.util.find_spec("drift.migrations")
    if spec is None or spec.origin is None:
        raise StorageError("drift's migrations are not installed; reinstall drift")
    return Path(spec.origin).parent


def _alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    # ConfigParser reads "%" as interpolation: a URL with %3A or ?mode=... must stay literal.
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    config.attributes["engine"] = engine
    return config


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets `drift report` read while a nightly run writes; the busy timeout
    # makes concurrent writers wait instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """An open drift database: an engine and a session factory, schema at head."""

    def __init__(self, url: str, *, upgrade: bool = True) -> None:
        self.url = url
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise UsageError(f"--db {url!r} is not a database URL; use e.g. sqlite:///path/drift.db") from None
        is_uri = str(parsed.query.get("uri", "")).lower() == "true"  # file:...?mode=ro: SQLite opens it as given
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") and not is_uri:
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = create_engine(parsed, pool_pre_ping=True)
        except (SQLAlchemyError, ImportError) as exc:
            raise StorageError(f"cannot open database {parsed!r}: {exc}") from None
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _on_sqlite_connect)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if upgrade:
            self.upgrade()

    def current_revision(self) -> str | None:
        """The schema revision the database is at (None for a new, empty one), read without loading Alembic."""
        with self.engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            revisions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        # drift's migrations form one line: one row, or none before the first migration committed.
        return revisions[0] if len(revisions) == 1 else None

    def head_revision(self) -> str | None:
        """The newest revision among the installed migration scripts, as Alembic reads them."""
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(_alembic_config(self.engine)).get_current_head()

    def upgrade(self) -> bool:
        """Bring the schema to head; True when anything was applied."""
        try:
            if self.current_revision() == HEAD_REVISION:
                return False
            from alembic import command

            self._refuse_newer(self.current_revision())
            with self._migration_lock():
                if self.current_revision() == HEAD_REVISION:
                    return False  # another process migrated while we waited
                # Alembic's env.py logs through logging; keep the user's terminal quiet.
                logging.getLogger("alembic").setLevel(logging.WARNING)
                command.upgrade(_alembic_config(self.engine), "head")
        except OperationalError as exc:
            raise self._operational(exc) from None
        except SQLAlchemyError as exc:
            raise StorageError(
                f"cannot open or migrate database {self.engine.url!r}: {exc.__class__.__name__}: "
                f"{str(exc).splitlines()[0]}"
            ) from None
        return True

    def _refuse_newer(self, current: str | None) -> None:
        """A database migrated by a newer drift has a schema this one does not know: never touch it."""
        if current is None:
            return
        from alembic.script import ScriptDirectory

        scripts = ScriptDirectory.from_config(_alembic_config(self.engine))
        if current not in {script.revision for script in scripts.walk_revisions()}:
            raise StorageError(
                f"database {self.display_url} was written by a newer drift (schema revision {current}; this drift "
                f"knows up to {scripts.get_current_head()}); upgrade drift to use it"
            )

    @property
    def display_url(self) -> str:
        return unquote(self.engine.url.render_as_string(hide_password=True))

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """Two drift processes starting on a new database must not both create its tables."""
        if self.engine.url.get_backend_name() == "postgresql":
            with self.engine.connect() as connection:
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
                try:
                    yield
                finally:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
            return
        database = self.engine.url.database
        if self.engine.url.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
            yield
            return
        lock_path = Path(database).expanduser().with_suffix(".migrate.lock")
        with lock_path.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: committed when the block ends, rolled back on any error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except OperationalError as exc:
            session.rollback()
            raise self._operational(exc) from None
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def _operational(self, exc: OperationalError) -> StorageError:
        """The database itself refused (read-only file, full disk, server gone): one line that says so."""
        reason = str(exc.orig) if exc.orig is not None else str(exc)
        if "readonly" in reason or "read-only" in reason:
            return StorageError(
                f"database {self.display_url} is read-only ({reason}); give drift a database it may write, "
                "or use --db to point at another"
            )
        return StorageError(f"database {self.display_url} failed: {' '.join(reason.split())}")

    def dispose(self) -> None:
        self.engine.dispose()
