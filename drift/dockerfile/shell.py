"""A shell lexer for Dockerfile text: the commands and words of a RUN, and quote-aware word splitting.

`scan` reads a shell script (a RUN's value, a heredoc body, an `sh -c`
argument) into simple commands and their words the way a POSIX shell would
split them, well enough to find package managers, downloads and clones in it;
each word keeps where it was written so a pin can edit it in place.
`word_spans`, `word_end` and `dequote` are the small quote-aware readers the
Dockerfile model uses for instruction values (FROM, ARG, ENV, flags).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from drift.dockerfile.variables import expand_reference


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


# Maps a (start, end) of the scanned source to a span in the instruction's text.
SpanMap = Callable[[int, int], tuple[int, int] | None]


@dataclass
class Command:
    """One simple command as the scanner found it."""

    words: list[ShellWord]
    redirects: list[tuple[str, ShellWord]]
    before: str  # the operator before it ("" at the start of a list)
    after: str  # the operator after it ("" at the end)
    end: int | None  # offset in the instruction's text after its last word
    nested: bool = False  # inside $(...), `...` or <(...)
    enclosing: Command | None = None  # the command whose word holds this substitution


# The programs that read a script: `sh -c SCRIPT`, a heredoc fed to them, a download piped into them.
SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "busybox"})


def scan(source: str, variables: Mapping[str, str | None], span_map: SpanMap | None, fallback_at: int) -> list[Command]:
    """The simple commands of a shell script, in order, those inside substitutions included.

    `span_map` maps a (start, end) of `source` to where it was written in the
    instruction's text (None where `source` is not written anywhere, as for an
    `sh -c` argument); `fallback_at` is the text offset such words stem from.
    """
    return _Scanner(source, variables, span_map, fallback_at).run()


class _Scanner:
    """A shell tokenizer good enough to find commands and their words.

    Handles quotes, escapes, line continuations, comments, `&&`, `||`, `;`,
    `|`, `&`, newlines, subshells, redirections (and skips nested heredoc
    bodies), `$(...)`, backticks and `<(...)` (scanned as commands of their
    own), and substitutes known ARG/ENV references, splitting unquoted ones.
    """

    def __init__(self, source: str, variables: Mapping[str, str | None], span_map: SpanMap | None, fallback_at: int):
        self.source = source
        self.variables = variables
        self.span_map = span_map
        self.fallback_at = fallback_at
        self.commands: list[Command] = []

    def run(self) -> list[Command]:
        self._scan(0, len(self.source), nested=False)
        return self.commands

    def _scan(self, begin: int, end: int, nested: bool) -> None:
        """Append the commands of `source[begin:end]`; `nested` marks the inside of a substitution."""
        source = self.source
        words: list[ShellWord] = []
        redirects: list[tuple[str, ShellWord]] = []
        inner: list[Command] = []
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
                command = Command(words, redirects, before, operator, last_end, nested=nested)
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
                i = self._substitution(i, i + 1, close, state, inner)
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
                i = self._substitution(i, i + 2, close, state, inner)
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

    def _substitution(self, start: int, body: int, close: int, state: _WordState, inner: list[Command]) -> int:
        """A `...`, $(...) or <(...) from `start` to `close`, its body from `body`; returns the offset after it.

        The body's commands are scanned as nested ones; the word holding it has no known value.
        """
        before = len(self.commands)
        self._scan(body, close, nested=True)
        inner.extend(self.commands[before:])
        state.add_unknown(self.source[start : close + 1])
        return close + 1

    def _double_quoted(self, i: int, end: int, state: _WordState, inner: list[Command]) -> int:
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
                i = self._substitution(i, i + 1, close, state, inner)
                continue
            state.add_literal(char)
            i += 1
        return end

    def _dollar(self, i: int, end: int, state: _WordState, inner: list[Command], quoted: bool) -> int:
        source = self.source
        if source.startswith("$((", i):
            close = _closing_paren(source, i + 3, end)
            close = _closing_paren(source, close + 1, end) if close + 1 < end and source[close + 1] == ")" else close
            state.add_unknown(source[i : close + 1])
            return close + 1
        if source.startswith("$(", i):
            close = _closing_paren(source, i + 2, end)
            return self._substitution(i, i + 2, close, state, inner)
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


# --- words of instruction values -------------------------------------------------------------------------------------


def word_spans(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each whitespace-separated word, quotes kept together."""
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        start = i
        i = word_end(text, start)
        yield start, i


def word_end(text: str, start: int, escape: str | None = "\\") -> int:
    """Where the word starting at `start` ends: the first whitespace outside quotes.

    `escape` (outside single quotes) makes the next character part of the
    word; None for text no escape applies to (instruction flags, as Docker reads them).
    """
    i = start
    quote = ""
    while i < len(text) and (quote or not text[i].isspace()):
        if escape is not None and text[i] == escape and quote != "'":
            i += 2
            continue
        if text[i] in "'\"" and (not quote or quote == text[i]):
            quote = "" if quote else text[i]
        i += 1
    return min(i, len(text))


def dequote(word: str) -> str:
    """A word with its shell-style quotes removed ('"a b"' -> 'a b')."""
    out: list[str] = []
    quote = ""
    i = 0
    while i < len(word):
        char = word[i]
        if char == "\\" and quote != "'" and i + 1 < len(word):
            out.append(word[i + 1])
            i += 2
            continue
        if char in "'\"" and (not quote or quote == char):
            quote = "" if quote else char
        else:
            out.append(char)
        i += 1
    return "".join(out)
