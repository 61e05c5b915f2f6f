"""The same generated codes decoded by two tokenizers that share their codes (a decoder fine-tune):
how far each toe slides while on the floor, and the root path seen from above.

    python scripts/compare_decoders.py --tokenizer runs/tok_contact03/final --out docs/contacts/decoder_feet.png
    python scripts/compare_decoders.py --base runs/tok_stage4 --tokenizer shipped --out docs/contacts/decoder_feet_stages.png

The shipped model writes the codes (one prompt per column, seed 0); ``--base`` (the shipped tokenizer
unless given) and ``--tokenizer`` (``shipped`` for the shipped one) decode them. A toe is on the floor where the Physical score counts contact (below
5 cm on both frames of a step); the figure prints each motion's Physical score.
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from omnimogen import load_model
from omnimogen.evaluation.metrics import physical_score
from omnimogen.tokenizer import load_tokenizer
from omnimogen.training.tokenizer import PLANTED_HEIGHT

PROMPTS = ["a person walks forward", "a person walks and turns left", "a person runs"]
TOES = (10, 11)  # left, right


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", required=True, help="a decoder fine-tune of the shipped tokenizer")
    ap.add_argument("--base", help="the decoder it is compared with (default: shipped)")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--out", default="docs/contacts/decoder_feet.png")
    args = ap.parse_args()
    model = load_model()

    def decoder(spec):  # "shipped" (or nothing) is the model's own tokenizer
        return model.tokenizer if spec in (None, "shipped") else load_tokenizer(spec)

    other, base = decoder(args.tokenizer), decoder(args.base)
    if not other.fingerprint() == base.fingerprint() == model.tokenizer.fingerprint():
        raise SystemExit(f"{args.tokenizer} or {args.base} gives codes other meanings than the shipped tokenizer.")
    names = (args.base or "shipped", args.tokenizer)
    fig, axes = plt.subplots(2, len(PROMPTS), figsize=(4.2 * len(PROMPTS), 7.5))
    for col, prompt in enumerate(PROMPTS):
        answer = model.generate(prompt, seed=0, seconds=args.seconds)
        codes, n = answer.parts[0].codes, answer.motions[0].num_frames
        for name, tok, style in ((names[0], base, "-"), (names[1], other, "--")):
            with torch.no_grad():
                joints = tok.decode(codes, length=n).joints
            toes = joints[:, list(TOES)]
            down = (toes[:-1, :, 1] < PLANTED_HEIGHT) & (toes[1:, :, 1] < PLANTED_HEIGHT)
            step = np.linalg.norm(np.diff(toes[..., [0, 2]], axis=0), axis=-1)
            slide = np.cumsum(step * down, axis=0)  # metres travelled while on the floor
            label = f"{name} (Physical {physical_score(joints):.3f})"
            for k, side in enumerate(("left", "right")):
                axes[0, col].plot(slide[:, k], style, label=f"{side} toe, {label}" if k == 0 else f"{side} toe")
            axes[1, col].plot(joints[:, 0, 0], joints[:, 0, 2], style, label=label)
        axes[0, col].set(title=f"'{prompt}'", xlabel="frame (20 fps)", ylabel="m slid on the floor")
        axes[1, col].set(xlabel="x (m)", ylabel="z (m)", aspect="equal", title="root path from above")
        for ax in axes[:, col]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
