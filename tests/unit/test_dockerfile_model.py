"""drift.dockerfile.model: stages, instructions, variables and heredocs as Docker reads them.

Where a test states how Docker joins or expands something, the behaviour was
checked against the legacy builder of Engine 20.10 (the history text it
records) or BuildKit's documented rules.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from drift.dockerfile import Instruction, parse_dockerfile
from drift.errors import UsageError

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "dockerfiles" / "corpus"

MULTISTAGE = """\
# syntax=docker/dockerfile:1
ARG BASE=golang:1.22
ARG RUNTIME=gcr.io/distroless/static
FROM --platform=$BUILDPLATFORM ${BASE} AS Builder
WORKDIR /src
COPY . .
RUN go build -o /out/app .

FROM builder AS test
RUN go test ./...

FROM alpine:3.19 AS certs
RUN apk add --no-cache ca-certificates

FROM ${RUNTIME}:nonroot
COPY --from=builder /out/app /app
COPY --from=2 /etc/ssl/certs /etc/ssl/certs
RUN --mount=type=cache,target=/root/.cache --mount=type=bind,from=test,target=/t true
"""


def only(dockerfile_text: str, keyword: str, **build_args: str) -> Instruction:
    found = [
        instruction
        for stage in parse_dockerfile(dockerfile_text, build_args).stages
        for instruction in stage.instructions
        if instruction.keyword == keyword
    ]
    assert len(found) == 1, found
    return found[0]


def test_stages_have_names_indexes_bases_and_dependencies() -> None:
    dockerfile = parse_dockerfile(MULTISTAGE)
    builder, test, certs, final = dockerfile.stages

    assert [stage.index for stage in dockerfile.stages] == [0, 1, 2, 3]
    assert [stage.name for stage in dockerfile.stages] == ["builder", "test", "certs", None]  # AS Builder: lower-cased
    assert [stage.from_line for stage in dockerfile.stages] == [4, 9, 12, 15]

    assert builder.base == "${BASE}"
    assert builder.base_resolved == "golang:1.22"
    assert builder.platform == "$BUILDPLATFORM"
    assert builder.base_stage is None
    assert [instruction.keyword for instruction in builder.instructions] == ["WORKDIR", "COPY", "RUN"]

    assert test.base_stage == 0
    assert test.depends_on == (0,)
    assert [instruction.line for instruction in test.inherited] == [5, 6, 7]  # what `FROM builder` carries

    assert certs.depends_on == ()
    assert final.base_resolved == "gcr.io/distroless/static:nonroot"
    assert final.depends_on == (0, 1, 2)  # --from=builder, --from=2, --mount from=test


def test_final_stage_is_the_target_or_the_last() -> None:
    dockerfile = parse_dockerfile(MULTISTAGE)
    assert dockerfile.final_stage().index == 3
    assert dockerfile.final_stage("certs").index == 2
    assert dockerfile.final_stage("BUILDER").index == 0

    with pytest.raises(UsageError) as raised:
        dockerfile.final_stage("release")
    message = str(raised.value)
    assert "release" in message and "builder, test, certs" in message and "\n" not in message

    with pytest.raises(UsageError):
        parse_dockerfile("# nothing to build\n").final_stage()


def test_flags_are_parsed_and_repeated_ones_kept_in_order() -> None:
    dockerfile = parse_dockerfile(MULTISTAGE)
    copy = dockerfile.stages[3].instructions[0]
    assert copy.flags == {"from": "builder"}
    assert copy.value == "/out/app /app"

    run = dockerfile.stages[3].instructions[2]
    assert run.flag_items == (
        ("mount", "type=cache,target=/root/.cache"),
        ("mount", "type=bind,from=test,target=/t"),
    )
    assert run.flags["mount"] == "type=bind,from=test,target=/t"
    assert run.value == "true"

    chown = only('FROM x\nCOPY --chown=app:app --chmod=0755 --link ["a b", "/dst/"]\n', "COPY")
    assert chown.flags == {"chown": "app:app", "chmod": "0755", "link": "true"}
    assert chown.value == '["a b", "/dst/"]'

    # Elsewhere a leading "--" is content, not a flag.
    assert only("FROM x\nCMD --help\n", "CMD").value == "--help"


def test_global_args_are_overridden_by_build_args() -> None:
    text = "ARG REGISTRY=docker.io\nARG TAG=3.12\nARG UNSET\nFROM ${REGISTRY}/python:${TAG}-slim\nFROM ${UNSET}\n"
    default = parse_dockerfile(text)
    assert default.stages[0].base_resolved == "docker.io/python:3.12-slim"
    assert default.global_args == {"REGISTRY": "docker.io", "TAG": "3.12", "UNSET": None}

    overridden = parse_dockerfile(text, {"TAG": "3.11", "UNSET": "busybox"})
    assert overridden.stages[0].base == "${REGISTRY}/python:${TAG}-slim"
    assert overridden.stages[0].base_resolved == "docker.io/python:3.11-slim"
    assert overridden.stages[1].base_resolved == "busybox"

    # An ARG without a value stays visible as written rather than vanishing.
    assert default.stages[1].base_resolved == "${UNSET}"


def test_stage_args_see_build_args_and_redeclared_globals() -> None:
    text = """\
