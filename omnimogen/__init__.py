"""omnimogen: instruction-driven 3D human motion generation."""

from .errors import OmnimogenError
from .motion import SMPL22, Motion, Skeleton, features_to_joints, joints_to_features
from .tokenizer import load_tokenizer

__version__ = "0.1.0"


def load_model(path=None):
    """The model shipped with the package, or one saved at ``path`` (see ``omnimogen.model.pipeline``).

    Imported on first use: the transformer stack takes seconds to import and most tools never need it.
    """
    from .model.pipeline import load_model as _load

    return _load(path)


__all__ = [
    "SMPL22",
    "Motion",
    "OmnimogenError",
    "Skeleton",
    "features_to_joints",
    "joints_to_features",
    "load_model",
    "load_tokenizer",
]
