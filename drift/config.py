"""`drift.toml`: the targets a CI repository declares, read into validated values.

A nightly job keeps its targets in a file next to its pipeline instead of
running `drift track` by hand; `drift run --config FILE` syncs them into the
database. This module only reads and validates the file; resolving refs to
commits and checking that repositories exist happen at sync time, per target,
so one unreachable repository does not stop the others.

`tomllib` reads the file; the JSON Schema `config_schema.json` beside this
module says which tables and keys there are and of what type; the few rules a
schema cannot state (names, pull policies, schedules, timeouts, paths, build
args, alert routes) are checked here with drift's one definition of each.
Every problem is a `UsageError` of one line, `FILE:LINE: what is wrong; what
to do`, pointing at the line of the offending key: `tomllib` gives no
positions, so `drift.toml_lines.key_lines` scans the text for them.

The format::

    [defaults]                  # optional; applies to every target that does not set the key
    pull = "missing"            # pull, schedule, network, platform, timeout, ignore
    timeout = "1h"

    [[target]]                  # one per target
    name = "web"
    repo = "https://git.example.com/web.git"   # or a path, relative to this file's directory
    commit = "main"                            # branch, tag or SHA (resolved when synced)
    dockerfile = "docker/Dockerfile"           # default: <context>/Dockerfile
    context = "."
    build_args = { VERSION = "1.2" }
    target = "runtime"                         # the stage to build (docker build --target)
    platform = "linux/amd64"
    network = "host"
    pull = "always"                            # always | missing | never
    schedule = "@daily"                        # 5-field cron, or @hourly, @daily, ...
    timeout = "2h"                             # seconds, or "90s", "30m", "2h", "1h30m"
    ignore = ["/srv/cache/**"]
    alerts = ["json://hooks.example.com/drift"]   # apprise URLs, besides DRIFT_ALERT_URLS
    ledger = true                              # record what the build fetches (drift's proxy)
    published = "registry.example.com/web:1.2" # judge builds against this published image (drift verify)

    [[builders]]                # optional; the Docker Engines builds go to
    host = "tcp://builder-1:2376"
    tls_verify = true
    cert_path = "certs/builder-1"              # relative to this file's directory
"""

from __future__ import annotations

import contextlib
import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from drift.alerts.deliver import valid_route
from drift.config_schema import schema_problems, toml_literal
from drift.errors import UsageError
from drift.schedule import check_schedule
from drift.source.location import is_url
from drift.targets import (
    BUILDERS,
    PULL_POLICIES,
    check_builder,
    check_name,
    check_pull,
    check_reference,
    check_relative_path,
    parse_build_args,
)
from drift.toml_lines import KeyPath, key_lines

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "MAX_TIMEOUT_S",
    "DeclaredBuilder",
    "DeclaredTarget",
    "DriftConfig",
    "TargetDefaults",
    "key_lines",
    "load_config",
    "parse_config",
    "parse_duration",
]

DEFAULT_TIMEOUT_S = 3600
"""The build timeout of a target that sets none (the engine client's default too)."""


@dataclass(frozen=True, slots=True)
class TargetDefaults:
    """The `[defaults]` table, with the built-in values for the keys it does not set.

    A target that sets a key replaces the default (lists are not merged).
    """

    pull: str = "always"
    schedule: str = "@daily"
    network: str | None = None
    platform: str | None = None
    timeout_s: int = DEFAULT_TIMEOUT_S
    ignore: tuple[str, ...] = ()
    alerts: tuple[str, ...] = ()
    builder: str = "auto"
    ledger: bool = True


