"""Train model recipes side by side on a GPU machine that has no copy of the data, within a time budget.

    python scripts/train_on_device.py --pack .device/pack --work /tmp/work --out $OUT --budget 480 \
        --recipe small:model.layers=6 --recipe deep:model.layers=8 --set batch_size=64 --set lr=1e-3

1. unpacks the corpus and X2Mo set that ``scripts/pack_corpus.py pack`` made;
2. prepares the training data once (motions encoded in one process per core) and gives every
   recipe's run folder a copy, so the runs train on the very same renderings;
3. times a few steps of the largest recipe, and sets the number of steps so that all recipes,
   trained at the same time on the one GPU, end inside ``--budget`` seconds (the cosine schedule
   then decays fully; validation keeps each run's best);
4. writes each run's ``best/`` model (float16), its log and the timings to ``--out`` as one tar split
   into parts of 15 MB (the device tool brings back files of at most 16 MiB).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(cmd: list[str], **kw) -> subprocess.Popen:
    print("$", " ".join(cmd), flush=True)
    return subprocess.Popen(cmd, **kw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pack", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--budget", type=float, required=True, help="seconds for everything, preparation included")
    ap.add_argument("--recipe", action="append", required=True, help="NAME:key=value,key=value (train lm --set)")
    ap.add_argument("--set", action="append", default=[], help="settings every recipe shares")
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--probe-steps", type=int, default=40)
    args = ap.parse_args()
    t0 = time.time()
    timings: dict[str, float] = {}
    corpus, x2mo = args.work / "corpus", args.work / "x2mo"
    subprocess.run([sys.executable, str(HERE / "pack_corpus.py"), "unpack", "--pack", str(args.pack), "--corpus",
                    str(corpus), "--x2mo", str(x2mo), "--workers", str(args.workers)], check=True)  # fmt: skip
    timings["unpack"] = time.time() - t0

    from omnimogen.tokenizer import load_tokenizer
    from omnimogen.tokenizer.model import DEFAULT_DIR as TOKENIZER_DIR
    from omnimogen.training.common import resolve_config
    from omnimogen.training.lm import LMTrainConfig, prepare

    shared = [*args.set, f"prepare_workers={args.workers}"]
    recipes = {}
    for r in args.recipe:
        name, _, sets = r.partition(":")
        recipes[name] = shared + [s for s in sets.split(",") if s]
    first = resolve_config(LMTrainConfig, None, next(iter(recipes.values())))
    cache = args.work / "prepared"
    prepare(x2mo, corpus, load_tokenizer(), first, cache, progress=False, tokenizer_dir=TOKENIZER_DIR)
    timings["prepare"] = time.time() - t0 - timings["unpack"]
    print(f"prepared in {timings['prepare']:.0f} s", flush=True)

    def start(name: str, sets: list[str], out: Path, steps: int) -> subprocess.Popen:
        shutil.copytree(cache, out / "prepared", dirs_exist_ok=True)
        cmd = [sys.executable, "-m", "omnimogen.cli", "train", "lm", "--data", str(x2mo), "--corpus", str(corpus),
               "--out", str(out)] + [a for s in sets + [f"steps={steps}"] for a in ("--set", s)]  # fmt: skip
        return run(cmd, stdout=open(args.work / f"{name}.log", "w"), stderr=subprocess.STDOUT)

    # Probe: the first recipe (list the slowest first) alone, to set the steps.
    probe_dir = args.work / "probe"
    probe_start = time.time()
    probe = start("probe", next(iter(recipes.values())) + ["val_every=100000", "ckpt_every=100000", "log_every=10"],
                  probe_dir, args.probe_steps)  # fmt: skip
    if probe.wait() != 0:
        sys.exit(
            f"the probe run failed; see {args.work / 'probe.log'}:\n" + (args.work / "probe.log").read_text()[-3000:]
        )
    log = [json.loads(line) for line in (probe_dir / "log.jsonl").read_text().splitlines()]
    per_step = statistics.median([r["sec_per_step"] for r in log if "sec_per_step" in r][1:] or [1.0])
    timings["probe_sec_per_step"] = per_step
    # What a run spends besides its steps: starting, loading the prepared data, the final validation and saves.
    overhead = max(0.0, time.time() - probe_start - per_step * args.probe_steps)
    timings["run_overhead"] = overhead
    left = args.budget - (time.time() - t0) - overhead * 1.5 - 30  # and packing the results
    slowdown = 1.0 + 0.35 * (len(recipes) - 1)  # runs sharing the GPU (and the CPU cores) slow each other
    steps = max(100, int(left / (per_step * slowdown) * 0.85))  # validations take time too
    timings["steps"] = steps
    print(f"{per_step:.3f} s/step alone: {steps} steps for each of {len(recipes)} recipes", flush=True)
    procs = {n: start(n, sets + [f"val_every={max(50, steps // 8)}", f"ckpt_every={steps}"], args.work / n, steps)
             for n, sets in recipes.items()}  # fmt: skip
    deadline = t0 + args.budget - 30
    while any(p.poll() is None for p in procs.values()) and time.time() < deadline:
        time.sleep(2)
    for name, p in procs.items():
        if p.poll() is None:
            print(f"{name}: out of time, stopped (its best/ is the last validation's best)", flush=True)
            p.kill()
    timings["train"] = time.time() - t0 - timings["unpack"] - timings["prepare"]

    from omnimogen.model.transformer import load_lm, save_lm

    bundle = args.work / "bundle"
    for name in recipes:
        run_dir = args.work / name
        if (run_dir / "best" / "model.safetensors").is_file():
            lm = load_lm(run_dir / "best")
            save_lm(lm, bundle / name / "best", lm.tokenizer_fingerprint, half=True)
        for f in ("log.jsonl", "config.json"):
            if (run_dir / f).is_file():
                (bundle / name).mkdir(parents=True, exist_ok=True)
                shutil.copy(run_dir / f, bundle / name / f)
        shutil.copy(args.work / f"{name}.log", bundle / f"{name}.stdout.log")
    (bundle / "timings.json").write_text(json.dumps(timings | {"total": time.time() - t0}, indent=1))
    args.out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(args.work / "bundle.tar", "w") as tar:
        tar.add(bundle, arcname="bundle")
    data = (args.work / "bundle.tar").read_bytes()
    part = 15 * 1024 * 1024
    for i in range(0, len(data), part):
        (args.out / f"bundle.tar.{i // part:02d}").write_bytes(data[i : i + part])
    print(json.dumps(timings | {"total": time.time() - t0}), flush=True)


if __name__ == "__main__":
    main()
