"""Suggested pins: text edits of the original Dockerfile that fix its risks with last good values.

drift knows what a good build used: the base image's digest, the sha256 of a
downloaded file, the version of each package. A pin writes that value into the
Dockerfile where the risk is: `FROM debian:bookworm` becomes
`FROM debian:bookworm@sha256:...`, `apt-get install -y curl` becomes
`apt-get install -y curl=7.88.1-10+deb12u8`. Each edit touches only the
characters it must; the rest of the line (other packages, continuations,
quotes) stays byte for byte. Where an edit cannot be made safely (a package
named through a variable, a download piped into a shell) the pin says what to
do in words and carries no edit.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from drift.dockerfile.model import Dockerfile, Instruction, Stage
from drift.dockerfile.rules import RiskSite, risk_sites
from drift.dockerfile.rules.commands import option_names
from drift.dockerfile.shell import ShellWord

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# A file name that can go inside double quotes of an inserted shell command unchanged.
_PLAIN_PATH = re.compile(r"[\w./+@%:=,-]+")


@dataclass(frozen=True, slots=True)
class KnownValues:
    """The values of a last good build, to pin with.

    Attributes:
        base_digests: FROM reference (as written or resolved) -> "sha256:<hex>",
            the repo digest the base resolved to ("repo@sha256:<hex>" is
            accepted too). An image ID is not a pullable digest: pass the repo
            digest where the registry gave one.
        url_digests: URL -> sha256 of the file it served ("sha256:<hex>" or "<hex>").
        packages: (ecosystem, name) -> version, with the ecosystem names of
            drift.catalog: "deb", "apk", "rpm", "pypi", "npm", "gem", "golang"
            (a module path: `go install` of a package inside it finds it),
            "cargo".
    """

    base_digests: Mapping[str, str] = field(default_factory=dict)
    url_digests: Mapping[str, str] = field(default_factory=dict)
    packages: Mapping[tuple[str, str], str] = field(default_factory=dict)
    add_checksum: bool = True


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace `text[start:end]` of the Dockerfile with `replacement` (start == end inserts)."""

    start: int
    end: int
    replacement: str


@dataclass(frozen=True, slots=True)
class Pin:
    """A suggested pin for one risk.

    Attributes:
        line: 1-based line the edit is on (the risk's line when there is no edit).
        risk_id: the rule id of the risk it resolves ("DRIFT101").
        subject: the risk's subject (image, package, URL).
        before: the line as it is.
        after: the line with this pin applied; "" when the pin has no edit.
        description: one line: what the pin does, or what to do by hand.
        edit: the text edit, or None when the pin is advice only.
    """

    line: int
    risk_id: str
    subject: str
    before: str
    after: str
    description: str
    edit: Edit | None = None


def suggest_pins(text: str, dockerfile: Dockerfile, known: KnownValues) -> list[Pin]:
    """The pins the known values allow, one per risk at most, in line order.

    `text` must be the text `dockerfile` was parsed from. Risks with no known
    value get no pin, except those whose fix needs none (`cargo install --locked`).
    """
    document = _Document(text)
    pins: list[Pin] = []
    for site in risk_sites(dockerfile):
        pin = _pin(document, dockerfile, site, known)
        if pin is not None:
            pins.append(pin)
    return pins


def pins_diff(text: str, pins: Sequence[Pin], path: str = "Dockerfile") -> str:
    """A unified diff (`a/PATH`, `b/PATH`) applying every pin that has an edit; "" when none has."""
    edits = sorted((pin.edit for pin in pins if pin.edit is not None), key=lambda edit: (edit.start, edit.end))
    pieces: list[str] = []
    cursor = 0
    for edit in edits:
        if edit.start < cursor:
            raise ValueError(f"pins overlap at offset {edit.start}; suggest them from one parse of the text")
        pieces.extend((text[cursor : edit.start], edit.replacement))
        cursor = edit.end
    pieces.append(text[cursor:])
    changed = "".join(pieces)
    if changed == text:
        return ""
    lines = difflib.unified_diff(
        text.splitlines(keepends=True), changed.splitlines(keepends=True), f"a/{path}", f"b/{path}"
    )
    out: list[str] = []
    for line in lines:
        out.append(line)
        if not line.endswith("\n"):
            # What diff(1) writes, and what patch(1) needs, for a last line without a newline.
            out.append("\n\\ No newline at end of file\n")
    return "".join(out)


# --- where things are in the text ------------------------------------------------------------------------------------


