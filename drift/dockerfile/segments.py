"""How a Dockerfile's text is cut into instructions, before any meaning is given to them.

`dockerfile-parse` splits the text into instructions (parser directives, line
continuations, comments between continued lines). Two things it does not do,
and Docker does, are covered here on top of it:

- heredocs (`RUN <<EOF`, `COPY <<-'EOF' /dst`; dockerfile-parse issue #145):
  their bodies are masked before dockerfile-parse sees the text, so a body line
  is never taken for an instruction;
- blank lines inside a continued instruction: Docker skips them, dockerfile-parse
  would end the instruction there, so they are masked too.

Each instruction keeps its original text and, for each character of its
value, the offset of that character in the text, so a pin can edit the
original bytes in place. Line numbers are 1-based.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from dockerfile_parse import DockerfileParser

from drift.dockerfile.shell import dequote, word_end

# The instructions whose leading `--name[=value]` words are flags. Elsewhere a
# leading "--" is content (`CMD --help`, `ENTRYPOINT --verbose`).
_FLAGGED = frozenset({"FROM", "RUN", "COPY", "ADD", "HEALTHCHECK"})
# BuildKit reads heredocs only in these instructions.
_HEREDOC_KEYWORDS = frozenset({"RUN", "COPY", "ADD"})

_ESCAPE_DIRECTIVE = re.compile(r"^\s*#\s*escape\s*=\s*(\\|`)\s*$", re.IGNORECASE)
_SYNTAX_DIRECTIVE = re.compile(r"^\s*#\s*syntax\s*=", re.IGNORECASE)
_COMMENT = re.compile(r"^\s*#")
# How dockerfile-parse finds the keyword of a line; kept identical so that the
# value computed here matches its own character for character.
_KEYWORD_LINE = re.compile(r"^\s*(\S+)\s+(.*)$")
# A heredoc introducer inside an instruction's value: `<<EOF`, `<<-EOF`,
# `<<"EOF"`, `<<'EOF'`; `<<<` (a here-string) is not one.
_HEREDOC = re.compile(r"""<<(-?)(?:"([^"\s]+)"|'([^'\s]+)'|([A-Za-z0-9_.-]+))""")


@dataclass(frozen=True, slots=True)
class Heredoc:
    """A heredoc of a RUN, COPY or ADD instruction.

    Attributes:
        delimiter: the terminating word, without quotes ("EOF").
        body: the text between the introducer line and the terminator, with
            its newlines; with `<<-`, leading tabs of each line removed.
        quoted: True when the delimiter was quoted (`<<'EOF'`, `<<"EOF"`): the
            body is then taken literally, no variable is expanded in it.
        strip_tabs: True for the `<<-EOF` form.
        line: 1-based line of the body's first line in the Dockerfile.
        span: (start, end) offsets of the raw body (tabs not removed, terminator
            excluded) in the instruction's `text`.
    """

    delimiter: str
    body: str
    quoted: bool
    strip_tabs: bool
    line: int
    span: tuple[int, int]


@dataclass(frozen=True, slots=True)
class RawInstruction:
    """An instruction as written, before the stage pass gives it its variables (drift.dockerfile.model).

    The fields are those of `Instruction` of the same name.
    """

    keyword: str
    flag_items: tuple[tuple[str, str], ...]
    value: str
    heredocs: tuple[Heredoc, ...]
    line: int
    end_line: int
    text: str
    value_offsets: tuple[int, ...]


def read_instructions(text: str) -> tuple[list[RawInstruction], str]:
    """The instructions of a Dockerfile's text, in order, and its escape character (`\\` or a backtick)."""
    lines = _physical_lines(text)
    escape = _escape_character(lines)
    entries, heredocs = _segment(lines, escape)
    return [_raw_instruction(lines, entry, heredocs.get(entry.start, ()), escape) for entry in entries], escape


# --- segmentation ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    """One instruction as dockerfile-parse delimits it (0-based lines)."""

    keyword: str
    start: int
    end: int
    value: str


@dataclass(frozen=True, slots=True)
class _HeredocSource:
    delimiter: str
    quoted: bool
    strip_tabs: bool
    first: int  # 0-based line of the body's first line
    terminator: int  # 0-based line of the terminator (len(lines) when missing)


