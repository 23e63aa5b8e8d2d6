"""drift.dockerfile.rules (find_risks): every unpinned external input, on a corpus of real-world style Dockerfiles.

tests/fixtures/dockerfiles/corpus/README.md says where the corpus comes from;
each NAME.Dockerfile's risks are listed in NAME.expected as `ID LINE SUBJECT`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from drift.compare.causes import likely_cause
from drift.dockerfile import RULE_IDS, Risk, find_risks, parse_dockerfile

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "dockerfiles" / "corpus"
DOCKERFILES = sorted(CORPUS.glob("*.Dockerfile"))

# The cause words of drift.compare (causes.py and the base-image findings of diff.py).
CAUSES = {"base-image-tag", "apt", "apk", "yum", "pip", "npm", "gem", "go", "cargo", "network-fetch"}


def found(text: str, **build_args: str) -> list[tuple[str, int, str]]:
    return [(risk.id, risk.line, risk.subject) for risk in find_risks(parse_dockerfile(text, build_args))]


def test_the_corpus_is_large_and_covers_every_rule() -> None:
    assert len(DOCKERFILES) >= 25
    expected_ids = {
        line.split()[0] for path in DOCKERFILES for line in path.with_suffix(".expected").read_text().splitlines()
    }
    assert expected_ids == set(RULE_IDS)
    assert sum(1 for path in DOCKERFILES if not path.with_suffix(".expected").read_text().strip()) >= 3  # fully pinned


@pytest.mark.parametrize("path", DOCKERFILES, ids=[path.stem for path in DOCKERFILES])
def test_corpus(path: Path) -> None:
    expected = []
    for line in path.with_suffix(".expected").read_text().splitlines():
        rule, number, subject = line.split(" ", 2)
        expected.append((rule, int(number), subject))
    assert found(path.read_text()) == expected


def test_a_risk_says_what_and_how_on_one_line_each() -> None:
    text = "FROM debian:bookworm AS base\nFROM base\nRUN apt-get update && apt-get install -y curl\n"
    base, curl = find_risks(parse_dockerfile(text))
    assert base == Risk(
        id="DRIFT001",
        line=1,
        stage=0,
        instruction="FROM debian:bookworm AS base",
        subject="debian:bookworm",
        cause="base-image-tag",
        message="base image debian:bookworm is a tag without a digest",
        fix="pin it by digest: FROM debian:bookworm@sha256:<digest>",
    )
    assert (curl.id, curl.stage, curl.cause, curl.instruction) == (
        "DRIFT101",
        1,
        "apt",
        "RUN apt-get update && apt-get install -y curl",
    )
    assert curl.message == "apt installs curl without a version"
    assert curl.fix == "pin the version: curl=<version>"
    for risk in find_risks(parse_dockerfile((CORPUS / "curl-pipe-installers.Dockerfile").read_text())):
        assert risk.cause in CAUSES
        assert "\n" not in risk.message and "\n" not in risk.fix


@pytest.mark.parametrize(
    "run",
    [
        "apt-get install -y curl",
        "apk add curl",
        "dnf install -y curl",
        "pip install requests",
        "npm install -g left-pad",
        "gem install rails",
        "go install example.com/tool@latest",
        "cargo install ripgrep --version 14.0.3",
        "curl -fsSLo /x https://example.com/x",
        "git clone https://example.com/repo.git",
        "python -c \"from huggingface_hub import snapshot_download; snapshot_download('gpt2')\"",
        "huggingface-cli download gpt2",
    ],
)
def test_the_predicted_cause_is_the_one_a_drift_will_be_reported_with(run: str) -> None:
    (risk,) = find_risks(parse_dockerfile(f"FROM busybox@sha256:{'0' * 64}\nRUN {run}\n"))
    assert risk.cause == likely_cause(risk.instruction)


def test_add_of_a_url_predicts_a_network_fetch() -> None:
    (risk,) = find_risks(parse_dockerfile(f"FROM busybox@sha256:{'0' * 64}\nADD https://example.com/x.tgz /x\n"))
    assert risk.cause == likely_cause(risk.instruction) == "network-fetch"


PINNED = f"FROM busybox@sha256:{'0' * 64}\n"


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        # env prefixes, sudo, env, and options with values are skipped
        ("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl", ["curl"]),
        ("sudo -E -u root apt-get -o Dpkg::Options::=--force-confold -t bookworm-backports install jq", ["jq"]),
        ("env DEBIAN_FRONTEND=noninteractive apt install -y git=1:2.39.2-1.1 make", ["make"]),
        ("apt-get install -y -oAPT::Install-Recommends=0 'curl' \"wget\"", ["curl", "wget"]),
        # local packages are no risk; globbed versions and release pins are
        ("apt-get install -y ./pkg.deb /tmp/other.deb curl=7.88.* vim/bookworm-backports", ["curl", "vim"]),
        # every separator: && ; || | newline-free lists, subshells, if/then
        ("set -ex; (cd /tmp && apt-get install -y a) || true; if true; then apt-get install -y b; fi", ["a", "b"]),
        ("apt-get update | cat && xargs -r apt-get install -y c < list.txt", ["c"]),
        # an unquoted >: the shell redirects, the package is still unpinned
        ("apt-get install -y d>/dev/null 2>&1", ["d"]),
        # a comment ends the (joined) line for the shell
        ("apt-get install -y e # f g", ["e"]),
        # sh -c scripts are read too
        ("sh -c 'apt-get install -y h'", ["h"]),
        # variables from unknown sources cannot be judged
        ("apt-get install -y $(cat packages.txt) $UNKNOWN `echo x`", []),
    ],
)
def test_shell_commands_are_read_robustly(run: str, expected: list[str]) -> None:
    subjects = [subject for rule, _, subject in found(PINNED + f"RUN {run}\n") if rule == "DRIFT101"]
    assert subjects == expected


def test_arg_and_env_values_are_judged_and_reported_at_the_reference() -> None:
    text = PINNED + (
        'ARG PKGS="curl jq=1.6-2.1"\n'
        "ENV TOOLS=wget\n"
        "RUN apt-get update \\\n"
        " && apt-get install -y \\\n"
        "      $PKGS \\\n"
        '      "$TOOLS"\n'
    )
    assert found(text) == [("DRIFT101", 6, "curl"), ("DRIFT101", 7, "wget")]
    assert found(text, PKGS="curl=8.0 jq") == [("DRIFT101", 6, "jq"), ("DRIFT101", 7, "wget")]


def test_heredoc_bodies_are_shell_unless_they_are_not() -> None:
    text = PINNED + (
        "RUN <<EOF\n"
        "apt-get install -y jq\n"
        "cat > /etc/pip.conf <<CONF\n"
        "pip install not-a-command\n"
        "CONF\n"
        "EOF\n"
        "RUN <<EOF\n"
        "#!/usr/bin/env python3\n"
        "print('pip install nothing')\n"
        "EOF\n"
    )
    assert found(text) == [("DRIFT101", 3, "jq")]


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        ("pip install requests", [("DRIFT201", "requests")]),
        ("pip3 install --no-cache-dir 'requests==2.31.0' \"flask[async]==3.0.0\"", []),
        ("python3.12 -m pip install --upgrade pip", [("DRIFT201", "pip")]),
        ("pip install --index-url https://pypi.example/simple -r req.txt", [("DRIFT202", "req.txt")]),
        ("pip install --require-hashes -r req.txt", []),
        ("PIP_REQUIRE_HASHES=1 pip install -r req.txt", []),
        ("pip install . ./sub /wheels/x.whl -e .", []),
        ("pip install 'numpy==1.*' 'pandas~=2.1'", [("DRIFT201", "numpy"), ("DRIFT201", "pandas")]),
        (
            "pip install 'requests @ git+https://github.com/psf/requests@main'",
            [("DRIFT203", "git+https://github.com/psf/requests@main")],
        ),
        ("uv pip install httpx", [("DRIFT201", "httpx")]),
    ],
)
def test_pip(run: str, expected: list[tuple[str, str]]) -> None:
    assert [(rule, subject) for rule, _, subject in found(PINNED + f"RUN {run}\n")] == expected


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        ("npm ci", []),
        ("npm install", [("DRIFT212", "npm install")]),
        ("npm i -g @angular/cli@17.0.8 @vue/cli@^5", [("DRIFT211", "@vue/cli")]),
        ("npm install --prefix /opt/x left-pad@1.3.0 ./local-pkg ../x.tgz", []),
        ("npm install github:user/repo#v1 github:user/pinned#0123456789abcdef", [("DRIFT211", "github:user/repo")]),
        ("npm update", [("DRIFT212", "npm update")]),
        ("yarn", [("DRIFT212", "yarn install")]),
        ("yarn install --immutable", []),
        ("pnpm install --frozen-lockfile && pnpm add -g pnpm@8.15.4 zx", [("DRIFT211", "zx")]),
    ],
)
def test_npm_yarn_pnpm(run: str, expected: list[tuple[str, str]]) -> None:
    assert [(rule, subject) for rule, _, subject in found(PINNED + f"RUN {run}\n")] == expected


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        ("go install golang.org/x/tools/gopls@latest", [("DRIFT231", "golang.org/x/tools/gopls")]),
        (
            "go install honnef.co/go/tools/cmd/staticcheck@2023.1.6",
            [("DRIFT231", "honnef.co/go/tools/cmd/staticcheck")],
        ),
        ("go install -ldflags '-s -w' github.com/a/b@v1.2.3 github.com/c/d@0123abc", []),
        ("go install github.com/me/app/cmd/app ./cmd/other", []),  # versions from go.mod
        ("go get github.com/a/b@master", [("DRIFT231", "github.com/a/b")]),
        ("go get -u ./...", [("DRIFT231", "./...")]),
        ("go mod download && go build ./...", []),
    ],
)
def test_go(run: str, expected: list[tuple[str, str]]) -> None:
    assert [(rule, subject) for rule, _, subject in found(PINNED + f"RUN {run}\n")] == expected


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        ("gem install bundler", [("DRIFT221", "bundler")]),
        ("gem install bundler -v 2.5.6 --no-document", []),
        ("gem install bundler --version=2.5.6", []),
        ("gem install rails -v '>= 7'", [("DRIFT221", "rails")]),
        ("cargo install --locked ripgrep@14.0.3", []),
        ("cargo install --path . --locked", []),
        ("cargo install --git https://github.com/a/b --rev 0123456789abcdef --locked", []),
        ("cargo install --git https://github.com/a/b --branch main --locked", [("DRIFT241", "https://github.com/a/b")]),
    ],
)
def test_gem_and_cargo(run: str, expected: list[tuple[str, str]]) -> None:
    assert [(rule, subject) for rule, _, subject in found(PINNED + f"RUN {run}\n")] == expected


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        ("curl -fsSL -o /tmp/x.tgz https://example.com/x-1.0.tgz", [("DRIFT302", "https://example.com/x-1.0.tgz")]),
        (
            "wget -q https://example.com/releases/latest/x.tgz",
            [("DRIFT303", "https://example.com/releases/latest/x.tgz")],
        ),
        (
            "curl -fsSL https://example.com/install.sh | sudo bash -s -- --yes",
            [("DRIFT304", "https://example.com/install.sh")],
        ),
        ("bash <(curl -fsSL https://example.com/install.sh)", [("DRIFT304", "https://example.com/install.sh")]),
        ('curl --url https://example.com/a -o a && echo "$SUM  a" | sha256sum --check', []),
        ("wget -O /a https://example.com/a && sha512sum -c /checksums/a.sha512", []),  # a sum the context holds
        (
            "curl -O https://example.com/a.tgz -O https://example.com/a.tgz.asc && gpg --verify a.tgz.asc a.tgz",
            [("DRIFT302", "https://example.com/a.tgz")],  # a signature is not a pin
        ),
        (
            "curl -fsSL https://example.com/key.gpg | gpg --dearmor -o /usr/share/keyrings/x.gpg",
            [("DRIFT302", "https://example.com/key.gpg")],
        ),
        ("git clone --branch 1.7.1 https://github.com/jqlang/jq", [("DRIFT312", "https://github.com/jqlang/jq")]),
        ("git clone https://a/b.git && git -C b checkout v2.0", [("DRIFT312", "https://a/b.git")]),
        ("git clone https://a/b.git src && cd src && git checkout 0123456789abcdef0123456789abcdef01234567", []),
        ("git -c advice.detachedHead=false clone -q --depth=1 https://a/b.git", [("DRIFT311", "https://a/b.git")]),
    ],
)
def test_fetches_and_clones(run: str, expected: list[tuple[str, str]]) -> None:
    assert [(rule, subject) for rule, _, subject in found(PINNED + f"RUN {run}\n")] == expected


@pytest.mark.parametrize(
    ("dockerfile", "expected"),
    [
        ("FROM scratch\n", []),
        ("FROM debian\n", [("DRIFT002", "debian")]),
        ("FROM debian:latest\n", [("DRIFT002", "debian:latest")]),
        ("FROM localhost:5000/team/app\n", [("DRIFT002", "localhost:5000/team/app")]),
        ("FROM localhost:5000/team/app:1.2\n", [("DRIFT001", "localhost:5000/team/app:1.2")]),
        (f"FROM debian:latest@sha256:{'a' * 64}\n", []),
        ("FROM --platform=linux/arm64 debian:12 AS a\nFROM a\nFROM A\n", [("DRIFT001", "debian:12")]),
        ("ARG BASE\nFROM $BASE\n", []),  # unresolved: the target's build args decide
        (
            "FROM x@sha256:" + "b" * 64 + "\nCOPY --from=nginx:1.25 /etc/nginx /etc/nginx\n",
            [("DRIFT003", "nginx:1.25")],
        ),
        ("FROM x@sha256:" + "b" * 64 + " AS a\nFROM a\nCOPY --from=0 /a /a\nRUN --mount=from=a,target=/m true\n", []),
    ],
)
def test_images(dockerfile: str, expected: list[tuple[str, str]]) -> None:
    assert [(rule, subject) for rule, _, subject in found(dockerfile)] == expected


def test_build_args_choose_the_base_image() -> None:
    text = "ARG BASE=debian:bookworm\nFROM ${BASE}\n"
    assert found(text) == [("DRIFT001", 2, "debian:bookworm")]
    assert found(text, BASE=f"debian@sha256:{'c' * 64}") == []
