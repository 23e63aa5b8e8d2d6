"""`drift.toml`: the targets a CI repository declares, read into validated values.

A nightly job keeps its targets in a file next to its pipeline instead of
running `drift track` by hand; `drift run --config FILE` syncs them into the
database. This module only reads and validates the file; resolving refs to
commits and checking that repositories exist happen at sync time, per target,
so one unreachable repository does not stop the others.

Every problem is a `UsageError` of one line, `FILE:LINE: what is wrong; what
to do`, pointing at the line of the offending key. `tomllib` gives no positions
for values, so `drift.toml_lines.key_lines` scans the text for them.

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
"""

from __future__ import annotations

import contextlib
import difflib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import NoReturn

from drift.alerts.deliver import valid_route
from drift.errors import UsageError
from drift.schedule import check_schedule
from drift.source.location import is_url
from drift.targets import check_name, check_pull, check_relative_path, parse_build_args
from drift.toml_lines import KeyPath, key_lines

DEFAULT_TIMEOUT_S = 3600
"""The build timeout of a target that sets none (the engine client's default too)."""


# What each table accepts, in the order the documentation lists them.
TARGET_KEYS = (
    "name",
    "repo",
    "commit",
    "dockerfile",
    "context",
    "build_args",
    "target",
    "platform",
    "network",
    "pull",
    "schedule",
    "timeout",
    "ignore",
    "alerts",
)
DEFAULTS_KEYS = ("pull", "schedule", "network", "platform", "timeout", "ignore", "alerts")
TOP_LEVEL_TABLES = ("defaults", "target", "builders")
BUILDER_KEYS = ("host", "tls_verify", "cert_path")

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
    return _Reader(path, key_lines(text)).config(document)


_DURATION = re.compile(r"(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)m)?(?:(?P<s>[0-9]+)s)?")
_DURATION_UNITS = {"h": 3600, "m": 60, "s": 1}


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


# --- validation ---------------------------------------------------------------


_IN_REPOSITORY = "write it relative to the repository's root"


