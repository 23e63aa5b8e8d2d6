"""Static risks: every unpinned external input of a Dockerfile, found before it ever drifts.

A build whose source does not change drifts only through what it fetches from
outside: a base-image tag that moves, a package manager that installs the
newest version, a URL whose content changes. Each rule below finds one kind of
such input and names the cause (drift.compare.causes) a drift through it would
be reported with, so a finding can later be tied back to the risk that
predicted it.

Rules (id: what is flagged -> cause)

    DRIFT001  FROM with a tag but no digest                           base-image-tag
    DRIFT002  FROM with `latest` or no tag, no digest (stronger)      base-image-tag
    DRIFT003  COPY --from / RUN --mount from= an image, no digest     base-image-tag
    DRIFT101  apt-get/apt/aptitude install of a package without =ver  apt
    DRIFT102  apt-get upgrade/dist-upgrade/full-upgrade               apt
    DRIFT111  apk add of a package without =ver or ~ver               apk
    DRIFT112  apk upgrade                                             apk
    DRIFT121  yum/dnf/microdnf/tdnf install without -version          yum
    DRIFT122  yum/dnf/microdnf update or upgrade of everything        yum
    DRIFT201  pip install of a requirement without == (or ===)        pip
    DRIFT202  pip install -r FILE without --require-hashes            pip
    DRIFT203  pip install of a VCS or URL requirement without a commit or #sha256  pip
    DRIFT211  npm install/yarn add/pnpm add of a package without an exact version  npm
    DRIFT212  npm install/update, yarn (install), pnpm install without a frozen lockfile  npm
    DRIFT221  gem install without -v VERSION (or name:VERSION)        gem
    DRIFT231  go install/go get at @latest, a branch, or (go get) no version; go get -u  go
    DRIFT241  cargo install of a crate without --version (or a --git without --rev)  cargo
    DRIFT242  cargo install without --locked                          cargo
    DRIFT301  ADD of a URL without --checksum                         network-fetch
    DRIFT302  curl/wget of a URL in RUN, no checksum verified          network-fetch
    DRIFT303  curl/wget of a moving URL ("latest", "nightly", /master/, /main/, /HEAD/)  network-fetch
    DRIFT304  curl/wget output piped into a shell or interpreter      network-fetch
    DRIFT311  git clone (or ADD of a git URL) of a branch or the default branch  network-fetch
    DRIFT312  git clone at a tag (weaker: a tag can be moved, a commit cannot)  network-fetch
    DRIFT321  a model hub download (snapshot_download, hf_hub_download, from_pretrained,
              huggingface-cli download) without a revision              network-fetch

Decisions a reader may want to know:

- `FROM scratch` and FROM of an earlier stage are never a risk; a FROM whose
  reference still holds an unresolved build arg cannot be judged and is skipped
  (the build fails without it anyway).
- A fetch counts as verified, and is no risk, when the same RUN checks a
  checksum the Dockerfile holds: `sha256sum -c` (sha1/384/512, md5, b2,
  `shasum -c`) reading stdin (`echo "<sum>  file" | sha256sum -c -`) or a file
  the RUN did not download. A checksum file fetched next to the artifact
  proves integrity, not that the content is the one pinned, so it does not
  count; `gpg --verify` does not either (a new signed release passes it).
  Checksum and signature files themselves (`.sha256`, `.asc`, `SHA256SUMS`...)
  are not reported. A fetch piped into a shell is never verified.
- git: a checkout, switch or reset to a hex commit (7-40 digits) after the
  clone pins it; a ref containing a digit is taken for a tag (DRIFT312, a tag
  can be moved but rarely is), anything else for a branch (DRIFT311).
- Model downloads (DRIFT321) are Python calls inside a RUN (`python -c`, a
  python heredoc) or `huggingface-cli download`; they are found by the call's
  name in the RUN's text, and pinned by a `revision=` argument (`--revision`)
  naming anything: a commit is best, a tag still better than the default
  branch. A download in a script the RUN only runs (`python fetch.py`) is
  not seen. A model under `~/.cache/huggingface` is the image's content, not
  noise (drift.compare.ignore), so its drift is reported.
- Bare `npm install` is flagged (DRIFT212): with a lockfile it may still
  rewrite it when package.json disagrees, without one it resolves ranges; the
  Dockerfile alone cannot tell which, and `npm ci` is the cheap, certain fix.
  `yarn install --frozen-lockfile`/`--immutable` and
  `pnpm install --frozen-lockfile` are not flagged.
- `go install remote/pkg` without `@version` is not flagged: inside a module
  the version comes from go.mod, outside one Go >= 1.16 refuses it. `go get`
  without a version upgrades, so it is.
- `pip install` with a constraints file (`-c`, PIP_CONSTRAINT) is not flagged
  per package: the constraints may pin them. PIP_REQUIRE_HASHES set by ENV or
  on the command counts as `--require-hashes`.
- Package arguments that come from an unknown variable or `$(...)` cannot be
  judged and are skipped; those from a known ARG or ENV are judged (and
  reported on the line of the reference).
- Package versions with a glob (`curl=7.88*`, `requests==2.*`) are not pins.

Compared with hadolint's pinning rules:

- DL3006 (always tag the image) -> DRIFT002 (no tag); DL3007 (`latest`) ->
  DRIFT002. hadolint has no rule for a tag without a digest: DRIFT001 adds it,
  since a tag is exactly what moves under a nightly rebuild. DRIFT003 (an
  external image in COPY --from) has no hadolint counterpart.
- DL3008 (apt-get) -> DRIFT101, also for `apt` and `aptitude` (hadolint's
  DL3027 only says "do not use apt"). DL3018 (apk add) -> DRIFT111. DL3033
  (yum), DL3041 (dnf/microdnf) -> DRIFT121, with a stricter test for a version
  (the last `-`-separated part must start with a digit, so `java-17-openjdk`
  is unpinned, where hadolint takes any `-<digit>` for a version).
  DRIFT102/112/122 (whole-system upgrades) correspond to the retired DL3005.
- DL3013 (pip) -> DRIFT201; hadolint accepts any `==` or `>=`-free spec and
  skips `-r`; DRIFT202 (`-r` without `--require-hashes`) and DRIFT203
  (VCS/URL requirements) are added.
- DL3016 (npm) -> DRIFT211, extended to yarn add and pnpm add; DRIFT212 is
  added. DL3028 (gem) -> DRIFT221. DL3037 is zypper, which drift has no cause
  word for and does not cover. DL3020 (use COPY instead of ADD for files) is a
  style rule; the pinning concern for ADD is covered by DRIFT301 (ADD of a URL
  without --checksum) and DRIFT311/312 (ADD of a git URL).
- DL4001 (use either wget or curl, not both) is about consistency, not
  pinning; it is not covered. hadolint has no rule for curl/wget, curl | sh,
  git clone, go install/get or cargo install: DRIFT231, 241, 242, 302-304,
  311 and 312 are drift's own.
"""

from __future__ import annotations

import os.path
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from drift.dockerfile.model import Dockerfile, Instruction, Stage, exec_form, expand_reference


@dataclass(frozen=True, slots=True)
class Risk:
    """One unpinned external input.

    Attributes:
        id: the rule's stable id ("DRIFT101").
        line: 1-based Dockerfile line where the input is named.
        stage: index of the stage the instruction is in.
        instruction: the instruction on one line ("RUN apt-get install -y curl").
        subject: the image reference, package name, URL or repository.
        cause: the cause word (drift.compare.causes) a drift through it would get.
        message: one line: what is unpinned.
        fix: one line: how to pin it.
    """

    id: str
    line: int
    stage: int
    instruction: str
    subject: str
    cause: str
    message: str
    fix: str


@dataclass(frozen=True, slots=True)
class ShellWord:
    """A word of a shell command in a RUN.

    Attributes:
        text: the word as the shell sees it: quotes removed, known ARG/ENV
            references substituted.
        written: the word as written in the Dockerfile ("" when `span` is None).
        span: (start, end) of `written` in the instruction's `text`; None when
            the word is not one literal run of text there (it came from a
            variable, from a `sh -c` script, or a continuation splits it).
        at: an offset in the instruction's `text` the word stems from (for its line).
        resolved: False when `text` still holds an unknown variable or a
            command substitution, so its value is not known.
    """

    text: str
    written: str
    span: tuple[int, int] | None
    at: int
    resolved: bool = True


