"""Rust crates: `cargo install` in RUN.

    DRIFT241  a crate without --version (or a --git without --rev)    cargo
    DRIFT242  cargo install without --locked                          cargo

hadolint has no rule for cargo.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from drift.dockerfile.rules.commands import (
    HEX_REF,
    Run,
    SimpleCommand,
    has_option,
    option_names,
    option_value,
    split_options,
)
from drift.dockerfile.rules.interface import RiskSite, Rule, RuleSet
from drift.dockerfile.shell import ShellWord

UNPINNED_CRATE = Rule(
    "DRIFT241",
    "cargo",
    "cargo installs {subject} without a fixed version",
    "pin it: --version <version> (for --git: --rev <sha>)",
)
UNLOCKED = Rule(
    "DRIFT242",
    "cargo",
    "cargo install of {subject} resolves its dependencies afresh (no --locked)",
    "add --locked so the crate's Cargo.lock is used",
)


_CARGO_LONG = option_names(
    """
    version vers git branch tag rev path root index registry features jobs target target-dir profile bin
    example config color
    """
)


def _cargo(run: Run, simple: SimpleCommand) -> Iterator[RiskSite]:
    args = simple.args
    if not args or args[0].text != "install":
        return
    options, operands = split_options(args[1:], short="FjZ", long=_CARGO_LONG)
    locked = has_option(options, "locked", "frozen")
    version = option_value(options, "version", "vers")
    git = next((word for name, word in options if name == "git" and word is not None), None)
    path = next((word for name, word in options if name == "path" and word is not None), None)
    subjects: list[ShellWord] = list(operands)
    if git is not None:
        rev = option_value(options, "rev") or ""
        if not HEX_REF.match(rev) and option_value(options, "tag") is None:
            yield run.site(UNPINNED_CRATE, git.text, git, "cargo", git.text, simple)
        subjects = subjects or [git]
    elif path is not None:
        subjects = subjects or [path]
    else:
        for word in operands:
            name, _, inline = word.text.partition("@")
            pinned = (inline or version or "").strip()
            if word.resolved and not re.fullmatch(r"=?\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]+)?", pinned):
                yield run.site(UNPINNED_CRATE, name, word, "cargo", name, simple)
    if not locked:
        for word in subjects:
            name = word.text.partition("@")[0]
            yield run.site(UNLOCKED, name, word, "cargo", name, simple)


RULE_SET = RuleSet(rules=(UNPINNED_CRATE, UNLOCKED), commands={"cargo": _cargo})
