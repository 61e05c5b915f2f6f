"""Verify the training and generation stack on a CUDA machine, in one run, into benchmarks/gpu.json.

    python scripts/gpu_check.py --bundle .device --out benchmarks/gpu.json          # on the GPU machine
    python scripts/gpu_check.py --bundle .device --out /tmp/gpu.json --device cpu --quick   # a dry run here

``--bundle`` is a folder made on a CPU machine with the corpus (it travels; nothing else is needed):
``corpus/`` (``omnimogen data bandai SRC corpus --limit 120``, ``new_joints/`` removed), ``x2mo/``
(``omnimogen data x2mo --data corpus --out x2mo --samples 4000``) and ``lm_prepared/`` (``omnimogen
train lm --prepare-only --data x2mo --corpus corpus --out lm_prepared``). In order, each step timed
and recorded even when a later one fails:

1. the test suite (``pytest``: passed, failed, skipped);
2. a short run of each training command through a validation and a checkpoint: tokenizer, evaluator,
   language model (from the prepared folder, no corpus), RL (GRPO on the shipped model);
3. generation latency of the shipped model, text to a 9.8 s motion, batch 1 and batch 32 (medians),
   on the device and on the CPU in the same run;
4. a few hundred steps of a larger language model (12 layers x 768, bfloat16 where the GPU has it)
   from the prepared folder: seconds per step and its validation loss.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import date
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
BIG = {"hidden_size": 768, "layers": 12, "heads": 12, "intermediate_size": 3072}


def run_tests(quick: bool) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_device.py" if quick else "tests"]
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=420)
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|error)", done.stdout.splitlines()[-1])}
    failures = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return {"passed": counts.get("passed", 0), "failed": counts.get("failed", 0) + counts.get("error", 0),
            "skipped": counts.get("skipped", 0), "seconds": round(time.perf_counter() - t, 1),
            "failures": failures[:20]}  # fmt: skip


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def _summary(run: Path, t0: float) -> dict:
    log = _log(run)
    steps = [r for r in log if "loss" in r]
    vals = [r["val"] for r in log if "val" in r]
    return {"steps": steps[-1]["step"], "sec_per_step": statistics.median(r["sec_per_step"] for r in steps[1:] or steps),
            "last_loss": steps[-1]["loss"], "validation": vals[-1] if vals else None,
            "checkpoint": (run / "checkpoints" / "latest").is_file(), "seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip


def train_commands(bundle: Path, work: Path, device: str, quick: bool) -> dict:
    from omnimogen.training.evaluator import EvaluatorTrainConfig, train_evaluator
    from omnimogen.training.lm import LMTrainConfig, train_lm
    from omnimogen.training.rl import RLTrainConfig, train_rl
    from omnimogen.training.tokenizer import TokenizerTrainConfig, train_tokenizer

    n = 20 if quick else 200
    every = dict(steps=n, val_every=n, ckpt_every=n, log_every=max(1, n // 10), device=device)
    out = {}
    jobs = {
        "tokenizer": lambda run: train_tokenizer(bundle / "corpus", run, TokenizerTrainConfig(**every), progress=False),
        "evaluator": lambda run: train_evaluator(bundle / "corpus", run, EvaluatorTrainConfig(**every), progress=False),
        "lm": lambda run: train_lm(None, None, None, _copy(bundle / "lm_prepared", run), LMTrainConfig(**every),
                                   progress=False),
        "rl": lambda run: train_rl(None, bundle / "x2mo", bundle / "corpus", run,
                                   RLTrainConfig(**{**every, "steps": 4, "val_every": 4, "ckpt_every": 4,
                                                    "log_every": 1, "max_prompts": 64, "val_prompts": 8}),
                                   progress=False),
    }  # fmt: skip
    for name, job in jobs.items():
        t0 = time.perf_counter()
        try:
            job(work / name)
            out[name] = _summary(work / name, t0)
        except Exception as e:  # record and go on: the next command may still work
            out[name] = {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-1500:]}
        print(name, json.dumps(out[name])[:300], flush=True)
    return out


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def latency(device: str, repeats: int) -> dict:
    """Text to a 9.8 s motion with the shipped model: batch 1 (the API) and batch 32 (one generate call)."""
    from omnimogen.model.generate import generate
    from omnimogen.model.pipeline import load_model
    from omnimogen.model.vocab import Message, TextPart

    model = load_model(device=device)
    frames = 197
    opt_steps = model.latent_steps(frames)

    def one():
        model("a person walks forward", frames=frames, seed=0, motion_only=True)

    def batch32():
        from omnimogen.model.generate import SamplingOptions

        prompt = model.lm.vocab.render([Message("user", (TextPart("a person walks forward"),))], generation_prompt=True)
        out = generate(model.lm, [prompt] * 32, SamplingOptions(motion_only=True, motion_steps=opt_steps),
                       torch.Generator().manual_seed(0))  # fmt: skip
        for b in range(32):
            codes = out.codes[b][out.codes[b][:, 0] >= 0]
            model.tokenizer.decode(codes, length=frames)

    result = {}
    for name, fn in (("batch1_s", one), ("batch32_s", batch32)):
        fn()  # warm-up (CUDA context, kernels)
        times = []
        for _ in range(repeats):
            if device != "cpu":
                torch.cuda.synchronize()
            t = time.perf_counter()
            fn()
            if device != "cpu":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        result[name] = round(statistics.median(times), 4)
    result["batch32_per_motion_s"] = round(result["batch32_s"] / 32, 4)
    return result


def big_lm(bundle: Path, work: Path, device: str, steps: int) -> dict:
    from omnimogen.training.lm import LMTrainConfig, train_lm

    cfg = LMTrainConfig(model=BIG, steps=steps, batch_size=16, lr=3e-4, warmup_steps=max(1, steps // 10),
                        val_every=steps, ckpt_every=steps, log_every=max(1, steps // 20), device=device)  # fmt: skip
    t0 = time.perf_counter()
    try:
        train_lm(None, None, None, _copy(bundle / "lm_prepared", work / "big"), cfg, progress=False)
        from omnimogen.model.pipeline import OmniMoGen

        lm = OmniMoGen.from_pretrained(work / "big" / "final", device="cpu").lm
        return {**_summary(work / "big", t0), "parameters": sum(p.numel() for p in lm.parameters()), "config": BIG}
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-1500:]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", required=True, type=Path)
    ap.add_argument("--out", default="benchmarks/gpu.json", type=Path)
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    ap.add_argument("--quick", action="store_true", help="a dry run: few steps, the device tests only")
    ap.add_argument("--big-steps", type=int, default=300)
    args = ap.parse_args()
    import accelerate
    import transformers

    report = {"date": date.today().isoformat(), "machine": platform.node(), "python": platform.python_version(),
              "torch": torch.__version__, "cuda": torch.version.cuda, "transformers": transformers.__version__,
              "accelerate": accelerate.__version__, "device": args.device,
              "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}  # fmt: skip

    def save():
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))

    report["tests"] = run_tests(args.quick)
    save()
    with tempfile.TemporaryDirectory() as tmp:
        report["training"] = train_commands(args.bundle, Path(tmp), args.device, args.quick)
        save()
        repeats = 2 if args.quick else 5
        report["latency_9_8s"] = {args.device: latency(args.device, repeats)}
        if args.device != "cpu":
            report["latency_9_8s"]["cpu"] = latency("cpu", repeats)
        save()
        report["big_lm"] = big_lm(args.bundle, Path(tmp), args.device, 4 if args.quick else args.big_steps)
        save()
    print(json.dumps({k: v for k, v in report.items() if k != "training"}, indent=1))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
