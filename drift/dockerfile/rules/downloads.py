"""Downloads: ADD of a URL, and curl or wget in RUN.

    DRIFT301  ADD of a URL without --checksum                         network-fetch
    DRIFT302  curl/wget of a URL in RUN, no checksum verified         network-fetch
    DRIFT303  curl/wget of a moving URL ("latest", "nightly",
              /master/, /main/, /HEAD/)                               network-fetch
    DRIFT304  curl/wget output piped into a shell or interpreter      network-fetch

A fetch counts as verified, and is no risk, when the same RUN checks a
checksum the Dockerfile holds: `sha256sum -c` (sha1/384/512, md5, b2,
`shasum -c`) reading stdin (`echo "<sum>  file" | sha256sum -c -`) or a file
the RUN did not download. A checksum file fetched next to the artifact proves
integrity, not that the content is the one pinned, so it does not count;
`gpg --verify` does not either (a new signed release passes it). Checksum and
signature files themselves (`.sha256`, `.asc`, `SHA256SUMS`...) are not
reported. A fetch piped into a shell is never verified.

Compared with hadolint: DL3020 (use COPY instead of ADD for files) is a style
rule; the pinning concern for ADD is DRIFT301. DL4001 (use either wget or
curl, not both) is about consistency, not pinning; it is not covered.
hadolint has no rule for curl/wget or curl | sh: DRIFT302-304 are drift's own.
"""

from __future__ import annotations

import os.path
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from drift.dockerfile.model import Instruction, Stage
from drift.dockerfile.rules.commands import (
    PREFIX_KEYWORDS,
    URL,
    Run,
    SimpleCommand,
    has_option,
    option_names,
    option_value,
    split_options,
)
from drift.dockerfile.rules.git import is_git_url
from drift.dockerfile.rules.interface import RiskSite, Rule, RuleSet
from drift.dockerfile.shell import SHELLS, Command, ShellWord

ADD_WITHOUT_CHECKSUM = Rule(
    "DRIFT301",
    "network-fetch",
    "ADD fetches {subject} without a checksum",
    "add --checksum=sha256:<digest> (BuildKit), or download in RUN and check it with sha256sum -c",
)
UNVERIFIED_DOWNLOAD = Rule(
    "DRIFT302",
    "network-fetch",
    "RUN downloads {subject} without checking a pinned checksum",
    'check it: echo "<sha256>  <file>" | sha256sum -c -',
)
MOVING_URL = Rule(
    "DRIFT303",
    "network-fetch",
    "RUN downloads {subject}, a URL whose content moves by design",
    "download a fixed release URL and check its sha256",
)
PIPED_INTO_INTERPRETER = Rule(
    "DRIFT304",
    "network-fetch",
    "RUN pipes {subject} into a shell or interpreter unchecked",
    "download a fixed version to a file, check its sha256, then run it",
)


_INTERPRETERS = SHELLS | frozenset({"python", "python2", "python3", "perl", "ruby", "node", "php", "source", "."})


def _download_sites(run: Run) -> list[RiskSite]:
    """Every curl and wget of the RUN, unless the RUN checks what it fetched against a checksum it holds."""
    fetches = [fetch for simple in run.simples for fetch in _fetches(simple)]
    downloaded = {os.path.basename(fetch.output) for fetch in fetches if fetch.output}
    verified = any(_is_pinned_check(simple, downloaded) for simple in run.simples)
    sites: list[RiskSite] = []
    for fetch in fetches:
        url = fetch.url.text
        if _is_checksum_file(url):
            continue
        piped = _piped_into_interpreter(fetch.simple, run.simples)
        if verified and fetch.output and not piped:
            continue
        rule = MOVING_URL if _is_moving_url(url) else PIPED_INTO_INTERPRETER if piped else UNVERIFIED_DOWNLOAD
        command = fetch.simple.command
        standalone = command.after in ("&&", "") and command.before not in ("|", "|&") and not command.nested
        command_end = command.end if standalone else None
        sites.append(
            run.site(rule, url, fetch.url, "url", url, fetch.simple, command_end=command_end, output=fetch.output)
        )
    return sites


def _add_source_sites(stage: Stage, instruction: Instruction, word: ShellWord) -> list[RiskSite]:
    """ADD of a URL without --checksum; a git URL is git's (drift.dockerfile.rules.git)."""
    if is_git_url(word.text) or not URL.match(word.text) or "checksum" in instruction.flags:
        return []
    line = instruction.line_of(word.at)
    return [ADD_WITHOUT_CHECKSUM.site(stage, instruction, word.text, line, "url", word.text, word=word)]


@dataclass(frozen=True, slots=True)
class _Fetch:
    simple: SimpleCommand
    url: ShellWord
    output: str | None  # the file written; None for stdout


_CURL_SHORT = "oHdDuAeEKxXmwTbcrCyYzQtFUE"
_CURL_LONG = option_names(
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
_WGET_LONG = option_names(
    """
    output-document directory-prefix output-file append-output input-file tries timeout user-agent
    header post-data post-file execute wait user password http-user http-password quota level accept
    reject domains exclude-directories include-directories limit-rate ca-certificate ca-directory
    certificate private-key progress max-redirect base referer read-timeout connect-timeout dns-timeout
    waitretry bind-address load-cookies save-cookies method body-data body-file secure-protocol
    restrict-file-names
    """
)


def _fetches(simple: SimpleCommand) -> list[_Fetch]:
    if simple.program == "curl":
        options, operands = split_options(simple.args, short=_CURL_SHORT, long=_CURL_LONG)
        urls = [word for word in operands if URL.match(word.text)]
        urls += [word for name, word in options if name == "url" and word is not None and URL.match(word.text)]
        outputs = [word.text for name, word in options if name in ("o", "output") and word is not None]
        remote_name = has_option(options, "O", "remote-name", "remote-name-all")
        directory = option_value(options, "output-dir")
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
        options, operands = split_options(simple.args, short=_WGET_SHORT, long=_WGET_LONG)
        urls = [word for word in operands if URL.match(word.text)]
        document = option_value(options, "O", "output-document")
        prefix = option_value(options, "P", "directory-prefix")
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


def _redirect_output(command: Command) -> str | None:
    for operator, target in command.redirects:
        if operator in (">", ">>", ">|", "&>") and target.text not in ("/dev/null", "/dev/stderr"):
            return target.text
    return None


def _url_basename(url: str) -> str | None:
    path = urlsplit(url).path
    name = path.rsplit("/", 1)[-1]
    return name or None


def _piped_into_interpreter(simple: SimpleCommand, simples: list[SimpleCommand]) -> bool:
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


def _program_of(command: Command) -> str:
    for word in command.words:
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", word.text) or word.text in PREFIX_KEYWORDS or word.text == "sudo":
            continue
        return os.path.basename(word.text)
    return ""


_CHECKERS = re.compile(r"^(sha(1|224|256|384|512)sum|md5sum|b2sum|shasum)$")


def _is_pinned_check(simple: SimpleCommand, downloaded: set[str]) -> bool:
    """A checksum check against a value the Dockerfile holds (not a file fetched next to the artifact)."""
    if not _CHECKERS.match(simple.program):
        return False
    options, operands = split_options(simple.args, short="a")
    if not has_option(options, "c", "check"):
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


RULE_SET = RuleSet(
    rules=(ADD_WITHOUT_CHECKSUM, UNVERIFIED_DOWNLOAD, MOVING_URL, PIPED_INTO_INTERPRETER),
    run=_download_sites,
    add_source=_add_source_sites,
)