@dataclass(frozen=True, slots=True)
class RiskSite:
    """A risk with where it sits in the Dockerfile, for the tools that edit it (drift.dockerfile.pins).

    Attributes:
        risk: the risk.
        instruction: the instruction it is in.
        ecosystem: "image", "url", "git", "model", or the package ecosystem as
            drift.catalog names it: "deb", "apk", "rpm", "pypi", "npm", "gem",
            "golang", "cargo".
        name: the package name (no version), image reference, URL or repository.
        word: the word naming the subject (None for FROM and flags).
        command: the words of the simple command, program first.
        command_end: offset in the instruction's text right after the command,
            when a `&& check` can follow it there: the command runs alone or
            before `&&`, outside a pipeline and outside a substitution.
        output: the file a fetch writes, when it writes one.
    """

    risk: Risk
    instruction: Instruction
    ecosystem: str
    name: str
    word: ShellWord | None = None
    command: tuple[ShellWord, ...] = ()
    command_end: int | None = None
    output: str | None = None


@dataclass(frozen=True, slots=True)
class _Rule:
    id: str
    cause: str
    message: str
    fix: str


_RULES: dict[str, _Rule] = {
    rule.id: rule
    for rule in (
        _Rule(
            "DRIFT001",
            "base-image-tag",
            "base image {subject} is a tag without a digest",
            "pin it by digest: FROM {subject}@sha256:<digest>",
        ),
        _Rule(
            "DRIFT002",
            "base-image-tag",
            "base image {subject} is `latest` or untagged and has no digest",
            "name a version tag and pin it by digest: FROM <image>:<version>@sha256:<digest>",
        ),
        _Rule(
            "DRIFT003",
            "base-image-tag",
            "image {subject} used as a source has no digest",
            "pin it by digest: {subject}@sha256:<digest>",
        ),
        _Rule("DRIFT101", "apt", "apt installs {subject} without a version", "pin the version: {subject}=<version>"),
        _Rule(
            "DRIFT102",
            "apt",
            "`{subject}` upgrades every installed package to the newest version",
            "drop the upgrade and pin a newer base image by digest instead",
        ),
        _Rule("DRIFT111", "apk", "apk adds {subject} without a version", "pin the version: {subject}=<version>"),
        _Rule(
            "DRIFT112",
            "apk",
            "`{subject}` upgrades every installed package to the newest version",
            "drop the upgrade and pin a newer base image by digest instead",
        ),
        _Rule(
            "DRIFT121",
            "yum",
            "the package manager installs {subject} without a version",
            "pin the version: {subject}-<version>-<release>",
        ),
        _Rule(
            "DRIFT122",
            "yum",
            "`{subject}` updates every installed package to the newest version",
            "drop the update and pin a newer base image by digest instead",
        ),
        _Rule(
            "DRIFT201",
            "pip",
            "pip installs {subject} without an exact == version",
            "pin it: {subject}==<version> (or use a hashed requirements file)",
        ),
        _Rule(
            "DRIFT202",
            "pip",
            "pip installs {subject} without --require-hashes, so what it resolves is not fixed",
            "generate hashes (pip-compile --generate-hashes) and add --require-hashes",
        ),
        _Rule(
            "DRIFT203",
            "pip",
            "pip installs {subject} from a VCS or URL without a fixed commit or hash",
            "pin a commit (@<sha>) or add #sha256=<digest> to the URL",
        ),
        _Rule("DRIFT211", "npm", "{subject} is installed without an exact version", "pin it: {subject}@<version>"),
        _Rule(
            "DRIFT212",
            "npm",
            "`{subject}` resolves package.json ranges instead of a frozen lockfile",
            "commit the lockfile and use `npm ci` (yarn --frozen-lockfile, pnpm --frozen-lockfile)",
        ),
        _Rule(
            "DRIFT221", "gem", "gem installs {subject} without a version", "pin it: gem install {subject} -v <version>"
        ),
        _Rule(
            "DRIFT231",
            "go",
            "go fetches {subject} at a moving version",
            "name a release or commit: {subject}@v<version>",
        ),
        _Rule(
            "DRIFT241",
            "cargo",
            "cargo installs {subject} without a fixed version",
            "pin it: --version <version> (for --git: --rev <sha>)",
        ),
        _Rule(
            "DRIFT242",
            "cargo",
            "cargo install of {subject} resolves its dependencies afresh (no --locked)",
            "add --locked so the crate's Cargo.lock is used",
        ),
        _Rule(
            "DRIFT301",
            "network-fetch",
            "ADD fetches {subject} without a checksum",
            "add --checksum=sha256:<digest> (BuildKit), or download in RUN and check it with sha256sum -c",
        ),
        _Rule(
            "DRIFT302",
            "network-fetch",
            "RUN downloads {subject} without checking a pinned checksum",
            'check it: echo "<sha256>  <file>" | sha256sum -c -',
        ),
        _Rule(
            "DRIFT303",
            "network-fetch",
            "RUN downloads {subject}, a URL whose content moves by design",
            "download a fixed release URL and check its sha256",
        ),
        _Rule(
            "DRIFT304",
            "network-fetch",
            "RUN pipes {subject} into a shell or interpreter unchecked",
            "download a fixed version to a file, check its sha256, then run it",
        ),
        _Rule(
            "DRIFT311",
            "network-fetch",
            "{subject} is cloned at a branch, which moves",
            "check out a commit after cloning: git checkout <sha>",
        ),
        _Rule(
            "DRIFT312",
            "network-fetch",
            "{subject} is cloned at a tag, which can be moved",
            "check out the tag's commit: git checkout <sha>",
        ),
        _Rule(
            "DRIFT321",
            "network-fetch",
            "model {subject} is downloaded without a revision, so a new upstream revision changes the image",
            'pin the model\'s commit: revision="<sha>" (huggingface-cli download --revision <sha>)',
        ),
    )
}

RULE_IDS: tuple[str, ...] = tuple(_RULES)


def find_risks(dockerfile: Dockerfile) -> list[Risk]:
    """Every unpinned external input of every stage, in line order."""
    return [site.risk for site in risk_sites(dockerfile)]


def risk_sites(dockerfile: Dockerfile) -> list[RiskSite]:
    """The risks with what an editor needs to pin them, in line order."""
    sites: list[RiskSite] = []
    for stage in dockerfile.stages:
        sites.extend(_from_sites(stage))
        for instruction in stage.instructions:
            if instruction.keyword == "RUN":
                sites.extend(_RunScan(dockerfile, stage, instruction).sites())
            elif instruction.keyword in {"ADD", "COPY"}:
                sites.extend(_copy_sites(stage, instruction))
            if instruction.keyword in {"RUN", "COPY", "ADD"}:
                sites.extend(_source_image_sites(dockerfile, stage, instruction))
    unique: dict[tuple[str, int, str], RiskSite] = {}
    for site in sites:
        unique.setdefault((site.risk.id, site.risk.line, site.risk.subject), site)
    return sorted(unique.values(), key=lambda site: (site.risk.line, _word_at(site)))


def _word_at(site: RiskSite) -> int:
    return site.word.at if site.word is not None else -1


def _site(
    rule_id: str,
    stage: Stage,
    instruction: Instruction,
    subject: str,
    line: int,
    ecosystem: str,
    name: str,
    word: ShellWord | None = None,
    command: tuple[ShellWord, ...] = (),
    command_end: int | None = None,
    output: str | None = None,
) -> RiskSite:
    rule = _RULES[rule_id]
    risk = Risk(
        id=rule.id,
        line=line,
        stage=stage.index,
        instruction=instruction.summary,
        subject=subject,
        cause=rule.cause,
        message=rule.message.format(subject=subject),
        fix=rule.fix.format(subject=subject),
    )
    return RiskSite(risk, instruction, ecosystem, name, word, command, command_end, output)


