"""What drift knows about a Dockerfile at the pinned commit: its stages and instructions.

The text is cut into instructions as Docker cuts it (drift.dockerfile.segments,
heredocs and continuations included); here the instructions are grouped into
stages and given the ARG and ENV scope they see. For instructions Docker never
expands itself (RUN), `expanded` substitutes what is known at that point of the
stage (drift.dockerfile.variables), because a risk rule needs
`apt-get install $PKGS` with the packages in it.

Line numbers are 1-based and refer to the text as given. Every instruction
keeps its original text and, for each character of its `value`, the offset of
that character in the text, so a pin can edit the original bytes in place.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from drift.dockerfile.segments import Heredoc, RawInstruction, read_instructions
from drift.dockerfile.shell import dequote, word_spans
from drift.dockerfile.variables import NAME, Scope, expand_variables
from drift.errors import UsageError

__all__ = ["Dockerfile", "Heredoc", "Instruction", "Scope", "Stage", "exec_form", "parse_dockerfile"]


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
    raw, escape = read_instructions(text)
    return _assemble(raw, dict(build_args or {}), escape)


# --- stages and variables --------------------------------------------------------------------------------------------


def _assemble(raw: list[RawInstruction], build_args: dict[str, str], escape: str) -> Dockerfile:
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
    from_item: RawInstruction,
    items: list[RawInstruction],
    earlier: list[Stage],
    earlier_envs: list[dict[str, str]],
    global_args: dict[str, str | None],
    build_args: dict[str, str],
    escape: str,
) -> tuple[Stage, dict[str, str]]:
    words = [from_item.value[start:end] for start, end in word_spans(from_item.value)]
    base = words[0] if words else ""
    name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else None
    # A global ARG without a value would make the reference blank; keeping it
    # as written tells the reader which build arg is missing.
    known_globals = {key: value for key, value in global_args.items() if value is not None}
    base_resolved = dequote(expand_variables(base, known_globals, escape))
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


def _finish(item: RawInstruction, scope: Mapping[str, str | None], escape: str) -> Instruction:
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
    for start, end in word_spans(value):
        word = value[start:end]
        name, has_default, default = word.partition("=")
        if NAME.fullmatch(name):
            declared.append((name, dequote(expand_variables(default, scope, escape)) if has_default else None))
    return declared


def _env_assignments(expanded: str) -> dict[str, str]:
    """The variables an ENV sets, from its expanded value (`A=1 B="x y"` or the legacy `A x y`)."""
    words = [expanded[start:end] for start, end in word_spans(expanded)]
    if not words:
        return {}
    if "=" not in words[0]:
        name, *rest = expanded.split(None, 1)
        return {name: dequote(rest[0].strip()) if rest else ""} if NAME.fullmatch(name) else {}
    assignments: dict[str, str] = {}
    for word in words:
        name, has_value, value = word.partition("=")
        if has_value and NAME.fullmatch(name):
            assignments[name] = dequote(value)
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
