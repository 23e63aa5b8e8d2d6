"""The line of each key of a TOML text: what `tomllib` does not say, for errors that point at the key.

Only TOML's lexical level matters here (strings, comments, brackets, `=` and
`,`): one regular expression cuts the text into tokens, and a small scanner
follows headers, keys, arrays and inline tables. It is no parser and checks
nothing: it is meant for text that `tomllib` has already accepted.
"""

from __future__ import annotations

import re
import tomllib
from typing import NamedTuple

KeyPath = tuple[str | int, ...]
"""Where a value sits in the document: table and key names, and 0-based array indexes."""

_TOKEN = re.compile(
    r'''(?P<string>"""(?:\\.|[^\\])*?""""{0,2}|\'\'\'.*?\'\'\'\'{0,2}|"(?:\\.|[^"\\\n])*"|'[^'\n]*')
    |(?P<comment>\#[^\n]*)
    |(?P<newline>\n)
    |(?P<punct>[\[\]{}=,])
    |(?P<word>[^\s\#\[\]{}=,"']+)''',
    re.VERBOSE | re.DOTALL,
)


class _Token(NamedTuple):
    kind: str  # "string" (multi-line ones too), "newline", "punct", "word" (bare key, number, date...), "end"
    text: str  # as written
    line: int


def key_lines(text: str) -> dict[KeyPath, int]:
    """The 1-based line of every table header, key and array element of a TOML document.

    Paths are as `tomllib` nests the values, with 0-based indexes for arrays
    and arrays of tables: `("target", 1, "build_args", "VERSION")` is the
    `VERSION` key of the second `[[target]]`'s build_args, whether written in
    an inline table, as a dotted key or under `[target.build_args]`. A dotted
    key also gives the line of each of its prefixes. Text inside strings,
    multi-line ones included, is never taken for a key.
    """
    scanner = _Scanner(text)
    table: KeyPath = ()
    while scanner.kind() != "end":
        if scanner.punct("["):
            table = scanner.header()
        elif scanner.kind() != "newline":
            scanner.key_value(table)
        while scanner.kind() not in ("newline", "end"):  # whatever is left of the line (nothing, in valid TOML)
            scanner.take()
        scanner.take()
    return scanner.lines


class _Scanner:
    def __init__(self, text: str) -> None:
        self.tokens: list[_Token] = []
        line, start = 1, 0
        for match in _TOKEN.finditer(text):
            line, start = line + text.count("\n", start, match.start()), match.start()
            if match.lastgroup != "comment":
                self.tokens.append(_Token(str(match.lastgroup), match[0], line))
        self.tokens.append(_Token("end", "", line + text.count("\n", start)))
        self.index = 0
        self.lines: dict[KeyPath, int] = {}
        self.array_tables: dict[KeyPath, int] = {}  # how many [[x]] headers each path has had so far

    def kind(self) -> str:
        return self.tokens[self.index].kind

    def punct(self, text: str) -> bool:
        return self.tokens[self.index][:2] == ("punct", text)

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += token.kind != "end"
        return token

    def keys(self) -> list[str]:
        """A (dotted) key: a bare word like `a.b` is two keys, a quoted one is one."""
        keys: list[str] = []
        while self.kind() in ("word", "string"):
            token = self.take()
            keys += [part for part in token.text.split(".") if part] if token.kind == "word" else [_key(token.text)]
        return keys

    def header(self) -> KeyPath:
        line = self.take().line
        is_array = self.punct("[")
        self.index += is_array
        *parents, last = self.keys() or [""]
        path: KeyPath = ()
        for key in parents:  # a name that is an array of tables means its latest element
            path = (*path, key)
            if path in self.array_tables:
                path = (*path, self.array_tables[path] - 1)
        path = (*path, last)
        if is_array:
            count = self.array_tables[path] = self.array_tables.get(path, 0) + 1
            path = (*path, count - 1)
        self.lines.setdefault(path, line)
        return path

    def key_value(self, table: KeyPath) -> None:
        line = self.tokens[self.index].line
        keys = self.keys()
        if not keys or not self.punct("="):
            return
        self.take()
        for length in range(1, len(keys) + 1):
            self.lines.setdefault((*table, *keys[:length]), line)
        self.value((*table, *keys))

    def value(self, path: KeyPath) -> None:
        token = self.take()
        if token[:2] == ("punct", "["):
            index = 0
            while not self.closed("]"):
                self.lines.setdefault((*path, index), self.tokens[self.index].line)
                self.value((*path, index))
                index += 1
        elif token[:2] == ("punct", "{"):
            while not self.closed("}"):
                before = self.index
                self.key_value(path)
                if self.index == before:  # not a key: step over it rather than loop
                    self.take()
        elif token.kind == "word":  # a date-time may be written with a space: `1979-05-27 07:32:00`
            while self.kind() == "word" and self.tokens[self.index].line == token.line:
                self.take()

    def closed(self, bracket: str) -> bool:
        """Past newlines and commas: whether the array or inline table ends here (then step over its end)."""
        while self.kind() == "newline" or self.punct(","):
            self.take()
        if self.punct(bracket) or self.kind() == "end":
            self.take()
            return True
        return False


def _key(written: str) -> str:
    """A quoted key's name."""
    if written.startswith("'") or "\\" not in written:
        return written[1:-1]
    try:
        return str(tomllib.loads(f"key = {written}")["key"])
    except tomllib.TOMLDecodeError:
        return written[1:-1]
