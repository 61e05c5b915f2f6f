"""BVH files: parse, forward kinematics, import onto SMPL22 (metres, Y up) and export from joint positions.

Own parser, not bvhio (PyPI): it reads no .gz, pins pyglm and loops forever at the end of a truncated file.
"""

from __future__ import annotations

import math
import os
import warnings
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ..errors import FormatError, MotionError
from ..fileio import atomic_path, open_text
from ..motion.features import FPS
from ..motion.skeleton import SMPL22, Skeleton
from .rigs import load_joint_map, match_rig, place_missing

# Values past these are no real motion (a spinning joint reaches a few thousand degrees in one take at
# most; 1e6 units is 10 km in centimetres): a file holding them is broken, not unusual.
MAX_DEGREES, MAX_UNITS = 1e5, 1e6
MAX_CHARS = 64 * 2**20  # about 30 minutes of a 22-joint take at 30 fps; longer files are refused before parsing
# Metres per file unit. "cmu": the CMU mocap BVH conversions, whose unit is 1/0.45 inch.
UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "cmu": 0.0254 / 0.45}
# Rotation about +X (degrees) that turns each possible up axis into +Y without mirroring.
_UP_TO_Y = {"y": 0.0, "-y": 180.0, "z": -90.0, "-z": 90.0}
# Ankle-to-head length along the skeleton of a typical adult, metres: the unit is the one that
# brings the body closest to it (SMPL22's reference skeleton measures 1.58 m, Bandai's actors 1.34 m).
_TYPICAL_BODY = 1.4
_CHANNEL_NAMES = {f"{axis}{kind}" for axis in "XYZ" for kind in ("position", "rotation")}


@dataclass(frozen=True, eq=False)
class BvhFile:
    """A parsed BVH file, values as written (file units, degrees)."""

    name: str  # the file, for messages
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]  # -1 for a root; parents precede their children
    offsets: np.ndarray  # (J, 3) rest offsets from the parent, file units
    channels: tuple[tuple[str, ...], ...]  # per joint, e.g. ("Xposition", ..., "Yrotation")
    frame_time: float  # seconds
    motion: np.ndarray  # (F, C) channel values, C = total number of channels
    end_sites: Mapping[int, np.ndarray] = field(default_factory=dict)  # joint -> its End Site offset

    @property
    def fps(self) -> float:
        """Frame rate; snapped to the nearest integer when the frame time is a rounded 1/n (0.0333333)."""
        fps = 1.0 / self.frame_time
        return float(round(fps)) if abs(fps - round(fps)) < 1e-4 * fps else fps

    def global_positions(self, times: np.ndarray | None = None) -> np.ndarray:
        """(T, J, 3) joint positions in file units by forward kinematics, at the frames or at ``times``.

        Rotation channels are intrinsic Euler angles in their listed order (Zrotation Xrotation
        Yrotation -> R = Rz Rx Ry); position channels replace the joint's offset on their axes.
        ``times`` (seconds) between frames interpolate each joint's local rotation (slerp) and
        position (linear) before the forward kinematics, so bones keep their lengths; interpolating
        the global positions instead would shorten fast-swinging limbs by millimetres.
        """
        frames, num_joints = len(self.motion), len(self.joint_names)
        if times is None:
            i0, w = np.arange(frames), np.zeros(frames)
        else:
            src = np.clip(np.asarray(times, dtype=np.float64) * self.fps, 0, frames - 1)
            i0 = np.minimum(np.floor(src).astype(int), frames - 1)
            w = src - i0
        i1 = np.minimum(i0 + 1, frames - 1)
        positions = np.empty((len(i0), num_joints, 3))
        rotations: list[Rotation] = []
        for j, (local, r) in enumerate(self.local_pose()):
            local = (1 - w[:, None]) * local[i0] + w[:, None] * local[i1]  # (T, 3)
            r0, r1 = r[i0], r[i1]
            rot = r0 * Rotation.from_rotvec(w[:, None] * (r0.inv() * r1).as_rotvec())  # slerp
            p = self.parents[j]
            if p < 0:
                positions[:, j] = local
                rotations.append(rot)
            else:
                positions[:, j] = positions[:, p] + rotations[p].apply(local)
                rotations.append(rotations[p] * rot)
        return positions

    def local_pose(self) -> list[tuple[np.ndarray, Rotation]]:
        """Per joint, its (F, 3) translation from its parent (file units) and its (F) local rotation:
        the offset with position channels replacing it on their axes, and the Euler angles turned into
        rotations (intrinsic, in their listed order: Zrotation Xrotation Yrotation -> R = Rz Rx Ry)."""
        out, col, frames = [], 0, len(self.motion)
        for j, chans in enumerate(self.channels):
            values = self.motion[:, col : col + len(chans)]  # (F, len(chans))
            col += len(chans)
            local = np.repeat(self.offsets[j][None], frames, axis=0)  # (F, 3)
            for k, ch in enumerate(chans):
                if ch.endswith("position"):
                    local[:, "XYZ".index(ch[0])] = values[:, k]
            turns = [k for k, ch in enumerate(chans) if ch.endswith("rotation")]
            order = "".join(chans[k][0] for k in turns)
            rot = Rotation.from_euler(order, values[:, turns], degrees=True) if order else Rotation.identity(frames)
            out.append((local, rot))
        return out


