"""The command line (Typer): parse, call one function of the core, render. No business logic here.

One module per group of commands; each imports what its commands need when
they run, so `drift --version` does not load Docker, SQLAlchemy or apprise.
"""

from __future__ import annotations

from drift.cli import alerts, database, reading, running, targets, verify  # noqa: F401  (each registers its commands)
from drift.cli.app import app, main

__all__ = ["app", "main"]
