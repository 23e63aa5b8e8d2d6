"""drift.toml: the values a file reads into, and errors that name the file, the line and the fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from drift.config import (
    DEFAULT_TIMEOUT_S,
    DeclaredTarget,
    DriftConfig,
    TargetDefaults,
    key_lines,
    load_config,
    parse_config,
    parse_duration,
)
from drift.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "config"

# A valid target to build error cases on: the header is line 1.
WEB = '[[target]]\nname = "web"\nrepo = "https://git.example.com/web.git"\ncommit = "main"\n'


def error_of(text: str, path: Path = Path("drift.toml")) -> str:
    with pytest.raises(UsageError) as caught:
        parse_config(text, path)
    message = str(caught.value)
    assert "\n" not in message, "an error is one line"
    return message


# --- a valid file ----------------------------------------------------------------


def test_full_file_reads_into_targets_with_defaults_applied(tmp_path: Path) -> None:
    ci = tmp_path / "ci"
    ci.mkdir()
    shutil.copy(FIXTURES / "full.toml", ci / "drift.toml")

    config = load_config(ci / "drift.toml")

    defaults = TargetDefaults(
        pull="missing", schedule="0 3 * * *", network="host", platform=None, timeout_s=3600, ignore=("/var/log/**",)
    )
    assert config == DriftConfig(
        path=ci / "drift.toml",
        defaults=defaults,
        targets=(
            DeclaredTarget(  # overrides every default
                name="web",
                repo="https://git.example.com/web.git",
                repo_resolved="https://git.example.com/web.git",
                commit="main",
                dockerfile="docker/Dockerfile",
                context=".",
                build_args={"VERSION": "1.2", "BASE_IMAGE": "debian:bookworm"},
                stage="runtime",
                platform="linux/amd64",
                network="bridge",
                pull="always",
                schedule="@hourly",
                timeout_s=7200,
                ignore=("/srv/cache/**", "/tmp/**"),
                line=12,
            ),
            DeclaredTarget(  # sets none: the defaults apply
                name="api",
                repo="../services/api",
                repo_resolved=str(tmp_path.resolve() / "services" / "api"),
                commit="v2.0.1",
                dockerfile=None,
                context="services/api",
                build_args={},
                stage=None,
                platform=None,
                network="host",
                pull="missing",
                schedule="0 3 * * *",
                timeout_s=3600,
                ignore=("/var/log/**",),
                line=30,
            ),
            DeclaredTarget(  # clears some: "" and [] replace the default, they do not fall back to it
                name="worker",
                repo="git@git.example.com:platform/worker.git",
                repo_resolved="git@git.example.com:platform/worker.git",
                commit="4f2d0c7a9b1e3d5f6a8c0e2b4d6f8a0c1e3b5d7f",
                dockerfile=None,
                context=".",
                build_args={"PIP_INDEX_URL": "https://pypi.example.com/simple/"},
                stage=None,
                platform=None,
                network=None,
                pull="missing",
                schedule="0 3 * * *",
                timeout_s=900,
                ignore=(),
                line=36,
            ),
        ),
    )


@pytest.mark.parametrize("text", ["", "# nothing tracked yet\n\n", '[defaults]\npull = "never"\n'])
def test_a_file_without_targets_is_valid(text: str) -> None:
    config = parse_config(text, Path("drift.toml"))
    assert config.targets == ()


def test_builtin_defaults_without_a_defaults_table() -> None:
    (target,) = parse_config(WEB, Path("drift.toml")).targets
    assert (target.pull, target.schedule, target.timeout_s, target.network, target.ignore) == (
        "always",
        "@daily",
        DEFAULT_TIMEOUT_S,
        None,
        (),
    )


def test_local_repositories_resolve_against_the_files_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the working directory must not matter
    text = "".join(
        f'[[target]]\nname = "t{index}"\nrepo = "{repo}"\ncommit = "main"\n'
        for index, repo in enumerate(["..", "../other/repo", "./sub", "/srv/git/abs", "file:///srv/git/x.git"])
    )
    config = parse_config(text, Path("ci/drift.toml"))
    assert [(t.repo, t.repo_resolved) for t in config.targets] == [
        ("..", str(tmp_path.resolve())),
        ("../other/repo", str(tmp_path.resolve() / "other" / "repo")),
        ("./sub", str(tmp_path.resolve() / "ci" / "sub")),
        ("/srv/git/abs", "/srv/git/abs"),
        ("file:///srv/git/x.git", "file:///srv/git/x.git"),
    ]


def test_schedules_take_five_field_cron_and_the_aliases() -> None:
    for schedule in (
        "0 3 * * *",
        "*/15 2-5 * * MON-FRI",
        "@daily",
        "@hourly",
        "@weekly",
        "@monthly",
        "@yearly",
        "@midnight",
    ):
        (target,) = parse_config(WEB + f'schedule = "{schedule}"\n', Path("drift.toml")).targets
        assert target.schedule == schedule


def test_timeouts_in_seconds_or_as_durations() -> None:
    for written, seconds in (("600", 600), ('"90s"', 90), ('"30m"', 1800), ('"1h30m"', 5400)):
        (target,) = parse_config(WEB + f"timeout = {written}\n", Path("drift.toml")).targets
        assert target.timeout_s == seconds


def test_the_repositorys_sample_projects_file() -> None:
    config = load_config(ROOT / "sample_projects" / "drift.toml")

    assert [t.name for t in config.targets] == [
        "reproducible",
        "multi-stage",
        "build-date",
        "latest-download",
        "debian-apt",
        "python-pip",
        "drift-image",
    ]
    for target in config.targets:
        assert (target.repo, target.repo_resolved, target.commit) == ("..", str(ROOT), "HEAD")
        # drift-image is drift's own image: the Dockerfile at the top of the repository.
        assert target.context == ("." if target.name == "drift-image" else f"sample_projects/{target.name}")
        assert (ROOT / target.context / "Dockerfile").is_file()
        assert target.pull == "missing"
    fetching = {t.name: (t.network, t.build_args) for t in config.targets if t.build_args}
    assert fetching == {
        "latest-download": ("host", {"UPSTREAM_URL": "http://127.0.0.1:8765/tool/latest.txt"}),
        "debian-apt": ("host", {"APT_SOURCE": "deb [trusted=yes] http://127.0.0.1:8765/apt/ ./"}),
        "python-pip": ("host", {"PIP_INDEX_URL": "http://127.0.0.1:8765/simple/"}),
        "drift-image": ("host", {"PIP_INDEX_URL": "http://127.0.0.1:8765/pypi/simple/"}),
    }


# --- errors ------------------------------------------------------------------------


def test_errors_use_the_path_as_given() -> None:
    message = error_of(WEB + 'pull = "sometimes"\n', Path("ci/nightly.toml"))
    assert message.startswith("ci/nightly.toml:5: ")


@pytest.mark.parametrize(
    ("text", "line", "parts"),
    [
        pytest.param(
            WEB + "pull = never\n",
            5,
            ["invalid TOML: invalid value (column 8)", 'quote strings, e.g. name = "web"'],
            id="unquoted-string",
        ),
        pytest.param(
            WEB + 'ignore = [\n  "/a",\n  "/b"\n', 7, ["invalid TOML", "at the end of the file"], id="unclosed-array"
        ),
        pytest.param(
            WEB + 'commit = "v2"\n', 5, ["a key or table of this name is already set; keep one of them"], id="key-twice"
        ),
        pytest.param(
            WEB + "[target]\n",
            5,
            ["invalid TOML: table [target] is declared twice", "; declare each target as a [[target]] table"],
            id="target-table-twice",
        ),
        pytest.param(
            '[defaults]\npull = "never"\n\n[defaults]\n',
            4,
            ["table [defaults] is declared twice", "; merge the two"],
            id="defaults-twice",
        ),
    ],
)
def test_toml_syntax_errors_point_at_tomllibs_line(text: str, line: int, parts: list[str]) -> None:
    message = error_of(text)
    assert message.startswith(f"drift.toml:{line}: ")
    for part in parts:
        assert part in message


@pytest.mark.parametrize(
    ("text", "line", "parts"),
    [
        pytest.param(
            WEB + 'pul = "never"\n',
            5,
            ["unknown key 'pul' in [[target]] 'web'; did you mean 'pull'? known keys: name, repo, commit"],
            id="unknown-key",
        ),
        pytest.param(
            WEB + 'labels.team = "platform"\n',
            5,
            ["unknown key 'labels' in [[target]] 'web'; known keys: name"],
            id="unknown-dotted-key",
        ),
        pytest.param(
            '[defaults]\ntimout = "1h"\n',
            2,
            ["unknown key 'timout' in [defaults]; did you mean 'timeout'?", "known keys: pull, schedule"],
            id="unknown-key-in-defaults",
        ),
        pytest.param(
            '[defaults]\nrepo = "x"\n',
            2,
            ["'repo' cannot have a default; set it in each [[target]] ([defaults] takes pull, schedule"],
            id="target-only-key-in-defaults",
        ),
        pytest.param(
            WEB + '\n[defualts]\npull = "never"\n',
            6,
            [
                "unknown table [defualts]; did you mean [defaults]? "
                "drift.toml holds only [defaults], [[target]] and [[builders]]"
            ],
            id="unknown-table",
        ),
        pytest.param(
            '[[targets]]\nname = "web"\n',
            1,
            ["unknown table [[targets]]; did you mean [[target]]?"],
            id="unknown-array-table",
        ),
        pytest.param("version = 2\n" + WEB, 1, ["unknown top-level key 'version'"], id="unknown-top-level-key"),
        pytest.param(
            '[target]\nname = "web"\n',
            1,
            ["targets are declared as [[target]] tables (double brackets)"],
            id="single-bracket-target",
        ),
    ],
)
def test_unknown_keys_and_tables_are_refused_at_their_line(text: str, line: int, parts: list[str]) -> None:
    message = error_of(text)
    assert message.startswith(f"drift.toml:{line}: ")
    for part in parts:
        assert part in message


def test_a_duplicate_name_points_at_the_second_header_and_names_the_first() -> None:
    text = WEB + '\n[[target]]\nname = "api"\nrepo = "r"\ncommit = "main"\n\n' + WEB
    assert error_of(text) == (
        "drift.toml:11: target name 'web' is declared twice (first at line 1); give each [[target]] its own name"
    )


@pytest.mark.parametrize(
    ("text", "line", "parts"),
    [
        pytest.param(
            WEB.replace('"web"', '"Web App"'),
            2,
            ["target name 'Web App' is invalid; use lowercase letters, digits"],
            id="bad-name",
        ),
        pytest.param(
            WEB + 'pull = "sometimes"\n',
            5,
            ["pull policy 'sometimes' is not one of always, missing, never"],
            id="bad-pull",
        ),
        pytest.param(
            '[defaults]\npull = "Always"\n', 2, ["pull policy 'Always' is not one of"], id="bad-pull-in-defaults"
        ),
        pytest.param(
            WEB + 'schedule = "0 3 * *"\n',
            5,
            ["schedule '0 3 * *' is not a cron expression; write five fields", '"0 3 * * *"', "@daily"],
            id="bad-cron",
        ),
        pytest.param(
            WEB + 'schedule = "0 0 30 2 *"\n',
            5,
            ["schedule '0 0 30 2 *' never fires", "February 30th"],
            id="cron-that-never-fires",
        ),
        pytest.param(WEB + 'schedule = "@reboot"\n', 5, ["schedule '@reboot' is not a cron expression"], id="reboot"),
        pytest.param(
            WEB + 'timeout = "2 hours"\n',
            5,
            ["timeout '2 hours' is not a duration; write seconds (3600) or 90s, 30m, 2h, 1h30m"],
            id="bad-timeout",
        ),
        pytest.param(WEB + "timeout = 0\n", 5, ["timeout 0 is not positive whole seconds"], id="zero-timeout"),
        pytest.param(WEB + "timeout = 1.5\n", 5, ['timeout = 3600 or timeout = "1h"'], id="float-timeout"),
        pytest.param(WEB + "timeout = true\n", 5, ["timeout true is not"], id="bool-timeout"),
        pytest.param(
            WEB + "build_args = { VERSION = 1.2 }\n",
            5,
            ["build arg 'VERSION' must be a string, not a float; quote it: VERSION = \"1.2\""],
            id="non-string-build-arg",
        ),
        pytest.param(
            WEB + '\n[target.build_args]\nA = "1"\nPORT = 8080\n',
            8,
            ["build arg 'PORT' must be a string, not an integer; quote it: PORT = \"8080\""],
            id="non-string-build-arg-in-subtable",
        ),
        pytest.param(
            WEB + 'build_args = { "MY-VAR" = "x" }\n',
            5,
            ["build arg name 'MY-VAR' is invalid"],
            id="bad-build-arg-name",
        ),
        pytest.param(
            WEB + 'build_args = ["VERSION=1.2"]\n',
            5,
            ["build_args must be a table of strings, not an array"],
            id="build-args-not-a-table",
        ),
        pytest.param(
            WEB + 'ignore = "/var/log/**"\n',
            5,
            ["ignore must be an array of path globs, not a string"],
            id="ignore-not-a-list",
        ),
        pytest.param(
            WEB + 'ignore = [\n  "/var/log/**",\n  42,\n]\n',
            7,
            ["ignore entry 2 is an integer; each entry must be a quoted path glob"],
            id="ignore-entry-not-a-string",
        ),
        pytest.param(
            '[[target]]\nname = "web"\ncommit = "main"\n',
            1,
            ["[[target]] 'web' has no repo; add repo = \""],
            id="missing-repo",
        ),
        pytest.param(
            '[[target]]\nname = "web"\nrepo = "r"\n',
            1,
            ["[[target]] 'web' has no commit; add commit = \"main\" (a branch, tag or SHA)"],
            id="missing-commit",
        ),
        pytest.param(
            WEB + '[[target]]\nrepo = "r"\ncommit = "main"\n',
            5,
            ["[[target]] #2 has no name; add name = "],
            id="missing-name",
        ),
        pytest.param(
            WEB.replace('repo = "https://git.example.com/web.git"', 'repo = " "'),
            3,
            ["repo is empty in [[target]] 'web'"],
            id="empty-repo",
        ),
        pytest.param(
            WEB.replace('commit = "main"', "commit = 1234567"),
            4,
            ['commit must be a string, not an integer; quote it: commit = "1234567"'],
            id="commit-not-a-string",
        ),
        pytest.param(
            WEB + 'context = "/srv/app"\n',
            5,
            ["context '/srv/app' must be a path inside the repository"],
            id="absolute-context",
        ),
        pytest.param(
            WEB + 'dockerfile = "../Dockerfile"\n',
            5,
            ["dockerfile '../Dockerfile' must be a path inside"],
            id="escaping-dockerfile",
        ),
    ],
)
def test_bad_values_point_at_their_key(text: str, line: int, parts: list[str]) -> None:
    message = error_of(text)
    assert message.startswith(f"drift.toml:{line}: ")
    for part in parts:
        assert part in message
    assert "; " in message, "says what to do"


def test_a_key_inside_a_multiline_string_is_not_taken_for_the_key() -> None:
    text = (
        WEB
        + 'build_args = { NOTES = """\n'  # line 5
        + 'pull = "never"\n'  # line 6: text, not a key
        + "[[target]]\n"  # line 7: text, not a header
        + '""" }\n'
        + "notes = '''\n"  # line 9: an unknown key...
        + "pull = 'never'\n"
        + "'''\n"
        + 'pull = "sometimes"\n'  # line 12: the real pull
    )
    with pytest.raises(UsageError, match=r"^drift\.toml:9: unknown key 'notes'"):
        parse_config(text, Path("drift.toml"))
    message = error_of(text.replace("notes = '''", "ignore = ['''").replace("'''\npull = \"s", "''']\npull = \"s"))
    assert message.startswith("drift.toml:12: pull policy 'sometimes'")


