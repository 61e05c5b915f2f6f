"""Measure the motion foundation on real data: BVH import speed, BVH round-trip error, render speed.

    python scripts/bench_foundation.py --bandai ../shared/data/bandai --clips 60 --out benchmarks/foundation.json

Times are medians over clips (or repeats); the machine and date are written next to the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import torch

from omnimogen import Motion
from omnimogen.formats.bvh import read_bvh, write_bvh
from omnimogen.formats.render import render


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bandai", default="../shared/data/bandai")
    ap.add_argument("--clips", type=int, default=60, help="clips spread evenly over the corpus")
    ap.add_argument("--out", default="benchmarks/foundation.json")
    args = ap.parse_args()
    torch.set_num_threads(2)
    load = os.getloadavg()[0]
    files = sorted(Path(args.bandai).glob("*/data/*.bvh.gz"))
    files = files[:: max(1, len(files) // args.clips)][: args.clips]

    import_s, frames, rt_20, rt_native = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for f in files:
            t = time.perf_counter()
            clip = read_bvh(f)
            import_s.append(time.perf_counter() - t)
            frames.append(len(clip.joints))
            for fps, errs in ((20, rt_20), (clip.source_fps, rt_native)):
                joints = read_bvh(f, fps=fps).joints
                path = Path(tmp) / "x.bvh"
                write_bvh(path, joints, fps=fps)
                back = read_bvh(path, fps=fps).joints
                errs.append(float(np.linalg.norm(back - joints, axis=-1).max() * 1000))
        m = Motion.load(files[0])
        render_s = []
        for _ in range(3):
            t = time.perf_counter()
            render(m, Path(tmp) / "r.gif")
            render_s.append(time.perf_counter() - t)

    result = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch threads 2, Python {sys.version.split()[0]}",
        "load_average_1min_at_start": round(load, 2),  # > 0.5: other jobs shared the CPUs
        "clips": len(files),
        "bvh_import_ms_median": round(1000 * statistics.median(import_s), 1),
        "bvh_import_ms_per_100_frames": round(1000 * sum(import_s) / sum(frames) * 100, 2),
        "bvh_roundtrip_max_mm_at_20fps": {"median": round(statistics.median(rt_20), 3), "max": round(max(rt_20), 3)},
        "bvh_roundtrip_max_mm_at_source_fps": {
            "median": round(statistics.median(rt_native), 4),
            "max": round(max(rt_native), 4),
        },
        "render_gif_s": {"frames": m.num_frames, "median_of_3": round(statistics.median(render_s), 2)},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
