"""Latency of the model on this CPU: text -> 4 s motion, text -> 9.8 s motion, an edit of a 4 s motion.

    python scripts/bench_model.py --out benchmarks/model_latency.json                 # the shipped model
    python scripts/bench_model.py --random --layout flat --out benchmarks/latency_flat_random.json

Medians of 20 runs on 2 CPU threads, everything included (text tokenisation, motion encoding for
the edit, generation, decoding to joints). ``--random`` measures the default architecture with
random weights (latency does not depend on the weights when the answer's length is fixed). Also
reports decoding speed in positions per second and the achieved forward FLOP rate as a fraction of
this machine's float32 matmul peak, measured in the same run, and times the 9.8 s case with the
lean decoder (``omnimogen.model.fast_llama``) and with the Hugging Face forward in alternating runs,
and, for a model whose defaults guide its answers, with that guidance and without it, and a turn
asked in words made by bending a straight walk (the default) and by the model alone, a style edit
with its push and without, a style edit kept from several answers and from one, a bow sampled again
where its first answer does not bow and answered once, and an in-context style request read (a
caption, then a style edit) and asked as worded.
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
from ship_model import PROMPTS  # the same six prompts (scripts/ is on the path when a script runs)

from omnimogen.data.captions import ACTIONS
from omnimogen.model.pipeline import SHOWN_CANDIDATES, STYLE_EDIT_CANDIDATES, OmniMoGen, load_model
from omnimogen.model.transformer import ModelConfig, OmniMoGenLM
from omnimogen.model.vocab import Vocab
from omnimogen.motion import Motion, Normalizer, checks
from omnimogen.tokenizer import PRESETS, MotionTokenizer

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "humanml3d"


def matmul_peak_gflops(n: int = 1024, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / min(times) / 1e9


def random_model(layout: str) -> OmniMoGen:
    torch.manual_seed(0)
    tok = MotionTokenizer(PRESETS["cpu"], Normalizer.load(FIXTURES))
    tok.train()
    with torch.no_grad():
        tok(torch.randn(8, 64, 263))  # initialise the codebooks
    texts = [f"a person {p}" for ps in ACTIONS.values() for p in ps] * 20
    vocab = Vocab.train_bpe(texts, 2048, tok.config.num_levels, tok.config.codebook_size, layout)
    return OmniMoGen(OmniMoGenLM(ModelConfig(layout=layout), vocab), tok.eval())


def timed(fn, repeats: int) -> tuple[float, object]:
    fn()  # warm-up
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def alternately(variants: dict, repeats: int) -> dict:
    """Each of ``variants`` (name -> call) timed ``repeats`` times, taking turns: name -> median and spread."""
    times: dict = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: {"median_s": round(statistics.median(v), 4), "spread_s": [round(min(v), 4), round(max(v), 4)]}
            for name, v in times.items()}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", help="model directory (default: the shipped one)")
    ap.add_argument("--random", action="store_true", help="the default architecture with random weights")
    ap.add_argument("--layout", default="grouped", choices=["grouped", "flat"], help="with --random")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--out", default="benchmarks/model_latency.json")
    args = ap.parse_args()
    torch.set_num_threads(2)
    load = os.getloadavg()[0]
    model = random_model(args.layout) if args.random else load_model(args.model)
    source = Motion.from_features(np.load(FIXTURES / "new_joint_vecs" / "012314.npy")[:80])  # 4 s
    kw = {"motion_only": True, "seed": 0, "temperature": 1.0}
    cases = {
        "text_to_4s": lambda: model.generate("a tired person waves goodbye", seconds=4, **kw),
        "text_to_9.8s": lambda: model.generate("a person walks forward happily", seconds=9.8, **kw),
        "edit_4s": lambda: model.edit(source, "make it look happy", seconds=4, **kw),
    }
    result = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch threads 2, Python {sys.version.split()[0]}",
        "load_average_1min_at_start": round(load, 2),
        "model": "random weights, default architecture" if args.random else str(args.model or "shipped default"),
        "layout": model.lm.vocab.layout,
        "parameters_millions": round(sum(p.numel() for p in model.lm.parameters()) / 1e6, 2),
        "sampling": model.lm.sampling,  # the model's defaults (its guidance applies to every case below)
        "seconds_median": {},
    }
    for name, fn in cases.items():
        sec, out = timed(fn, args.repeats)
        result["seconds_median"][name] = round(sec, 4)
        print(name, round(sec, 4), out.motions[0].num_frames, "frames", flush=True)

    # The lean decoder against the Hugging Face forward, side by side (alternating runs).
    times = {True: [], False: []}
    for _ in range(args.repeats):
        for lean in (True, False):
            model.lm.lean_decoding = lean
            t = time.perf_counter()
            cases["text_to_9.8s"]()
            times[lean].append(time.perf_counter() - t)
    same = 0  # greedy answers of the lean decoder (float16 weights) and the Hugging Face forward
    for text in PROMPTS:
        answers = []
        for lean in (True, False):
            model.lm.lean_decoding = lean
            answers.append(model.generate(text, seconds=4, temperature=0, motion_only=True).parts[0].codes)
        same += int(np.array_equal(*answers))
    model.lm.lean_decoding = True
    lean, hf = statistics.median(times[True]), statistics.median(times[False])
    result["text_to_9.8s_side_by_side"] = {
        "lean_decoder_s": round(lean, 4),
        "hugging_face_forward_s": round(hf, 4),
        "ratio": round(lean / hf, 3),
        "spread_lean_s": [round(min(times[True]), 4), round(max(times[True]), 4)],
        "spread_hf_s": [round(min(times[False]), 4), round(max(times[False]), 4)],
        "greedy_4s_answers_identical": f"{same} of {len(PROMPTS)}",
    }

    # The model's own guidance (an unconditional row run beside the answer) against none, alternately.
    own = model.lm.sampling.get("guidance", 1.0)
    if own != 1.0:
        result["text_to_9.8s_guidance_side_by_side"] = alternately({
            f"guidance {g}": lambda g=g: model.generate("a person walks forward happily", seconds=9.8, guidance=g, **kw)
            for g in (1.0, own)}, args.repeats)  # fmt: skip

    # A turn asked in words: a straight walk made and bent onto the turn (keep_parts, the default)
    # against the model's own turn, alternately.
    turn = "a person walks forward and turns left"
    result["turn_text_to_9.8s_side_by_side"] = alternately({
        "walk made and bent": lambda: model.generate(turn, seconds=9.8, keep_parts=True, **kw),
        "the model's own turn": lambda: model.generate(turn, seconds=9.8, keep_parts=False, **kw)}, args.repeats)  # fmt: skip

    # A style edit read and pushed away from the same edit to a normal style (a third row beside the
    # answer and the unconditional one) against the push off, alternately.
    result["style_edit_4s_side_by_side"] = alternately({
        f"pushed ({model.lm.sampling.get('style_guidance', 'default')})": lambda: model.edit(source, "make it look happy", seconds=4, **kw),
        "style_guidance 0": lambda: model.edit(source, "make it look happy", seconds=4, style_guidance=0.0, **kw)},
        args.repeats)  # fmt: skip

    # A style edit that keeps its action: the nearest of STYLE_EDIT_CANDIDATES answers sampled in one batch
    # (the default) against one answer, alternately.
    result["style_edit_4s_candidates_side_by_side"] = alternately({
        f"nearest of {STYLE_EDIT_CANDIDATES}": lambda: model.edit(source, "make it look happy", seconds=4, **kw),
        "one answer": lambda: model.edit(source, "make it look happy", seconds=4, candidates=1, **kw)},
        args.repeats)  # fmt: skip

    # A request whose action the joints check (a bow): sampled again, SHOWN_CANDIDATES at once, where
    # the first answer does not bow (the default) against one answer, alternately; a seed whose first
    # answer does not bow, so the default pays for the second batch.
    bow = "a person takes a bow"
    seed = next((s for s in range(50) if not checks.bows(model.generate(bow, seconds=4, **{**kw, "seed": s},
                                                                       candidates=1).motions[0].joints)), None)  # fmt: skip
    result["bow_4s_resampled_side_by_side"] = {"seed": None, "skipped": "every first answer of seeds 0-49 bows"} \
        if seed is None else {"seed": seed, **alternately({
            f"first answer, then {SHOWN_CANDIDATES} at once": lambda: model.generate(bow, seconds=4, **{**kw, "seed": seed}),
            "one answer": lambda: model.generate(bow, seconds=4, candidates=1, **{**kw, "seed": seed})}, args.repeats)}  # fmt: skip

    # The action of one motion in the style of another, read (the model's caption of the style's motion,
    # then the style edit of the action's) against the words asked as given, alternately.
    ref = Motion.from_features(np.load(FIXTURES / "new_joint_vecs" / "012314.npy")[80:160])
    incontext = "do the moves of <SourceMotion> with the attitude of <RefMotion>"
    both = {"SourceMotion": source, "RefMotion": ref}
    result["incontext_style_4s_side_by_side"] = alternately({
        "read: caption, then style edit": lambda: model(incontext, both, seconds=4, **kw),
        "asked as worded": lambda: model(incontext, both, seconds=4, interpret_words=False, **kw)}, args.repeats)  # fmt: skip

    # Decoding speed: positions per second in the 9.8 s case, and the FLOP rate that implies.
    lm = model.lm
    positions = len(cases["text_to_9.8s"]().tokens)
    sec = result["seconds_median"]["text_to_9.8s"]
    non_embedding = sum(p.numel() for n, p in lm.named_parameters() if "embed" not in n)
    flops = 2 * non_embedding * positions  # forward multiply-adds of the cached decoding steps
    peak = matmul_peak_gflops()
    result |= {
        "answer_positions_9.8s": positions,
        "positions_per_second": round(positions / sec, 1),
        "achieved_gflops": round(flops / sec / 1e9, 2),
        "matmul_peak_gflops": round(peak, 1),
        "fraction_of_peak": round(flops / sec / 1e9 / peak, 4),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
