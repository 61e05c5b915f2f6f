"""How well a tokenizer reconstructs motion from each source: root-aligned and global MPJPE, codebook
use, the Physical score of the reconstructions (the real clips' beside it), and whether the
whole-body skills a clip shows (a cartwheel's inverted frames, a jump's flight, a kick's raised foot:
``checks.shows``, read from the joints) are still there after reconstruction (a skill the tokenizer
cannot keep is one no model on its codes can make).

    python scripts/bench_tokenizer_sources.py --data bandai=data/bandai:test --data extra=data/extra:test \
        --data humanml3d=tests/fixtures/humanml3d --tokenizer shipped --tokenizer runs/tok/best \
        --out benchmarks/tokenizer_sources.json

Each ``--data NAME=FOLDER[:SPLIT]`` is a HumanML3D-layout dataset (``omnimogen data bandai`` or
``omnimogen data import``); without a split every clip is used (a folder without split files: every
feature file). Every ``--tokenizer`` (``shipped`` for the one in the package) is measured on the same
clips, side by side.
Mirrored copies (``M`` prefix) are left out. Clips of an imported folder are grouped by the first
folder of their source path (``cmu``, ``aclstm``, ``deepmimic``), so each source gets its own row.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from collections import defaultdict
from datetime import date
from pathlib import Path

import torch

from omnimogen.data.dataset import SPLITS, Layout
from omnimogen.motion import Motion
from omnimogen.motion.checks import shows
from omnimogen.tokenizer import load_tokenizer
from omnimogen.training.tokenizer import evaluate


def groups(spec: str) -> dict[str, list]:
    name, _, where = spec.partition("=")
    folder, _, split = where.partition(":")
    layout = Layout(folder)
    if split:
        ids = layout.split_ids(split)
    elif layout.split_file("train").is_file():
        ids = [i for s in SPLITS for i in layout.split_ids(s)]
    else:
        ids = sorted(p.stem for p in (layout.root / "new_joint_vecs").glob("*.npy"))
    labels = layout.labels()
    out = defaultdict(list)
    for clip in ids:
        if clip.startswith("M") and labels.get(clip, {}).get("mirror", True):
            continue
        source = labels.get(clip, {}).get("source", "")
        key = name if "dataset" in labels.get(clip, {}) or "/" not in source else f"{name}/{source.split('/')[0]}"
        out[key].append(layout.features(clip))
    return out


def skills_kept(tok, clips) -> dict[str, list[int]]:
    """{skill: [clips showing it, of those whose reconstruction shows it too]}."""
    out: dict[str, list[int]] = {}
    with torch.no_grad():
        for features in clips:
            motion = Motion.from_features(features)
            shown = shows(motion.joints)
            if not shown:
                continue
            again = shows(tok.decode(tok.encode(motion), length=motion.num_frames).joints)
            for skill in shown:
                counts = out.setdefault(skill, [0, 0])
                counts[0] += 1
                counts[1] += skill in again
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", action="append", required=True, metavar="NAME=FOLDER[:SPLIT]")
    ap.add_argument("--tokenizer", action="append", help="a tokenizer folder or 'shipped' (the default); repeat")
    ap.add_argument("--out", default="benchmarks/tokenizer_sources.json")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 2)))
    data = {key: clips for spec in args.data for key, clips in groups(spec).items()}
    rows = {}
    for name in args.tokenizer or ["shipped"]:
        tok = load_tokenizer(None if name == "shipped" else name).eval()
        rows[name] = {}
        for key, clips in data.items():
            r = evaluate(tok, clips)
            rows[name][key] = {"clips": len(clips), "mpjpe_aligned_mm": round(r["mpjpe_aligned_mm"], 1),
                               "mpjpe_mm": round(r["mpjpe_mm"], 1), "least_used_level": round(min(r["usage"]), 3),
                               "physical": round(r["physical"], 3), "physical_real": round(r["physical_real"], 3),
                               "skills_kept": skills_kept(tok, clips)}  # fmt: skip
            print(name, key, rows[name][key], flush=True)
    doc = {"data": args.data, "tokenizers": rows, "date": str(date.today()),
           "machine": f"{platform.machine()}, {os.cpu_count()} CPUs"}  # fmt: skip
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
