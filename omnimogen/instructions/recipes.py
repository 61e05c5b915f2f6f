"""Derivation recipes: exact edits of a real clip, stored as data in a motion reference and applied here.

A reference selects feature rows [start, end) of a clip (the crop), then applies its steps in order:

``{"op": "speed", "factor": f}``
    Time-resampling: the clip plays ``f`` times as fast (f = 2 halves the rows). Joint positions are
    interpolated in time and the features recomputed from them, so velocities and foot contacts
    follow the new pace; the path is the same path.
``{"op": "mirror"}``
    The left/right mirror image (a left turn becomes a right turn, the left hand the right hand).
``{"op": "heading", "degrees": d}``
    A rotation of the whole motion about the vertical axis through its first root position; positive
    turns to the person's left (counterclockwise seen from above). Exact, but HumanML3D features put
    every motion's first frame facing +Z, so a heading rotation alone does not change the features:
    it matters where world placement matters (rendering, composing motions in one frame).
``{"op": "bodypart", "parts": [...], "from": {motion reference}}``
    A splice: the named parts (``legs`` with the root trajectory, ``torso``, ``left_arm``,
    ``right_arm``) are taken from the donor reference, the rest kept. It splices rotations, never
    positions: both motions are turned into per-bone rotations relative to their own facing
    (``omnimogen.motion.features.facing_rotations``), the chains are exchanged, and forward
    kinematics lays every bone with the reference skeleton's length from the kept root, so the
    result is always a well-formed body. The donor's first rows are used, as many as the motion has;
    forward kinematics needs a rotation per frame and features have one row fewer than frames, so a
    splice is one row shorter than its input.

Every step is checked by :func:`check_ref` (also without materialising: the builders and the
validator use it to know a reference's length), with an error that names the place and the fix.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import FormatError
from ..motion import FPS, SMPL22, Motion, resample
from ..motion.features import facing_rotations, pose_from_rotations
from ..motion.rotations import qrot, yaw_quat
from .schema import MotionRef, SampleError, Step, ref_from_json

SPEED_RANGE = (0.25, 4.0)
# Body parts as the kinematic chains they own (SMPL22 joint names); "legs" also owns the root.
BODY_PARTS: dict[str, tuple[str, ...]] = {
    "legs": ("left_hip", "left_knee", "left_ankle", "left_foot", "right_hip", "right_knee", "right_ankle",
             "right_foot"),
    "torso": ("spine1", "spine2", "spine3", "neck", "head"),
    "left_arm": ("left_collar", "left_shoulder", "left_elbow", "left_wrist"),
    "right_arm": ("right_collar", "right_shoulder", "right_elbow", "right_wrist"),
}  # fmt: skip
OPS = ("speed", "mirror", "heading", "bodypart")


class RecipeError(SampleError):
    """A motion reference or recipe step that cannot be applied."""


def _number(step: Step, key: str, where: str) -> float:
    value = step.args.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RecipeError(f"{where}: step '{step.op}' needs a number '{key}', got {value!r}.")
    return float(value)


def check_step(step: Step, where: str = "recipe step") -> None:
    """Raise :class:`RecipeError` if ``step`` is not a valid derivation (its donor is checked by ``check_ref``)."""
    expected = {"speed": {"factor"}, "mirror": set(), "heading": {"degrees"}, "bodypart": {"parts", "from"}}
    if step.op not in expected:
        raise RecipeError(f"{where}: unknown op {step.op!r}; use one of {', '.join(OPS)}.")
    extra = set(step.args) - expected[step.op]
    if extra:
        raise RecipeError(f"{where}: step '{step.op}' has unknown field(s) {', '.join(sorted(extra))}.")
    if step.op == "speed":
        f = _number(step, "factor", where)
        if not SPEED_RANGE[0] <= f <= SPEED_RANGE[1]:
            raise RecipeError(f"{where}: speed factor must be between {SPEED_RANGE[0]} and {SPEED_RANGE[1]}, got {f}.")
    elif step.op == "heading":
        d = _number(step, "degrees", where)
        if not -360 < d < 360:
            raise RecipeError(f"{where}: heading degrees must be between -360 and 360, got {d}.")
    elif step.op == "bodypart":
        parts = step.args.get("parts")
        if not isinstance(parts, list) or not parts or not all(isinstance(p, str) for p in parts):
            raise RecipeError(f"{where}: step 'bodypart' needs 'parts', a non-empty list of part names.")
        unknown = [p for p in parts if p not in BODY_PARTS]
        if unknown:
            raise RecipeError(f"{where}: unknown body part {unknown[0]!r}; use {', '.join(BODY_PARTS)}.")
        if len(set(parts)) == len(BODY_PARTS):
            raise RecipeError(f"{where}: a splice that takes every part from the donor is the donor; name fewer parts.")


def rows_after(step: Step, rows: int) -> int:
    """Feature rows of a motion of ``rows`` rows after ``step`` (see the module docstring)."""
    if step.op == "speed":
        return math.floor(rows / step.args["factor"] + 1e-9)
    return rows - 1 if step.op == "bodypart" else rows


def donor(step: Step, where: str = "recipe step") -> MotionRef:
    """The motion reference a 'bodypart' step takes its parts from."""
    return ref_from_json(step.args.get("from"), f"{where}.from")


def check_ref(ref: MotionRef, corpus, where: str = "motion", split: str | None = None) -> int:
    """Check a reference against the corpus (clip exists, in ``split`` if given, range inside the clip,
    every step valid, donors too); returns the number of feature rows it materialises to."""
    clip = corpus.clips.get(ref.clip)
    if clip is None:
        raise RecipeError(f"{where}: clip {ref.clip!r} is not in the dataset {corpus.name}.")
    if split is not None and clip.split != split:
        raise RecipeError(f"{where}: clip {ref.clip!r} belongs to the {clip.split} split, not {split}.")
    end = clip.rows if ref.end is None else ref.end
    if not 0 <= ref.start < end <= clip.rows:
        raise RecipeError(f"{where}: rows [{ref.start}, {ref.end}) are outside clip {ref.clip!r} of {clip.rows} rows.")
    rows = end - ref.start
    for k, step in enumerate(ref.recipe):
        sw = f"{where}.recipe[{k}]"
        check_step(step, sw)
        if step.op == "bodypart":
            available = check_ref(donor(step, sw), corpus, f"{sw}.from", split)
            if available < rows:
                raise RecipeError(f"{sw}: the donor has {available} rows, fewer than the {rows} of the motion.")
        rows = rows_after(step, rows)
        if rows < 1:
            raise RecipeError(f"{sw}: the motion would be shorter than one row; use a longer range.")
    return rows


def materialise(ref: MotionRef, corpus) -> Motion:
    """The motion a reference describes: the clip's rows [start, end), then every step in order."""
    check_ref(ref, corpus)
    rows = corpus.features(ref.clip)[ref.start : ref.end]  # (n, 263)
    motion = Motion.from_features(rows, name=ref.clip)
    for step in ref.recipe:
        motion = apply_step(motion, step, corpus)
    return motion


