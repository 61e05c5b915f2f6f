"""Which joint of a BVH rig is which SMPL22 joint, and where to put the SMPL joints a rig lacks.

Rigs are matched by joint name, not by geometry: names are stable across a rig's files while rest
poses and bone axes are not (Bandai's zero-rotation pose lies on its side). A rig unknown here is
described by a small JSON file ``{"pelvis": "MyHips", ...}`` keyed by SMPL22 joint names.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import FormatError
from ..motion.skeleton import SMPL22

# The joints a motion cannot do without; the others are placed from their neighbours when missing.
REQUIRED = (
    "pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "neck", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)  # fmt: skip
_SIDES = {"left": {"side": "left", "s": "l"}, "right": {"side": "right", "s": "r"}}


def _rig(center: Mapping[str, str | tuple[str, ...]], sided: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """SMPL22 name -> candidate source names; ``sided`` patterns use {side} (left/right) or {s} (l/r)."""
    rig = {k: (v,) if isinstance(v, str) else v for k, v in center.items()}
    for part, pattern in sided.items():
        for side, tokens in _SIDES.items():
            rig[f"{side}_{part}"] = (pattern.format(**tokens),)
    return rig


_MIXAMO_LIMBS = {
    "hip": "{side}UpLeg", "knee": "{side}Leg", "ankle": "{side}Foot", "foot": "{side}ToeBase",
    "collar": "{side}Shoulder", "shoulder": "{side}Arm", "elbow": "{side}ForeArm", "wrist": "{side}Hand",
}  # fmt: skip

# Built-in rigs. Names match case-insensitively after dropping a namespace ("mixamorig:Hips").
# A joint a rig leaves out (Bandai's spine2, CMU's spine2) is placed by `place_missing`.
# fmt: off
RIGS: dict[str, dict[str, tuple[str, ...]]] = {
    "smpl": {n: (n, n.replace("left_", "l_").replace("right_", "r_")) for n in SMPL22.joint_names},
    "mixamo": _rig(
        {"pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck",
         "head": "Head"},
        _MIXAMO_LIMBS,
    ),
    # CMU as converted to BVH: Neck and the shoulders sit on Spine1 (zero offsets), so the SMPL neck is
    # Neck1 and the collars, which would have zero-length bones, are placed between spine3 and the arm.
    "cmu": _rig(
        {"pelvis": "Hips", "spine1": "Spine", "spine3": "Spine1", "neck": "Neck1", "head": "Head"},
        _MIXAMO_LIMBS,
    ),
    # CMU converted for Daz/Poser (cgspeed's 43-joint conversion, also acLSTM's takes): no toes, the hip
    # joints are the thighs (the buttock bones are short stubs between pelvis and thigh).
    "cmu_daz": _rig(
        {"pelvis": "hip", "spine1": "abdomen", "spine3": "chest", "neck": "neck", "head": "head"},
        {"hip": "{s}Thigh", "knee": "{s}Shin", "ankle": "{s}Foot", "collar": "{s}Collar", "shoulder": "{s}Shldr",
         "elbow": "{s}ForeArm", "wrist": "{s}Hand"},
    ),
    # CMU's own skeleton (ASF/AMC) as BVH: the hip joints are the femurs (the hipjoint bones run from the
    # pelvis to them). lowerback, lowerneck and the clavicles start where their parents do; as
    # zero-length bones they would have no direction, so spine1, neck and the collars are placed.
    "cmu_asf": _rig(
        {"pelvis": "hip", "spine2": "upperback", "spine3": "thorax", "neck": "upperneck", "head": "head"},
        {"hip": "{s}femur", "knee": "{s}tibia", "ankle": "{s}foot", "foot": "{s}toes", "shoulder": "{s}humerus",
         "elbow": "{s}radius", "wrist": "{s}wrist"},
    ),
    "bandai": _rig(
        {"pelvis": "Hips", "spine1": "Spine", "spine3": "Chest", "neck": "Neck", "head": "Head"},
        {"hip": "UpperLeg_{s}", "knee": "LowerLeg_{s}", "ankle": "Foot_{s}", "foot": "Toes_{s}",
         "collar": "Shoulder_{s}", "shoulder": "UpperArm_{s}", "elbow": "LowerArm_{s}", "wrist": "Hand_{s}"},
    ),
    "unreal": _rig(
        {"pelvis": "pelvis", "spine1": "spine_01", "spine2": "spine_02", "spine3": "spine_03",
         "neck": "neck_01", "head": "head"},
        {"hip": "thigh_{s}", "knee": "calf_{s}", "ankle": "foot_{s}", "foot": "ball_{s}",
         "collar": "clavicle_{s}", "shoulder": "upperarm_{s}", "elbow": "lowerarm_{s}", "wrist": "hand_{s}"},
    ),
    "character_creator": _rig(
        {"pelvis": ("CC_Base_Hip", "CC_Base_Pelvis"), "spine1": "CC_Base_Waist", "spine2": "CC_Base_Spine01",
         "spine3": "CC_Base_Spine02", "neck": "CC_Base_NeckTwist01", "head": "CC_Base_Head"},
        {"hip": "CC_Base_{s}_Thigh", "knee": "CC_Base_{s}_Calf", "ankle": "CC_Base_{s}_Foot",
         "foot": "CC_Base_{s}_ToeBase", "collar": "CC_Base_{s}_Clavicle", "shoulder": "CC_Base_{s}_Upperarm",
         "elbow": "CC_Base_{s}_Forearm", "wrist": "CC_Base_{s}_Hand"},
    ),
}
# fmt: on

JOINT_MAP_HINT = (
    'pass a JSON joint map such as {"pelvis": "MyHips", ...} (joint_map= in Python, --joint-map on the CLI)'
)


def normalize_name(name: str) -> str:
    """Case-folded joint name without a namespace ("mixamorig:LeftArm" -> "leftarm")."""
    return name.rsplit(":", 1)[-1].rsplit("|", 1)[-1].strip().casefold()


def load_joint_map(path: str | os.PathLike) -> dict[str, str]:
    """Read a JSON joint map ``{smpl22 name: source joint name}`` and check its keys and values."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise FormatError(f"{path}: no such joint map file.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FormatError(f"{path}: not a readable JSON joint map ({e}).") from None
    return check_joint_map(doc, str(path))


