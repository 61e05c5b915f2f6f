"""Physical (feet on the floor) of text-to-motion answers that turn: the model alone against the walk
it makes straight and that is bent onto the asked turn (``OmniMoGen._walk_that_turns``).

    python scripts/bench_turn_physical.py --prompts benchmarks/follow/turns/prompts.json --split all \
        --repeats 4 --out benchmarks/follow/turns/t2m_physical.json

Every text-to-motion case of the prompts file whose expectation names a turn or a curve is asked with
``keep_parts`` off and on, with the same seeds; each answer gets ``metrics.physical_score`` (no
glide, float or penetration of the feet; real clips ~0.99) and the share of frames facing along the path.
"""

from __future__ import annotations

import argparse
import json
import platform
import warnings
import zlib
from datetime import date

import numpy as np
import torch

from omnimogen.evaluation.follow import load_prompts
from omnimogen.evaluation.metrics import physical_score
from omnimogen.model.pipeline import load_model
from omnimogen.motion import checks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", help="a prompts file (default: the follow suite's)")
    ap.add_argument("--split", default="dev", choices=("dev", "test", "all"))
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(2)
    warnings.simplefilter("ignore")
    model = load_model()
    cases = [c for c in load_prompts(args.prompts, args.split) if c.family == "t2m"
             and (c.turns[0].expect.get("turn") or c.turns[0].expect.get("curve"))]  # fmt: skip
    rows = {"model_alone": [], "bent": []}
    for case in cases:
        for r in range(args.repeats):
            seed = zlib.crc32(case.id.encode()) % 1000 + 7919 * r
            for name, keep in (("model_alone", False), ("bent", True)):
                result = model.generate(case.turns[0].instruction, seed=seed, keep_parts=keep)
                j = result.motions[0].joints
                facing = checks.facing_along_path(j)
                rows[name].append({"case": case.id, "repeat": r, "physical": physical_score(j),
                                   "facing_share": None if facing is None else float(facing),
                                   "composed": result.composed is not None})  # fmt: skip
    summary = {name: {"answers": len(v), "physical_mean": round(float(np.mean([x["physical"] for x in v])), 3),
                      "composed": sum(x["composed"] for x in v)} for name, v in rows.items()}  # fmt: skip
    out = {"prompts": args.prompts or "shipped", "split": args.split, "repeats": args.repeats, "date": str(date.today()),
           "machine": platform.machine(), "summary": summary, "answers": rows}  # fmt: skip
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
