"""Benchmark: how much the database grows per unchanged night of a real, noisy Debian target.

Tracks the Debian sample (sample_projects/debian-apt) installing a real
package from Debian's mirror over the host network (`apt-get update` and an
install: apt's lists, logs and caches differ every night while the packages do
not), runs N nights through the command line against a fresh SQLite file, and
prints, after each night, the bytes the database holds (its pages in use, the
write-ahead log folded in) and the growth since the night before. The first
night stores everything once; the figure is the growth of the unchanged nights
after it. Target: at most 50 KB per unchanged night.

With --postgres SERVER_URL the same nights go to a new database on that
PostgreSQL server (dropped after), measured as the size of its tables with
their indexes and TOAST.

    python benchmarks/storage.py [--nights 5] [--package curl] [--keep DIR] [--postgres postgresql://drift@host/postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_BYTES = 50_000


def used_bytes(database: Path) -> int:
    """The bytes the database's pages in use hold, once its write-ahead log is folded in."""
    with sqlite3.connect(database) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        free = connection.execute("PRAGMA freelist_count").fetchone()[0]
    return int((pages - free) * page_size)


def used_bytes_postgres(url: str) -> int:
    """The bytes of the database's tables, with their indexes and TOAST."""
    import psycopg

    with psycopg.connect(url) as connection:
        row = connection.execute(
            "select coalesce(sum(pg_total_relation_size(oid)), 0) from pg_class "
            "where relkind = 'r' and relnamespace = 'public'::regnamespace"
        ).fetchone()
    return int(row[0]) if row else 0


def drift(workdir: Path, *args: str, db_url: str | None = None) -> subprocess.CompletedProcess[str]:
    url = db_url or f"sqlite:///{workdir / 'drift.db'}"
    env = {**os.environ, "DRIFT_DB": url, "DRIFT_CACHE_DIR": str(workdir / "cache")}
    return subprocess.run([sys.executable, "-m", "drift", *args], capture_output=True, text=True, env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=5)
    parser.add_argument("--package", default="curl", help="the Debian package the target installs, unpinned")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    parser.add_argument("--postgres", help="a PostgreSQL server URL: the nights go to a new database there")
    options = parser.parse_args()
    db_url = new_postgres_database(options.postgres) if options.postgres else None
    workdir = options.keep or Path(tempfile.mkdtemp(prefix="drift-bench-storage-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        repo = workdir / "repo"
        shutil.rmtree(repo, ignore_errors=True)
        shutil.copytree(ROOT / "sample_projects" / "debian-apt", repo)
        for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "debian-apt sample"]):
            subprocess.run(
                ["git", "-c", "user.email=bench@example.invalid", "-c", "user.name=bench", "-C", str(repo), *args],
                check=True,
            )
        tracked = drift(
            workdir,
            "track",
            "noisy",
            "--repo",
            str(repo),
            "--commit",
            "main",
            "--network",
            "host",
            "--pull",
            "never",
            "--build-arg",
            f"PACKAGE={options.package}",
            db_url=db_url,
        )
        if tracked.returncode != 0:
            print(tracked.stderr, file=sys.stderr)
            return 2
        sizes: list[int] = []
        print(f"{'night':>5}  {'verdict':<12} {'database':>12} {'growth':>10}")
        for night in range(1, options.nights + 1):
            result = drift(workdir, "run", "noisy", "--fail-on", "never", db_url=db_url)
            if result.returncode != 0:
                print(result.stdout, result.stderr, file=sys.stderr)
                return 2
            verdict = result.stdout.split("noisy: ", 1)[-1].split()[0] if "noisy: " in result.stdout else "?"
            sizes.append(used_bytes_postgres(db_url) if db_url else used_bytes(workdir / "drift.db"))
            growth = sizes[-1] - sizes[-2] if len(sizes) > 1 else sizes[-1]
            print(f"{night:>5}  {verdict:<12} {sizes[-1]:>12,} {growth:>+10,}", flush=True)
        unchanged = [after - before for before, after in itertools.pairwise(sizes)]
        if unchanged:
            median = statistics.median(unchanged)
            verdict = "ok" if median <= TARGET_BYTES else "OVER"
            print(
                f"growth per unchanged night (median of nights 2..{options.nights}): {median:,.0f} B "
                f"(target <= {TARGET_BYTES:,} B): {verdict}"
            )
        return 0
    finally:
        remove_images(workdir / "drift.db", db_url)
        if options.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
        if options.postgres and db_url:
            drop_postgres_database(options.postgres, db_url)


def new_postgres_database(server: str) -> str:
    import psycopg

    name = f"drift_bench_storage_{os.getpid()}"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return f"{server.rpartition('/')[0]}/{name}"


def drop_postgres_database(server: str, url: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {url.rpartition('/')[2]} WITH (FORCE)")


def remove_images(database: Path, db_url: str | None) -> None:
    """The images the nights left in the engine (drift keeps each target's latest)."""
    import docker

    query = "select image_id from builds where image_id is not null"
    if db_url:
        import psycopg

        with psycopg.connect(db_url) as connection:
            images = [row[0] for row in connection.execute(query)]
    elif database.exists():
        with sqlite3.connect(database) as connection:
            images = [row[0] for row in connection.execute(query)]
    else:
        return
    api = docker.APIClient(version="auto")
    for image in images:
        with contextlib.suppress(docker.errors.APIError):
            api.remove_image(image, force=True)


if __name__ == "__main__":
    sys.exit(main())
