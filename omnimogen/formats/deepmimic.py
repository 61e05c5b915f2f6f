"""DeepMimic motion clips (``humanoid3d_*.txt``): JSON keyframes on DeepMimic's 15-joint humanoid.

A clip is ``{"Loop": ..., "Frames": [[duration, root xyz, root quaternion (w, x, y, z), then per joint of
the character in order: a quaternion for a spherical joint, an angle about z for a revolute one], ...]}``;
the character file (``humanoid3d.txt``: ``{"Skeleton": {"Joints": [...]}, "BodyDefs": [...]}``) gives
each joint's parent and offset. Y is up, metres, the character faces +X with its right side at +Z
(the same handedness as ours). We resample the keyframes to the wanted rate (root position linear,
rotations by slerp), run forward kinematics, and place the 22 SMPL joints: the humanoid's own joints
where it has them, the head at the centre of its head sphere, the toes at the front of its foot box,
and the spine and collars between their neighbours (as for a BVH rig that lacks them).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from ..errors import FormatError
from ..motion.skeleton import SMPL22
from .rigs import place_missing

CHARACTER = "humanoid3d.txt"
# SMPL22 joint <- DeepMimic joint (the chest pivot is at about SMPL's spine3 height, 0.24 m above the pelvis)
JOINTS = {
    "pelvis": "root", "spine3": "chest", "neck": "neck", "right_hip": "right_hip", "right_knee": "right_knee",
    "right_ankle": "right_ankle", "right_shoulder": "right_shoulder", "right_elbow": "right_elbow",
    "right_wrist": "right_wrist", "left_hip": "left_hip", "left_knee": "left_knee", "left_ankle": "left_ankle",
    "left_shoulder": "left_shoulder", "left_elbow": "left_elbow", "left_wrist": "left_wrist",
}  # fmt: skip
HEAD = np.array([0.0, 0.175, 0.0])  # the head sphere's centre, in the neck's frame (BodyDefs)
TOE = np.array([0.11, -0.045, 0.0])  # the ball of the foot, near the front of the foot box, in the ankle's frame


def _load(path: Path, what: str) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FormatError(f"{path}: no such {what}.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FormatError(f"{path}: not a readable DeepMimic {what} ({e}).") from None
    if not isinstance(doc, dict):
        raise FormatError(f"{path}: not a DeepMimic {what}.")
    return doc


def is_deepmimic(path: str | Path) -> bool:
    """Whether a file holds a DeepMimic clip (a JSON object with ``Frames``)."""
    try:
        head = Path(path).read_text(encoding="utf-8", errors="replace")[:4096]
    except OSError:
        return False
    return head.lstrip().startswith("{") and '"Frames"' in head


def read_deepmimic(path: str | Path, *, character: str | Path | None = None, fps: float = 20.0) -> np.ndarray:
    """(frames, 22, 3) SMPL22 joint positions (metres, Y up) of a clip, at ``fps``. The character file
    defaults to ``humanoid3d.txt`` beside the clip or in its parent folder."""
    path = Path(path)
    if character is None:
        found = [p / CHARACTER for p in (path.parent, path.parent.parent) if (p / CHARACTER).is_file()]
        if not found:
            raise FormatError(f"{path}: no {CHARACTER} beside it; pass the DeepMimic character file.")
        character = found[0]
    joints_def = (_load(Path(character), "character").get("Skeleton") or {}).get("Joints")
    keys = ("Name", "Type", "Parent", "AttachX", "AttachY", "AttachZ")
    if not isinstance(joints_def, list) or not joints_def or not all(
            isinstance(j, dict) and set(keys) <= set(j) for j in joints_def):  # fmt: skip
        raise FormatError(f"{character}: needs a Skeleton.Joints list whose joints have {', '.join(keys)}.")
    names = [j["Name"] for j in joints_def]
    if set(JOINTS.values()) - set(names):
        raise FormatError(f"{character}: not the humanoid3d character (missing {sorted(set(JOINTS.values()) - set(names))}).")
    clip = _load(path, "clip")
    try:
        frames = np.asarray(clip.get("Frames"), dtype=np.float64)
    except (TypeError, ValueError):  # rows of different lengths, words
        frames = np.zeros((0, 0))
    width = 8 + sum({"spherical": 4, "revolute": 1}.get(j["Type"], 0) for j in joints_def[1:])
    if frames.ndim != 2 or frames.shape[1] != width or len(frames) < 2 or not np.isfinite(frames).all():
        raise FormatError(f"{path}: Frames must be at least two rows of {width} finite numbers for {character}.")
    times = np.concatenate([[0.0], np.cumsum(frames[:-1, 0])])
    if (np.diff(times) <= 0).any():
        raise FormatError(f"{path}: every keyframe but the last needs a positive duration.")
    t = np.arange(int(np.floor(times[-1] * fps + 1e-9)) + 1) / fps
    world = _forward_kinematics(joints_def, frames, times, t)  # name -> (T, 3) positions, (T,) rotations
    out = np.zeros((len(t), 22, 3))
    present = np.zeros(22, dtype=bool)
    for smpl, dm in JOINTS.items():
        out[:, SMPL22.index(smpl)] = world[dm][0]
        present[SMPL22.index(smpl)] = True
    neck_pos, neck_rot = world["neck"]
    out[:, SMPL22.index("head")] = neck_pos + neck_rot.apply(HEAD)
    for side in ("left", "right"):
        pos, rot = world[f"{side}_ankle"]
        out[:, SMPL22.index(f"{side}_foot")] = pos + rot.apply(TOE)
    present[[SMPL22.index(n) for n in ("head", "left_foot", "right_foot")]] = True
    return place_missing(out, present)


def _forward_kinematics(joints_def: list[dict], frames: np.ndarray, times: np.ndarray, t: np.ndarray) -> dict:
    """World position and rotation of every joint at times ``t`` (keyframe rotations slerped)."""
    root_pos = np.stack([np.interp(t, times, frames[:, 1 + k]) for k in range(3)], axis=1)
    col, local = 8, {}
    local["root"] = _slerp(frames[:, 4:8], times, t)
    for j in joints_def[1:]:
        if j["Type"] == "spherical":
            local[j["Name"]] = _slerp(frames[:, col : col + 4], times, t)
            col += 4
        elif j["Type"] == "revolute":
            local[j["Name"]] = Rotation.from_rotvec(np.interp(t, times, frames[:, col])[:, None] * [0.0, 0.0, 1.0])
            col += 1
        else:  # fixed
            local[j["Name"]] = Rotation.identity(len(t))
    world = {"root": (root_pos, local["root"])}
    for j in joints_def[1:]:
        parent = joints_def[j["Parent"]]["Name"]
        p_pos, p_rot = world[parent]
        offset = np.array([j["AttachX"], j["AttachY"], j["AttachZ"]], dtype=np.float64)
        world[j["Name"]] = (p_pos + p_rot.apply(offset), p_rot * local[j["Name"]])
    return world


def _slerp(wxyz: np.ndarray, times: np.ndarray, t: np.ndarray) -> Rotation:
    q = wxyz[:, [1, 2, 3, 0]]  # scipy wants (x, y, z, w)
    norms = np.linalg.norm(q, axis=1, keepdims=True)
    if (norms < 1e-6).any():
        raise FormatError("a keyframe holds a zero quaternion.")
    return Slerp(times, Rotation.from_quat(q / norms))(t)
