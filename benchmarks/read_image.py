"""Benchmark: reading and fingerprinting a built image, against a plain `docker save` as the floor.

Builds the Debian sample (sample_projects/debian-apt, with a local apt
repository served on 127.0.0.1), then measures, each in a fresh process so
peak RSS is the reader's own:

- floor: `GET /images/{id}/get` streamed to /dev/null;
- drift: the same stream read by drift.image.read_image (every layer's file
  manifest, content hashes and normalized digest);
- drift + catalogers: the same with every package cataloger in the pass.

Prints wall times (median of --repeat runs), their ratio and peak RSS.
Targets: ratio at most 1.2 (issue 12), catalogers at most 10% more, peak RSS under 150 MB.

    python benchmarks/read_image.py [--repeat 5] [--image REF]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "sample_projects"))

import docker  # noqa: E402
import upstream  # noqa: E402

MEASURE = r"""
import json, os, resource, sys, time
import docker
mode, image = sys.argv[1], sys.argv[2]
api = docker.APIClient(version="auto", timeout=600)
if mode != "floor":  # the reader's modules are loaded before the clock starts: it times reading, not importing
    from drift.catalog import default_catalogers
    from drift.image import read_image
start = time.perf_counter()
if mode == "floor":
    size = 0
    with open(os.devnull, "wb") as sink:
        for chunk in api.get_image(image):
            size += len(chunk)
            sink.write(chunk)
    extra = {"bytes": size}
else:
    record = read_image(api, image, default_catalogers() if mode == "catalog" else ())
    extra = {
        "layers": len(record.layers),
        "files": sum(len(l.entries) for l in record.layers),
        "packages": len(record.packages),
    }
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, **extra}))
"""


def measure(mode: str, image: str) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, "-c", MEASURE, mode, image], check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, float] = json.loads(output)
    return result


def build_debian_sample() -> str:
    with tempfile.TemporaryDirectory() as scratch:
        repo = Path(scratch) / "apt"
        upstream.publish_deb(repo, "hello-drift", "1.0")
        with upstream.serve(repo, 0) as server:
            api = docker.APIClient(version="auto", timeout=600)
            for message in api.build(
                path=str(ROOT / "sample_projects" / "debian-apt"),
                tag="drift-benchmark:debian-apt",
                nocache=True,
                rm=True,
                forcerm=True,
                pull=False,
                network_mode="host",
                buildargs={"APT_SOURCE": f"deb [trusted=yes] {server.url}/ ./"},
                decode=True,
            ):
                if "error" in message:
                    raise SystemExit(f"build failed: {message['error']}")
    return "drift-benchmark:debian-apt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--image", help="measure this image instead of building the Debian sample")
    args = parser.parse_args()

    image = args.image or build_debian_sample()
    measure("floor", image)  # warm the engine's page cache once
    floors, reads, catalogs = [], [], []
    for _ in range(args.repeat):
        # Interleaved, so a change in the machine's load touches all three alike.
        floors.append(measure("floor", image))
        reads.append(measure("drift", image))
        catalogs.append(measure("catalog", image))
    floor_s = statistics.median(r["seconds"] for r in floors)
    read_s = statistics.median(r["seconds"] for r in reads)
    catalog_s = statistics.median(r["seconds"] for r in catalogs)
    peak_mb = max(r["max_rss_kb"] for r in reads + catalogs) / 1024
    floor_peak_mb = max(r["max_rss_kb"] for r in floors) / 1024
    print(
        f"image:                    {image} ({floors[0]['bytes'] / 1e6:.1f} MB saved, "
        f"{int(reads[0]['layers'])} layers, {int(reads[0]['files'])} manifest entries)"
    )
    print(f"docker save -> /dev/null: {floor_s:.3f} s (median of {args.repeat}), peak RSS {floor_peak_mb:.0f} MB")
    print(f"drift read_image:         {read_s:.3f} s (median of {args.repeat}), peak RSS {peak_mb:.0f} MB")
    print(
        f"drift read + catalogers:  {catalog_s:.3f} s (median of {args.repeat}), "
        f"{int(catalogs[0]['packages'])} packages, "
        f"+{(catalog_s / read_s - 1) * 100:.1f}% over reading alone (target <= 10%)"
    )
    print(
        f"ratio:                    {read_s / floor_s:.2f} (target <= 1.2); with catalogers {catalog_s / floor_s:.2f}"
    )
    print(f"peak RSS:                 {peak_mb:.0f} MB (target < 150 MB)")


if __name__ == "__main__":
    main()
