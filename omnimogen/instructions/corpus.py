"""The clips an instruction set is built from: which clips exist, their labels or captions, split and length.

The builders need labels, captions and lengths, not motion, so :class:`Corpus` reads ``labels.json``,
the captions, the split files and the ``.npy`` headers of one or several HumanML3D-layout datasets
(seconds for 5,600 clips) and loads features only when a reference is materialised.

A clip is **labelled** when its ``labels.json`` entry names a known action and style (our Bandai
build), and **captioned** when it has captions but no such label (HumanML3D, ``omnimogen data
import``). Clips are grouped in cells of (dataset, action, style): real pairs are only formed inside
one cell family of one source dataset, because the two Bandai datasets were performed by different
actors with different style vocabularies. The captioned clips of source ``k`` (the k-th folder,
from 0) form the one cell ``(-(k + 1), "", "")``; a labelled dataset ``d`` of source ``k > 0`` is
numbered ``1000 k + d`` so that two labelled sources never share a cell.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..data.captions import ACTIONS, STYLES
from ..data.dataset import SPLITS, Layout
from ..errors import FormatError, check_number

Cell = tuple[int, str, str]  # (dataset, action, style); captioned clips: (-(source + 1), "", "")


@dataclass(frozen=True)
class ClipInfo:
    id: str
    dataset: int
    action: str  # "" for a captioned clip
    style: str  # "" for a captioned clip
    split: str
    rows: int  # feature rows at 20 fps
    mirror: bool = False
    source: int = 0  # which corpus folder, in the order given

    @property
    def cell(self) -> Cell:
        return (self.dataset, self.action, self.style)

    @property
    def labelled(self) -> bool:
        return bool(self.action)

    @property
    def take(self) -> str:
        """The take a clip comes from: a clip and its mirror (``M`` + id) are one take."""
        return self.id[1:] if self.mirror and self.id.startswith("M") else self.id


class Corpus:
    """One or several HumanML3D-layout datasets, read as one set of clips.

    ``weights`` (one positive number per folder) are the shares of the samples each folder's clips
    are drawn for, where a task can use every folder; without them a folder's share is its share of
    the clips. Clips without a feature file, or with neither a usable label nor a caption, are left
    out, with one warning per kind that counts them and names the first. Clip ids must be unique
    across the folders.
    """

    def __init__(self, roots: str | Path | Sequence[str | Path], weights: Sequence[float] | None = None):
        roots = [roots] if isinstance(roots, (str, Path)) else list(roots)
        if not roots:
            raise FormatError("a corpus needs at least one dataset folder.")
        self.layouts = [Layout(r, need=()) for r in roots]
        self.root = self.layouts[0].root
        self.roots = [layout.root for layout in self.layouts]
        if weights is not None:
            if len(weights) != len(roots):
                raise FormatError(f"{len(roots)} dataset folder(s) need as many weights, not {len(weights)}.")
            for w in weights:
                check_number("data weight", w, 1e-6, 1e6)
        self.weights = None if weights is None else [float(w) for w in weights]
        self.clips: dict[str, ClipInfo] = {}
        for k, layout in enumerate(self.layouts):
            self._read_source(k, layout)
        if not self.clips:
            raise FormatError(f"{', '.join(map(str, self.roots))}: no usable clips; each needs a feature file and "
                              "either an action/style label or a caption in texts/.")  # fmt: skip
        self._cells: dict[str, dict[Cell, list[ClipInfo]]] = {s: {} for s in SPLITS}
        for clip in sorted(self.clips.values(), key=lambda c: c.id):
            self._cells[clip.split].setdefault(clip.cell, []).append(clip)

    def _read_source(self, k: int, layout: Layout) -> None:
        labels = layout.labels()
        left_out: dict[str, list[str]] = {}
        listed = set()
        for split in SPLITS:
            for clip_id in layout.split_ids(split):
                listed.add(clip_id)
                if clip_id in self.clips:
                    other = self.roots[self.clips[clip_id].source]
                    raise FormatError(f"{layout.root}: clip id {clip_id!r} is also in {other}; clip ids must be "
                                      "unique across the dataset folders of one corpus.")  # fmt: skip
                reason = self._add(k, layout, clip_id, split, labels.get(clip_id))
                if reason:
                    left_out.setdefault(reason, []).append(clip_id)
        for reason, ids in left_out.items():
            warnings.warn(f"{layout.root}: left out {len(ids)} clip(s) {reason} (first: {ids[0]}).", stacklevel=3)
        unlisted = sorted(set(labels) - listed)
        if unlisted:
            warnings.warn(f"{layout.root / 'labels.json'}: {len(unlisted)} label(s) belong to no split file "
                          f"(first: {unlisted[0]}); ignored.", stacklevel=3)  # fmt: skip

    def _add(self, k: int, layout: Layout, clip_id: str, split: str, label) -> str | None:
        if not layout.feature_path(clip_id).is_file():
            return "without a feature file"
        label = label if isinstance(label, dict) else {}
        if label.get("split", split) != split:
            return "whose label names another split than its split file"
        if {"action", "style", "dataset"} <= set(label):
            if label["action"] not in ACTIONS or label["style"] not in STYLES:
                return "whose action or style has no phrasings in omnimogen.data.captions"
            dataset, action, style = int(label["dataset"]) + 1000 * k, label["action"], label["style"]
        elif _whole(layout, clip_id):
            dataset, action, style = -(k + 1), "", ""
        else:
            return "with neither an action/style label nor a caption of the whole clip"
        if "mirror" in label:
            mirror = bool(label["mirror"])
        else:  # HumanML3D names a mirrored clip "M" + the clip's id
            mirror = clip_id.startswith("M") and layout.feature_path(clip_id[1:]).is_file()
        self.clips[clip_id] = ClipInfo(clip_id, dataset, action, style, split, layout.rows(clip_id), mirror, k)
        return None

    @property
    def name(self) -> str:
        return "+".join(r.name for r in self.roots)

    @property
    def source_sha256(self) -> str:
        """One folder: its build's hash of its source files, else a hash of its labels and splits.
        Several: a hash of theirs, in order (the weights are not part of the data)."""
        digests = [_source_sha256(layout) for layout in self.layouts]
        if len(digests) == 1:
            return digests[0]
        return hashlib.sha256(json.dumps(digests).encode()).hexdigest()

    def cells(self, split: str) -> dict[Cell, list[ClipInfo]]:
        """The clips of one split grouped by (dataset, action, style), cells and clips in a fixed order."""
        return self._cells[split]

    def layout_of(self, clip_id: str) -> Layout:
        if clip_id not in self.clips:
            raise FormatError(f"{self.name}: no clip {clip_id!r} in the dataset.")
        return self.layouts[self.clips[clip_id].source]

    def features(self, clip_id: str) -> np.ndarray:
        """(rows, 263) features of a clip."""
        return _load(self.layout_of(clip_id), clip_id)

    def train_captions(self) -> tuple[str, ...]:
        """The captions of the captioned train clips, sorted: the words a model trained on them knows."""
        return tuple(sorted({text for clip in self.clips.values() if clip.split == "train" and not clip.labelled
                             for text in self.captions(clip.id)}))  # fmt: skip

    def captions(self, clip_id: str) -> list[str]:
        """The captions that describe the whole clip (HumanML3D's captions of a part, with a start and
        an end time, are left out: the builders pair captions with whole clips and crops of them)."""
        return _whole(self.layout_of(clip_id), clip_id)


def _whole(layout: Layout, clip_id: str) -> list[str]:
    return [c.text for c in layout.captions(clip_id) if c.text and c.start == 0 and c.end == 0]


def _source_sha256(layout: Layout) -> str:
    manifest = layout.root / "manifest.json"
    if manifest.is_file():
        digest = json.loads(manifest.read_text(encoding="utf-8")).get("source_sha256")
        if digest:
            return digest
    h = hashlib.sha256()
    for name in ("labels.json", *(f"{s}.txt" for s in SPLITS)):
        path = layout.root / name
        h.update(path.read_bytes() if path.is_file() else b"-")
    return h.hexdigest()


@lru_cache(maxsize=256)
def _load(layout: Layout, clip_id: str) -> np.ndarray:
    features = layout.features(clip_id)
    features.setflags(write=False)  # shared by the cache: nobody may edit it in place
    return features
