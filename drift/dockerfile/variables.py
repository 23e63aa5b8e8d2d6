"""ARG and ENV references in Dockerfile text: `$X`, `${X}`, `${X:-default}`, `${X:+alt}`, substituted as Docker does.

Docker expands references itself in most instructions, but never in RUN: the
shell does that at build time. drift substitutes what is known at each point
of a stage anyway, because a risk rule needs `apt-get install $PKGS` with the
packages in it. References to names the Dockerfile never declares (`$PATH`
from the base image, a shell variable) are left as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# What a name in the ARG/ENV scope maps to: its value, or None when the name is
# declared (`ARG NAME`) but has no value, which Docker treats as unset.
Scope = Mapping[str, str | None]

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def expand_variables(text: str, variables: Scope, escape: str = "\\") -> str:
    """`text` with the references to known variables substituted.

    Follows Docker's (and the shell's) quoting: nothing is expanded inside
    single quotes, an escaped `$` is literal. Quotes and escapes are kept, so
    the result still reads as the instruction was written. References to names
    not in `variables` are left as written; a name mapped to None is unset.
    """
    out: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        char = text[i]
        if char == escape and quote != "'" and i + 1 < len(text):
            out.append(text[i : i + 2])
            i += 2
            continue
        if char in "'\"" and (not quote or quote == char):
            quote = "" if quote else char
        elif char == "$" and quote != "'":
            substituted, end = expand_reference(text, i, variables, escape)
            if substituted is not None:
                out.append(substituted)
                i = end
                continue
        out.append(char)
        i += 1
    return "".join(out)


def expand_references(text: str, variables: Scope) -> str:
    """`text` with every reference to a known variable substituted, quotes and escapes not considered.

    For flag values and ADD sources as they reach the rules, where no quote
    protects a `$` any more.
    """
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "$":
            value, end = expand_reference(text, i, variables)
            if value is not None:
                out.append(value)
                i = end
                continue
        out.append(text[i])
        i += 1
    return "".join(out)


def expand_reference(text: str, start: int, variables: Scope, escape: str = "\\") -> tuple[str | None, int]:
    """Expand the variable reference at `text[start]` (a `$`).

    Returns (substitution, end offset of the reference). The substitution is
    None when the reference names an unknown variable or is a form drift does
    not evaluate (`${X#pattern}`, `$1`, `$(cmd)`): the caller keeps it as written.
    """
    if text.startswith("${", start):
        close = closing_bracket(text, start + 2, "{", "}")
        if close < 0:
            return None, start + 1
        inner = text[start + 2 : close]
        end = close + 1
        name_match = NAME.match(inner)
        if name_match is None:
            return None, end
        name, operation = name_match.group(), inner[name_match.end() :]
        if name not in variables:
            return None, end
        value = variables[name]
        if operation == "":
            return value or "", end
        for operator in (":-", ":+", "-", "+"):
            if operation.startswith(operator):
                word = expand_variables(operation[len(operator) :], variables, escape)
                is_set = value is not None and (value != "" or not operator.startswith(":"))
                if operator.endswith("-"):
                    return (value or "") if is_set else word, end
                return word if is_set else "", end
        return None, end
    name_match = NAME.match(text, start + 1)
    if name_match is None or name_match.group() not in variables:
        return None, start + 1 if name_match is None else name_match.end()
    return variables[name_match.group()] or "", name_match.end()


def closing_bracket(text: str, start: int, opening: str, closing: str) -> int:
    """The offset of the `closing` that balances an `opening` just before `start`, nested pairs counted; -1 if none."""
    depth = 1
    for i in range(start, len(text)):
        if text[i] == opening:
            depth += 1
        elif text[i] == closing:
            depth -= 1
            if depth == 0:
                return i
    return -1