# --- images ----------------------------------------------------------------------------------------------------------


def split_image_reference(reference: str) -> tuple[str, str | None, str | None]:
    """(repository, tag or None, digest or None) of "registry:5000/repo:tag@sha256:..."."""
    name, _, digest = reference.partition("@")
    tag: str | None = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        tag = last.split(":", 1)[1]
        name = name[: -(len(tag) + 1)]
    return name, tag, digest or None


def _image_rule(reference: str) -> str | None:
    """The rule an image reference breaks, or None when it is pinned (or cannot be judged)."""
    if not reference or "$" in reference or reference.lower() == "scratch":
        return None
    _, tag, digest = split_image_reference(reference)
    if digest:
        return None
    return "DRIFT002" if tag in (None, "latest") else "DRIFT001"


def _from_sites(stage: Stage) -> list[RiskSite]:
    if stage.base_stage is not None:
        return []
    rule = _image_rule(stage.base_resolved)
    if rule is None:
        return []
    reference = stage.base_resolved
    return [_site(rule, stage, stage.from_instruction, reference, stage.from_line, "image", reference)]


def _source_image_sites(dockerfile: Dockerfile, stage: Stage, instruction: Instruction) -> list[RiskSite]:
    """COPY --from=<image> and RUN --mount=...,from=<image>: an image pulled as a source."""
    sources: list[str] = []
    for name, value in instruction.flag_items:
        if name == "from" and instruction.keyword in {"COPY", "ADD"}:
            sources.append(value)
        elif name == "mount":
            for option in value.split(","):
                key, _, option_value = option.partition("=")
                if key.strip() == "from" and option_value.strip():
                    sources.append(option_value.strip())
    sites: list[RiskSite] = []
    for source in sources:
        reference = _expand_text(source, instruction)
        earlier = dockerfile.stage(reference)
        if earlier is not None and earlier.index < stage.index:
            continue
        rule = _image_rule(reference)
        if rule is not None:
            sites.append(_site("DRIFT003", stage, instruction, reference, instruction.line, "image", reference))
    return sites


def _expand_text(text: str, instruction: Instruction) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "$":
            value, end = expand_reference(text, i, instruction.variables)
            if value is not None:
                out.append(value)
                i = end
                continue
        out.append(text[i])
        i += 1
    return "".join(out)


# --- ADD and COPY ----------------------------------------------------------------------------------------------------


_URL = re.compile(r"^(https?|ftp)://", re.IGNORECASE)
_HEX_REF = re.compile(r"^[0-9a-fA-F]{7,40}$")


def _copy_sites(stage: Stage, instruction: Instruction) -> list[RiskSite]:
    if instruction.keyword != "ADD" or instruction.heredocs:
        return []
    words = _plain_words(instruction)
    sites: list[RiskSite] = []
    for word in words[:-1]:  # the last word is the destination
        if _is_git_url(word.text):
            repository, _, fragment = word.text.partition("#")
            ref = fragment.split(":", 1)[0]
            checksum = instruction.flags.get("checksum", "")
            if _HEX_REF.match(ref) or _HEX_REF.match(checksum):
                continue
            rule = "DRIFT312" if ref and _looks_like_tag(ref) else "DRIFT311"
            sites.append(
                _site(rule, stage, instruction, repository, instruction.line_of(word.at), "git", repository, word=word)
            )
        elif _URL.match(word.text) and "checksum" not in instruction.flags:
            line = instruction.line_of(word.at)
            sites.append(_site("DRIFT301", stage, instruction, word.text, line, "url", word.text, word=word))
    return sites


def _plain_words(instruction: Instruction) -> list[ShellWord]:
    """The words of a COPY/ADD value (JSON form too), with spans."""
    arguments = exec_form(instruction.value)
    words: list[ShellWord] = []
    if arguments is not None:
        cursor = 0
        for argument in arguments:
            found = instruction.value.find(argument, cursor)
            start = found if found >= 0 else cursor
            cursor = start + len(argument)
            words.append(_word_from_value(instruction, argument, start, start + len(argument)))
        return words
    scan = _Scanner(instruction.value, instruction.variables, lambda s, e: instruction.source_span(s, e), 0)
    for command in scan.run():
        words.extend(command.words)
    return words


def _word_from_value(instruction: Instruction, text: str, start: int, end: int) -> ShellWord:
    span = instruction.source_span(start, end)
    at = instruction.value_offsets[start] if start < len(instruction.value_offsets) else 0
    written = instruction.text[span[0] : span[1]] if span else ""
    return ShellWord(text=_expand_text(text, instruction), written=written, span=span, at=at)


def _is_git_url(text: str) -> bool:
    base = text.split("#", 1)[0]
    if base.startswith(("git@", "git://")):
        return True
    return _URL.match(base) is not None and base.endswith(".git")


def _looks_like_tag(ref: str) -> bool:
    # Release tags carry a number (v1.2.3, jq-1.7.1, 2024.01); branch names
    # (main, master, develop, stable) rarely do.
    return any(char.isdigit() for char in ref)


# --- the shell scanner -----------------------------------------------------------------------------------------------

# Maps a (start, end) of the scanned source to a span in the instruction's text.
_SpanMap = Callable[[int, int], tuple[int, int] | None]


@dataclass
class _Command:
    """One simple command as the scanner found it."""

    words: list[ShellWord]
    redirects: list[tuple[str, ShellWord]]
    before: str  # the operator before it ("" at the start of a list)
    after: str  # the operator after it ("" at the end)
    end: int | None  # offset in the instruction's text after its last word
    nested: bool = False  # inside $(...), `...` or <(...)
    enclosing: _Command | None = None  # the command whose word holds this substitution


_SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "busybox"})
_INTERPRETERS = _SHELLS | frozenset({"python", "python2", "python3", "perl", "ruby", "node", "php", "source", "."})


