"""The Typer application: global options, the settings every command shares, and the entry point that turns
every error drift can name into one line and an exit code."""

from __future__ import annotations

import gc
import logging
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from drift import __version__
from drift.cli.output import error_line, out
from drift.errors import DriftError
from drift.paths import default_cache_dir, default_database_url
from drift.report.printable import printable

if TYPE_CHECKING:
    from drift.build.interface import Engine
    from drift.build.pool import EnginePool
    from drift.source.git import RepositoryCache
    from drift.storage.database import Database

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


@dataclass
class Settings:
    """The global options, and the database, engines and repository cache they name (opened on first use)."""

    db_url: str
    docker_hosts: list[str]
    verbose: bool
    _db: Database | None = field(default=None, repr=False)

    def database(self) -> Database:
        from drift.storage.database import Database

        if self._db is None:
            self._db = Database(self.db_url)
        return self._db

    def pool(self, config: Path | None = None) -> EnginePool:
        """The engines to build on: --docker-host (repeated), plus the [[builders]] of a drift.toml."""
        from drift.build.pool import EnginePool, EngineSpec
        from drift.config import load_config

        engines: list[EngineSpec] = [EngineSpec(host) for host in self.docker_hosts]
        if config is not None:
            engines += [EngineSpec(b.host, b.tls_verify, b.cert_path) for b in load_config(config).builders]
        return EnginePool(engines or [EngineSpec(None)])

    def engine(self) -> Engine:
        """The first engine of the pool: for what one engine does once (pull a published image)."""
        pool = self.pool()
        return pool.engine(pool.hosts[0])

    def cache(self) -> RepositoryCache:
        from drift.source.git import RepositoryCache

        return RepositoryCache(default_cache_dir())


def settings(ctx: typer.Context) -> Settings:
    found = ctx.find_object(Settings)
    assert found is not None
    return found


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
    if ctx.invoked_subcommand not in _SHORT_READS:
        gc.enable()  # paused for start-up by drift.__main__; a nightly run or the scheduler needs it


# Commands that read and render a history and end: they run without Python's cycle collector, which a
# year of nights (hundreds of thousands of objects, none of them cyclic garbage) keeps busy for nothing.
_SHORT_READS = frozenset({"report", "history"})


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
        error_line(f"drift: error: {exc}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        error_line("drift: interrupted")
        sys.exit(130)
    except Exception as exc:  # the last line of defence: a bug is one line and exit 70, never a traceback
        if verbose:
            traceback.print_exc()
        error_line(f"drift: internal error: {exc!r} (a bug; rerun with --verbose for the traceback)")
        sys.exit(70)
