"""Moving a trained model onto another tokenizer's codes without losing what it has learned to read:
``omnimogen train realign --model BASE --tokenizer NEW --corpus DATASET --out DIR``.

A tokenizer fine-tuned from another keeps few of its code numbers: on Bandai's training clips the
looped tokenizer (README, issue 13) gives the same level-0 code as the shipped one to 37% of the latent
steps and the same finer codes to under 2%. A model that keeps its code embeddings by number (what
``init_other_tokenizer`` does) reads the new codes as noise, and a fine-tune has to learn to read
them again; describing a motion showed it most (caption R@1 81.5 -> 34 after 6,000 steps).

The model's input for a latent step is the sum of its levels' code embeddings. Every training clip
of the corpus (a seeded sample of them) is encoded by both tokenizers, step by step aligned, and the
new codes' embeddings are fitted so that each step gives the model the input the old codes gave
(ridge least squares, in closed form; unseen codes keep their old rows). The coarse-to-fine
conditioning of the code head (``code_cond``, read as prefix sums) is fitted the same way, and each
head row starts as the mean of the old rows of the codes its new code stands for on those steps.
Reading comes back without training (caption R@1 77.7 against 81.5 for the base on its own codes);
writing the new codes is left to the fine-tune that follows (``train lm --set init_from=DIR``).
No library does this; it is a few lines of linear algebra.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..fileio import atomic_path
from ..instructions.corpus import Corpus
from ..model.transformer import OmniMoGenLM, save_lm
from ..tokenizer import MotionTokenizer, load_tokenizer
from .common import ConfigError


@dataclass
class RealignReport:
    clips: int
    steps: int
    same_codes: list[float]  # per level: the share of steps whose code number both tokenizers agree on
    input_error_by_number: float  # relative error of the model's step input when codes keep their numbers
    input_error_fitted: float  # the same after the fit


def paired_codes(
    old: MotionTokenizer, new: MotionTokenizer, features: list[np.ndarray]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(steps, L) codes of the same latent steps under both tokenizers (their downsampling must agree)."""
    if old.config.downsample != new.config.downsample or old.config.num_levels != new.config.num_levels:
        raise ConfigError("the two tokenizers differ in downsampling or levels; their steps cannot be paired.")
    olds, news = [], []
    old.eval(), new.eval()
    for f in features:
        for tok, out in ((old, olds), (new, news)):
            x = torch.from_numpy(tok.normalizer.normalize(f)).float()[None]
            out.append(tok.encode_tensor(x)[0])
    return torch.cat(olds), torch.cat(news)


def _ridge_fit(index: torch.Tensor, target: torch.Tensor, prior: torch.Tensor, ridge: float) -> torch.Tensor:
    """Rows X (n, H) minimising sum_r |sum_{i in index[r]} X[i] - target[r]|^2 + ridge |X - prior|^2.
    ``index`` (R, m) holds row numbers, -1 for none; the normal equations are built by counting, so
    the one-hot design matrix (R x n) is never formed."""
    n = prior.shape[0]
    gram = torch.zeros(n * n, dtype=torch.float64)
    rhs = torch.zeros(n, target.shape[1], dtype=torch.float64)
    m = index.shape[1]
    for a in range(m):
        ia = index[:, a]
        on = ia >= 0
        rhs.index_add_(0, ia[on], target[on].double())
        for b in range(m):
            ib = index[:, b]
            both = on & (ib >= 0)
            gram += torch.bincount(ia[both] * n + ib[both], minlength=n * n).double()
    gram = gram.view(n, n) + ridge * torch.eye(n, dtype=torch.float64)
    return torch.linalg.solve(gram, rhs + ridge * prior.double()).float()


