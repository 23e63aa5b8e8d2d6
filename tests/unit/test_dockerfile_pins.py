"""drift.dockerfile.pins: last good values written into the Dockerfile as minimal edits, and the diff.

The diffs are applied with patch(1), as a user would apply them.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from drift.dockerfile import KnownValues, Pin, parse_dockerfile, pins_diff, suggest_pins

DIGEST = "sha256:" + "a" * 64
FILE_SHA = "b" * 64


def pins_for(text: str, known: KnownValues, **build_args: str) -> list[Pin]:
    return suggest_pins(text, parse_dockerfile(text, build_args), known)


def applied(text: str, pins: list[Pin]) -> str:
    """The text with every pin's edit made."""
    edits = sorted((pin.edit for pin in pins if pin.edit is not None), key=lambda edit: edit.start, reverse=True)
    for edit in edits:
        text = text[: edit.start] + edit.replacement + text[edit.end :]
    return text


def test_from_gets_the_digest_and_keeps_platform_and_name() -> None:
    text = "FROM --platform=linux/amd64 debian:bookworm AS build\nRUN true\n"
    (pin,) = pins_for(text, KnownValues(base_digests={"debian:bookworm": DIGEST}))
    assert pin == Pin(
        line=1,
        risk_id="DRIFT001",
        subject="debian:bookworm",
        before="FROM --platform=linux/amd64 debian:bookworm AS build",
        after=f"FROM --platform=linux/amd64 debian:bookworm@{DIGEST} AS build",
        description=f"pin the base image to the digest of the last good build: debian:bookworm@{DIGEST}",
        edit=pin.edit,
    )
    # A repo digest as `docker image inspect` lists it is accepted as well.
    (same,) = pins_for(text, KnownValues(base_digests={"debian:bookworm": f"debian@{DIGEST}"}))
    assert same.after == pin.after


def test_from_an_arg_pins_the_arg_default_unless_a_build_arg_sets_it() -> None:
    text = 'ARG BASE="python:3.12-slim"\nARG OTHER=x\nFROM ${BASE}\n'
    (pin,) = pins_for(text, KnownValues(base_digests={"python:3.12-slim": DIGEST}))
    assert (pin.line, pin.after) == (1, f'ARG BASE="python:3.12-slim@{DIGEST}"')

    (advice,) = pins_for(text, KnownValues(base_digests={"python:3.11-slim": DIGEST}), BASE="python:3.11-slim")
    assert advice.edit is None and advice.after == ""
    assert advice.description == f"the build arg BASE names the base image: set it to python:3.11-slim@{DIGEST}"


def test_add_gets_a_checksum_flag_before_the_source() -> None:
    text = "FROM x@" + DIGEST + "\nADD --chown=1000:1000 https://example.com/t.tgz /opt/\n"
    (pin,) = pins_for(text, KnownValues(url_digests={"https://example.com/t.tgz": f"sha256:{FILE_SHA}"}))
    assert pin.after == f"ADD --chown=1000:1000 --checksum=sha256:{FILE_SHA} https://example.com/t.tgz /opt/"
    assert "BuildKit" in pin.description  # Engine 20.10's legacy builder rejects --checksum


def test_a_download_gets_a_checksum_step_where_it_can_be_done_right() -> None:
    text = (
        "FROM x@" + DIGEST + "\n"
        "RUN curl -fsSL -o /tmp/t.tgz https://example.com/t.tgz \\\n"
        " && tar -xzf /tmp/t.tgz -C /opt\n"
        "RUN wget -q https://example.com/u.tgz\n"
        "RUN curl -fsSL https://example.com/v.tgz | tar -xz\n"
        "RUN curl -o /w https://example.com/w; chmod +x /w\n"
    )
    urls = ["t.tgz", "u.tgz", "v.tgz", "w"]
    known = KnownValues(url_digests={f"https://example.com/{url}": FILE_SHA for url in urls})
    t, u, v, w = pins_for(text, known)

    assert t.after == (
        f'RUN curl -fsSL -o /tmp/t.tgz https://example.com/t.tgz && echo "{FILE_SHA}  /tmp/t.tgz" | sha256sum -c - \\'
    )
    assert u.after == f'RUN wget -q https://example.com/u.tgz && echo "{FILE_SHA}  u.tgz" | sha256sum -c -'
    # Piped into tar: there is no file to check; after `;` a failing check would not fail the RUN.
    assert v.edit is None and FILE_SHA in v.description
    assert w.edit is None and "/w" in w.description


