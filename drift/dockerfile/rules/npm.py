"""JavaScript packages: `npm install`, `yarn add`, `pnpm add` and their lockfile installs in RUN.

    DRIFT211  a package without an exact version                      npm
    DRIFT212  npm install/update, yarn (install), pnpm install
              without a frozen lockfile                               npm

Bare `npm install` is flagged (DRIFT212): with a lockfile it may still
rewrite it when package.json disagrees, without one it resolves ranges; the
Dockerfile alone cannot tell which, and `npm ci` is the cheap, certain fix.
`yarn install --frozen-lockfile`/`--immutable` and
`pnpm install --frozen-lockfile` are not flagged.

Compared with hadolint: DL3016 (npm) -> DRIFT211, extended to yarn add and
pnpm add; DRIFT212 is added.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from drift.dockerfile.rules.commands import HEX_REF, Run, SimpleCommand, has_option, option_names, split_options
from drift.dockerfile.rules.interface import RiskSite, Rule, RuleSet

UNPINNED_PACKAGE = Rule(
    "DRIFT211",
    "npm",
    "{subject} is installed without an exact version",
    "pin it: {subject}@<version>",
)
UNFROZEN_LOCKFILE = Rule(
    "DRIFT212",
    "npm",
    "`{subject}` resolves package.json ranges instead of a frozen lockfile",
    "commit the lockfile and use `npm ci` (yarn --frozen-lockfile, pnpm --frozen-lockfile)",
)


_NPM_INSTALLS = frozenset(
    {"install", "i", "add", "in", "ins", "inst", "insta", "instal", "isnt", "isnta", "isntal", "isntall"}
)
_NPM_LONG = option_names(
    """
    prefix registry cache workspace loglevel omit include tag userconfig location install-strategy
    network-timeout modules-folder cwd filter
    """
)
_EXACT_SEMVER = re.compile(r"^[=v]?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


def _npm(run: Run, simple: SimpleCommand) -> Iterator[RiskSite]:
    options, operands = split_options(simple.args, short="wC", long=_NPM_LONG)
    program = simple.program
    if program == "yarn" and operands and operands[0].text == "global":
        operands = operands[1:]
    subcommand = operands[0].text if operands else ("install" if program == "yarn" else "")
    packages = operands[1:]
    frozen = has_option(options, "frozen-lockfile", "immutable", "ci")
    if program == "npm" and subcommand in {"update", "up", "upgrade"}:
        yield run.site(UNFROZEN_LOCKFILE, "npm update", operands[0], "npm", "", simple)
        return
    if subcommand not in _NPM_INSTALLS:
        return
    if not packages and not has_option(options, "g", "global"):
        if not frozen and (program != "yarn" or subcommand == "install"):
            word = operands[0] if operands else simple.words[0]
            yield run.site(UNFROZEN_LOCKFILE, f"{program} {subcommand}", word, "npm", "", simple)
        return
    if program == "yarn" and subcommand == "install":
        return  # yarn install takes no package names
    for word in packages:
        name, exact = _npm_spec(word.text)
        if not word.resolved or name is None or exact:
            continue
        yield run.site(UNPINNED_PACKAGE, name, word, "npm", name, simple)


def _npm_spec(spec: str) -> tuple[str | None, bool]:
    """(package name, exact) of an npm install argument; name None for local paths and tarballs."""
    local_archive = spec.endswith((".tgz", ".tar.gz")) and "://" not in spec
    if not spec or spec.startswith((".", "/", "~", "file:")) or local_archive:
        return None, True
    if (
        "://" in spec
        or spec.startswith(("github:", "gitlab:", "bitbucket:", "git+"))
        or ("/" in spec and not spec.startswith("@"))
    ):
        ref = spec.rsplit("#", 1)[1] if "#" in spec else ""
        return spec.split("#", 1)[0], bool(HEX_REF.match(ref))
    scoped = spec.startswith("@")
    name, _, version = spec[1:].partition("@") if scoped else spec.partition("@")
    name = "@" + name if scoped else name
    if version.startswith("npm:"):  # an alias: name@npm:real@1.2.3
        real, exact = _npm_spec(version[4:])
        return (name if real is not None else None), exact
    return name, bool(_EXACT_SEMVER.match(version))


RULE_SET = RuleSet(
    rules=(UNPINNED_PACKAGE, UNFROZEN_LOCKFILE),
    commands={"npm": _npm, "yarn": _npm, "pnpm": _npm},
)
