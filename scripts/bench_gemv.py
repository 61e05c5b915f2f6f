"""Matrix-vector products at the shipped transformer's sizes, one weight dtype at a time.

    python scripts/bench_gemv.py --out benchmarks/gemv.json

Decoding at batch 1 multiplies one row by every weight matrix of the model once per position. This
times that product for a set of matrices larger than the caches (like a real decoding step) in
float32, bfloat16, float16 and int8 (per-row scales, ``torch._weight_int8pack_mm``), 2 threads,
median of 7 rounds, and reports microseconds per 768 x 256 product and the implied weight bandwidth.
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

import torch
import torch.nn.functional as F

SHAPES = [(768, 256), (256, 256), (1536, 256), (256, 768)] * 12  # 6 layers' fused projections, twice (40 MB)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="benchmarks/gemv.json")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    weights = [torch.randn(*s) for s in SHAPES]
    x32 = torch.randn(1, 256)
    xs = {256: x32, 768: torch.randn(1, 768)}

    def int8(w):
        scale = w.abs().amax(1) / 127
        return (w / scale[:, None]).round().to(torch.int8), scale

    kinds = {
        "float32": (weights, lambda x, w: F.linear(x, w)),
        "bfloat16": ([w.bfloat16() for w in weights], lambda x, w: F.linear(x.bfloat16(), w)),
        "float16": ([w.half() for w in weights], lambda x, w: F.linear(x.half(), w)),
        "int8": ([int8(w) for w in weights], lambda x, w: torch._weight_int8pack_mm(x, w[0], w[1])),
    }
    params = sum(w.numel() for w in weights)
    result = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch threads 2, Python {sys.version.split()[0]}",
        "load_average_1min_at_start": round(os.getloadavg()[0], 2),
        "matrices": len(SHAPES),
        "float32_megabytes": round(params * 4 / 1e6, 1),
        "microseconds_per_768x256_product": {},
        "float32_gigabytes_per_second": None,
    }
    for name, (ws, fn) in kinds.items():
        for w, s in zip(ws, SHAPES, strict=True):  # warm-up
            fn(xs[s[1]], w)
        rounds = []
        for _ in range(args.rounds):
            t = time.perf_counter()
            for w, s in zip(ws, SHAPES, strict=True):
                fn(xs[s[1]], w)
            rounds.append(time.perf_counter() - t)
        sec = statistics.median(rounds)
        per = sec / (params / (768 * 256)) * 1e6
        result["microseconds_per_768x256_product"][name] = round(per, 1)
        if name == "float32":
            result["float32_gigabytes_per_second"] = round(params * 4 / sec / 1e9, 1)
        print(name, round(per, 1), "us per 768x256", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
