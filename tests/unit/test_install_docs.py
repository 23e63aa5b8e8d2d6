"""Every install command in the documentation names drift's distribution, drift-image-repro: `drift` on the
package index is an unrelated project."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
DOCUMENTS = [
    ROOT / "README.md",
    ROOT / "CHANGELOG.md",
    ROOT / "Dockerfile",
    *(ROOT / "docs").rglob("*"),
    *(ROOT / "sample_projects").rglob("*.md"),
    *(ROOT / "sample_projects").rglob("*.toml"),
]
INSTALL = re.compile(r"\b(?:pip3?|pipx|uv pip)\s+install\s+(?:-\S+\s+)*['\"]?(drift[\w.\-\[\]=<>~!]*)")


def test_no_document_installs_the_unrelated_drift_distribution() -> None:
    found: dict[str, list[str]] = {}
    for document in DOCUMENTS:
        if not document.is_file() or document.suffix == ".png":
            continue
        for requirement in INSTALL.findall(document.read_text(encoding="utf-8")):
            found.setdefault(str(document.relative_to(ROOT)), []).append(requirement)
    wrong = {
        path: names
        for path, names in found.items()
        if any(not re.match(r"drift[-_.]image[-_.]repro\b|drift_sample_lib\b", name) for name in names)
    }
    assert not wrong
    assert any("drift-image-repro" in name for names in found.values() for name in names)
