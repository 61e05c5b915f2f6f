"""Clean foot contacts: planted feet that do not slide, and feet that do not sink into the floor.

A post-process on SMPL22 joint positions (metres, Y up, the floor at height 0), for exports. The
bones first get their median lengths (:func:`steady_bones`, as a BVH or glTF export does), then:

1. **Contacts.** A foot joint (ankle, toe) is planted on the frames where it is near the floor
   (less than ``height`` above the height it stands at, its lowest over the clip) and slow (horizontal speed below ``speed``); planted runs shorter than
   ``min_frames`` are ignored.
2. **Targets.** During a planted run the joint is held at one horizontal place, its mean over the
   run, and never below the floor; the correction of its first and last frames fades out over ``blend``
   frames on either side, so a lifting foot does not jump. A joint below the floor on any frame is lifted onto it.
3. **Root.** Where a leg cannot reach its target (hip to ankle longer than thigh plus shin) the
   pelvis and the body above it are lowered just enough, smoothed over time.
4. **Legs.** Two-bone inverse kinematics puts each knee so that thigh and shin keep their lengths
   and the knee stays in the plane its original bend points to; the toe keeps its distance from the
   ankle. Nothing else moves.

On real takes it changes little (see ``scripts/bench_contacts.py``): their planted feet are already
still. Own code: no maintained Python library does foot-contact cleanup on joint positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import binary_closing, gaussian_filter1d, maximum_filter1d

from .skeleton import SMPL22

_LEGS = tuple(tuple(SMPL22.index(f"{side}_{j}") for j in ("hip", "knee", "ankle", "foot")) for side in ("left", "right"))
_LOWER = {j for leg in _LEGS for j in leg[1:]}  # knees, ankles, toes: placed by the legs' IK
_REACH = 0.995  # a leg is never stretched quite straight (a straight knee has no bend plane)


@dataclass(frozen=True)
class ContactSettings:
    height: float = 0.05  # metres above the height it stands at: below it a foot joint may be planted
    speed: float = 0.8  # m/s: slower than this (and low) a foot joint is planted
    min_frames: int = 3  # shorter planted runs are left alone
    travel: float = 0.1  # metres: a run whose joint strays further from its mean place is a slide, left alone
    blend: int = 3  # frames over which a correction fades in and out


def contacts(joints: np.ndarray, fps: float, settings: ContactSettings = ContactSettings()) -> np.ndarray:
    """(T, 4) bool: which of left ankle, left toe, right ankle, right toe is planted on each frame."""
    feet = [leg[k] for leg in _LEGS for k in (2, 3)]
    p = joints[:, feet]  # (T, 4, 3)
    step = np.linalg.norm(np.diff(p[..., [0, 2]], axis=0), axis=-1) * fps  # (T - 1, 4)
    speed = np.concatenate([step[:1], (step[:-1] + step[1:]) / 2, step[-1:]]) if len(step) > 1 else np.zeros((len(p), 4))
    # the height a joint stands at (an ankle is above the floor when planted): its lowest over the clip
    stand = np.clip(np.percentile(p[..., 1], 5, axis=0), 0.0, 0.15)
    low = p[..., 1] < stand + settings.height
    planted = binary_closing(low & (speed < settings.speed), structure=np.ones((3, 1), bool)) & low
    for k in range(planted.shape[1]):  # runs too short to be a step, or that travel (a slide), stay as they are
        for start, stop in _runs(planted[:, k]):
            flat = p[start:stop, k][:, [0, 2]]
            if stop - start < settings.min_frames or np.linalg.norm(flat - flat.mean(0), axis=-1).max() > settings.travel:
                planted[start:stop, k] = False
    return planted


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def _correction(p: np.ndarray, planted: np.ndarray, blend: int) -> tuple[np.ndarray, np.ndarray]:
    """(T, 3) how far one foot joint moves to be held still on its planted runs and above the floor,
    and (T,) how much of it is a hold (1 on a run, fading to 0 around it)."""
    delta = np.zeros_like(p)
    weight = np.zeros(len(p))
    for start, stop in _runs(planted):
        hold = p[start:stop, [0, 2]].mean(0)
        for t in range(max(0, start - blend), min(len(p), stop + blend)):
            # inside the run: onto the hold; around it, the correction of its first or last frame, fading
            near = min(max(t, start), stop - 1)
            w = 1.0 if near == t else 1 - abs(t - near) / (blend + 1)
            if w > weight[t]:  # where two runs' fades meet, the nearer run wins
                weight[t] = w
                delta[t, [0, 2]] = w * (hold - p[near, [0, 2]])
    delta[:, 1] = np.maximum(-p[:, 1], 0.0)
    return delta, weight


def clean_contacts(joints: np.ndarray, fps: float, settings: ContactSettings = ContactSettings()) -> np.ndarray:
    """(T, 22, 3) SMPL22 joints -> the same motion with planted feet held still and above the floor."""
    joints = steady_bones(np.asarray(joints, dtype=np.float64))
    if len(joints) < 2:
        return joints
    planted = contacts(joints, fps, settings)
    out = joints.copy()
    targets = {}
    for i, (_, _, ankle, toe) in enumerate(_LEGS):
        at_ankle, ankle_held = _correction(joints[:, ankle], planted[:, 2 * i], settings.blend)
        at_toe, toe_held = _correction(joints[:, toe], planted[:, 2 * i + 1], settings.blend)
        # a joint not held itself moves with the other joint of its foot, so the foot keeps its shape
        lift = np.maximum(at_ankle[:, 1], at_toe[:, 1])
        for joint, own, held, other in ((ankle, at_ankle, ankle_held, at_toe), (toe, at_toe, toe_held, at_ankle)):
            shift = own + (1 - held[:, None]) * other
            shift[:, 1] = lift
            targets[joint] = joints[:, joint] + shift

    # Lower the body where a leg cannot reach its ankle's target.
    drop = np.zeros(len(joints))
    for hip, knee, ankle, _ in _LEGS:
        reach = _reach(joints, hip, knee, ankle)[:, 0]
        d = targets[ankle] - joints[:, hip]
        flat = np.linalg.norm(d[:, [0, 2]], axis=-1)
        vertical = np.sqrt(np.maximum(reach**2 - flat**2, 0.0))
        drop = np.maximum(drop, np.maximum(-d[:, 1] - vertical, 0.0))
    if drop.any():
        drop = gaussian_filter1d(maximum_filter1d(drop, size=2 * settings.blend + 1), sigma=settings.blend / 2)
    upper = [j for j in range(joints.shape[1]) if j not in _LOWER]
    out[:, upper, 1] -= drop[:, None]

    for hip, knee, ankle, toe in _LEGS:
        thigh = np.linalg.norm(joints[:, knee] - joints[:, hip], axis=-1, keepdims=True)
        shin = np.linalg.norm(joints[:, ankle] - joints[:, knee], axis=-1, keepdims=True)
        foot = np.linalg.norm(joints[:, toe] - joints[:, ankle], axis=-1, keepdims=True)
        h = out[:, hip]
        d = targets[ankle] - h
        dist = np.linalg.norm(d, axis=-1, keepdims=True)
        u = d / np.maximum(dist, 1e-9)
        dist = np.clip(dist, np.abs(thigh - shin) + 1e-6, _reach(joints, hip, knee, ankle))  # as far as it goes
        pole = joints[:, knee] - joints[:, hip]  # the original bend
        n = pole - (pole * u).sum(-1, keepdims=True) * u
        n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-9)
        along = (thigh**2 - shin**2 + dist**2) / (2 * dist)
        out[:, knee] = h + u * along + n * np.sqrt(np.maximum(thigh**2 - along**2, 0.0))
        out[:, ankle] = h + u * dist
        way = targets[toe] - out[:, ankle]
        way /= np.maximum(np.linalg.norm(way, axis=-1, keepdims=True), 1e-9)
        # a toe that would go through the floor turns up about the ankle until it touches it
        sink = out[:, ankle, 1:2] + foot * way[:, 1:2] < 0
        down = np.clip(-out[:, ankle, 1:2] / foot, -1.0, 1.0)
        flat = way[:, [0, 2]] / np.maximum(np.linalg.norm(way[:, [0, 2]], axis=-1, keepdims=True), 1e-9)
        turned = np.concatenate([flat[:, :1], down, flat[:, 1:]], axis=-1)
        turned[:, [0, 2]] *= np.sqrt(1 - down**2)
        out[:, toe] = out[:, ankle] + foot * np.where(sink, turned, way)
    return out


def steady_bones(joints: np.ndarray) -> np.ndarray:
    """(T, 22, 3) the same pose directions with every bone at its median length over the clip, placed
    from the pelvis outwards: what a BVH or glTF export (one rest skeleton) makes of the motion anyway.
    Generated motions' bones vary by a few millimetres from frame to frame; held feet must survive that."""
    out = joints.copy()
    for j, p in enumerate(SMPL22.parents):
        if p < 0:
            continue
        bone = joints[:, j] - joints[:, p]
        length = np.linalg.norm(bone, axis=-1, keepdims=True)
        out[:, j] = out[:, p] + bone / np.maximum(length, 1e-9) * np.median(length)
    return out


def _reach(joints: np.ndarray, hip: int, knee: int, ankle: int) -> np.ndarray:
    """(T, 1) how far from its hip a leg may put its ankle: nearly straight, or as straight as it was."""
    thigh = np.linalg.norm(joints[:, knee] - joints[:, hip], axis=-1)
    shin = np.linalg.norm(joints[:, ankle] - joints[:, knee], axis=-1)
    was = np.linalg.norm(joints[:, ankle] - joints[:, hip], axis=-1)
    return np.maximum(_REACH * (thigh + shin), np.minimum(was, thigh + shin))[:, None]
