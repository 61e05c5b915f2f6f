"""Retargeting: a motion of SMPL22 joint positions written on another character's BVH skeleton.

The target keeps its own hierarchy, joint names, bone offsets (its proportions), rest pose (every
rotation zero, as BVH defines it), channel orders, units and up axis. The joints of the target that
the rig detection of :mod:`.rigs` (or a joint map) ties to SMPL22 joints follow the motion's bone
*directions*: a joint with one tied descendant turns its rest bone onto the motion's bone (the
shortest rotation), a branching joint (hips, chest) takes the best-fit rotation of all its tied
child bones. Joints that are not tied (fingers, twist bones, extra spine segments, end bones) keep
their rest pose relative to their parent, so they ride along with it. The path and the root height
are scaled by the ratio of the target's leg length to the motion's, and the whole body is moved
vertically so that its feet touch the floor as the motion's do.

Own code: no maintained Python library retargets between BVH rigs (bvhio and pymo read and write
them; the Blender and Maya retargeters need those programs).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ..errors import FormatError
from ..motion.features import FPS
from ..motion.skeleton import SMPL22
from .bvh import (
    _UP_TO_Y,
    UNITS,
    BvhFile,
    _align,
    _check_joints,
    _continuous_euler,
    _detect_unit,
    _detect_up,
    _option,
    _swing,
    parse_bvh,
    rest_positions,
)
from .rigs import load_joint_map, match_rig, place_missing

LEG = ("hip", "knee", "ankle")
FEET = tuple(SMPL22.index(f"{s}_{j}") for s in ("left", "right") for j in ("ankle", "foot"))
# End effectors and the joint their direction is measured from (the limb's first joint).
EFFECTORS = {"head": "neck", "left_wrist": "left_shoulder", "right_wrist": "right_shoulder",
             "left_ankle": "left_hip", "right_ankle": "right_hip"}  # fmt: skip


@dataclass(frozen=True, eq=False)
class TargetRig:
    """A character's skeleton read from a BVH file, with its tie to SMPL22."""

    bvh: BvhFile  # hierarchy, channel orders and offsets as written (file units and axes)
    family: str  # the built-in rig that matched (rigs.RIGS), or "custom" for a joint map
    found: Mapping[int, int]  # SMPL22 joint -> rig joint
    up: str  # the file's up axis
    unit: str  # the file's unit, a key of bvh.UNITS

    @property
    def to_y_up(self) -> Rotation:
        return Rotation.from_euler("x", _UP_TO_Y[self.up], degrees=True)

    @property
    def scale(self) -> float:
        """Metres per file unit."""
        return UNITS[self.unit]

    @property
    def offsets(self) -> np.ndarray:
        """(J, 3) rest offsets in metres, Y up."""
        return self.to_y_up.apply(self.bvh.offsets) * self.scale

    @property
    def rest(self) -> np.ndarray:
        """(J, 3) joint positions of the rest pose (every rotation zero), metres, Y up."""
        return rest_positions(self.bvh.parents, self.offsets)

    def leg_length(self) -> float:
        """Hip to knee to ankle, metres, the mean of both sides."""
        rest = self.rest
        return float(np.mean([sum(np.linalg.norm(rest[self.found[SMPL22.index(f"{s}_{b}")]]
                                                 - rest[self.found[SMPL22.index(f"{s}_{a}")]])
                                  for a, b in zip(LEG[:-1], LEG[1:], strict=True)) for s in ("left", "right")]))  # fmt: skip


def _rest_smpl(bvh: BvhFile, found: Mapping[int, int]) -> np.ndarray:
    """(1, 22, 3) the SMPL22 joints of ``bvh``'s rest pose (file units and axes), joints the rig lacks
    placed from their neighbours: what up axis and unit are detected from."""
    rest = np.full((1, SMPL22.num_joints, 3), np.nan)
    rest[0, list(found)] = rest_positions(bvh.parents, bvh.offsets)[list(found.values())]
    return place_missing(rest, ~np.isnan(rest[0, :, 0]))


