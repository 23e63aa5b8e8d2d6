"""Python packages: `pip install` (however invoked: pip3, python -m pip, pipx, uv pip) in RUN.

    DRIFT201  a requirement without == (or ===)                       pip
    DRIFT202  -r FILE without --require-hashes                        pip
    DRIFT203  a VCS or URL requirement without a commit or #sha256    pip

`pip install` with a constraints file (`-c`, PIP_CONSTRAINT) is not flagged
per package: the constraints may pin them. PIP_REQUIRE_HASHES set by ENV or
on the command counts as `--require-hashes`. A version with a glob
(`requests==2.*`) is not a pin.

Compared with hadolint: DL3013 (pip) -> DRIFT201; hadolint accepts any `==`
or `>=`-free spec and skips `-r`; DRIFT202 and DRIFT203 are added.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from drift.dockerfile.rules.commands import Run, SimpleCommand, has_option, option_names, split_options
from drift.dockerfile.rules.interface import RiskSite, Rule, RuleSet
from drift.dockerfile.shell import ShellWord

UNPINNED_REQUIREMENT = Rule(
    "DRIFT201",
    "pip",
    "pip installs {subject} without an exact == version",
    "pin it: {subject}==<version> (or use a hashed requirements file)",
)
UNHASHED_REQUIREMENTS = Rule(
    "DRIFT202",
    "pip",
    "pip installs {subject} without --require-hashes, so what it resolves is not fixed",
    "generate hashes (pip-compile --generate-hashes) and add --require-hashes",
)
UNPINNED_URL = Rule(
    "DRIFT203",
    "pip",
    "pip installs {subject} from a VCS or URL without a fixed commit or hash",
    "pin a commit (@<sha>) or add #sha256=<digest> to the URL",
)


_PIP_LONG = option_names(
    """
    requirement constraint editable index-url extra-index-url find-links target prefix root src
    upgrade-strategy platform python-version implementation abi only-binary no-binary progress-bar
    trusted-host cache-dir log proxy retries timeout exists-action cert client-cert global-option
    install-option config-settings root-user-action report python keyring-provider use-feature
    use-deprecated hash
    """
)
_REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)$", re.DOTALL)
_VCS = re.compile(r"^(git|hg|svn|bzr)\+", re.IGNORECASE)


def _pip(run: Run, simple: SimpleCommand) -> Iterator[RiskSite]:
    args = simple.args
    if simple.program == "uv":
        if not args or args[0].text != "pip":
            return
        args = args[1:]
    options, operands = split_options(args, short="rceitfC", long=_PIP_LONG)
    if not operands or operands[0].text != "install":
        return
    require_hashes = has_option(options, "require-hashes") or _truthy(run.scope("PIP_REQUIRE_HASHES", simple))
    constrained = has_option(options, "c", "constraint") or bool(run.scope("PIP_CONSTRAINT", simple))
    for name, value in options:
        if name in ("r", "requirement") and value is not None and not require_hashes:
            yield run.site(UNHASHED_REQUIREMENTS, value.text, value, "pypi", value.text, simple)
        if name in ("e", "editable") and value is not None:
            yield from _pip_requirement(run, simple, value, constrained)
    for word in operands[1:]:
        yield from _pip_requirement(run, simple, word, constrained)


def _pip_requirement(run: Run, simple: SimpleCommand, word: ShellWord, constrained: bool) -> Iterator[RiskSite]:
    text = word.text.strip()
    if not word.resolved or not text or text.startswith((".", "/", "~", "file:")):
        return
    direct = text.split(" @ ", 1)[1].strip() if " @ " in text else text
    if "://" in direct or _VCS.match(direct):
        if _pip_url_is_pinned(direct):
            return
        yield run.site(UNPINNED_URL, direct, word, "pypi", direct, simple)
        return
    if re.search(r"\.(whl|tar\.gz|zip|tgz)$", text):
        return  # a local archive
    match = _REQUIREMENT.match(text.split(";", 1)[0].strip())
    if match is None:
        return
    name, specifier = match.group(1), match.group(3).strip()
    if re.fullmatch(r"===?\s*[^,*\s]+", specifier) or constrained:
        return
    yield run.site(UNPINNED_REQUIREMENT, name, word, "pypi", name, simple)


def _pip_url_is_pinned(url: str) -> bool:
    if re.search(r"#.*sha(256|384|512)=", url):
        return True
    if _VCS.match(url):
        path = url.split("#", 1)[0]
        ref = path.rsplit("@", 1)[1] if "@" in urlsplit(path.split("+", 1)[1]).path else ""
        return bool(re.fullmatch(r"[0-9a-fA-F]{40}", ref))
    return False


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in {"1", "true", "yes", "on"}


RULE_SET = RuleSet(
    rules=(UNPINNED_REQUIREMENT, UNHASHED_REQUIREMENTS, UNPINNED_URL),
    commands={"pip": _pip, "pipx": _pip, "uv": _pip},
)
