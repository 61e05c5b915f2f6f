"""The standard HumanML3D text-to-motion evaluation (Guo et al. 2022) with the official evaluator files.

    python scripts/eval_humanml3d.py --data HumanML3D --evaluator-dir checkpoints/t2m/text_mot_match/model \\
        --glove glove [--model PATH] [--repeats 20] [--out results.json]

The evaluator's normalisation (``mean.npy``, ``std.npy``) is looked up in ``t2m/Comp_v6_KLD01/meta`` next to
``text_mot_match``; pass ``--evaluator-meta DIR`` when it lives elsewhere. ``--ground-truth-only`` evaluates the
real test motions alone (the published ground-truth row: a check of the setup). Writes ``results.json`` as the
benchmark suites do: ``{"suite": "humanml3d", "model", "data", "seed", "repeats", "versions", "metrics":
{"model" | "ground_truth": {"all": {METRIC: mean, METRIC_ci95: half-width}}}}``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
from pathlib import Path


def _dir_sha256(path: Path) -> str:
    """A hash over every file of a model directory (relative names and contents), or of one file."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(path) if path.is_dir() else p.name).encode() + b"\n")
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _versions() -> dict:
    import numpy
    import torch

    import omnimogen

    return {"omnimogen": omnimogen.__version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version()}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="HumanML3D-layout dataset (new_joint_vecs/, texts/, test.txt)")
    ap.add_argument("--evaluator-dir", required=True, help="t2m/text_mot_match/model (or its finest.tar)")
    ap.add_argument("--glove", required=True, help="folder with our_vab_data.npy, our_vab_words.pkl, our_vab_idx.pkl")
    ap.add_argument("--evaluator-meta", default=None, help="folder with the evaluator's mean.npy and std.npy")
    ap.add_argument("--model", default=None, help="a trained OmniMoGen model directory (default: the shipped one)")
    ap.add_argument("--ground-truth-only", action="store_true", help="evaluate the real test motions only")
    ap.add_argument("--split", default="test")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--diversity-pairs", type=int, default=300)
    ap.add_argument("--mm-num", type=int, default=100, help="texts with MultiModality samples")
    ap.add_argument("--mm-samples", type=int, default=30, help="MultiModality samples per text")
    ap.add_argument("--max-texts", type=int, default=None, help="a quick run on fewer test texts (not comparable)")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-p", type=float, default=0.95)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default="results.json")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)

    from omnimogen.errors import OmnimogenError
    from omnimogen.evaluation.protocol import (
        dataset_sha256,
        load_humanml3d_evaluator,
        omnimogen_generator,
        run_protocol,
    )

    out = Path(args.out)
    try:
        if out.exists() and not args.overwrite:
            raise OmnimogenError(f"{out}: already exists (another run's results); pass --overwrite to replace it.")
        evaluator = load_humanml3d_evaluator(args.evaluator_dir, args.glove, args.evaluator_meta, device=args.device)
        if args.ground_truth_only:
            generate, model_info = None, {"name": "ground_truth", "sha256": None}
        else:
            from omnimogen.model.pipeline import DEFAULT_DIR, load_model

            model = load_model(args.model)
            model_path = Path(args.model) if args.model else DEFAULT_DIR
            model_info = {"name": model_path.resolve().name, "sha256": _dir_sha256(model_path)}
            generate = omnimogen_generator(model, temperature=args.temperature, top_p=args.top_p)
        results = run_protocol(
            generate, args.data, evaluator, split=args.split, batch_size=args.batch_size,
            diversity_pairs=args.diversity_pairs, mm_num=args.mm_num, mm_samples=args.mm_samples,
            repeats=args.repeats, seed=args.seed, max_texts=args.max_texts, progress=not args.no_progress,
        )  # fmt: skip
        doc = {
            "suite": "humanml3d",
            "model": model_info,
            "data": {"name": Path(args.data).resolve().name, "sha256": dataset_sha256(args.data, args.split)},
            "seed": args.seed,
            "repeats": args.repeats,
            "versions": _versions(),
            "metrics": {m: {"all": results.metrics[m]} for m in ("model", "ground_truth") if m in results.metrics},
            "evaluator": {"name": "guo2022_text_mot_match", "sha256": evaluator.sha256},
            "protocol": {
                "split": args.split,
                "batch_size": args.batch_size,
                "diversity_pairs": args.diversity_pairs,
                "mm_num": args.mm_num if generate else 0,
                "mm_samples": args.mm_samples,
                "texts_per_repeat": results.texts_per_repeat,
                "entries": results.entries,
                "max_texts": args.max_texts,
            },
            "per_repeat": results.per_repeat,
        }
    except (OmnimogenError, ValueError) as e:  # bad input or settings: one line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    print(f"wrote {out}")
    for method, rows in doc["metrics"].items():
        m = rows["all"]
        line = "  ".join(f"{k} {m[k]:.3f}±{m[k + '_ci95']:.3f}" for k in
                         ("FID", "R@1", "R@2", "R@3", "MM-Dist", "Diversity", "MultiModality") if k in m)  # fmt: skip
        print(f"{method}: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
