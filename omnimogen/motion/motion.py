"""The ``Motion`` value type: one clip, as joint positions and/or HumanML3D features.

A motion is created from whichever representation is at hand and converts to the other on demand:
``Motion.from_features(f).joints`` has one frame more than ``f`` has rows (the last frame is
rebuilt from the last row's velocities), so features -> joints -> features is lossless, and
``Motion.from_joints(j).features`` has one row fewer than ``j`` has frames. Files are chosen by
extension: ``.npy`` (features or joints, told apart by shape), ``.json``, ``.bvh``, ``.bvh.gz``,
and for saving a rendering ``.gif``, ``.mp4``, ``.png``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import FormatError, MotionError
from ..fileio import atomic_path
from .features import FPS, Variant, features_to_joints, joints_to_features
from .skeleton import SMPL22, Skeleton

JSON_FORMAT = "omnimogen.motion"
LOADABLE = (".npy", ".json", ".bvh", ".bvh.gz")
SAVEABLE = LOADABLE + (".glb", ".gltf", ".gif", ".mp4", ".png")
RIGGED = (".bvh", ".bvh.gz", ".glb", ".gltf")  # the formats that carry a skeleton (ours or a character's)


def file_kind(path: str | Path) -> str:
    """The format suffix of a path: '.bvh.gz' for compressed BVH, else the lower-case suffix."""
    name = Path(path).name.lower()
    return ".bvh.gz" if name.endswith(".bvh.gz") else Path(name).suffix


def saveable_kind(path: str | Path) -> str:
    """The format a motion would be saved in at ``path``; a clear error for one it cannot be."""
    kind = file_kind(path)
    if kind not in SAVEABLE:
        raise FormatError(f"{path}: cannot save '{kind or Path(path).name}' files; use one of {', '.join(SAVEABLE)}.")
    return kind


def resample(joints: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """Linear interpolation of joint positions in time, (T, J, 3) -> (T', J, 3).

    T' = floor(duration * dst_fps) + 1 with duration = (T - 1) / src_fps, so the clip keeps its
    start and never runs past its end. Positions, not rotations, are interpolated: at mocap frame
    rates the difference is far below a millimetre and positions are what the features use.
    """
    joints = np.asarray(joints)
    if src_fps == dst_fps:
        return joints
    duration = (len(joints) - 1) / src_fps
    t_new = np.arange(int(np.floor(duration * dst_fps + 1e-9)) + 1) / dst_fps
    src = t_new * src_fps
    i0 = np.clip(np.floor(src).astype(int), 0, len(joints) - 1)
    i1 = np.minimum(i0 + 1, len(joints) - 1)
    w = (src - i0)[:, None, None]
    return ((1 - w) * joints[i0] + w * joints[i1]).astype(joints.dtype)


MAX_VALUE = 1e4  # metres for joints (10 km), and far past any feature of a real motion
MAX_FPS = 1000.0


def mirror_joints(joints: np.ndarray, skeleton: Skeleton = SMPL22) -> np.ndarray:
    """Left/right mirror image of (..., J, 3) joints: negate X and swap the paired joints."""
    out = np.asarray(joints)[..., list(skeleton.mirror), :].copy()
    out[..., 0] *= -1
    return out


def _real(values, what: str) -> np.ndarray:
    """``values`` as float32, refusing what is not real numbers (complex, text, objects, booleans)."""
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError):  # ragged nested lists
        raise MotionError(f"{what} is not a regular array of numbers (its rows differ in length).") from None
    if arr.dtype.kind not in "iuf":
        raise MotionError(f"{what} holds {arr.dtype} values; a motion needs real numbers.")
    return arr.astype(np.float32)


MAX_FRAMES = 200_000  # about 2 hours at 30 fps; a longer array is refused before it is read


def _check_npy_header(path: Path) -> None:
    """Refuse a .npy whose header asks for more frames than any motion has, or more data than the file
    holds, before anything is allocated."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in readers:
            raise ValueError(f".npy format version {version[0]}.{version[1]} is not supported")
        shape, _, dtype = readers[version](f)
        data = path.stat().st_size - f.tell()
    if shape and shape[0] > MAX_FRAMES:
        raise MotionError(f"the array claims {shape[0]} frames; at most {MAX_FRAMES} are read.")
    if dtype.hasobject:
        raise MotionError("the array holds Python objects; a motion needs real numbers.")
    if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize > data:
        raise MotionError(f"the array's header promises {shape} values but the file holds fewer (truncated).")


def _check_array(x: np.ndarray, what: str, min_frames: int) -> np.ndarray:
    if len(x) < min_frames:
        raise MotionError(f"{what} has {len(x)} frame(s); a motion needs at least {min_frames}.")
    if not np.isfinite(x).all():
        frame = int(np.argwhere(~np.isfinite(x))[0][0])
        raise MotionError(f"{what} contains NaN or infinite values (first at frame {frame}).")
    if (np.abs(x) > MAX_VALUE).any():
        frame = int(np.argwhere(np.abs(x) > MAX_VALUE)[0][0])
        raise MotionError(f"{what} holds values beyond {MAX_VALUE:g} (first at frame {frame}); no real motion does.")
    return x


@dataclass(frozen=True, eq=False)
class Motion:
    """A motion clip. Build it with ``from_joints``, ``from_features`` or ``load``."""

    _joints: np.ndarray | None = None  # (T, J, 3) metres, Y up, at ``fps``
    _features: np.ndarray | None = None  # (T - 1, D) at 20 fps
    fps: float = FPS
    caption: str | None = None
    skeleton: Skeleton = SMPL22
    name: str | None = None
    variant: Variant = "corrected"

    @classmethod
    def from_joints(cls, joints, fps: float = FPS, caption: str | None = None, skeleton: Skeleton = SMPL22,
                    name: str | None = None) -> Motion:  # fmt: skip
        j = _real(joints, "joints")
        if j.ndim != 3 or j.shape[1:] != (skeleton.num_joints, 3):
            raise MotionError(f"joints must have shape (frames, {skeleton.num_joints}, 3), got {j.shape}.")
        if not 0 < fps <= MAX_FPS:
            raise MotionError(f"fps must be more than 0 and at most {MAX_FPS:g}, got {fps}.")
        return cls(
            _joints=_check_array(j, "joints", 2),
            fps=float(fps),
            caption=caption,
            skeleton=skeleton,
            name=name,
        )

    @classmethod
    def from_features(cls, features, caption: str | None = None, skeleton: Skeleton = SMPL22,
                      name: str | None = None) -> Motion:  # fmt: skip
        f = _real(features, "features")
        if f.ndim != 2 or f.shape[1] != skeleton.feature_dim:
            raise MotionError(
                f"features must have shape (frames, {skeleton.feature_dim}) for the {skeleton.num_joints}-joint "
                f"skeleton, got {f.shape}."
            )
        return cls(_features=_check_array(f, "features", 1), fps=FPS, caption=caption, skeleton=skeleton, name=name)

    @property
    def joints(self) -> np.ndarray:
        """(T, J, 3) joint positions in metres, Y up."""
        if self._joints is None:
            object.__setattr__(self, "_joints", features_to_joints(self._features, self.skeleton, extra_frame=True))
        return self._joints

    @property
    def features(self) -> np.ndarray:
        """(T - 1, D) HumanML3D features at 20 fps (canonical: on the floor, starting at the origin facing +Z)."""
        if self._features is None:
            joints = resample(self._joints, self.fps, FPS)
            if len(joints) < 2:
                raise MotionError(f"the motion is too short ({self.duration:.3f} s) to have features at {FPS} fps.")
            object.__setattr__(self, "_features", joints_to_features(joints, self.skeleton, variant=self.variant))
        return self._features

    @property
    def num_frames(self) -> int:
        return len(self._joints) if self._joints is not None else len(self._features) + 1

    @property
    def duration(self) -> float:
        """Seconds from the first frame to the last."""
        return (self.num_frames - 1) / self.fps

    def with_caption(self, caption: str | None) -> Motion:
        return replace(self, caption=caption)

    def mirrored(self) -> Motion:
        """The left/right mirror image (HumanML3D's augmentation); the caption's sides are swapped too."""
        from ..data.captions import mirror_text

        caption = mirror_text(self.caption) if self.caption else None
        return Motion.from_joints(
            mirror_joints(self.joints, self.skeleton), self.fps, caption, self.skeleton, self.name
        )

    def with_clean_contacts(self, **settings) -> Motion:
        """Planted feet held still and no foot below the floor (:func:`omnimogen.motion.contacts.clean_contacts`;
        ``settings`` are fields of its ``ContactSettings``)."""
        from .contacts import ContactSettings, clean_contacts

        if self.skeleton is not SMPL22:
            raise MotionError(f"clean contacts works on the SMPL22 skeleton, not {self.skeleton.name!r}.")
        joints = clean_contacts(self.joints, self.fps, ContactSettings(**settings))
        return Motion.from_joints(joints, self.fps, self.caption, self.skeleton, self.name)

    def resample(self, fps: float) -> Motion:
        if not isinstance(fps, (int, float)) or not 0 < fps <= MAX_FPS:
            raise MotionError(f"fps must be more than 0 and at most {MAX_FPS:g}, got {fps}.")
        return Motion.from_joints(resample(self.joints, self.fps, fps), fps, self.caption, self.skeleton, self.name)

    def __repr__(self) -> str:
        cap = f", caption={self.caption!r}" if self.caption else ""
        return f"Motion({self.num_frames} frames, {self.fps:g} fps, {self.duration:.2f} s{cap})"

    # ---- files ---------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path, *, skeleton: Skeleton = SMPL22, **bvh_options) -> Motion:
        """Load ``.npy`` (features or joints, by shape), ``.json``, ``.bvh`` or ``.bvh.gz``.

        ``bvh_options`` go to :func:`omnimogen.formats.bvh.read_bvh` (``joint_map``, ``up``, ``unit``).
        """
        path = Path(path)
        kind = file_kind(path)
        if kind not in LOADABLE:
            raise FormatError(f"{path}: cannot load '{kind or path.name}' files; use one of {', '.join(LOADABLE)}.")
        if not path.is_file():
            raise FormatError(f"{path}: no such file.")
        try:
            if kind == ".npy":
                return cls._load_npy(path, skeleton)
            if kind == ".json":
                return cls._load_json(path, skeleton)
            from ..formats.bvh import read_bvh

            clip = read_bvh(path, **bvh_options)
            return cls.from_joints(clip.joints, clip.fps, skeleton=skeleton, name=path.name.split(".")[0])
        except MotionError as e:
            raise MotionError(f"{path}: {e}") from None

    @classmethod
    def _load_npy(cls, path: Path, skeleton: Skeleton) -> Motion:
        try:
            _check_npy_header(path)
            arr = np.load(path, allow_pickle=False)
        except MotionError:
            raise
        except (ValueError, OSError, EOFError) as e:
            raise FormatError(f"{path}: not a readable .npy array ({e}).") from None
        name = path.stem
        if arr.ndim == 2 and arr.shape[1] == skeleton.feature_dim:
            return cls.from_features(arr, skeleton=skeleton, name=name)
        if arr.ndim == 3 and arr.shape[1:] == (skeleton.num_joints, 3):
            return cls.from_joints(arr, skeleton=skeleton, name=name)
        raise MotionError(
            f"array of shape {arr.shape} is neither features (frames, {skeleton.feature_dim}) nor joints "
            f"(frames, {skeleton.num_joints}, 3)."
        )

    @classmethod
    def _load_json(cls, path: Path, skeleton: Skeleton) -> Motion:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise FormatError(f"{path}: not valid JSON ({e}).") from None
        if not isinstance(doc, dict) or doc.get("format") != JSON_FORMAT:
            raise FormatError(f'{path}: not an omnimogen motion (expected "format": "{JSON_FORMAT}").')
        if doc.get("joint_names") not in (None, list(skeleton.joint_names)):
            raise FormatError(f"{path}: its joints are not those of the {skeleton.name!r} skeleton.")
        try:
            joints = np.asarray(doc["joints"], dtype=np.float32)
            fps = float(doc.get("fps", FPS))
        except (KeyError, TypeError, ValueError) as e:
            raise FormatError(f"{path}: field 'joints' or 'fps' is missing or malformed ({e}).") from None
        return cls.from_joints(joints, fps, doc.get("caption"), skeleton, name=path.stem)

    def save(self, path: str | Path, *, npy: str | None = None, rig=None, clean_contacts: bool = False,
             **render_options) -> Path:  # fmt: skip
        """Write the motion; the format follows the extension. Nothing is left behind on failure.

        ``npy`` picks what a ``.npy`` holds: ``"features"`` or ``"joints"`` (default: the
        representation the motion was made from). ``rig`` (a :class:`~omnimogen.formats.retarget.TargetRig`
        or the path of a character's BVH) writes a BVH or glTF on that character's skeleton instead of
        ours; ``clean_contacts`` holds the planted feet of a BVH or glTF still on the skeleton it carries
        (ours, or the character's own proportions).
        """
        if not isinstance(path, (str, os.PathLike)):
            raise FormatError(f"the path to save to must be a str or Path, not {type(path).__name__}.")
        path = Path(path)
        kind = saveable_kind(path)
        if kind in (".gif", ".mp4", ".png"):
            from ..formats.render import render

            render(self, path, fps=self.fps, skeleton=self.skeleton, **render_options)
            return path
        if rig is not None and kind not in RIGGED:
            raise FormatError(f"{path}: a motion on another character's rig is saved as {', '.join(RIGGED)}.")
        if kind in RIGGED:
            from ..formats.bvh import motion_bvh, save_bvh
            from ..formats.gltf import save_gltf
            from ..formats.retarget import TargetRig, load_rig, retarget

            if rig is None:
                joints = self.joints
                if clean_contacts:  # held on the skeleton the file carries (one length per bone, a rigid pelvis)
                    from .contacts import clean_contacts as clean

                    first = motion_bvh(joints, fps=self.fps, skeleton=self.skeleton, name=path.name)
                    order = [first.joint_names.index(n) for n in self.skeleton.joint_names]
                    joints = clean(first.global_positions()[:, order], self.fps)
                bvh, up, unit = motion_bvh(joints, fps=self.fps, skeleton=self.skeleton, name=path.name), "y", "m"
            else:
                rig = rig if isinstance(rig, TargetRig) else load_rig(rig)
                bvh, up, unit = retarget(self.joints, rig, self.fps, clean_contacts=clean_contacts), rig.up, rig.unit
            return save_bvh(path, bvh) if kind in (".bvh", ".bvh.gz") else save_gltf(path, bvh, up=up, unit=unit)
        with atomic_path(path) as tmp:
            if kind == ".npy":
                what = npy or ("joints" if self._joints is not None else "features")
                if what not in ("features", "joints"):
                    raise ValueError(f"npy must be 'features' or 'joints', not {what!r}")
                np.save(tmp, self.features if what == "features" else self.joints)
            else:
                doc = {
                    "format": JSON_FORMAT,
                    "version": 1,
                    "skeleton": self.skeleton.name,
                    "joint_names": list(self.skeleton.joint_names),
                    "fps": self.fps,
                    "caption": self.caption,
                    "joints": np.round(self.joints.astype(np.float64), 6).tolist(),
                }
                tmp.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
        return path
