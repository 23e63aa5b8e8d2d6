"""Read a built image from a streamed `docker save` into drift's values.

The image stage of the pipeline: given the engine (or a saved tar stream), it
returns an ImageRecord whose layers carry a file manifest and a normalized
content digest each, ready to be stored and compared.
"""

from drift.image.history import instruction_from_created_by, instruction_from_history
from drift.image.layer_tar import read_layer_tar
from drift.image.normalize import config_digest, normalized_config, normalized_digest
from drift.image.saved_image import read_image, read_saved_image

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