class _Document:
    """The Dockerfile text with its line offsets."""

    def __init__(self, text: str):
        self.text = text
        self.line_starts = [0] + [match.end() for match in re.finditer("\n", text)]

    def offset(self, instruction: Instruction, position: int) -> int:
        """The text offset of a position in an instruction's own text."""
        start = self.line_starts[instruction.line - 1]
        if self.text[start : start + len(instruction.text)] != instruction.text:
            raise ValueError(f"the text does not match the parsed Dockerfile at line {instruction.line}")
        return start + position

    def line_of(self, offset: int) -> int:
        low, high = 0, len(self.line_starts) - 1
        while low < high:
            middle = (low + high + 1) // 2
            if self.line_starts[middle] <= offset:
                low = middle
            else:
                high = middle - 1
        return low + 1

    def line_text(self, line: int) -> str:
        start = self.line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start : end if end >= 0 else len(self.text)].removesuffix("\r")

    def pin(self, site: RiskSite, edit: Edit, description: str) -> Pin:
        line = self.line_of(edit.start)
        start = self.line_starts[line - 1]
        before = self.line_text(line)
        if edit.end > start + len(before):
            raise ValueError("an edit spans lines")  # every edit here replaces one word or inserts
        after = before[: edit.start - start] + edit.replacement + before[edit.end - start :]
        return Pin(line, site.risk.id, site.risk.subject, before, after, description, edit)

    def advice(self, site: RiskSite, description: str) -> Pin:
        line = site.risk.line
        return Pin(line, site.risk.id, site.risk.subject, self.line_text(line), "", description)


# --- one pin per risk ------------------------------------------------------------------------------------------------


def _pin(document: _Document, dockerfile: Dockerfile, site: RiskSite, known: KnownValues) -> Pin | None:
    rule = site.risk.id
    if rule in {"DRIFT001", "DRIFT002"}:
        return _from_pin(document, dockerfile, site, known)
    if rule == "DRIFT003":
        return _source_image_pin(document, site, known)
    if rule == "DRIFT301":
        return _add_pin(document, site, known)
    if rule in {"DRIFT302", "DRIFT303", "DRIFT304"}:
        return _fetch_pin(document, site, known)
    if rule == "DRIFT242":
        return _locked_pin(document, site)
    if rule in _PACKAGE_RULES:
        return _package_pin(document, site, known)
    return None


def _repo_digest(value: str | None) -> str | None:
    if not value:
        return None
    digest = value.rsplit("@", 1)[-1].lower()
    hex_part = digest.removeprefix("sha256:")
    return f"sha256:{hex_part}" if _SHA256_HEX.fullmatch(hex_part) else None


def _sha256_hex(value: str | None) -> str | None:
    hex_part = (value or "").lower().removeprefix("sha256:")
    return hex_part if _SHA256_HEX.fullmatch(hex_part) else None


def _from_pin(document: _Document, dockerfile: Dockerfile, site: RiskSite, known: KnownValues) -> Pin | None:
    stage = next(stage for stage in dockerfile.stages if stage.from_instruction is site.instruction)
    digest = _repo_digest(known.base_digests.get(stage.base) or known.base_digests.get(stage.base_resolved))
    if digest is None:
        return None
    pinned = f"{stage.base_resolved}@{digest}"
    description = f"pin the base image to the digest of the last good build: {pinned}"
    if "$" not in stage.base:
        span = stage.from_instruction.source_span(0, len(stage.base))
        if span is None:
            return document.advice(site, description)
        at = document.offset(stage.from_instruction, span[1])
        return document.pin(site, Edit(at, at, f"@{digest}"), description)
    return _arg_default_pin(document, dockerfile, stage, site, digest, pinned, description)


