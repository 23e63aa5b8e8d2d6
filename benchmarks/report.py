"""Reading a year of history: `drift report` (table, JSON, HTML) and `drift history NAME` on 1,000 targets x 365
nights, on SQLite and, when DRIFT_BENCH_POSTGRES_URL is set, on PostgreSQL.

    python benchmarks/report.py [--targets 1000] [--nights 365] [--repeat 3] [--keep DIR]

The history is the fleet story of tests/support/synthetic_history.py (most targets reproducible, some
noisy, a sixth drifting from some night on, one broken, one failing, one unreachable, one whose pin moved),
written night after night through drift's own storage code (builds.start_build and finish_build, the calls
a nightly check makes; many builds per session), with the storage clock set to each night. It goes into a
temporary SQLite file and, when DRIFT_BENCH_POSTGRES_URL names a server (postgresql+psycopg://user@host:port/db;
the benchmark makes and drops its own database there), into PostgreSQL. Then each command runs as a user
runs it, `python -m drift --db URL ...` in a subprocess, and the median wall time of --repeat runs is
printed beside its target. --keep DIR keeps the SQLite file there and reuses it on the next run (writing the
history takes minutes); with DRIFT_BENCH_POSTGRES_URL it also keeps the PostgreSQL database
drift_bench_<targets>x<nights> on the server and reuses it (the name of its drifting target is kept in DIR).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from sqlalchemy.orm import Session  # noqa: E402
from support.synthetic_history import synthetic_risks, synthetic_rows  # noqa: E402

from drift.storage import builds, targets  # noqa: E402
from drift.storage.database import Database  # noqa: E402
from drift.values import BuildSummary  # noqa: E402

BUILDS_PER_SESSION = 2000
# The targets of issue 12: a year of nights for a thousand targets.
TARGETS = {"report (table)": 1.0, "report --format json": 1.0, "report --format html": 5.0, "history NAME": 1.0}


class _Clock:
    """The storage code's clock, set to the night being written."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def write_history(url: str, target_count: int, nights: int) -> str:
    """Record the synthetic fleet's nights through drift's storage; returns the name of a drifting target."""
    first_night = datetime.now(UTC).replace(hour=2, minute=0, second=0, microsecond=0) - timedelta(days=nights)
    rows = synthetic_rows(targets=target_count, nights=nights, seed=12, first_night=first_night)
    risks = synthetic_risks(rows)
    every_build = sorted((b for _spec, _latest, history in rows for b in history), key=lambda b: b.id)
    db = Database(url)
    clock = _Clock()
    builds.utcnow = clock  # type: ignore[attr-defined]  # record each build at its night, not now
    with db.session() as session:
        for spec, _latest, _history in rows:
            targets.save_target(session, spec)
    started = time.perf_counter()
    for start in range(0, len(every_build), BUILDS_PER_SESSION):
        with db.session() as session:
            for build in every_build[start : start + BUILDS_PER_SESSION]:
                _record(session, build, risks.get(build.id, []), clock)
        done = min(start + BUILDS_PER_SESSION, len(every_build))
        rate = done / (time.perf_counter() - started)
        print(f"  {done:,}/{len(every_build):,} builds written ({rate:,.0f}/s)", end="\r", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    db.dispose()
    drifted = [spec.name for spec, latest, _h in rows if latest is not None and latest.verdict == "drifted"]
    return drifted[0] if drifted else rows[0][0].name


def _record(session: Session, build: BuildSummary, risks: Sequence[Mapping[str, object]], clock: _Clock) -> None:
    """One night's build of one target, as a nightly check records it."""
    assert build.verdict is not None
    clock.now = build.started_at
    build_id = builds.start_build(session, build.target, build.fingerprint, build.commit)
    clock.now = build.finished_at or build.started_at
    builds.finish_build(
        session,
        build_id,
        status=build.status,
        verdict=build.verdict,
        builder=build.builder,
        compared_to=build.compared_to,
        findings=build.findings,
        error=build.error,
        failed_step=build.failed_step,
        log_tail=build.log_tail,
        base_images=build.base_images,
        risks=[dict(risk) for risk in risks],
    )


def timed(url: str, args: list[str], repeat: int) -> float:
    env = {**os.environ}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed drift has its bytecode compiled
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "drift", "--db", url, *args], env=env, check=True, stdout=subprocess.DEVNULL
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(label: str, url: str, drifting: str, repeat: int) -> None:
    commands = {
        "report (table)": ["report"],
        "report --format json": ["report", "--format", "json"],
        "report --format html": ["report", "--format", "html"],
        "history NAME": ["history", drifting],
    }
    timed(url, ["report"], 1)  # bytecode written, the file in the page cache
    for name, args in commands.items():
        median = timed(url, args, repeat)
        target = TARGETS[name]
        verdict = "ok" if median < target else "OVER"
        print(f"{label:10} {name:24} {median:6.2f} s median of {repeat} (target < {target:g} s): {verdict}", flush=True)


@contextmanager
def postgres_database(server: str) -> Iterator[str]:
    """A new database on the server, dropped afterwards."""
    import psycopg

    name = f"drift_bench_{uuid.uuid4().hex[:8]}"
    admin = server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    base, _, _ = server.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def kept_postgres_database(server: str, name: str, complete: bool) -> tuple[str, bool]:
    """The database `name` on the server, kept between runs, and whether it is new (its history still to write):
    made afresh unless it is there with a complete history in it."""
    import psycopg

    admin = server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None
        if exists and not complete:  # a run cut off while writing it
            connection.execute(f"DROP DATABASE {name} WITH (FORCE)")
        if not (exists and complete):
            connection.execute(f"CREATE DATABASE {name}")
    base, _, _ = server.rpartition("/")
    return f"{base}/{name}", not (exists and complete)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--nights", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the SQLite history here, and reuse it when it is there")
    args = parser.parse_args()
    print(f"{args.targets:,} targets x {args.nights} nights, written through drift's storage code", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.keep or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"report-{args.targets}x{args.nights}.db"
        name_file = path.with_suffix(".target")
        if not path.exists():
            started = time.perf_counter()
            name_file.write_text(write_history(f"sqlite:///{path}", args.targets, args.nights))
            print(f"SQLite: written in {time.perf_counter() - started:.0f} s, {path.stat().st_size / 1e6:.0f} MB")
        measure("SQLite", f"sqlite:///{path}", name_file.read_text(), args.repeat)
    server = os.environ.get("DRIFT_BENCH_POSTGRES_URL")
    if server and args.keep:
        name = f"drift_bench_{args.targets}x{args.nights}"
        name_file = args.keep / f"report-{args.targets}x{args.nights}.postgres.target"
        url, new = kept_postgres_database(server, name, complete=name_file.exists())
        if new:
            name_file.unlink(missing_ok=True)
            started = time.perf_counter()
            name_file.write_text(write_history(url, args.targets, args.nights))
            print(f"PostgreSQL: written in {time.perf_counter() - started:.0f} s, kept as {name}")
        measure("PostgreSQL", url, name_file.read_text(), args.repeat)
    elif server:
        with postgres_database(server) as url:
            started = time.perf_counter()
            drifting = write_history(url, args.targets, args.nights)
            print(f"PostgreSQL: written in {time.perf_counter() - started:.0f} s")
            measure("PostgreSQL", url, drifting, args.repeat)
    else:
        print("PostgreSQL: skipped (set DRIFT_BENCH_POSTGRES_URL=postgresql+psycopg://user@host:port/db)")


if __name__ == "__main__":
    main()