@dataclass(frozen=True, eq=False)
class BvhImport:
    """A BVH motion on the SMPL22 skeleton, and what the import detected or had to invent."""

    joints: np.ndarray  # (T, 22, 3) float32, metres, Y up
    fps: float
    source_fps: float
    rig: str  # the built-in rig that matched, or "custom" for a joint map
    up: str  # the file's up axis: "y", "z", "-y" or "-z"
    unit: str  # the file's unit, a key of UNITS
    interpolated: tuple[str, ...]  # SMPL22 joints the rig lacks, placed from their neighbours
    name: str  # the file name without .bvh / .bvh.gz


def _error(where: str, line: int | None, problem: str) -> FormatError:
    return FormatError(f"{where}{f', line {line}' if line else ''}: {problem}.")


class _Tokens:
    """The words of the HIERARCHY section with their line numbers, for messages that point at a line."""

    def __init__(self, words: list[tuple[str, int]], where: str, end_line: int):
        self.words, self.i, self.where, self.end_line = words, 0, where, end_line

    def more(self) -> bool:
        return self.i < len(self.words)

    def peek_line(self) -> int:
        return self.words[self.i][1] if self.more() else self.end_line

    def next(self) -> tuple[str, int]:
        if not self.more():
            raise _error(self.where, self.end_line, "the hierarchy ends in the middle of a joint")
        self.i += 1
        return self.words[self.i - 1]

    def expect(self, word: str) -> None:
        got, line = self.next()
        if got != word:
            raise _error(self.where, line, f"expected '{word}', found '{got}'")

    def number(self) -> float:
        word, line = self.next()
        try:
            value = float(word)
        except ValueError:
            raise _error(self.where, line, f"'{word}' is not a number") from None
        if not math.isfinite(value):
            raise _error(self.where, line, f"'{word}' is not a finite number")
        return value

    def rest_of_line(self, line: int) -> str:
        """The words left on ``line`` before an opening brace (a joint name may contain spaces)."""
        words = []
        while self.more() and self.words[self.i][1] == line and self.words[self.i][0] != "{":
            words.append(self.next()[0])
        return " ".join(words)


def parse_bvh(source: str | os.PathLike) -> BvhFile:
    """Parse a .bvh or .bvh.gz file, or BVH text (a string starting with HIERARCHY).

    Every problem raises FormatError naming the file and, where there is one, the line.
    """
    if isinstance(source, str) and source.lstrip().startswith("HIERARCHY"):
        return _parse(source, "BVH text")
    path = Path(source)
    try:
        with open_text(path) as f:
            text = f.read(MAX_CHARS + 1)  # bounded: a small .gz can hold gigabytes of text
    except FileNotFoundError:
        raise FormatError(f"{path}: no such file.") from None
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as e:
        raise FormatError(f"{path}: cannot be read as BVH text ({e}).") from None
    if len(text) > MAX_CHARS:
        raise FormatError(f"{path}: more than {MAX_CHARS // 2**20} MB of BVH text; split the take into shorter files.")
    return _parse(text, str(path))


