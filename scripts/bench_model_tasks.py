"""Per task, on the X2Mo validation samples: the teacher-forced loss and how often a sampled answer
parses into valid motions (first try, no retries), plus a few rendered answers to look at.

    python scripts/bench_model_tasks.py --data /work/runs/x2mo --corpus /work/runs/bandai \\
        --out benchmarks/model_tasks.json --gifs /tmp/task_gifs

An answer is valid when it ends with ``<eoa>`` within the token budget, parses (``Vocab.parse``),
holds as many motions as the reference answer, and every motion decodes to finite joints.
Quality against ground truth is the evaluation suites' job (``omnimogen bench``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import warnings
from collections import defaultdict
from datetime import date
from pathlib import Path

import numpy as np
import torch

from omnimogen.instructions.corpus import Corpus
from omnimogen.instructions.recipes import materialise
from omnimogen.model.generate import SamplingOptions, generate
from omnimogen.model.pipeline import load_model
from omnimogen.model.vocab import MotionCodes, TextPart
from omnimogen.training.lm import read_split, ref_key, sample_messages


def answer_is_valid(model, prompt, out, expected_motions: int) -> tuple[bool, str, list]:
    """(valid, reason, parts) of one generated answer."""
    if not out.finished[0]:
        return False, "unfinished", []
    try:
        parts = model._parts(prompt, out)  # how the API reads an answer
    except ValueError:
        return False, "unparsable", []
    motions = [p for p in parts if isinstance(p, MotionCodes)]
    if len(motions) != expected_motions:
        return False, "motion count", parts
    for p in motions:
        joints = model.tokenizer.decode(p.codes).joints
        if not np.isfinite(joints).all():
            return False, "non-finite", parts
    return True, "ok", parts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", help="model directory (default: the shipped one)")
    ap.add_argument("--data", required=True, help="X2Mo folder (its val shard is used)")
    ap.add_argument("--corpus", required=True, help="the dataset the samples reference")
    ap.add_argument("--per-task", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gifs", help="folder for a few rendered answers per task")
    ap.add_argument("--gifs-per-task", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/model_tasks.json")
    args = ap.parse_args()
    torch.set_num_threads(2)
    model = load_model(args.model)
    corpus = Corpus(args.corpus)
    by_task = defaultdict(list)
    for s in read_split(Path(args.data), "val"):
        if len(by_task[s.task]) < args.per_task:
            by_task[s.task].append(s)
    gen = torch.Generator().manual_seed(args.seed)
    report = {}
    cache: dict = {}

    def codes_of(ref):
        key = ref_key(ref)
        if key not in cache:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cache[key] = model.tokenizer.encode(materialise(ref, corpus))
        return cache[key]

    for task, samples in sorted(by_task.items()):
        losses, valid, reasons = [], 0, defaultdict(int)
        for i, s in enumerate(samples):
            messages = sample_messages(s, codes_of)
            full = model.lm.vocab.render(messages)
            with torch.no_grad():
                b = torch.from_numpy(full.ids)[None]
                c = torch.from_numpy(full.codes)[None] if full.codes is not None else None
                loss = model.lm(b, c, loss_mask=torch.from_numpy(full.loss_mask)[None]).loss
            losses.append(float(loss))
            prompt = model.lm.vocab.render(messages[:-1], generation_prompt=True)
            expected = sum(isinstance(p, MotionCodes) for p in messages[-1].parts)
            out = generate(model.lm, [prompt], SamplingOptions(top_p=0.95, max_new_tokens=400), gen)
            ok, why, parts = answer_is_valid(model, prompt, out, expected)
            valid += ok
            reasons[why] += 1
            if args.gifs and ok and i < args.gifs_per_task:
                folder = Path(args.gifs)
                folder.mkdir(parents=True, exist_ok=True)
                said = " ".join(p.text for p in parts if isinstance(p, TextPart))
                asked = " ".join(p.text for p in messages[-2].parts if isinstance(p, TextPart))
                for k, p in enumerate(x for x in parts if isinstance(x, MotionCodes)):
                    name = f"{task.replace('/', '-')}-{i}-{k}"
                    model.tokenizer.decode(p.codes).save(folder / f"{name}.gif")
                    (folder / f"{name}.txt").write_text(f"asked: {asked}\nanswered: {said}\n")
        report[task] = {"samples": len(samples), "loss": round(float(np.mean(losses)), 4),
                        "valid_fraction": round(valid / len(samples), 3), "outcomes": dict(reasons)}  # fmt: skip
        print(task, report[task], flush=True)
    result = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch threads 2, Python {sys.version.split()[0]}",
        "model": str(args.model or "shipped default"),
        "data": str(args.data),
        "per_task": args.per_task,
        "seed": args.seed,
        "valid_fraction_all": round(
            sum(r["valid_fraction"] * r["samples"] for r in report.values())
            / sum(r["samples"] for r in report.values()),
            3,
        ),  # fmt: skip
        "tasks": report,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "tasks"}, indent=1))


if __name__ == "__main__":
    main()
