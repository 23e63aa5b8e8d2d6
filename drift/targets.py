"""Targets: validating what a user tracks, and the source fingerprint builds are compared within."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from enum import StrEnum
from posixpath import normpath

from drift.errors import UsageError
from drift.values import TargetSpec

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
BUILD_ARG = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$", re.DOTALL)


class PullPolicy(StrEnum):
    """When a build pulls its base images: every time, only those not on the engine, or never."""

    always = "always"
    missing = "missing"
    never = "never"


PULL_POLICIES: tuple[str, ...] = tuple(policy.value for policy in PullPolicy)


class BuilderChoice(StrEnum):
    """Which of the engine's builders builds a target: BuildKit where the engine has it, or that one always."""

    auto = "auto"
    buildkit = "buildkit"
    legacy = "legacy"


BUILDERS: tuple[str, ...] = tuple(choice.value for choice in BuilderChoice)


def check_name(name: str) -> str:
    if not NAME.fullmatch(name) or len(name) > 200:
        raise UsageError(
            f"target name {name!r} is invalid; use lowercase letters, digits, '.', '_' and '-', "
            "starting with a letter or digit"
        )
    return name


def parse_build_args(pairs: Iterable[str]) -> dict[str, str]:
    """KEY=VALUE pairs from the command line or drift.toml."""
    args: dict[str, str] = {}
    for pair in pairs:
        match = BUILD_ARG.match(pair)
        if match is None:
            raise UsageError(
                f"build arg {pair!r} is not KEY=VALUE (KEY: letters, digits, '_'); e.g. --build-arg VERSION=1.2"
            )
        args[match["key"]] = match["value"]
    return args


def check_relative_path(value: str, what: str) -> str:
    """A path inside the repository, normalized; absolute paths or `..` escapes are refused."""
    normalized = normpath(value.strip() or ".")
    if normalized.startswith("/") or normalized == ".." or normalized.startswith("../"):
        raise UsageError(f"{what} {value!r} must be a path inside the repository, e.g. docker/Dockerfile")
    return normalized


def check_pull(policy: str) -> str:
    if policy not in PULL_POLICIES:
        raise UsageError(f"pull policy {policy!r} is not one of {', '.join(PULL_POLICIES)}")
    return policy


def check_builder(builder: str) -> str:
    if builder not in BUILDERS:
        raise UsageError(f"builder {builder!r} is not one of {', '.join(BUILDERS)}")
    return builder


def source_fingerprint(spec: TargetSpec) -> str:
    """A hash of everything the user controls about the source; builds are only compared within one."""
    material = {
        "commit": spec.commit,
        "dockerfile": spec.dockerfile,
        "context": spec.context,
        "build_args": dict(sorted(spec.build_args.items())),
        "stage": spec.stage,
        "platform": spec.platform,
    }
    encoded = json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(encoded).hexdigest()


# registry[:port]/path[:tag][@sha256:hex], as the distribution reference grammar has it (lowercase path).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(
    # A first component is a registry when it has a dot or a port, or is localhost (as docker decides).
    r"(?:(?P<registry>localhost(?::[0-9]+)?|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?::[0-9]+)?|[A-Za-z0-9-]+:[0-9]+)/)?"
    rf"(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)


def check_reference(reference: str) -> str:
    """An image reference as `docker pull` takes it; a usage error naming the expected shape otherwise."""
    reference = reference.strip()
    if len(reference) > 1000 or _REFERENCE.fullmatch(reference) is None:
        raise UsageError(
            f"{reference!r} is not an image reference; use REGISTRY/NAME:TAG or REGISTRY/NAME@sha256:<64 hex>, "
            "e.g. registry.example.com/app:1.2"
        )
    return reference