ARG VERSION=1.0
FROM busybox
RUN echo "no ARG in the stage yet: $VERSION"
ARG VERSION
ARG CHANNEL=stable
ARG EMPTY
RUN echo $VERSION $CHANNEL ${EMPTY:-fallback} ${EMPTY:+set} ${CHANNEL:+set}
"""
    first, _, _, _, second = parse_dockerfile(text).stages[0].instructions
    # A global ARG is visible in a stage only once the stage declares it again.
    assert first.expanded == 'echo "no ARG in the stage yet: $VERSION"'
    assert second.expanded == "echo 1.0 stable fallback  set"

    overridden = parse_dockerfile(text, {"VERSION": "2.0", "CHANNEL": "beta"}).stages[0].instructions[4]
    assert overridden.expanded == "echo 2.0 beta fallback  set"


def test_env_expansion_follows_instruction_order() -> None:
    text = """\
FROM busybox
ENV A=one
ENV A=two B=$A
ENV LEGACY spaced value
ARG A=from-arg
RUN echo $A $B "$LEGACY" '$A' \\$A ${PATH} $HOME
"""
    instructions = parse_dockerfile(text).stages[0].instructions
    # Within one ENV, references see the values from before it (Docker's rule).
    assert instructions[1].expanded == "A=two B=one"
    assert instructions[1].variables == {"A": "one"}
    run = instructions[4]
    # ENV wins over an ARG of the same name; single quotes and an escaped $ are
    # left alone; names the Dockerfile never declares (from the base image, or
    # the shell's own) stay as written.
    assert run.expanded == "echo two one \"spaced value\" '$A' \\$A ${PATH} $HOME"
    assert run.variables == {"A": "two", "B": "one", "LEGACY": "spaced value"}


def test_env_of_a_parent_stage_is_inherited() -> None:
    text = "FROM busybox AS base\nENV TOOL=jq\nFROM base\nRUN apk add $TOOL\n"
    assert parse_dockerfile(text).stages[1].instructions[0].expanded == "apk add jq"


def test_continuations_join_like_docker_and_skip_comments_and_blank_lines() -> None:
    text = """\
FROM busybox
RUN echo a \\
# a comment inside the instruction

    && echo b
CMD ["true"]
"""
    run = parse_dockerfile(text).stages[0].instructions[0]
    # The legacy builder recorded exactly this for the same lines: "/bin/sh -c echo a     && echo b".
    assert run.value == "echo a     && echo b"
    assert (run.line, run.end_line) == (2, 5)
    assert run.text == "RUN echo a \\\n# a comment inside the instruction\n\n    && echo b"
    assert [instruction.keyword for instruction in parse_dockerfile(text).stages[0].instructions] == ["RUN", "CMD"]


def test_value_offsets_point_into_the_original_text() -> None:
    for path in sorted(CORPUS.glob("*.Dockerfile")):
        dockerfile = parse_dockerfile(path.read_text())
        for stage in dockerfile.stages:
            for instruction in (stage.from_instruction, *stage.instructions):
                rebuilt = "".join(instruction.text[offset] for offset in instruction.value_offsets)
                assert rebuilt == instruction.value, (path.name, instruction.line)


def test_values_match_dockerfile_parse_where_it_understands_the_file() -> None:
    for path in sorted(CORPUS.glob("*.Dockerfile")):
        text = path.read_text()
        if "<<" in text:
            continue  # heredocs: dockerfile-parse issue #145
        theirs = [
            (item["instruction"], item["startline"] + 1, item["value"])
            for item in DockerfileParser(fileobj=io.BytesIO(text.encode())).structure
            if item["instruction"] != "COMMENT"
        ]
        dockerfile = parse_dockerfile(text)
        ours = [(instruction.keyword, instruction.line) for instruction in dockerfile.preamble]
        for stage in dockerfile.stages:
            ours += [(i.keyword, i.line) for i in (stage.from_instruction, *stage.instructions)]
        assert ours == [(keyword, line) for keyword, line, _ in theirs], path.name


def test_heredoc_bodies_are_not_instructions() -> None:
    text = """\
