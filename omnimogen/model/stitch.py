"""Motions longer than the training window, stitched from windows: each next window continues the last
seconds of the motion so far (the model's ``continue`` task), is placed where and as the previous one
ends, and is cross-faded into it over a few frames."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..motion import FPS, SMPL22, Motion

CONTEXT_FRAMES = 81  # the last 4 s of a long motion are shown when asking for what comes next
BLEND_FRAMES = 5  # frames cross-faded where two windows meet

# (instruction, frames, motions) -> one window's motion of exactly ``frames`` frames
Window = Callable[[str, int, dict[str, Motion]], Motion]


def long_motion(window: Window, instruction: str, motions: dict[str, Motion], frames: int, window_frames: int,
                min_frames: int) -> np.ndarray:  # fmt: skip
    """Joints (frames, J, 3): the first window follows the instruction (with its motions), the next ones
    continue it; ``min_frames`` is the shortest window the model can be asked for."""
    joints = window(instruction, window_frames, motions).joints
    while len(joints) < frames:
        context = Motion.from_joints(joints[-CONTEXT_FRAMES:])
        need = max(min(window_frames, frames - len(joints) + BLEND_FRAMES + 1), min_frames)
        prompt = f"Continue <Motion> for about {(need - 1) / FPS:.1f} more seconds."
        nxt = window(prompt, need, {"Motion": context}).joints
        joints = join(joints, place_after(nxt, joints), BLEND_FRAMES)
    return joints[:frames]


def heading(joints: np.ndarray) -> float:
    """Facing angle about +Y of a pose (radians, 0 = +Z), from the hips and shoulders."""
    r_hip, l_hip, r_sh, l_sh = SMPL22.face_joints
    across = (joints[r_hip] - joints[l_hip]) + (joints[r_sh] - joints[l_sh])
    forward = np.cross([0.0, 1.0, 0.0], across)
    return float(np.arctan2(forward[0], forward[2]))


def place_after(segment: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Turn and move ``segment`` (T, J, 3) about +Y so its first pose stands where and as
    ``previous``'s last pose does (the continuation starts at the origin facing +Z)."""
    angle = heading(previous[-1]) - heading(segment[0])
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    out = segment @ rot.T
    shift = previous[-1, 0] - out[0, 0]
    shift[1] = 0.0
    return out + shift


def join(a: np.ndarray, b: np.ndarray, blend: int) -> np.ndarray:
    """a then b, where b's first frame re-states a's last: drop it and cross-fade the next frames."""
    b = b[1:]
    k = min(blend, len(a) - 1, len(b))
    w = np.linspace(0, 1, k + 2)[1:-1, None, None]  # (k, 1, 1)
    step = a[-1] - a[-2]
    extrapolated = a[-1] + step * np.arange(1, k + 1)[:, None, None]  # where a would have gone
    b = b.copy()
    b[:k] = (1 - w) * extrapolated + w * b[:k]
    return np.concatenate([a, b])


def speed_jumps(joints: np.ndarray, joins: list[int], fps: float = FPS, reach: int = 3) -> tuple[float, float]:
    """How visible joins are: the largest frame-to-frame change of the mean joint speed (m/s) within
    ``reach`` frames of a join, and the median change everywhere else."""
    speed = np.linalg.norm(np.diff(joints, axis=0), axis=-1).mean(-1) * fps  # (T - 1,)
    change = np.abs(np.diff(speed))  # (T - 2,): between speed t -> t+1 and t+1 -> t+2
    near = np.zeros(len(change), bool)
    for j in joins:
        near[max(0, j - reach - 1) : j + reach] = True
    return float(change[near].max()) if near.any() else 0.0, float(np.median(change[~near])) if (~near).any() else 0.0
