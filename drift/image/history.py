"""Turn an image's history entries into the Dockerfile instruction behind each layer.

Builders record each step in the image config's "history" as free text: the
legacy builder writes the shell command line ("/bin/sh -c #(nop)  CMD [...]",
"|1 URL=... /bin/sh -c wget ..."), BuildKit writes Dockerfile syntax with a
"# buildkit" suffix. A finding reads better as "RUN wget ..." than as either.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_BUILDKIT_SUFFIX = "# buildkit"
_NOP = "#(nop)"
# The shell the legacy builder ran a RUN step with: "/bin/sh -c", "sh -ec",
# "/bin/bash -o pipefail -c" (from SHELL), Windows' "cmd /S /C".
_SHELL = re.compile(
    r"""(?:(?:/[^\s/]+)*/)?(?:ba|da|z|k|mk|a)?sh(?:\s+\S+)*?\s+-[A-Za-z]*c(?:\s+|$)
      | cmd(?:\.exe)?\s+/S\s+/C(?:\s+|$)""",
    re.VERBOSE | re.IGNORECASE,
)
# Build args in effect for a RUN step: "|2 A=1 B=2 " before the shell.
_BUILD_ARGS = re.compile(r"\|(\d+)\s+")
_KEYWORDS = frozenset(
    [
        "ADD",
        "ARG",
        "CMD",
        "COPY",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "RUN",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    ]
)


def instruction_from_created_by(created_by: str) -> str:
    """The Dockerfile-like instruction for a history entry's `created_by` text.

    "/bin/sh -c #(nop) COPY file:ab12 in /app " -> "COPY file:ab12 in /app";
    "|1 URL=http://x /bin/sh -c wget $URL" -> "RUN wget $URL";
    "RUN /bin/sh -c make # buildkit" -> "RUN make". Text drift does not
    recognize is returned stripped but otherwise unchanged; "" stays "".
    """
    text = created_by.strip()
    if not text:
        return ""
    if text.endswith(_BUILDKIT_SUFFIX):
        text = text[: -len(_BUILDKIT_SUFFIX)].rstrip()
        keyword, _, rest = text.partition(" ")
        if keyword == "RUN":
            return "RUN " + _command(rest)
        return text
    nop = text.find(_NOP)
    if nop >= 0:
        return text[nop + len(_NOP) :].strip()
    if text.partition(" ")[0] in _KEYWORDS:
        return text  # already Dockerfile syntax (kaniko, buildah, hand-made configs)
    command = _command(text)
    if command is text:
        return text  # no shell in front: not a legacy RUN step, keep it verbatim
    return "RUN " + command


def instruction_from_history(entry: Mapping[str, object]) -> str:
    """The instruction for one history entry; falls back to its comment.

    `docker import` leaves created_by empty and says "Imported from -" in the
    comment, which is the most honest label for a base layer made that way.
    """
    created_by = entry.get("created_by")
    instruction = instruction_from_created_by(created_by if isinstance(created_by, str) else "")
    if instruction:
        return instruction
    comment = entry.get("comment")
    return comment.strip() if isinstance(comment, str) else ""


def _command(text: str) -> str:
    """The command of a RUN step, without its build-arg prefix and shell.

    Returns `text` itself (the same object) when there is no shell to strip.
    """
    rest = text
    args = _BUILD_ARGS.match(rest)
    if args is not None:
        rest = rest[args.end() :]
        # "K=V" pairs are space-separated; skip them, unless a value held a
        # space, in which case look for the shell itself.
        tokens = rest.split(None, int(args.group(1)))
        after_args = tokens[-1] if len(tokens) > int(args.group(1)) else ""
        shell = _SHELL.match(after_args)
        if shell is not None:
            return after_args[shell.end() :].strip()
        for found in _SHELL.finditer(rest):
            if found.start() == 0 or rest[found.start() - 1].isspace():
                return rest[found.end() :].strip()
        return rest.strip()
    shell = _SHELL.match(rest)
    if shell is None:
        return text
    return rest[shell.end() :].strip()