def _parse(text: str, where: str) -> BvhFile:
    lines = text.splitlines()
    motion_at = next((n for n, line in enumerate(lines) if line.split()[:1] == ["MOTION"]), None)
    if motion_at is None:
        raise _error(where, None, "no MOTION section (the file is truncated or not BVH)")
    words = [(w, n) for n, line in enumerate(lines[:motion_at], 1) for w in line.split()]
    names, parents, offsets, channels, end_sites = _parse_hierarchy(_Tokens(words, where, motion_at + 1))

    rows = [(n, line.split()) for n, line in enumerate(lines[motion_at + 1 :], motion_at + 2) if line.strip()]
    if len(rows) < 2 or rows[0][1][:1] != ["Frames:"] or rows[1][1][:2] != ["Frame", "Time:"]:
        raise _error(where, motion_at + 1, "MOTION must be followed by 'Frames: n' and 'Frame Time: t' lines")
    (frames_line, frames_words), (time_line, time_words) = rows[:2]
    try:
        num_frames = int(frames_words[1])
        frame_time = float(time_words[2])
    except (IndexError, ValueError):
        raise _error(where, frames_line, "the frame count or frame time is not a number") from None
    if num_frames < 1:
        raise _error(where, frames_line, f"the file declares {num_frames} frames; a motion needs at least one")
    if not (math.isfinite(frame_time) and frame_time > 0):
        raise _error(where, time_line, f"the frame time {frame_time} is not a positive number of seconds")

    width = sum(len(c) for c in channels)
    data = rows[2 : 2 + num_frames]
    if len(data) < num_frames:
        raise _error(
            where,
            None,
            f"the file declares {num_frames} frames but holds {len(data)} (it is truncated; export it again)",
        )
    for n, values in data:
        if len(values) != width:
            raise _error(where, n, f"{len(values)} values where the hierarchy declares {width} channels")
    try:
        motion = np.array([values for _, values in data], dtype=np.float64)  # (F, C)
    except ValueError:
        n, word = next((n, w) for n, values in data for w in values if not _is_number(w))
        raise _error(where, n, f"'{word}' is not a number") from None
    bad = ~np.isfinite(motion).all(axis=1)
    if bad.any():
        raise _error(where, data[int(np.argmax(bad))][0], "the frame holds a NaN or infinite value")
    rotation = np.array([ch.endswith("rotation") for chans in channels for ch in chans])
    limit = np.where(rotation, MAX_DEGREES, MAX_UNITS)
    bad = (np.abs(motion) > limit).any(axis=1)
    if bad.any():
        raise _error(where, data[int(np.argmax(bad))][0],
                     f"the frame holds a value past any real motion (angles beyond {MAX_DEGREES:g} degrees or "
                     f"positions beyond {MAX_UNITS:g} units)")  # fmt: skip
    if (np.abs(np.array(offsets)) > MAX_UNITS).any():
        raise _error(where, None, f"a bone offset is longer than {MAX_UNITS:g} units")
    return BvhFile(where, names, parents, np.array(offsets).reshape(-1, 3), channels, frame_time, motion, end_sites)


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _parse_hierarchy(tokens: _Tokens):
    """ROOT/JOINT/End Site blocks -> names, parents, offsets and channels, in file (depth-first) order."""
    where = tokens.where
    word, line = tokens.next() if tokens.more() else ("", tokens.end_line)
    if word != "HIERARCHY":
        raise _error(where, line, "the file does not start with HIERARCHY (not a BVH file)")
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float] | None] = []
    channels: list[tuple[str, ...] | None] = []
    open_at: list[int] = []  # line where each open block started
    end_sites: dict[int, np.ndarray] = {}
    stack: list[int] = []  # open blocks: joint index, or -1 for an End Site

    def check_complete(j: int) -> None:
        for what, value in (("OFFSET", offsets[j]), ("CHANNELS", channels[j])):
            if value is None:
                raise _error(where, open_at[j], f"joint '{names[j]}' has no {what} line")

    while tokens.more():
        word, line = tokens.next()
        if word in ("ROOT", "JOINT"):
            if (word == "ROOT") != (not stack) or (stack and stack[-1] < 0):
                raise _error(where, line, f"{word} is not allowed here (unbalanced braces?)")
            if stack:
                check_complete(stack[-1])
            name = tokens.rest_of_line(line)
            if not name:
                raise _error(where, line, f"{word} without a joint name")
            tokens.expect("{")
            names.append(name)
            parents.append(stack[-1] if stack else -1)
            offsets.append(None)
            channels.append(None)
            open_at.append(line)
            stack.append(len(names) - 1)
        elif word == "End":
            if not stack or stack[-1] < 0:
                raise _error(where, line, "End Site outside a joint (unbalanced braces?)")
            check_complete(stack[-1])
            tokens.expect("Site")
            tokens.expect("{")
            stack.append(-1)
        elif word == "OFFSET":
            if not stack:
                raise _error(where, line, "OFFSET outside a joint (unbalanced braces?)")
            values = [tokens.number() for _ in range(3)]
            if stack[-1] >= 0:
                offsets[stack[-1]] = values
            elif len(stack) > 1:
                end_sites[stack[-2]] = np.array(values)
        elif word == "CHANNELS":
            if not stack or stack[-1] < 0:
                raise _error(where, line, "CHANNELS outside a joint")
            count, _ = tokens.next()
            if not count.isdigit():
                raise _error(where, line, f"the channel count '{count}' is not a number")
            chans = tuple(tokens.next()[0].capitalize() for _ in range(int(count)))
            unknown = [c for c in chans if c not in _CHANNEL_NAMES]
            if unknown or tokens.peek_line() == line:
                raise _error(where, line, f"CHANNELS {count} does not match the channel names that follow")
            channels[stack[-1]] = chans
        elif word == "}":
            if not stack:
                raise _error(where, line, "a '}' closes nothing (unbalanced braces)")
            j = stack.pop()
            if j >= 0:
                check_complete(j)
        else:
            raise _error(where, line, f"unexpected '{word}' in the hierarchy")
    if stack:
        name = next((names[j] for j in reversed(stack) if j >= 0), "End Site")
        raise _error(where, tokens.end_line, f"joint '{name}' is not closed before MOTION (unbalanced braces)")
    if not names:
        raise _error(where, tokens.end_line, "the hierarchy has no joints")
    return tuple(names), tuple(parents), offsets, tuple(channels), end_sites


