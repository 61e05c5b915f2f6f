"""Rewards for reinforcement learning (``omnimogen train rl``): pure functions of decoded motions.

- **physical** (the paper's): minus the mean squared horizontal speed of the ankles and toes while
  they touch the floor, minus floating and floor penetration;
- **semantic** (the paper's): the evaluator's similarity of an answer to what was asked (the target
  motion for edits and in-context tasks, the caption for text-to-motion), softmax-normalised over
  the answers to one prompt;
- **verifiable** (ours): the joint checks of the follow suite (``motion.checks``), asked of an
  answer wherever the instruction's target shows the property: the turn and its side, the side a
  path veers to, which hand is raised, going forward or staying in place, facing along the path,
  the speed relative to the source, the path's shape, and the length of an edit.

Every check here compares the answer with the target the instruction set holds, so a reward needs no
labels and no learned model; the semantic reward is the only one that uses the evaluator, and a model
trained with it is judged by another one (``train evaluator --set train_share=0.5``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..evaluation.metrics import ANKLES_AND_TOES
from ..motion import FPS, checks

CONTACT_METRES = 0.05  # a foot joint below this on two frames in a row touches the floor (physical_score's)
FLOAT_METRES = 0.05  # the lowest foot joint above this floats
LENGTH_FRAMES = 4  # one latent step: an edit that keeps the length may differ by this much
PATH_SHARE = 0.5  # a path follows the target's when it lies closer than half the distance the target travels
FROZEN_SPEED = 0.05  # m/s: an answer whose joints move slower than this on average stands frozen


PHYSICAL_CAP = 2.0  # beyond this (a 1.4 m/s glide) a motion is broken anyway; one wild answer would set its group's spread


def physical_reward(joints: np.ndarray, fps: float = FPS) -> float:
    """Minus (mean squared horizontal speed, (m/s)^2, of the ankle and toe joints on the steps they
    touch the floor) minus (mean height of the lowest foot joint above 5 cm) minus (mean depth of the
    lowest foot joint below the floor), at most ``PHYSICAL_CAP``. 0 for a body standing still on the
    floor; a glide at 1 m/s costs about 1 while it touches."""
    j = np.asarray(joints, dtype=np.float64)
    feet = j[:, list(ANKLES_AND_TOES)]  # (T, F, 3)
    low = feet[..., 1] < CONTACT_METRES
    contact = low[:-1] & low[1:]  # (T - 1, F)
    speed2 = (np.diff(feet[..., [0, 2]], axis=0) ** 2).sum(-1) * fps**2
    slide = float(speed2[contact].mean()) if contact.any() else 0.0
    lowest = feet[..., 1].min(1)
    floating = float(np.maximum(lowest - FLOAT_METRES, 0).mean())
    penetration = float(np.maximum(-lowest, 0).mean())
    return -min(slide + floating + penetration, PHYSICAL_CAP)


def semantic_reward(similarities, temperature: float = 0.1) -> np.ndarray:
    """The paper's normalisation: a softmax over the answers to one prompt of their similarities to
    the request (cosines), scaled so that equal answers get 1 each."""
    s = np.asarray(similarities, dtype=np.float64) / temperature
    e = np.exp(s - s.max())
    return e / e.sum() * len(s)


def frozen(joints: np.ndarray, fps: float = FPS) -> bool:
    """An answer that hardly moves (a reward hack: standing still never slides)."""
    return checks.mean_speed(np.asarray(joints, dtype=np.float64), fps) < FROZEN_SPEED


def verifiable_checks(answer: np.ndarray, target: np.ndarray, source: np.ndarray | None = None,
                      fps: float = FPS) -> dict[str, bool]:  # fmt: skip
    """Pass or fail of each joint check the target shows (``(T, 22, 3)`` joints each; ``source`` the
    motion being edited, when there is one). A check the target does not show is not asked: a walk
    that goes straight asks no turn; only an edit that keeps its source's length asks the length."""
    a, t = np.asarray(answer, dtype=np.float64), np.asarray(target, dtype=np.float64)
    got, want = checks.measure(a, fps), checks.measure(t, fps)
    out: dict[str, bool] = {}
    if want.turn != "none":
        out["turn"] = got.turn == want.turn
    if want.side in ("left", "right"):
        out["curve"] = got.side == want.side
    if want.hand in ("left", "right"):
        out["hand"] = got.hand == want.hand
    if want.locomotion != "in_place" or got.locomotion != "in_place":
        out["locomotion"] = got.locomotion == want.locomotion
    if want.locomotion == "forward" and (want.side != "straight" or want.turn != "none"):
        out["facing"] = (got.facing_along_path or 0.0) >= (want.facing_along_path or 0.0) - 0.1
    if want.path_length > 1.0:
        out["path"] = checks.path_error(a, t) <= PATH_SHARE * want.path_length
    if source is not None:
        s = np.asarray(source, dtype=np.float64)
        if want.mean_speed > FROZEN_SPEED:
            asked = checks.speed_ratio(t, s, fps)
            out["speed_ratio"] = abs(checks.speed_ratio(a, s, fps) / asked - 1) <= checks.SPEED_TOLERANCE
        if abs(len(t) - len(s)) <= LENGTH_FRAMES:
            out["length"] = abs(len(a) - len(t)) <= LENGTH_FRAMES
    return out


def verifiable_reward(passed: dict[str, bool]) -> float | None:
    """The share of the asked checks an answer passes; None when nothing was asked."""
    return float(np.mean(list(passed.values()))) if passed else None


@dataclass(frozen=True)
class RewardWeights:
    """How much each reward counts (0 leaves it out: the ablation rows)."""

    semantic: float = 1.0
    physical: float = 1.0
    verifiable: float = 1.0


def combine(parts: dict[str, np.ndarray], weights: RewardWeights) -> np.ndarray:
    """The weighted sum of the reward arrays of one group (NaN, a reward not asked, counts 0; names
    other than the weights', such as ``similarity``, are not summed)."""
    total = np.zeros(len(next(iter(parts.values()))))
    for f in dataclasses.fields(weights):
        if f.name in parts:
            total += getattr(weights, f.name) * np.nan_to_num(np.asarray(parts[f.name], dtype=np.float64), nan=0.0)
    return total


def group_advantages(rewards: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    """GRPO's advantages: each answer's reward minus its group's mean, over the group's spread
    (all zero when the answers are rewarded alike: nothing to learn from that prompt)."""
    r = np.asarray(rewards, dtype=np.float64)
    spread = r.std()
    return np.zeros_like(r) if spread < eps else (r - r.mean()) / (spread + eps)
