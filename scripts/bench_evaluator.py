"""Measure the text-motion evaluator on a split: label retrieval and per-label confusion.

    python scripts/bench_evaluator.py --data /path/to/bandai --evaluator RUN/best --out benchmarks/evaluator

Writes ``results.json`` and ``report.md`` (see :class:`omnimogen.evaluation.RetrievalReport`):
text-to-motion and motion-to-motion R@1/R@2/R@3/AvgR in batches of 32, where a retrieved item with
the query's label (action and style) counts as correct, next to what chance gets in the same batches.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from datetime import date
from pathlib import Path

import torch

from omnimogen.data import MotionDataset
from omnimogen.evaluation import evaluate_retrieval, load_evaluator


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--evaluator", default=None, help="default: the shipped one")
    ap.add_argument("--split", default="test")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0, help="which shuffled batches")
    ap.add_argument("--out", default="benchmarks/evaluator")
    args = ap.parse_args()
    torch.set_num_threads(2)
    evaluator = load_evaluator(args.evaluator)
    clips = list(MotionDataset(args.data, args.split))
    report = evaluate_retrieval(evaluator, clips, args.split, args.batch_size, args.seed)
    for path in report.write(args.out):
        print(f"wrote {path}")
    results = Path(args.out) / "results.json"
    doc = json.loads(results.read_text())
    doc = {"date": date.today().isoformat(), "evaluator": args.evaluator or "shipped default",
           "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch threads 2", **doc}  # fmt: skip
    results.write_text(json.dumps(doc, indent=1) + "\n")
    print(report.to_markdown().split("\n## ")[0])


if __name__ == "__main__":
    main()
