"""Style edits: does keeping, of several answers, the one whose poses are nearest the source keep its action?

    python scripts/bench_edit_candidates.py --data data/bandai --prompts benchmarks/follow/style_blind/prompts.json \
        --out benchmarks/edit_candidates/style_blind.json

Every single-turn style edit of ``--prompts`` (split test) is asked ``--repeats`` times for ``--n``
answers (``candidates=1``, seeds ``repeat * n ...``: independent answers, as the pipeline's batch of
``Options.candidates`` samples them). Each answer is judged by the follow suite's evaluator (action,
style: its nearest train clips) and the joints (``follow.check_turn``), and its distance to the source
measured as the pipeline measures it (``checks.pose_distance``). Pick rules: ``first`` (one answer),
``nearest_k`` (the nearest of the first k answers: what ``candidates=k`` keeps) and ``oracle`` (the
answer that passes most checks: the most any rule can gain); ``mean`` is one answer on average.
"""

from __future__ import annotations

import argparse
import warnings
from collections import defaultdict

import torch
from bench_rerank import write_picks  # the same table (scripts/ is on the path when a script runs)

from omnimogen.evaluation.evaluator import load_evaluator
from omnimogen.evaluation.follow import Binder, Labeller, bind, check_turn, load_prompts
from omnimogen.instructions.corpus import Corpus
from omnimogen.model.pipeline import load_model
from omnimogen.motion.checks import pose_distance

WALKS = ("walk", "run", "dash")  # sources that travel; the rest are gestures and strikes in place


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--prompts", required=True, help="a follow prompt file whose cases are style edits")
    ap.add_argument("--model", help="model directory (default: the shipped one)")
    ap.add_argument("--evaluator", help="the judge (default: the follow suite's)")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(2)
    warnings.simplefilter("ignore")
    model, corpus = load_model(args.model), Corpus(args.data)
    judge, binder = Labeller(load_evaluator(args.evaluator), corpus), Binder(corpus)
    ks = [k for k in (2, 4, 8, 16) if k <= args.n]
    picks = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for case in load_prompts(args.prompts, "test"):
        if case.family != "edit/style" or len(case.turns) != 1:
            continue
        motions = bind(case, binder)
        source, turn = motions["SourceMotion"], case.turns[0]
        group = "walks" if case.motions["SourceMotion"]["action"].startswith(WALKS) else "in_place"
        for repeat in range(args.repeats):
            got = [model(turn.instruction, motions, seed=repeat * args.n + i, motion_only=True, candidates=1)
                   for i in range(args.n)]  # fmt: skip
            answers = [r.motions[-1] for r in got]
            reads = judge(answers)
            scored = [(pose_distance(a.joints, source.joints),
                       check_turn(turn.expect, a, source, motions, read, bool(r.warnings), case.family))
                      for a, r, read in zip(answers, got, reads, strict=True)]  # fmt: skip
            chosen = {"first": scored[0], "oracle": max(scored, key=lambda s: sum(s[1].values()))}
            chosen |= {f"nearest_{k}": min(scored[:k], key=lambda s: s[0]) for k in ks}
            for rule, (_, checks) in [*chosen.items(), *(("mean", s) for s in scored)]:
                for name, ok in [*checks.items(), ("every_check", all(checks.values()))]:
                    for g in (group, "all"):
                        picks[g, rule][name][0] += int(ok)
                        picks[g, rule][name][1] += 1
    write_picks(args.out, {f"{g}/{rule}": rows for (g, rule), rows in picks.items()},
                {"suite": args.prompts, "what": "style edits, nearest of n answers to the source", "n": args.n,
                 "repeats": args.repeats, "evaluator": args.evaluator or "the follow suite's default"})  # fmt: skip

if __name__ == "__main__":
    main()
