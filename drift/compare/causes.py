"""Likely causes of a difference, from the instruction that made the layer and the path that changed."""

from __future__ import annotations

import re

NONDETERMINISTIC = "nondeterministic"
"""The cause of noise: a difference that comes back on every build, which no pin would remove."""

# Path evidence wins over instruction text: a changed dpkg database means apt
# ran, whatever else the RUN line did.
_PATH_CAUSES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^/var/lib/dpkg/"), "apt"),
    (re.compile(r"^/lib/apk/db/"), "apk"),
    (re.compile(r"^/var/lib/rpm/"), "yum"),
    (re.compile(r"/(site|dist)-packages/"), "pip"),
    (re.compile(r"/node_modules/"), "npm"),
    # A model or browser a library downloaded at build time, wherever the RUN line started it.
    (re.compile(r"/\.cache/(huggingface|torch|ms-playwright|puppeteer)/"), "network-fetch"),
)

_INSTRUCTION_CAUSES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(apt-get|apt|aptitude)\s+(-\S+\s+)*(install|upgrade|dist-upgrade)\b"), "apt"),
    (re.compile(r"\bapk\s+(-\S+\s+)*(add|upgrade)\b"), "apk"),
    (re.compile(r"\b(yum|dnf|microdnf)\s+(-\S+\s+)*(install|upgrade|update)\b"), "yum"),
    (re.compile(r"\bpip[0-9.]*\s+(-\S+\s+)*install\b|\bpython[0-9.]*\s+-m\s+pip\s+install\b"), "pip"),
    (re.compile(r"\b(npm\s+(install|i|ci|update)|yarn(\s+(install|add))?|pnpm\s+(install|add))\b"), "npm"),
    (re.compile(r"\bgem\s+install\b|\bbundle\s+install\b"), "gem"),
    (re.compile(r"\bgo\s+(get|install|mod\s+download)\b"), "go"),
    (re.compile(r"\bcargo\s+(install|build|fetch)\b"), "cargo"),
    (
        re.compile(
            r"\b(curl|wget)\b|\bgit\s+clone\b|^ADD\s+(--\S+\s+)*https?://"
            r"|\b(snapshot_download|hf_hub_download|from_pretrained)\b|\bhuggingface-cli\s+download\b"
        ),
        "network-fetch",
    ),
    (re.compile(r"\bdate\b|\$\(date|SOURCE_DATE_EPOCH|BUILD_(DATE|TIME)"), "timestamp"),
)


def likely_cause(instruction: str, path: str = "") -> str:
    """The external input that most likely changed a file (or a layer, when no path is given)."""
    for pattern, cause in _PATH_CAUSES:
        if path and pattern.search(path):
            return cause
    for pattern, cause in _INSTRUCTION_CAUSES:
        if pattern.search(instruction):
            return cause
    return "unknown"
