"""Where drift keeps its files by default: the SQLite database and the repository mirrors."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def default_database_url() -> str:
    """A SQLite file in the user data directory (e.g. ~/.local/share/drift/drift.db)."""
    path = Path(platformdirs.user_data_dir("drift")) / "drift.db"
    return f"sqlite:///{path}"


def default_cache_dir() -> Path:
    """Where repository mirrors are kept (DRIFT_CACHE_DIR, else the user cache dir)."""
    return Path(os.environ.get("DRIFT_CACHE_DIR") or platformdirs.user_cache_dir("drift")) / "repos"