def read_bvh(
    path: str | os.PathLike,
    *,
    joint_map: Mapping[str, str] | str | os.PathLike | None = None,
    up: str | None = None,
    unit: str | None = None,
    fps: float = FPS,
) -> BvhImport:
    """Import a BVH motion onto SMPL22: (T, 22, 3) metres, Y up, right-handed, resampled to ``fps``.

    The rig is recognised by its joint names (see ``rigs.RIGS``); other rigs need ``joint_map``, a
    mapping or JSON file ``{smpl22 name: file joint name}``. ``up`` ("y", "z", "-y", "-z") and
    ``unit`` (a key of UNITS) are detected from the median pose when not given. SMPL joints the
    rig lacks are placed from their neighbours, with one warning naming them all.
    """
    bvh = parse_bvh(path)
    if isinstance(joint_map, str | os.PathLike):
        joint_map = load_joint_map(joint_map)
    rig, found = match_rig(bvh.joint_names, joint_map, where=bvh.name)
    duration = (len(bvh.motion) - 1) / bvh.fps
    times = np.arange(int(np.floor(duration * fps + 1e-6)) + 1) / fps  # the clip's span, resampled
    source = bvh.global_positions(times)  # (T, Js, 3) file units
    joints = np.full((len(source), SMPL22.num_joints, 3), np.nan)  # (F, 22, 3)
    joints[:, list(found)] = source[:, list(found.values())]

    up = _option(up, _UP_TO_Y, "up", bvh.name) or _detect_up(joints)
    unit = _option(unit, UNITS, "unit", bvh.name) or _detect_unit(joints, bvh.name)
    to_y_up = Rotation.from_euler("x", _UP_TO_Y[up], degrees=True)
    joints = to_y_up.apply(joints.reshape(-1, 3)).reshape(joints.shape) * UNITS[unit]
    joints = joints + _root_offset_shift(bvh, joints, to_y_up, UNITS[unit])

    present = np.isin(np.arange(SMPL22.num_joints), list(found))
    placed = tuple(SMPL22.joint_names[j] for j in np.flatnonzero(~present))
    if placed:
        joints = place_missing(joints, present)
        warnings.warn(
            f"{bvh.name}: the {rig} rig has no {', '.join(placed)}; placed from the neighbouring joints.",
            stacklevel=2,
        )
    name = Path(bvh.name).name
    for suffix in (".gz", ".bvh"):
        name = name[: -len(suffix)] if name.lower().endswith(suffix) else name
    return BvhImport(joints.astype(np.float32), float(fps), bvh.fps, rig, up, unit, placed, name)


