"""Ruby gems: `gem install` and `gem update --system` in RUN.

    DRIFT221  gem install without -v VERSION (or name:VERSION)        gem

Compared with hadolint: DL3028 (gem) -> DRIFT221.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from drift.dockerfile.rules.commands import Run, SimpleCommand, has_option, option_value, split_options
from drift.dockerfile.rules.interface import RiskSite, Rule, RuleSet

UNPINNED_GEM = Rule(
    "DRIFT221",
    "gem",
    "gem installs {subject} without a version",
    "pin it: gem install {subject} -v <version>",
)


_GEM_LONG = frozenset({"version", "install-dir", "bindir", "source", "trust-policy", "platform", "file", "document"})


def _gem(run: Run, simple: SimpleCommand) -> Iterator[RiskSite]:
    options, operands = split_options(simple.args, short="vinsPg", long=_GEM_LONG)
    if not operands:
        return
    subcommand = operands[0].text
    version = option_value(options, "v", "version")
    if subcommand == "update":
        if has_option(options, "system") and not operands[1:]:
            yield run.site(UNPINNED_GEM, "rubygems-update", operands[0], "gem", "rubygems-update", simple)
        return
    if subcommand != "install":
        return
    for word in operands[1:]:
        name, _, inline = word.text.partition(":")
        if not word.resolved or not name or name.endswith(".gem") or name.startswith((".", "/")):
            continue
        pinned = inline or version or ""
        if re.fullmatch(r"=?\s*\d+(\.[0-9A-Za-z]+)*", pinned.strip()):
            continue
        yield run.site(UNPINNED_GEM, name, word, "gem", name, simple)


RULE_SET = RuleSet(rules=(UNPINNED_GEM,), commands={"gem": _gem})
