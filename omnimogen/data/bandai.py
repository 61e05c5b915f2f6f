"""Build a HumanML3D-layout dataset from the Bandai Namco Research motion datasets (BVH + labels).

``omnimogen data bandai SRC OUT`` reads ``SRC/Bandai-Namco-Research-Motiondataset-{1,2}``, retargets
every take to the 22-joint skeleton at 20 fps, computes features, writes captions from the labels,
adds mirrored copies (``M`` prefix, left/right swapped in labels and captions, as HumanML3D does),
splits by take and writes ``Mean.npy``/``Std.npy`` of the train split. The build goes to a temporary
folder renamed into place at the end, so an interrupted build never leaves a half dataset behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..errors import FormatError, OmnimogenError, check_number
from ..motion import FPS, SMPL22, Motion, features_to_joints, mirror_joints
from .captions import captions_for, mirror_label, mirror_text
from .dataset import SPLITS, Caption, staging, write_clip, write_index

SPLIT_FRACTIONS = {"train": 0.80, "val": 0.05, "test": 0.15}  # HumanML3D's proportions
CAPTIONS_PER_CLIP = 3


@dataclass(frozen=True)
class Take:
    """One recording: ``dataset-2_walk_active_003`` is take 3 of (walk, active) in dataset 2."""

    id: str
    dataset: int
    action: str
    style: str
    take: int
    bvh: Path | None
    label_file: Path


@dataclass
class BuildReport:
    source: str
    out: str
    takes_found: int = 0
    takes_written: int = 0
    clips_written: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # take id -> reason
    per_split: dict[str, int] = field(default_factory=dict)  # clips incl. mirrors
    frames: int = 0  # 20 fps frames of the original takes (mirrors not counted)
    hours: float = 0.0
    seconds: float = 0.0
    source_sha256: str = ""


def _strip_prefix(label: str) -> str:
    """'dataset-2_walk-turn-left' -> 'walk-turn-left'."""
    return label.split("_", 1)[1] if label.startswith("dataset-") and "_" in label else label


def find_takes(src: Path) -> list[Take]:
    """Every labelled take under ``src``, in a fixed order; a take whose BVH is missing has bvh=None."""
    folders = sorted(src.glob("Bandai-Namco-Research-Motiondataset-*"))
    if not folders:
        raise FormatError(
            f"{src}: no Bandai-Namco-Research-Motiondataset-* folder found; pass the folder that holds them."
        )
    takes = []
    for folder in folders:
        dataset = int(folder.name.rsplit("-", 1)[1])
        try:
            contents = [_strip_prefix(s) for s in (folder / "cfg" / "content_label.txt").read_text().split()]
            styles = [_strip_prefix(s) for s in (folder / "cfg" / "style_label.txt").read_text().split()]
        except FileNotFoundError as e:
            raise FormatError(f"{e.filename}: label list missing from the Bandai folder.") from None
        for label_file in sorted((folder / "data").glob("*.json")):
            stem = label_file.stem
            try:
                label = json.loads(label_file.read_text())
                action, style = contents[label["content"]], styles[label["style"]]
            except (json.JSONDecodeError, KeyError, IndexError, TypeError) as e:
                warnings.warn(f"{label_file}: unreadable label ({e!r}); skipped.", stacklevel=2)
                continue
            bvh = next(
                (p for p in (label_file.with_suffix(".bvh.gz"), label_file.with_suffix(".bvh")) if p.is_file()),
                None,
            )
            takes.append(Take(stem, dataset, action, style, int(stem.rsplit("_", 1)[1]), bvh, label_file))
    return takes


def unit_hash(text: str) -> float:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


def assign_splits(takes: list[Take]) -> dict[str, str]:
    """Deterministic split per take, stratified within each (dataset, action, style) cell.

    The takes of a cell are ranked by a hash of their id and placed at evenly spaced quantiles
    shifted by a hash of the cell, so a cell with many takes spreads over all splits in the
    80/5/15 proportions and a cell with one take lands in a split at random. A take and its
    mirror always share a split.
    """
    cells: dict[tuple, list[Take]] = {}
    for t in takes:
        cells.setdefault((t.dataset, t.action, t.style), []).append(t)
    out = {}
    for key, members in cells.items():
        members = sorted(members, key=lambda t: unit_hash(t.id))
        shift = unit_hash("/".join(map(str, key)))
        for rank, t in enumerate(members):
            u = ((rank + shift) / len(members)) % 1.0
            out[t.id] = (
                "train" if u < SPLIT_FRACTIONS["train"] else "val" if u < 1 - SPLIT_FRACTIONS["test"] else "test"
            )
    return out


def single_thread() -> None:
    import torch

    torch.set_num_threads(1)  # the pool already uses every core


def write_take(root: Path, take_id: str, joints: np.ndarray, captions: list[Caption]) -> None:
    """A take's clip and its mirrored copy (``M`` prefix, left and right swapped in the captions), from
    (frames, 22, 3) joints at 20 fps, into a HumanML3D-layout folder."""
    mirrored = [Caption(mirror_text(c.text)) for c in captions]
    for clip_id, j, caps in ((take_id, joints, captions), ("M" + take_id, mirror_joints(joints, SMPL22), mirrored)):
        features = Motion.from_joints(j, FPS).features
        write_clip(root, clip_id, features, features_to_joints(features), caps)


def _process(take: Take, tmp_root: str) -> tuple[str, int, str, str | None]:
    """Worker: one take -> clip and mirrored clip files. Returns (id, frames, sha256, error)."""
    from ..formats.bvh import read_bvh

    try:
        raw = take.bvh.read_bytes()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the spine2 interpolation note would repeat for every take
            clip = read_bvh(take.bvh, fps=FPS)
        captions = [Caption(c) for c in captions_for(take.action, take.style, CAPTIONS_PER_CLIP, take.id)]
        write_take(Path(tmp_root), take.id, clip.joints, captions)
        return take.id, len(clip.joints), hashlib.sha256(raw).hexdigest(), None
    except (OmnimogenError, OSError, EOFError) as e:
        return take.id, 0, "", str(e)


def build_bandai(src: str | Path, out: str | Path, *, limit: int | None = None, workers: int | None = None,
                 overwrite: bool = False, progress: bool = True) -> BuildReport:  # fmt: skip
    """Build the dataset; returns a report (also written to ``OUT/manifest.json``)."""
    start = time.perf_counter()
    if limit is not None:
        check_number("limit", limit, 1, integer=True)
    if workers is not None:
        check_number("workers", workers, 1, 256, integer=True)
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise FormatError(f"{src}: source folder does not exist.")
    takes = find_takes(src)
    splits = assign_splits(takes)  # before --limit, so a limited build keeps each take's split
    report = BuildReport(source=str(src), out=str(out), takes_found=len(takes))
    for t in takes:
        if t.bvh is None:
            report.skipped[t.id] = "label without a motion file"
            warnings.warn(f"{t.label_file}: label without a BVH file; skipped.", stacklevel=2)
    todo = [t for t in takes if t.bvh is not None]
    if limit is not None:
        todo = todo[:: max(1, len(todo) // limit)][:limit]  # spread over actions and styles

    with staging(out, overwrite) as tmp:
        workers = workers or min(2, os.cpu_count() or 1)
        results = {}
        with ProcessPoolExecutor(workers, initializer=single_thread) as pool:
            futures = pool.map(_process, todo, [str(tmp)] * len(todo), chunksize=4)
            for take_id, frames, digest, error in tqdm(futures, total=len(todo), disable=not progress, desc="takes"):
                if error:
                    report.skipped[take_id] = error
                    warnings.warn(f"skipped {error}", stacklevel=2)
                else:
                    results[take_id] = (frames, digest)
        by_id = {t.id: t for t in todo}
        written = sorted(results)
        labels, split_ids = {}, {s: [] for s in SPLITS}
        for take_id in written:
            t, split = by_id[take_id], splits[take_id]
            base = {
                "dataset": t.dataset,
                "take": t.take,
                "source": str(t.bvh.relative_to(src)),
                "split": split,
            }
            labels[take_id] = {"action": t.action, "style": t.style, "mirror": False, **base}
            labels["M" + take_id] = {
                "action": mirror_label(t.action),
                "style": t.style,
                "mirror": True,
                **base,
            }
            split_ids[split] += [take_id, "M" + take_id]
        report.takes_written = len(written)
        report.clips_written = 2 * len(written)
        report.per_split = {s: len(v) for s, v in split_ids.items()}
        report.frames = sum(results[i][0] for i in written)
        report.hours = round(report.frames / FPS / 3600, 3)
        report.source_sha256 = hashlib.sha256("".join(results[i][1] for i in written).encode()).hexdigest()
        report.seconds = round(time.perf_counter() - start, 1)
        write_index(tmp, split_ids, labels, asdict(report))
    return report