def apply_step(motion: Motion, step: Step, corpus=None) -> Motion:
    """One derivation; ``corpus`` is needed only for a body-part donor."""
    check_step(step)
    if step.op == "speed":
        joints = resample(motion.joints, FPS * step.args["factor"], FPS)  # played f times as fast
        return Motion.from_joints(joints, FPS, name=motion.name)
    if step.op == "mirror":
        return motion.mirrored()
    if step.op == "heading":
        return Motion.from_joints(rotate_heading(motion.joints, step.args["degrees"]), motion.fps, name=motion.name)
    if corpus is None:
        raise FormatError("a body-part splice needs the corpus its donor clip comes from.")
    return splice(motion, materialise(donor(step), corpus), step.args["parts"])


def rotate_heading(joints: np.ndarray, degrees: float) -> np.ndarray:
    """(T, J, 3) joints rotated about the vertical axis through the first root position."""
    pivot = joints[0, 0] * np.array([1.0, 0.0, 1.0], dtype=joints.dtype)
    q = yaw_quat(torch.tensor(math.radians(degrees), dtype=torch.float64))
    out = qrot(q, torch.from_numpy((joints - pivot).astype(np.float64))).numpy()
    return (out + pivot).astype(joints.dtype)


def _consistent_features(motion: Motion) -> np.ndarray:
    # A row slice of a stored clip keeps rotations that refer to the clip's original first frame;
    # recomputing the features from the joints makes them refer to this motion's own first frame.
    return Motion.from_joints(motion.joints, motion.fps).features


def splice(motion: Motion, donor_motion: Motion, parts) -> Motion:
    """``motion`` with ``parts`` (names of ``BODY_PARTS``) taken from ``donor_motion`` by rotation."""
    fa = _consistent_features(motion)  # (n, 263)
    fb = _consistent_features(donor_motion)[: len(fa)]
    if len(fb) < len(fa):
        raise FormatError(f"the donor has {len(fb)} rows, fewer than the {len(fa)} of the motion.")
    r_a, p_a, rel = facing_rotations(fa)
    r_b, p_b, rel_b = facing_rotations(fb)
    idx = [SMPL22.index(name) for part in parts for name in BODY_PARTS[part]]
    rel[:, idx] = rel_b[:, idx]
    r_rot, r_pos = (r_b, p_b) if "legs" in parts else (r_a, p_a)
    return Motion.from_joints(pose_from_rotations(r_rot, r_pos, rel), FPS, name=motion.name)
