"""Which actions the model makes when asked in its training's own words, as the evaluator reads them.

    python scripts/bench_actions.py --data data/bandai --answers 8 --out benchmarks/actions_in_training_words.json

Each action label of the corpus is asked as the reading of the words asks it (``understand.canonical_caption``,
normal style: "A person bows."), ``--answers`` times with seeds 0.., and each answer is read by the follow
suite's evaluator reading (``Labeller``: the labels of the 5 nearest train clips). This is the ceiling
of text to motion for a request read right: an action that fails here fails however the words are read.
Also reports how often each answer shows the action to the joint checks, where one applies
(``checks.action_test``), with the answers sampled again as the pipeline does by default and with one
answer (``candidates=1``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections import Counter
from pathlib import Path

import torch

from omnimogen.evaluation.evaluator import load_evaluator
from omnimogen.evaluation.follow import Labeller, action_group
from omnimogen.instructions.corpus import Corpus
from omnimogen.model.pipeline import load_model
from omnimogen.model.understand import canonical_caption
from omnimogen.motion import checks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="the labelled corpus the evaluator reading compares with")
    ap.add_argument("--model", help="model directory (default: the shipped one)")
    ap.add_argument("--answers", type=int, default=8)
    ap.add_argument("--out", default="benchmarks/actions_in_training_words.json")
    args = ap.parse_args()
    torch.set_num_threads(2)
    start = time.perf_counter()
    corpus = Corpus(args.data)
    model = load_model(args.model)
    read = Labeller(load_evaluator(), corpus)
    actions = sorted({c.action for cells in corpus.cells("train").values() for c in cells})
    rows = {}
    for action in actions:
        words = canonical_caption(action, "normal")
        row = {"asked": words}
        test = checks.action_test(action)
        for name, extra in (("default", {}), ("one_answer", {"candidates": 1})):
            if name == "one_answer" and test is None:
                continue  # answered once either way
            made = [model.generate(words, seed=s, **extra).motions[0] for s in range(args.answers)]
            labels = [a for a, _ in read(made)]
            row[name] = {"read_as": dict(Counter(labels).most_common()),
                         "right_pct": round(100 * sum(a == action_group(action) for a in labels) / len(labels), 1)}  # fmt: skip
            if test is not None:
                row[name]["joints_show_pct"] = round(100 * sum(bool(test(m.joints)) for m in made) / len(made), 1)
        rows[action] = row
        print(action, row, flush=True)
    result = {
        "what": "each action asked in the training's own words; the evaluator reading of each answer",
        "command": f"python scripts/bench_actions.py --data {args.data} --answers {args.answers}"
                   + (f" --model {args.model}" if args.model else ""),
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch threads 2",
        "model": args.model or "shipped default", "sampling": model.lm.sampling, "answers": args.answers,
        "seconds": round(time.perf_counter() - start, 1), "actions": rows,
    }  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
