"""How often a model shows the extra corpus's whole-body skills at each motion sampling temperature.

    python scripts/skills_by_temperature.py --model runs/lm_skills5/final --seeds 6 \
        --temperature 1.0 --temperature 0.4 --out benchmarks/finetune4/skills_by_temperature.json

The skill cases of ``benchmarks/follow/skills/prompts.json`` that name a skill (``expect.shows``:
inverted, airborne, kick), each asked as ``omnimogen generate`` asks (one motion, the words read as the
nearest known caption), with seeds 0..N-1, and checked from the joints (``checks.shows``). The follow
suite samples at the default temperature (1.0); this says whether a skill the model rarely samples is
there at all.
"""

from __future__ import annotations

import argparse
import json
import platform
from datetime import date
from pathlib import Path

import torch

from omnimogen.model.pipeline import load_model
from omnimogen.motion.checks import shows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompts", default="benchmarks/follow/skills/prompts.json")
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--temperature", type=float, action="append", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    cases = [c for c in json.loads(Path(args.prompts).read_text())["cases"] if c["turns"][0]["expect"].get("shows")]
    model = load_model(args.model)
    rows = []
    for t in args.temperature:
        for c in cases:
            turn = c["turns"][0]
            want = turn["expect"]["shows"]
            hits = 0
            for seed in range(args.seeds):
                r = model(turn["instruction"], {}, seed=seed, motion_only=True, temperature=t)
                hits += want in shows(r.motions[-1].joints)
            rows.append({"temperature": t, "case": c["id"], "skill": want, "instruction": turn["instruction"],
                         "read_as": r.reading.caption if r.reading else None, "shown": hits, "of": args.seeds})
            print(rows[-1], flush=True)
    summary = {f"{t}/{s}": f"{sum(r['shown'] for r in rows if r['temperature'] == t and r['skill'] == s)} of "
               f"{sum(r['of'] for r in rows if r['temperature'] == t and r['skill'] == s)}"
               for t in args.temperature for s in dict.fromkeys(r["skill"] for r in rows)}  # fmt: skip
    Path(args.out).write_text(json.dumps({"model": args.model, "date": date.today().isoformat(),
                          "machine": f"{platform.machine()}, torch threads {torch.get_num_threads()}",
                          "summary": summary, "cases": rows}, indent=1))  # fmt: skip
    print(summary)


if __name__ == "__main__":
    main()
