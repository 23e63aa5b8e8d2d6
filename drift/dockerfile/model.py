"""What drift knows about a Dockerfile at the pinned commit: its stages and instructions.

`dockerfile-parse` splits the text into instructions (parser directives, line
continuations, comments between continued lines). Three things it does not do,
and Docker does, are covered here on top of it:

- heredocs (`RUN <<EOF`, `COPY <<-'EOF' /dst`; dockerfile-parse issue #145):
  their bodies are masked before dockerfile-parse sees the text, so a body line
  is never taken for an instruction;
- blank lines inside a continued instruction: Docker skips them, dockerfile-parse
  would end the instruction there, so they are masked too;
- ARG and ENV references in instructions Docker never expands itself (RUN):
  `expanded` substitutes what is known at that point of the stage, because a
  risk rule needs `apt-get install $PKGS` with the packages in it.

Line numbers are 1-based and refer to the text as given. Every instruction
keeps its original text and, for each character of its `value`, the offset of
that character in the text, so a pin can edit the original bytes in place.
"""

from __future__ import annotations

import io
import itertools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from dockerfile_parse import DockerfileParser

from drift.errors import UsageError

# What a name in the ARG/ENV scope maps to: its value, or None when the name is
# declared (`ARG NAME`) but has no value, which Docker treats as unset.
Scope = Mapping[str, str | None]

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
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
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
class Instruction:
    """One Dockerfile instruction.

    Attributes:
        keyword: upper-case ("RUN", "COPY", "ENV", ...).
        flags: the instruction's `--name=value` flags, dequoted ({"from":
            "builder"}); a flag without a value maps to "true"; a repeated flag
            (`RUN --mount`) keeps its last value here, all of them in `flag_items`.
        value: the text after the keyword and the flags, continuation lines
            joined (escape character and line break removed, comment and blank
            lines between continued lines dropped), as written.
        expanded: `value` with the ARG and ENV references known at this point
            of the stage substituted (`$X`, `${X}`, `${X:-default}`,
            `${X:+alt}`). A reference to a name the Dockerfile never declares
            (`$PATH` from the base image, a shell variable) is left as written.
        heredocs: the instruction's heredocs, in order.
        line: 1-based line of the keyword.
        end_line: 1-based last line of the instruction (of its last heredoc's
            terminator, when it has heredocs).
        text: the instruction exactly as written, from the keyword's line to
            `end_line`, continuations, interleaved comments and heredoc bodies
            included, without the final line break.
        flag_items: every flag in the order written, repeated ones included.
        variables: the ARG and ENV scope the instruction sees: name -> value,
            or None for a declared ARG without a value. ENV wins over ARG.
        value_offsets: for each character of `value`, its offset in `text`.
    """

    keyword: str
    flags: Mapping[str, str]
    value: str
    expanded: str
    heredocs: tuple[Heredoc, ...]
    line: int
    end_line: int
    text: str
    flag_items: tuple[tuple[str, str], ...] = ()
    variables: Scope = field(default_factory=dict, repr=False, compare=False)
    value_offsets: tuple[int, ...] = field(default=(), repr=False, compare=False)

    @property
    def summary(self) -> str:
        """The instruction on one line, the way image history shows it: "RUN apt-get install -y curl"."""
        flags = " ".join(f"--{name}" if value == "true" else f"--{name}={value}" for name, value in self.flag_items)
        parts = [self.keyword, flags, " ".join(self.value.split())]
        return " ".join(part for part in parts if part)

    def line_of(self, offset: int) -> int:
        """The 1-based Dockerfile line of an offset in `text`."""
        return self.line + self.text.count("\n", 0, offset)

    def source_span(self, start: int, end: int) -> tuple[int, int] | None:
        """Where `value[start:end]` is in `text`; None when it is not one unbroken run there.

        A word split by a line continuation cannot be edited as one piece of text.
        """
        if not 0 <= start < end <= len(self.value_offsets):
            return None
        first, last = self.value_offsets[start], self.value_offsets[end - 1]
        if last - first != end - 1 - start:
            return None
        return first, last + 1


