"""Read a built image from a streamed `docker save` into drift's values.

The image stage of the pipeline: given the engine (or a saved tar stream), it
returns an ImageRecord whose layers carry a file manifest and a normalized
content digest each, ready to be stored and compared.

The names below are loaded when first used: the storage and the comparison
import this package's manifest helpers without docker-py coming along.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from drift.image.history import instruction_from_created_by as instruction_from_created_by
    from drift.image.history import instruction_from_history as instruction_from_history
    from drift.image.layer_tar import read_layer_tar as read_layer_tar
    from drift.image.normalize import config_digest as config_digest
    from drift.image.normalize import normalized_config as normalized_config
    from drift.image.normalize import normalized_digest as normalized_digest
    from drift.image.saved_image import read_image as read_image
    from drift.image.saved_image import read_saved_image as read_saved_image

_HOMES = {
    "config_digest": "drift.image.normalize",
    "instruction_from_created_by": "drift.image.history",
    "instruction_from_history": "drift.image.history",
    "normalized_config": "drift.image.normalize",
    "normalized_digest": "drift.image.normalize",
    "read_image": "drift.image.saved_image",
    "read_layer_tar": "drift.image.layer_tar",
    "read_saved_image": "drift.image.saved_image",
}

__all__ = [
    "config_digest",
    "instruction_from_created_by",
    "instruction_from_history",
    "normalized_config",
    "normalized_digest",
    "read_image",
    "read_layer_tar",
    "read_saved_image",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
