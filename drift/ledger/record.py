"""Turning the proxy's fetches into the build's ledger: each request with its Dockerfile instruction, the layer
that instruction made and whether a checksum in the Dockerfile pins what it fetched.

The engine names the running step by its instruction text ("RUN wget -q -O
/opt/tool/x $URL", the legacy builder's "Step 3/7 : ..." and BuildKit's step
vertex alike). That text is matched to the parsed Dockerfile; the layer is
then the one the image's history attributes to that instruction (as for every
other finding), and the fetch is unverified when a download risk sits on the
instruction's lines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from drift.dockerfile import Risk
from drift.dockerfile.model import Dockerfile, Instruction
from drift.ledger.fetch import Fetch
from drift.values import RecordedFetch

DOWNLOAD_CAUSE = "network-fetch"


def _words(text: str) -> str:
    return " ".join(text.split())


def _candidates(dockerfile: Dockerfile, final_stage: int | None) -> list[Instruction]:
    """Every instruction, the final stage's first (its instructions are the ones that made layers)."""
    stages = sorted(dockerfile.stages, key=lambda stage: stage.index != final_stage)
    return [instruction for stage in stages for instruction in stage.instructions]


def match_instruction(step: str, instructions: Sequence[Instruction]) -> Instruction | None:
    """The instruction a step's text names: the same words, else the one whose command the text holds."""
    keyword, _, rest = _words(step).partition(" ")
    same_keyword = [i for i in instructions if i.keyword == keyword.upper()]
    # The legacy builder names a step as written, BuildKit with its build args substituted.
    for instruction in same_keyword:
        written = (instruction.summary.partition(" ")[2], instruction.value, instruction.expanded)
        if rest in {_words(text) for text in written}:
            return instruction
    for instruction in same_keyword:
        for text in (instruction.value, instruction.expanded):
            value = _words(text)
            if value and (value in rest or rest in value):
                return instruction
    return None


def record_fetches(
    fetches: Sequence[Fetch],
    dockerfile: Dockerfile | None,
    *,
    final_stage: int | None = None,
    layer_by_line: Mapping[int, int] | None = None,
    risks: Sequence[Risk] = (),
) -> tuple[RecordedFetch, ...]:
    """The ledger of a build from its proxy's fetches.

    `layer_by_line`: the first Dockerfile line of each instruction that made a
    layer of the image -> that layer's index (None for a build without image).
    """
    instructions = _candidates(dockerfile, final_stage) if dockerfile is not None else []
    layers = layer_by_line or {}
    recorded = []
    for fetch in fetches:
        instruction = match_instruction(fetch.step, instructions) if fetch.step else None
        layer = layers.get(instruction.line) if instruction is not None else None
        risk = ""
        if instruction is not None:
            risk = next(
                (
                    r.id
                    for r in risks
                    if r.cause == DOWNLOAD_CAUSE and instruction.line <= r.line <= instruction.end_line
                ),
                "",
            )
        recorded.append(
            RecordedFetch(
                method=fetch.method,
                url=fetch.url,
                host=fetch.host,
                status=fetch.status,
                bytes=fetch.bytes_in,
                sha256=fetch.sha256,
                instruction=instruction.summary if instruction is not None else (fetch.step or ""),
                layer=layer,
                risk=risk,
                error=fetch.error,
            )
        )
    return tuple(recorded)
