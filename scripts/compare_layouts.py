"""Flat against grouped motion layout: two training runs on the same data and CPU budget, compared.

    python scripts/compare_layouts.py --runs /work/runs/lm_flat /work/runs/lm_grouped \\
        --data /work/runs/x2mo --corpus /work/runs/bandai --out benchmarks/layouts.json

Each run is read at its latest checkpoint (``model_from_run``). Quality is the negative
log-likelihood of the reference answers of the same validation samples, split into the motion
codes (bits per code, each scored among the 512 codes of its level as constrained decoding samples
it: the two layouts model the same codes, so this compares directly; uniform guessing is 9 bits) and the
rest (words and structure; the grouped layout's ``<step>`` markers are counted here, they are
nearly free). Speed is training seconds per step (from the run's log) and the time to write a
9.8 s motion (median of a few runs, motion only, on the same machine one after the other).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from omnimogen.instructions.corpus import Corpus
from omnimogen.instructions.recipes import materialise
from omnimogen.model.pipeline import OmniMoGen
from omnimogen.tokenizer import load_tokenizer
from omnimogen.training.common import RunDir
from omnimogen.training.lm import model_from_run, read_split, ref_key, sample_messages


@torch.no_grad()
def answer_nll(lm, rendered) -> tuple[float, float, int]:
    """(code nats, other nats, number of codes) of the assistant's parts of one rendered sample."""
    ids = torch.from_numpy(rendered.ids)[None]
    codes = torch.from_numpy(rendered.codes)[None] if rendered.codes is not None else None
    out = lm(ids, codes)
    learn = torch.from_numpy(rendered.loss_mask)[1:]
    target = ids[0, 1:]
    token_nll = F.cross_entropy(out.logits[0, :-1], target, reduction="none")[learn]
    if lm.vocab.layout == "flat":
        # A code is scored against the codes of its level only, as constrained decoding samples it
        # (and as the grouped layout's level heads do).
        v = lm.vocab
        is_code = torch.from_numpy(v.is_motion(target[learn].numpy()))
        logits, t = out.logits[0, :-1][learn][is_code], target[learn][is_code] - v.motion_offset
        level = t // v.codebook_size
        per_level = logits[:, v.motion_offset :].reshape(len(t), v.levels, v.codebook_size)
        per_level = per_level[torch.arange(len(t)), level]  # (N, K)
        code_nll = F.cross_entropy(per_level, t % v.codebook_size, reduction="sum")
        return float(code_nll), float(token_nll[~is_code].sum()), int(is_code.sum())
    step = learn & (target == lm.vocab.special["<step>"])
    next_codes = codes[0, 1:][step]  # (N, L)
    logits = lm.code_logits(out.hidden[0, :-1][step], next_codes)  # (N, L, K)
    code_nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), next_codes.reshape(-1), reduction="sum")
    return float(code_nll), float(token_nll.sum()), int(next_codes.numel())


def train_speed(run: Path) -> dict:
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    secs = [r["sec_per_step"] for r in records if "sec_per_step" in r]
    tokens = [r["tokens"] for r in records if "tokens" in r]
    steps = max((r["step"] for r in records if "step" in r), default=0)
    return {"logged_steps": steps, "sec_per_step_median": statistics.median(secs) if secs else None,
            "tokens_per_step_median": statistics.median(tokens) if tokens else None}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", nargs="+", required=True, help="RUN (its latest checkpoint) or RUN@CHECKPOINT_DIR")
    ap.add_argument("--data", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--tokenizer", help="default: the shipped one (the runs must have used it)")
    ap.add_argument("--samples", type=int, default=200, help="validation samples, the same for every run")
    ap.add_argument("--timing-repeats", type=int, default=5)
    ap.add_argument("--out", default="benchmarks/layouts.json")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tok = load_tokenizer(args.tokenizer)
    corpus = Corpus(args.corpus)
    samples = read_split(Path(args.data), "val")
    samples = [samples[i] for i in np.random.default_rng(0).permutation(len(samples))[: args.samples]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        codes = {ref_key(m): tok.encode(materialise(m, corpus)) for s in samples for m in s.motions()}
    result = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch threads {args.threads}, Python {sys.version.split()[0]}",
        "load_average_1min_at_start": round(os.getloadavg()[0], 2),
        "validation_samples": len(samples),
        "runs": {},
    }
    for spec in args.runs:
        run, _, checkpoint = spec.partition("@")
        run = Path(run)
        lm = model_from_run(run, checkpoint or None)
        code_nats = other_nats = n_codes = 0.0
        lengths = []
        for s in samples:
            r = lm.vocab.render(sample_messages(s, lambda ref: codes[ref_key(ref)]))
            c, o, n = answer_nll(lm, r)
            code_nats, other_nats, n_codes = code_nats + c, other_nats + o, n_codes + n
            lengths.append(len(r.ids))
        model = OmniMoGen(lm, tok)
        times = []
        for k in range(args.timing_repeats + 1):
            t = time.perf_counter()
            model.generate("a person walks forward happily", seconds=9.8, seed=k, motion_only=True)
            times.append(time.perf_counter() - t)
        name = f"{run.name}@{Path(checkpoint).name}" if checkpoint else run.name
        result["runs"][name] = {
            "layout": lm.vocab.layout,
            "parameters_millions": round(sum(p.numel() for p in lm.parameters()) / 1e6, 2),
            **train_speed(run),
            "checkpoint_step": json.loads((Path(checkpoint or RunDir(run).latest()) / "meta.json").read_text())["step"],
            "mean_sequence_length": round(float(np.mean(lengths)), 1),
            "bits_per_motion_code": round(code_nats / n_codes / math.log(2), 4),
            "other_nats_per_sample": round(other_nats / len(samples), 3),
            "seconds_for_9.8s_motion_median": round(statistics.median(times[1:]), 3),
        }
        print(name, result["runs"][name], flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