def _root_offset_shift(bvh: BvhFile, joints: np.ndarray, to_y_up: Rotation, scale: float) -> np.ndarray:
    """What to add to every joint (metres, Y up) when the root's position channels are relative to its
    rest offset rather than absolute.

    Exporters disagree: most write the root's absolute position in its channels (its OFFSET is then
    for display only), some (Character Creator) write it relative to the OFFSET, and read as absolute
    such a take floats a hip height below the floor. Both readings differ by one shift of the whole
    body; the offset is added only when it is a vertical one of at least 20 cm and brings the lowest
    ankle at least twice as near the floor (y = 0).
    """
    root = bvh.parents.index(-1)
    axes = ["XYZ".index(ch[0]) for ch in bvh.channels[root] if ch.endswith("position")]
    offset = np.zeros(3)
    offset[axes] = bvh.offsets[root][axes]
    shift = to_y_up.apply(offset) * scale
    ankles = [SMPL22.index("left_ankle"), SMPL22.index("right_ankle")]
    floor = float(np.median(joints[:, ankles, 1].min(axis=1)))
    relative = abs(shift[1]) >= 0.2 and abs(floor + shift[1]) < 0.5 * abs(floor)
    return shift if relative else np.zeros(3)


def _option(value: str | None, choices: Mapping[str, object], what: str, where: str) -> str | None:
    if value is not None and value not in choices:
        raise FormatError(f"{where}: {what}={value!r} is not one of {', '.join(choices)}.")
    return value


def _detect_up(joints: np.ndarray) -> str:
    """The axis (Y or Z, with its sign) along which the head rises most above the ankles (median pose).
    A motion lying along the floor most of the time (a crawl) cannot be told from a standing one of
    another up axis: pass ``up``."""
    ankles = joints[:, [SMPL22.index("left_ankle"), SMPL22.index("right_ankle")]].mean(axis=1)  # (F, 3)
    rise = np.median(joints[:, SMPL22.index("head")] - ankles, axis=0)  # (3,)
    axis = "y" if abs(rise[1]) >= abs(rise[2]) else "z"
    return axis if rise["xyz".index(axis)] > 0 else f"-{axis}"


def rest_positions(parents, offsets: np.ndarray) -> np.ndarray:
    """(J, 3) joint positions of the rest pose (every rotation zero) from rest offsets, in their units."""
    rest = np.zeros_like(offsets)
    for j, p in enumerate(parents):
        rest[j] = offsets[j] + (rest[p] if p >= 0 else 0.0)
    return rest


def _detect_unit(joints: np.ndarray, where: str) -> str:
    """The unit making the ankle-to-head length along the skeleton closest to a typical adult's.

    Measured along the bones (ankle, knee, hip, pelvis, neck, head) rather than as a height, so a
    crawling or sitting motion measures the same as a standing one.
    """
    length = 0.0
    for side in ("left", "right"):
        chain = [SMPL22.index(n) for n in (f"{side}_ankle", f"{side}_knee", f"{side}_hip", "pelvis", "neck", "head")]
        bones = np.linalg.norm(np.diff(joints[:, chain], axis=1), axis=-1)  # (F, 5)
        length += float(np.median(bones.sum(axis=1))) / 2
    if not length > 0:
        raise FormatError(f"{where}: all body joints coincide, so the unit cannot be detected; pass unit=.")
    return min(UNITS, key=lambda u: abs(math.log(length * UNITS[u] / _TYPICAL_BODY)))


def write_bvh(path: str | os.PathLike, joints: np.ndarray, *, fps: float = FPS, skeleton: Skeleton = SMPL22) -> Path:
    """Write (T, J, 3) joint positions (metres, Y up) as a BVH on ``skeleton``; returns the path.

    Offsets and positions are in metres, which Blender's importer shows at human size with its
    default settings. The rest pose is a T-pose with the motion's own bone lengths (median over
    frames); rotations come from `_inverse_kinematics`. Joint names are the skeleton's.
    """
    return save_bvh(path, motion_bvh(joints, fps=fps, skeleton=skeleton, name=Path(path).name))


