"""Synthetic report inputs: many targets, many nights of recorded builds, made up but shaped like real ones.

`synthetic_rows()` returns the value every report renderer takes (spec, latest
build, history newest first), as `drift report` reads it from the database.
The story it tells is the usual one for a fleet of nightly builds: most targets
stay reproducible (some with noise in ignored paths), a few drift after some
night and stay drifted (judged against their baseline) until the pin moves,
one breaks when an apt package vanishes, one cannot be checked because its
repository is unreachable, and one newly tracked target has never built.
Everything is derived from `seed`, so a test can rebuild the same history.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TypedDict

from drift.values import BaseImage, BuilderInfo, BuildSummary, Finding, TargetSpec, Verdict

Row = tuple[TargetSpec, BuildSummary | None, list[BuildSummary]]

FIRST_NIGHT = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
BUILDER = BuilderInfo("20.10.24+dfsg1", "1.41", "linux", "amd64", "overlay2")

_NAMES = (
    "api-gateway",
    "billing-worker",
    "web-frontend",
    "auth-service",
    "search-indexer",
    "mailer",
    "report-generator",
    "image-resizer",
    "payments",
    "notifications",
    "ledger",
    "inventory",
    "catalog-api",
    "checkout",
    "pricing-engine",
    "geo-lookup",
    "audit-log",
    "feature-flags",
    "session-store",
    "metrics-exporter",
    "log-shipper",
    "backup-agent",
    "cron-runner",
    "docs-site",
    "admin-console",
    "webhooks",
    "rate-limiter",
    "recommender",
    "thumbnailer",
    "pdf-renderer",
)

NOISE = (
    Finding(
        "file",
        1,
        "RUN apt-get update",
        "/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",
        "modified",
        cause="apt",
        ignored=True,
        ignored_by="default /var/lib/apt/lists: package index",
    ),
    Finding(
        "file",
        2,
        "RUN apt-get install -y curl ca-certificates",
        "/var/log/dpkg.log",
        "modified",
        cause="apt",
        ignored=True,
        ignored_by="default /var/log: logs",
    ),
    Finding(
        "file",
        2,
        "RUN apt-get install -y curl ca-certificates",
        "/var/cache/ldconfig/aux-cache",
        "modified",
        cause="apt",
        ignored=True,
        ignored_by="default /var/cache: caches",
    ),
)


@dataclass(frozen=True)
class DriftStory:
    """One way a build's output moves while its source does not."""

    instruction: str
    layer: int
    findings: tuple[Finding, ...]
    risks: tuple[Mapping[str, object], ...]


def _apt_story() -> DriftStory:
    run = "RUN apt-get update && apt-get install -y curl ca-certificates"
    return DriftStory(
        run,
        2,
        (
            Finding(
                "package",
                2,
                run,
                "curl",
                "modified",
                "7.88.1-10+deb12u5",
                "7.88.1-10+deb12u8",
                cause="apt",
                risk="DRIFT101",
                ecosystem="deb",
            ),
            Finding(
                "package",
                2,
                run,
                "libcurl4",
                "modified",
                "7.88.1-10+deb12u5",
                "7.88.1-10+deb12u8",
                cause="apt",
                risk="DRIFT101",
                ecosystem="deb",
            ),
            Finding(
                "file",
                2,
                run,
                "/usr/bin/curl",
                "modified",
                "sha256:3f1c2a…",
                "sha256:9b07de…",
                cause="apt",
                risk="DRIFT101",
            ),
            Finding(
                "file",
                2,
                run,
                "/usr/lib/x86_64-linux-gnu/libcurl.so.4.8.0",
                "modified",
                "sha256:77a0b1…",
                "sha256:c4e9f2…",
                cause="apt",
                risk="DRIFT101",
            ),
            Finding("file", 2, run, "/var/lib/dpkg/status", "modified", cause="apt"),
        ),
        (
            {
                "id": "DRIFT101",
                "line": 3,
                "stage": 0,
                "instruction": run,
                "subject": "curl",
                "cause": "apt",
                "message": "apt installs curl without a version",
                "fix": "pin the version: curl=<version>",
            },
        ),
    )


