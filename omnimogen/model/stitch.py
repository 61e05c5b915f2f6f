"""Motions longer than the training window, and timelines of several prompts, stitched from windows:
each next window continues the last seconds of the motion so far (the model's ``continue`` task) or
is made from its own words, and the model in-betweens the join (its ``inbetween`` task): shown the
last 0.6 s of one piece and the first 0.6 s of the next, it makes a transition that starts and ends
with them (the smoothest of a few tries). Each piece is cut where it and the transition agree best, and the cut is settled:
the jump in velocity there is spread over the frames around it (:func:`settle`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..motion import FPS, SMPL22, Motion

CONTEXT_FRAMES = 81  # the last 4 s of a long motion are shown when asking for what comes next
POSE_FRAMES = 13  # in-betweening shows 12 feature rows (0.6 s) of each end, the longest pose of training
SETTLE_FRAMES = 6  # frames on each side of a cut over which its jump is spread (tuned on 38 joins: 4, 6, 8, 10, 12, 20)
BRIDGE_TRIES = 8  # in-betweens drawn per join; the smoothest once cut in and settled is kept (tuned on seeds 0-15: 4, 8)
VELOCITY_WEIGHT = 0.3  # seconds: how a velocity gap (m/s) counts against a pose gap (m) at a cut
SMOOTHNESS_WEIGHT = 10.0  # m per (m/s a frame): how a change of speed at a join counts against the gap at its cuts (1, 3, 10)
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
        # never shorter than two poses, so that the last join is in-betweened too (what is over is cut off)
        need = max(min(window_frames, frames - len(joints) + 1), min_frames, 2 * POSE_FRAMES + 1)
        prompt = f"Continue <Motion> for about {(need - 1) / FPS:.1f} more seconds."
        nxt = window(prompt, need, {"Motion": context}).joints
        joints, _ = bridged(window, joints, nxt, 0)
    return joints[:frames]


def bridged(window: Window, a: np.ndarray, b: np.ndarray, extra: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """a then b (joints), joined by the model's in-between of a's last ``POSE_FRAMES`` and b's first,
    ``extra`` frames longer than the two. The in-between is turned and moved onto a's end (its first
    frames re-state it), b onto the in-between's end; each is cut in where the overlapping poses agree
    best, and each cut settled. ``BRIDGE_TRIES`` in-betweens are drawn and the one whose join is smoothest
    is kept: the least largest frame-to-frame change of the mean joint speed across the joined frames
    (:func:`speed_changes`) times ``SMOOTHNESS_WEIGHT``, plus how far apart the pieces were at its cuts.
    Returns the joints (len(a) + len(b) + extra frames; len(a) + len(b) - 1
    when either is too short to in-between, then b is placed after a and the two cut together) and the
    spans of frames that the joins changed."""
    k = POSE_FRAMES
    if len(a) <= k or len(b) <= k:
        out = np.concatenate([a, place_after(b, a)[1:]])
        return settle(out, len(a) - 1), [_span(out, len(a) - 1)]
    ends = {"StartPose": Motion.from_joints(a[-k:]), "EndPose": Motion.from_joints(b[:k])}
    joins = []
    for _ in range(BRIDGE_TRIES):
        bridge = window(INBETWEEN, 2 * k + extra, ends).joints
        out, first, miss_first = _cut_in(a, bridge, k)
        out, second, miss_second = _cut_in(out, b, k)
        out = settle(settle(out, first), second)
        lo, hi = _span(out, first)[0], _span(out, second)[1]
        rough = speed_changes(out[max(lo - 3, 0) : hi + 4]).max()
        joins.append((miss_first + miss_second + SMOOTHNESS_WEIGHT * rough, out, first, second))
    _, out, first, second = min(joins, key=lambda j: j[0])
    return out, [_span(out, first), _span(out, second)]


def _cut_in(a: np.ndarray, b: np.ndarray, k: int) -> tuple[np.ndarray, int, float]:
    """a then b, where b's first ``k`` frames re-state a's last ``k``: b is aligned on them and cut in after
    the frame where the two agree best (not the first or last two). Returns the joints, the cut (the
    last frame that is a's) and how far apart the two are there: the mean distance of the joints (m)
    plus ``VELOCITY_WEIGHT`` times that of their velocities (m/s)."""
    b = align_about_y(b, b[:k], a[-k:])
    gap = np.linalg.norm(b[:k] - a[-k:], axis=-1).mean(-1)
    at = 2 + int(np.argmin(gap[2:-2]))
    cut = len(a) - k + at
    velocity = np.linalg.norm((a[cut] - a[cut - 1]) - (b[at] - b[at - 1]), axis=-1).mean() * FPS  # the same step in both
    return np.concatenate([a[: cut + 1], b[at + 1 :]]), cut, float(gap[at] + VELOCITY_WEIGHT * velocity)


def _span(joints: np.ndarray, cut: int) -> tuple[int, int]:
    return max(cut - SETTLE_FRAMES, 0), min(cut + 1 + SETTLE_FRAMES, len(joints) - 1)


def settle(joints: np.ndarray, cut: int, width: int = SETTLE_FRAMES) -> np.ndarray:
    """Joints (T, J, 3) with the jump where frame ``cut`` meets ``cut + 1`` spread over ``width`` frames on
    each side. The acceleration (second difference) at the two frames of the cut is replaced by the line
    through the mean of the three frames before and the mean of the three after, and the frames within
    ``width`` of the cut are displaced, least squares, to have every acceleration as close to that as
    they can while the first and last two frames of the window keep their place (so position and
    velocity carry on unchanged there). A least-squares displacement map of our own: no library
    smooths a seam this way."""
    T = len(joints)
    lo, hi = max(cut - width, 1), min(cut + 1 + width, T - 2)
    if hi - lo < 4:
        return joints
    flat = joints.reshape(T, -1).astype(np.float64)
    rows = np.arange(lo, hi + 1)  # accelerations fitted: x[t-1] - 2 x[t] + x[t+1]
    accel = flat[rows - 1] - 2 * flat[rows] + flat[rows + 1]
    before, after = accel[rows < cut][-3:], accel[rows > cut + 1][:3]
    target = accel.copy()
    if len(before) and len(after):
        # the line through the means (centred 2 frames before the cut and 2 after cut + 1) at cut and cut + 1
        target[rows == cut] = (3 * before.mean(0) + 2 * after.mean(0)) / 5
        target[rows == cut + 1] = (2 * before.mean(0) + 3 * after.mean(0)) / 5
    free = np.arange(lo + 1, hi)  # displaced frames; lo - 1, lo, hi, hi + 1 stay
    second = np.zeros((len(rows), len(free)))
    for r, t in enumerate(rows):
        for step, c in ((-1, 1.0), (0, -2.0), (1, 1.0)):
            if lo < t + step < hi:
                second[r, t + step - lo - 1] = c
    shift, *_ = np.linalg.lstsq(second, target - accel, rcond=None)
    out = flat.copy()
    out[free] += shift
    return out.reshape(joints.shape).astype(joints.dtype)


def heading(joints: np.ndarray) -> float:
    """Facing angle about +Y of a pose (radians, 0 = +Z), from the hips and shoulders."""
    r_hip, l_hip, r_sh, l_sh = SMPL22.face_joints
    across = (joints[r_hip] - joints[l_hip]) + (joints[r_sh] - joints[l_sh])
    forward = np.cross([0.0, 1.0, 0.0], across)
    return float(np.arctan2(forward[0], forward[2]))


def _turn(joints: np.ndarray, angle: float, shift: np.ndarray) -> np.ndarray:
    """Joints turned by ``angle`` about +Y (through the origin), then moved by ``shift`` (x, z)."""
    c, s = np.cos(angle), np.sin(angle)
    out = joints @ np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]).T
    out[..., 0] += shift[0]
    out[..., 2] += shift[1]
    return out


def place_after(segment: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Turn and move ``segment`` (T, J, 3) about +Y so its first pose stands where and as
    ``previous``'s last pose does (the continuation starts at the origin facing +Z)."""
    out = _turn(segment, heading(previous[-1]) - heading(segment[0]), np.zeros(2))
    return _turn(out, 0.0, (previous[-1, 0] - out[0, 0])[[0, 2]])


def align_about_y(joints: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """``joints`` turned about +Y and moved along the floor by the rigid motion that best takes the
    poses ``src`` onto ``dst`` (both (k, J, 3); least squares over every joint, the 2-D Procrustes fit)."""
    p, q = src[..., [0, 2]].reshape(-1, 2), dst[..., [0, 2]].reshape(-1, 2)
    pm, qm = p.mean(0), q.mean(0)
    h = (p - pm).T @ (q - qm)
    angle = -np.arctan2(h[0, 1] - h[1, 0], h[0, 0] + h[1, 1])  # _turn's angle: x' = c x + s z
    c, s = np.cos(angle), np.sin(angle)
    moved = np.array([c * pm[0] + s * pm[1], -s * pm[0] + c * pm[1]])
    return _turn(joints, angle, qm - moved)


def speed_changes(joints: np.ndarray, fps: float = FPS) -> np.ndarray:
    """(T - 2,) the change of the mean joint speed (m/s) from step t -> t+1 to step t+1 -> t+2."""
    speed = np.linalg.norm(np.diff(joints, axis=0), axis=-1).mean(-1) * fps
    return np.abs(np.diff(speed))


def speed_jumps(joints: np.ndarray, joins: list[int] | list[tuple[int, int]], fps: float = FPS,
                reach: int = 3) -> dict[str, float]:  # fmt: skip
    """How visible joins are, from the frame-to-frame change of the mean joint speed (m/s). A join is a
    frame or a span of frames that joining changed; it is looked at within ``reach`` frames of it.
    ``join_max``: the largest change near any join; ``inside_median``: the median change everywhere
    else; ``inside_window_max``: the median of the largest change in windows of 2 * reach + 1 frames
    away from joins (what a one-frame join would be if it were invisible); ``above_p95``: the share of
    joins whose largest change is above the 95th percentile of same-width windows away from joins
    (0.05 if joins were as smooth as the rest)."""
    change = speed_changes(joints, fps)
    spans = [(j, j) if np.isscalar(j) else tuple(j) for j in joins]
    near = np.zeros(len(change), bool)
    looked = [(max(0, lo - reach - 1), min(len(change), hi + reach)) for lo, hi in spans]
    for lo, hi in looked:
        near[lo:hi] = True

    def inside(width: int) -> list[float]:
        return [change[i : i + width].max() for i in range(len(change) - width + 1) if not near[i : i + width].any()]

    above = [change[lo:hi].max() > np.percentile(w, 95) for lo, hi in looked if (w := inside(hi - lo))]
    windows = inside(2 * reach + 1)
    return {"join_max": float(change[near].max()) if near.any() else 0.0,
            "inside_median": float(np.median(change[~near])) if (~near).any() else 0.0,
            "inside_window_max": float(np.median(windows)) if windows else 0.0,
            "above_p95": float(np.mean(above)) if above else 0.0}  # fmt: skip
