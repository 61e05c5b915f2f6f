"""Does pushing a read style against the same request without it (``style_guidance``) show the style?

    python scripts/bench_style_guidance.py --data data/bandai --out benchmarks/realign/style_guidance.json

Every (action, style) cell of the train split that has a style, shuffled with seed 0, the first
``--cells``: each asked in the training captions' words (``understand.canonical_caption``, what the
model is asked once the words are read) with the model's guidance, seed k for cell k, at each
``--weights`` value; the evaluator's nearest train clips give the action and style groups read
(``follow.Labeller``), as the follow suite reads them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from datetime import date

import numpy as np

from omnimogen.data.captions import ACTIONS, STYLES
from omnimogen.evaluation.evaluator import load_evaluator
from omnimogen.evaluation.follow import Labeller, action_group, style_group
from omnimogen.instructions.corpus import Corpus
from omnimogen.model.pipeline import load_model
from omnimogen.model.understand import canonical_caption


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="the Bandai dataset folder (omnimogen data bandai)")
    p.add_argument("--out", required=True)
    p.add_argument("--model", help="model directory (default: the shipped one)")
    p.add_argument("--cells", type=int, default=150)
    p.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    args = p.parse_args()
    corpus = Corpus(args.data)
    labeller = Labeller(load_evaluator(), corpus)
    cells = sorted({(c.action, c.style) for clips in corpus.cells("train").values() for c in clips
                    if c.style != "normal" and c.action in ACTIONS and c.style in STYLES})  # fmt: skip
    random.Random(0).shuffle(cells)
    cells = cells[: args.cells]
    model = load_model(args.model)
    results = {}
    for h in args.weights:
        start = time.perf_counter()
        motions = [model.generate(canonical_caption(a, s), seed=k, style_guidance=h).motions[0]
                   for k, (a, s) in enumerate(cells)]  # fmt: skip
        read = labeller(motions)
        results[f"style_guidance_{h:g}"] = {
            "style": float(np.mean([style_group(s) == rs for (_, s), (_, rs) in zip(cells, read, strict=True)])),
            "action": float(np.mean([action_group(a) == ra for (a, _), (ra, _) in zip(cells, read, strict=True)])),
            "n": len(cells), "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
        print(h, results[f"style_guidance_{h:g}"], flush=True)
    out = {"suite": "style_guidance", "model": args.model or "shipped", "sampling": model.lm.sampling,
           "cells": cells, "results": results, "date": str(date.today()),
           "machine": f"{platform.machine()}, {os.cpu_count()} CPUs"}  # fmt: skip
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
