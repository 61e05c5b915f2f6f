"""The paper's GRPO ablation rebuilt for our model: the supervised model, GRPO with every reward, and
GRPO without each reward, each on the follow, AnyContext, edit and text-to-motion suites, judged by
an evaluator the RL never saw.

    python scripts/grpo_ablation.py --data data/bandai --x2mo data/x2mo --anycontext data/anycontext \\
        --judge runs/eval_heldout/best --runs runs/ablation --out benchmarks/grpo_ablation.json

Trains what is missing under ``--runs`` (``omnimogen train rl``, resumable), runs what is missing of each
suite (``omnimogen bench``, resumable), and writes ``{"rows": {ROW: {SUITE: metrics}}}`` with the
``metrics`` object of each suite's ``results.json``; the follow suite is also run with the shipped
evaluator (``follow_shipped_evaluator``, the one the semantic reward used). About 15 minutes a run
and 8 a model's suites on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

STEPS = 300
ROWS = {  # row -> the RL run's reward weights (None: the supervised model, the shipped one)
    "sft": None,
    "sft+grpo": {"physical": 2},
    "no_semantic": {"semantic": 0, "physical": 2},
    "no_physical": {"physical": 0},
    "no_verifiable": {"verifiable": 0, "physical": 2},
}
RUN_NAMES = {"sft+grpo": "rl", "no_semantic": "rl_nosem", "no_physical": "rl_nophys", "no_verifiable": "rl_nover"}


def omnimogen(*args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    subprocess.run([sys.executable, "-m", "omnimogen", *args], check=True, env=env)


def suites(args, model: list[str]) -> dict[str, list[str]]:
    data, judge = ["--data", args.data], ["--evaluator", args.judge]
    return {
        "follow": ["follow", *data, *model, *judge, "--split", "dev", "--repeats", "2"],
        "anycontext": ["anycontext", *data, "--cases", args.anycontext, *model, *judge, "--quick", "--repeats", "4"],
        "edit": ["edit", *data, "--cases", args.x2mo, *model, *judge, "--quick"],
        "t2m": ["t2m", *data, *model, *judge, "--quick", "--repeats", "8"],
        "follow_shipped_evaluator": ["follow", *data, *model, "--split", "dev", "--repeats", "2"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for flag in ("--data", "--x2mo", "--anycontext", "--judge", "--runs"):
        ap.add_argument(flag, required=True)
    ap.add_argument("--out", default="benchmarks/grpo_ablation.json")
    args = ap.parse_args()
    runs = Path(args.runs)
    doc = {"what": __doc__.split("\n\n")[0].strip(), "date": datetime.date.today().isoformat(),
           "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "judge": args.judge, "rl_steps": STEPS,
           "weights": ROWS, "rows": {}, "follow_shipped_evaluator": {}}  # fmt: skip
    for row, weights in ROWS.items():
        model: list[str] = []
        if weights is not None:
            run = runs / RUN_NAMES[row]
            if not (run / "final" / "config.json").is_file():
                sets = [x for k, v in {"steps": STEPS, **weights}.items() for x in ("--set", f"{k}={v}")]
                omnimogen("train", "rl", "--data", args.x2mo, "--corpus", args.data, "--out", str(run), *sets)
            model = ["--model", str(run / "best")]
        doc["rows"][row] = {}
        for suite, cmd in suites(args, model).items():
            out = runs / "bench" / row / suite
            if not (out / "results.json").is_file():
                omnimogen("bench", *cmd, "--out", str(out))
            metrics = json.loads((out / "results.json").read_text())["metrics"]
            if suite == "follow_shipped_evaluator":
                doc["follow_shipped_evaluator"][row] = metrics
            else:
                doc["rows"][row][suite] = metrics
        print(f"{row}: done", flush=True)
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