@dataclass(frozen=True, slots=True)
class DeclaredTarget:
    """One `[[target]]` of a drift.toml, validated, defaults applied.

    Attributes:
        name: the target's name (`[a-z0-9][a-z0-9._-]*`).
        repo: the repository as written in the file.
        repo_resolved: a URL unchanged; a local path made absolute, relative
            to the directory of the drift.toml (not checked to exist here).
        commit: the ref as written (branch, tag or SHA); resolved when synced.
        dockerfile: the Dockerfile's path in the repository, normalized, or
            None for `<context>/Dockerfile`.
        context: the build context directory in the repository, normalized.
        build_args: build arguments, names and values as written.
        stage: the stage to build (the file's `target` key), or None for the last.
        platform: e.g. "linux/amd64", or None for the engine's.
        network: the network mode of RUN steps, e.g. "host", or None for the engine's.
        pull: base image pull policy: "always", "missing" or "never".
        schedule: a 5-field cron expression or an alias such as "@daily".
        timeout_s: the build timeout in seconds.
        ignore: globs of paths whose differences are noise.
        alerts: apprise URLs the target's alerts go to (besides DRIFT_ALERT_URLS).
        line: the 1-based line of the target's `[[target]]` header.
        builder: "auto" (BuildKit where the engine has it), "buildkit" or "legacy".
        ledger: record what the build fetches through drift's proxy (the fetch ledger).
        published: the published image its builds are judged against, or None (its first build).
    """

    name: str
    repo: str
    repo_resolved: str
    commit: str
    dockerfile: str | None
    context: str
    build_args: dict[str, str]
    stage: str | None
    platform: str | None
    network: str | None
    pull: str
    schedule: str
    timeout_s: int
    ignore: tuple[str, ...]
    line: int
    alerts: tuple[str, ...] = ()
    builder: str = "auto"
    ledger: bool = True
    published: str | None = None


@dataclass(frozen=True, slots=True)
class DeclaredBuilder:
    """One `[[builders]]` entry: a Docker Engine of the pool.

    Attributes:
        host: its DOCKER_HOST URL (unix://, tcp://, ssh://).
        tls_verify: for tcp://, verify the engine's certificate (and present ours).
        cert_path: a directory with ca.pem, cert.pem and key.pem, relative to the drift.toml.
        line: the 1-based line of its `[[builders]]` header.
    """

    host: str
    tls_verify: bool = False
    cert_path: str | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class DriftConfig:
    """A parsed drift.toml: its path, its targets in file order, its defaults and its engines."""

    path: Path
    targets: tuple[DeclaredTarget, ...] = ()
    defaults: TargetDefaults = field(default_factory=TargetDefaults)
    builders: tuple[DeclaredBuilder, ...] = ()


def load_config(path: Path) -> DriftConfig:
    """Read and validate a drift.toml.

    Raises:
        UsageError: the file cannot be read, is not UTF-8 TOML, or declares
            something invalid; the message starts with `FILE:LINE:`.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it ({exc.strerror or exc}); check the --config path") from None
    try:
        text = data.decode("utf-8-sig")  # an editor's byte order mark is not a TOML error
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UsageError(f"{path}:{line}: the file is not UTF-8 text; save it as UTF-8") from None
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> DriftConfig:
    """Validate the text of a drift.toml; `path` names it in messages and anchors relative repositories."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(text, path, exc) from None
    file = _File(path, key_lines(text))
    problems = schema_problems(document)
    if problems:
        # An unknown key first (a misspelt key explains a missing one), then the first problem in the file.
        first = min(problems, key=lambda problem: (not problem.unknown_key, file.line(problem.where)))
        raise file.error(first.where, first.message)
    defaults = TargetDefaults(**file.read(document.get("defaults", {}), ("defaults",)))
    return DriftConfig(path, file.targets(document, defaults), defaults, file.builders(document))


_DURATION = re.compile(r"(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)m)?(?:(?P<s>[0-9]+)s)?")
_DURATION_UNITS = {"h": 3600, "m": 60, "s": 1}


_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?b?)?\s*")
_SIZE_FACTORS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12}


def parse_size(text: str, what: str = "size") -> int:
    """Bytes from "5GB", "500MB", "1.5g" or "0"; `what` names the value in the error."""
    match = _SIZE.fullmatch(text.lower())
    if match is None:
        raise UsageError(f"{what} {text!r} is not a size; e.g. 5GB, 500MB or 0 to skip the check")
    return int(float(match[1]) * _SIZE_FACTORS[match[2] or ""])


# A build that runs for a week is stuck; larger numbers would overflow the database and the clock.
MAX_TIMEOUT_S = 7 * 86400


