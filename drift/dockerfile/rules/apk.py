"""Alpine packages: `apk add` and `apk upgrade` in RUN.

    DRIFT111  apk add of a package without =version or ~version      apk
    DRIFT112  apk upgrade                                             apk

Compared with hadolint: DL3018 (apk add) -> DRIFT111. DRIFT112 (a
whole-system upgrade) corresponds to the retired DL3005. A version with a
glob is not a pin.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from drift.dockerfile.rules.commands import Run, SimpleCommand, option_names, split_options
from drift.dockerfile.rules.interface import RiskSite, Rule, RuleSet

UNPINNED_PACKAGE = Rule(
    "DRIFT111",
    "apk",
    "apk adds {subject} without a version",
    "pin the version: {subject}=<version>",
)
UPGRADE_ALL = Rule(
    "DRIFT112",
    "apk",
    "`{subject}` upgrades every installed package to the newest version",
    "drop the upgrade and pin a newer base image by digest instead",
)


_APK_LONG = option_names(
    """
    virtual repository root arch cache-dir keys-dir repositories-file timeout wait cache-max-age
    """
)
_APK_PIN = re.compile(r"^(=|~=?)[^<>=~]+$")


def _apk(run: Run, simple: SimpleCommand) -> Iterator[RiskSite]:
    _, operands = split_options(simple.args, short="tXp", long=_APK_LONG)
    if not operands:
        return
    subcommand = operands[0].text
    if subcommand == "upgrade":
        yield run.site(UPGRADE_ALL, "apk upgrade", operands[0], "apk", "", simple)
        return
    if subcommand != "add":
        return
    for word in operands[1:]:
        text = word.text
        if not word.resolved or not text or text.startswith((".", "/")) or text.endswith(".apk"):
            continue
        match = re.match(r"^([^=<>~]+)(.*)$", text)
        if match is None:
            continue
        name = match.group(1).split("@", 1)[0]
        if _APK_PIN.match(match.group(2)) and not any(char in match.group(2) for char in "*?"):
            continue
        yield run.site(UNPINNED_PACKAGE, name, word, "apk", name, simple)


RULE_SET = RuleSet(rules=(UNPINNED_PACKAGE, UPGRADE_ALL), commands={"apk": _apk})
