"""Checks computed from the joints: what an instruction asked, measured without a learned model.

Each function takes joint positions ``(T, 22, 3)`` in metres, Y up, SMPL joint order, 20 frames a
second (as :class:`omnimogen.Motion` holds them) and returns plain floats or strings. The follow
suite (:mod:`omnimogen.evaluation.follow`) turns them into pass/fail checks; the thresholds live here, next to the
measure they apply to, and each was set on real Bandai test clips whose labels give the answer
(``python scripts/bench_checks.py`` measures how often each check agrees with the labels).

Conventions: the heading is the facing angle about +Y from the hips and shoulders (0 = +Z, positive
= turned to the person's left, counterclockwise seen from above); "left" of a body facing +Z is +X.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .features import FPS
from .skeleton import SMPL22

L_SHOULDER, R_SHOULDER, L_WRIST, R_WRIST = (SMPL22.index(n) for n in ("left_shoulder", "right_shoulder",
                                                                         "left_wrist", "right_wrist"))  # fmt: skip
HEAD, NECK = SMPL22.index("head"), SMPL22.index("neck")
PART_JOINTS = {  # the joints whose pose an instruction can ask to keep
    "legs": ("left_hip", "left_knee", "left_ankle", "left_foot", "right_hip", "right_knee", "right_ankle",
             "right_foot"),
    "torso": ("spine1", "spine2", "spine3", "neck", "head"),
    "left_arm": ("left_shoulder", "left_elbow", "left_wrist"),
    "right_arm": ("right_shoulder", "right_elbow", "right_wrist"),
}  # fmt: skip
PART_JOINTS["arms"] = PART_JOINTS["left_arm"] + PART_JOINTS["right_arm"]
PART_JOINTS["upper_body"] = PART_JOINTS["torso"] + PART_JOINTS["arms"]

TURN_DEGREES = 45.0  # a turn changes the heading by at least this much (Bandai's turns: about 90)
MOVING_SPEED = 0.3  # m/s of the root: frames slower than this have no direction of travel
FACING_DEGREES = 30.0  # facing "along the path": within this of the direction of travel
IN_PLACE_METRES = 0.6  # a motion whose root ends closer than this to its start stays in place
SIDE_METRES = 0.25  # a path veers to a side when its end lies at least this far to that side ...
SIDE_SHARE = 0.15  # ... and at least this share of the distance walked
HAND_UP = -0.15  # a hand is up when its wrist gets this high relative to its shoulder (metres)
HAND_MARGIN = 0.15  # one hand leads when its wrist reaches this much higher than the other's
WAVE_METRES = 0.04  # a wave swings a wrist held above its shoulder sideways by at least this ...
WAVE_SWINGS = 4  # ... this many times (Bandai's train waves: a median of 9-10 swings; raised hands 0-1)
FACING_SHARE = 0.9  # a bending path is walked facing along it when this share of its moving frames do
SPEED_TOLERANCE = 0.25  # a speed within 25% of the one asked
KEPT_METRES = 0.08  # kept body parts: mean distance of their joints to the source's, in the body's frame
PATH_POINTS = 64  # root paths are compared at this many points evenly spaced in time
# Whole-body skills, set on the Bandai clips and the imported extra clips (their captions give the answer):
INVERTED_FRAMES = 3  # head below the pelvis this many frames (0.15 s): cartwheels, flips, rolls, get-ups
CLEAR_METRES = 0.10  # a foot is off the floor when all its joints are this far above it ...
AIRBORNE_SECONDS = 0.2  # ... and a jump keeps both feet off for this long (runs: 3-8% of clips; jumps: all)
KICK_METRES = 0.9  # a kick lifts a foot this high while the other stands (kicks 1.0-1.6 m; runs at most 0.8)
# A bow leans the trunk this far forward of how it stood (Bandai's bows, every take and style: 23-69
# degrees; its goodbyes, bye-byes and guiding gestures: 12 or less in 38 of 45 takes, at most 39).
BOW_DEGREES = 20.0
# The skills a captioned clip's words name, which the joints tell (:func:`shows`): cartwheels, flips and
# rolls turn over; jumps leave the floor; kicks lift a foot.
SKILL_WORDS = {"inverted": r"cartwheel|flip|\brolls?\b|crawl", "airborne": r"\bjump", "kick": r"\bkick"}
LEFT_FOOT, RIGHT_FOOT = ([SMPL22.index(f"{s}_{j}") for j in ("ankle", "foot")] for s in ("left", "right"))


def _xz(v: np.ndarray) -> np.ndarray:
    return v[..., [0, 2]]


def headings(joints: np.ndarray) -> np.ndarray:
    """(T,) facing angle per frame, radians, unwrapped (a full turn left reads 2 pi)."""
    r_hip, l_hip, r_sh, l_sh = SMPL22.face_joints
    across = (joints[:, r_hip] - joints[:, l_hip]) + (joints[:, r_sh] - joints[:, l_sh])  # (T, 3), to the right
    forward = np.cross([0.0, 1.0, 0.0], across)  # (T, 3)
    return np.unwrap(np.arctan2(forward[:, 0], forward[:, 2]))


def turn_degrees(joints: np.ndarray, window: int = 5) -> float:
    """Heading change from the start to the end, degrees, positive to the left (first and last
    ``window`` frames averaged, so a sway of the shoulders does not count)."""
    h = headings(joints)
    k = max(1, min(window, len(h) // 4))
    return float(np.degrees(h[-k:].mean() - h[:k].mean()))


def _start_frame(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The root path on the floor (T, 2) moved to start at the origin and turned so that the first
    facing is +Z (the second coordinate); the first coordinate is then "to the left"."""
    h0 = headings(joints[:5]).mean()
    c, s = np.cos(h0), np.sin(h0)
    p = _xz(joints[:, 0] - joints[0, 0])  # (T, 2) as (x, z)
    left = p[:, 0] * c - p[:, 1] * s
    ahead = p[:, 0] * s + p[:, 1] * c
    return np.stack([left, ahead], axis=1), h0


