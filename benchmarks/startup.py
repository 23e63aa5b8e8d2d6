"""Start-up cost of the command line: `drift --version` and `drift report` on an empty database.

    python benchmarks/startup.py [--repeat 9]

Prints the median wall time of each beside its target (0.3 s and 0.5 s), and the median CPU time the
process used (user + system), which another busy process on the machine inflates less than the wall time.
Bytecode is written and used as an installed drift's is, even when PYTHONDONTWRITEBYTECODE is set.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one `python -m drift ARGS`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "drift", *args], env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "DRIFT_DB": f"sqlite:///{scratch}/drift.db"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed drift has its bytecode compiled
        # Creates the database, and the bytecode of every module the commands below load.
        subprocess.run([sys.executable, "-m", "drift", "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run([sys.executable, "-m", "drift", "report"], env=env, check=True, capture_output=True)
        for label, command, target in (
            ("drift --version", ["--version"], 0.3),
            ("drift report (empty database)", ["report"], 0.5),
        ):
            runs = [timed(command, env) for _ in range(args.repeat)]
            wall = statistics.median(w for w, _cpu in runs)
            cpu = statistics.median(cpu for _w, cpu in runs)
            verdict = "ok" if wall < target else "OVER"
            print(
                f"{label:32} {wall:.3f} s median of {args.repeat} (target < {target} s): {verdict}"
                f"   [cpu {cpu:.3f} s]"
            )


if __name__ == "__main__":
    main()
