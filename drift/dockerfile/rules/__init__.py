"""Static risks: every unpinned external input of a Dockerfile, found before it ever drifts.

A build whose source does not change drifts only through what it fetches from
outside: a base-image tag that moves, a package manager that installs the
newest version, a URL whose content changes. Each rule finds one kind of such
input and names the cause (drift.compare.causes) a drift through it would be
reported with, so a finding can later be tied back to the risk that predicted it.

One module per ecosystem holds its rules (id, message, fix) and the checks
that find them; each module's docstring lists its rules and how they compare
with hadolint's:

    images     DRIFT001-003  FROM and COPY --from without a digest
    apt        DRIFT101-102  apt-get/apt/aptitude
    apk        DRIFT111-112  apk
    rpm        DRIFT121-122  yum/dnf/microdnf/tdnf
    pip        DRIFT201-203  pip
    npm        DRIFT211-212  npm/yarn/pnpm
    gem        DRIFT221      gem
    golang     DRIFT231      go install/go get
    cargo      DRIFT241-242  cargo install
    downloads  DRIFT301-304  ADD of a URL, curl, wget
    git        DRIFT311-312  git clone, ADD of a git URL
    model_hub  DRIFT321      Hugging Face model downloads

What every RUN rule shares (simple commands, options) is in `commands`, what
every module offers is in `interface`. Adding an ecosystem is adding a module
and listing it in `RULE_SETS`.

Package arguments that come from an unknown variable or `$(...)` cannot be
judged and are skipped; those from a known ARG or ENV are judged (and
reported on the line of the reference).
"""

from __future__ import annotations

from drift.dockerfile.model import Dockerfile, Instruction, Stage, exec_form
from drift.dockerfile.rules import apk, apt, cargo, downloads, gem, git, golang, images, model_hub, npm, pip, rpm
from drift.dockerfile.rules.commands import Run, command_key
from drift.dockerfile.rules.interface import CommandCheck, Risk, RiskSite, RuleSet
from drift.dockerfile.shell import ShellWord, scan
from drift.dockerfile.variables import expand_references

__all__ = ["RULE_IDS", "RULE_SETS", "Risk", "RiskSite", "find_risks", "risk_sites"]

# The order of the checks of a whole RUN: downloads, then clones, then model downloads.
RULE_SETS: tuple[RuleSet, ...] = (
    images.RULE_SET,
    apt.RULE_SET,
    apk.RULE_SET,
    rpm.RULE_SET,
    pip.RULE_SET,
    npm.RULE_SET,
    gem.RULE_SET,
    golang.RULE_SET,
    cargo.RULE_SET,
    downloads.RULE_SET,
    git.RULE_SET,
    model_hub.RULE_SET,
)

RULE_IDS: tuple[str, ...] = tuple(sorted(rule.id for rule_set in RULE_SETS for rule in rule_set.rules))

_COMMANDS: dict[str, CommandCheck] = {
    program: check for rule_set in RULE_SETS for program, check in rule_set.commands.items()
}


def find_risks(dockerfile: Dockerfile) -> list[Risk]:
    """Every unpinned external input of every stage, in line order."""
    return [site.risk for site in risk_sites(dockerfile)]


def risk_sites(dockerfile: Dockerfile) -> list[RiskSite]:
    """The risks with what an editor needs to pin them, in line order."""
    sites: list[RiskSite] = []
    for stage in dockerfile.stages:
        for rule_set in RULE_SETS:
            if rule_set.stage is not None:
                sites.extend(rule_set.stage(stage))
        for instruction in stage.instructions:
            if instruction.keyword == "RUN":
                sites.extend(_run_sites(dockerfile, stage, instruction))
            elif instruction.keyword == "ADD" and not instruction.heredocs:
                sites.extend(_add_sites(stage, instruction))
            for rule_set in RULE_SETS:
                if rule_set.instruction is not None:
                    sites.extend(rule_set.instruction(dockerfile, stage, instruction))
    unique: dict[tuple[str, int, str], RiskSite] = {}
    for site in sites:
        unique.setdefault((site.risk.id, site.risk.line, site.risk.subject), site)
    return sorted(unique.values(), key=lambda site: (site.risk.line, _word_at(site)))


def _word_at(site: RiskSite) -> int:
    return site.word.at if site.word is not None else -1


def _run_sites(dockerfile: Dockerfile, stage: Stage, instruction: Instruction) -> list[RiskSite]:
    run = Run(dockerfile, stage, instruction)
    found: list[RiskSite] = []
    for simple in run.simples:
        check = _COMMANDS.get(command_key(simple.program))
        if check is not None:
            found.extend(check(run, simple))
    for rule_set in RULE_SETS:
        if rule_set.run is not None:
            found.extend(rule_set.run(run))
    return [site for site in found if site.instruction is instruction]


def _add_sites(stage: Stage, instruction: Instruction) -> list[RiskSite]:
    sites: list[RiskSite] = []
    for word in _add_words(instruction)[:-1]:  # the last word is the destination
        for rule_set in RULE_SETS:
            if rule_set.add_source is not None:
                sites.extend(rule_set.add_source(stage, instruction, word))
    return sites


def _add_words(instruction: Instruction) -> list[ShellWord]:
    """The words of an ADD value (JSON form too), with spans."""
    arguments = exec_form(instruction.value)
    words: list[ShellWord] = []
    if arguments is not None:
        cursor = 0
        for argument in arguments:
            found = instruction.value.find(argument, cursor)
            start = found if found >= 0 else cursor
            cursor = start + len(argument)
            words.append(_word_from_value(instruction, argument, start, start + len(argument)))
        return words
    for command in scan(instruction.value, instruction.variables, lambda s, e: instruction.source_span(s, e), 0):
        words.extend(command.words)
    return words


def _word_from_value(instruction: Instruction, text: str, start: int, end: int) -> ShellWord:
    span = instruction.source_span(start, end)
    at = instruction.value_offsets[start] if start < len(instruction.value_offsets) else 0
    written = instruction.text[span[0] : span[1]] if span else ""
    return ShellWord(text=expand_references(text, instruction.variables), written=written, span=span, at=at)
