"""Images: the base image of each FROM, and images used as a source (COPY --from, RUN --mount=...,from=).

    DRIFT001  FROM with a tag but no digest                           base-image-tag
    DRIFT002  FROM with `latest` or no tag, no digest (stronger)      base-image-tag
    DRIFT003  COPY --from / RUN --mount from= an image, no digest     base-image-tag

`FROM scratch` and FROM of an earlier stage are never a risk; a FROM whose
reference still holds an unresolved build arg cannot be judged and is skipped
(the build fails without it anyway).

Compared with hadolint: DL3006 (always tag the image) -> DRIFT002; DL3007
(`latest`) -> DRIFT002. hadolint has no rule for a tag without a digest:
DRIFT001 adds it, since a tag is exactly what moves under a nightly rebuild.
DRIFT003 (an external image in COPY --from) has no hadolint counterpart.
"""

from __future__ import annotations

from drift.dockerfile.model import Dockerfile, Instruction, Stage
from drift.dockerfile.rules.interface import RiskSite, Rule, RuleSet
from drift.dockerfile.variables import expand_references

TAG_WITHOUT_DIGEST = Rule(
    "DRIFT001",
    "base-image-tag",
    "base image {subject} is a tag without a digest",
    "pin it by digest: FROM {subject}@sha256:<digest>",
)
LATEST_OR_UNTAGGED = Rule(
    "DRIFT002",
    "base-image-tag",
    "base image {subject} is `latest` or untagged and has no digest",
    "name a version tag and pin it by digest: FROM <image>:<version>@sha256:<digest>",
)
SOURCE_WITHOUT_DIGEST = Rule(
    "DRIFT003",
    "base-image-tag",
    "image {subject} used as a source has no digest",
    "pin it by digest: {subject}@sha256:<digest>",
)


def split_image_reference(reference: str) -> tuple[str, str | None, str | None]:
    """(repository, tag or None, digest or None) of "registry:5000/repo:tag@sha256:..."."""
    name, _, digest = reference.partition("@")
    tag: str | None = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        tag = last.split(":", 1)[1]
        name = name[: -(len(tag) + 1)]
    return name, tag, digest or None


def _image_rule(reference: str) -> Rule | None:
    """The rule an image reference breaks, or None when it is pinned (or cannot be judged)."""
    if not reference or "$" in reference or reference.lower() == "scratch":
        return None
    _, tag, digest = split_image_reference(reference)
    if digest:
        return None
    return LATEST_OR_UNTAGGED if tag in (None, "latest") else TAG_WITHOUT_DIGEST


def _from_sites(stage: Stage) -> list[RiskSite]:
    if stage.base_stage is not None:
        return []
    rule = _image_rule(stage.base_resolved)
    if rule is None:
        return []
    reference = stage.base_resolved
    return [rule.site(stage, stage.from_instruction, reference, stage.from_line, "image", reference)]


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
        reference = expand_references(source, instruction.variables)
        earlier = dockerfile.stage(reference)
        if earlier is not None and earlier.index < stage.index:
            continue
        if _image_rule(reference) is not None:
            line = instruction.line
            sites.append(SOURCE_WITHOUT_DIGEST.site(stage, instruction, reference, line, "image", reference))
    return sites


RULE_SET = RuleSet(
    rules=(TAG_WITHOUT_DIGEST, LATEST_OR_UNTAGGED, SOURCE_WITHOUT_DIGEST),
    stage=_from_sites,
    instruction=_source_image_sites,
)