def load_rig(path: str | os.PathLike, *, joint_map: Mapping[str, str] | str | os.PathLike | None = None,
             up: str | None = None, unit: str | None = None) -> TargetRig:  # fmt: skip
    """The target skeleton of a BVH file (its motion, if any, is not used) or of a glTF file's first skin
    (its rest places; see :func:`~omnimogen.formats.gltf.read_gltf_skeleton`). The rig is recognised by
    its joint names, or tied by ``joint_map`` ({smpl22 name: rig joint name}); ``up`` and ``unit`` are
    detected from its rest pose unless given."""
    if str(path).lower().endswith((".glb", ".gltf")):
        from .gltf import read_gltf_skeleton

        bvh = read_gltf_skeleton(path)
    else:
        bvh = parse_bvh(path)
    if isinstance(joint_map, str | os.PathLike):
        joint_map = load_joint_map(joint_map)
    family, found = match_rig(bvh.joint_names, joint_map, where=bvh.name)
    rest = _rest_smpl(bvh, found)
    up = _option(up, _UP_TO_Y, "up", bvh.name) or _detect_up(rest)
    unit = _option(unit, UNITS, "unit", bvh.name) or _detect_unit(rest, bvh.name)
    rig = TargetRig(bvh, family, dict(found), up, unit)
    if not rig.leg_length() > 0:
        raise FormatError(f"{bvh.name}: the rig's legs have no length in its rest pose; it cannot carry a motion.")
    return rig


def _first_tied(j: int, children: list[list[int]], tied: Mapping[int, int]) -> list[int]:
    """The tied joints below ``j`` reached without passing another tied joint."""
    out, todo = [], list(children[j])
    while todo:
        c = todo.pop(0)
        if c in tied:
            out.append(c)
        else:
            todo.extend(children[c])
    return out


def retarget(joints: np.ndarray, rig: TargetRig, fps: float = FPS, *, clean_contacts: bool = False) -> BvhFile:
    """(T, 22, 3) SMPL22 joint positions (metres, Y up) -> the motion on ``rig``'s skeleton.

    ``clean_contacts`` holds planted feet still and above the floor *on the character*: a foot held on
    our skeleton slides on one of other proportions (another thigh-to-shin ratio), so the motion is put
    on the rig, its feet cleaned there (:mod:`omnimogen.motion.contacts`), and put on the rig again."""
    if clean_contacts:
        from ..motion.contacts import clean_contacts as clean

        return retarget(clean(on_rig(retarget(joints, rig, fps), rig), fps), rig, fps)
    joints = _check_joints(joints, SMPL22, Path(rig.bvh.name))
    frames, parents = len(joints), rig.bvh.parents
    num = len(parents)
    tied = {r: s for s, r in rig.found.items()}  # rig joint -> SMPL22 joint
    children = [[c for c, p in enumerate(parents) if p == j] for j in range(num)]
    rest, offsets = rig.rest, rig.offsets

    world: list[Rotation] = [Rotation.identity(frames)] * num
    local: list[Rotation] = [Rotation.identity(frames)] * num
    for j in range(num):  # file order: parents come first
        parent = world[parents[j]] if parents[j] >= 0 else Rotation.identity(frames)
        kids = [k for k in _first_tied(j, children, tied) if j in tied and np.linalg.norm(rest[k] - rest[j]) > 1e-6]
        if len(kids) == 1:
            bone = joints[:, tied[kids[0]]] - joints[:, tied[j]]
            local[j] = _swing(rest[kids[0]] - rest[j], parent.inv().apply(bone))
        elif kids:
            bones = joints[:, [tied[k] for k in kids]] - joints[:, [tied[j]]]  # (T, K, 3)
            local[j] = parent.inv() * _align(bones, rest[kids] - rest[j])
        world[j] = parent * local[j]

    # The path and the height scale with the legs; the rig's pelvis is put where the motion's is.
    size = rig.leg_length() / _leg_length(joints)
    pelvis = rig.found[SMPL22.index("pelvis")]
    root = next(j for j, p in enumerate(parents) if p < 0)
    if _ancestors(pelvis, parents)[-1] != root:
        raise FormatError(f"{rig.bvh.name}: the pelvis joint is not under the first root; pass a joint map.")
    position = joints[:, 0] * size - (rest[pelvis] - rest[root])  # (T, 3): every joint above the pelvis is at rest
    feet = [rig.found[f] for f in FEET if f in rig.found]
    placed = _forward(world, offsets, parents, position)
    lift = np.percentile(joints[:, FEET, 1].min(1), 5) * size - np.percentile(placed[:, feet, 1].min(1), 5)
    position[:, 1] += lift

    to_file = rig.to_y_up.inv()
    columns = []
    for j, chans in enumerate(rig.bvh.channels):
        values = np.zeros((frames, len(chans)))
        axes = [k for k, ch in enumerate(chans) if ch.endswith("position")]
        if axes:
            where = to_file.apply(position) / rig.scale if j == root else np.tile(rig.bvh.offsets[j], (frames, 1))
            for k in axes:
                values[:, k] = where[:, "XYZ".index(chans[k][0])]
        turns = [k for k, ch in enumerate(chans) if ch.endswith("rotation")]
        if turns:
            order = "".join(chans[k][0] for k in turns)
            in_file = to_file * local[j] * rig.to_y_up  # the same rotation, in the file's axes
            values[:, turns] = _continuous_euler(in_file, frames, order)[:, 0]
        elif not np.allclose(local[j].magnitude(), 0):
            warnings.warn(f"{rig.bvh.name}: joint {rig.bvh.joint_names[j]} has no rotation channels; it keeps its "
                          "rest pose.", stacklevel=2)  # fmt: skip
        columns.append(values)
    return replace(rig.bvh, frame_time=1 / fps, motion=np.concatenate(columns, axis=1))


