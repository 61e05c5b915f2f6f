"""Skeleton descriptions: joint names, hierarchy, rest offsets and the joints the features need.

The feature code (``features.py``) takes a :class:`Skeleton` as an argument, so a rig with another
joint count gets its own feature width. ``SMPL22`` is the HumanML3D skeleton and the default.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class Skeleton:
    """A kinematic tree, Y up, metres, facing +Z in its rest pose.

    ``directions`` are the unit rest directions of each bone (parent -> joint) that the
    HumanML3D inverse kinematics rotates from; ``lengths`` are the reference bone lengths every
    motion is rescaled to. ``chains`` list the kinematic chains from their root joint outwards;
    the union of their edges must be the whole tree.
    """

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    directions: np.ndarray  # (J, 3) unit vectors, row 0 unused
    lengths: np.ndarray  # (J,) metres, entry 0 unused
    chains: tuple[tuple[int, ...], ...]
    face_joints: tuple[int, int, int, int]  # right hip, left hip, right shoulder, left shoulder
    feet: tuple[tuple[int, ...], tuple[int, ...]]  # (left ankle, left toe), (right ankle, right toe)
    leg: tuple[int, int]  # knee and ankle whose bone lengths define the scale of a body
    mirror: tuple[int, ...]  # joint index of the left/right counterpart (itself on the midline)
    tpose_directions: np.ndarray = field(default=None)  # (J, 3) bone directions of a T-pose, for export

    def __post_init__(self):
        j = len(self.joint_names)
        if len(self.parents) != j or self.directions.shape != (j, 3) or self.lengths.shape != (j,):
            raise ValueError(f"skeleton {self.name!r}: names, parents, directions and lengths disagree on J")
        edges = {(c[i], c[i + 1]) for c in self.chains for i in range(len(c) - 1)}
        tree = {(p, i) for i, p in enumerate(self.parents) if p >= 0}
        if edges != tree:
            raise ValueError(f"skeleton {self.name!r}: kinematic chains do not cover the tree exactly")
        if sorted(self.mirror) != list(range(j)):
            raise ValueError(f"skeleton {self.name!r}: mirror is not a permutation of the joints")
        if self.tpose_directions is None:
            object.__setattr__(self, "tpose_directions", self.directions)

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def feature_dim(self) -> int:
        j = self.num_joints
        return 4 + (j - 1) * 3 + (j - 1) * 6 + j * 3 + 4

    @property
    def offsets(self) -> np.ndarray:
        """(J, 3) rest offsets of each joint from its parent, metres (the IK rest pose)."""
        return self.directions * self.lengths[:, None]

    def feature_slices(self) -> dict[str, slice]:
        """Where each part of a feature row lives (HumanML3D order)."""
        j = self.num_joints
        ric, rot, vel = 4, 4 + (j - 1) * 3, 4 + (j - 1) * 9
        return {
            "root_rot_velocity": slice(0, 1),
            "root_linear_velocity": slice(1, 3),
            "root_height": slice(3, 4),
            "positions": slice(ric, rot),
            "rotations": slice(rot, vel),
            "velocities": slice(vel, vel + j * 3),
            "foot_contacts": slice(vel + j * 3, vel + j * 3 + 4),
        }

    def index(self, name: str) -> int:
        return self.joint_names.index(name)


def _tree_from_chains(num_joints: int, chains) -> tuple[int, ...]:
    parents = [-1] * num_joints
    for chain in chains:
        for a, b in zip(chain[:-1], chain[1:], strict=True):
            parents[b] = a
    return tuple(parents)


_SMPL22_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist",
)  # fmt: skip
_SMPL22_CHAINS = (
    (0, 2, 5, 8, 11),
    (0, 1, 4, 7, 10),
    (0, 3, 6, 9, 12, 15),
    (9, 14, 17, 19, 21),
    (9, 13, 16, 18, 20),
)
# HumanML3D's raw offsets (paramUtil.t2m_raw_offsets): the directions its IK rotates from.
_SMPL22_DIRECTIONS = np.array(
    [[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0], [0, -1, 0],
     [0, -1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1],
     [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0]], dtype=np.float64,
)  # fmt: skip
# HumanML3D's target skeleton (the bone lengths of its clip 000021, frame 0), measured here from the
# golden fixture new_joints/012314.npy, whose bones all have these lengths to 5e-7 m.
_SMPL22_LENGTHS = np.array(
    [0.0, 0.103074, 0.109883, 0.131568, 0.393623, 0.390188, 0.14319, 0.432433, 0.425643, 0.057365,
     0.143382, 0.149419, 0.21936, 0.137487, 0.143383, 0.103039, 0.131614, 0.122984, 0.25684,
     0.263092, 0.266012, 0.269876], dtype=np.float64,
)  # fmt: skip
# A T-pose (arms out along +-X, head up) for BVH export: animation tools retarget best from it.
_SMPL22_TPOSE = _SMPL22_DIRECTIONS.copy()
_SMPL22_TPOSE[[15]] = [0, 1, 0]
_SMPL22_TPOSE[[16, 18, 20]] = [1, 0, 0]
_SMPL22_TPOSE[[17, 19, 21]] = [-1, 0, 0]

SMPL22 = Skeleton(
    name="smpl22",
    joint_names=_SMPL22_NAMES,
    parents=_tree_from_chains(22, _SMPL22_CHAINS),
    directions=_SMPL22_DIRECTIONS,
    lengths=_SMPL22_LENGTHS,
    chains=_SMPL22_CHAINS,
    face_joints=(2, 1, 17, 16),
    feet=((7, 10), (8, 11)),
    leg=(5, 8),
    mirror=(0, 2, 1, 3, 5, 4, 6, 8, 7, 9, 11, 10, 12, 14, 13, 15, 17, 16, 19, 18, 21, 20),
    tpose_directions=_SMPL22_TPOSE,
)


def make_skeleton(name, joint_names, chains, directions, lengths, face_joints, feet, leg, mirror) -> Skeleton:
    """Build a skeleton for a custom rig; the parents follow from the chains."""
    j = len(joint_names)
    return Skeleton(
        name=name,
        joint_names=tuple(joint_names),
        parents=_tree_from_chains(j, chains),
        directions=np.asarray(directions, dtype=np.float64),
        lengths=np.asarray(lengths, dtype=np.float64),
        chains=tuple(tuple(c) for c in chains),
        face_joints=tuple(face_joints),
        feet=tuple(tuple(f) for f in feet),
        leg=tuple(leg),
        mirror=tuple(mirror),
    )
