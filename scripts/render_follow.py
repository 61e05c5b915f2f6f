"""Look at what a model makes for some follow-suite cases: a contact sheet and a top view of the paths.

    python scripts/render_follow.py --data data/bandai --model runs/lm/best --cases t2m-001 edit-015 --out renders/

For each case: ``CASE.png`` (one row per motion: the bound inputs, then the answer to every turn, six
poses each) and ``CASE_top.png`` (root paths seen from above, a tick every second showing where the
body faces, so a turn, a curve, a crab walk and the side are visible at a glance).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from omnimogen.evaluation.follow import Binder, _ask, bind, load_prompts
from omnimogen.formats.render import render
from omnimogen.instructions.corpus import Corpus
from omnimogen.model.pipeline import load_model
from omnimogen.motion import FPS, checks


def top_view(path: Path, motions: dict, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    for name, m in motions.items():
        p, _ = checks._start_frame(m.joints)  # (T, 2): to the left, ahead
        (line,) = ax.plot(-p[:, 0], p[:, 1], label=f"{name} ({checks.measure(m.joints).turn_degrees:+.0f} deg)")
        h = checks.headings(m.joints) - checks.headings(m.joints[:5]).mean()
        for t in range(0, len(p), int(FPS)):
            ax.arrow(-p[t, 0], p[t, 1], -0.25 * np.sin(h[t]), 0.25 * np.cos(h[t]), head_width=0.06,
                     color=line.get_color())  # fmt: skip
    ax.set_aspect("equal")
    ax.set_xlabel("metres to the right of the start facing")
    ax.set_ylabel("metres ahead")
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--model")
    ap.add_argument("--cases", nargs="+", required=True)
    ap.add_argument("--prompts", help="a prompts file (default: the shipped follow suite's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-keep-parts", action="store_true", help="the model alone: nothing copied, bent or played")
    ap.add_argument("--candidates", type=int, help="answers per edit that keeps its action (Options.candidates)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    cases = {c.id: c for c in load_prompts(args.prompts, split="all")}
    binder, model = Binder(Corpus(args.data)), load_model(args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    for cid in args.cases:
        case = cases[cid]
        inputs = bind(case, binder)
        options = {"keep_parts": False} if args.no_keep_parts else {}
        options |= {"candidates": args.candidates} if args.candidates else {}
        answers = _ask(model, case, inputs, args.seed, options)
        shown = dict(inputs) | {f"turn {k + 1}": a for k, (a, _) in enumerate(answers) if a is not None}
        words = " / ".join(t.instruction for t in case.turns)
        render(list(shown.values()), args.out / f"{cid}.png", titles=list(shown), caption=words[:150])
        top_view(args.out / f"{cid}_top.png", shown, words[:90])
        print(cid, words, {k: checks.measure(m.joints) for k, m in shown.items() if k.startswith("turn")})


if __name__ == "__main__":
    main()