def motion_bvh(joints: np.ndarray, *, fps: float = FPS, skeleton: Skeleton = SMPL22, name: str = "motion") -> BvhFile:
    """The BVH that :func:`write_bvh` writes, in memory (metres, Y up; ``name`` is for messages)."""
    path = Path(name)
    joints = _check_joints(joints, skeleton, path)
    offsets, local = _inverse_kinematics(joints, skeleton)
    order = _depth_first(skeleton.parents)
    root = order[0]
    angles = _continuous_euler(Rotation.concatenate([local[j] for j in order]), len(joints))  # (T, J, 3)
    frames = np.concatenate([joints[:, root], angles.reshape(len(joints), -1)], axis=1)  # (T, 3 + 3J)
    position = ("Xposition", "Yposition", "Zposition")
    rotation = ("Zrotation", "Xrotation", "Yrotation")
    leaves = {k: j for k, j in enumerate(order) if j not in skeleton.parents}
    return BvhFile(
        path.name, tuple(skeleton.joint_names[j] for j in order),
        tuple(order.index(skeleton.parents[j]) if skeleton.parents[j] >= 0 else -1 for j in order),
        offsets[order], tuple(position + rotation if j == root else rotation for j in order), 1 / fps, frames,
        # the End Site gives a leaf bone a tail: half its length, along its T-pose direction
        {k: skeleton.tpose_directions[j] * 0.5 * np.linalg.norm(offsets[j]) for k, j in leaves.items()},
    )  # fmt: skip


def save_bvh(path: str | os.PathLike, bvh: BvhFile) -> Path:
    """Write a BVH file: the hierarchy (joints in file order, parents before children) and the motion,
    written atomically (an OS error is one sentence naming the file)."""
    path = Path(path)
    header = _hierarchy_lines(bvh)
    header += ["MOTION", f"Frames: {len(bvh.motion)}", f"Frame Time: {bvh.frame_time:.9g}"]
    with atomic_path(path) as tmp, open_text(tmp, "wt") as f:
        f.write("\n".join(header) + "\n")
        _write_frames(f, bvh.motion)
    return path


def _write_frames(f, frames: np.ndarray) -> None:
    np.savetxt(f, frames, fmt="%.6f")


def _check_joints(joints, skeleton: Skeleton, path: Path) -> np.ndarray:
    arr = np.asarray(joints, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1:] != (skeleton.num_joints, 3) or len(arr) < 1:
        raise MotionError(
            f"{path}: joints of shape {arr.shape} cannot be written; BVH export needs "
            f"(frames >= 1, {skeleton.num_joints}, 3)."
        )
    bad = ~np.isfinite(arr).all(axis=(1, 2))
    if bad.any():
        raise MotionError(f"{path}: the joints hold NaN or infinite values (first at frame {int(np.argmax(bad))}).")
    return arr


def _depth_first(parents: tuple[int, ...]) -> list[int]:
    order: list[int] = []
    todo = [j for j, p in enumerate(parents) if p < 0][::-1]
    while todo:
        j = todo.pop()
        order.append(j)
        todo += [c for c, p in enumerate(parents) if p == j][::-1]
    return order


def _inverse_kinematics(joints: np.ndarray, skeleton: Skeleton) -> tuple[np.ndarray, list[Rotation]]:
    """Rest offsets (J, 3) and per-joint local rotations (each over T frames) that reproduce ``joints``.

    A joint with one child gets the swing (shortest rotation, no twist) taking its rest bone, seen
    from the parent's frame, onto the actual bone. A branching joint (pelvis, spine3) gets the
    least-squares rotation (Kabsch) of all its child bones, which fixes its full orientation even
    when the body faces backwards. Its children's rest offsets are the motion's own median offsets
    in its best-fit T-pose frame, so the branch is rigid and reproduced exactly when the input is.
    Leaf joints keep the identity.
    """
    frames, num_joints = joints.shape[:2]
    parents = skeleton.parents
    bones = joints - joints[:, [p if p >= 0 else j for j, p in enumerate(parents)]]  # (T, J, 3), zero at the root
    lengths = np.median(np.linalg.norm(bones, axis=-1), axis=0)  # (J,)
    offsets = skeleton.tpose_directions * lengths[:, None]  # (J, 3)
    root = parents.index(-1)
    offsets[root] = [
        0.0,
        np.median(joints[:, root, 1]),
        0.0,
    ]  # position channels override it: rest display only
    world: list[Rotation | None] = [None] * num_joints
    local: list[Rotation | None] = [None] * num_joints
    for j in _depth_first(parents):
        parent = world[parents[j]] if parents[j] >= 0 else Rotation.identity(frames)
        kids = [c for c, p in enumerate(parents) if p == j]
        if not kids:
            local[j] = Rotation.identity(frames)
        elif len(kids) == 1:
            local[j] = _swing(offsets[kids[0]], parent.inv().apply(bones[:, kids[0]]))
        else:
            tpose_fit = _align(bones[:, kids], offsets[kids])
            offsets[kids] = np.median(
                np.stack([tpose_fit.inv().apply(bones[:, c]) for c in kids], axis=1), axis=0
            )  # (K, 3)
            local[j] = parent.inv() * _align(bones[:, kids], offsets[kids])
        world[j] = parent * local[j]
    return offsets, local


