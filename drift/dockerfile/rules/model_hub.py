"""Model hub downloads: Hugging Face models fetched in RUN.

    DRIFT321  a model hub download (snapshot_download, hf_hub_download,
              from_pretrained, huggingface-cli download) without a
              revision                                                network-fetch

Model downloads are Python calls inside a RUN (`python -c`, a python heredoc)
or `huggingface-cli download`; they are found by the call's name in the RUN's
text, and pinned by a `revision=` argument (`--revision`) naming anything: a
commit is best, a tag still better than the default branch. A download in a
script the RUN only runs (`python fetch.py`) is not seen. A model under
`~/.cache/huggingface` is the image's content, not noise
(drift.compare.ignore), so its drift is reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from drift.dockerfile.rules.commands import Run, SimpleCommand, has_option, option_names, split_options
from drift.dockerfile.rules.interface import RiskSite, Rule, RuleSet
from drift.dockerfile.variables import closing_bracket

NO_REVISION = Rule(
    "DRIFT321",
    "network-fetch",
    "model {subject} is downloaded without a revision, so a new upstream revision changes the image",
    'pin the model\'s commit: revision="<sha>" (huggingface-cli download --revision <sha>)',
)


def _model_sites(run: Run) -> list[RiskSite]:
    """Model hub downloads in Python code anywhere in the RUN (`python -c`, heredocs) without a revision."""
    instruction = run.instruction
    text = instruction.text
    sites: list[RiskSite] = []
    for call in _MODEL_CALL.finditer(text):
        arguments = text[call.end() : _call_end(text, call.end())]
        if _REVISION_ARGUMENT.search(arguments):
            continue
        model = _MODEL_NAME.search(arguments)
        subject = model.group(1) if model else call.group(1)
        line = instruction.line_of(call.start(1))
        sites.append(NO_REVISION.site(run.stage, instruction, subject, line, "model", subject))
    return sites


_MODEL_CALL = re.compile(r"\b(snapshot_download|hf_hub_download|from_pretrained)\s*\(")
_REVISION_ARGUMENT = re.compile(r"\brevision\s*=")
# The first string argument, or repo_id=: "gpt2", 'org/model-name' (quotes possibly shell-escaped).
_MODEL_NAME = re.compile(r"^\s*(?:repo_id\s*=\s*)?\\?[\"']([\w.\-]+(?:/[\w.\-]+)?)\\?[\"']")


def _call_end(text: str, start: int) -> int:
    """The offset of the parenthesis closing a call whose arguments start at `start` (or the end of the text)."""
    end = closing_bracket(text, start, "(", ")")
    return end if end >= 0 else len(text)


def _huggingface_cli(run: Run, simple: SimpleCommand) -> Iterator[RiskSite]:
    options, operands = split_options(simple.args, long=_HF_DOWNLOAD_LONG)
    if len(operands) < 2 or operands[0].text != "download" or has_option(options, "revision"):
        return
    model = operands[1]
    if model.resolved:
        yield run.site(NO_REVISION, model.text, model, "model", model.text, simple)


_HF_DOWNLOAD_LONG = option_names(
    """
    revision repo-type include exclude local-dir cache-dir token max-workers
    """
)


RULE_SET = RuleSet(rules=(NO_REVISION,), commands={"huggingface-cli": _huggingface_cli}, run=_model_sites)
