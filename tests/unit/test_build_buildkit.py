"""BuildKit's progress decoded from real Engine API streams (tests/fixtures/buildkit)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from drift.build.buildkit import TRACE_ID, BuildkitProgress, step_instruction

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "buildkit"


def replay(name: str) -> tuple[BuildkitProgress, list[str], list[dict[str, Any]]]:
    progress = BuildkitProgress()
    lines: list[str] = []
    others: list[dict[str, Any]] = []
    for raw in (FIXTURES / name).read_text().splitlines():
        message = json.loads(raw)
        if message.get("id") == TRACE_ID:
            lines.extend(progress.feed(message["aux"]))
        else:
            others.append(message)
    return progress, lines, others


def test_a_successful_build_names_each_dockerfile_step() -> None:
    progress, lines, others = replay("success.jsonl")
    assert "#6 [builder 2/2] RUN --mount=type=cache,target=/c echo hi > /c/x && cp /c/x /y" in lines
    started = [step_instruction(line.partition(" ")[2]) for line in lines if "] " in line]
    assert [s for s in started if s] == [
        "FROM docker.io/library/busybox:latest",
        "COPY --chmod=755 a /a",
        "RUN --mount=type=cache,target=/c echo hi > /c/x && cp /c/x /y",
        "COPY --from=builder /y /y",
        "RUN --mount=type=bind,source=a,target=/mnt/a cat /mnt/a > /b",
    ]
    assert progress.failed_step is None
    assert {"id": "moby.image.id", "aux": {"ID": others[0]["aux"]["ID"]}} == others[0]


def test_a_failed_build_names_the_failing_step_and_its_output() -> None:
    progress, _lines, others = replay("failure.jsonl")
    assert progress.failed_step == 'RUN echo first line && echo "\\033[2J[/]" && exit 3'
    tail = progress.log_tail()
    assert "first line" in tail and "[/]" in tail
    assert "ERROR: executor failed running" in tail
    assert "exit code: 3" in str(others[-1]["error"])


def test_anything_that_is_not_a_trace_is_ignored() -> None:
    progress = BuildkitProgress()
    for aux in ("not base64!", base64.b64encode(b"\xff\xfe garbage").decode(), None, 42, ""):
        assert progress.feed(aux) == []
    assert progress.failed_step is None and progress.log_tail() == ""


def test_step_names_of_internal_vertexes_are_not_instructions() -> None:
    assert step_instruction("[internal] load remote build context") is None
    assert step_instruction("copy /context /") is None
    assert step_instruction("[3/4] COPY a /a") == "COPY a /a"
