"""Reading and writing datasets in the HumanML3D layout.

    ROOT/new_joint_vecs/ID.npy   features (T, D)
    ROOT/new_joints/ID.npy       joints recovered from the features (T, J, 3)
    ROOT/texts/ID.txt            one caption per line: "text#tokens#start#end"
    ROOT/train.txt, val.txt, test.txt   clip ids, one per line
    ROOT/Mean.npy, Std.npy       normalisation statistics of the train split
    ROOT/labels.json             optional: {ID: {"action", "style", "take", ...}}

HumanML3D itself, our Bandai build and a user's own data all load through :class:`Layout`, the one
reader of these names: :class:`MotionDataset` (training), the instruction builders' ``Corpus`` and the
evaluation protocol read through it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FormatError
from ..motion import FPS, SMPL22, Motion, Normalizer, Skeleton

SPLITS = ("train", "val", "test")
FEATURES, JOINTS, TEXTS = "new_joint_vecs", "new_joints", "texts"


class Layout:
    """The files of a HumanML3D-layout folder; ``need`` names the sub-folders the reader requires."""

    def __init__(self, root: str | Path, need: tuple[str, ...] = (FEATURES,)):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FormatError(f"{self.root}: dataset directory does not exist.")
        self.require(*need)

    def require(self, *subs: str) -> None:
        for sub in subs:
            if not (self.root / sub).is_dir():
                raise FormatError(f"{self.root}: missing the {sub}/ folder of a HumanML3D-layout dataset.")

    def split_file(self, split: str) -> Path:
        return self.root / f"{split}.txt"

    def split_ids(self, split: str) -> list[str]:
        """The clip ids a split file lists, in its order."""
        path = self.split_file(split)
        if not path.is_file():
            raise FormatError(f"{path}: split file missing; a HumanML3D-layout dataset needs {split}.txt.")
        return path.read_text(encoding="utf-8").split()

    def feature_path(self, clip_id: str) -> Path:
        return self.root / FEATURES / f"{clip_id}.npy"

    def text_path(self, clip_id: str) -> Path:
        return self.root / TEXTS / f"{clip_id}.txt"

    def features(self, clip_id: str, dim: int | None = None) -> np.ndarray:
        """(rows, D) features of a clip, checked to be ``dim`` wide when given."""
        path = self.feature_path(clip_id)
        try:
            features = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            raise FormatError(f"{path}: not a numpy feature file ({e}).") from None
        if dim is not None and (features.ndim != 2 or features.shape[1] != dim):
            raise FormatError(f"{path}: features of shape {features.shape}, expected (frames, {dim}).")
        return features

    def rows(self, clip_id: str) -> int:
        """A clip's feature rows, read from the file's header only."""
        return np.load(self.feature_path(clip_id), mmap_mode="r").shape[0]

    def text_lines(self, clip_id: str) -> list[str]:
        """The non-empty lines of a clip's text file ([] without one)."""
        path = self.text_path(clip_id)
        if not path.is_file():
            return []
        return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def captions(self, clip_id: str) -> list[Caption]:
        return [Caption.from_line(line) for line in self.text_lines(clip_id)]

    def labels(self, required: bool = False) -> dict[str, dict]:
        """``labels.json`` ({} without one, unless ``required``)."""
        path = self.root / "labels.json"
        if not path.is_file():
            if required:
                raise FormatError(f"{path}: missing; instruction sets need per-clip action and style labels "
                                  "(build the corpus with 'omnimogen data bandai').")  # fmt: skip
            return {}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise FormatError(f"{path}: not valid JSON ({e}).") from None


@dataclass(frozen=True)
class Caption:
    """A caption; ``start``/``end`` in seconds limit it to part of the clip (0, 0: all of it)."""

    text: str
    start: float = 0.0
    end: float = 0.0

    def to_line(self) -> str:
        # HumanML3D's second field holds word/POS pairs from spaCy; we write word/OTHER, which its
        # word vectoriser accepts, rather than depend on a tagger.
        tokens = " ".join(f"{w}/OTHER" for w in self.text.lower().rstrip(".").replace(",", "").split())
        return f"{self.text}#{tokens}#{self.start:.1f}#{self.end:.1f}"

    @classmethod
    def from_line(cls, line: str) -> Caption:
        parts = line.rstrip("\n").split("#")
        start = float(parts[2]) if len(parts) > 2 and parts[2] else 0.0
        end = float(parts[3]) if len(parts) > 3 and parts[3] else 0.0
        return cls(parts[0].strip(), 0.0 if np.isnan(start) else start, 0.0 if np.isnan(end) else end)


