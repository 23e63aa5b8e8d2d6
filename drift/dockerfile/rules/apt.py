"""Debian and Ubuntu packages: `apt-get`, `apt` and `aptitude` in RUN.

    DRIFT101  install of a package without =version                  apt
    DRIFT102  upgrade, dist-upgrade, full-upgrade                     apt

Compared with hadolint: DL3008 (apt-get) -> DRIFT101, also for `apt` and
`aptitude` (hadolint's DL3027 only says "do not use apt"). DRIFT102 (a
whole-system upgrade) corresponds to the retired DL3005. A version with a
glob (`curl=7.88*`) is not a pin.
"""

from __future__ import annotations

from collections.abc import Iterator

from drift.dockerfile.rules.commands import Run, SimpleCommand, split_options
from drift.dockerfile.rules.interface import RiskSite, Rule, RuleSet

UNPINNED_PACKAGE = Rule(
    "DRIFT101",
    "apt",
    "apt installs {subject} without a version",
    "pin the version: {subject}=<version>",
)
UPGRADE_ALL = Rule(
    "DRIFT102",
    "apt",
    "`{subject}` upgrades every installed package to the newest version",
    "drop the upgrade and pin a newer base image by digest instead",
)


_APT_LONG = frozenset({"option", "config-file", "target-release", "default-release", "host-architecture", "arch-only"})
_APT_UPGRADES = frozenset({"upgrade", "dist-upgrade", "full-upgrade"})


def _apt(run: Run, simple: SimpleCommand) -> Iterator[RiskSite]:
    _, operands = split_options(simple.args, short="octa", long=_APT_LONG)
    if not operands:
        return
    subcommand = operands[0].text
    if subcommand in _APT_UPGRADES:
        yield run.site(UPGRADE_ALL, f"{simple.program} {subcommand}", operands[0], "deb", "", simple)
        return
    if subcommand not in {"install", "reinstall"}:
        return
    for word in operands[1:]:
        text = word.text
        if not word.resolved or not text or text.endswith("-") or text.startswith((".", "/")) or text.endswith(".deb"):
            continue
        name, has_version, version = text.rstrip("+").partition("=")
        name = name.split("/", 1)[0].split(":", 1)[0]
        if has_version and version and not any(char in version for char in "*?["):
            continue
        yield run.site(UNPINNED_PACKAGE, name, word, "deb", name, simple)


RULE_SET = RuleSet(
    rules=(UNPINNED_PACKAGE, UPGRADE_ALL),
    commands={"apt-get": _apt, "apt": _apt, "aptitude": _apt},
)