# syntax=docker/dockerfile:1.4
FROM debian:bookworm
RUN <<EOF
apt-get update
FROM scratch
EOF
COPY <<-"CONF" <<ENV /etc/app/
	listen 80
	RUN not-an-instruction
	CONF
A=$HOME
ENV
RUN cat <<'X' > /x && echo done
value
X
"""
    dockerfile = parse_dockerfile(text)
    assert len(dockerfile.stages) == 1
    run, copy, cat = dockerfile.stages[0].instructions

    assert run.value == "<<EOF"
    assert [(heredoc.delimiter, heredoc.body) for heredoc in run.heredocs] == [
        ("EOF", "apt-get update\nFROM scratch\n")
    ]
    assert (run.line, run.end_line) == (3, 6)
    assert run.heredocs[0].line == 4
    start, end = run.heredocs[0].span
    assert run.text[start:end] == "apt-get update\nFROM scratch\n"

    assert [(heredoc.delimiter, heredoc.body) for heredoc in copy.heredocs] == [
        ("CONF", "listen 80\nRUN not-an-instruction\n"),  # <<- strips leading tabs
        ("ENV", "A=$HOME\n"),
    ]
    assert [heredoc.quoted for heredoc in copy.heredocs] == [True, False]
    assert copy.heredocs[0].strip_tabs
    assert (copy.line, copy.end_line) == (7, 12)

    assert cat.value == "cat <<'X' > /x && echo done"
    assert [(heredoc.delimiter, heredoc.body, heredoc.quoted) for heredoc in cat.heredocs] == [("X", "value\n", True)]
    assert cat.end_line == 15


def test_here_strings_and_quoted_markers_are_not_heredocs() -> None:
    text = 'FROM busybox\nRUN cat <<< "x" && echo "<<EOF" \'<<NO\'\nRUN true\n'
    first, second = parse_dockerfile(text).stages[0].instructions
    assert first.heredocs == ()
    assert second.line == 3


def test_unterminated_heredoc_runs_to_the_end() -> None:
    run = parse_dockerfile("FROM busybox\nRUN <<EOF\necho one\nRUN echo two\n").stages[0].instructions[0]
    assert run.heredocs[0].body == "echo one\nRUN echo two\n"
    assert run.end_line == 4


def test_escape_directive_backtick() -> None:
    text = (CORPUS / "windows-escape-backtick.Dockerfile").read_text()
    dockerfile = parse_dockerfile(text)
    assert dockerfile.escape == "`"
    add, run, workdir = (i for i in dockerfile.stages[0].instructions if i.keyword in {"ADD", "RUN", "WORKDIR"})
    # With ` as the escape character a backslash is an ordinary path character.
    assert add.value == "https://dl.example.com/agent/agent-windows.zip C:\\agent.zip"
    assert run.value == "Expand-Archive -Path C:\\agent.zip -DestinationPath C:\\agent ;     Remove-Item C:\\agent.zip"
    assert (run.line, run.end_line) == (7, 8)
    assert workdir.value == "C:\\agent"


def test_a_file_without_parser_directives_uses_backslash() -> None:
    dockerfile = parse_dockerfile("FROM busybox\n# escape=`\nRUN echo a \\\n  b\n")
    # A directive after an instruction is only a comment.
    assert dockerfile.escape == "\\"
    assert dockerfile.stages[0].instructions[0].value == "echo a   b"


def test_empty_stages() -> None:
    dockerfile = parse_dockerfile("FROM busybox AS empty\nFROM scratch")
    assert [stage.instructions for stage in dockerfile.stages] == [(), ()]
    assert dockerfile.stages[1].is_scratch
    assert dockerfile.stages[1].from_instruction.text == "FROM scratch"


def test_windows_line_endings() -> None:
    run = parse_dockerfile("FROM busybox\r\nRUN echo a \\\r\n  && echo b\r\nCMD x\r\n").stages[0].instructions[0]
    assert run.value == "echo a   && echo b"
    assert run.text == "RUN echo a \\\r\n  && echo b"


def test_summary_is_one_line() -> None:
    run = parse_dockerfile(MULTISTAGE).stages[3].instructions[2]
    assert run.summary == ("RUN --mount=type=cache,target=/root/.cache --mount=type=bind,from=test,target=/t true")