class _Scanner:
    """A shell tokenizer good enough to find commands and their words.

    Handles quotes, escapes, line continuations, comments, `&&`, `||`, `;`,
    `|`, `&`, newlines, subshells, redirections (and skips nested heredoc
    bodies), `$(...)`, backticks and `<(...)` (scanned as commands of their
    own), and substitutes known ARG/ENV references, splitting unquoted ones.
    """

    def __init__(self, source: str, variables: Mapping[str, str | None], span_map: _SpanMap | None, fallback_at: int):
        self.source = source
        self.variables = variables
        self.span_map = span_map
        self.fallback_at = fallback_at
        self.commands: list[_Command] = []

    def run(self) -> list[_Command]:
        self._scan(0, len(self.source), nested=False)
        return self.commands

    def _scan(self, begin: int, end: int, nested: bool) -> None:
        """Append the commands of `source[begin:end]`; `nested` marks the inside of a substitution."""
        source = self.source
        words: list[ShellWord] = []
        redirects: list[tuple[str, ShellWord]] = []
        inner: list[_Command] = []
        pending_redirect = ""
        pending_heredocs: list[tuple[str, bool]] = []
        before = ""
        last_end: int | None = None
        state = _WordState()

        def finish_word(at_end: int) -> None:
            nonlocal pending_redirect, last_end
            if not state.started:
                return
            for word in state.build(source, at_end, self):
                if pending_redirect:
                    redirects.append((pending_redirect, word))
                    if pending_redirect in ("<<", "<<-"):
                        pending_heredocs.append((word.text, pending_redirect == "<<-"))
                    pending_redirect = ""
                else:
                    words.append(word)
            last_end = self._map_end(at_end)
            state.reset()

        def finish_command(operator: str, at: int) -> None:
            nonlocal before, words, redirects, inner, last_end
            finish_word(at)
            if words or redirects:
                command = _Command(words, redirects, before, operator, last_end, nested=nested)
                for child in inner:
                    child.enclosing = command
                self.commands.append(command)
            before = operator
            words, redirects, inner = [], [], []
            last_end = None

        i = begin
        while i < end:
            char = source[i]
            if char == "\\":
                if i + 1 < end and source[i + 1] == "\n":
                    i += 2
                    continue
                state.start(i)
                if i + 1 < end:
                    state.add_literal(source[i + 1])
                i += 2
                continue
            if char == "'":
                state.start(i)
                close = source.find("'", i + 1, end)
                close = end if close < 0 else close
                state.add_literal(source[i + 1 : close])
                state.quoted = True
                i = close + 1
                continue
            if char == '"':
                state.start(i)
                state.quoted = True
                i = self._double_quoted(i + 1, end, state, inner)
                continue
            if char == "$":
                state.start(i)
                i = self._dollar(i, end, state, inner, quoted=False)
                continue
            if char == "`":
                state.start(i)
                close = _closing_backtick(source, i + 1, end)
                inner.extend(self._nested(i + 1, close))
                state.add_unknown(source[i : close + 1])
                i = close + 1
                continue
            if char == "#" and not state.started:
                newline = source.find("\n", i, end)
                i = end if newline < 0 else newline
                continue
            if char == "\n":
                finish_command("\n", i)
                i += 1
                for delimiter, strip_tabs in pending_heredocs:
                    i = _skip_heredoc(source, i, end, delimiter, strip_tabs)
                pending_heredocs.clear()
                continue
            if char in " \t\r":
                finish_word(i)
                i += 1
                continue
            if char == "<" and source.startswith("<(", i):
                state.start(i)
                close = _closing_paren(source, i + 2, end)
                inner.extend(self._nested(i + 2, close))
                state.add_unknown(source[i : close + 1])
                i = close + 1
                continue
            operator = _operator_at(source, i, end)
            if operator:
                if operator[0] in "<>" or operator in ("&>", "&>>"):
                    if state.started and state.is_fd_number():
                        state.reset()  # "2>" : the 2 is a file descriptor, not a word
                    finish_word(i)
                    pending_redirect = operator
                else:
                    finish_command(operator, i)
                i += len(operator)
                continue
            state.start(i)
            state.add_literal(char)
            i += 1
        finish_command("", end)

    def _map_end(self, at_end: int) -> int | None:
        if self.span_map is None:
            return None
        mapped = self.span_map(max(0, at_end - 1), at_end)
        return mapped[1] if mapped else None

    def _nested(self, begin: int, end: int) -> list[_Command]:
        before = len(self.commands)
        self._scan(begin, end, nested=True)
        found = self.commands[before:]
        return found

    def _double_quoted(self, i: int, end: int, state: _WordState, inner: list[_Command]) -> int:
        source = self.source
        while i < end:
            char = source[i]
            if char == '"':
                return i + 1
            if char == "\\" and i + 1 < end:
                if source[i + 1] == "\n":
                    i += 2
                    continue
                state.add_literal(source[i + 1] if source[i + 1] in '$`"\\' else source[i : i + 2])
                i += 2
                continue
            if char == "$":
                i = self._dollar(i, end, state, inner, quoted=True)
                continue
            if char == "`":
                close = _closing_backtick(source, i + 1, end)
                inner.extend(self._nested(i + 1, close))
                state.add_unknown(source[i : close + 1])
                i = close + 1
                continue
            state.add_literal(char)
            i += 1
        return end

    def _dollar(self, i: int, end: int, state: _WordState, inner: list[_Command], quoted: bool) -> int:
        source = self.source
        if source.startswith("$((", i):
            close = _closing_paren(source, i + 3, end)
            close = _closing_paren(source, close + 1, end) if close + 1 < end and source[close + 1] == ")" else close
            state.add_unknown(source[i : close + 1])
            return close + 1
        if source.startswith("$(", i):
            close = _closing_paren(source, i + 2, end)
            inner.extend(self._nested(i + 2, close))
            state.add_unknown(source[i : close + 1])
            return close + 1
        value, after = expand_reference(source[:end], i, self.variables)
        if after <= i + 1 and value is None:
            # "$" followed by nothing nameable: "$$", "$1", "$@", a lone "$".
            if i + 1 < end and (source[i + 1] in "$@*#?!-" or source[i + 1].isdigit()):
                state.add_unknown(source[i : i + 2])
                return i + 2
            state.add_literal("$")
            return i + 1
        if value is None:
            state.add_unknown(source[i:after])
        else:
            state.add_value(value, split=not quoted)
        return after


@dataclass
class _WordState:
    """The word being read: its pieces so far and what they say about it."""

    started: bool = False
    begin: int = 0
    text: str = ""
    done: list[str] = field(default_factory=list)
    literal: bool = True
    resolved: bool = True
    quoted: bool = False

    def start(self, at: int) -> None:
        if not self.started:
            self.started = True
            self.begin = at

    def reset(self) -> None:
        self.started = False
        self.text = ""
        self.done = []
        self.literal = True
        self.resolved = True
        self.quoted = False

    def is_fd_number(self) -> bool:
        return not self.done and self.literal and not self.quoted and self.text.isdigit()

    def add_literal(self, text: str) -> None:
        self.text += text

    def add_unknown(self, written: str) -> None:
        self.text += written
        self.literal = False
        self.resolved = False

    def add_value(self, value: str, split: bool) -> None:
        self.literal = False
        if not split or not any(char.isspace() for char in value):
            self.text += value
            return
        fields = value.split()
        if value[0].isspace() and (self.text or self.quoted):
            self.done.append(self.text)
            self.text = ""
        for piece in fields[:-1]:
            self.done.append(self.text + piece)
            self.text = ""
        self.text += fields[-1] if fields else ""
        if value[-1].isspace():
            self.done.append(self.text)
            self.text = ""

    def build(self, source: str, end: int, scanner: _Scanner) -> list[ShellWord]:
        # An unquoted expansion to nothing is no word at all, as in the shell.
        texts = [text for text in [*self.done, self.text] if text or self.quoted]
        span = scanner.span_map(self.begin, end) if scanner.span_map is not None else None
        at = span[0] if span else scanner.fallback_at
        if span is None and scanner.span_map is not None:
            first = scanner.span_map(self.begin, self.begin + 1)
            at = first[0] if first else at
        written = source[self.begin : end]
        editable = span is not None and len(texts) == 1
        return [
            ShellWord(
                text=text,
                written=written if editable else "",
                span=span if editable else None,
                at=at,
                resolved=self.resolved,
            )
            for text in texts
        ]


# Longest first, so that "&&" is not read as two "&".
_OPERATORS = (
    "&&",
    "||",
    ";;",
    "|&",
    "&>>",
    "&>",
    ">>",
    ">&",
    "<&",
    "<>",
    ">|",
    "<<<",
    "<<-",
    "<<",
    ";",
    "|",
    "&",
    "(",
    ")",
    ">",
    "<",
)


def _operator_at(source: str, i: int, end: int) -> str:
    for operator in _OPERATORS:
        if source.startswith(operator, i) and i + len(operator) <= end:
            return operator
    return ""


def _closing_paren(source: str, i: int, end: int) -> int:
    depth = 1
    quote = ""
    while i < end:
        char = source[i]
        if char == "\\" and quote != "'":
            i += 2
            continue
        if char in "'\"" and (not quote or quote == char):
            quote = "" if quote else char
        elif not quote and char == "(":
            depth += 1
        elif not quote and char == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return end


def _closing_backtick(source: str, i: int, end: int) -> int:
    while i < end:
        if source[i] == "\\":
            i += 2
            continue
        if source[i] == "`":
            return i
        i += 1
    return end


def _skip_heredoc(source: str, i: int, end: int, delimiter: str, strip_tabs: bool) -> int:
    while i < end:
        newline = source.find("\n", i, end)
        line_end = end if newline < 0 else newline
        line = source[i:line_end]
        i = line_end + 1
        if (line.lstrip("\t") if strip_tabs else line) == delimiter:
            break
    return min(i, end)


# --- RUN -------------------------------------------------------------------------------------------------------------


@dataclass
class _Simple:
    """A simple command with its prefixes (assignments, sudo, env...) taken off."""

    program: str  # basename of the program
    args: list[ShellWord]
    words: list[ShellWord]  # program word first
    assignments: dict[str, str]
    command: _Command


def _names(text: str) -> frozenset[str]:
    """A set of option or keyword names written as one whitespace-separated block."""
    return frozenset(text.split())


