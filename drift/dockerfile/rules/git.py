"""git repositories: git clone in RUN, and ADD of a git URL.

    DRIFT311  git clone (or ADD of a git URL) of a branch or the
              default branch                                          network-fetch
    DRIFT312  git clone at a tag (weaker: a tag can be moved, a
              commit cannot)                                          network-fetch

A checkout, switch or reset to a hex commit (7-40 digits) after the clone
pins it; a ref containing a digit is taken for a tag (DRIFT312, a tag can be
moved but rarely is), anything else for a branch (DRIFT311). hadolint has no
rule for git clone.
"""

from __future__ import annotations

from drift.dockerfile.model import Instruction, Stage
from drift.dockerfile.rules.commands import (
    HEX_REF,
    URL,
    Run,
    SimpleCommand,
    option_names,
    option_value,
    split_options,
)
from drift.dockerfile.rules.interface import RiskSite, Rule, RuleSet
from drift.dockerfile.shell import ShellWord

BRANCH = Rule(
    "DRIFT311",
    "network-fetch",
    "{subject} is cloned at a branch, which moves",
    "check out a commit after cloning: git checkout <sha>",
)
TAG = Rule(
    "DRIFT312",
    "network-fetch",
    "{subject} is cloned at a tag, which can be moved",
    "check out the tag's commit: git checkout <sha>",
)


def _clone_sites(run: Run) -> list[RiskSite]:
    """Every git clone of the RUN not followed by a checkout of a commit."""
    sites: list[RiskSite] = []
    clones = [(index, simple) for index, simple in enumerate(run.simples) if _git_subcommand(simple)[0] == "clone"]
    for position, (index, simple) in enumerate(clones):
        _, args = _git_subcommand(simple)
        options, operands = split_options(args, short="bocju", long=_GIT_CLONE_VALUES)
        if not operands:
            continue
        repository = operands[0]
        following = clones[position + 1][0] if position + 1 < len(clones) else len(run.simples)
        refs = [ref for later in run.simples[index + 1 : following] for ref in _checkout_refs(later)]
        branch = option_value(options, "b", "branch")
        if any(HEX_REF.match(ref) for ref in refs):
            continue
        ref = refs[-1] if refs else branch
        if not repository.resolved and not URL.match(repository.text):
            continue
        rule = TAG if ref and _looks_like_tag(ref) else BRANCH
        sites.append(run.site(rule, repository.text, repository, "git", repository.text, simple))
    return sites


def _add_source_sites(stage: Stage, instruction: Instruction, word: ShellWord) -> list[RiskSite]:
    """ADD of a git URL at a branch or a tag (`#ref` after the URL), unless a commit or --checksum pins it."""
    if not is_git_url(word.text):
        return []
    repository, _, fragment = word.text.partition("#")
    ref = fragment.split(":", 1)[0]
    checksum = instruction.flags.get("checksum", "")
    if HEX_REF.match(ref) or HEX_REF.match(checksum):
        return []
    rule = TAG if ref and _looks_like_tag(ref) else BRANCH
    return [rule.site(stage, instruction, repository, instruction.line_of(word.at), "git", repository, word=word)]


def is_git_url(text: str) -> bool:
    """True for a repository URL git fetches (`git@host:repo`, `git://...`, `https://.../repo.git`), `#ref` or not."""
    base = text.split("#", 1)[0]
    if base.startswith(("git@", "git://")):
        return True
    return URL.match(base) is not None and base.endswith(".git")


def _looks_like_tag(ref: str) -> bool:
    # Release tags carry a number (v1.2.3, jq-1.7.1, 2024.01); branch names
    # (main, master, develop, stable) rarely do.
    return any(char.isdigit() for char in ref)


_GIT_CLONE_VALUES = option_names(
    """
    branch depth origin config reference reference-if-able separate-git-dir template jobs filter
    shallow-since shallow-exclude upload-pack bundle-uri server-option
    """
)


def _git_subcommand(simple: SimpleCommand) -> tuple[str, list[ShellWord]]:
    if simple.program != "git":
        return "", []
    args = simple.args
    i = 0
    while i < len(args) and args[i].text.startswith("-"):
        i += 2 if args[i].text in ("-C", "-c") else 1
    if i >= len(args):
        return "", []
    return args[i].text, args[i + 1 :]


def _checkout_refs(simple: SimpleCommand) -> list[str]:
    """The refs a `git checkout/switch/reset --hard/fetch` names."""
    subcommand, args = _git_subcommand(simple)
    if subcommand not in {"checkout", "switch", "reset", "fetch"}:
        return []
    _, operands = split_options(args, short="bBc", long=frozenset({"depth", "orphan"}))
    if subcommand == "fetch":
        operands = operands[1:]  # the remote
    return [word.text.removeprefix("tags/").removeprefix("refs/tags/") for word in operands]


RULE_SET = RuleSet(rules=(BRANCH, TAG), run=_clone_sites, add_source=_add_source_sites)
