"""Start-up cost of the command line: `drift --version` and `drift report` on an empty database.

    python benchmarks/startup.py [--repeat 9]

Prints the median wall time of each beside its target (0.3 s and 0.5 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def timed(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "drift", *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "DRIFT_DB": f"sqlite:///{scratch}/drift.db"}
        subprocess.run([sys.executable, "-m", "drift", "db", "upgrade"], env=env, check=True, capture_output=True)
        for label, command, target in (
            ("drift --version", ["--version"], 0.3),
            ("drift report (empty database)", ["report"], 0.5),
        ):
            times = [timed(command, env) for _ in range(args.repeat)]
            median = statistics.median(times)
            verdict = "ok" if median < target else "OVER"
            print(f"{label:32} {median:.3f} s median of {args.repeat} (target < {target} s): {verdict}")


if __name__ == "__main__":
    main()