_PREFIX_KEYWORDS = _names(
    """
    ! { } ( then do else elif if while until time exec command nohup builtin
    """
)
_SKIP_KEYWORDS = frozenset({"for", "case", "select", "function", "fi", "done", "esac"})
_WRAPPER_OPTIONS: dict[str, frozenset[str]] = {
    "sudo": frozenset("ugCDhprtUT"),
    "env": frozenset("uSC"),
    "nice": frozenset("n"),
    "timeout": frozenset("sk"),
    "xargs": frozenset("nILPdEsa"),
    "stdbuf": frozenset("ioe"),
    "retry": frozenset("tdm"),
}


class _RunScan:
    """The risks in one RUN instruction: its command and its shell heredocs."""

    def __init__(self, dockerfile: Dockerfile, stage: Stage, instruction: Instruction):
        self.dockerfile = dockerfile
        self.stage = stage
        self.instruction = instruction
        self.simples: list[_Simple] = []

    def sites(self) -> list[RiskSite]:
        instruction = self.instruction
        commands = self._commands()
        self.simples = [simple for command in commands for simple in self._simple(command)]
        found: list[RiskSite] = []
        for simple in self.simples:
            handler = _HANDLERS.get(_handler_name(simple.program))
            if handler is not None:
                found.extend(handler(self, simple))
        found.extend(self._fetch_sites())
        found.extend(self._git_sites())
        found.extend(self._model_sites())
        return [site for site in found if site.instruction is instruction]

    def _commands(self) -> list[_Command]:
        instruction = self.instruction
        arguments = exec_form(instruction.value)
        if arguments is not None:
            # No shell reads an exec-form RUN: no variable is expanded, no word can be edited in place.
            at = instruction.value_offsets[0] if instruction.value_offsets else 0
            return [_Command([ShellWord(argument, "", None, at) for argument in arguments], [], "", "", None)]
        scanner = _Scanner(instruction.value, instruction.variables, instruction.source_span, 0)
        commands = scanner.run()
        for heredoc in instruction.heredocs:
            if not self._is_shell_heredoc(commands, heredoc.delimiter, heredoc.body):
                continue
            start = heredoc.span[0]
            source = instruction.text[heredoc.span[0] : heredoc.span[1]]
            variables = {} if heredoc.quoted else instruction.variables

            def body_span(begin: int, end: int, start: int = start) -> tuple[int, int]:
                return start + begin, start + end

            commands.extend(_Scanner(source, variables, body_span, start).run())
        return commands

    @staticmethod
    def _is_shell_heredoc(commands: list[_Command], delimiter: str, body: str) -> bool:
        shebang = body.split("\n", 1)[0]
        if shebang.startswith("#!"):
            interpreter = shebang[2:].split() or ["sh"]
            if os.path.basename(interpreter[0]) == "env" and len(interpreter) > 1:
                interpreter = interpreter[1:]  # "#!/usr/bin/env python3"
            if os.path.basename(interpreter[0]) not in _SHELLS:
                return False
        for command in commands:
            for operator, target in command.redirects:
                if operator in ("<<", "<<-") and target.text == delimiter:
                    if not command.words:
                        return True  # `RUN <<EOF`: the body is the script
                    return os.path.basename(command.words[0].text) in _SHELLS
        return True

    def _simple(self, command: _Command, depth: int = 0) -> Iterator[_Simple]:
        words = list(command.words)
        assignments: dict[str, str] = {}
        i = 0
        while i < len(words):
            text = words[i].text
            assignment = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", text, re.DOTALL)
            if assignment is not None:
                assignments[assignment.group(1)] = assignment.group(2)
                i += 1
                continue
            if text in _PREFIX_KEYWORDS:
                i += 1
                continue
            if text in _SKIP_KEYWORDS:
                return
            program = os.path.basename(text)
            if program in _WRAPPER_OPTIONS:
                i = _skip_wrapper(words, i + 1, _WRAPPER_OPTIONS[program], program)
                continue
            break
        if i >= len(words):
            return
        program = os.path.basename(words[i].text)
        args = words[i + 1 :]
        if re.fullmatch(r"python[0-9.]*", program):
            module = next((index for index, word in enumerate(args[:-1]) if word.text == "-m"), None)
            if module is None or not re.fullmatch(r"pip[0-9.]*", args[module + 1].text):
                return
            program, args = "pip", args[module + 2 :]
        script = _shell_script(program, args)
        if script is not None and depth < 3:
            if script.resolved:
                # `sh -c "..."`: the script's words have no place of their own in the text.
                nested = _Scanner(script.text, self.instruction.variables, None, script.at).run()
                for inner in nested:
                    yield from self._simple(inner, depth + 1)
            return
        yield _Simple(program, args, words[i:], assignments, command)

    # -- fetches and clones, which need the whole RUN to judge ---------------------------------------------------

    def _fetch_sites(self) -> list[RiskSite]:
        fetches = [fetch for simple in self.simples for fetch in _fetches(simple)]
        downloaded = {os.path.basename(fetch.output) for fetch in fetches if fetch.output}
        verified = any(_is_pinned_check(simple, downloaded) for simple in self.simples)
        sites: list[RiskSite] = []
        for fetch in fetches:
            url = fetch.url.text
            if _is_checksum_file(url):
                continue
            piped = _piped_into_interpreter(fetch.simple, self.simples)
            if verified and fetch.output and not piped:
                continue
            rule = "DRIFT303" if _is_moving_url(url) else "DRIFT304" if piped else "DRIFT302"
            command = fetch.simple.command
            standalone = command.after in ("&&", "") and command.before not in ("|", "|&") and not command.nested
            command_end = command.end if standalone else None
            sites.append(
                self.site(rule, url, fetch.url, "url", url, fetch.simple, command_end=command_end, output=fetch.output)
            )
        return sites

    def _git_sites(self) -> list[RiskSite]:
        sites: list[RiskSite] = []
        clones = [(index, simple) for index, simple in enumerate(self.simples) if _git_subcommand(simple)[0] == "clone"]
        for position, (index, simple) in enumerate(clones):
            _, args = _git_subcommand(simple)
            options, operands = _options(args, short="bocju", long=_GIT_CLONE_VALUES)
            if not operands:
                continue
            repository = operands[0]
            following = clones[position + 1][0] if position + 1 < len(clones) else len(self.simples)
            refs = [ref for later in self.simples[index + 1 : following] for ref in _checkout_refs(later)]
            branch = _option_value(options, "b", "branch")
            if any(_HEX_REF.match(ref) for ref in refs):
                continue
            ref = refs[-1] if refs else branch
            if not repository.resolved and not _URL.match(repository.text):
                continue
            rule = "DRIFT312" if ref and _looks_like_tag(ref) else "DRIFT311"
            sites.append(self.site(rule, repository.text, repository, "git", repository.text, simple))
        return sites

    def _model_sites(self) -> list[RiskSite]:
        """Model hub downloads in Python code anywhere in the RUN (`python -c`, heredocs) without a revision."""
        instruction = self.instruction
        text = instruction.text
        sites: list[RiskSite] = []
        for call in _MODEL_CALL.finditer(text):
            arguments = text[call.end() : _call_end(text, call.end())]
            if _REVISION_ARGUMENT.search(arguments):
                continue
            model = _MODEL_NAME.search(arguments)
            subject = model.group(1) if model else call.group(1)
            line = instruction.line_of(call.start(1))
            sites.append(_site("DRIFT321", self.stage, instruction, subject, line, "model", subject))
        return sites

    def site(
        self,
        rule: str,
        subject: str,
        word: ShellWord,
        ecosystem: str,
        name: str,
        simple: _Simple,
        command_end: int | None = None,
        output: str | None = None,
    ) -> RiskSite:
        """A risk found in this RUN at `word`."""
        return _site(
            rule,
            self.stage,
            self.instruction,
            subject,
            self.instruction.line_of(word.at),
            ecosystem,
            name,
            word=word,
            command=tuple(simple.words),
            command_end=command_end,
            output=output,
        )

    def scope(self, name: str, simple: _Simple) -> str | None:
        """A variable's value for the command: its own prefix assignments, then ARG/ENV."""
        if name in simple.assignments:
            return simple.assignments[name]
        value = self.instruction.variables.get(name)
        return value


