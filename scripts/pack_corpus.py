"""Carry a labelled corpus and an X2Mo set to a machine without the data, small enough to travel.

    python scripts/pack_corpus.py pack --corpus data/bandai --x2mo data/x2mo --out .device/pack
    python scripts/pack_corpus.py unpack --pack .device/pack --corpus /tmp/bandai --x2mo /tmp/x2mo [--workers 16]

``pack`` keeps the joints of every original clip (mirrors are made again from them) at 1 mm,
delta-coded over time and xz-compressed (3.5 h of Bandai motion: about 9 MB), with the labels,
splits, normaliser and captions, and the X2Mo shards xz-compressed. ``unpack`` writes the HumanML3D
layout back (features recomputed from the joints, mirrored clips added as ``omnimogen data bandai``
adds them), which ``omnimogen train lm --corpus`` reads. Features differ from the original build by
the 1 mm rounding only; clip lengths, ids, labels and splits are the same, so every X2Mo reference
stays valid.
"""

from __future__ import annotations

import argparse
import json
import lzma
import shutil
from pathlib import Path

import numpy as np

SMALL_FILES = ("labels.json", "train.txt", "val.txt", "test.txt", "all.txt", "Mean.npy", "Std.npy")


def pack(corpus: Path, x2mo: Path, out: Path) -> None:
    from omnimogen.motion import Motion

    out.mkdir(parents=True, exist_ok=True)
    labels = json.loads((corpus / "labels.json").read_text())
    ids = sorted(
        i for i, lab in labels.items() if not lab.get("mirror") and (corpus / "new_joint_vecs" / f"{i}.npy").is_file()
    )
    deltas, frames = [], []
    for i in ids:
        joints = Motion.from_features(np.load(corpus / "new_joint_vecs" / f"{i}.npy")).joints  # (rows + 1, 22, 3)
        q = np.round(joints * 1000).astype(np.int32)
        deltas.append(np.diff(q, axis=0, prepend=0).astype(np.int16))  # steps of a frame are far below 32 m
        frames.append(len(q))
    (out / "joints.i16.xz").write_bytes(lzma.compress(np.concatenate(deltas).tobytes(), preset=6))
    (out / "index.json").write_text(json.dumps({"ids": ids, "frames": frames}))
    for name in SMALL_FILES:
        if (corpus / name).is_file():
            shutil.copy(corpus / name, out / name)
    texts = {p.stem: p.read_text(encoding="utf-8") for p in sorted((corpus / "texts").glob("*.txt"))}
    (out / "texts.json.xz").write_bytes(lzma.compress(json.dumps(texts).encode()))
    shards = {p.name: p.read_text(encoding="utf-8") for p in sorted(x2mo.glob("*.json*"))}
    (out / "x2mo.json.xz").write_bytes(lzma.compress(json.dumps(shards).encode()))
    size = sum(p.stat().st_size for p in out.iterdir()) / 1e6
    print(f"packed {len(ids)} clips ({sum(frames)} frames) and {len(shards)} X2Mo files into {out}: {size:.1f} MB")


def _write_clip(args) -> None:
    from omnimogen.motion import Motion, mirror_joints

    root, clip_id, joints, mirrored = args
    for cid, j in ((clip_id, joints), (f"M{clip_id}", mirror_joints(joints)) if mirrored else ()):
        np.save(root / "new_joint_vecs" / f"{cid}.npy", Motion.from_joints(j).features.astype(np.float32))


def unpack(pack_dir: Path, corpus: Path, x2mo: Path, workers: int) -> None:
    import multiprocessing as mp

    index = json.loads((pack_dir / "index.json").read_text())
    deltas = np.frombuffer(lzma.decompress((pack_dir / "joints.i16.xz").read_bytes()), dtype=np.int16)
    deltas = deltas.reshape(-1, 22, 3).astype(np.int64)
    labels = json.loads((pack_dir / "labels.json").read_text())
    (corpus / "new_joint_vecs").mkdir(parents=True, exist_ok=True)
    (corpus / "texts").mkdir(exist_ok=True)
    for name in SMALL_FILES:
        if (pack_dir / name).is_file():
            shutil.copy(pack_dir / name, corpus / name)
    for stem, text in json.loads(lzma.decompress((pack_dir / "texts.json.xz").read_bytes())).items():
        (corpus / "texts" / f"{stem}.txt").write_text(text, encoding="utf-8")
    jobs, start = [], 0
    for clip_id, n in zip(index["ids"], index["frames"], strict=True):
        joints = np.cumsum(deltas[start : start + n], axis=0) / 1000.0
        jobs.append((corpus, clip_id, joints, f"M{clip_id}" in labels))
        start += n
    with mp.get_context("spawn").Pool(workers) as pool:
        pool.map(_write_clip, jobs, chunksize=16)
    x2mo.mkdir(parents=True, exist_ok=True)
    for name, text in json.loads(lzma.decompress((pack_dir / "x2mo.json.xz").read_bytes())).items():
        (x2mo / name).write_text(text, encoding="utf-8")
    print(f"unpacked {len(jobs)} clips (and their mirrors) into {corpus}, the X2Mo set into {x2mo}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--corpus", type=Path, required=True)
    p.add_argument("--x2mo", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    u = sub.add_parser("unpack")
    u.add_argument("--pack", type=Path, required=True)
    u.add_argument("--corpus", type=Path, required=True)
    u.add_argument("--x2mo", type=Path, required=True)
    u.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    if args.cmd == "pack":
        pack(args.corpus, args.x2mo, args.out)
    else:
        unpack(args.pack, args.corpus, args.x2mo, args.workers)


if __name__ == "__main__":
    main()