def _physical_lines(text: str) -> list[str]:
    """Lines with their line breaks, split on "\\n" only, as Docker's scanner splits them."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def _escape_character(lines: list[str]) -> str:
    for line in lines:
        directive = _ESCAPE_DIRECTIVE.match(line)
        if directive is not None:
            return directive.group(1)
        if not _SYNTAX_DIRECTIVE.match(line):
            break
    return "\\"


def _segment(lines: list[str], escape: str) -> tuple[list[_Entry], dict[int, tuple[_HeredocSource, ...]]]:
    """Instructions as dockerfile-parse delimits them, heredoc bodies masked first.

    A heredoc body starts after the line that ends its instruction, which only
    a parse of the lines before it can tell: so parse, mask the first unmasked
    heredoc's body, parse again. Files have few heredocs; each costs one parse.
    """
    masked = [_mask(line) if not line.strip() else line for line in lines]
    heredocs: dict[int, tuple[_HeredocSource, ...]] = {}
    while True:
        entries = _parse_structure(masked)
        pending = next(
            (
                (entry, found)
                for entry in entries
                if entry.keyword in _HEREDOC_KEYWORDS and entry.start not in heredocs
                for found in [_heredoc_introducers(entry.value)]
                if found
            ),
            None,
        )
        if pending is None:
            return entries, heredocs
        entry, introducers = pending
        sources: list[_HeredocSource] = []
        next_line = entry.end + 1
        for strip_tabs, delimiter, quoted in introducers:
            terminator = next_line
            while terminator < len(lines):
                candidate = lines[terminator].rstrip("\r\n")
                if (candidate.lstrip("\t") if strip_tabs else candidate) == delimiter:
                    break
                terminator += 1
            sources.append(_HeredocSource(delimiter, quoted, strip_tabs, next_line, terminator))
            for i in range(next_line, min(terminator + 1, len(lines))):
                masked[i] = _mask(lines[i])
            next_line = terminator + 1
        heredocs[entry.start] = tuple(sources)


def _mask(line: str) -> str:
    # A comment line: dockerfile-parse skips it, inside a continued instruction too.
    return "#\n" if line.endswith("\n") else "#"


def _parse_structure(lines: list[str]) -> list[_Entry]:
    parser = DockerfileParser(fileobj=io.BytesIO("".join(lines).encode()))
    return [
        _Entry(str(item["instruction"]), int(item["startline"]), int(item["endline"]), str(item["value"]))
        for item in parser.structure
        if item["instruction"] != "COMMENT"
    ]


def _heredoc_introducers(value: str) -> list[tuple[bool, str, bool]]:
    """(strip_tabs, delimiter, quoted) of each heredoc the value introduces, outside quotes."""
    if value.lstrip().startswith("["):
        return []  # exec form: no shell, no heredoc
    found: list[tuple[bool, str, bool]] = []
    quote = ""
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\" and quote != "'":
            i += 2
            continue
        if char in "'\"" and (not quote or quote == char):
            quote = "" if quote else char
        elif char == "<" and not quote:
            match = _HEREDOC.match(value, i)
            if match is not None and (i == 0 or value[i - 1] != "<"):
                double, single, bare = match.group(2), match.group(3), match.group(4)
                found.append((match.group(1) == "-", double or single or bare, bare is None))
                i = match.end()
                continue
            while i < len(value) and value[i] == "<":
                i += 1
            continue
        i += 1
    return found


# --- one instruction -------------------------------------------------------------------------------------------------


def _rstrip_eol(text: str, escape: str) -> str:
    # dockerfile-parse's own rule for the end of a continued line.
    text = text.rstrip()
    return text[:-1] if text.endswith(escape) else text


def _raw_instruction(
    lines: list[str], entry: _Entry, sources: tuple[_HeredocSource, ...], escape: str
) -> RawInstruction:
    last = max([entry.end, *(min(source.terminator, len(lines) - 1) for source in sources)])
    line_starts: list[int] = []
    position = 0
    for i in range(entry.start, last + 1):
        line_starts.append(position)
        position += len(lines[i])
    text = "".join(lines[entry.start : last + 1])
    text = text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text

    # The joined value, exactly as dockerfile-parse computes it, with offsets.
    chars: list[str] = []
    offsets: list[int] = []
    for i in range(entry.start, entry.end + 1):
        line = lines[i]
        base = line_starts[i - entry.start]
        if i == entry.start:
            keyword_line = _KEYWORD_LINE.match(line)
            if keyword_line is None:
                continue
            begin = keyword_line.start(2)
            kept = _rstrip_eol(keyword_line.group(2), escape)
        else:
            if not line.strip() or _COMMENT.match(line):
                continue  # Docker skips comment and blank lines inside a continued instruction
            begin = 0
            kept = _rstrip_eol(line, escape)
            if not chars:
                begin = len(kept) - len(kept.lstrip())
                kept = kept.lstrip()
        chars.extend(kept)
        offsets.extend(range(base + begin, base + begin + len(kept)))
    value = "".join(chars)

    flag_items: list[tuple[str, str]] = []
    if entry.keyword in _FLAGGED:
        value, offsets, flag_items = _split_flags(value, offsets)

    heredocs = tuple(
        _heredoc(lines, source, line_starts, entry.start, text) for source in sources if source.first <= len(lines)
    )
    return RawInstruction(
        keyword=entry.keyword,
        flag_items=tuple(flag_items),
        value=value,
        heredocs=heredocs,
        line=entry.start + 1,
        end_line=last + 1,
        text=text,
        value_offsets=tuple(offsets),
    )


def _split_flags(value: str, offsets: list[int]) -> tuple[str, list[int], list[tuple[str, str]]]:
    flags: list[tuple[str, str]] = []
    i = 0
    while True:
        while i < len(value) and value[i].isspace():
            i += 1
        if not (value.startswith("--", i) and i + 2 < len(value) and value[i + 2].isalpha()):
            break
        end = word_end(value, i, escape=None)  # Docker reads flags with quotes, without escapes
        name, has_value, flag_value = value[i + 2 : end].partition("=")
        flags.append((name.lower(), dequote(flag_value) if has_value else "true"))
        i = end
    return value[i:], offsets[i:], flags


def _heredoc(lines: list[str], source: _HeredocSource, line_starts: list[int], first_line: int, text: str) -> Heredoc:
    end_line = min(source.terminator, len(lines))
    body_lines = lines[source.first : end_line]
    start = line_starts[source.first - first_line] if source.first - first_line < len(line_starts) else len(text)
    end = min(start + sum(len(line) for line in body_lines), len(text))
    body = "".join(line.lstrip("\t") if source.strip_tabs else line for line in body_lines)
    return Heredoc(
        delimiter=source.delimiter,
        body=body,
        quoted=source.quoted,
        strip_tabs=source.strip_tabs,
        line=source.first + 1,
        span=(start, end),
    )
