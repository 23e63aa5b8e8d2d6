"""RPM packages: `yum`, `dnf`, `dnf5`, `microdnf` and `tdnf` in RUN.

    DRIFT121  install without -version                                yum
    DRIFT122  update or upgrade of everything                         yum

Compared with hadolint: DL3033 (yum), DL3041 (dnf/microdnf) -> DRIFT121, with
a stricter test for a version (the last `-`-separated part must start with a
digit, so `java-17-openjdk` is unpinned, where hadolint takes any `-<digit>`
for a version). DRIFT122 corresponds to the retired DL3005. DL3037 is zypper,
which drift has no cause word for and does not cover.
"""

from __future__ import annotations

from collections.abc import Iterator

from drift.dockerfile.rules.commands import URL, Run, SimpleCommand, option_names, split_options
from drift.dockerfile.rules.interface import RiskSite, Rule, RuleSet

UNPINNED_PACKAGE = Rule(
    "DRIFT121",
    "yum",
    "the package manager installs {subject} without a version",
    "pin the version: {subject}-<version>-<release>",
)
UPDATE_ALL = Rule(
    "DRIFT122",
    "yum",
    "`{subject}` updates every installed package to the newest version",
    "drop the update and pin a newer base image by digest instead",
)


_RPM_LONG = option_names(
    """
    setopt exclude enablerepo disablerepo repo repoid repofrompath installroot releasever config
    forcearch rpmverbosity color downloaddir destdir comment advisory bz cve sec-severity secseverity
    nobest
    """
)
_RPM_INSTALLS = frozenset({"install", "reinstall", "localinstall", "groupinstall", "in"})
_RPM_UPDATES = frozenset({"update", "upgrade", "up", "distro-sync", "dsync", "upgrade-minimal", "update-minimal"})


def _rpm(run: Run, simple: SimpleCommand) -> Iterator[RiskSite]:
    _, operands = split_options(simple.args, short="xcdeR", long=_RPM_LONG)
    if not operands:
        return
    subcommand = operands[0].text
    packages = operands[1:]
    if subcommand in {"group", "groups"} and packages and packages[0].text in {"install", "mark"}:
        subcommand, packages = "groupinstall", [word for word in packages[1:]]
    if subcommand in _RPM_UPDATES and not packages:
        yield run.site(UPDATE_ALL, f"{simple.program} {subcommand}", operands[0], "rpm", "", simple)
        return
    if subcommand not in _RPM_INSTALLS and subcommand not in _RPM_UPDATES:
        return
    for word in packages:
        text = word.text
        local = text.startswith((".", "/")) or (text.endswith(".rpm") and not URL.match(text))
        if not word.resolved or not text or local:
            continue
        if subcommand == "groupinstall" and not text.startswith("@"):
            text = "@" + text
        if not text.startswith("@") and not URL.match(text) and _rpm_is_versioned(text):
            continue
        yield run.site(UNPINNED_PACKAGE, text, word, "rpm", text, simple)


def _rpm_is_versioned(package: str) -> bool:
    # name-version[-release]: the last "-" part starts with a digit (curl-7.76.1,
    # curl-7.76.1-26.el9, python3-3.9.18); java-17-openjdk is a name.
    parts = package.split("-")
    return len(parts) > 1 and parts[-1][:1].isdigit() and bool(parts[0])


RULE_SET = RuleSet(
    rules=(UNPINNED_PACKAGE, UPDATE_ALL),
    commands={"yum": _rpm, "dnf": _rpm, "dnf5": _rpm, "microdnf": _rpm, "tdnf": _rpm},
)