def path_length(joints: np.ndarray) -> float:
    """Metres the root travels on the floor."""
    return float(np.linalg.norm(np.diff(_xz(joints[:, 0]), axis=0), axis=1).sum())


def displacement(joints: np.ndarray) -> tuple[float, float]:
    """Where the root ends relative to where it started and faced: (to the left, ahead), metres."""
    p, _ = _start_frame(joints)
    return float(p[-1, 0]), float(p[-1, 1])


def side_of_path(joints: np.ndarray) -> str:
    """ "left", "right" or "straight": the side the path ends on, relative to the first facing."""
    left, _ = displacement(joints)
    if abs(left) >= max(SIDE_METRES, SIDE_SHARE * path_length(joints)):
        return "left" if left > 0 else "right"
    return "straight"


def turn_side(joints: np.ndarray) -> str:
    """ "left", "right" or "none": which way the body ends turned (at least :data:`TURN_DEGREES`)."""
    d = turn_degrees(joints)
    return "none" if abs(d) < TURN_DEGREES else ("left" if d > 0 else "right")


def locomotion(joints: np.ndarray) -> str:
    """ "forward", "backward" or "in_place", from where the root ends relative to the first facing."""
    left, ahead = displacement(joints)
    if np.hypot(left, ahead) < IN_PLACE_METRES:
        return "in_place"
    return "backward" if ahead < -abs(left) * 0.5 else "forward"