# --- load_config -------------------------------------------------------------------


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    expected = r"drift\.toml: cannot read it \(No such file or directory\); check the --config path$"
    with pytest.raises(UsageError, match=expected):
        load_config(tmp_path / "drift.toml")


def test_a_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "drift.toml"
    path.write_bytes(WEB.encode() + b'network = "h\xf4te"\n')
    with pytest.raises(UsageError, match=r"drift\.toml:5: the file is not UTF-8 text; save it as UTF-8$"):
        load_config(path)


# --- the locator ---------------------------------------------------------------------


def test_key_lines_of_tables_keys_and_array_elements() -> None:
    text = """\
title = "x"   # a comment = with an equals sign
"quoted key" = 'a # not a comment'
site."google.com".port = 443

[[fruit]]
name = "apple"
[fruit.physical]
color = "red"
[[fruit.variety]]
name = "red delicious"

[[fruit]]
name = "banana"
points = [ { x = 1 },
  { x = 2, y = "a\\"b = c" } ]
when = 1979-05-27 07:32:00Z
after = true
"""
    assert key_lines(text) == {
        ("title",): 1,
        ("quoted key",): 2,
        ("site",): 3,
        ("site", "google.com"): 3,
        ("site", "google.com", "port"): 3,
        ("fruit", 0): 5,
        ("fruit", 0, "name"): 6,
        ("fruit", 0, "physical"): 7,
        ("fruit", 0, "physical", "color"): 8,
        ("fruit", 0, "variety", 0): 9,
        ("fruit", 0, "variety", 0, "name"): 10,
        ("fruit", 1): 12,
        ("fruit", 1, "name"): 13,
        ("fruit", 1, "points"): 14,
        ("fruit", 1, "points", 0): 14,
        ("fruit", 1, "points", 0, "x"): 14,
        ("fruit", 1, "points", 1): 15,
        ("fruit", 1, "points", 1, "x"): 15,
        ("fruit", 1, "points", 1, "y"): 15,
        ("fruit", 1, "when"): 16,
        ("fruit", 1, "after"): 17,
    }