def parse_duration(text: str, what: str = "value") -> int:
    """Whole seconds from "3600", "90s", "30m", "2h" or "1h30m"; `what` names the value in the error.

    Raises:
        UsageError: not one of those forms, or not positive.
    """
    spoken = "".join(text.split()).lower()
    match = _DURATION.fullmatch(spoken)
    if spoken.isascii() and spoken.isdigit():
        seconds = int(spoken)
    elif spoken and match is not None:
        seconds = sum(int(match[unit] or 0) * factor for unit, factor in _DURATION_UNITS.items())
    else:
        raise UsageError(f"{what} {text!r} is not a duration; write seconds (3600) or 90s, 30m, 2h, 1h30m")
    if seconds <= 0:
        raise UsageError(f"{what} {text!r} is not positive; give at least one second, e.g. 30m")
    if seconds > MAX_TIMEOUT_S:
        raise UsageError(f"{what} {text!r} is longer than the {MAX_TIMEOUT_S // 86400}-day maximum; e.g. 2h")
    return seconds


# --- what a schema cannot say -----------------------------------------------------------


_IN_REPOSITORY = "write it relative to the repository's root"


def _timeout(value: object) -> int:
    """Seconds from an integer or a duration string (the schema leaves the type to this check)."""
    if isinstance(value, str):
        return parse_duration(value, "timeout")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        wrong = f"timeout {toml_literal(value)} is not positive whole seconds nor a duration string"
        raise UsageError(f'{wrong}; write e.g. timeout = 3600 or timeout = "1h"')
    if value > MAX_TIMEOUT_S:
        raise UsageError(f"timeout {value} is longer than the {MAX_TIMEOUT_S // 86400}-day maximum; e.g. 7200")
    return value


def _unset_if_blank(value: str) -> str | None:
    """ "" stands for "unset" (the engine's own default), overriding any [defaults] value."""
    return value.strip() or None


def _build_arg(name: str, value: str) -> str:
    # The command line's KEY=VALUE rule, so a name the CLI refuses is refused here too.
    try:
        parsed = parse_build_args([f"{name}={value}"])
    except UsageError:
        parsed = {}
    if parsed != {name: value}:
        raise UsageError(f"build arg name {name!r} is invalid; use letters, digits and '_', not starting with a digit")
    return value


def _alert_route(route: str, index: int) -> str:
    if not valid_route(route):
        advice = 'write apprise URLs, e.g. alerts = ["json://hooks.example.com/drift"]'
        raise UsageError(f"alerts entry {index + 1} ({route!r}) is not an apprise URL; {advice}")
    return route


_PULL_ADVICE = f"write pull = {', '.join(map(json.dumps, PULL_POLICIES[:-1]))} or {json.dumps(PULL_POLICIES[-1])}"

# Each key's rule (drift's one definition of it) and what to add to its error; keys not here are taken as they are.
_RULES: dict[str, tuple[Callable[[Any], Any], str]] = {
    "name": (check_name, ""),
    "dockerfile": (lambda path: check_relative_path(path, "dockerfile"), _IN_REPOSITORY),
    "context": (lambda path: check_relative_path(path, "context"), _IN_REPOSITORY),
    "target": (_unset_if_blank, ""),
    "platform": (_unset_if_blank, ""),
    "network": (_unset_if_blank, ""),
    "pull": (check_pull, _PULL_ADVICE),
    "builder": (check_builder, f"write builder = {', '.join(map(json.dumps, BUILDERS))}"),
    "schedule": (check_schedule, ""),
    "timeout": (_timeout, ""),
    "ignore": (tuple, ""),
    "published": (lambda reference: check_reference(reference) if reference.strip() else None, ""),
}

_FIELDS = {"target": "stage", "timeout": "timeout_s"}
"""The keys of the file whose dataclass fields are named otherwise."""