def _facing_offsets(joints: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Per frame, the facing minus the direction of travel (the root's velocity over 0.2 s), radians in
    (-pi, pi], and whether the root moves then; None for a clip too short to tell."""
    k = max(1, int(round(0.1 * fps)))
    if len(joints) <= 2 * k:
        return None
    v = _xz(joints[2 * k :, 0] - joints[: -2 * k, 0]) * fps / (2 * k)  # (T - 2k, 2) centred velocity
    travel = np.arctan2(v[:, 0], v[:, 1])
    facing = headings(joints)[k:-k]
    return np.angle(np.exp(1j * (facing - travel))), np.linalg.norm(v, axis=1) > MOVING_SPEED


def facing_along_path(joints: np.ndarray, fps: float = FPS) -> float | None:
    """Share of the moving frames whose facing is within :data:`FACING_DEGREES` of the direction of
    travel; None when the root hardly moves. A crab walk (a path that drifts sideways while the body
    keeps facing ahead) scores low; walking backwards scores 0."""
    got = _facing_offsets(joints, fps)
    if got is None or got[1].sum() < 5:
        return None
    offset, moving = got
    return float((np.degrees(np.abs(offset[moving])) < FACING_DEGREES).mean())


def facing_like(joints: np.ndarray, reference: np.ndarray, fps: float = FPS) -> float | None:
    """Share of the moments (:data:`PATH_POINTS`, evenly spaced in time) when both move and the body
    meets its path at the reference's angle, within :data:`FACING_DEGREES`: for a path taken from a
    reference that is not walked facing along it (Bandai's walk-left/right go diagonally, body 20-35
    degrees off their path), copying it is right; None when they hardly move together."""
    a, b = _facing_offsets(joints, fps), _facing_offsets(reference, fps)
    if a is None or b is None:
        return None
    t = np.linspace(0, 1, PATH_POINTS)

    def at(offset, moving):  # resampled as unit vectors, so the angle does not wrap between samples
        s = np.linspace(0, 1, len(offset))
        z = np.interp(t, s, np.cos(offset)) + 1j * np.interp(t, s, np.sin(offset))
        return z, np.interp(t, s, moving.astype(float)) > 0.5

    (za, ma), (zb, mb) = at(*a), at(*b)
    both = ma & mb
    if both.sum() < 5:
        return None
    return float((np.degrees(np.abs(np.angle(za[both] / zb[both]))) < FACING_DEGREES).mean())


def mean_speed(joints: np.ndarray, fps: float = FPS) -> float:
    """Mean speed of all joints, m/s: the root's pace for a walk, the arms' for a wave."""
    return float(np.linalg.norm(np.diff(joints, axis=0), axis=-1).mean() * fps)


def speed_ratio(joints: np.ndarray, source: np.ndarray, fps: float = FPS) -> float:
    """How many times faster ``joints`` moves than ``source`` (mean joint speeds)."""
    return mean_speed(joints, fps) / max(mean_speed(source, fps), 1e-6)


def hand_heights(joints: np.ndarray) -> tuple[float, float]:
    """How high each wrist gets above its shoulder (metres; the 90th percentile over the frames, so a
    single frame does not decide): (left, right)."""
    left = joints[:, L_WRIST, 1] - joints[:, L_SHOULDER, 1]
    right = joints[:, R_WRIST, 1] - joints[:, R_SHOULDER, 1]
    return float(np.percentile(left, 90)), float(np.percentile(right, 90))


def raised_hand(joints: np.ndarray) -> str:
    """ "left", "right", "both" or "none": which hands go up (above the shoulder; one hand leads when
    its wrist gets :data:`HAND_MARGIN` higher than the other)."""
    left, right = hand_heights(joints)
    if max(left, right) < HAND_UP:
        return "none"
    if left - right > HAND_MARGIN:
        return "left"
    if right - left > HAND_MARGIN:
        return "right"
    return "both"


def wave_swings(joints: np.ndarray) -> int:
    """The most sideways swings of either wrist, in the body's frame and relative to its shoulder,
    over the frames it is above the shoulder: a swing is a reversal at least :data:`WAVE_METRES`
    from the last extreme (the arm of a raised hand barely moves; a waving one swings to and fro)."""
    local, most = _local(joints), 0
    for wrist, shoulder in ((L_WRIST, L_SHOULDER), (R_WRIST, R_SHOULDER)):
        up = joints[:, wrist, 1] > joints[:, shoulder, 1]
        x = (local[:, wrist, 0] - local[:, shoulder, 0])[up]
        swings, way, extreme = 0, 0, (x[0] if len(x) else 0.0)  # way: +1 swinging out, -1 back, 0 not yet
        for v in x[1:]:
            if way and (v - extreme) * way > 0:  # further the same way: the extreme moves on
                extreme = v
            elif abs(v - extreme) >= WAVE_METRES:  # far enough the other way (or the first way): a swing
                swings, way, extreme = swings + (way != 0), (1 if v > extreme else -1), v
        most = max(most, swings)
    return most


def waves(joints: np.ndarray) -> bool:
    """Whether a raised hand waves (:func:`wave_swings`) rather than being held up."""
    return wave_swings(joints) >= WAVE_SWINGS


def inverted_frames(joints: np.ndarray) -> int:
    """Frames in which the head is below the pelvis (upside down, or lying head-down)."""
    return int((joints[:, HEAD, 1] < joints[:, 0, 1]).sum())


def _foot_heights(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T,) height of each foot's lowest joint above the floor (the 5th percentile of the lower foot)."""
    left, right = joints[:, LEFT_FOOT, 1].min(1), joints[:, RIGHT_FOOT, 1].min(1)
    floor = np.percentile(np.minimum(left, right), 5)
    return left - floor, right - floor


def airborne_seconds(joints: np.ndarray, fps: float = FPS) -> float:
    """The longest span with both feet off the floor, in seconds."""
    left, right = _foot_heights(joints)
    best = run = 0
    for off in (left > CLEAR_METRES) & (right > CLEAR_METRES):
        run = run + 1 if off else 0
        best = max(best, run)
    return best / fps


def kick_height(joints: np.ndarray) -> float:
    """How high one foot gets while the other stands on the floor, metres."""
    left, right = _foot_heights(joints)
    standing_left, standing_right = left <= CLEAR_METRES, right <= CLEAR_METRES
    return float(max(np.max(np.where(standing_right, left, 0.0)), np.max(np.where(standing_left, right, 0.0))))


def forward_lean(joints: np.ndarray) -> float:
    """How far the trunk (pelvis to neck) leans forward of how it stood at the start, degrees: the 95th
    percentile over the frames less the median of the first five, in the body's own frame."""
    local = _local(np.asarray(joints, dtype=np.float64))
    trunk = local[:, NECK] - local[:, 0]
    angle = np.degrees(np.arctan2(trunk[:, 2], trunk[:, 1]))
    return float(np.percentile(angle, 95) - np.median(angle[:5]))


def bows(joints: np.ndarray) -> bool:
    """Whether the trunk leans forward as a bow does (:data:`BOW_DEGREES`)."""
    return forward_lean(joints) >= BOW_DEGREES


def action_test(action: str) -> Callable[[np.ndarray], bool] | None:
    """A test of whether joints show ``action`` (a corpus action label, or a skill of :data:`SKILL_WORDS`),
    for the actions a joint measure tells: a bow leans forward; a raised or waving hand is the named
    one (or both) and waves, or is held, as named; a kick, a jump or a cartwheel shows that skill.
    None for the rest (a goodbye, a guiding gesture, a punch: no measure here tells them apart)."""
    if action == "bow":
        return bows
    for kind, waving in (("wave-", True), ("raise-up-", False)):
        if action.startswith(kind):
            side = action[len(kind) :].split("-")[0]  # left, right or both
            return lambda joints: raised_hand(joints) == side and waves(joints) == waving
    skill = "kick" if action == "kick" else action if action in SKILL_WORDS else None
    return None if skill is None else lambda joints: skill in shows(joints)


def skill_named(words: str) -> str | None:
    """The first skill of :data:`SKILL_WORDS` the words name ("A person does a cartwheel." -> inverted)."""
    return next((skill for skill, pattern in SKILL_WORDS.items() if re.search(pattern, words, re.IGNORECASE)), None)


def shows(joints: np.ndarray, fps: float = FPS) -> tuple[str, ...]:
    """The whole-body skills a motion shows: "inverted", "airborne" (a jump), "kick"."""
    out = []
    if inverted_frames(joints) >= INVERTED_FRAMES:
        out.append("inverted")
    if airborne_seconds(joints, fps) >= AIRBORNE_SECONDS - 1e-9:
        out.append("airborne")
    if kick_height(joints) >= KICK_METRES:
        out.append("kick")
    return tuple(out)


def _local(joints: np.ndarray) -> np.ndarray:
    """Joints relative to the root's floor point, turned so each frame faces +Z: (T, 22, 3)."""
    h = headings(joints)
    c, s = np.cos(-h)[:, None], np.sin(-h)[:, None]
    rel = joints - joints[:, :1] * np.array([1.0, 0.0, 1.0])
    x, z = rel[..., 0], rel[..., 2]
    return np.stack([x * c + z * s, rel[..., 1], -x * s + z * c], axis=-1)


def part_error(joints: np.ndarray, source: np.ndarray, part: str) -> float:
    """Mean distance (m) of a body part's joints to the source's, each in its body's own frame, over
    the frames both have (a kept part should stay where the source had it, frame by frame)."""
    if part not in PART_JOINTS:
        raise ValueError(f"unknown body part {part!r}; known: {', '.join(PART_JOINTS)}.")
    idx = [SMPL22.index(n) for n in PART_JOINTS[part]]
    n = min(len(joints), len(source))
    a, b = _local(joints[:n])[:, idx], _local(source[:n])[:, idx]
    return float(np.linalg.norm(a - b, axis=-1).mean())


def path_error(joints: np.ndarray, reference: np.ndarray) -> float:
    """Mean distance (m) between two root paths, each moved to start at the origin facing +Z and
    compared at :data:`PATH_POINTS` points evenly spaced in time (so a path walked faster or slower
    still matches its shape)."""
    pa, _ = _start_frame(joints)
    pb, _ = _start_frame(reference)
    t = np.linspace(0, 1, PATH_POINTS)

    def at(p):
        s = np.linspace(0, 1, len(p))
        return np.stack([np.interp(t, s, p[:, 0]), np.interp(t, s, p[:, 1])], axis=1)

    return float(np.linalg.norm(at(pa) - at(pb), axis=1).mean())


def pose_distance(joints: np.ndarray, reference: np.ndarray, fps: float = FPS) -> float:
    """How far apart two motions' poses are (m per joint and moment), after aligning them in time by
    dynamic time warping, so a slower or livelier take of the same action stays near and another action
    is far. Written here: no library the package uses has DTW, and it is a dozen lines."""
    step = max(1, int(round(fps / 10)))  # 10 poses a second, each in its body's own frame (heights kept)
    a, b = (_local(np.asarray(m, dtype=np.float64))[::step] for m in (joints, reference))
    d = np.linalg.norm(a[:, None] - b[None], axis=-1).mean(-1)  # (T'a, T'b) mean joint distance
    cost = np.full(len(b) + 1, np.inf)
    cost[0] = 0.0
    for i in range(len(a)):
        prev, cost = cost, np.full(len(b) + 1, np.inf)
        for k in range(1, len(b) + 1):  # each cell: its distance plus the cheapest way in
            cost[k] = d[i, k - 1] + min(prev[k], prev[k - 1], cost[k - 1])
    return float(cost[-1] / (len(a) + len(b)))


@dataclass(frozen=True)
class Measures:
    """Everything the checks read off one motion (for reports and debugging)."""

    frames: int
    turn_degrees: float
    side: str
    turn: str
    locomotion: str
    facing_along_path: float | None
    path_length: float
    mean_speed: float
    hand: str
    shows: tuple[str, ...] = ()
    waves: bool = False


def measure(joints: np.ndarray, fps: float = FPS) -> Measures:
    joints = np.asarray(joints, dtype=np.float64)
    return Measures(len(joints), turn_degrees(joints), side_of_path(joints), turn_side(joints), locomotion(joints),
                    facing_along_path(joints, fps), path_length(joints), mean_speed(joints, fps),
                    raised_hand(joints), shows(joints, fps), waves(joints))  # fmt: skip