_MODEL_CALL = re.compile(r"\b(snapshot_download|hf_hub_download|from_pretrained)\s*\(")
_REVISION_ARGUMENT = re.compile(r"\brevision\s*=")
# The first string argument, or repo_id=: "gpt2", 'org/model-name' (quotes possibly shell-escaped).
_MODEL_NAME = re.compile(r"^\s*(?:repo_id\s*=\s*)?\\?[\"']([\w.\-]+(?:/[\w.\-]+)?)\\?[\"']")


def _call_end(text: str, start: int) -> int:
    """The offset of the parenthesis closing a call whose arguments start at `start` (or the end of the text)."""
    depth = 1
    for position in range(start, len(text)):
        if text[position] == "(":
            depth += 1
        elif text[position] == ")":
            depth -= 1
            if depth == 0:
                return position
    return len(text)


def _handler_name(program: str) -> str:
    if re.fullmatch(r"pip[0-9.]*", program):
        return "pip"
    return program


def _skip_wrapper(words: list[ShellWord], i: int, with_value: frozenset[str], program: str) -> int:
    while i < len(words):
        text = words[i].text
        if program == "env" and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", text):
            i += 1
            continue
        if text == "--":
            return i + 1
        if text.startswith("-") and len(text) > 1:
            takes_value = not text.startswith("--") and text[-1] in with_value
            i += 2 if takes_value else 1
            continue
        if program in ("timeout", "nice") and re.fullmatch(r"[0-9.]+[smhd]?", text):
            i += 1
            continue
        return i
    return i


def _shell_script(program: str, args: list[ShellWord]) -> ShellWord | None:
    """The script word of `sh -c SCRIPT` / `bash -lc SCRIPT`, or None."""
    if program not in _SHELLS:
        return None
    for index, word in enumerate(args):
        if word.text.startswith("-") and not word.text.startswith("--") and "c" in word.text[1:]:
            return args[index + 1] if index + 1 < len(args) else None
        if not word.text.startswith("-"):
            return None
    return None


def _options(
    args: Sequence[ShellWord], short: str = "", long: frozenset[str] = frozenset()
) -> tuple[list[tuple[str, ShellWord | None]], list[ShellWord]]:
    """getopt-style split: (option name, value word) pairs and operands.

    `short` lists the one-letter options that take a value ("-o VALUE",
    "-oVALUE", bundled "-qO-"); `long` the long ones ("--name VALUE" or
    "--name=VALUE"). Everything after "--" is an operand.
    """
    options: list[tuple[str, ShellWord | None]] = []
    operands: list[ShellWord] = []
    i = 0
    while i < len(args):
        word = args[i]
        text = word.text
        if text == "--":
            operands.extend(args[i + 1 :])
            break
        if text.startswith("--") and len(text) > 2:
            name, has_value, value = text[2:].partition("=")
            if has_value:
                options.append((name, ShellWord(value, "", None, word.at, word.resolved)))
            elif name in long and i + 1 < len(args):
                options.append((name, args[i + 1]))
                i += 1
            else:
                options.append((name, None))
        elif text.startswith("-") and len(text) > 1 and not text[1].isdigit():
            for position in range(1, len(text)):
                letter = text[position]
                if letter in short:
                    rest = text[position + 1 :]
                    if rest:
                        options.append((letter, ShellWord(rest, "", None, word.at, word.resolved)))
                    elif i + 1 < len(args):
                        options.append((letter, args[i + 1]))
                        i += 1
                    else:
                        options.append((letter, None))
                    break
                options.append((letter, None))
        else:
            operands.append(word)
        i += 1
    return options, operands


def _option_value(options: list[tuple[str, ShellWord | None]], *names: str) -> str | None:
    value: str | None = None
    for name, word in options:
        if name in names:
            value = word.text if word is not None else ""
    return value


def _has_option(options: list[tuple[str, ShellWord | None]], *names: str) -> bool:
    return any(name in names for name, _ in options)


# --- package managers ------------------------------------------------------------------------------------------------

_APT_LONG = frozenset({"option", "config-file", "target-release", "default-release", "host-architecture", "arch-only"})
_APT_UPGRADES = frozenset({"upgrade", "dist-upgrade", "full-upgrade"})


def _apt(scan: _RunScan, simple: _Simple) -> Iterator[RiskSite]:
    _, operands = _options(simple.args, short="octa", long=_APT_LONG)
    if not operands:
        return
    subcommand = operands[0].text
    if subcommand in _APT_UPGRADES:
        yield scan.site("DRIFT102", f"{simple.program} {subcommand}", operands[0], "deb", "", simple)
        return
    if subcommand not in {"install", "reinstall"}:
        return
    for word in operands[1:]:
        text = word.text
        if not word.resolved or not text or text.endswith("-") or text.startswith((".", "/")) or text.endswith(".deb"):
            continue
        name, has_version, version = text.rstrip("+").partition("=")
        name = name.split("/", 1)[0].split(":", 1)[0]
        if has_version and version and not any(char in version for char in "*?["):
            continue
        yield scan.site("DRIFT101", name, word, "deb", name, simple)


_APK_LONG = _names(
    """
    virtual repository root arch cache-dir keys-dir repositories-file timeout wait cache-max-age
    """
)
_APK_PIN = re.compile(r"^(=|~=?)[^<>=~]+$")


def _apk(scan: _RunScan, simple: _Simple) -> Iterator[RiskSite]:
    _, operands = _options(simple.args, short="tXp", long=_APK_LONG)
    if not operands:
        return
    subcommand = operands[0].text
    if subcommand == "upgrade":
        yield scan.site("DRIFT112", "apk upgrade", operands[0], "apk", "", simple)
        return
    if subcommand != "add":
        return
    for word in operands[1:]:
        text = word.text
        if not word.resolved or not text or text.startswith((".", "/")) or text.endswith(".apk"):
            continue
        match = re.match(r"^([^=<>~]+)(.*)$", text)
        if match is None:
            continue
        name = match.group(1).split("@", 1)[0]
        if _APK_PIN.match(match.group(2)) and not any(char in match.group(2) for char in "*?"):
            continue
        yield scan.site("DRIFT111", name, word, "apk", name, simple)


_RPM_LONG = _names(
    """
    setopt exclude enablerepo disablerepo repo repoid repofrompath installroot releasever config
    forcearch rpmverbosity color downloaddir destdir comment advisory bz cve sec-severity secseverity
    nobest
    """
)
_RPM_INSTALLS = frozenset({"install", "reinstall", "localinstall", "groupinstall", "in"})
_RPM_UPDATES = frozenset({"update", "upgrade", "up", "distro-sync", "dsync", "upgrade-minimal", "update-minimal"})


def _rpm(scan: _RunScan, simple: _Simple) -> Iterator[RiskSite]:
    _, operands = _options(simple.args, short="xcdeR", long=_RPM_LONG)
    if not operands:
        return
    subcommand = operands[0].text
    packages = operands[1:]
    if subcommand in {"group", "groups"} and packages and packages[0].text in {"install", "mark"}:
        subcommand, packages = "groupinstall", [word for word in packages[1:]]
    if subcommand in _RPM_UPDATES and not packages:
        yield scan.site("DRIFT122", f"{simple.program} {subcommand}", operands[0], "rpm", "", simple)
        return
    if subcommand not in _RPM_INSTALLS and subcommand not in _RPM_UPDATES:
        return
    for word in packages:
        text = word.text
        local = text.startswith((".", "/")) or (text.endswith(".rpm") and not _URL.match(text))
        if not word.resolved or not text or local:
            continue
        if subcommand == "groupinstall" and not text.startswith("@"):
            text = "@" + text
        if not text.startswith("@") and not _URL.match(text) and _rpm_is_versioned(text):
            continue
        yield scan.site("DRIFT121", text, word, "rpm", text, simple)