def _arg_default_pin(
    document: _Document,
    dockerfile: Dockerfile,
    stage: Stage,
    site: RiskSite,
    digest: str,
    pinned: str,
    description: str,
) -> Pin:
    """`FROM $BASE`: pin the global ARG's default, which is what the FROM resolves to."""
    reference = re.fullmatch(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", stage.base)
    if reference is None:
        return document.advice(site, description + " (the reference is built from several build args)")
    name = reference.group(1)
    if name in dockerfile.build_args:
        return document.advice(site, f"the build arg {name} names the base image: set it to {pinned}")
    for instruction in reversed(dockerfile.preamble):
        if instruction.keyword != "ARG":
            continue
        found = re.search(rf"(?:^|\s){name}=(\S+)", instruction.value)
        if found is None:
            continue
        written = found.group(1)
        inner = written[1:-1] if written[:1] in "'\"" and written[-1:] == written[:1] else written
        span = instruction.source_span(found.start(1), found.end(1))
        if inner != stage.base_resolved or span is None:
            break
        end = span[1] - 1 if written != inner else span[1]  # inside the closing quote
        at = document.offset(instruction, end)
        return document.pin(site, Edit(at, at, f"@{digest}"), description + f" (in the default of ARG {name})")
    return document.advice(site, description)


def _source_image_pin(document: _Document, site: RiskSite, known: KnownValues) -> Pin | None:
    digest = _repo_digest(known.base_digests.get(site.name))
    if digest is None:
        return None
    description = f"pin the source image to the digest of the last good build: {site.name}@{digest}"
    found = re.search(rf"""from=["']?{re.escape(site.name)}(?=["',\s]|$)""", site.instruction.text)
    if found is None:
        return document.advice(site, description)
    at = document.offset(site.instruction, found.end())
    return document.pin(site, Edit(at, at, f"@{digest}"), description)


def _add_pin(document: _Document, site: RiskSite, known: KnownValues) -> Pin | None:
    digest = _sha256_hex(known.url_digests.get(site.name))
    if digest is None:
        return None
    instruction = site.instruction
    if not known.add_checksum:
        return document.advice(
            site,
            f"the legacy builder has no ADD --checksum: download {site.name} in a RUN and check it there:"
            f' echo "{digest}  <file>" | sha256sum -c -',
        )
    description = (
        "check the download against the last good sha256 (ADD --checksum needs BuildKit, Dockerfile syntax 1.6+;"
        " the legacy builder rejects it)"
    )
    if not instruction.value_offsets:
        return document.advice(site, description)
    at = document.offset(instruction, instruction.value_offsets[0])
    return document.pin(site, Edit(at, at, f"--checksum=sha256:{digest} "), description)


def _fetch_pin(document: _Document, site: RiskSite, known: KnownValues) -> Pin | None:
    digest = _sha256_hex(known.url_digests.get(site.name))
    if digest is None:
        return None
    instruction = site.instruction
    in_heredoc = site.word is not None and any(
        heredoc.span[0] <= site.word.at < heredoc.span[1] for heredoc in instruction.heredocs
    )
    output = site.output
    if site.risk.id == "DRIFT304" or output is None or site.command_end is None or in_heredoc:
        target = f"`{output}`" if output else "a file"
        return document.advice(
            site, f"download {site.name} to {target}, check it with sha256 {digest} (sha256sum -c), then use it"
        )
    if not _PLAIN_PATH.fullmatch(output):
        return document.advice(site, f"check {output} against sha256 {digest} with sha256sum -c")
    at = document.offset(instruction, site.command_end)
    check = f' && echo "{digest}  {output}" | sha256sum -c -'
    return document.pin(site, Edit(at, at, check), "check the download against the last good sha256")


def _locked_pin(document: _Document, site: RiskSite) -> Pin | None:
    install = next((word for word in site.command if word.text == "install" and word.span is not None), None)
    if install is None or install.span is None:
        return None
    at = document.offset(site.instruction, install.span[1])
    return document.pin(site, Edit(at, at, " --locked"), "build with the crate's own Cargo.lock")


# --- packages --------------------------------------------------------------------------------------------------------

_PACKAGE_RULES: dict[str, str] = {
    "DRIFT101": "deb",
    "DRIFT111": "apk",
    "DRIFT121": "rpm",
    "DRIFT201": "pypi",
    "DRIFT211": "npm",
    "DRIFT221": "gem",
    "DRIFT231": "golang",
    "DRIFT241": "cargo",
}


def _known_version(known: KnownValues, ecosystem: str, name: str) -> str | None:
    for candidate in _name_variants(ecosystem, name):
        version = known.packages.get((ecosystem, candidate))
        if version:
            return version
    return None


def _name_variants(ecosystem: str, name: str) -> Iterator[str]:
    yield name
    if ecosystem == "pypi":
        yield re.sub(r"[-_.]+", "-", name).lower()  # PEP 503
    if ecosystem == "golang":
        # `go install example.com/mod/cmd/tool@v1` installs a package of the module
        # example.com/mod: the module's path is a prefix of the package's.
        parts = name.split("/")
        for end in range(len(parts) - 1, 1, -1):
            yield "/".join(parts[:end])


def _package_pin(document: _Document, site: RiskSite, known: KnownValues) -> Pin | None:
    ecosystem = _PACKAGE_RULES[site.risk.id]
    version = _known_version(known, ecosystem, site.name)
    word = site.word
    if version is None or word is None:
        return None
    if site.risk.id == "DRIFT221":
        return _gem_pin(document, site, word, version)
    if site.risk.id == "DRIFT241":
        return _cargo_pin(document, site, word, version)
    pinned = _pinned_word(ecosystem, word.text, site.name, version)
    description = f"pin {site.name} to the version of the last good build: {pinned or version}"
    if pinned is None or word.span is None:
        return document.advice(site, description)
    return _replace_word(document, site, word, pinned, description)


def _pinned_word(ecosystem: str, text: str, name: str, version: str) -> str | None:
    """The package argument with the version in it, or None where the written form cannot simply take one."""
    if ecosystem == "deb":
        package = text.rstrip("+").split("=", 1)[0].split("/", 1)[0]
        return f"{package}={version}"
    if ecosystem == "apk":
        package = re.split(r"[=<>~]", text, maxsplit=1)[0]
        return None if "@" in package else f"{package}={version}"
    if ecosystem == "rpm":
        return None if text.startswith("@") or "://" in text else f"{text}-{version}"
    if ecosystem == "pypi":
        requirement = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?", text)
        if requirement is None or ";" in text:
            return None
        return f"{requirement.group(1)}{requirement.group(2) or ''}=={version}"
    if ecosystem == "npm":
        return f"{name}@{version}"
    if ecosystem == "golang":
        return f"{name}@{version}"
    return None


def _replace_word(document: _Document, site: RiskSite, word: ShellWord, replacement: str, description: str) -> Pin:
    assert word.span is not None
    written = word.written
    if written == word.text:
        new = replacement
    elif len(written) >= 2 and written[0] in "'\"" and written[-1] == written[0] and written[1:-1] == word.text:
        new = written[0] + replacement + written[0]
    else:
        return document.advice(site, description)
    following = site.instruction.text[word.span[1] : word.span[1] + 1]
    if following in ("<", ">"):
        # `pip install flask>=2` unquoted: the shell reads `>=2` as a redirection,
        # so an edit of the word alone would leave it dangling.
        return document.advice(site, description + " (quote the requirement: the shell reads > as a redirection)")
    start = document.offset(site.instruction, word.span[0])
    end = document.offset(site.instruction, word.span[1])
    return document.pin(site, Edit(start, end, new), description)


def _gem_pin(document: _Document, site: RiskSite, word: ShellWord, version: str) -> Pin:
    description = f"pin {site.name} to the version of the last good build: {version}"
    command = list(site.command)
    gems = _operands_after(command, "install", _GEM_VALUE_OPTIONS)
    version_option = next((index for index, other in enumerate(command) if other.text in ("-v", "--version")), None)
    if version_option is not None and version_option + 1 < len(command):
        # A range (-v '~> 7.1') is there already: replace it with the version.
        value = command[version_option + 1]
        if value.span is None:
            return document.advice(site, description)
        return _replace_word(document, site, value, version, description)
    if word.span is None or word.written != word.text:
        return document.advice(site, description)
    at = document.offset(site.instruction, word.span[1])
    if len(gems) == 1:
        return document.pin(site, Edit(at, at, f" -v {version}"), description)
    return document.pin(site, Edit(at, at, f":{version}"), description)  # -v would apply to every gem


def _cargo_pin(document: _Document, site: RiskSite, word: ShellWord, version: str) -> Pin:
    description = f"pin {site.name} to the version of the last good build: {version}"
    if word.span is None or word.written != word.text or "@" in word.text:
        return document.advice(site, description)
    crates = _operands_after(list(site.command), "install", _CARGO_VALUE_OPTIONS)
    at = document.offset(site.instruction, word.span[1])
    if len(crates) == 1:
        return document.pin(site, Edit(at, at, f" --version {version}"), description)
    return document.pin(site, Edit(at, at, f"@{version}"), description)


_GEM_VALUE_OPTIONS = frozenset(
    {"-v", "--version", "-i", "--install-dir", "-n", "--bindir", "-s", "--source", "-P", "--trust-policy", "--platform"}
)
_CARGO_VALUE_OPTIONS = option_names(
    """
    --version --vers --git --branch --tag --rev --path --root --index --registry --features -F --jobs -j
    --target --target-dir --profile --bin --example --config
    """
)


def _operands_after(command: list[ShellWord], subcommand: str, value_options: frozenset[str]) -> list[ShellWord]:
    """The package operands of `gem install ...`/`cargo install ...`: not options, not option values."""
    words = [word.text for word in command]
    start = words.index(subcommand) + 1 if subcommand in words else len(words)
    operands: list[ShellWord] = []
    skip = False
    for word in command[start:]:
        if skip:
            skip = False
        elif word.text.startswith("-"):
            skip = word.text in value_options
        else:
            operands.append(word)
    return operands
