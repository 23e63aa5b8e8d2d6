"""Which Dockerfile instruction made each entry of an image's history, and so each layer.

The legacy builder (Engine 20.10, what drift runs) writes one history entry per
instruction of the built stage, in order, after the base image's own entries:
"/bin/sh -c #(nop)  ENV A=1" for metadata-only steps (marked `empty_layer`),
"|1 URL=... /bin/sh -c wget ..." for RUN, "COPY file:<hash> in /app/" for COPY.
Build-API labels add trailing "LABEL" entries the Dockerfile does not have.
BuildKit writes Dockerfile-like text ("RUN /bin/sh -c make # buildkit",
"COPY /out/app /usr/local/bin/app # buildkit", "WORKDIR /app") and may leave
steps out. A RUN can also leave an empty layer when it changed nothing.

So position alone cannot be trusted. Each entry is compared with each
instruction (same keyword, then the command, the destination, the keys) and
the order-preserving pairing with the best total agreement wins: a dynamic
programme over (entries x instructions). A missing entry leaves its
instruction unpaired, an extra entry (a build-API label, an ONBUILD trigger of
the base image) pairs with nothing, and the entries after either still pair
with the instructions they belong to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from drift.dockerfile.model import Instruction, Stage, exec_form
from drift.image.history import instruction_from_history

# Agreement of one entry with one instruction. An entry whose keyword differs
# from the instruction's never pairs with it.
_EXACT = 4  # the command or content is the same
_CLOSE = 3  # the same destination, the same keys, one command contains the other
_KEYWORD = 1  # only the keyword agrees: better than nothing, worse than any real evidence

_ASSIGNED_KEY = re.compile(r"""(?:^|\s)["']?([A-Za-z_][A-Za-z0-9_.\-]*)["']?=""")


def attribute_history(
    stage: Stage, history: Sequence[Mapping[str, object]], base_history_length: int
) -> list[Instruction | None]:
    """The instruction behind each history entry, oldest first; None for base-image and unmatched entries.

    `history` is the image config's history (oldest first, as `docker save`
    stores it); `base_history_length` is how many of its entries the base
    image brought (for `FROM builder`, the base image of the first stage in
    the chain). The stage's inherited instructions (from earlier stages it is
    built on) are matched before its own.
    """
    base = max(0, min(base_history_length, len(history)))
    expected = [*stage.inherited, *stage.instructions]
    entries = [instruction_from_history(entry) for entry in history[base:]]
    pairs = _align(entries, expected)
    attributed: list[Instruction | None] = [None] * len(history)
    for entry_index, instruction_index in pairs:
        attributed[base + entry_index] = expected[instruction_index]
    return attributed


def layer_instructions(
    stage: Stage, history: Sequence[Mapping[str, object]], base_history_length: int
) -> list[Instruction | None]:
    """The instruction behind each layer, in RootFS order: one item per non-empty history entry."""
    attributed = attribute_history(stage, history, base_history_length)
    return [
        instruction
        for entry, instruction in zip(history, attributed, strict=True)
        if entry.get("empty_layer") is not True
    ]


def _align(entries: list[str], expected: list[Instruction]) -> list[tuple[int, int]]:
    """The order-preserving pairs (entry, instruction) with the highest total agreement."""
    rows, columns = len(entries), len(expected)
    # best[i][j]: the best total for entries[i:] and expected[j:].
    best = [[0] * (columns + 1) for _ in range(rows + 1)]
    scores = [[_agreement(entry, instruction) for instruction in expected] for entry in entries]
    for i in range(rows - 1, -1, -1):
        for j in range(columns - 1, -1, -1):
            paired = scores[i][j] + best[i + 1][j + 1] if scores[i][j] else 0
            best[i][j] = max(paired, best[i + 1][j], best[i][j + 1])
    pairs: list[tuple[int, int]] = []
    i = j = 0
    while i < rows and j < columns:
        if scores[i][j] and best[i][j] == scores[i][j] + best[i + 1][j + 1]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif best[i][j] == best[i][j + 1]:
            j += 1  # the instruction has no entry (BuildKit left it out)
        else:
            i += 1  # the entry belongs to no instruction (an API label, a base trigger)
    return pairs


def _agreement(entry: str, instruction: Instruction) -> int:
    keyword, _, rest = entry.partition(" ")
    keyword = keyword.upper()
    if instruction.keyword == "ONBUILD":
        # An ONBUILD shows up twice: as itself where it is declared, and as the
        # triggered instruction at the start of the child stage.
        if keyword == "ONBUILD":
            return _EXACT if _same_text(rest, instruction.value) else _CLOSE
        inner_keyword, _, inner_value = instruction.value.strip().partition(" ")
        if keyword != inner_keyword.upper():
            return 0
        return _content_agreement(keyword, rest, inner_value, instruction)
    if keyword != instruction.keyword:
        return 0
    return _content_agreement(keyword, rest, instruction.value, instruction)


def _content_agreement(keyword: str, recorded: str, value: str, instruction: Instruction) -> int:
    if keyword == "RUN":
        return _run_agreement(recorded, value)
    if keyword in {"COPY", "ADD"}:
        return _CLOSE if _destination(recorded) == _destination(value) else _KEYWORD
    if keyword in {"ENV", "ARG"}:
        return _CLOSE if _keys(recorded) == _keys(value) else _KEYWORD
    if keyword == "LABEL":
        # Build-API labels are LABEL entries too; only shared keys say which is which.
        return _CLOSE if _keys(recorded) & _keys(value) else 0
    if keyword in {"CMD", "ENTRYPOINT", "SHELL", "VOLUME"}:
        return _CLOSE if _words_only(recorded).endswith(_words_only(value)) else _KEYWORD
    if _same_text(recorded, value) or _same_text(recorded, instruction.expanded):
        return _EXACT
    return _KEYWORD


def _run_agreement(recorded: str, value: str) -> int:
    # The legacy builder writes an exec-form RUN as its arguments joined by spaces.
    arguments = exec_form(value)
    command = " ".join(arguments) if arguments is not None else value
    recorded_words, command_words = " ".join(recorded.split()), " ".join(command.split())
    if recorded_words == command_words:
        return _EXACT
    if command_words and (command_words in recorded_words or recorded_words in command_words):
        return _CLOSE  # a shell drift did not strip, or a heredoc BuildKit wrote whole
    return _KEYWORD


def _destination(text: str) -> str:
    """The last word (the legacy builder writes "COPY file:<hash> in /app/"), without a trailing slash."""
    arguments = exec_form(text)
    words = arguments if arguments is not None else text.split()
    if not words:
        return ""
    return words[-1].rstrip("/") or "/"


def _keys(text: str) -> set[str]:
    keys = set(_ASSIGNED_KEY.findall(text))
    if not keys and text.split():
        keys.add(text.split()[0])  # `ENV NAME value`, `ARG NAME`
    return keys


def _words_only(text: str) -> str:
    """Text without JSON punctuation: the legacy builder writes `CMD ["a" "b"]` for `CMD ["a", "b"]`."""
    return " ".join(re.sub(r'[\[\],"]', " ", text).split())


def _same_text(first: str, second: str) -> bool:
    return " ".join(first.split()) == " ".join(second.split())
