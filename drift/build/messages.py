"""What the engine's build messages say: the legacy builder's step lines, and a registry that was away.

The legacy builder reports progress as text ("Step 3/7 : RUN make",
" ---> Running in <container>", " ---> <image>"); a failed pull reports Go's
network errors. Both are read here, apart from the requests that produce them.
"""

from __future__ import annotations

import re

# Legacy builder output: "Step 3/7 : RUN wget ..." and " ---> 1a2b3c4d5e6f".
STEP = re.compile(r"^Step \d+/\d+ : (?P<instruction>.*)$")
INTERMEDIATE = re.compile(r"^ ---> (?P<id>[0-9a-f]{12,64})$")
BUILT = re.compile(r"^Successfully built (?P<id>[0-9a-f]{12,64})$")
RUNNING_IN = re.compile(r"^ ---> Running in (?P<id>[0-9a-f]{12,64})$")

# What a failed pull from an unreachable or overloaded registry says (Go's net errors, HTTP 5xx and 429).
_REGISTRY_OUTAGE = re.compile(
    r"dial tcp|connection refused|no such host|i/o timeout|TLS handshake timeout|server misbehaving"
    r"|network is unreachable|connection reset|toomanyrequests|429 Too Many Requests"
    r"|unexpected status(?: code)?:? 5\d\d|received unexpected HTTP status: 5\d\d"
    r"|50[234] (?:Bad Gateway|Service Unavailable|Gateway Timeout)",
    re.IGNORECASE,
)


def registry_outage(error: str, step: str | None) -> bool:
    """Whether a build failed because a registry was away while resolving a base image (not the source's fault).

    Only failures outside the Dockerfile's own commands count: a FROM step, or
    BuildKit's resolution of an image before any step ran. A registry that
    answers "manifest unknown" (the tag is gone) is a real break, not an outage.
    """
    if step is not None and not is_from(step):
        return False
    if "manifest unknown" in error or "not found" in error.lower():
        return False
    return _REGISTRY_OUTAGE.search(error) is not None


def is_from(step: str | None) -> bool:
    words = (step or "").split(maxsplit=1)
    return bool(words) and words[0].upper() == "FROM"
