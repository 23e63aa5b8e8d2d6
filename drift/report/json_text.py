"""JSON documents as text, indented by two spaces: the very text `json.dumps(document, indent=2)` gives, made
several times faster.

The standard library encodes an indented document in Python, value by value;
a report of a thousand targets with a year of nights is millions of values.
Here each string is escaped by the standard library's C function and each
container of plain values is joined in one go.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii  # the C function when built
from typing import Any

_SCALARS = {True: "true", False: "false", None: "null"}


def indented_json(document: Any) -> str:
    """`json.dumps(document, indent=2)` (ASCII, default separators); anything unusual goes to it as it is."""
    parts: list[str] = []
    try:
        _encode(document, "\n", parts)
    except _Unusual:
        return json.dumps(document, indent=2)
    return "".join(parts)


class _Unusual(Exception):
    """A value this encoder leaves to json.dumps: a key that is no string, a float, an object json cannot
    encode (json.dumps then raises its own error)."""


def _encode(value: Any, newline: str, parts: list[str]) -> None:
    """Append the text of `value`; `newline` is a newline and the indentation of the line `value` is on."""
    if isinstance(value, str):
        parts.append(encode_basestring_ascii(value))
    elif value is None or value is True or value is False:
        parts.append(_SCALARS[value])
    elif isinstance(value, int):
        parts.append(int.__repr__(value))
    elif isinstance(value, dict):
        if not value:
            parts.append("{}")
            return
        inner = newline + "  "
        separator = "{" + inner
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Unusual
            # Most values are strings and numbers: written here, without a call each.
            kind = type(item)
            if kind is str:
                parts.append(separator + encode_basestring_ascii(key) + ": " + encode_basestring_ascii(item))
            elif kind is int:
                parts.append(separator + encode_basestring_ascii(key) + ": " + int.__repr__(item))
            else:
                parts.append(separator + encode_basestring_ascii(key) + ": ")
                _encode(item, inner, parts)
            separator = "," + inner
        parts.append(newline + "}")
    elif isinstance(value, list | tuple):
        if not value:
            parts.append("[]")
            return
        inner = newline + "  "
        records = _records(value, inner) if type(value[0]) is dict else None
        if records is not None:
            parts.append("[" + inner + records + newline + "]")
            return
        separator = "[" + inner
        for item in value:
            parts.append(separator)
            _encode(item, inner, parts)
            separator = "," + inner
        parts.append(newline + "]")
    else:
        raise _Unusual


def _records(items: list[Any] | tuple[Any, ...], newline: str) -> str | None:
    """The items of a list of objects with the same keys and plain values (a target's nights), each written
    through one template, separated as json.dumps separates them; None for any other list."""
    first = items[0]
    keys = tuple(first)
    if not keys or not all(type(key) is str for key in keys):
        return None
    inner = newline + "  "
    names = [encode_basestring_ascii(key).replace("%", "%%") + ": %s" for key in keys]
    template = "{" + inner + ("," + inner).join(names) + newline + "}"
    texts = []
    for item in items:
        if type(item) is not dict or tuple(item) != keys:
            return None
        values = []
        for value in item.values():
            kind = type(value)
            if kind is str:
                values.append(encode_basestring_ascii(value))
            elif kind is int:
                values.append(int.__repr__(value))
            elif value is None or value is True or value is False:
                values.append(_SCALARS[value])
            else:
                return None
        texts.append(template % tuple(values))
    return ("," + newline).join(texts)
