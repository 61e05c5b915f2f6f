"""Does Think mode help, round by round? The paper's reflection figure, on the follow suite's words.

    python scripts/bench_think_rounds.py --data data/bandai --evaluator runs/eval_heldout/best \\
        --label shipped --out benchmarks/think_rounds.json [--model M] [--split dev] [--seeds 2] [--limit N]

Every single-turn text-to-motion case of the follow suite that names an action is asked once with
``think=True, rounds=5`` per seed. Generation is seeded, so the motion after round r is the answer a
call with ``rounds=r`` would give (``Result.attempts``); round 0 is the answer without thinking. For
each r: the share of answers whose action the evaluator reads as asked (give it one the model was
not rewarded against), and for each judgment written on the way whether it agrees with that reading
(judged right on a right answer, anything else on a wrong one; ``read_judgment``), and how many
judgments contradict themselves (say "yes" and also name a fault). Results go under ``--label`` in ``--out``,
beside those of other models.
"""

from __future__ import annotations

import argparse
import json
import platform
from datetime import date
from pathlib import Path

import numpy as np

from omnimogen.evaluation.evaluator import load_evaluator
from omnimogen.evaluation.follow import Labeller, action_group, load_prompts
from omnimogen.instructions.corpus import Corpus
from omnimogen.model.pipeline import load_model
from omnimogen.model.understand import Judgment, read_judgment, style_of

ROUNDS = 5


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--model")
    ap.add_argument("--evaluator", help="the judge of the actions (default: the shipped evaluator)")
    ap.add_argument("--label", required=True)
    ap.add_argument("--split", default="dev")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--limit", type=int, help="the first N cases only (the whole split takes about an hour)")
    ap.add_argument("--stop-on-yes", action="store_true",
                    help="stop thinking at any judgment that starts with 'yes', as before read_judgment (for comparison)")
    ap.add_argument("--out", default="benchmarks/think_rounds.json")
    args = ap.parse_args()

    if args.stop_on_yes:  # the rule before 2026-12-06: a "yes" ended the rounds even when it named a fault
        import omnimogen.model.pipeline as pipeline

        pipeline.read_judgment = lambda text: Judgment(text.lower().startswith("yes"), ())
        pipeline.style_of = lambda text: "asked"  # nothing ignored
    model = load_model(args.model, device="cpu")
    labeller = Labeller(load_evaluator(args.evaluator, device="cpu"), Corpus(args.data))
    cases = [c for c in load_prompts(None, args.split)
             if c.family == "t2m" and len(c.turns) == 1 and c.turns[0].expect.get("action")][: args.limit]  # fmt: skip
    right = [[] for _ in range(ROUNDS + 1)]
    agree = [[] for _ in range(ROUNDS)]
    contradictions, judgments, stopped = 0, 0, [0] * (ROUNDS + 1)
    for n, case in enumerate(cases, start=1):
        print(f"{n}/{len(cases)} {case.id}", flush=True)
        want = action_group(case.turns[0].expect["action"])
        for seed in range(args.seeds):
            result = model(case.turns[0].instruction, seed=seed, think=True, rounds=ROUNDS, motion_only=True)
            attempts = [a[0] for a in result.attempts] or [result.motions[0]]
            reads = [labeller([m])[0][0] == want for m in attempts]
            verdicts = (result.reasoning or "").split("\n") if result.reasoning else []
            stopped[len(attempts) - 1] += 1
            for r in range(ROUNDS + 1):
                right[r].append(reads[min(r, len(reads) - 1)])
            for k, v in enumerate(verdicts[:ROUNDS]):
                judgments += 1
                contradictions += read_judgment(v).contradicts
                if k < len(reads):  # as the pipeline reads it: style complaints count where a style is asked
                    unasked = ("style",) if style_of(case.turns[0].instruction) == "normal" else ()
                    agree[k].append(read_judgment(v).right(unasked) == reads[k])
    doc = json.loads(Path(args.out).read_text()) if Path(args.out).is_file() else {}
    doc[args.label] = {
        "date": date.today().isoformat(), "machine": f"{platform.machine()}, {platform.node()}",
        "model": args.model or "shipped", "evaluator": args.evaluator or "shipped", "split": args.split,
        "answers": len(right[0]), "cases": len(cases), "seeds": args.seeds, "limit": args.limit,
        "stop_rule": "starts with yes" if args.stop_on_yes else "read_judgment(...).right(unasked attributes)",
        "action_right_by_round": [round(100 * float(np.mean(r)), 1) for r in right],
        "judgment_agrees_with_evaluator_by_round": [round(100 * float(np.mean(a)), 1) if a else None for a in agree],
        "regenerations_made": {str(k): n for k, n in enumerate(stopped)},
        "judgments": judgments, "self_contradicting_judgments": contradictions,
    }  # fmt: skip
    Path(args.out).write_text(json.dumps(doc, indent=1))
    print(json.dumps(doc[args.label], indent=1))


if __name__ == "__main__":
    main()
