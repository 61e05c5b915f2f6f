"""Build a HumanML3D-layout dataset from any folder of captioned takes: ``omnimogen data import FOLDER --out DATASET``.

The folder holds motion files of any rig the BVH reader knows (SMPL, Mixamo, CMU in its three BVH
conversions, Bandai/Unreal-like, Character Creator; or ``--joint-map`` for another), DeepMimic clips
(``humanoid3d_*.txt`` with the character file beside them), or ``.npy`` / ``.json`` motions, and a ``captions.csv`` with a ``path`` column (relative to the folder) and a
``caption`` column (several captions joined by `` | ``); other columns are ignored. Every take is
retargeted to the 22-joint skeleton at 20 fps; leading T-pose frames (the calibration pose many mocap
exports start with) are dropped; a mirrored copy is added (``M`` prefix, left and right swapped in the
captions, as HumanML3D does); takes are split 80/5/15 by a hash of their id, so a take and its mirror
share a split and a re-import keeps every split. ``labels.json`` records each clip's source file, split
and rig; it has no action or style labels (the captions are the annotation).
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..errors import FormatError, OmnimogenError, check_number
from ..formats.deepmimic import is_deepmimic, read_deepmimic
from ..motion import FPS, SMPL22, Motion
from ..motion.motion import LOADABLE, file_kind
from .bandai import SPLIT_FRACTIONS, BuildReport, single_thread, unit_hash, write_take
from .dataset import SPLITS, Caption, staging, write_index

CAPTIONS = "captions.csv"
MIN_FRAMES = 11  # 0.5 s at 20 fps: shorter takes are left out


def read_captions(path: str | Path) -> dict[str, list[str]]:
    """{relative path: captions} from a captions CSV, in file order; every problem is one sentence."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
            columns = set(rows[0]) if rows else set()
    except FileNotFoundError:
        raise FormatError(f"{path}: no captions file; write one with the columns path and caption.") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise FormatError(f"{path}: not a readable CSV file ({e}).") from None
    if not {"path", "caption"} <= columns:
        raise FormatError(f"{path}: needs the columns path and caption (found {', '.join(sorted(columns)) or 'none'}).")
    out: dict[str, list[str]] = {}
    for n, row in enumerate(rows, start=2):
        rel = (row["path"] or "").strip()
        if not rel or Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise FormatError(f"{path}, line {n}: the path {rel!r} must be relative to the folder, inside it.")
        if rel in out:
            raise FormatError(f"{path}, line {n}: {rel} is listed twice.")
        out[rel] = [c.strip() for c in (row["caption"] or "").split("|") if c.strip()]
    if not out:
        raise FormatError(f"{path}: lists no takes.")
    return out


def clip_id(rel: str) -> str:
    """'cmu/02_01.bvh.gz' -> 'cmu_02_01': the relative path without its format suffix, as a file name."""
    stem = rel[: -len(file_kind(rel))] if file_kind(rel) else rel
    return re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")


def split_of(take_id: str) -> str:
    u = unit_hash(take_id)
    return "train" if u < SPLIT_FRACTIONS["train"] else "val" if u < 1 - SPLIT_FRACTIONS["test"] else "test"


def drop_rest_pose(joints: np.ndarray) -> np.ndarray:
    """Without the leading frames that hold a T-pose (both wrists level with the shoulders and held out
    wide), unless the whole take is one."""
    sk = SMPL22
    l_sh, r_sh, l_wr, r_wr = (sk.index(n) for n in ("left_shoulder", "right_shoulder", "left_wrist", "right_wrist"))
    shoulders = np.linalg.norm(joints[:, l_sh] - joints[:, r_sh], axis=-1)
    level = np.maximum(np.abs(joints[:, l_wr, 1] - joints[:, l_sh, 1]), np.abs(joints[:, r_wr, 1] - joints[:, r_sh, 1]))
    wide = np.linalg.norm(joints[:, l_wr] - joints[:, r_wr], axis=-1) > 3.0 * shoulders
    rest = (level < 0.1) & wide
    first = int(np.argmin(rest)) if not rest.all() else 0
    return joints[first:]


def _read(path: Path, joint_map: dict | None) -> tuple[np.ndarray, str]:
    """(frames, 22, 3) joints at 20 fps and the rig they were read as."""
    kind = file_kind(path)
    if kind in (".txt", ".json") and is_deepmimic(path):
        return read_deepmimic(path, fps=FPS), "deepmimic"
    if kind in (".bvh", ".bvh.gz"):
        from ..formats.bvh import read_bvh

        clip = read_bvh(path, fps=FPS, joint_map=joint_map)
        return clip.joints, clip.rig
    if kind not in LOADABLE:
        raise FormatError(f"{path}: cannot import '{kind or path.name}' files; use one of {', '.join(LOADABLE)} "
                          "or DeepMimic clips.")  # fmt: skip
    motion = Motion.load(path)
    return (motion if motion.fps == FPS else motion.resample(FPS)).joints, "omnimogen"


