"""BuildKit's progress, decoded: the `moby.buildkit.trace` messages of a build through `POST /build?version=2`.

Each such message carries, base64-encoded, a `StatusResponse` of moby/buildkit's
control API (its protobuf messages are in `drift/build/buildkit_proto/`): the
build's steps ("vertexes") as they start, finish or fail, their progress and
their log output. This module turns them into what drift shows and records:
a line per step started, the steps' log lines, the step that failed and the
tail of the log.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import deque
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from drift.build.buildkit_proto.status_pb2 import StatusResponse

TRACE_ID = "moby.buildkit.trace"
IMAGE_ID = "moby.image.id"

# "[stage-1 2/4] COPY a /a", "[2/2] RUN make", "[builder 1/2] FROM ...": the Dockerfile step behind a vertex.
_STEP_NAME = re.compile(r"^\[(?:(?P<stage>[^\]\s]+) )?(?P<number>\d+)/(?P<count>\d+)\] (?P<instruction>.+)$", re.DOTALL)


@dataclass
class _Vertex:
    number: int
    name: str
    started: bool = False
    completed: bool = False
    error: str = ""


class BuildkitProgress:
    """The state of one BuildKit build, fed its trace messages in order."""

    def __init__(self, tail_lines: int = 40) -> None:
        self._vertexes: dict[str, _Vertex] = {}
        self._tail: deque[str] = deque(maxlen=tail_lines)
        self._partial: dict[str, str] = {}
        self.current_step: str | None = None
        self.failed_step: str | None = None

    def feed(self, aux: object) -> list[str]:
        """Take one trace message (its base64 `aux`); return the log lines it adds, for people."""
        status = _decode(aux)
        if status is None:
            return []
        lines: list[str] = []
        for vertex in status.vertexes:
            known = self._vertexes.get(vertex.digest)
            if known is None:
                known = self._vertexes[vertex.digest] = _Vertex(len(self._vertexes) + 1, vertex.name)
            if vertex.HasField("started") and not known.started:
                known.started = True
                lines.append(f"#{known.number} {vertex.name}")
                if instruction := step_instruction(vertex.name):
                    self.current_step = instruction
            if vertex.error and not known.error:
                known.error = vertex.error
                lines.append(f"#{known.number} ERROR: {vertex.error}")
                if instruction := step_instruction(vertex.name):
                    self.failed_step = instruction
            if vertex.HasField("completed") and not known.completed:
                known.completed = True
                if vertex.cached:
                    lines.append(f"#{known.number} CACHED")
        for log in status.logs:
            known = self._vertexes.get(log.vertex)
            prefix = f"#{known.number} " if known else ""
            text = self._partial.pop(log.vertex, "") + log.msg.decode("utf-8", "replace")
            *complete, rest = text.split("\n")
            if rest:
                self._partial[log.vertex] = rest
            lines.extend(prefix + line for line in complete)
        self._tail.extend(lines)
        return lines

    def log_tail(self) -> str:
        """The last lines of the build's log (what the failed step printed, with its error)."""
        return "\n".join([*self._tail, *(text for text in self._partial.values() if text)])


def step_instruction(vertex_name: str) -> str | None:
    """The Dockerfile instruction of a step vertex ("[2/3] RUN make" -> "RUN make"); None for internal ones."""
    match = _STEP_NAME.match(vertex_name)
    return match["instruction"] if match else None


def _decode(aux: object) -> StatusResponse | None:
    """A trace message's StatusResponse; None for anything that is not one (the engine's output is not trusted)."""
    if not isinstance(aux, str):
        return None
    try:
        status = StatusResponse()
        status.ParseFromString(base64.b64decode(aux, validate=True))
    except (binascii.Error, ValueError, DecodeError):
        return None
    return status
