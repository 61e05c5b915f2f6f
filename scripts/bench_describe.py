"""Motion to text: how well the captions of ``model.describe`` fit their motions, by temperature.

    python scripts/bench_describe.py --data /work/runs/bandai --out benchmarks/describe.json

On the test clips of the corpus (cut to 196 rows, 9.8 s, as the t2m suite cuts them), one caption
per clip and temperature. Each caption is scored with the shipped text-motion evaluator the way the
t2m suite scores generated motions: within shuffled batches of 32, the caption ranks the batch's
real motions, and a clip of the caption's own action and style counts as a hit (Bandai captions
are written from those labels). The ground-truth captions give the ceiling. The script also reports
how many captions name the clip's action and style words, and how many distinct captions there are,
and, under the ground truth, the model's mean loss on the clips' own captions (``model_loss``).
``--evaluator`` judges with another evaluator: the shipped one was trained on the captions of its day.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import torch

from omnimogen import Motion
from omnimogen.data.captions import names_label
from omnimogen.evaluation.evaluator import label_ranks, load_evaluator
from omnimogen.instructions.corpus import Corpus
from omnimogen.model.pipeline import load_model
from omnimogen.model.vocab import Message, TextPart

MAX_ROWS = 196


@torch.no_grad()
def caption_loss(model, motions: list[Motion], captions: list[str]) -> float:
    """The model's mean loss (nats per token) on each clip's own caption, asked as ``describe`` asks:
    how likely it finds the right words, apart from what it samples."""
    device = next(model.lm.parameters()).device
    losses = []
    for motion, caption in zip(motions, captions, strict=True):
        conv = [model._user_turn("Write a caption for <Motion>.", {"Motion": motion}),
                Message("assistant", (TextPart(caption),))]  # fmt: skip
        r = model.lm.vocab.render(conv)
        ids, codes, mask = (torch.as_tensor(a)[None].to(device) for a in (r.ids, r.codes, r.loss_mask))
        out = model.lm(ids, codes, loss_mask=mask.bool())
        losses.append(float(out.loss))
    return round(float(np.mean(losses)), 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="the corpus (HumanML3D layout with labels.json)")
    ap.add_argument("--model", help="model directory (default: the shipped one)")
    ap.add_argument("--clips", type=int, default=256, help="test clips (the first N by id)")
    ap.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 0.8, 0.6, 0.4, 0.0])
    ap.add_argument("--repeats", type=int, default=5, help="shuffled batchings of the retrieval")
    ap.add_argument("--evaluator", help="the judging evaluator (default: the shipped one, trained on the captions "
                    "of its day; runs/eval_heldout/best judges today's captions, which the ground truth shows)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/describe.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")

    corpus = Corpus(args.data)
    clips = sorted((c for cells in corpus.cells("test").values() for c in cells), key=lambda c: c.id)
    clips = [c for c in clips if corpus.captions(c.id)][: args.clips]
    features = [corpus.features(c.id)[:MAX_ROWS] for c in clips]
    motions = [Motion.from_features(f) for f in features]
    labels = [f"{c.action}/{c.style}" for c in clips]
    model, evaluator = load_model(args.model), load_evaluator(args.evaluator)
    motion_emb = evaluator.embed_motions(features)

    def scores(captions: list[str]) -> dict:
        text_emb = evaluator.embed_texts(captions)
        ranks = [label_ranks(text_emb, motion_emb, labels, 32, rng=r).recall() for r in range(args.repeats)]
        out = {k: round(float(np.mean([r[k] for r in ranks])), 4) for k in ranks[0]}
        named = [names_label(cap, c.action) for cap, c in zip(captions, clips, strict=True)]
        styled = [names_label(cap, c.style) for cap, c in zip(captions, clips, strict=True)]
        out |= {"names_action": round(float(np.mean(named)), 4), "names_style": round(float(np.mean(styled)), 4),
                "distinct_captions": len(set(captions))}  # fmt: skip
        return out

    truth = [corpus.captions(c.id)[0] for c in clips]
    results = {"ground_truth": scores(truth) | {"model_loss": caption_loss(model, motions, truth)}}
    print(f"ground truth: {results['ground_truth']}", flush=True)
    examples = {}
    for t in args.temperatures:
        t0 = time.perf_counter()
        captions = [model.describe(m, seed=i, temperature=t, text_temperature=t).text for i, m in enumerate(motions)]
        results[f"T={t:g}"] = {
            **scores(captions),
            "seconds_per_caption": round((time.perf_counter() - t0) / len(clips), 3),
        }
        every = max(1, len(clips) // 8)
        examples[f"T={t:g}"] = [{"clip": c.id, "caption": cap} for c, cap in zip(clips, captions, strict=True)][::every]
        print(f"T={t:g}: {results[f'T={t:g}']}", flush=True)
    doc = {
        "what": "describe(): retrieval of real motions by generated captions (label hits, batches of 32) by temperature",
        "clips": len(clips),
        "results": results,
        "examples": examples,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {args.threads} threads",
        "date": date.today().isoformat(),
        "command": " ".join(["python", "scripts/bench_describe.py", *sys.argv[1:]]),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
