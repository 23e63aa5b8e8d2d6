"""Alembic migrations of drift's schema (installed as drift.migrations)."""