def _fetch_story() -> DriftStory:
    run = "RUN curl -fsSL https://downloads.example.com/tool/latest/tool-linux-amd64.tar.gz | tar -xz -C /opt"
    return DriftStory(
        run,
        3,
        (
            Finding(
                "file",
                3,
                run,
                "/opt/tool/bin/tool",
                "modified",
                "sha256:5d41a0…",
                "sha256:e2fc71…",
                cause="network-fetch",
                risk="DRIFT303",
            ),
            Finding(
                "file",
                3,
                run,
                "/opt/tool/VERSION",
                "modified",
                "1.8.2",
                "1.9.0",
                cause="network-fetch",
                risk="DRIFT303",
            ),
            Finding(
                "file",
                3,
                run,
                "/opt/tool/share/completions/tool.bash",
                "added",
                "",
                "sha256:0a9f3c…",
                cause="network-fetch",
                risk="DRIFT303",
            ),
        ),
        (
            {
                "id": "DRIFT303",
                "line": 5,
                "stage": 0,
                "instruction": run,
                "subject": "https://downloads.example.com/tool/latest/tool-linux-amd64.tar.gz",
                "cause": "network-fetch",
                "message": "curl fetches a moving URL (latest) without a checksum",
                "fix": "fetch a versioned URL and check its sha256 with sha256sum -c",
            },
        ),
    )


def _pip_story() -> DriftStory:
    run = "RUN pip install --no-cache-dir -r requirements.txt"
    site = "/usr/local/lib/python3.11/site-packages"
    return DriftStory(
        run,
        4,
        (
            Finding(
                "package",
                4,
                run,
                "requests",
                "modified",
                "2.31.0",
                "2.32.3",
                cause="pip",
                risk="DRIFT202",
                ecosystem="pypi",
            ),
            Finding(
                "file",
                4,
                run,
                f"{site}/requests/__version__.py",
                "modified",
                "sha256:1b2c3d…",
                "sha256:8e7f6a…",
                cause="pip",
                risk="DRIFT202",
            ),
            Finding(
                "file",
                4,
                run,
                f"{site}/requests-2.31.0.dist-info/METADATA",
                "removed",
                "sha256:aa01bc…",
                "",
                cause="pip",
                risk="DRIFT202",
            ),
            Finding(
                "file",
                4,
                run,
                f"{site}/requests-2.32.3.dist-info/METADATA",
                "added",
                "",
                "sha256:ff12ee…",
                cause="pip",
                risk="DRIFT202",
            ),
        ),
        (
            {
                "id": "DRIFT202",
                "line": 7,
                "stage": 0,
                "instruction": run,
                "subject": "requirements.txt",
                "cause": "pip",
                "message": "pip installs requirements.txt without --require-hashes",
                "fix": "pin every requirement with == and --require-hashes",
            },
        ),
    )


def _base_image_story() -> DriftStory:
    return DriftStory(
        "FROM debian:bookworm",
        0,
        (
            Finding(
                "base-image",
                None,
                "FROM debian:bookworm",
                "debian:bookworm",
                "moved",
                "sha256:4f8e1d2c9a7b",
                "sha256:b61d3a0e5f24",
                cause="base-image-tag",
                risk="DRIFT001",
            ),
            Finding(
                "file",
                0,
                "FROM debian:bookworm",
                "/usr/lib/os-release",
                "modified",
                "12.5",
                "12.6",
                cause="base-image-tag",
                risk="DRIFT001",
            ),
            Finding(
                "file",
                0,
                "FROM debian:bookworm",
                "/usr/lib/x86_64-linux-gnu/libssl.so.3",
                "modified",
                "sha256:6c1e…",
                "sha256:0d4b…",
                cause="base-image-tag",
                risk="DRIFT001",
            ),
        ),
        (
            {
                "id": "DRIFT001",
                "line": 1,
                "stage": 0,
                "instruction": "FROM debian:bookworm",
                "subject": "debian:bookworm",
                "cause": "base-image-tag",
                "message": "FROM debian:bookworm has a tag but no digest",
                "fix": "pin it: debian:bookworm@sha256:<digest>",
            },
        ),
    )