def check_joint_map(doc: object, where: str = "joint map") -> dict[str, str]:
    """Validate a joint map given as a mapping; ``where`` names it in messages."""
    if not isinstance(doc, Mapping) or not all(isinstance(v, str) for v in doc.values()):
        raise FormatError(f'{where}: a joint map must be a JSON object of names, like {{"pelvis": "MyHips"}}.')
    unknown = sorted(set(doc) - set(SMPL22.joint_names))
    if unknown:
        raise FormatError(
            f"{where}: {', '.join(map(repr, unknown))} are not SMPL22 joints; use keys from "
            f"{', '.join(SMPL22.joint_names)}."
        )
    return dict(doc)


def match_rig(
    joint_names: Sequence[str], joint_map: Mapping[str, str] | None = None, *, where: str = "BVH"
) -> tuple[str, dict[int, int]]:
    """Return the rig name and {SMPL22 joint index: source joint index} for a rig's joint names.

    Without ``joint_map`` the built-in rig matching the most required joints wins, ties going to
    the rig with the fewest listed-but-absent joints (CMU and Mixamo share most names).
    """
    lookup: dict[str, int] = {}
    for i, name in enumerate(joint_names):
        lookup.setdefault(normalize_name(name), i)
    if joint_map is not None:
        joint_map = check_joint_map(joint_map)
        absent = [f"{k} -> {v!r}" for k, v in joint_map.items() if normalize_name(v) not in lookup]
        if absent:
            raise FormatError(f"{where}: the joint map names joints the file does not have ({', '.join(absent)}).")
        found = {SMPL22.index(k): lookup[normalize_name(v)] for k, v in joint_map.items()}
        rig = "custom"
    else:

        def resolve(rig: dict[str, tuple[str, ...]]) -> dict[int, int]:
            hits = {
                k: next((lookup[n] for n in map(normalize_name, names) if n in lookup), None)
                for k, names in rig.items()
            }
            return {SMPL22.index(k): i for k, i in hits.items() if i is not None}

        def score(item: tuple[str, dict[int, int]]) -> tuple[int, int]:
            rig, found = item
            return sum(SMPL22.index(k) in found for k in REQUIRED), len(found) - len(RIGS[rig])

        rig, found = max(((rig, resolve(names)) for rig, names in RIGS.items()), key=score)
    missing = [k for k in REQUIRED if SMPL22.index(k) not in found]
    if missing:
        closest = "" if joint_map is not None else f" (closest built-in rig: {rig})"
        raise FormatError(f"{where}: no joint found for SMPL {', '.join(missing)}{closest}; {JOINT_MAP_HINT}.")
    return rig, found


def place_missing(joints: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Fill the joints a rig lacks, in metres with Y up; ``present`` (22,) marks the known ones.

    A missing joint inside a kinematic chain (spine1-3, a collar) is spaced evenly on the segment
    between its nearest known neighbours, so Bandai's spine2 lands halfway between Spine and Chest.
    A missing toe (the only optional chain end) is put one SMPL foot length in front of the ankle,
    horizontally along the body's facing, for want of anything better.
    """
    joints = joints.copy()  # (T, 22, 3)
    known = present.copy()
    for chain in SMPL22.chains:
        for pos, j in enumerate(chain):
            if known[j]:
                continue
            before = max(p for p in range(pos) if known[chain[p]])
            after = next((p for p in range(pos + 1, len(chain)) if known[chain[p]]), None)
            a = joints[:, chain[before]]
            if after is None:
                joints[:, j] = a + _facing(joints) * SMPL22.lengths[j] * _scale(joints)
            else:
                w = (pos - before) / (after - before)
                joints[:, j] = (1 - w) * a + w * joints[:, chain[after]]
            known[j] = True
    return joints


def _facing(joints: np.ndarray) -> np.ndarray:
    """(T, 3) horizontal unit facing direction from the hips: left hip minus right hip, crossed with up."""
    across = joints[:, SMPL22.index("left_hip")] - joints[:, SMPL22.index("right_hip")]
    forward = np.cross(across, [0.0, 1.0, 0.0])
    forward[:, 1] = 0.0
    return forward / np.maximum(np.linalg.norm(forward, axis=-1, keepdims=True), 1e-9)


def _scale(joints: np.ndarray) -> float:
    """Body size relative to SMPL22's reference skeleton, from the (always present) shins."""
    shins = [(SMPL22.index(f"{s}_knee"), SMPL22.index(f"{s}_ankle")) for s in ("left", "right")]
    length = np.median([np.linalg.norm(joints[:, a] - joints[:, k], axis=-1) for k, a in shins])
    return float(length / SMPL22.lengths[[a for _, a in shins]].mean())