class _Reader:
    """Validates the parsed document, table by table, turning each problem into a `FILE:LINE:` error."""

    def __init__(self, path: Path, lines: Mapping[KeyPath, int]) -> None:
        self.path = path
        self.lines = lines

    def line(self, where: KeyPath) -> int:
        """The line of `where`, else of the nearest enclosing table or key that has one."""
        while where:
            if where in self.lines:
                return self.lines[where]
            where = where[:-1]
        return 1

    def fail(self, where: KeyPath, message: str) -> NoReturn:
        raise UsageError(f"{self.path}:{self.line(where)}: {message}")

    def config(self, document: dict[str, object]) -> DriftConfig:
        for key, value in document.items():
            if key not in TOP_LEVEL_TABLES:
                self.fail((key,), _unknown_table(key, value))
        defaults = self.defaults(document.get("defaults", {}))
        declared = document.get("target", [])
        if not isinstance(declared, list):
            self.fail(
                ("target",),
                "targets are declared as [[target]] tables (double brackets), one per target; "
                'write [[target]] followed by name = "...", repo = "...", commit = "..."',
            )
        targets: list[DeclaredTarget] = []
        first_by_name: dict[str, DeclaredTarget] = {}
        for index, table in enumerate(declared):
            if not isinstance(table, dict):
                self.fail(("target", index), f"target #{index + 1} is {_kind(table)}; declare each target as a table")
            target = self.target(index, table, defaults)
            first = first_by_name.setdefault(target.name, target)
            if first is not target:
                message = f"target name {target.name!r} is declared twice (first at line {first.line})"
                self.fail(("target", index), f"{message}; give each [[target]] its own name")
            targets.append(target)
        return DriftConfig(
            path=self.path, targets=tuple(targets), defaults=defaults, builders=self.builders(document)
        )

    def builders(self, document: dict[str, object]) -> tuple[DeclaredBuilder, ...]:
        declared = document.get("builders", [])
        if not isinstance(declared, list):
            self.fail(("builders",), 'engines are declared as [[builders]] tables, each with host = "tcp://..."')
        builders = []
        for index, table in enumerate(declared):
            where: KeyPath = ("builders", index)
            if not isinstance(table, dict):
                self.fail(where, f"builder #{index + 1} is {_kind(table)}; declare each engine as a [[builders]] table")
            self.reject_unknown(table, BUILDER_KEYS, where, f"[[builders]] #{index + 1}")
            host = self.required_text(table, "host", where, "[[builders]]", 'host = "tcp://builder-1:2376"')
            if "://" not in host:
                self.fail((*where, "host"), f"host {host!r} is not a Docker host URL; e.g. tcp://builder-1:2376")
            tls_verify = table.get("tls_verify", False)
            if not isinstance(tls_verify, bool):
                self.fail((*where, "tls_verify"), "tls_verify must be true or false")
            cert_path = self.text(table, "cert_path", where)
            if cert_path is not None and not Path(cert_path).is_absolute():
                cert_path = str((self.path.parent / cert_path).resolve())
            builders.append(DeclaredBuilder(host, tls_verify, cert_path, self.line(where)))
        return tuple(builders)

    def defaults(self, table: object) -> TargetDefaults:
        where: KeyPath = ("defaults",)
        if not isinstance(table, dict):
            self.fail(where, f"defaults is {_kind(table)}; write it as one [defaults] table")
        for key in table:
            if key in TARGET_KEYS and key not in DEFAULTS_KEYS:
                advice = f"set it in each [[target]] ([defaults] takes {', '.join(DEFAULTS_KEYS)})"
                self.fail((*where, key), f"{key!r} cannot have a default; {advice}")
        self.reject_unknown(table, DEFAULTS_KEYS, where, "[defaults]")
        builtin = TargetDefaults()
        return TargetDefaults(
            pull=self.pull(table, where, builtin.pull),
            schedule=self.schedule(table, where, builtin.schedule),
            network=self.optional_text(table, "network", where, builtin.network),
            platform=self.optional_text(table, "platform", where, builtin.platform),
            timeout_s=self.timeout(table, where, builtin.timeout_s),
            ignore=self.ignore(table, where, builtin.ignore),
            alerts=self.alerts(table, where, builtin.alerts),
        )

    def target(self, index: int, table: dict[str, object], defaults: TargetDefaults) -> DeclaredTarget:
        where: KeyPath = ("target", index)
        name = table.get("name")
        label = f"[[target]] {name!r}" if isinstance(name, str) else f"[[target]] #{index + 1}"
        self.reject_unknown(table, TARGET_KEYS, where, label)
        name = self.required_text(table, "name", where, label, 'name = "web"')
        self.check(check_name, name, (*where, "name"))
        repo = self.required_text(table, "repo", where, label, 'repo = "<git URL or local path>"')
        commit = self.required_text(table, "commit", where, label, 'commit = "main" (a branch, tag or SHA)')
        context = self.text(table, "context", where) or "."
        context = self.check(check_relative_path, context, (*where, "context"), "context", advice=_IN_REPOSITORY)
        dockerfile = self.text(table, "dockerfile", where)
        if dockerfile is not None:
            dockerfile = self.check(
                check_relative_path, dockerfile, (*where, "dockerfile"), "dockerfile", advice=_IN_REPOSITORY
            )
        return DeclaredTarget(
            name=name,
            repo=repo,
            repo_resolved=_resolve_repo(repo, self.path),
            commit=commit,
            dockerfile=dockerfile,
            context=context,
            build_args=self.build_args(table, where),
            stage=self.optional_text(table, "target", where, None),
            platform=self.optional_text(table, "platform", where, defaults.platform),
            network=self.optional_text(table, "network", where, defaults.network),
            pull=self.pull(table, where, defaults.pull),
            schedule=self.schedule(table, where, defaults.schedule),
            timeout_s=self.timeout(table, where, defaults.timeout_s),
            ignore=self.ignore(table, where, defaults.ignore),
            alerts=self.alerts(table, where, defaults.alerts),
            line=self.line(where),
        )

    def reject_unknown(self, table: dict[str, object], known: tuple[str, ...], where: KeyPath, label: str) -> None:
        for key in table:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                guess = f"did you mean {close[0]!r}? " if close else ""
                self.fail((*where, key), f"unknown key {key!r} in {label}; {guess}known keys: {', '.join(known)}")

    def check(self, validate: Callable[..., str], value: str, where: KeyPath, *args: str, advice: str = "") -> str:
        """Run one of drift.targets' validators, pointing its error at the value's line (and adding `advice`)."""
        try:
            return validate(value, *args)
        except UsageError as exc:
            self.fail(where, f"{exc}; {advice}" if advice else str(exc))

    def text(self, table: dict[str, object], key: str, where: KeyPath) -> str | None:
        if key not in table:
            return None
        value = table[key]
        if not isinstance(value, str):
            self.fail((*where, key), f"{key} must be a string, not {_kind(value)}; {_quote_it(key, value)}")
        return value

    def required_text(self, table: dict[str, object], key: str, where: KeyPath, label: str, example: str) -> str:
        value = self.text(table, key, where)
        if value is None:
            self.fail(where, f"{label} has no {key}; add {example}")
        if not value.strip():
            self.fail((*where, key), f"{key} is empty in {label}; write {example}")
        return value

    def optional_text(self, table: dict[str, object], key: str, where: KeyPath, default: str | None) -> str | None:
        """A string value; "" stands for "unset" (the engine's own default), overriding any [defaults] value."""
        value = self.text(table, key, where)
        if value is None:
            return default
        return value.strip() or None

    def pull(self, table: dict[str, object], where: KeyPath, default: str) -> str:
        value = self.text(table, "pull", where)
        if value is None:
            return default
        return self.check(check_pull, value, (*where, "pull"), advice='write pull = "always", "missing" or "never"')

    def schedule(self, table: dict[str, object], where: KeyPath, default: str) -> str:
        value = self.text(table, "schedule", where)
        if value is None:
            return default
        try:
            return check_schedule(value)
        except UsageError as exc:
            self.fail((*where, "schedule"), str(exc))

    def timeout(self, table: dict[str, object], where: KeyPath, default: int) -> int:
        if "timeout" not in table:
            return default
        value = table["timeout"]
        if isinstance(value, str):
            try:
                return parse_duration(value, "timeout")
            except UsageError as exc:
                self.fail((*where, "timeout"), str(exc))
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_TIMEOUT_S:
            return value
        wrong = f"timeout {_literal(value)} is not positive whole seconds nor a duration string"
        self.fail((*where, "timeout"), f'{wrong}; write e.g. timeout = 3600 or timeout = "1h"')

    def ignore(self, table: dict[str, object], where: KeyPath, default: tuple[str, ...]) -> tuple[str, ...]:
        if "ignore" not in table:
            return default
        value = table["ignore"]
        if not isinstance(value, list):
            advice = 'e.g. ignore = ["/var/log/**"]'
            self.fail((*where, "ignore"), f"ignore must be an array of path globs, not {_kind(value)}; {advice}")
        for index, glob in enumerate(value):
            if not isinstance(glob, str) or not glob.strip():
                what = "an empty string" if isinstance(glob, str) else _kind(glob)
                advice = 'each entry must be a quoted path glob, e.g. "/var/log/**"'
                self.fail((*where, "ignore", index), f"ignore entry {index + 1} is {what}; {advice}")
        return tuple(value)

    def alerts(self, table: dict[str, object], where: KeyPath, default: tuple[str, ...]) -> tuple[str, ...]:
        if "alerts" not in table:
            return default
        value = table["alerts"]
        advice = 'write apprise URLs, e.g. alerts = ["json://hooks.example.com/drift"]'
        if not isinstance(value, list):
            self.fail((*where, "alerts"), f"alerts must be an array of apprise URLs, not {_kind(value)}; {advice}")
        for index, route in enumerate(value):
            if not isinstance(route, str) or not valid_route(route):
                what = repr(route) if isinstance(route, str) else _kind(route)
                self.fail(
                    (*where, "alerts", index), f"alerts entry {index + 1} ({what}) is not an apprise URL; {advice}"
                )
        return tuple(value)

    def build_args(self, table: dict[str, object], where: KeyPath) -> dict[str, str]:
        if "build_args" not in table:
            return {}
        value = table["build_args"]
        where = (*where, "build_args")
        if not isinstance(value, dict):
            advice = 'e.g. build_args = { VERSION = "1.2" }'
            self.fail(where, f"build_args must be a table of strings, not {_kind(value)}; {advice}")
        args: dict[str, str] = {}
        for key, arg in value.items():
            if not isinstance(arg, str):
                self.fail((*where, key), f"build arg {key!r} must be a string, not {_kind(arg)}; {_quote_it(key, arg)}")
            # The command line's KEY=VALUE rule, so a name the CLI refuses is refused here too.
            try:
                parsed = parse_build_args([f"{key}={arg}"])
            except UsageError:
                parsed = {}
            if parsed != {key: arg}:
                advice = "use letters, digits and '_', not starting with a digit"
                self.fail((*where, key), f"build arg name {key!r} is invalid; {advice}")
            args[key] = arg
        return args


