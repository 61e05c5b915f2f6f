"""Motion representation: skeletons, HumanML3D features, normalisation and the Motion value type."""

from .features import FPS, WINDOW_ROWS, features_to_joints, joints_to_features
from .motion import Motion, mirror_joints, resample
from .normalizer import Normalizer
from .skeleton import SMPL22, Skeleton, make_skeleton

__all__ = [
    "FPS", "WINDOW_ROWS", "SMPL22", "Motion", "Normalizer", "Skeleton", "features_to_joints", "joints_to_features",
    "make_skeleton", "mirror_joints", "resample",
]  # fmt: skip
