"""Measure a tokenizer: reconstruction error per number of levels, codebook use, and speed.

    python scripts/bench_tokenizer.py --data /path/to/bandai --tokenizer omnimogen/assets/tokenizer \
        --out benchmarks/tokenizer.json --gif benchmarks/tokenizer_test_clip.gif

On the test split of a HumanML3D-layout dataset and on a clip from another corpus that the tokenizer
never saw (HumanML3D 012314, from ../shared/fixtures). Speed: encode + decode of 64-row (3.2 s)
windows on 2 CPU threads, median of 5 runs, batch 1 and 64.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

from omnimogen.data import MotionDataset
from omnimogen.formats.render import render
from omnimogen.tokenizer import load_tokenizer
from omnimogen.training.tokenizer import evaluate

HELD_OUT = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "humanml3d" / "new_joint_vecs" / "012314.npy"


def throughput(tok, batch: int, rows: int = 64, repeats: int = 5) -> float:
    x = torch.randn(batch, rows, tok.config.input_dim)
    tok.decode_tensor(tok.encode_tensor(x))  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        tok.decode_tensor(tok.encode_tensor(x))
        times.append(time.perf_counter() - t)
    return batch * rows / statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--tokenizer", default=None, help="default: the shipped one")
    ap.add_argument("--split", default="test")
    ap.add_argument("--out", default="benchmarks/tokenizer.json")
    ap.add_argument("--gif", help="also render a test clip next to its reconstruction")
    args = ap.parse_args()
    torch.set_num_threads(2)
    load = os.getloadavg()[0]
    tok = load_tokenizer(args.tokenizer)
    clips = [c.features for c in MotionDataset(args.data, args.split, min_frames=4)]
    held_out = [np.load(HELD_OUT)] if HELD_OUT.is_file() else []

    per_level = []
    for k in range(1, tok.config.num_levels + 1):
        test = evaluate(tok, clips, levels=k)
        row = {
            "levels": k,
            "test_mpjpe_mm": round(test["mpjpe_mm"], 1),
            "test_mpjpe_aligned_mm": round(test["mpjpe_aligned_mm"], 1),
        }
        if held_out:
            ho = evaluate(tok, held_out, levels=k)
            row |= {
                "held_out_mpjpe_mm": round(ho["mpjpe_mm"], 1),
                "held_out_mpjpe_aligned_mm": round(ho["mpjpe_aligned_mm"], 1),
            }
        per_level.append(row)
        print(row, flush=True)
    result = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch threads 2, Python {sys.version.split()[0]}",
        "load_average_1min_at_start": round(load, 2),
        "tokenizer": str(args.tokenizer or "shipped default"),
        "config": tok.config.__dict__,
        "test_clips": len(clips),
        "test_frames": int(sum(len(c) + 1 for c in clips)),
        "per_level": per_level,
        "codebook_usage": [round(u, 3) for u in test["usage"]],
        "codebook_perplexity": [round(p, 1) for p in test["perplexity"]],
        "global_mpjpe_mm_by_second": [round(e, 1) for e in test["mpjpe_mm_by_second"]],
        "frames_per_second_batch_1": round(throughput(tok, 1)),
        "frames_per_second_batch_64": round(throughput(tok, 64)),
        "parameters_millions": round(sum(p.numel() for p in tok.parameters()) / 1e6, 2),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "per_level"}, indent=1))
    if args.gif:
        ds = MotionDataset(args.data, args.split, min_frames=60)
        clip = ds[len(ds) // 2]
        m = clip.motion()
        rec = tok.decode(tok.encode(m), length=m.num_frames)
        render([m, rec], args.gif, titles=["test clip", "reconstruction (6 levels)"], caption=clip.captions[0].text)
        print(f"wrote {args.gif} ({clip.id})")


if __name__ == "__main__":
    main()