def _rpm_is_versioned(package: str) -> bool:
    # name-version[-release]: the last "-" part starts with a digit (curl-7.76.1,
    # curl-7.76.1-26.el9, python3-3.9.18); java-17-openjdk is a name.
    parts = package.split("-")
    return len(parts) > 1 and parts[-1][:1].isdigit() and bool(parts[0])


_PIP_LONG = _names(
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


def _pip(scan: _RunScan, simple: _Simple) -> Iterator[RiskSite]:
    args = simple.args
    if simple.program == "uv":
        if not args or args[0].text != "pip":
            return
        args = args[1:]
    options, operands = _options(args, short="rceitfC", long=_PIP_LONG)
    if not operands or operands[0].text != "install":
        return
    require_hashes = _has_option(options, "require-hashes") or _truthy(scan.scope("PIP_REQUIRE_HASHES", simple))
    constrained = _has_option(options, "c", "constraint") or bool(scan.scope("PIP_CONSTRAINT", simple))
    for name, value in options:
        if name in ("r", "requirement") and value is not None and not require_hashes:
            yield scan.site("DRIFT202", value.text, value, "pypi", value.text, simple)
        if name in ("e", "editable") and value is not None:
            yield from _pip_requirement(scan, simple, value, constrained)
    for word in operands[1:]:
        yield from _pip_requirement(scan, simple, word, constrained)


def _pip_requirement(scan: _RunScan, simple: _Simple, word: ShellWord, constrained: bool) -> Iterator[RiskSite]:
    text = word.text.strip()
    if not word.resolved or not text or text.startswith((".", "/", "~", "file:")):
        return
    direct = text.split(" @ ", 1)[1].strip() if " @ " in text else text
    if "://" in direct or _VCS.match(direct):
        if _pip_url_is_pinned(direct):
            return
        yield scan.site("DRIFT203", direct, word, "pypi", direct, simple)
        return
    if re.search(r"\.(whl|tar\.gz|zip|tgz)$", text):
        return  # a local archive
    match = _REQUIREMENT.match(text.split(";", 1)[0].strip())
    if match is None:
        return
    name, specifier = match.group(1), match.group(3).strip()
    if re.fullmatch(r"===?\s*[^,*\s]+", specifier) or constrained:
        return
    yield scan.site("DRIFT201", name, word, "pypi", name, simple)


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


_NPM_INSTALLS = frozenset(
    {"install", "i", "add", "in", "ins", "inst", "insta", "instal", "isnt", "isnta", "isntal", "isntall"}
)
_NPM_LONG = _names(
    """
    prefix registry cache workspace loglevel omit include tag userconfig location install-strategy
    network-timeout modules-folder cwd filter
    """
)
_EXACT_SEMVER = re.compile(r"^[=v]?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


def _npm(scan: _RunScan, simple: _Simple) -> Iterator[RiskSite]:
    options, operands = _options(simple.args, short="wC", long=_NPM_LONG)
    program = simple.program
    if program == "yarn" and operands and operands[0].text == "global":
        operands = operands[1:]
    subcommand = operands[0].text if operands else ("install" if program == "yarn" else "")
    packages = operands[1:]
    frozen = _has_option(options, "frozen-lockfile", "immutable", "ci")
    if program == "npm" and subcommand in {"update", "up", "upgrade"}:
        yield scan.site("DRIFT212", "npm update", operands[0], "npm", "", simple)
        return
    if subcommand not in _NPM_INSTALLS:
        return
    if not packages and not _has_option(options, "g", "global"):
        if not frozen and (program != "yarn" or subcommand == "install"):
            word = operands[0] if operands else simple.words[0]
            yield scan.site("DRIFT212", f"{program} {subcommand}", word, "npm", "", simple)
        return
    if program == "yarn" and subcommand == "install":
        return  # yarn install takes no package names
    for word in packages:
        name, exact = _npm_spec(word.text)
        if not word.resolved or name is None or exact:
            continue
        yield scan.site("DRIFT211", name, word, "npm", name, simple)


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
        return spec.split("#", 1)[0], bool(_HEX_REF.match(ref))
    scoped = spec.startswith("@")
    name, _, version = spec[1:].partition("@") if scoped else spec.partition("@")
    name = "@" + name if scoped else name
    if version.startswith("npm:"):  # an alias: name@npm:real@1.2.3
        real, exact = _npm_spec(version[4:])
        return (name if real is not None else None), exact
    return name, bool(_EXACT_SEMVER.match(version))


_GEM_LONG = frozenset({"version", "install-dir", "bindir", "source", "trust-policy", "platform", "file", "document"})


def _gem(scan: _RunScan, simple: _Simple) -> Iterator[RiskSite]:
    options, operands = _options(simple.args, short="vinsPg", long=_GEM_LONG)
    if not operands:
        return
    subcommand = operands[0].text
    version = _option_value(options, "v", "version")
    if subcommand == "update":
        if _has_option(options, "system") and not operands[1:]:
            yield scan.site("DRIFT221", "rubygems-update", operands[0], "gem", "rubygems-update", simple)
        return
    if subcommand != "install":
        return
    for word in operands[1:]:
        name, _, inline = word.text.partition(":")
        if not word.resolved or not name or name.endswith(".gem") or name.startswith((".", "/")):
            continue
        pinned = inline or version or ""
        if re.fullmatch(r"=?\s*\d+(\.[0-9A-Za-z]+)*", pinned.strip()):
            continue
        yield scan.site("DRIFT221", name, word, "gem", name, simple)


_GO_VALUE_FLAGS = _names(
    """
    ldflags tags gcflags asmflags mod modfile o p pkgdir buildmode compiler gccgoflags installsuffix
    overlay toolexec C exec pgo covermode coverpkg
    """
)
_GO_PINNED = re.compile(r"^(v\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]+)?|[0-9a-fA-F]{7,40})$")


def _go(scan: _RunScan, simple: _Simple) -> Iterator[RiskSite]:
    args = simple.args
    if not args or args[0].text not in {"install", "get"}:
        return
    subcommand = args[0].text
    packages: list[ShellWord] = []
    upgrade = False
    i = 1
    while i < len(args):
        text = args[i].text
        if text.startswith("-") and len(text) > 1:
            name, has_value, _ = text.lstrip("-").partition("=")
            upgrade = upgrade or name.startswith("u")
            i += 2 if name in _GO_VALUE_FLAGS and not has_value else 1
            continue
        packages.append(args[i])
        i += 1
    if subcommand == "get" and upgrade:
        # -u upgrades every dependency of the named packages, local ones included.
        word = packages[0] if packages else args[0]
        subject = packages[0].text if packages else "."
        yield scan.site("DRIFT231", subject, word, "golang", subject, simple)
        return
    for word in packages:
        path, has_version, version = word.text.partition("@")
        if not word.resolved or path.startswith((".", "/")) or "." not in path.split("/", 1)[0]:
            continue  # a package of the module being built, or the standard library
        if has_version and (_GO_PINNED.match(version) or version == "none"):
            continue
        if not has_version and subcommand == "install":
            continue  # the version comes from the module's go.mod
        yield scan.site("DRIFT231", path, word, "golang", path, simple)


_CARGO_LONG = _names(
    """
    version vers git branch tag rev path root index registry features jobs target target-dir profile bin
    example config color
    """
)


def _cargo(scan: _RunScan, simple: _Simple) -> Iterator[RiskSite]:
    args = simple.args
    if not args or args[0].text != "install":
        return
    options, operands = _options(args[1:], short="FjZ", long=_CARGO_LONG)
    locked = _has_option(options, "locked", "frozen")
    version = _option_value(options, "version", "vers")
    git = next((word for name, word in options if name == "git" and word is not None), None)
    path = next((word for name, word in options if name == "path" and word is not None), None)
    subjects: list[ShellWord] = list(operands)
    if git is not None:
        rev = _option_value(options, "rev") or ""
        if not _HEX_REF.match(rev) and _option_value(options, "tag") is None:
            yield scan.site("DRIFT241", git.text, git, "cargo", git.text, simple)
        subjects = subjects or [git]
    elif path is not None:
        subjects = subjects or [path]
    else:
        for word in operands:
            name, _, inline = word.text.partition("@")
            pinned = (inline or version or "").strip()
            if word.resolved and not re.fullmatch(r"=?\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]+)?", pinned):
                yield scan.site("DRIFT241", name, word, "cargo", name, simple)
    if not locked:
        for word in subjects:
            name = word.text.partition("@")[0]
            yield scan.site("DRIFT242", name, word, "cargo", name, simple)


def _huggingface_cli(scan: _RunScan, simple: _Simple) -> Iterator[RiskSite]:
    options, operands = _options(simple.args, long=_HF_DOWNLOAD_LONG)
    if len(operands) < 2 or operands[0].text != "download" or _has_option(options, "revision"):
        return
    model = operands[1]
    if model.resolved:
        yield scan.site("DRIFT321", model.text, model, "model", model.text, simple)


_HF_DOWNLOAD_LONG = _names(
    """
    revision repo-type include exclude local-dir cache-dir token max-workers
    """
)


_HANDLERS: dict[str, Callable[[_RunScan, _Simple], Iterator[RiskSite]]] = {
    "apt-get": _apt,
    "apt": _apt,
    "aptitude": _apt,
    "apk": _apk,
    "yum": _rpm,
    "dnf": _rpm,
    "dnf5": _rpm,
    "microdnf": _rpm,
    "tdnf": _rpm,
    "pip": _pip,
    "pipx": _pip,
    "uv": _pip,
    "npm": _npm,
    "yarn": _npm,
    "pnpm": _npm,
    "gem": _gem,
    "go": _go,
    "cargo": _cargo,
    "huggingface-cli": _huggingface_cli,
}


# --- curl, wget, git -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Fetch:
    simple: _Simple
    url: ShellWord
    output: str | None  # the file written; None for stdout


_CURL_SHORT = "oHdDuAeEKxXmwTbcrCyYzQtFUE"
_CURL_LONG = _names(
    """
    output header data data-raw data-binary data-urlencode user user-agent referer proxy request
    max-time write-out upload-file cookie cookie-jar range cacert capath cert key retry retry-delay
    retry-max-time connect-timeout proto proto-redir output-dir resolve interface limit-rate
    max-filesize form url config dump-header continue-at quote netrc-file tls-max ciphers connect-to
    dns-servers expect100-timeout speed-limit speed-time time-cond trace trace-ascii stderr max-redirs
    oauth2-bearer
    """
)
_WGET_SHORT = "OPoaitTUewQlARDXIB"
_WGET_LONG = _names(
    """
    output-document directory-prefix output-file append-output input-file tries timeout user-agent
    header post-data post-file execute wait user password http-user http-password quota level accept
    reject domains exclude-directories include-directories limit-rate ca-certificate ca-directory
    certificate private-key progress max-redirect base referer read-timeout connect-timeout dns-timeout
    waitretry bind-address load-cookies save-cookies method body-data body-file secure-protocol
    restrict-file-names
    """
)


def _fetches(simple: _Simple) -> list[_Fetch]:
    if simple.program == "curl":
        options, operands = _options(simple.args, short=_CURL_SHORT, long=_CURL_LONG)
        urls = [word for word in operands if _URL.match(word.text)]
        urls += [word for name, word in options if name == "url" and word is not None and _URL.match(word.text)]
        outputs = [word.text for name, word in options if name in ("o", "output") and word is not None]
        remote_name = _has_option(options, "O", "remote-name", "remote-name-all")
        directory = _option_value(options, "output-dir")
        redirected = _redirect_output(simple.command)
        fetches: list[_Fetch] = []
        for index, url in enumerate(urls):
            output: str | None = outputs[index] if index < len(outputs) else None
            if output is None and remote_name:
                output = _url_basename(url.text)
            if output == "-":
                output = None
            if output is not None and directory and not output.startswith("/"):
                output = f"{directory.rstrip('/')}/{output}"
            fetches.append(_Fetch(simple, url, output if output is not None else redirected))
        return fetches
    if simple.program == "wget":
        options, operands = _options(simple.args, short=_WGET_SHORT, long=_WGET_LONG)
        urls = [word for word in operands if _URL.match(word.text)]
        document = _option_value(options, "O", "output-document")
        prefix = _option_value(options, "P", "directory-prefix")
        fetches = []
        for url in urls:
            if document is not None:
                output = None if document == "-" else document
            else:
                output = _url_basename(url.text)
                if output and prefix:
                    output = f"{prefix.rstrip('/')}/{output}"
            fetches.append(_Fetch(simple, url, output if output is not None else _redirect_output(simple.command)))
        return fetches
    return []


def _redirect_output(command: _Command) -> str | None:
    for operator, target in command.redirects:
        if operator in (">", ">>", ">|", "&>") and target.text not in ("/dev/null", "/dev/stderr"):
            return target.text
    return None


def _url_basename(url: str) -> str | None:
    path = urlsplit(url).path
    name = path.rsplit("/", 1)[-1]
    return name or None


def _piped_into_interpreter(simple: _Simple, simples: list[_Simple]) -> bool:
    command = simple.command
    if command.after in ("|", "|&"):
        index = next(i for i, other in enumerate(simples) if other is simple)
        receiver = next(
            (
                other
                for other in simples[index + 1 :]
                if other.command.before in ("|", "|&") and other.command.nested == command.nested
            ),
            None,
        )
        if receiver is not None and receiver.program in _INTERPRETERS:
            return True
    enclosing = command.enclosing
    while enclosing is not None:
        program = _program_of(enclosing)
        if program in _INTERPRETERS:
            return True
        enclosing = enclosing.enclosing
    return False


def _program_of(command: _Command) -> str:
    for word in command.words:
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", word.text) or word.text in _PREFIX_KEYWORDS or word.text == "sudo":
            continue
        return os.path.basename(word.text)
    return ""


_CHECKERS = re.compile(r"^(sha(1|224|256|384|512)sum|md5sum|b2sum|shasum)$")


def _is_pinned_check(simple: _Simple, downloaded: set[str]) -> bool:
    """A checksum check against a value the Dockerfile holds (not a file fetched next to the artifact)."""
    if not _CHECKERS.match(simple.program):
        return False
    options, operands = _options(simple.args, short="a")
    if not _has_option(options, "c", "check"):
        return False
    files = [word.text for word in operands if word.text != "-"]
    if not files:
        return True  # reads the sums from stdin: echo "<sum>  file" | sha256sum -c -
    return all(os.path.basename(name) not in downloaded for name in files)


_CHECKSUM_FILE = re.compile(
    r"(\.(sha(1|256|512)(sum)?|md5|asc|sig|sign)|SHA(256|512)?SUMS(\.txt)?|SHASUMS256\.txt)$", re.IGNORECASE
)


def _is_checksum_file(url: str) -> bool:
    return bool(_CHECKSUM_FILE.search(urlsplit(url).path))


_MOVING = re.compile(r"latest|nightly|/(master|main|HEAD|trunk)/", re.IGNORECASE)


def _is_moving_url(url: str) -> bool:
    return bool(_MOVING.search(url))


_GIT_CLONE_VALUES = _names(
    """
    branch depth origin config reference reference-if-able separate-git-dir template jobs filter
    shallow-since shallow-exclude upload-pack bundle-uri server-option
    """
)


def _git_subcommand(simple: _Simple) -> tuple[str, list[ShellWord]]:
    if simple.program != "git":
        return "", []
    args = simple.args
    i = 0
    while i < len(args) and args[i].text.startswith("-"):
        i += 2 if args[i].text in ("-C", "-c") else 1
    if i >= len(args):
        return "", []
    return args[i].text, args[i + 1 :]


def _checkout_refs(simple: _Simple) -> list[str]:
    """The refs a `git checkout/switch/reset --hard/fetch` names."""
    subcommand, args = _git_subcommand(simple)
    if subcommand not in {"checkout", "switch", "reset", "fetch"}:
        return []
    _, operands = _options(args, short="bBc", long=frozenset({"depth", "orphan"}))
    if subcommand == "fetch":
        operands = operands[1:]  # the remote
    return [word.text.removeprefix("tags/").removeprefix("refs/tags/") for word in operands]
