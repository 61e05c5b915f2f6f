"""Copy a trained model into the package as the shipped default, in float16, and check what that costs.

    python scripts/ship_model.py --model /work/runs/lm_grouped/best --out omnimogen/assets/model
    python scripts/ship_model.py --model RUN/best --with-tokenizer     # also ship the tokenizer it was trained on
    python scripts/ship_model.py --model RUN/best --temperature 0.7    # the motion temperature it was measured at
    python scripts/ship_model.py --model omnimogen/assets/model --guidance 2   # change a default of the shipped one

The shipped model carries no tokenizer of its own: it must have been trained on the shipped one
(the fingerprints are compared), or ``--with-tokenizer`` replaces the shipped tokenizer with the
model's own (encoder and decoder in float16, codebooks float32, as the shipped one is stored). Prints the size and how far the float16 copy is from the float32
model: the largest logit difference and how many greedy answers stay identical.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from omnimogen.model.pipeline import OmniMoGen
from omnimogen.tokenizer import load_tokenizer

PROMPTS = [
    "a person walks forward happily",
    "a tired person waves goodbye",
    "someone jogs in a circle",
    "a person bows politely",
    "an angry person kicks",
    "a person walks backwards slowly",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="a trained model directory (RUN/best)")
    ap.add_argument("--out", default="omnimogen/assets/model")
    ap.add_argument("--with-tokenizer", action="store_true", help="also ship the model's tokenizer as the default")
    ap.add_argument("--tokenizer-out", default="omnimogen/assets/tokenizer")
    ap.add_argument("--temperature", type=float,
                    help="the motion sampling temperature generation uses by default (saved in config.json; "
                         "default: the model's own, else the package's)")  # fmt: skip
    ap.add_argument("--guidance", type=float, help="the classifier-free guidance generation uses by default (1: none)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    full = OmniMoGen.from_pretrained(args.model)
    given = {"temperature": args.temperature, "guidance": args.guidance}
    full.lm.sampling = {**full.lm.sampling, **{k: v for k, v in given.items() if v is not None}}
    if args.with_tokenizer:
        tok_out = Path(args.tokenizer_out)
        with tempfile.TemporaryDirectory(dir=tok_out.parent) as tmp:
            full.tokenizer.save_pretrained(tmp, half=True)
            if tok_out.exists():
                shutil.rmtree(tok_out)
            shutil.copytree(tmp, tok_out)
        print(f"shipped the model's tokenizer -> {tok_out}")
    shipped = load_tokenizer(args.tokenizer_out)
    if full.tokenizer.fingerprint() != shipped.fingerprint():
        raise SystemExit(f"{args.model} was trained on another tokenizer than the shipped one; use --with-tokenizer.")
    out = Path(args.out)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        OmniMoGen(full.lm, shipped).save_pretrained(tmp, tokenizer=False, half=True)
        half = OmniMoGen.from_pretrained(tmp)
        worst, same = 0.0, 0
        for text in PROMPTS:
            a = full.generate(text, seconds=4, temperature=0, motion_only=True)
            b = half.generate(text, seconds=4, temperature=0, motion_only=True)
            same += int(np.array_equal(a.tokens, b.tokens) and np.array_equal(a.parts[0].codes, b.parts[0].codes))
            prompt = full.lm.vocab.render([full._user_turn(text, {})], generation_prompt=True)
            ids = torch.from_numpy(prompt.ids)[None]
            codes = torch.from_numpy(prompt.codes)[None] if prompt.codes is not None else None
            with torch.no_grad():
                worst = max(worst, float((full.lm(ids, codes).logits - half.lm(ids, codes).logits).abs().max()))
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(tmp, out)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"shipped {args.model} -> {out}: {size / 1e6:.1f} MB in float16")
    print(f"float16 against float32: largest prompt logit difference {worst:.4f}; "
          f"{same} of {len(PROMPTS)} greedy 4 s answers identical")  # fmt: skip


if __name__ == "__main__":
    main()
