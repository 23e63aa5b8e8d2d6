"""drift.dockerfile.layers: image history entries and layers tied back to Dockerfile instructions.

Legacy-builder histories are real: the first is the sample `reproducible`
image's, as the engine stored it; the multi-stage ones are in
tests/fixtures/dockerfiles/history (README.md there says how they were made).
The BuildKit ones use the `created_by` forms BuildKit writes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from drift.dockerfile import attribute_history, layer_instructions, parse_dockerfile
from drift.dockerfile.model import Instruction

HISTORY = Path(__file__).resolve().parents[1] / "fixtures" / "dockerfiles" / "history"
REPRODUCIBLE = Path(__file__).resolve().parents[2] / "sample_projects" / "reproducible" / "Dockerfile"

# `docker save` of the sample built by the legacy builder with build-API labels.
REPRODUCIBLE_HISTORY: list[Mapping[str, object]] = [
    {"created_by": "", "comment": "Imported from -"},
    {"created_by": "/bin/sh -c #(nop)  ENV APP_HOME=/app GREETING_NAME=drift", "empty_layer": True},
    {"created_by": "/bin/sh -c #(nop) WORKDIR /app"},
    {
        "created_by": "/bin/sh -c #(nop) COPY dir:5ef42ec388085103ad11503f4fd39cfc73e963c5fafae06f66ecf55384f6fbad"
        " in /app/ "
    },
    {
        "created_by": "/bin/sh -c sha256sum src/greet.sh.in src/message.txt > /app/SHA256SUMS  && sed"
        ' "s/@NAME@/${GREETING_NAME}/g" src/greet.sh.in > /app/greet  && chmod 0755 /app/greet'
    },
    {"created_by": '/bin/sh -c #(nop)  CMD ["/app/greet"]', "empty_layer": True},
    {"created_by": "/bin/sh -c #(nop)  LABEL drift.build=4", "empty_layer": True},
    {"created_by": "/bin/sh -c #(nop)  LABEL drift.target=repro", "empty_layer": True},
]


def keywords(attributed: list[Instruction | None]) -> list[str | None]:
    return [instruction.keyword if instruction is not None else None for instruction in attributed]


def lines(attributed: list[Instruction | None]) -> list[int | None]:
    return [instruction.line if instruction is not None else None for instruction in attributed]


def load(name: str) -> list[Mapping[str, object]]:
    history: list[Mapping[str, object]] = json.loads((HISTORY / name).read_text())["history"]
    return history


def test_real_legacy_history_of_the_reproducible_sample() -> None:
    stage = parse_dockerfile(REPRODUCIBLE.read_text()).final_stage()
    attributed = attribute_history(stage, REPRODUCIBLE_HISTORY, base_history_length=1)
    # base layer, ENV, WORKDIR, COPY, RUN, CMD, then the two build-API labels
    assert keywords(attributed) == [None, "ENV", "WORKDIR", "COPY", "RUN", "CMD", None, None]

    layers = layer_instructions(stage, REPRODUCIBLE_HISTORY, base_history_length=1)
    assert keywords(layers) == [None, "WORKDIR", "COPY", "RUN"]  # RootFS order: 4 layers
    run = layers[3]
    assert run is not None and run.value.startswith("sha256sum src/greet.sh.in")


def test_real_multistage_final_stage_with_copy_from_and_build_args() -> None:
    dockerfile = parse_dockerfile((HISTORY / "multistage.Dockerfile").read_text(), {"VERSION": "2.1"})
    history = load("multistage-final.history.json")
    stage = dockerfile.final_stage()

    attributed = attribute_history(stage, history, base_history_length=1)
    assert keywords(attributed) == [None, "ARG", "LABEL", "COPY", "RUN", "USER", "ENTRYPOINT", None]
    copy = attributed[3]
    assert copy is not None and copy.flags == {"from": "builder"}

    layers = layer_instructions(stage, history, base_history_length=1)
    assert len(layers) == json.loads((HISTORY / "multistage-final.history.json").read_text())["rootfs_layers"]
    assert lines(layers) == [None, 18, 19]  # the busybox layer, COPY --from=builder, RUN (|1 VERSION=2.1 ...)


def test_real_stage_built_on_another_stage_with_an_onbuild_trigger() -> None:
    dockerfile = parse_dockerfile((HISTORY / "multistage.Dockerfile").read_text(), {"VERSION": "2.1"})
    history = load("multistage-test.history.json")
    stage = dockerfile.final_stage("test")

    attributed = attribute_history(stage, history, base_history_length=1)
    # The builder's instructions (inherited), the ONBUILD as declared and then
    # as triggered at the start of the test stage, the stage's own RUN, a label.
    assert lines(attributed) == [None, 4, 5, 6, 7, 10, 10, 13, None]
    assert keywords(layer_instructions(stage, history, base_history_length=1)) == [
        None,
        "WORKDIR",
        "COPY",
        "RUN",
        "ONBUILD",  # the trigger made a layer; the test RUN made none
    ]


GO_BUILD = """\
FROM golang:1.22 AS builder
WORKDIR /src
COPY . .
RUN go build -o /out/app ./cmd/app