@dataclass(frozen=True, slots=True)
class _File:
    """A drift.toml being read: its values through their rules, and a problem at a key said as `FILE:LINE: ...`."""

    path: Path
    lines: dict[KeyPath, int]

    def line(self, where: KeyPath) -> int:
        """The line of `where` (of its first table, for an array of tables), else of the nearest key around it."""
        if where not in self.lines and (*where, 0) in self.lines:
            return self.lines[(*where, 0)]
        while where and where not in self.lines:
            where = where[:-1]
        return self.lines.get(where, 1)

    def error(self, where: KeyPath, message: str) -> UsageError:
        return UsageError(f"{self.path}:{self.line(where)}: {message}")

    def check(self, where: KeyPath, rule: Callable[..., Any], *args: Any, advice: str = "") -> Any:
        try:
            return rule(*args)
        except UsageError as exc:
            raise self.error(where, f"{exc}; {advice}" if advice else str(exc)) from None

    def read(self, table: dict[str, Any], where: KeyPath) -> dict[str, Any]:
        """A [defaults] or [[target]] table's values, through their rules, by the dataclasses' field names."""
        values: dict[str, Any] = {}
        for key, value in table.items():
            at = (*where, key)
            if key == "build_args":
                value = {arg: self.check((*at, arg), _build_arg, arg, text) for arg, text in value.items()}
            elif key == "alerts":
                value = tuple(self.check((*at, index), _alert_route, route, index) for index, route in enumerate(value))
            elif key in _RULES:
                rule, advice = _RULES[key]
                value = self.check(at, rule, value, advice=advice)
            values[_FIELDS.get(key, key)] = value
        return values

    def targets(self, document: dict[str, Any], defaults: TargetDefaults) -> tuple[DeclaredTarget, ...]:
        unset: dict[str, Any] = {"dockerfile": None, "context": ".", "build_args": {}, "stage": None}
        first_by_name: dict[str, DeclaredTarget] = {}
        for index, table in enumerate(document.get("target", [])):
            where = ("target", index)
            values = {**asdict(defaults), **unset, **self.read(table, where)}
            repo_resolved = _resolve_repo(values["repo"], self.path)
            target = DeclaredTarget(**values, repo_resolved=repo_resolved, line=self.line(where))
            first = first_by_name.setdefault(target.name, target)
            if first is not target:
                message = f"target name {target.name!r} is declared twice (first at line {first.line})"
                raise self.error(where, f"{message}; give each [[target]] its own name")
        return tuple(first_by_name.values())

    def builders(self, document: dict[str, Any]) -> tuple[DeclaredBuilder, ...]:
        builders = []
        for index, table in enumerate(document.get("builders", [])):
            cert_path = table.get("cert_path")
            if cert_path is not None and not Path(cert_path).is_absolute():
                cert_path = str((self.path.parent / cert_path).resolve())
            line = self.line(("builders", index))
            builders.append(DeclaredBuilder(table["host"], table.get("tls_verify", False), cert_path, line))
        return tuple(builders)


def _resolve_repo(repo: str, config_path: Path) -> str:
    if is_url(repo):
        return repo
    local = Path(repo)
    with contextlib.suppress(RuntimeError):  # "~nobody/x": no such home, keep it as written
        local = local.expanduser()
    # Relative to the file, not to the working directory: the nightly job may run from anywhere.
    return str((config_path.parent / local).resolve())


# --- TOML syntax ---------------------------------------------------------------------


_TOML_POSITION = re.compile(r"\s*\((?:at line (?P<line>\d+), column (?P<column>\d+)|at end of document)\)$")


def _syntax_error(text: str, path: Path, exc: tomllib.TOMLDecodeError) -> UsageError:
    message = str(exc)
    position = _TOML_POSITION.search(message)
    what = message[: position.start()] if position else message
    if position and position["line"]:
        line, where = int(position["line"]), f" (column {position['column']})"
    else:
        # "at end of document": an unclosed string or array; its last line is the best guess.
        line, where = text.rstrip().count("\n") + 1, " (at the end of the file)"
    if what.startswith("Cannot overwrite"):
        where = ""  # tomllib points past the duplicate's value: the column would mislead
    what, todo = _plain_toml_error(what)
    return UsageError(f"{path}:{line}: invalid TOML: {what}{where}; {todo}")


def _plain_toml_error(message: str) -> tuple[str, str]:
    """tomllib's words for the mistakes people make most, said so that they can act on them."""
    if message.startswith("Invalid value"):
        return "invalid value", 'quote strings, e.g. name = "web"'
    if message.startswith("Cannot overwrite a value"):
        return "a key or table of this name is already set", "keep one of them"
    declared = re.match(r"Cannot declare \((.*)\) twice", message)
    if declared:
        table = ".".join(re.findall(r"'([^']*)'", declared[1]))
        if table == "target":
            return "table [target] is declared twice", "declare each target as a [[target]] table (double brackets)"
        return f"table [{table}] is declared twice", "merge the two"
    return message[:1].lower() + message[1:], "fix the TOML syntax (https://toml.io)"