def test_packages_take_their_versions_and_the_rest_of_the_line_stays() -> None:
    text = (
        "FROM x@" + DIGEST + "\n"
        "RUN apt-get update \\\n"
        " && apt-get install -y --no-install-recommends \\\n"
        "      ca-certificates curl=7.88.1-10 \\\n"
        "      'tini' \\\n"
        " && apk add --no-cache gcc>=13 \\\n"
        " && dnf install -y make \\\n"
        ' && pip install "uvicorn[standard]>=0.27" flask \\\n'
        " && npm install -g @nestjs/cli@^10 \\\n"
        " && go install golang.org/x/tools/gopls@latest \\\n"
        " && go install github.com/go-delve/delve/cmd/dlv@master\n"
    )
    known = KnownValues(
        packages={
            ("deb", "ca-certificates"): "20230311",
            ("deb", "tini"): "0.19.0-1",
            ("apk", "gcc"): "13.2.1_git20231014-r0",
            ("rpm", "make"): "4.3-7.el9",
            ("pypi", "uvicorn"): "0.27.1",
            ("pypi", "flask"): "3.0.2",
            ("npm", "@nestjs/cli"): "10.3.2",
            ("golang", "golang.org/x/tools/gopls"): "v0.15.1",
            ("golang", "github.com/go-delve/delve"): "v1.22.1",  # the module of the package installed
        }
    )
    pins = pins_for(text, known)
    assert [(pin.risk_id, pin.subject) for pin in pins] == [
        ("DRIFT101", "ca-certificates"),
        ("DRIFT101", "tini"),
        ("DRIFT111", "gcc"),
        ("DRIFT121", "make"),
        ("DRIFT201", "uvicorn"),
        ("DRIFT201", "flask"),
        ("DRIFT211", "@nestjs/cli"),
        ("DRIFT231", "golang.org/x/tools/gopls"),
        ("DRIFT231", "github.com/go-delve/delve/cmd/dlv"),
    ]
    assert [pin.after for pin in pins if pin.edit is not None] == [
        "      ca-certificates=20230311 curl=7.88.1-10 \\",
        "      'tini=0.19.0-1' \\",
        " && dnf install -y make-4.3-7.el9 \\",
        ' && pip install "uvicorn[standard]==0.27.1" flask \\',
        ' && pip install "uvicorn[standard]>=0.27" flask==3.0.2 \\',
        " && npm install -g @nestjs/cli@10.3.2 \\",
        " && go install golang.org/x/tools/gopls@v0.15.1 \\",
        " && go install github.com/go-delve/delve/cmd/dlv@v1.22.1",
    ]
    # Unquoted `gcc>=13` is `gcc` with output redirected to a file "=13": no in-place edit for that.
    gcc = pins[2]
    assert gcc.edit is None and "gcc=13.2.1_git20231014-r0" in gcc.description
    # Still one RUN over the same lines: no continuation was disturbed.
    (run,) = parse_dockerfile(applied(text, pins)).stages[0].instructions
    assert (run.line, run.end_line) == (2, 11)


def test_gems_and_crates() -> None:
    text = (
        "FROM x@" + DIGEST + "\n"
        "RUN gem install rails --no-document && gem install foreman puma\n"
        "RUN gem install rake -v '~> 13.0'\n"
        "RUN cargo install ripgrep\n"
    )
    known = KnownValues(
        packages={
            ("gem", "rails"): "7.1.3",
            ("gem", "foreman"): "0.87.2",
            ("gem", "rake"): "13.1.0",
            ("cargo", "ripgrep"): "14.1.0",
        }
    )
    pins = pins_for(text, known)
    assert applied(text, pins).splitlines()[1:] == [
        "RUN gem install rails -v 7.1.3 --no-document && gem install foreman:0.87.2 puma",
        "RUN gem install rake -v '13.1.0'",
        "RUN cargo install --locked ripgrep --version 14.1.0",
    ]
    # --locked needs no known value: the crate's own lockfile is the pin.
    (locked,) = pins_for("FROM x@" + DIGEST + "\nRUN cargo install --path .\n", KnownValues())
    assert locked.after == "RUN cargo install --locked --path ."