def _step_sums(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return (table[index.clamp(min=0)] * (index >= 0)[..., None]).sum(1)


@torch.no_grad()
def realign(model: OmniMoGenLM, old: MotionTokenizer, new: MotionTokenizer, features: list[np.ndarray],
            ridge: float = 1.0) -> RealignReport:  # fmt: skip
    """Refit ``model``'s code embeddings, conditioning and head rows (in place) from the codes of
    ``features`` (feature arrays of real clips, as ``Motion.features``) under the ``old`` and ``new`` tokenizers."""
    if model.config.layout != "grouped":
        raise ConfigError("realign works on the grouped layout (the shipped one), whose codes have their own tables.")
    L, K = model.vocab.levels, model.vocab.codebook_size
    if (L, K) != (new.config.num_levels, new.config.codebook_size):
        raise ConfigError(f"the model has {L} levels of {K} codes, the new tokenizer "
                          f"{new.config.num_levels} of {new.config.codebook_size}.")  # fmt: skip
    o, n = paired_codes(old, new, features)
    off = torch.arange(L) * K
    o, n = o + off, n + off  # row numbers in the (L*K, H) tables
    embed = model.code_embed.weight
    target = _step_sums(embed.float(), o)
    before = _relative_error(_step_sums(embed.float(), n), target)
    fitted = _ridge_fit(n, target, embed.float(), ridge)
    after = _relative_error(_step_sums(fitted, n), target)

    # code_cond: level l reads the sum over levels < l, so every prefix is a row of the fit.
    cond = model.code_cond.weight.float()
    masks = [torch.arange(L) < lvl for lvl in range(1, L)]
    prefix_new = torch.cat([n.masked_fill(~mk, -1) for mk in masks])
    prefix_old = torch.cat([o.masked_fill(~mk, -1) for mk in masks])
    cond_fitted = _ridge_fit(prefix_new, _step_sums(cond, prefix_old), cond, ridge)

    # head: each new code's row is the mean of the old rows of the codes it co-occurs with, level by level.
    weight, bias = model.code_head.weight.float(), model.code_head.bias.float()
    pairs = torch.zeros(L * K, L * K, dtype=torch.float64)
    pairs.view(-1).index_add_(0, (n * L * K + o).reshape(-1), torch.ones(n.numel(), dtype=torch.float64))
    seen = pairs.sum(1) > 0
    share = (pairs[seen] / pairs[seen].sum(1, keepdim=True)).float()
    head_w, head_b = weight.clone(), bias.clone()
    head_w[seen], head_b[seen] = share @ weight, share @ bias

    for param, value in ((model.code_embed.weight, fitted), (model.code_cond.weight, cond_fitted),
                         (model.code_head.weight, head_w), (model.code_head.bias, head_b)):  # fmt: skip
        param.copy_(value.to(param.dtype))
    same = [float((o[:, lvl] == n[:, lvl]).float().mean()) for lvl in range(L)]
    return RealignReport(len(features), len(o), [round(s, 4) for s in same], round(before, 4), round(after, 4))


def _relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return float(((got - want).norm(dim=1) / want.norm(dim=1).clamp(min=1e-8)).mean())


def training_features(corpus: str | Path | list, clips: int, seed: int = 0) -> list[np.ndarray]:
    """The features of ``clips`` training clips of the corpus (all of them when fewer), a seeded sample."""
    data = Corpus(corpus)
    train = sorted((c for cells in data.cells("train").values() for c in cells), key=lambda c: c.id)
    if not train:
        raise ConfigError(f"{data.name}: no training clips to pair the tokenizers' codes on.")
    picked = np.random.default_rng(seed).permutation(len(train))[:clips]
    return [data.features(train[i].id) for i in sorted(picked)]


def realign_model(model_dir: str | Path | None, tokenizer: str | Path, corpus: str | Path | list, out: str | Path,
                  clips: int = 800, ridge: float = 1.0) -> RealignReport:  # fmt: skip
    """The model of ``model_dir`` (None: the shipped one) moved onto ``tokenizer``'s codes, saved as a
    model folder at ``out`` (with that tokenizer in ``out/tokenizer`` and the report in ``out/realign.json``)."""
    from ..model.pipeline import DEFAULT_DIR, OmniMoGen

    model_dir, out = Path(model_dir or DEFAULT_DIR), Path(out)
    if not (model_dir / "config.json").is_file():
        raise ConfigError(f"{model_dir}: not a model folder (no config.json).")
    base = OmniMoGen.from_pretrained(model_dir, device="cpu")  # the model with the tokenizer it was trained on
    model, old, new = base.lm, base.tokenizer, load_tokenizer(tokenizer)
    if old.fingerprint() == new.fingerprint():
        raise ConfigError(f"{model_dir} already reads tokenizer {new.fingerprint()}; nothing to realign.")
    report = realign(model, old, new, training_features(corpus, clips), ridge)
    save_lm(model, out, new.fingerprint())  # each file written atomically
    new.save_pretrained(out / "tokenizer")
    with atomic_path(out / "realign.json") as tmp:
        tmp.write_text(json.dumps({"from": str(model_dir), "tokenizer": new.fingerprint(), **asdict(report)}, indent=1))
    return report


__all__ = ["RealignReport", "realign", "realign_model", "paired_codes", "training_features"]
