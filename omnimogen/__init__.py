"""omnimogen: instruction-driven 3D human motion generation."""

from .errors import OmnimogenError
from .motion import SMPL22, Motion, Skeleton, features_to_joints, joints_to_features
from .tokenizer import load_tokenizer

__version__ = "0.1.0"
__all__ = [
    "SMPL22",
    "Motion",
    "OmnimogenError",
    "Skeleton",
    "features_to_joints",
    "joints_to_features",
    "load_tokenizer",
]