@dataclass(frozen=True, slots=True)
class Stage:
    """One build stage: a FROM and the instructions up to the next FROM.

    Attributes:
        index: 0-based position among the stages.
        name: the `AS name`, lower-cased, or None.
        base: the FROM reference as written ("$BASE", "debian:bookworm").
        base_resolved: `base` with the global ARGs (those before the first
            FROM, their defaults overridden by build args) substituted; a
            reference to an ARG without a value stays as written.
        base_stage: index of the earlier stage the FROM names, or None.
        from_line: 1-based line of the FROM.
        platform: the FROM's `--platform` flag as written, or None.
        instructions: the stage's instructions after its FROM.
        depends_on: indexes of the earlier stages the stage uses: its base
            stage, `COPY --from=` and `RUN --mount=...,from=` sources.
        from_instruction: the FROM instruction itself.
        inherited: the instructions of the earlier stages this one is built on
            (`FROM builder`), in the order their history entries precede this
            stage's own; ends with the parent's ONBUILD instructions, whose
            triggers run right after this stage's FROM. Empty for an image base.
    """

    index: int
    name: str | None
    base: str
    base_resolved: str
    base_stage: int | None
    from_line: int
    platform: str | None
    instructions: tuple[Instruction, ...]
    depends_on: tuple[int, ...]
    from_instruction: Instruction
    inherited: tuple[Instruction, ...] = ()

    @property
    def is_scratch(self) -> bool:
        """True for `FROM scratch`, which has no base image at all."""
        return self.base_stage is None and self.base_resolved.lower() == "scratch"


@dataclass(frozen=True, slots=True)
class Dockerfile:
    """A parsed Dockerfile.

    Attributes:
        stages: the build stages in order.
        preamble: instructions before the first FROM (Docker allows only ARG there).
        global_args: the global ARGs with their effective values (defaults
            overridden by build args); None for an ARG without a value.
        escape: the escape character (`\\` or the backtick of `# escape=\\``).
        build_args: the build args the file was parsed with.
    """

    stages: tuple[Stage, ...]
    preamble: tuple[Instruction, ...] = ()
    global_args: Mapping[str, str | None] = field(default_factory=dict)
    escape: str = "\\"
    build_args: Mapping[str, str] = field(default_factory=dict)

    def final_stage(self, target: str | None = None) -> Stage:
        """The stage a build with `--target TARGET` produces: the named one, or the last."""
        if not self.stages:
            raise UsageError("the Dockerfile has no FROM instruction, so it has no stage to build")
        if target is None:
            return self.stages[-1]
        wanted = target.lower()
        for stage in self.stages:
            if stage.name == wanted:
                return stage
        names = ", ".join(stage.name for stage in self.stages if stage.name) or "none"
        raise UsageError(f"target stage {target!r} is not in the Dockerfile (named stages: {names})")

    def stage(self, reference: str) -> Stage | None:
        """The stage a `--from=` or FROM names: its name (any case) or its index; None if none."""
        wanted = reference.lower()
        for stage in self.stages:
            if stage.name == wanted:
                return stage
        if reference.isdigit() and int(reference) < len(self.stages):
            return self.stages[int(reference)]
        return None


def parse_dockerfile(text: str, build_args: Mapping[str, str] | None = None) -> Dockerfile:
    """Parse a Dockerfile's text; build args override ARG defaults as `--build-arg` does.

    Never fails on odd input: what Docker would reject is kept as well as it
    can be (an instruction before FROM lands in `preamble`, an unterminated
    heredoc runs to the end of the file).
    """
    args = dict(build_args or {})
    lines = _physical_lines(text)
    escape = _escape_character(lines)
    entries, heredocs = _segment(lines, escape)
    raw = [_raw_instruction(lines, entry, heredocs.get(entry.start, ()), escape) for entry in entries]
    return _assemble(raw, args, escape)


# --- variables -------------------------------------------------------------------------------------------------------


def expand_variables(text: str, variables: Scope, escape: str = "\\") -> str:
    """`text` with the references to known variables substituted.

    Follows Docker's (and the shell's) quoting: nothing is expanded inside
    single quotes, an escaped `$` is literal. Quotes and escapes are kept, so
    the result still reads as the instruction was written. References to names
    not in `variables` are left as written; a name mapped to None is unset.
    """
    out: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        char = text[i]
        if char == escape and quote != "'" and i + 1 < len(text):
            out.append(text[i : i + 2])
            i += 2
            continue
        if char in "'\"" and (not quote or quote == char):
            quote = "" if quote else char
        elif char == "$" and quote != "'":
            substituted, end = expand_reference(text, i, variables, escape)
            if substituted is not None:
                out.append(substituted)
                i = end
                continue
        out.append(char)
        i += 1
    return "".join(out)


def expand_reference(text: str, start: int, variables: Scope, escape: str = "\\") -> tuple[str | None, int]:
    """Expand the variable reference at `text[start]` (a `$`).

    Returns (substitution, end offset of the reference). The substitution is
    None when the reference names an unknown variable or is a form drift does
    not evaluate (`${X#pattern}`, `$1`, `$(cmd)`): the caller keeps it as written.
    """
    if text.startswith("${", start):
        close = _closing_brace(text, start + 2)
        if close < 0:
            return None, start + 1
        inner = text[start + 2 : close]
        end = close + 1
        name_match = _NAME.match(inner)
        if name_match is None:
            return None, end
        name, operation = name_match.group(), inner[name_match.end() :]
        if name not in variables:
            return None, end
        value = variables[name]
        if operation == "":
            return value or "", end
        for operator in (":-", ":+", "-", "+"):
            if operation.startswith(operator):
                word = expand_variables(operation[len(operator) :], variables, escape)
                is_set = value is not None and (value != "" or not operator.startswith(":"))
                if operator.endswith("-"):
                    return (value or "") if is_set else word, end
                return word if is_set else "", end
        return None, end
    name_match = _NAME.match(text, start + 1)
    if name_match is None or name_match.group() not in variables:
        return None, start + 1 if name_match is None else name_match.end()
    return variables[name_match.group()] or "", name_match.end()


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return -1


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