def _process(rel: str, captions: list[str], folder: str, tmp_root: str, joint_map: dict | None):
    """Worker: one take -> clip and mirrored clip. Returns (id, frames, sha256, rig, error)."""
    take = clip_id(rel)
    try:
        path = Path(folder) / rel
        raw = path.read_bytes()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a rig's missing joints are noted once per file
            joints, rig = _read(path, joint_map)
        joints = drop_rest_pose(joints)
        if len(joints) < MIN_FRAMES:
            raise FormatError(f"{rel}: {len(joints)} frames at 20 fps; a take needs at least {MIN_FRAMES} (0.5 s).")
        write_take(Path(tmp_root), take, joints, [Caption(c) for c in captions])
        return take, len(joints), hashlib.sha256(raw).hexdigest(), rig, None
    except (OmnimogenError, OSError, EOFError) as e:
        return take, 0, "", "", str(e)


def import_folder(folder: str | Path, out: str | Path, *, captions: str | Path | None = None,
                  joint_map: dict | None = None, workers: int | None = None, overwrite: bool = False,
                  progress: bool = True) -> BuildReport:  # fmt: skip
    """Build the dataset; returns a report (also in ``OUT/manifest.json``). A take that cannot be read or
    retargeted is left out with its reason in the report, not the whole import."""
    start = time.perf_counter()
    if workers is not None:
        check_number("workers", workers, 1, 256, integer=True)
    folder, out = Path(folder), Path(out)
    if not folder.is_dir():
        raise FormatError(f"{folder}: folder does not exist.")
    table = read_captions(captions or folder / CAPTIONS)
    ids: dict[str, str] = {}
    for rel in table:
        if clip_id(rel) in ids:
            raise FormatError(f"{rel} and {ids[clip_id(rel)]} would both be clip {clip_id(rel)!r}; rename one.")
        ids[clip_id(rel)] = rel
    report = BuildReport(source=str(folder), out=str(out), takes_found=len(table))
    todo = []
    for rel, caps in table.items():
        if not (folder / rel).is_file():
            report.skipped[clip_id(rel)] = f"{rel}: no such file"
        elif not caps:
            report.skipped[clip_id(rel)] = f"{rel}: no caption"
        else:
            todo.append((rel, caps))
    with staging(out, overwrite) as tmp:
        results, rigs = {}, {}
        with ProcessPoolExecutor(workers or min(2, os.cpu_count() or 1), initializer=single_thread) as pool:
            futures = pool.map(_process, *zip(*todo, strict=True), [str(folder)] * len(todo), [str(tmp)] * len(todo),
                               [joint_map] * len(todo)) if todo else []  # fmt: skip
            for take, frames, digest, rig, error in tqdm(futures, total=len(todo), disable=not progress, desc="takes"):
                if error:
                    report.skipped[take] = error
                else:
                    results[take], rigs[rig] = (frames, digest), rigs.get(rig, 0) + 1
        if not results:
            raise FormatError(f"{folder}: no take could be imported ({'; '.join(report.skipped.values()) or 'none listed'}).")
        labels, split_ids = {}, {s: [] for s in SPLITS}
        for take in sorted(results):
            split = split_of(take)
            base = {"source": ids[take], "split": split}
            labels[take], labels["M" + take] = {**base, "mirror": False}, {**base, "mirror": True}
            split_ids[split] += [take, "M" + take]
        report.takes_written, report.clips_written = len(results), 2 * len(results)
        report.per_split = {s: len(v) for s, v in split_ids.items()}
        report.frames = sum(f for f, _ in results.values())
        report.hours = round(report.frames / FPS / 3600, 3)
        report.source_sha256 = hashlib.sha256("".join(results[t][1] for t in sorted(results)).encode()).hexdigest()
        report.seconds = round(time.perf_counter() - start, 1)
        manifest = {**asdict(report), "format": "omnimogen.import", "rigs": rigs}
        if not write_index(tmp, split_ids, labels, manifest):
            warnings.warn(f"{out}: no take fell in the train split; Mean/Std are those of every clip.", stacklevel=2)
    for take, reason in report.skipped.items():
        warnings.warn(f"left out {take}: {reason}", stacklevel=2)
    return report