def test_unknown_values_give_no_pin_and_variables_give_advice() -> None:
    text = "FROM debian:bookworm\nARG PKG=curl\nRUN apt-get install -y $PKG jq\n"
    assert pins_for(text, KnownValues()) == []
    pins = pins_for(text, KnownValues(packages={("deb", "curl"): "7.88.1-10", ("deb", "jq"): "1.6-2.1"}))
    assert [(pin.subject, pin.edit is None) for pin in pins] == [("curl", True), ("jq", False)]
    assert pins[0].description == "pin curl to the version of the last good build: curl=7.88.1-10"
    assert pins[0].before == "RUN apt-get install -y $PKG jq"


EXAMPLE = """\
ARG BASE=debian:bookworm
FROM ${BASE} AS build
RUN apt-get update \\
 && apt-get install -y --no-install-recommends curl ca-certificates \\
 && rm -rf /var/lib/apt/lists/*
ADD https://example.com/tool.tgz /opt/
FROM busybox:1.36
COPY --from=build /usr/bin/curl /usr/bin/curl"""  # no newline at the end, on purpose


def test_pins_diff_is_a_unified_diff_that_patch_applies(tmp_path: Path) -> None:
    known = KnownValues(
        base_digests={"debian:bookworm": DIGEST, "busybox:1.36": "sha256:" + "c" * 64},
        url_digests={"https://example.com/tool.tgz": FILE_SHA},
        packages={("deb", "curl"): "7.88.1-10+deb12u5"},
    )
    pins = pins_for(EXAMPLE, known)
    diff = pins_diff(EXAMPLE, pins, path="app/Dockerfile")
    assert diff == (
        "--- a/app/Dockerfile\n"
        "+++ b/app/Dockerfile\n"
        "@@ -1,8 +1,8 @@\n"
        "-ARG BASE=debian:bookworm\n"
        f"+ARG BASE=debian:bookworm@{DIGEST}\n"
        " FROM ${BASE} AS build\n"
        " RUN apt-get update \\\n"
        "- && apt-get install -y --no-install-recommends curl ca-certificates \\\n"
        "+ && apt-get install -y --no-install-recommends curl=7.88.1-10+deb12u5 ca-certificates \\\n"
        "  && rm -rf /var/lib/apt/lists/*\n"
        "-ADD https://example.com/tool.tgz /opt/\n"
        f"-FROM busybox:1.36\n"
        f"+ADD --checksum=sha256:{FILE_SHA} https://example.com/tool.tgz /opt/\n"
        f"+FROM busybox:1.36@sha256:{'c' * 64}\n"
        " COPY --from=build /usr/bin/curl /usr/bin/curl\n"
        "\\ No newline at end of file\n"
    )
    if shutil.which("patch") is None:
        pytest.fail("patch(1) is needed to check the diff the way a user applies it")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text(EXAMPLE)
    (tmp_path / "pins.diff").write_text(diff)
    subprocess.run(["patch", "-p1", "--dry-run", "-i", "pins.diff"], cwd=tmp_path, check=True, capture_output=True)
    subprocess.run(["patch", "-p1", "-i", "pins.diff"], cwd=tmp_path, check=True, capture_output=True)
    assert (tmp_path / "app" / "Dockerfile").read_text() == applied(EXAMPLE, pins)


def test_pins_diff_without_edits_is_empty() -> None:
    assert pins_diff(EXAMPLE, []) == ""
    advice = Pin(1, "DRIFT302", "https://x", "RUN x", "", "check it by hand")
    assert pins_diff(EXAMPLE, [advice]) == ""


def test_suggest_pins_refuses_a_text_it_did_not_parse() -> None:
    dockerfile = parse_dockerfile("FROM debian:bookworm\n")
    with pytest.raises(ValueError, match="does not match"):
        suggest_pins("FROM debian:trixie\n", dockerfile, KnownValues(base_digests={"debian:bookworm": DIGEST}))