@dataclass
class Clip:
    id: str
    features: np.ndarray  # (T, D)
    captions: list[Caption]
    label: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return len(self.features) + 1

    def motion(self, skeleton: Skeleton = SMPL22) -> Motion:
        caption = self.captions[0].text if self.captions else None
        return Motion.from_features(self.features, caption=caption, skeleton=skeleton, name=self.id)


class MotionDataset:
    """One split of a HumanML3D-layout dataset, read lazily clip by clip.

    Clips listed in the split file whose feature file is missing, or shorter than ``min_frames``
    feature rows, are left out with one warning that counts them.
    """

    def __init__(self, root: str | Path, split: str = "train", *, min_frames: int = 1, skeleton: Skeleton = SMPL22):
        self.layout = Layout(root)
        self.root = self.layout.root
        self.split = split
        self.skeleton = skeleton
        ids = self.layout.split_ids(split)
        split_file = self.layout.split_file(split)
        self.labels: dict[str, dict] = self.layout.labels()
        kept, missing, short = [], 0, 0
        for i in ids:
            if not self.layout.feature_path(i).is_file():
                missing += 1
            elif min_frames > 1 and self.layout.rows(i) < min_frames:
                short += 1
            else:
                kept.append(i)
        if missing or short:
            warnings.warn(
                f"{split_file}: left out {missing} clip(s) without a feature file and {short} shorter than "
                f"{min_frames} frames; {len(kept)} remain.",
                stacklevel=2,
            )
        self.ids = kept

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[Clip]:
        return (self[i] for i in range(len(self)))

    def __getitem__(self, index: int) -> Clip:
        clip_id = self.ids[index]
        features = self.layout.features(clip_id, self.skeleton.feature_dim)
        return Clip(clip_id, features, self.captions(clip_id), self.labels.get(clip_id, {}))

    def captions(self, clip_id: str) -> list[Caption]:
        return self.layout.captions(clip_id)

    def normalizer(self) -> Normalizer:
        return Normalizer.load(self.root)

    @property
    def fps(self) -> int:
        return FPS


def write_clip(root: Path, clip_id: str, features: np.ndarray, joints: np.ndarray, captions: list[Caption]) -> None:
    """Write one clip's three files into a HumanML3D-layout folder."""
    np.save(root / FEATURES / f"{clip_id}.npy", features.astype(np.float32))
    np.save(root / JOINTS / f"{clip_id}.npy", joints.astype(np.float32))
    (root / TEXTS / f"{clip_id}.txt").write_text("".join(c.to_line() + "\n" for c in captions), encoding="utf-8")


def make_layout(root: Path) -> None:
    for sub in (FEATURES, JOINTS, TEXTS):
        (root / sub).mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def staging(out: Path, overwrite: bool) -> Iterator[Path]:
    """A temporary folder beside ``out`` with the layout's sub-folders, renamed to ``out`` when the block
    succeeds: an interrupted build never leaves a half dataset behind."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise FormatError(f"{out}: already exists and is not empty; choose another folder or pass --overwrite.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        make_layout(tmp)
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_index(root: Path, split_ids: dict[str, list[str]], labels: dict[str, dict], manifest: dict) -> bool:
    """The split files, ``all.txt``, ``labels.json``, ``Mean.npy``/``Std.npy`` and ``manifest.json`` of a
    build whose clips are written. The statistics come from the train split, or from every clip when
    the train split is empty (a very small import); returns whether they did."""
    for s in SPLITS:
        (root / f"{s}.txt").write_text("".join(i + "\n" for i in split_ids[s]))
    (root / "all.txt").write_text("".join(i + "\n" for s in SPLITS for i in split_ids[s]))
    (root / "labels.json").write_text(json.dumps(labels, indent=1, sort_keys=True))
    from_train = bool(split_ids["train"])
    ids = split_ids["train"] if from_train else [i for s in SPLITS for i in split_ids[s]]
    if ids:
        Normalizer.fit([np.load(root / FEATURES / f"{i}.npy") for i in ids]).save(root)
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return from_train
