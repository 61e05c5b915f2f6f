"""Rehearsal for describing: an instruction set whose describe answers, for the clips of one corpus,
are a trained model's own captions instead of the corpus's.

    python scripts/teacher_captions.py --x2mo data/x2mo_skills8 --corpus data/bandai --corpus data/mocap \
        --corpus data/skills --teacher default --dataset-min 1 --out data/x2mo_skills8_teacher

Fine-tuning a model on new takes costs it its describing (README, "A sixth"): on Bandai's test clips its
captions fall from R@1 81 to 36 within 1,500 steps, drifting towards the new corpora's few short
captions ("a person walks like a zombie" for a bow), even though their likelihood of the corpus's own
captions rises. Learning without forgetting (Li and Hoiem, 2016) keeps an old task by training on the
old model's answers to it: here the describe samples of the corpus the teacher was trained on are
answered with the teacher's greedy caption of the same motion (the clip window and its recipe, as the
sample asks for it) where that caption names the sample's action (the words of its label, as
``bench_describe.py`` checks them), so that the teacher's mistakes are not taught; every other sample
is copied unchanged. Shards and manifest keep their names;
the manifest records the teacher.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import torch

from omnimogen.data.captions import names_label
from omnimogen.instructions.corpus import Corpus
from omnimogen.instructions.recipes import materialise
from omnimogen.instructions.schema import Part, read_samples, write_samples
from omnimogen.model.pipeline import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--x2mo", required=True, help="the instruction set to copy")
    ap.add_argument("--corpus", required=True, action="append", help="its corpora, in the order it was built from")
    ap.add_argument("--teacher", default="default", help="model folder whose captions answer ('default': shipped)")
    ap.add_argument("--dataset-min", type=int, default=1,
                    help="answer the describe samples whose source dataset number is at least this (Bandai: 1, 2)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    src, out = Path(args.x2mo), Path(args.out)
    if out.exists():
        sys.exit(f"{out} exists; remove it first.")
    corpus = Corpus(args.corpus)
    teacher = load_model(None if args.teacher == "default" else args.teacher, device="cpu")
    out.mkdir(parents=True)
    answered, kept, t0 = 0, 0, time.time()
    for shard in sorted(src.glob("*-*.jsonl")):
        samples = []
        for s in read_samples(shard):
            source = s.meta.get("source", {}) if s.meta else {}
            if s.task == "describe" and source.get("dataset", -1) >= args.dataset_min:
                ref = next(p.motion for p in s.turns[0].parts if p.motion is not None)
                caption = teacher.describe(materialise(ref, corpus), temperature=0.0, seed=0).text
                if not names_label(caption, source.get("action", "")):
                    kept += 1  # the teacher is wrong here: keep the corpus's caption
                    samples.append(s)
                    continue
                turns = (s.turns[0], replace(s.turns[1], parts=(Part(text=caption),)))
                s = replace(s, turns=turns)
                answered += 1
            samples.append(s)
        write_samples(out / shard.name, samples)
    manifest = json.loads((src / "manifest.json").read_text())
    manifest["teacher_captions"] = {"teacher": args.teacher, "dataset_min": args.dataset_min, "answered": answered,
                                    "kept_wrong_teacher": kept, "from": str(src)}  # fmt: skip
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    for extra in src.iterdir():
        if extra.suffix not in (".jsonl", ".json"):
            shutil.copy(extra, out / extra.name)
    print(f"{out}: {answered} describe samples answered by {args.teacher}, {kept} kept where its caption "
          f"did not name the action, in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
