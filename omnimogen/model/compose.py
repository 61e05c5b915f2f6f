"""Answers made from the motions a request gives rather than generated (``OmniMoGen.compose`` and
``OmniMoGen.keep_parts``): where the words ask for parts of given motions exactly, copying them is
exact and the model is not (it keeps a kept leg within 8 cm in 0 of 12 answers and follows a given
path in 22%).

- :func:`splice_whole`: a motion with some body parts of another, by rotation
  (``instructions.recipes.splice``, as the training's body-part edits were made), frame for frame;
- :func:`along_path`: a travelling motion bent onto another's path (motion path editing, as in
  Gleicher, "Motion Path Editing", I3D 2001): the body turned with the path, its own sway kept;
- :func:`turned`: the same onto a course made from words ("turn right halfway").
"""

from __future__ import annotations

import numpy as np

from ..instructions.recipes import splice
from ..motion import FPS, Motion
from ..motion.checks import headings

# A path is taken when the two motions cover distances within this ratio of each other: the bent
# motion covers the route's distance in its own time, so its feet glide by the difference.
PATH_RATIO = (0.8, 1.25)
SMOOTH_FRAMES = 21  # the path is the root's course averaged over about 1 s (the sway of the steps is kept apart)
TANGENT_METRES = 0.2  # a path's direction at a point: towards the point this far further along it
LAST_STRAIGHT = 0.15  # share of a turned walk left straight after its turn, however late the words put it
TURN_RADIUS = 1.0  # metres: the arc of a turn asked in words (Bandai's turning walks turn within about 1-2 m)


def splice_whole(base: Motion, donor: Motion, parts) -> Motion:
    """``base`` (20 fps) with ``parts`` from ``donor``, frame for frame and as long as ``base``: a splice
    is one frame shorter than its inputs (rotations come from feature rows), so each input's last
    frame is given twice, and a shorter donor is held at its last pose."""
    n = base.num_frames + 1
    held = np.concatenate([donor.joints, np.repeat(donor.joints[-1:], max(0, n - donor.num_frames), 0)])[:n]
    last = np.concatenate([base.joints, base.joints[-1:]])
    return splice(Motion.from_joints(last, FPS), Motion.from_joints(held, FPS), parts)


def _course(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The root's course on the floor, (T, 2) as (x, z), averaged over SMOOTH_FRAMES, and its arc length (T,)."""
    xz = joints[:, 0, [0, 2]].astype(np.float64)
    k = min(SMOOTH_FRAMES, len(xz)) // 2
    padded = np.concatenate([np.repeat(xz[:1], k, 0), xz, np.repeat(xz[-1:], k, 0)])
    kernel = np.ones(2 * k + 1) / (2 * k + 1)
    course = np.stack([np.convolve(padded[:, i], kernel, mode="valid") for i in range(2)], axis=1)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(course, axis=0), axis=1))])
    return course, arc