def _swing(rest: np.ndarray, target: np.ndarray) -> Rotation:
    """(T,) shortest rotations taking direction ``rest`` (3,) onto each ``target`` (T, 3)."""
    rest_len, target_len = np.linalg.norm(rest), np.linalg.norm(target, axis=-1)
    if rest_len == 0:
        return Rotation.identity(len(target))
    a = rest / rest_len
    b = target / np.maximum(target_len, 1e-12)[:, None]
    axis = np.cross(a, b)  # (T, 3)
    sin, cos = np.linalg.norm(axis, axis=-1), b @ a
    # Antiparallel bones have no unique axis: any axis perpendicular to the rest bone will do.
    perpendicular = np.cross(a, np.eye(3)[np.argmin(np.abs(a))])
    axis = np.where(
        sin[:, None] > 1e-9,
        axis / np.maximum(sin, 1e-12)[:, None],
        perpendicular / np.linalg.norm(perpendicular),
    )
    angle = np.where(target_len > 0, np.arctan2(sin, cos), 0.0)
    return Rotation.from_rotvec(axis * angle[:, None])


def _align(actual: np.ndarray, rest: np.ndarray) -> Rotation:
    """(T,) rotations R minimising sum |R rest_k - actual_k|^2, from (T, K, 3) and (K, 3) vectors."""
    return Rotation.concatenate([Rotation.align_vectors(frame, rest)[0] for frame in actual])


def _continuous_euler(rotations: Rotation, frames: int, order: str = "ZXY") -> np.ndarray:
    """(T, J, 3) Euler degrees (intrinsic, axes in ``order``) from joint-major rotations, continuous over time.

    Each rotation has two Euler triples, (a, b, c) and (a + 180, 180 - b, c + 180), each up to
    turns of 360 degrees; frame by frame the one nearest the previous frame is kept, so the curves
    neither jump by 360 degrees nor flip near the gimbal pole.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # gimbal lock: still an exact rotation
        first = rotations.as_euler(order).reshape(-1, frames, 3).transpose(1, 0, 2)  # (T, J, 3) radians
    second = first + [np.pi, 0.0, np.pi]
    second[..., 1] = np.pi - first[..., 1]
    out = np.empty_like(first)
    prev = first[0]
    for t in range(frames):
        options = [c + 2 * np.pi * np.round((prev - c) / (2 * np.pi)) for c in (first[t], second[t])]
        nearer = np.abs(options[1] - prev).sum(-1) < np.abs(options[0] - prev).sum(-1)  # (J,)
        prev = out[t] = np.where(nearer[:, None], options[1], options[0])
    return np.degrees(out)


def _hierarchy_lines(bvh: BvhFile) -> list[str]:
    """The HIERARCHY section of ``bvh``; a leaf without an End Site gets a zero-length one."""
    lines = ["HIERARCHY"]

    def vec(v: np.ndarray) -> str:
        return " ".join(f"{x:.6f}" for x in v)

    def block(j: int, depth: int) -> None:
        pad = "  " * depth
        kids = [c for c, p in enumerate(bvh.parents) if p == j]
        lines.append(f"{pad}{'ROOT' if bvh.parents[j] < 0 else 'JOINT'} {bvh.joint_names[j]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {vec(bvh.offsets[j])}")
        lines.append(f"{pad}  CHANNELS {len(bvh.channels[j])} {' '.join(bvh.channels[j])}".rstrip())
        for c in kids:
            block(c, depth + 1)
        if not kids or j in bvh.end_sites:
            end = bvh.end_sites.get(j, np.zeros(3))
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {vec(end)}", f"{pad}  }}"])
        lines.append(f"{pad}}}")

    for root in (j for j, p in enumerate(bvh.parents) if p < 0):
        block(root, 0)
    return lines
