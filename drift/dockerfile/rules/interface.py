"""What the risk rules share: a rule's table entry, the risk it reports, and the checks a rule module offers.

One module per ecosystem (apt, pip, downloads, git, ...) holds its rules and
the checks that find them, and offers them as a `RuleSet`; drift.dockerfile.rules
lists the modules and walks a Dockerfile through their checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from drift.dockerfile.model import Dockerfile, Instruction, Stage
from drift.dockerfile.shell import ShellWord

if TYPE_CHECKING:
    from drift.dockerfile.rules.commands import Run, SimpleCommand


@dataclass(frozen=True, slots=True)
class Risk:
    """One unpinned external input.

    Attributes:
        id: the rule's stable id ("DRIFT101").
        line: 1-based Dockerfile line where the input is named.
        stage: index of the stage the instruction is in.
        instruction: the instruction on one line ("RUN apt-get install -y curl").
        subject: the image reference, package name, URL or repository.
        cause: the cause word (drift.compare.causes) a drift through it would get.
        message: one line: what is unpinned.
        fix: one line: how to pin it.
    """

    id: str
    line: int
    stage: int
    instruction: str
    subject: str
    cause: str
    message: str
    fix: str


@dataclass(frozen=True, slots=True)
class RiskSite:
    """A risk with where it sits in the Dockerfile, for the tools that edit it (drift.dockerfile.pins).

    Attributes:
        risk: the risk.
        instruction: the instruction it is in.
        ecosystem: "image", "url", "git", "model", or the package ecosystem as
            drift.catalog names it: "deb", "apk", "rpm", "pypi", "npm", "gem",
            "golang", "cargo".
        name: the package name (no version), image reference, URL or repository.
        word: the word naming the subject (None for FROM and flags).
        command: the words of the simple command, program first.
        command_end: offset in the instruction's text right after the command,
            when a `&& check` can follow it there: the command runs alone or
            before `&&`, outside a pipeline and outside a substitution.
        output: the file a fetch writes, when it writes one.
    """

    risk: Risk
    instruction: Instruction
    ecosystem: str
    name: str
    word: ShellWord | None = None
    command: tuple[ShellWord, ...] = ()
    command_end: int | None = None
    output: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule's entry in the table: its id, the cause a drift through it gets, and its words.

    `message` and `fix` are format strings with a `{subject}` field.
    """

    id: str
    cause: str
    message: str
    fix: str

    def site(
        self,
        stage: Stage,
        instruction: Instruction,
        subject: str,
        line: int,
        ecosystem: str,
        name: str,
        word: ShellWord | None = None,
        command: tuple[ShellWord, ...] = (),
        command_end: int | None = None,
        output: str | None = None,
    ) -> RiskSite:
        """The risk this rule reports for `subject`, where it sits."""
        risk = Risk(
            id=self.id,
            line=line,
            stage=stage.index,
            instruction=instruction.summary,
            subject=subject,
            cause=self.cause,
            message=self.message.format(subject=subject),
            fix=self.fix.format(subject=subject),
        )
        return RiskSite(risk, instruction, ecosystem, name, word, command, command_end, output)


# A check of one simple command of a RUN, by its program ("apt-get", "pip").
CommandCheck = Callable[["Run", "SimpleCommand"], Iterator[RiskSite]]
# A check of a whole RUN, for what only all its commands together tell (a download, then its checksum).
RunCheck = Callable[["Run"], list[RiskSite]]
# A check of one source of an ADD; it returns nothing for a source of another kind.
AddSourceCheck = Callable[[Stage, Instruction, ShellWord], list[RiskSite]]
# A check of a stage's FROM.
StageCheck = Callable[[Stage], list[RiskSite]]
# A check of any instruction of a stage (its flags: COPY --from, RUN --mount).
InstructionCheck = Callable[[Dockerfile, Stage, Instruction], list[RiskSite]]


@dataclass(frozen=True, slots=True)
class RuleSet:
    """What one rule module offers: its table entries and the checks that find them.

    Attributes:
        rules: the module's rules, each id in exactly one module.
        commands: program name -> the check of a simple command running it.
        run: the check of a whole RUN, after its commands.
        add_source: the check of each source of an ADD.
        stage: the check of each stage's FROM.
        instruction: the check of each instruction of a stage.
    """

    rules: tuple[Rule, ...]
    commands: Mapping[str, CommandCheck] = field(default_factory=dict)
    run: RunCheck | None = None
    add_source: AddSourceCheck | None = None
    stage: StageCheck | None = None
    instruction: InstructionCheck | None = None
