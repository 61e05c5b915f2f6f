"""The paper's GRPO ablation rebuilt for our model: the supervised model, GRPO with every reward, and
GRPO without each reward, each on the follow, AnyContext, edit and text-to-motion suites, judged by
an evaluator the RL never saw.

    python scripts/grpo_ablation.py --data data/bandai --x2mo data/x2mo --anycontext data/anycontext \\
        --judge runs/eval_heldout/best --runs runs/ablation --out benchmarks/grpo_ablation.json

Trains what is missing under ``--runs`` (``omnimogen train rl``, resumable), runs what is missing of each
suite (``omnimogen bench``, resumable), and writes ``{"rows": {ROW: {SUITE: metrics}}}`` with the
``metrics`` object of each suite's ``results.json``; the follow suite is also run with the shipped
evaluator (``follow_shipped_evaluator``, the one the semantic reward used). About 15 minutes a run
and 8 a model's suites on 2 CPU cores. ``--shipped-row KEY`` only runs the suites on the shipped model as
it is now (after a decoder fine-tune) and adds them to ``--out`` under KEY.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
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


def run_suites(args, runs: Path, row: str, model: list[str]) -> dict[str, dict]:
    """Each suite's ``metrics`` for one model, run into RUNS/bench/ROW/SUITE unless already there."""
    out = {}
    for suite, cmd in suites(args, model).items():
        where = runs / "bench" / row / suite
        if not (where / "results.json").is_file():
            omnimogen("bench", *cmd, "--out", str(where))
        out[suite] = json.loads((where / "results.json").read_text())["metrics"]
    return out


def add_shipped_row(args, runs: Path) -> None:
    import omnimogen as package

    weights = Path(package.__file__).parent / "assets" / "tokenizer" / "model.safetensors"
    doc = json.loads(Path(args.out).read_text())
    got = run_suites(args, runs, args.shipped_row, [])
    doc[args.shipped_row] = {
        "what": "the shipped model as it is now, the same suites and judge as the rows", "date": datetime.date.today().isoformat(),
        "tokenizer_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "suites": {k: v for k, v in got.items() if k != "follow_shipped_evaluator"},
        "follow_shipped_evaluator": got["follow_shipped_evaluator"],
    }  # fmt: skip
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for flag in ("--data", "--x2mo", "--anycontext", "--judge", "--runs"):
        ap.add_argument(flag, required=True)
    ap.add_argument("--out", default="benchmarks/grpo_ablation.json")
    ap.add_argument("--shipped-row", metavar="KEY", help="only run the suites on the shipped model as it is now "
                    "(after a decoder fine-tune: the same codes, other motions) and add them to --out under KEY")
    args = ap.parse_args()
    runs = Path(args.runs)
    if args.shipped_row:
        return add_shipped_row(args, runs)
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
        got = run_suites(args, runs, row, model)
        doc["follow_shipped_evaluator"][row] = got.pop("follow_shipped_evaluator")
        doc["rows"][row] = got
        print(f"{row}: done", flush=True)
    out = Path(args.out)
    kept = {k: v for k, v in json.loads(out.read_text()).items() if k not in doc} if out.is_file() else {}
    out.write_text(json.dumps({**doc, **kept}, indent=1) + "\n")  # rows added by --shipped-row stay


if __name__ == "__main__":
    main()