def _timestamp_story() -> DriftStory:
    run = "RUN date -u > /app/BUILD_TIME && npm ci"
    return DriftStory(
        run,
        5,
        (Finding("file", 5, run, "/app/BUILD_TIME", "modified", "2024-05-01T02:03:11Z", "", cause="timestamp"),),
        (),
    )


STORIES = (_apt_story, _fetch_story, _pip_story, _base_image_story, _timestamp_story)


def _sha(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def _names(count: int) -> list[str]:
    return [_NAMES[i % len(_NAMES)] + (f"-{i // len(_NAMES) + 1}" if i >= len(_NAMES) else "") for i in range(count)]


def _roles(count: int, rng: random.Random, never_built: int) -> list[str]:
    """What happens to each target: most are quiet, a few drift, one breaks, one errors, one never succeeds."""
    roles = ["reproducible"] * count
    slots = list(range(count - never_built))
    rng.shuffle(slots)
    special = ["broken", "error", "failed", "moved-pin"]
    special += ["drift"] * max(1, count // 6) + ["noisy"] * max(1, count // 5)
    for slot, role in zip(slots, special, strict=False):
        roles[slot] = role
    for index in range(count - never_built, count):
        roles[index] = "never-built"
    return roles


def synthetic_rows(
    targets: int = 30, nights: int = 30, seed: int = 1, *, never_built: int = 0, first_night: datetime = FIRST_NIGHT
) -> list[Row]:
    """The report input for `targets` targets checked every night for `nights` nights.

    Build ids grow with time across all targets, as a database would assign them.
    The last `never_built` targets are tracked but have no build yet.
    """
    rng = random.Random(seed)
    names = _names(targets)
    roles = _roles(targets, rng, never_built)
    specs = [
        TargetSpec(name=name, repo=f"https://git.example.com/platform/{name}.git", commit=_sha(seed, name, "pin")[:40])
        for name in names
    ]
    plans = [_Plan(role, rng, nights) for role in roles]
    histories: list[list[BuildSummary]] = [[] for _ in names]
    next_id = 1
    for night in range(nights):
        for index, (spec, plan) in enumerate(zip(specs, plans, strict=True)):
            if not plan.builds_on(night):
                continue
            started = first_night + timedelta(days=night, minutes=index * 2 + rng.randrange(0, 2))
            build = plan.build(next_id, spec, night, started, histories[index])
            histories[index].append(build)
            next_id += 1
    rows: list[Row] = []
    for spec, plan, history in zip(specs, plans, histories, strict=True):
        newest_first = list(reversed(history))
        rows.append(
            (replace(spec, commit=plan.commit or spec.commit), newest_first[0] if newest_first else None, newest_first)
        )
    return rows


def synthetic_risks(rows: Sequence[Row]) -> dict[int, list[Mapping[str, object]]]:
    """The Dockerfile risks per build, for the builds whose findings a risk predicted."""
    risks: dict[int, list[Mapping[str, object]]] = {}
    catalog = {str(r["id"]): r for story in STORIES for r in story().risks}
    for _spec, _latest, history in rows:
        for build in history:
            ids = sorted({f.risk for f in build.findings if f.risk})
            if ids:
                risks[build.id] = [catalog[i] for i in ids if i in catalog]
    return risks


def verdict_counts(rows: Sequence[Row]) -> dict[str, int]:
    """How many targets have each latest verdict ("never built" for those without a build)."""
    counts: dict[str, int] = {}
    for _spec, latest, _history in rows:
        key = latest.verdict.value if latest is not None and latest.verdict is not None else "never built"
        counts[key] = counts.get(key, 0) + 1
    return counts


class _Plan:
    """The nightly story of one target."""

    def __init__(self, role: str, rng: random.Random, nights: int) -> None:
        self.role = role
        self.rng = rng
        self.nights = nights
        self.story = rng.choice(STORIES)() if role == "drift" else None
        self.drift_from = rng.randrange(max(1, nights // 3), max(2, nights - 2)) if role == "drift" else nights
        self.break_from = rng.randrange(max(1, nights // 2), max(2, nights - 1)) if role == "broken" else nights
        self.error_from = max(1, nights - 2) if role == "error" else nights
        self.first_night = max(0, nights - 5) if role == "failed" else 0
        self.pin_moved_at = nights // 2 if role == "moved-pin" else nights
        self.commit = ""
        self.baseline_id: int | None = None

    def builds_on(self, night: int) -> bool:
        return self.role != "never-built" and night >= self.first_night

    def build(
        self, build_id: int, spec: TargetSpec, night: int, started: datetime, earlier: Sequence[BuildSummary]
    ) -> BuildSummary:
        commit = spec.commit if night < self.pin_moved_at else _sha(spec.commit, "moved")[:40]
        if night >= self.pin_moved_at:
            self.commit = commit
        fingerprint = "sha256:" + _sha(spec.name, commit)
        base = BuildSummary(
            id=build_id,
            target=spec.name,
            fingerprint=fingerprint,
            commit=commit,
            status="succeeded",
            verdict=Verdict.REPRODUCIBLE,
            started_at=started,
            finished_at=started + timedelta(seconds=self.rng.randrange(40, 420)),
            image_id="sha256:" + _sha(spec.name, commit, "image"),
            builder=BUILDER,
            compared_to=self.baseline_id,
            error=None,
            failed_step=None,
            log_tail=None,
            findings=(),
            is_baseline=False,
            accepted=False,
            base_images=(
                BaseImage(
                    0,
                    "debian:bookworm",
                    "sha256:" + _sha("debian", night >= self.drift_from),
                    "debian@sha256:" + _sha("debian-repo", night >= self.drift_from),
                    1,
                    final=True,
                ),
            ),
        )
        if self.role == "failed":
            return replace(
                base,
                **_failure(
                    Verdict.FAILED,
                    "RUN go build -o /out/server ./cmd/server",
                    "The command '/bin/sh -c go build -o /out/server ./cmd/server' returned a non-zero code: 1",
                    "cmd/server/main.go:14:2: no required module provides package example.com/internal/config",
                ),
            )
        if self.role == "error" and night >= self.error_from:
            return replace(
                base,
                status="error",
                verdict=Verdict.ERROR,
                finished_at=started + timedelta(seconds=31),
                image_id=None,
                builder=None,
                compared_to=None,
                base_images=(),
                error=f"repository unreachable: git fetch {spec.repo} failed: Could not resolve host: git.example.com",
            )
        if self.role == "broken" and night >= self.break_from:
            return replace(
                base,
                **_failure(
                    Verdict.BROKEN,
                    "RUN apt-get update && apt-get install -y libfoo1",
                    "The command '/bin/sh -c apt-get update && apt-get install -y libfoo1' "
                    "returned a non-zero code: 100",
                    "E: Unable to locate package libfoo1",
                ),
            )
        if self.baseline_id is None or night == self.pin_moved_at:
            self.baseline_id = build_id
            return replace(base, verdict=Verdict.BASELINE, is_baseline=True, compared_to=None)
        if self.story is not None and night >= self.drift_from:
            new = night == self.drift_from
            findings = tuple(replace(f, new=new) for f in self.story.findings) + NOISE[1:]
            return replace(base, verdict=Verdict.DRIFTED, findings=findings)
        if self.role == "noisy" or (self.role == "reproducible" and self.rng.random() < 0.04):
            noise = NOISE[: self.rng.randrange(1, len(NOISE) + 1)]
            previous = {f.key() for f in earlier[-1].findings} if earlier else set()
            return replace(
                base, verdict=Verdict.NOISY, findings=tuple(replace(f, new=f.key() not in previous) for f in noise)
            )
        return base


class _Failure(TypedDict):
    """A failed build's fields of BuildSummary."""

    status: str
    verdict: Verdict
    image_id: None
    failed_step: str
    error: str
    log_tail: str


def _failure(verdict: Verdict, step: str, error: str, last_line: str) -> _Failure:
    return {
        "status": "failed",
        "verdict": verdict,
        "image_id": None,
        "failed_step": step,
        "error": error,
        "log_tail": f"Step 3/6 : {step}\n ---> Running in 5f0c1e2d3a4b\n{last_line}\n",
    }
