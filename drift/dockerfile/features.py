"""Dockerfile features a builder must have: what only BuildKit builds, and what needs a client session.

The legacy builder fails on BuildKit syntax with the engine's own words
("unknown instruction: APK" for a heredoc line); drift says before the build
which line needs BuildKit. Secret and ssh mounts need a client session,
which a build through the Engine API does not have: such targets are refused
when they are tracked.
"""

from __future__ import annotations

import re
from dataclasses import replace

from drift.dockerfile.model import Dockerfile, Instruction
from drift.values import BaseImage

_SYNTAX_DIRECTIVE = re.compile(r"^\s*#\s*syntax\s*=", re.IGNORECASE)
# Flags only BuildKit knows, per instruction.
_BUILDKIT_FLAGS = {
    "RUN": ("mount", "network", "security"),
    "COPY": ("chmod", "link", "parents", "exclude"),
    "ADD": ("chmod", "link", "checksum", "keep-git-dir", "exclude"),
}
_SESSION_MOUNTS = re.compile(r"(?:^|,)\s*type\s*=\s*(secret|ssh)\b", re.IGNORECASE)


def buildkit_only(dockerfile: Dockerfile, text: str) -> list[str]:
    """What in the Dockerfile the legacy builder cannot build, one "line N: ..." sentence each."""
    found: list[str] = []
    for number, line in enumerate(text.splitlines()[:20], start=1):
        if not line.strip():
            continue
        if not line.lstrip().startswith("#"):
            break
        if _SYNTAX_DIRECTIVE.match(line):
            found.append(f"line {number}: a `# syntax=` frontend needs BuildKit")
    for stage in dockerfile.stages:
        platform = stage.platform or ""
        if any(name in platform for name in ("BUILDPLATFORM", "TARGETPLATFORM")):
            found.append(f"line {stage.from_line}: FROM --platform={platform} needs BuildKit's platform args")
        for instruction in (stage.from_instruction, *stage.instructions):
            found.extend(_instruction_needs(instruction))
    return found


def session_mounts(dockerfile: Dockerfile) -> list[str]:
    """The RUN steps that mount a secret or an ssh agent: they need a client session drift does not have."""
    found: list[str] = []
    for stage in dockerfile.stages:
        for instruction in stage.instructions:
            if instruction.keyword != "RUN":
                continue
            for name, value in instruction.flag_items:
                match = _SESSION_MOUNTS.search(value) if name == "mount" else None
                if match:
                    found.append(f"line {instruction.line}: RUN --mount=type={match[1].lower()}")
    return found


def _instruction_needs(instruction: Instruction) -> list[str]:
    found: list[str] = []
    if instruction.heredocs:
        found.append(f"line {instruction.line}: a heredoc (<<{instruction.heredocs[0].delimiter}) needs BuildKit")
    for flag in _BUILDKIT_FLAGS.get(instruction.keyword, ()):
        if any(name == flag for name, _value in instruction.flag_items):
            found.append(f"line {instruction.line}: {instruction.keyword} --{flag} needs BuildKit")
    return found


def stage_bases(dockerfile: Dockerfile) -> list[tuple[int, str | None, str | None]]:
    """Per stage: (index, name, the external image it starts from, or None for `scratch` and earlier stages)."""
    return [
        (stage.index, stage.name, None if stage.base_stage is not None or stage.is_scratch else stage.base_resolved)
        for stage in dockerfile.stages
    ]


def final_base_of(
    dockerfile: Dockerfile, target_stage: str | None, resolved: list[BaseImage]
) -> tuple[list[BaseImage], int]:
    """The base images (one per external FROM, as resolved) with the final stage's own marked `final`, and how
    many layers the final stage inherits from it (following `FROM <earlier stage>` links)."""
    stages = stage_bases(dockerfile)
    by_name = {name: index for index, name, _image in stages if name}
    stage_base: dict[int, BaseImage | int | None] = {base.stage: base for base in resolved}
    for index, _name, image in stages:
        if image is None and index not in stage_base:
            stage_base[index] = dockerfile.stages[index].base_stage
    final = by_name.get(target_stage.lower(), len(stages) - 1) if target_stage else len(stages) - 1
    seen: set[int] = set()
    current: BaseImage | int | None = stage_base.get(final)
    while isinstance(current, int) and current not in seen:
        seen.add(current)
        current = stage_base.get(current)
    if not isinstance(current, BaseImage):
        return resolved, 0
    final_base = current
    return [replace(b, final=b is final_base) for b in resolved], final_base.layer_count
