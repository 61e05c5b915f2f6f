"""Train the text-motion evaluator: ``omnimogen train evaluator --data DATASET --out RUN``.

Contrastive (InfoNCE) over the batch, symmetric text->motion and motion->text, on random crops
of the train clips paired with one of their captions. Validates label retrieval on the val split
(:func:`omnimogen.evaluation.evaluator.evaluate_retrieval`) and keeps the best model in ``RUN/best``
(``load_evaluator(RUN/best)``). Runs on one process or many and resumes like every training command.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data.dataset import MotionDataset
from ..evaluation.evaluator import (
    PRESETS,
    EvaluatorConfig,
    TextMotionEvaluator,
    clip_label,
    evaluate_retrieval,
    load_sentence_encoder,
    pad_batch,
)
from ..motion import Normalizer
from .common import ConfigError, start_run, train_loop


@dataclass
class EvaluatorTrainConfig:
    preset: str = "default"  # a name in omnimogen.evaluation.evaluator.PRESETS; ``model`` overrides its fields
    model: dict = field(default_factory=dict)
    steps: int = 5_000  # 71 epochs of the Bandai train split at batch 64
    batch_size: int = 64
    lr: float = 2e-4
    weight_decay: float = 0.01
    warmup_steps: int = 500  # then a cosine decay to zero
    temperature: float = 0.1  # TMR's
    crop_min: float = 0.7  # a training crop keeps 70-100% of a clip's rows (at most max_rows)
    seed: int = 0
    val_every: int = 500
    ckpt_every: int = 500
    log_every: int = 50
    num_threads: int | None = None  # torch threads per process
    device: str = "auto"  # "auto": CUDA when there is one; "cpu" forces the CPU
    mixed_precision: str = "auto"  # "auto": bfloat16 on a GPU, full precision on the CPU; "no", "bf16", "fp16"
    # Train on this share of the train split's takes (a clip and its mirror stay together), picked by
    # ``subset_seed``: a second evaluator that has seen other clips than the shipped one, to judge a
    # model trained against the shipped one (RL rewards) without grading it by its own examiner.
    train_share: float = 1.0
    subset_seed: int = 0

    def model_config(self) -> EvaluatorConfig:
        if self.preset not in PRESETS:
            raise ConfigError(f"preset {self.preset!r} is not one of {', '.join(PRESETS)}.")
        names = {f.name for f in dataclasses.fields(EvaluatorConfig)}
        bad = set(self.model) - names
        if bad:
            raise ConfigError(f"unknown model setting(s) {', '.join(sorted(bad))}; known: {', '.join(sorted(names))}.")
        return dataclasses.replace(PRESETS[self.preset], **self.model)


def contrastive_loss(text_emb: torch.Tensor, motion_emb: torch.Tensor, labels: torch.Tensor,
                     temperature: float) -> torch.Tensor:  # fmt: skip
    """Symmetric InfoNCE in which other pairs of the same label are left out, not pushed away.

    text_emb, motion_emb: (B, E) unit vectors, pair i = (text i, motion i); labels: (B,) integers.
    Returns the loss of each pair (B,), the mean of its text->motion and motion->text terms.

    Many clips share a label and their captions are interchangeable, so a plain InfoNCE would push
    apart what nothing can tell apart. Two fixes exist: count same-label items as extra positives
    (multi-positive InfoNCE, SupCon), or drop them from the denominator (TMR's filtering of false
    negatives). We drop them: they stop being punished, yet the loss does not pull every clip of a
    label onto one point, so the embedding keeps what the label does not say (speed, path, the
    performer's take), which motion-to-motion retrieval in editing benchmarks needs.
    """
    logits = text_emb @ motion_emb.T / temperature  # (B, B) rows texts, columns motions
    same = labels[:, None] == labels[None, :]  # (B, B)
    others = same & ~torch.eye(len(labels), dtype=torch.bool, device=logits.device)
    logits = logits.masked_fill(others, float("-inf"))  # symmetric mask: one for both directions
    target = torch.arange(len(labels), device=logits.device)
    t2m = F.cross_entropy(logits, target, reduction="none")
    m2t = F.cross_entropy(logits.T, target, reduction="none")
    return (t2m + m2t) / 2


def random_crops(clips: list[torch.Tensor], crop_min: float, max_rows: int, gen: torch.Generator):
    """A random window of each clip, ``crop_min`` to all of its rows long (at most ``max_rows``):
    (B, T, D) padded batch and lengths (B,). The captions describe the whole clip, so crops stay long."""
    crops = []
    for c in clips:
        full = min(len(c), max_rows)
        n = int(torch.randint(math.ceil(crop_min * full), full + 1, (), generator=gen))
        start = int(torch.randint(0, len(c) - n + 1, (), generator=gen))
        crops.append(c[start : start + n])
    return pad_batch(crops)


def in_share(clip, share: float, seed: int) -> bool:
    """Whether a clip falls in the ``share`` of clips that ``seed`` picks (a stable hash, the same on
    every machine); a mirrored clip (``labels.json``: ``mirror``, id ``M`` + the original's) goes with
    its original."""
    if share >= 1:
        return True
    import hashlib

    original = clip.id.removeprefix("M") if clip.label.get("mirror") else clip.id
    digest = hashlib.sha256(f"{seed}/{original}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def _lr_lambda(cfg: EvaluatorTrainConfig):
    def f(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return f


def train_evaluator(data: str | Path | list, out: str | Path, cfg: EvaluatorTrainConfig, progress: bool = True) -> dict:
    """Train (or resume) an evaluator run on one dataset folder or several (their clips together, the
    normaliser fitted on all of them). Returns the last training record."""
    from accelerate.utils import set_seed

    if not 0 < cfg.crop_min <= 1:
        raise ConfigError(f"crop_min={cfg.crop_min} must lie in (0, 1].")
    config = cfg.model_config()
    acc, run = start_run(cfg, out)
    set_seed(cfg.seed, device_specific=False)  # same init on every rank; DDP keeps them equal

    folders = [data] if isinstance(data, (str, Path)) else list(data)
    train_sets = [MotionDataset(d, "train") for d in folders]
    val_clips = [c for d in folders for c in MotionDataset(d, "val")]
    if len(train_sets) == 1:
        normalizer = train_sets[0].normalizer()
    else:
        normalizer = Normalizer.fit([c.features for t in train_sets for c in t])
    motions, captions, names = [], [], []  # one pass, so only the normalised copy of each clip stays in memory
    for folder, c in ((d, c) for d, t in zip(folders, train_sets, strict=True) for c in t):
        if not in_share(c, cfg.train_share, cfg.subset_seed):
            continue
        if not c.captions:
            raise ConfigError(
                f"{folder}: train clip {c.id} has no caption in texts/; the evaluator learns from captions."
            )
        motions.append(torch.from_numpy(normalizer.normalize(c.features)).float())
        captions.append([cap.text for cap in c.captions])
        names.append(clip_label(c))
    label_ids = {name: k for k, name in enumerate(sorted(set(names)))}
    labels = torch.tensor([label_ids[n] for n in names])  # (N,)

    # The text encoder is frozen: embed every caption once, then training only runs the projection.
    sentences = load_sentence_encoder()
    table = sentences([t for caps in captions for t in caps])  # (captions, 384)
    first = np.cumsum([0] + [len(caps) for caps in captions]).tolist()  # clip i's rows: first[i] .. first[i+1]
    sentences([cap.text for c in val_clips for cap in c.captions])  # cached for validation

    model = TextMotionEvaluator(config, normalizer, sentences)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg))
    model, opt, sched = acc.prepare(model, opt, sched)
    raw = acc.unwrap_model(model)

    def train_step(model, idx, step):
        # Crops and captions from a generator seeded by step and rank: reproducible, and the same on resume.
        gen = torch.Generator().manual_seed((cfg.seed * 1_000_003 + step) * 64 + acc.process_index)
        idx = idx.tolist()
        x, lengths = random_crops([motions[i] for i in idx], cfg.crop_min, config.max_rows, gen)
        pick = [int(first[i] + torch.randint(first[i + 1] - first[i], (), generator=gen)) for i in idx]
        motion_emb, text_emb = model(x.to(acc.device), lengths.to(acc.device), table[pick].to(acc.device))
        batch_labels = labels[idx].to(acc.device)
        loss = contrastive_loss(text_emb, motion_emb, batch_labels, cfg.temperature).mean()
        same = (batch_labels[:, None] == batch_labels[None, :]).sum() - len(idx)
        record = {"pos_cos": float((text_emb * motion_emb).sum(1).mean()), "same_label_pairs": int(same) // 2}
        return loss, record

    def validate(step):
        if not val_clips:
            return None, {}
        report = evaluate_retrieval(raw, val_clips, "val")
        keys = ("R@1", "R@2", "R@3", "AvgR")  # the chance levels and counts are the bench report's
        val = {f"{task}_{k}": r[k] for task, r in (("t2m", report.t2m), ("m2m", report.m2m)) if r for k in keys}
        return -report.score(), val

    return train_loop(acc, run, cfg, model, opt, sched, list(range(len(motions))), train_step=train_step,
                      validate=validate, save=raw.save_pretrained, name="evaluator", progress=progress)  # fmt: skip
