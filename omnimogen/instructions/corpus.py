"""The labelled clips an instruction set is built from: which clips exist, their labels, split and length.

The builders need labels and lengths, not motion, so :class:`Corpus` reads ``labels.json``, the split
files and the ``.npy`` headers of a HumanML3D-layout dataset (seconds for 5,600 clips) and loads
features only when a reference is materialised. Clips are grouped in cells of
(dataset, action, style): real pairs are only formed inside one source dataset, because the two
Bandai datasets were performed by different actors with different style vocabularies.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..data.captions import ACTIONS, STYLES
from ..data.dataset import SPLITS, Layout
from ..errors import FormatError

Cell = tuple[int, str, str]  # (dataset, action, style)


@dataclass(frozen=True)
class ClipInfo:
    id: str
    dataset: int
    action: str
    style: str
    split: str
    rows: int  # feature rows at 20 fps
    mirror: bool = False

    @property
    def cell(self) -> Cell:
        return (self.dataset, self.action, self.style)


class Corpus:
    """A HumanML3D-layout dataset with ``labels.json`` (our Bandai build, or one made like it).

    Clips without a feature file, without a label, or with a label whose action or style has no
    phrasings are left out, with one warning per kind that counts them and names the first.
    """

    def __init__(self, root: str | Path):
        self.layout = Layout(root, need=())
        self.root = self.layout.root
        labels_file = self.root / "labels.json"
        labels = self.layout.labels(required=True)
        self.clips: dict[str, ClipInfo] = {}
        left_out: dict[str, list[str]] = {}
        for split in SPLITS:
            for clip_id in self.layout.split_ids(split):
                reason = self._add(clip_id, split, labels.get(clip_id))
                if reason:
                    left_out.setdefault(reason, []).append(clip_id)
        for reason, ids in left_out.items():
            warnings.warn(f"{self.root}: left out {len(ids)} clip(s) {reason} (first: {ids[0]}).", stacklevel=2)
        unlisted = sorted(set(labels) - set(self.clips) - {i for ids in left_out.values() for i in ids})
        if unlisted:
            warnings.warn(
                f"{labels_file}: {len(unlisted)} label(s) belong to no split file (first: {unlisted[0]}); ignored.",
                stacklevel=2,
            )
        if not self.clips:
            raise FormatError(f"{self.root}: no usable labelled clips; check labels.json and the split files.")
        self._cells: dict[str, dict[Cell, list[ClipInfo]]] = {s: {} for s in SPLITS}
        for clip in sorted(self.clips.values(), key=lambda c: c.id):
            self._cells[clip.split].setdefault(clip.cell, []).append(clip)

    def _add(self, clip_id: str, split: str, label) -> str | None:
        if not self.layout.feature_path(clip_id).is_file():
            return "without a feature file"
        if not isinstance(label, dict) or not {"action", "style", "dataset"} <= set(label):
            return "without an action/style/dataset label"
        if label["action"] not in ACTIONS or label["style"] not in STYLES:
            return "whose action or style has no phrasings in omnimogen.data.captions"
        if label.get("split", split) != split:
            return "whose label names another split than its split file"
        rows = self.layout.rows(clip_id)
        info = ClipInfo(clip_id, int(label["dataset"]), label["action"], label["style"], split, rows,
                        bool(label.get("mirror", False)))  # fmt: skip
        self.clips[clip_id] = info
        return None

    @property
    def source_sha256(self) -> str:
        """The corpus build's hash of its source files; else a hash of the labels and splits."""
        manifest = self.root / "manifest.json"
        if manifest.is_file():
            digest = json.loads(manifest.read_text(encoding="utf-8")).get("source_sha256")
            if digest:
                return digest
        h = hashlib.sha256()
        for name in ("labels.json", *(f"{s}.txt" for s in SPLITS)):
            h.update((self.root / name).read_bytes())
        return h.hexdigest()

    def cells(self, split: str) -> dict[Cell, list[ClipInfo]]:
        """The clips of one split grouped by (dataset, action, style), cells and clips in a fixed order."""
        return self._cells[split]

    def features(self, clip_id: str) -> np.ndarray:
        """(rows, 263) features of a clip."""
        if clip_id not in self.clips:
            raise FormatError(f"{self.root}: no clip {clip_id!r} in the dataset.")
        return _load(self.layout, clip_id)

    def captions(self, clip_id: str) -> list[str]:
        return [c.text for c in self.layout.captions(clip_id)]


@lru_cache(maxsize=256)
def _load(layout: Layout, clip_id: str) -> np.ndarray:
    features = layout.features(clip_id)
    features.setflags(write=False)  # shared by the cache: nobody may edit it in place
    return features
