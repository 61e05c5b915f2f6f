"""Best of N answers by the model's own caption of them: does picking raise the asked action?

    python scripts/bench_rerank.py --data data/bandai --evaluator runs/eval_heldout/best --n 8 \
        --out benchmarks/rerank/dev8.json

Each text-to-motion case of the follow suite's ``--split`` that the words' reading knows is asked
once for ``--n`` answers (one batch, the model's default sampling). Every answer is scored by the
model itself, as its describe task asks ("Write a caption for <Motion>."), and judged by
``--evaluator`` (held out: the model never saw it) and the joints (``follow.check_turn``). Pick rules:
``first`` (one answer: what ``generate`` gives), ``likelihood`` (log p(the read caption | answer)),
``action`` (the read action's posterior among the corpus's actions' captions), ``style`` (the read
style's posterior among the read action's captions in every style), ``oracle`` (the answer that
passes most checks: the most any pick rule can gain). Measured 2026-12-07: not kept (README).
"""

from __future__ import annotations

import argparse
import json
import platform
import warnings
import zlib
from collections import defaultdict
from datetime import date

import numpy as np
import torch

from omnimogen.data.captions import STYLES
from omnimogen.evaluation.evaluator import load_evaluator
from omnimogen.evaluation.follow import Labeller, check_turn, load_prompts
from omnimogen.instructions.corpus import Corpus
from omnimogen.model.generate import generate
from omnimogen.model.pipeline import SHORTEST_FRAMES, UNCONDITIONAL, _options, load_model
from omnimogen.model.understand import canonical_caption, interpret
from omnimogen.model.vocab import Message, MotionCodes, TextPart


@torch.no_grad()
def caption_logps(model, codes: np.ndarray, captions: list[str]) -> np.ndarray:
    """log p(caption | motion) for each caption, asked as ``describe`` asks (one batch)."""
    v = model.lm.vocab
    user = Message("user", (MotionCodes(codes, "Motion"), TextPart("Write a caption for <Motion>.")))
    rs = [v.render([user, Message("assistant", (TextPart(c),))]) for c in captions]
    T = max(len(r.ids) for r in rs)
    ids, att = torch.zeros(len(rs), T, dtype=torch.long), torch.zeros(len(rs), T, dtype=torch.long)
    cd, mask = torch.full((len(rs), T, v.levels), -1), torch.zeros(len(rs), T, dtype=torch.bool)
    for i, r in enumerate(rs):
        n = len(r.ids)
        ids[i, :n], cd[i, :n], mask[i, :n], att[i, :n] = (torch.as_tensor(r.ids), torch.as_tensor(r.codes),
                                                           torch.as_tensor(r.loss_mask), 1)  # fmt: skip
    return model.lm(ids, cd, attention_mask=att, logprob_mask=mask).logprobs.sum(-1).numpy()


def answers(model, caption: str, n: int, seed: int) -> list[np.ndarray]:
    """``n`` answers' motion codes to ``caption``, sampled as ``generate`` samples them (one batch)."""
    v = model.lm.vocab
    opt = _options({"motion_only": True}, model.lm.sampling).sampling(
        min_motion_steps=model.latent_steps(SHORTEST_FRAMES))
    prompt = v.render([model._user_turn(caption, {})], generation_prompt=True)
    free = None
    if opt.guidance != 1.0:
        free = [v.render([Message("user", (TextPart(UNCONDITIONAL),))], generation_prompt=True)] * n
    out = generate(model.lm, [prompt] * n, opt, torch.Generator().manual_seed(seed), unconditional=free)
    codes = []
    for b in range(n):
        if not out.finished[b]:
            continue
        try:
            parts = model._parts(prompt, out, b)
        except ValueError:
            continue
        codes += [p.codes for p in parts if isinstance(p, MotionCodes)][:1]
    return codes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--evaluator", required=True, help="the judge (one the model was not trained against)")
    ap.add_argument("--model", help="model directory (default: the shipped one)")
    ap.add_argument("--split", default="dev", choices=("dev", "test"))
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(2)
    warnings.simplefilter("ignore")
    model, corpus = load_model(args.model), Corpus(args.data)
    judge = Labeller(load_evaluator(args.evaluator), corpus)
    actions = sorted({c.action for cells in corpus.cells("train").values() for c in cells})
    styles = list(STYLES)
    picks = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for case in load_prompts(None, args.split):
        turn = case.turns[0]
        reading = interpret(turn.instruction, model.lm.known_captions)
        if case.family != "t2m" or not (reading.known and reading.action in actions):
            continue
        codes = answers(model, reading.caption, args.n, zlib.crc32(case.id.encode()))
        motions = [model.tokenizer.decode(c) for c in codes]
        reads = judge(motions)
        scored = []
        for c, m, read in zip(codes, motions, reads, strict=True):
            act = caption_logps(model, c, [canonical_caption(a, "normal") for a in actions])
            sty = caption_logps(model, c, [canonical_caption(reading.action, s) for s in styles])
            checks = check_turn({k: v for k, v in turn.expect.items() if k != "seconds"}, m, None, {}, read, False, "t2m")
            checks.pop("no_false_warning", None)
            scored.append({"likelihood": float(caption_logps(model, c, [reading.caption])[0]),
                           "action": float(act[actions.index(reading.action)] - np.logaddexp.reduce(act)),
                           "style": float(sty[styles.index(reading.style)] - np.logaddexp.reduce(sty)),
                           "checks": checks})  # fmt: skip
        if not scored:
            continue
        chosen = {"first": scored[0], "oracle": max(scored, key=lambda s: sum(s["checks"].values()))}
        chosen |= {rule: max(scored, key=lambda s, r=rule: s[r]) for rule in ("likelihood", "action", "style")}
        for rule, s in chosen.items():
            for name, ok in [*s["checks"].items(), ("every_check", all(s["checks"].values()))]:
                picks[rule][name][0] += int(ok)
                picks[rule][name][1] += 1
        for s in scored:  # the mean answer: what one answer gets on average
            for name, ok in [*s["checks"].items(), ("every_check", all(s["checks"].values()))]:
                picks["mean"][name][0] += int(ok)
                picks["mean"][name][1] += 1
    write_picks(args.out, picks, {"suite": "follow t2m, best of n", "split": args.split, "n": args.n,
                                  "evaluator": args.evaluator})  # fmt: skip


def write_picks(out: str, picks: dict, about: dict) -> None:
    """Write the pass rates of each pick rule (``picks[rule][check] = [passed, total]``) to ``out``
    with ``about``, the date and the machine, and print them."""
    table = {rule: {name: {"pass_pct": round(100 * a / b, 1), "n": b} for name, (a, b) in sorted(rows.items())}
             for rule, rows in sorted(picks.items())}  # fmt: skip
    result = {**about, "date": str(date.today()), "machine": platform.machine(), "picks": table}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    width = max(map(len, table)) + 1
    for rule, rows in table.items():
        print(f"{rule:{width}s}", "  ".join(f"{k} {v['pass_pct']:.0f} ({v['n']})" for k, v in rows.items()))


if __name__ == "__main__":
    main()
