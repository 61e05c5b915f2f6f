"""Motions longer than the training window, and timelines of several prompts, stitched from windows:
each next window continues the last seconds of the motion so far (the model's ``continue`` task) or
is made from its own words, is placed where and as the previous one ends, and the join is made by the
model's in-betweening (its ``inbetween`` task) between the two ends."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..motion import FPS, SMPL22, Motion

CONTEXT_FRAMES = 81  # the last 4 s of a long motion are shown when asking for what comes next
BLEND_FRAMES = 5  # frames cross-faded where two windows meet
POSE_FRAMES = 13  # in-betweening shows 12 feature rows (0.6 s) of each end, the longest pose of training
INBETWEEN = "Make a motion that starts at <StartPose> and finishes at <EndPose>."  # the in-between task's words

# (instruction, frames, motions) -> one window's motion of exactly ``frames`` frames
Window = Callable[[str, int, dict[str, Motion]], Motion]


def long_motion(window: Window, instruction: str, motions: dict[str, Motion], frames: int, window_frames: int,
                min_frames: int) -> np.ndarray:  # fmt: skip
    """Joints (frames, J, 3): the first window follows the instruction (with its motions), the next ones
    continue it, each join in-betweened by the model (:func:`bridged`); ``min_frames`` is the shortest
    window the model can be asked for."""
    joints = window(instruction, window_frames, motions).joints
    while len(joints) < frames:
        context = Motion.from_joints(joints[-CONTEXT_FRAMES:])
        need = max(min(window_frames, frames - len(joints) + BLEND_FRAMES + 1), min_frames)
        prompt = f"Continue <Motion> for about {(need - 1) / FPS:.1f} more seconds."
        nxt = window(prompt, need, {"Motion": context}).joints
        joints, _ = bridged(window, joints, nxt, 0)
    return joints[:frames]


def bridged(window: Window, a: np.ndarray, b: np.ndarray, extra: int) -> tuple[np.ndarray, list[int]]:
    """a then b (joints), the last ``POSE_FRAMES`` of a and the first of b replaced by the model's
    in-between of them, ``extra`` frames longer: the join is a motion the model made, whose own ends are
    cross-faded onto a and b over ``BLEND_FRAMES``. Returns the joints (len(a) + len(b) - 1 + extra
    frames) and the seams where pieces meet (a's last frame alone when either is too short)."""
    k = POSE_FRAMES
    if len(a) <= k or len(b) <= k:  # too short to in-between: placed and cross-faded
        return join(a, place_after(b, a), BLEND_FRAMES), [len(a) - 1]
    ends = {"StartPose": Motion.from_joints(a[-k:]), "EndPose": Motion.from_joints(b[:k])}
    bridge = window(INBETWEEN, 2 * k + extra, ends).joints
    head = a[: len(a) - k + 1]
    out = join(head, place_after(bridge, head), BLEND_FRAMES)
    return join(out, place_after(b[k - 1 :], out), BLEND_FRAMES), [len(head) - 1, len(out) - 1]


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


def speed_jumps(joints: np.ndarray, joins: list[int], fps: float = FPS, reach: int = 3) -> dict[str, float]:
    """How visible joins are, from the frame-to-frame change of the mean joint speed (m/s): its largest
    value within ``reach`` frames of a join (``join_max``), its median everywhere else (``inside_median``),
    and, for the same width of window away from the joins, the median of each window's largest change
    (``inside_window_max``: what a join would be if it were invisible)."""
    speed = np.linalg.norm(np.diff(joints, axis=0), axis=-1).mean(-1) * fps  # (T - 1,)
    change = np.abs(np.diff(speed))  # (T - 2,): between speed t -> t+1 and t+1 -> t+2
    near = np.zeros(len(change), bool)
    for j in joins:
        near[max(0, j - reach - 1) : j + reach] = True
    width = 2 * reach + 1
    windows = [change[i : i + width].max() for i in range(len(change) - width + 1) if not near[i : i + width].any()]
    return {"join_max": float(change[near].max()) if near.any() else 0.0,
            "inside_median": float(np.median(change[~near])) if (~near).any() else 0.0,
            "inside_window_max": float(np.median(windows)) if windows else 0.0}  # fmt: skip