def on_rig(bvh: BvhFile, rig: TargetRig) -> np.ndarray:
    """(T, 22, 3) where ``rig``'s skeleton (moving as ``bvh``) puts the SMPL22 joints, metres, Y up;
    joints the rig lacks (a CMU rig's toes) placed from their neighbours."""
    positions = bvh.global_positions()
    joints = np.full((len(positions), SMPL22.num_joints, 3), np.nan)
    joints[:, list(rig.found)] = positions[:, list(rig.found.values())]
    joints = rig.to_y_up.apply(joints.reshape(-1, 3)).reshape(joints.shape) * rig.scale
    return place_missing(joints, ~np.isnan(joints[0, :, 0]))


def _ancestors(j: int, parents) -> list[int]:
    out = [j]
    while parents[out[-1]] >= 0:
        out.append(parents[out[-1]])
    return out


def _forward(world: list[Rotation], offsets: np.ndarray, parents, root_position: np.ndarray) -> np.ndarray:
    """(T, J, 3) joint positions from world rotations and rest offsets, metres, Y up."""
    out = np.zeros((len(root_position), len(parents), 3))
    for j, p in enumerate(parents):
        out[:, j] = root_position if p < 0 else out[:, p] + world[p].apply(offsets[j])
    return out


def _leg_length(joints: np.ndarray) -> float:
    lengths = [np.linalg.norm(joints[:, SMPL22.index(f"{s}_{b}")] - joints[:, SMPL22.index(f"{s}_{a}")], axis=-1)
               for s in ("left", "right") for a, b in zip(LEG[:-1], LEG[1:], strict=True)]  # fmt: skip
    return float(np.median(np.sum(lengths, axis=0)) / 2)


def effector_errors(source: np.ndarray, result: np.ndarray) -> dict[str, float]:
    """Per end effector (head, wrists, ankles), the mean angle in degrees between the direction from
    its limb's first joint in ``source`` and in ``result``, both (T, 22, 3) on SMPL22 joints."""
    out = {}
    for effector, base in EFFECTORS.items():
        e, b = SMPL22.index(effector), SMPL22.index(base)
        u, v = source[:, e] - source[:, b], result[:, e] - result[:, b]
        cos = (u * v).sum(-1) / np.maximum(np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1), 1e-12)
        out[effector] = float(np.degrees(np.arccos(np.clip(cos, -1, 1))).mean())
    return out