def _resolve_repo(repo: str, config_path: Path) -> str:
    if is_url(repo):
        return repo
    local = Path(repo)
    with contextlib.suppress(RuntimeError):  # "~nobody/x": no such home, keep it as written
        local = local.expanduser()
    # Relative to the file, not to the working directory: the nightly job may run from anywhere.
    return str((config_path.parent / local).resolve())


def _unknown_table(key: str, value: object) -> str:
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        written = f"[[{key}]]"
    elif isinstance(value, dict):
        written = f"[{key}]"
    else:
        return f"unknown top-level key {key!r}; drift.toml holds only [defaults], [[target]] and [[builders]] tables"
    close = difflib.get_close_matches(key, TOP_LEVEL_TABLES, n=1)
    spelled = {"target": "[[target]]", "builders": "[[builders]]", "defaults": "[defaults]"}
    guess = f"did you mean {spelled[close[0]]}? " if close else ""
    return f"unknown table {written}; {guess}drift.toml holds only [defaults], [[target]] and [[builders]] tables"


def _kind(value: object) -> str:
    """How TOML would call the type of `value`."""
    kinds: tuple[tuple[type, str], ...] = (
        (bool, "a boolean"),
        (int, "an integer"),
        (float, "a float"),
        (str, "a string"),
        (list, "an array"),
        (dict, "a table"),
        (datetime, "a date-time"),
        (date, "a date"),
        (time, "a time"),
    )
    return next((name for kind, name in kinds if isinstance(value, kind)), type(value).__name__)


def _quote_it(key: str, value: object) -> str:
    return f'quote it: {key} = "{_literal(value)}"'


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


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
