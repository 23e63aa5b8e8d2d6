"""Go modules: `go install` and `go get` in RUN.

    DRIFT231  go install/go get at @latest, a branch, or (go get)
              no version; go get -u                                   go

`go install remote/pkg` without `@version` is not flagged: inside a module the
version comes from go.mod, outside one Go >= 1.16 refuses it. `go get`
without a version upgrades, so it is. hadolint has no rule for Go.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from drift.dockerfile.rules.commands import Run, SimpleCommand, option_names
from drift.dockerfile.rules.interface import RiskSite, Rule, RuleSet
from drift.dockerfile.shell import ShellWord

MOVING_VERSION = Rule(
    "DRIFT231",
    "go",
    "go fetches {subject} at a moving version",
    "name a release or commit: {subject}@v<version>",
)


_GO_VALUE_FLAGS = option_names(
    """
    ldflags tags gcflags asmflags mod modfile o p pkgdir buildmode compiler gccgoflags installsuffix
    overlay toolexec C exec pgo covermode coverpkg
    """
)
_GO_PINNED = re.compile(r"^(v\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]+)?|[0-9a-fA-F]{7,40})$")


def _go(run: Run, simple: SimpleCommand) -> Iterator[RiskSite]:
    args = simple.args
    if not args or args[0].text not in {"install", "get"}:
        return
    subcommand = args[0].text
    packages: list[ShellWord] = []
    upgrade = False
    i = 1
    while i < len(args):
        text = args[i].text
        if text.startswith("-") and len(text) > 1:
            name, has_value, _ = text.lstrip("-").partition("=")
            upgrade = upgrade or name.startswith("u")
            i += 2 if name in _GO_VALUE_FLAGS and not has_value else 1
            continue
        packages.append(args[i])
        i += 1
    if subcommand == "get" and upgrade:
        # -u upgrades every dependency of the named packages, local ones included.
        word = packages[0] if packages else args[0]
        subject = packages[0].text if packages else "."
        yield run.site(MOVING_VERSION, subject, word, "golang", subject, simple)
        return
    for word in packages:
        path, has_version, version = word.text.partition("@")
        if not word.resolved or path.startswith((".", "/")) or "." not in path.split("/", 1)[0]:
            continue  # a package of the module being built, or the standard library
        if has_version and (_GO_PINNED.match(version) or version == "none"):
            continue
        if not has_version and subcommand == "install":
            continue  # the version comes from the module's go.mod
        yield run.site(MOVING_VERSION, path, word, "golang", path, simple)


RULE_SET = RuleSet(rules=(MOVING_VERSION,), commands={"go": _go})