def test_key_lines_skip_multiline_strings_of_both_kinds() -> None:
    text = 'a = """\nb = 1\n[[c]]\n\\"""\n""""\nd = \'\'\'\ne = 2\n\'\'\'\n[[c]]\nf = 3\n'
    assert key_lines(text) == {("a",): 1, ("d",): 6, ("c", 0): 9, ("c", 0, "f"): 10}


def test_targets_declared_as_an_inline_array_have_lines_too() -> None:
    text = (
        "target = [\n"
        '  { name = "web", repo = "r", commit = "main" },\n'
        '  { name = "web", repo = "r", commit = "v2" },\n'
        "]\n"
    )
    assert error_of(text) == (
        "drift.toml:3: target name 'web' is declared twice (first at line 2); give each [[target]] its own name"
    )


# --- parse_duration -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("45", 45), ("90s", 90), ("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("1h 30m 15s", 5415), (" 2H ", 7200)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1.5h", "2 hours", "30m1h", "-5", "1d", "٣"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(UsageError, match=r"^--timeout '.*' is not a duration; write seconds \(3600\) or 90s"):
        parse_duration(text, "--timeout")


@pytest.mark.parametrize("text", ["0", "0s", "0h0m"])
def test_parse_duration_refuses_zero(text: str) -> None:
    with pytest.raises(UsageError, match=r"is not positive; give at least one second"):
        parse_duration(text)


def test_a_byte_order_mark_is_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "drift.toml"
    path.write_bytes(b"\xef\xbb\xbf" + WEB.encode())
    assert [target.name for target in load_config(path).targets] == ["web"]


def test_alert_routes_per_target_and_as_a_default(tmp_path: Path) -> None:
    text = (
        '[defaults]\nalerts = ["json://127.0.0.1:9/team"]\n\n'
        '[[target]]\nname = "a"\nrepo = "."\ncommit = "main"\n\n'
        '[[target]]\nname = "b"\nrepo = "."\ncommit = "main"\nalerts = ["json://127.0.0.1:9/b"]\n'
    )
    config = parse_config(text, tmp_path / "drift.toml")
    assert [t.alerts for t in config.targets] == [("json://127.0.0.1:9/team",), ("json://127.0.0.1:9/b",)]
    with pytest.raises(UsageError, match=r"drift.toml:5: alerts entry 1 \('not a url'\) is not an apprise URL"):
        parse_config(
            '[[target]]\nname = "a"\nrepo = "."\ncommit = "main"\nalerts = ["not a url"]\n', tmp_path / "drift.toml"
        )