def _at(course: np.ndarray, arc: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Points of a course at arc lengths ``s`` (held at its ends)."""
    return np.stack([np.interp(s, arc, course[:, i]) for i in range(2)], axis=1)


def _direction(course: np.ndarray, arc: np.ndarray, s: np.ndarray) -> np.ndarray:
    """The course's direction (atan2(x, z)) at arc lengths ``s``, unwrapped."""
    ahead = _at(course, arc, np.minimum(s + TANGENT_METRES, arc[-1]))
    behind = _at(course, arc, np.maximum(s - TANGENT_METRES, 0.0))
    d = ahead - behind
    return np.unwrap(np.arctan2(d[:, 0], d[:, 1]))


def _bend(a: np.ndarray, course_b: np.ndarray, name: str | None, cut: bool, min_metres: float,
          straight: bool = False) -> Motion | None:  # fmt: skip
    """Joints ``a`` (20 fps) walked along ``course_b`` (T', 2), a course already placed at ``a``'s start;
    ``straight``: ``a`` is taken to walk straight (its course's own bends are sway, not turns)."""
    course_a, arc_a = _course(a)
    arc_b = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(course_b, axis=0), axis=1))])
    if min(arc_a[-1], arc_b[-1]) < min_metres:
        return None
    if cut and arc_a[-1] > arc_b[-1] * PATH_RATIO[1]:  # the motion goes further: it ends where the route ends
        a = a[: int(np.searchsorted(arc_a, arc_b[-1])) + 1]
        course_a, arc_a = _course(a)
    if not PATH_RATIO[0] <= arc_b[-1] / arc_a[-1] <= PATH_RATIO[1]:
        return None
    progress = arc_a * (arc_b[-1] / arc_a[-1])
    target = _at(course_b, arc_b, progress)
    turned_b = _direction(course_b, arc_b, progress)
    turned_a = np.zeros_like(turned_b) if straight else _direction(course_a, arc_a, arc_a)
    delta = (turned_b - turned_b[0]) - (turned_a - turned_a[0])  # (T,) how much more the route has turned
    out = a.copy()
    off_x = a[:, :, 0] - course_a[:, None, 0]
    off_z = a[:, :, 2] - course_a[:, None, 1]
    cd, sd = np.cos(delta)[:, None], np.sin(delta)[:, None]
    out[:, :, 0] = off_x * cd + off_z * sd + target[:, None, 0]
    out[:, :, 2] = -off_x * sd + off_z * cd + target[:, None, 1]
    # Turned with the body, a planted foot would slide along the arc: it is held where it was put down.
    return Motion.from_joints(out.astype(np.float32), FPS, name=name).with_clean_contacts()


def along_path(motion: Motion, route: Motion, min_metres: float = 0.6) -> Motion | None:
    """``motion`` walked along ``route``'s path: each frame moved to the point of the route's course
    (turned into ``motion``'s start position and facing) as far along as ``motion`` has come on its own
    course (scaled to the route's length), and turned about the vertical by how much more the route's
    course has turned there than its own, so a body that faced along its own path faces along the
    route, and starts as the route's body started relative to its path. None
    when either hardly travels (less than ``min_metres``) or their distances differ by more than
    PATH_RATIO allows, unless the motion is the longer: it is then cut where it has come as far as the
    route goes (a shorter one is not looped: its feet would glide)."""
    a, b = motion.resample(FPS).joints.astype(np.float64), route.resample(FPS).joints.astype(np.float64)
    course_b, _ = _course(b)
    turn = headings(a[:5]).mean() - headings(b[:5]).mean()  # the route turned into the motion's start facing
    c, s = np.cos(turn), np.sin(turn)
    rel = course_b - course_b[0]
    placed = np.stack([rel[:, 0] * c + rel[:, 1] * s, -rel[:, 0] * s + rel[:, 1] * c], axis=1) + _course(a)[0][0]
    return _bend(a, placed, motion.name, True, min_metres)


def turned(motion: Motion, degrees: float, at: float = 0.5, radius: float = TURN_RADIUS,
           min_metres: float = 0.6) -> Motion | None:  # fmt: skip
    """``motion`` walked the way it goes (start to end), turning by ``degrees`` (positive: to its left)
    on an arc of ``radius`` metres centred ``at`` that share of the distance it covers, then straight
    on (:func:`along_path` onto a course made for it; the same distance, so its feet do not glide).
    None when it hardly travels."""
    a = motion.resample(FPS).joints.astype(np.float64)
    course_a, arc_a = _course(a)
    distance = arc_a[-1]
    if distance < min_metres:
        return None
    theta = np.radians(degrees)
    radius = min(radius, 0.6 * distance / max(abs(theta), 1e-6))  # the arc fits in the walk
    s = np.linspace(0.0, distance, max(2, int(distance / 0.02)))
    arc = radius * abs(theta)  # done by the last LAST_STRAIGHT of the way, so the new heading is walked
    start = max(0.0, min(at * distance - arc / 2, (1 - LAST_STRAIGHT) * distance - arc))
    chord = course_a[-1] - course_a[0]  # the way it walks, start to end
    phi = np.arctan2(chord[0], chord[1]) + theta * np.clip((s - start) / (arc + 1e-9), 0, 1)
    steps = np.diff(s, prepend=0.0)
    course = course_a[0] + np.cumsum(np.stack([np.sin(phi) * steps, np.cos(phi) * steps], axis=1), axis=0)
    return _bend(a, course, motion.name, False, min_metres, straight=True)
