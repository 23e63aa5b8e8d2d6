"""What drift knows about a Dockerfile at the pinned commit.

`parse_dockerfile` reads its stages and instructions (model), `layer_instructions`
ties an image's layers back to them (layers), `find_risks` lists every unpinned
external input before it drifts (rules, one module per ecosystem), and `suggest_pins` turns a last good
build's values into edits of the Dockerfile that pin those inputs (pins).
"""

from drift.dockerfile.layers import attribute_history, layer_instructions
from drift.dockerfile.model import Dockerfile, Instruction, Stage, parse_dockerfile
from drift.dockerfile.pins import Edit, KnownValues, Pin, pins_diff, suggest_pins
from drift.dockerfile.rules import RULE_IDS, Risk, find_risks
from drift.dockerfile.segments import Heredoc

__all__ = [
    "RULE_IDS",
    "Dockerfile",
    "Edit",
    "Heredoc",
    "Instruction",
    "KnownValues",
    "Pin",
    "Risk",
    "Stage",
    "attribute_history",
    "find_risks",
    "layer_instructions",
    "parse_dockerfile",
    "pins_diff",
    "suggest_pins",
]