@dataclass(frozen=True, slots=True)
class _RawInstruction:
    """An instruction before the stage pass has given it its variables."""

    keyword: str
    flag_items: tuple[tuple[str, str], ...]
    value: str
    heredocs: tuple[Heredoc, ...]
    line: int
    end_line: int
    text: str
    value_offsets: tuple[int, ...]


def _rstrip_eol(text: str, escape: str) -> str:
    # dockerfile-parse's own rule for the end of a continued line.
    text = text.rstrip()
    return text[:-1] if text.endswith(escape) else text


def _raw_instruction(
    lines: list[str], entry: _Entry, sources: tuple[_HeredocSource, ...], escape: str
) -> _RawInstruction:
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
    return _RawInstruction(
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
        end = i
        quote = ""
        while end < len(value) and (quote or not value[end].isspace()):
            if value[end] in "'\"" and (not quote or quote == value[end]):
                quote = "" if quote else value[end]
            end += 1
        name, has_value, flag_value = value[i + 2 : end].partition("=")
        flags.append((name.lower(), _dequote(flag_value) if has_value else "true"))
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


def _dequote(word: str) -> str:
    """A word with its shell-style quotes removed ('"a b"' -> 'a b')."""
    out: list[str] = []
    quote = ""
    i = 0
    while i < len(word):
        char = word[i]
        if char == "\\" and quote != "'" and i + 1 < len(word):
            out.append(word[i + 1])
            i += 2
            continue
        if char in "'\"" and (not quote or quote == char):
            quote = "" if quote else char
        else:
            out.append(char)
        i += 1
    return "".join(out)


def _words(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each whitespace-separated word, quotes kept together."""
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        start = i
        quote = ""
        while i < len(text) and (quote or not text[i].isspace()):
            if text[i] == "\\" and quote != "'":
                i += 2
                continue
            if text[i] in "'\"" and (not quote or quote == text[i]):
                quote = "" if quote else text[i]
            i += 1
        yield start, min(i, len(text))


# --- stages and variables --------------------------------------------------------------------------------------------


def _assemble(raw: list[_RawInstruction], build_args: dict[str, str], escape: str) -> Dockerfile:
    first_from = next((i for i, item in enumerate(raw) if item.keyword == "FROM"), len(raw))

    global_args: dict[str, str | None] = {}
    preamble: list[Instruction] = []
    for item in raw[:first_from]:
        scope = dict(global_args)
        if item.keyword == "ARG":
            for name, default in _arg_declarations(item.value, scope, escape):
                global_args[name] = build_args.get(name, default)
        preamble.append(_finish(item, scope, escape))

    stages: list[Stage] = []
    end_envs: list[dict[str, str]] = []
    bounds = [i for i in range(first_from, len(raw)) if raw[i].keyword == "FROM"] + [len(raw)]
    for index, (begin, end) in enumerate(itertools.pairwise(bounds)):
        stage, env = _stage(index, raw[begin], raw[begin + 1 : end], stages, end_envs, global_args, build_args, escape)
        stages.append(stage)
        end_envs.append(env)
    return Dockerfile(
        stages=tuple(stages),
        preamble=tuple(preamble),
        global_args=MappingProxyType(global_args),
        escape=escape,
        build_args=MappingProxyType(dict(build_args)),
    )


def _stage(
    index: int,
    from_item: _RawInstruction,
    items: list[_RawInstruction],
    earlier: list[Stage],
    earlier_envs: list[dict[str, str]],
    global_args: dict[str, str | None],
    build_args: dict[str, str],
    escape: str,
) -> tuple[Stage, dict[str, str]]:
    words = [from_item.value[start:end] for start, end in _words(from_item.value)]
    base = words[0] if words else ""
    name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else None
    # A global ARG without a value would make the reference blank; keeping it
    # as written tells the reader which build arg is missing.
    known_globals = {key: value for key, value in global_args.items() if value is not None}
    base_resolved = _dequote(expand_variables(base, known_globals, escape))
    parent = next((stage for stage in earlier if stage.name == base_resolved.lower()), None)

    env: dict[str, str] = dict(earlier_envs[parent.index]) if parent is not None else {}
    args: dict[str, str | None] = {}
    instructions: list[Instruction] = []
    depends_on: set[int] = {parent.index} if parent is not None else set()
    for item in items:
        scope: dict[str, str | None] = {**args, **env}
        instruction = _finish(item, scope, escape)
        instructions.append(instruction)
        if item.keyword == "ARG":
            for arg_name, default in _arg_declarations(item.value, scope, escape):
                if arg_name in build_args:
                    args[arg_name] = build_args[arg_name]
                elif default is not None:
                    args[arg_name] = default
                else:
                    args[arg_name] = global_args.get(arg_name)
        elif item.keyword == "ENV":
            env.update(_env_assignments(instruction.expanded))
        for source in _stage_sources(instruction, scope, escape):
            referenced = _stage_reference(source, earlier)
            if referenced is not None:
                depends_on.add(referenced)

    inherited: tuple[Instruction, ...] = ()
    if parent is not None:
        triggers = tuple(instruction for instruction in parent.instructions if instruction.keyword == "ONBUILD")
        inherited = parent.inherited + parent.instructions + triggers
    platform = dict(from_item.flag_items).get("platform")
    stage = Stage(
        index=index,
        name=name,
        base=base,
        base_resolved=base_resolved,
        base_stage=parent.index if parent is not None else None,
        from_line=from_item.line,
        platform=platform,
        instructions=tuple(instructions),
        depends_on=tuple(sorted(depends_on)),
        from_instruction=_finish(from_item, known_globals, escape),
        inherited=inherited,
    )
    return stage, env


def _finish(item: _RawInstruction, scope: Mapping[str, str | None], escape: str) -> Instruction:
    frozen_scope: Scope = MappingProxyType(dict(scope))
    # The shell, not Docker, reads RUN (and CMD...) text: its escape is always "\".
    shell_read = item.keyword in {"RUN", "CMD", "ENTRYPOINT", "HEALTHCHECK", "SHELL"}
    return Instruction(
        keyword=item.keyword,
        flags=MappingProxyType(dict(item.flag_items)),
        value=item.value,
        expanded=expand_variables(item.value, frozen_scope, "\\" if shell_read else escape),
        heredocs=item.heredocs,
        line=item.line,
        end_line=item.end_line,
        text=item.text,
        flag_items=item.flag_items,
        variables=frozen_scope,
        value_offsets=item.value_offsets,
    )


def _arg_declarations(value: str, scope: Mapping[str, str | None], escape: str) -> list[tuple[str, str | None]]:
    """(name, default or None) of each name an ARG declares (`ARG A=1 B`)."""
    declared: list[tuple[str, str | None]] = []
    for start, end in _words(value):
        word = value[start:end]
        name, has_default, default = word.partition("=")
        if _NAME.fullmatch(name):
            declared.append((name, _dequote(expand_variables(default, scope, escape)) if has_default else None))
    return declared


def _env_assignments(expanded: str) -> dict[str, str]:
    """The variables an ENV sets, from its expanded value (`A=1 B="x y"` or the legacy `A x y`)."""
    words = [expanded[start:end] for start, end in _words(expanded)]
    if not words:
        return {}
    if "=" not in words[0]:
        name, *rest = expanded.split(None, 1)
        return {name: _dequote(rest[0].strip()) if rest else ""} if _NAME.fullmatch(name) else {}
    assignments: dict[str, str] = {}
    for word in words:
        name, has_value, value = word.partition("=")
        if has_value and _NAME.fullmatch(name):
            assignments[name] = _dequote(value)
    return assignments


def _stage_sources(instruction: Instruction, scope: Mapping[str, str | None], escape: str) -> list[str]:
    """What an instruction copies or mounts from: `--from=` values and `--mount=...,from=...`."""
    sources: list[str] = []
    for name, value in instruction.flag_items:
        if name == "from" and instruction.keyword in {"COPY", "ADD"}:
            sources.append(expand_variables(value, scope, escape))
        elif name == "mount":
            for option in value.split(","):
                key, _, option_value = option.partition("=")
                if key.strip() == "from" and option_value:
                    sources.append(expand_variables(option_value.strip(), scope, escape))
    return sources


def _stage_reference(source: str, earlier: list[Stage]) -> int | None:
    for stage in earlier:
        if stage.name == source.lower():
            return stage.index
    if source.isdigit() and int(source) < len(earlier):
        return int(source)
    return None


def exec_form(value: str) -> list[str] | None:
    """The argument list of an exec-form value (`["sh", "-c", "x"]`), or None for the shell form."""
    stripped = value.strip()
    if not stripped.startswith("["):
        return None
    try:
        parsed = json.loads(stripped)
    except ValueError:
        return None
    if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
        return [str(item) for item in parsed]
    return None