FROM debian:bookworm-slim
ARG X=1
RUN apt-get update
WORKDIR /app
COPY --from=builder /out/app /usr/local/bin/app
ENV PORT=8080
CMD ["app"]
"""


def test_buildkit_history_without_arg_entries() -> None:
    stage = parse_dockerfile(GO_BUILD).final_stage()
    history: list[Mapping[str, object]] = [
        {"created_by": "/bin/sh -c #(nop) ADD file:1b2c in / "},
        {"created_by": '/bin/sh -c #(nop)  CMD ["bash"]', "empty_layer": True},
        # BuildKit wrote no entry for `ARG X=1`.
        {"created_by": "RUN |1 X=1 /bin/sh -c apt-get update # buildkit", "comment": "buildkit.dockerfile.v0"},
        {"created_by": "WORKDIR /app", "comment": "buildkit.dockerfile.v0"},
        {"created_by": "COPY /out/app /usr/local/bin/app # buildkit", "comment": "buildkit.dockerfile.v0"},
        {"created_by": "ENV PORT=8080", "comment": "buildkit.dockerfile.v0", "empty_layer": True},
        {"created_by": 'CMD ["app"]', "comment": "buildkit.dockerfile.v0", "empty_layer": True},
    ]
    attributed = attribute_history(stage, history, base_history_length=2)
    assert lines(attributed) == [None, None, 8, 9, 10, 11, 12]
    assert lines(layer_instructions(stage, history, base_history_length=2)) == [None, 8, 9, 10]


def test_a_missing_entry_does_not_shift_the_ones_after_it() -> None:
    text = "FROM busybox\nCOPY a /a\nCOPY b /b\nRUN make\nRUN make install\n"
    stage = parse_dockerfile(text).final_stage()
    history: list[Mapping[str, object]] = [
        {"created_by": "", "comment": "Imported from -"},
        # COPY a /a is missing
        {"created_by": "/bin/sh -c #(nop) COPY file:bb in /b "},
        {"created_by": "/bin/sh -c make install"},  # RUN make is missing too
    ]
    assert lines(attribute_history(stage, history, base_history_length=1)) == [None, 3, 5]


def test_an_extra_entry_matches_nothing() -> None:
    text = "FROM busybox\nRUN make\nCOPY out /out\nLABEL team=platform\n"
    stage = parse_dockerfile(text).final_stage()
    history: list[Mapping[str, object]] = [
        {"created_by": "", "comment": "Imported from -"},
        # a trigger the base image's ONBUILD fired: in no line of this Dockerfile
        {"created_by": "/bin/sh -c echo from-the-base-image"},
        {"created_by": "/bin/sh -c make"},
        {"created_by": "/bin/sh -c #(nop) COPY dir:cc in /out "},
        {"created_by": "/bin/sh -c #(nop)  LABEL team=platform", "empty_layer": True},
        {"created_by": "/bin/sh -c #(nop)  LABEL drift.build=9", "empty_layer": True},
    ]
    assert lines(attribute_history(stage, history, base_history_length=1)) == [None, None, 2, 3, 4, None]


def test_position_alone_is_not_trusted() -> None:
    # One entry fewer than instructions and one foreign entry: a positional
    # pairing would shift everything; the content pairs each entry correctly.
    text = 'FROM busybox\nENV A=1\nRUN echo one\nRUN echo two\nCMD ["sh"]\n'
    stage = parse_dockerfile(text).final_stage()
    history: list[Mapping[str, object]] = [
        {"created_by": "", "comment": "Imported from -"},
        {"created_by": "/bin/sh -c echo two"},
        {"created_by": "/bin/sh -c #(nop) COPY file:dd in /x "},
        {"created_by": '/bin/sh -c #(nop)  CMD ["sh"]', "empty_layer": True},
    ]
    assert lines(attribute_history(stage, history, base_history_length=1)) == [None, 4, None, 5]


def test_exec_form_run_and_a_custom_shell() -> None:
    text = (
        'FROM busybox\nSHELL ["/bin/bash", "-o", "pipefail", "-c"]\nRUN curl -fsS x | sh\nRUN ["sh", "-c", "echo e"]\n'
    )
    stage = parse_dockerfile(text).final_stage()
    history: list[Mapping[str, object]] = [
        {"created_by": "", "comment": "Imported from -"},
        {"created_by": "/bin/bash -o pipefail -c #(nop)  SHELL [/bin/bash -o pipefail -c]", "empty_layer": True},
        {"created_by": "/bin/bash -o pipefail -c curl -fsS x | sh"},
        {"created_by": "sh -c echo e"},  # the legacy builder joins exec-form arguments with spaces
    ]
    assert lines(attribute_history(stage, history, base_history_length=1)) == [None, 2, 3, 4]


def test_base_history_longer_than_the_history() -> None:
    stage = parse_dockerfile("FROM busybox\nRUN true\n").final_stage()
    history: list[Mapping[str, object]] = [{"created_by": "/bin/sh -c true"}]
    assert attribute_history(stage, history, base_history_length=5) == [None]
    assert layer_instructions(stage, [], base_history_length=0) == []
