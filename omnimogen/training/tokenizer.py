"""Train the motion tokenizer: ``omnimogen train tokenizer --data DATASET --out RUN``.

Runs on one process or many (``accelerate launch`` / ``torchrun``: DDP, gloo on CPU), resumes from
the run's last complete checkpoint, validates MPJPE and codebook usage, and keeps the best model
in ``RUN/best`` as a tokenizer directory (``MotionTokenizer.from_pretrained(RUN/best)``).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data.dataset import MotionDataset
from ..device import module_device
from ..evaluation.metrics import ANKLES_AND_TOES, physical_score
from ..motion import FPS, WINDOW_ROWS, Normalizer, features_to_joints
from ..tokenizer import PRESETS, MotionTokenizer, TokenizerConfig
from .common import ConfigError, start_run, train_loop


@dataclass
class TokenizerTrainConfig:
    preset: str = "cpu"  # a name in omnimogen.tokenizer.PRESETS; ``model`` overrides its fields
    model: dict = field(default_factory=dict)
    steps: int = 40_000
    batch_size: int = 64
    window: int = 48  # feature rows per training window (2.4 s); 64 would drop 38% of the Bandai clips
    lr: float = 2e-4
    warmup_steps: int = 1_000
    lr_decay_at: tuple = (0.6, 0.85)  # fractions of ``steps`` where the rate drops x10
    joint_weight: float = 1.0  # L1 on joint positions (metres) next to the feature loss
    # MDM's foot-contact loss: the mean horizontal speed (m/s) of the reconstruction's ankles and toes
    # on the frames where the real ones are planted (``planted_feet``). Without it the decoder lets
    # planted feet drift a little every frame: stage 3's reconstructions of the Bandai test clips scored
    # Physical 0.957 against the clips' 0.991, a ceiling for any model on its codes (stage 4 used 0.3,
    # stage 5 0.6 with ``contact_margin`` 0.075).
    contact_weight: float = 0.0
    # Speed (m/s) a planted foot may keep for free under the contact loss: 0 prices every bit of creep
    # (MDM); the Physical score's own tolerance, 0.075, prices only what the score sees and leaves the
    # decoder free to follow a real pivot's small slide.
    contact_margin: float = 0.0
    # How far (metres) the reconstruction's ankles and toes sink below ``PLANTED_HEIGHT`` on frames where
    # the real ones are above it: a swinging foot that skims the floor reads as a sliding contact (stage 6: 10).
    clearance_weight: float = 0.0
    seed: int = 0
    val_every: int = 2_000
    ckpt_every: int = 500
    log_every: int = 50
    val_clips: int = 300  # validation clips (all when fewer)
    num_threads: int | None = None  # torch threads per process
    device: str = "auto"  # "auto": CUDA when there is one; "cpu" forces the CPU
    mixed_precision: str = "auto"  # "auto": bfloat16 on a GPU, full precision on the CPU; "no", "bf16", "fp16"
    # Fine-tuning: start from a saved tokenizer (its config and normaliser replace preset/model), and
    # with ``decoder_only`` train only the decoder: encoder and codebooks stay frozen, so every motion
    # keeps its codes and a model trained on them stays valid (the fingerprint does not change).
    init_from: str | None = None
    decoder_only: bool = False
    # With ``init_from``: before training, refit these levels' codebooks (0-based) by k-means on the
    # training set's residuals, reseeding rarely used codes, then train as configured (usually
    # ``decoder_only``). This changes those levels' codes, so a model trained on the old ones is invalid.
    refit_levels: tuple = ()
    refit_min_count: int = 10  # a code with fewer training vectors than this is reseeded
    # Several corpora (train_tokenizer's ``data`` as a list, ``--data A --data B``): the share of the
    # training windows each one gets, in order (None: as many as it has). Splits stay each corpus's own.
    data_weights: tuple | None = None
    # Clips shorter than ``window`` (but at least ``LOOP_MIN_ROWS``) are repeated end to end to fill it
    # rather than left out: one-cycle clips such as DeepMimic's skills (a 1.5 s kick, a 2.7 s
    # cartwheel) are otherwise never seen. The seam is one more transition to reconstruct.
    loop_short: bool = False

    def model_config(self) -> TokenizerConfig:
        if self.preset not in PRESETS:
            raise ConfigError(f"preset {self.preset!r} is not one of {', '.join(PRESETS)}.")
        names = {f.name for f in dataclasses.fields(TokenizerConfig)}
        bad = set(self.model) - names
        if bad:
            raise ConfigError(f"unknown model setting(s) {', '.join(sorted(bad))}; known: {', '.join(sorted(names))}.")
        return dataclasses.replace(PRESETS[self.preset], **self.model)


class Windows(torch.utils.data.Dataset):
    """Every ``window``-row slice of every clip at least that long, normalised. With ``repeats`` (one per
    clip), a clip's slices appear that many times: how several corpora get their share."""

    def __init__(self, clips: list[np.ndarray], window: int, repeats: list[int] | None = None):
        keep = [k for k, c in enumerate(clips) if len(c) >= window]
        self.clips = [torch.from_numpy(clips[k]).float() for k in keep]
        times = [1 if repeats is None else repeats[k] for k in keep]
        self.index = [(i, s) for i, c in enumerate(self.clips) for _ in range(times[i]) for s in range(len(c) - window + 1)]
        self.window = window

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k: int) -> torch.Tensor:
        i, s = self.index[k]
        return self.clips[i][s : s + self.window]


LOOP_MIN_ROWS = 16  # 0.8 s: a shorter clip is too little of a motion to repeat


def loop_to(features: np.ndarray, rows: int) -> np.ndarray:
    """``features`` repeated end to end until they are at least ``rows`` long (unchanged when they are)."""
    return features if len(features) >= rows else np.concatenate([features] * -(-rows // len(features)))


def corpus_repeats(corpora: list[list[np.ndarray]], window: int, weights) -> list[int] | None:
    """How many times each clip's windows are listed so that corpus k gets about ``weights[k]`` of the
    training windows (one entry per clip, corpora in order); None for one corpus and no weights."""
    if weights is None:
        return None
    if len(weights) != len(corpora) or any(not w > 0 for w in weights):
        raise ConfigError(f"data_weights needs one positive weight per corpus ({len(corpora)}), not {list(weights)}.")
    counts = [sum(max(0, len(c) - window + 1) for c in clips) for clips in corpora]
    if not all(counts):
        raise ConfigError(f"a corpus has no training clip of {window} frames; lower the window or leave it out.")
    share = [w / sum(weights) for w in weights]
    # the most over-represented corpus is listed once; the others as often as their share asks
    unit = max(n / s for n, s in zip(counts, share, strict=True))
    times = [max(1, round(s * unit / n)) for n, s in zip(counts, share, strict=True)]
    return [t for clips, t in zip(corpora, times, strict=True) for _ in clips]


def _lr_lambda(cfg: TokenizerTrainConfig):
    def f(step: int) -> float:
        warm = min(1.0, (step + 1) / max(1, cfg.warmup_steps))
        return warm * 0.1 ** sum(step >= frac * cfg.steps for frac in cfg.lr_decay_at)

    return f


PLANTED_HEIGHT = 0.05  # metres: a foot joint below this on two frames, as the Physical score reads contact,
PLANTED_SPEED = 0.2  # m/s: and slower than this horizontally, is planted (a real pivot slides a little)


def planted_feet(joints: torch.Tensor, feet=ANKLES_AND_TOES, fps: float = FPS) -> tuple[torch.Tensor, torch.Tensor]:
    """``(planted, speed)``, both (..., T - 1, 4), of joints (..., T, J, 3): whether each ankle and toe is
    planted between consecutive frames, and its horizontal speed in m/s."""
    p = joints[..., list(feet), :]
    speed = torch.linalg.vector_norm(torch.diff(p[..., [0, 2]], dim=-3), dim=-1) * fps
    low = p[..., 1] < PLANTED_HEIGHT
    return low[..., :-1, :] & low[..., 1:, :] & (speed < PLANTED_SPEED), speed


def reconstruction_loss(model: MotionTokenizer, x: torch.Tensor, recon: torch.Tensor, joint_weight: float,
                        contact_weight: float = 0.0, contact_margin: float = 0.0,
                        clearance_weight: float = 0.0):  # fmt: skip
    """Smooth L1 on normalised features plus L1 on joint positions recovered from both (metres), plus
    ``contact_weight`` times the mean speed (m/s) above ``contact_margin`` of the reconstruction's feet
    where the real ones are planted, plus ``clearance_weight`` times how far (metres) its feet are below
    ``PLANTED_HEIGHT`` where the real ones are above it. Returns the loss and the joint L1."""
    feat = F.smooth_l1_loss(recon, x)
    if joint_weight == 0 and contact_weight == 0 and clearance_weight == 0:
        return feat, torch.zeros(())
    denorm = model.normalizer.denormalize
    got, real = features_to_joints(denorm(recon), model.skeleton), features_to_joints(denorm(x), model.skeleton)
    joints = F.l1_loss(got, real)
    loss = feat + joint_weight * joints
    if contact_weight:
        planted, _ = planted_feet(real)
        _, speed = planted_feet(got)
        creep = (speed - contact_margin).clamp(min=0)
        loss = loss + contact_weight * (creep * planted).sum() / planted.sum().clamp(min=1)
    if clearance_weight:
        feet = list(ANKLES_AND_TOES)
        up = real[..., feet, 1] >= PLANTED_HEIGHT
        skim = (PLANTED_HEIGHT - got[..., feet, 1]).clamp(min=0)
        loss = loss + clearance_weight * (skim * up).sum() / up.sum().clamp(min=1)
    return loss, joints


@torch.no_grad()
def evaluate(model: MotionTokenizer, clips: list[np.ndarray], levels: int | None = None, max_rows: int = WINDOW_ROWS) -> dict:
    """MPJPE (mm, global and root-aligned), the Physical score of decode(encode(x)) (``physical``; the
    real clips' own in ``physical_real``) and per-level codebook usage.

    Clips are cut to their first ``max_rows`` rows (196: 9.8 s, HumanML3D's maximum, as the field
    evaluates): global positions integrate the root velocities, so their error grows with length.
    """
    model.eval()
    n = model.normalizer
    errs, aligned, all_codes, physical, physical_real = [], [], [], [], []
    by_second = defaultdict(list)  # global error of the frames in each second: the root drift grows
    device = module_device(model)
    for f in clips:
        f = f[:max_rows]
        x = torch.from_numpy(n.normalize(f)).float()[None].to(device)
        codes = model.encode_tensor(x)
        recon = model.decode_tensor(codes, levels)[0, : len(f)].float().cpu().numpy()
        j_true = features_to_joints(f)
        j_rec = features_to_joints(n.denormalize(recon))
        d = np.linalg.norm(j_rec - j_true, axis=-1)
        errs.append(d.reshape(-1))
        for second, rows in enumerate(np.array_split(d.mean(-1), np.arange(FPS, len(d), FPS))):
            by_second[second].append(rows)
        da = np.linalg.norm((j_rec - j_rec[:, :1]) - (j_true - j_true[:, :1]), axis=-1)
        aligned.append(da.reshape(-1))
        physical.append(physical_score(j_rec) if len(j_rec) > 1 else 1.0)
        physical_real.append(physical_score(j_true) if len(j_true) > 1 else 1.0)
        all_codes.append(codes[0].cpu().numpy())
    codes = np.concatenate(all_codes)  # (N, L)
    usage, perplexity = [], []
    for level in range(codes.shape[1]):
        counts = np.bincount(codes[:, level], minlength=model.config.codebook_size)
        p = counts / counts.sum()
        usage.append(float((counts > 0).mean()))
        perplexity.append(float(np.exp(-(p[p > 0] * np.log(p[p > 0])).sum())))
    return {
        "mpjpe_mm": float(np.concatenate(errs).mean() * 1000),
        "mpjpe_aligned_mm": float(np.concatenate(aligned).mean() * 1000),
        "usage": usage,
        "perplexity": perplexity,
        "physical": float(np.mean(physical)),
        "physical_real": float(np.mean(physical_real)),
        "mpjpe_mm_by_second": [float(np.concatenate(by_second[i]).mean() * 1000) for i in sorted(by_second)],
    }


@torch.no_grad()
def refit_codebooks(model: MotionTokenizer, clips: list[torch.Tensor], levels, min_count: int = 10,
                    iters: int = 20) -> dict:  # fmt: skip
    """Refit the codebooks of ``levels`` (0-based, coarse to fine) by Lloyd's k-means on the
    residuals that reach them over ``clips`` (normalised features), starting from the current
    codebook. A code with fewer than ``min_count`` vectors restarts at a member of one of the busiest
    codes, splitting it, so that codes sit where the data is dense and stay in use on unseen
    motions. Returns, per refitted level, the fraction of codes with at least ``min_count`` vectors.

    Our own loop, not scipy's kmeans2: reseeding rare codes is the point, and kmeans2 only warns
    about empty clusters.
    """
    model.eval()
    z = torch.cat([model.encoder(c.T[None]).transpose(1, 2)[0] for c in clips])  # (N, C) latents
    books = [layer._codebook for layer in model.quantizer.layers]
    usage = {}
    for level in sorted(levels):
        residual = z.clone()
        for book in books[:level]:  # what the coarser levels leave
            residual -= book.embed[0][torch.cdist(residual, book.embed[0]).argmin(-1)]
        book = books[level]
        centres = book.embed[0].clone()
        K = len(centres)
        gen = torch.Generator().manual_seed(level)
        for it in range(iters):
            dist = torch.cdist(residual, centres)
            nearest = dist.argmin(-1)
            counts = torch.bincount(nearest, minlength=K)
            sums = torch.zeros_like(centres).index_add_(0, nearest, residual)
            kept = counts >= min_count
            centres[kept] = sums[kept] / counts[kept, None]
            rare = (~kept).nonzero()[:, 0]
            if len(rare) and it < iters - 5:  # split the busiest codes: a rare one restarts at a member
                busiest = counts.topk(len(rare)).indices
                busiest = busiest[counts[busiest] >= 2 * min_count]  # big enough to split; the rest wait
                for code, big in zip(rare.tolist(), busiest.tolist(), strict=False):
                    members = (nearest == big).nonzero()[:, 0]
                    pick = torch.randint(len(members), (), generator=gen)
                    centres[code] = residual[members[pick]]
        counts = torch.bincount(torch.cdist(residual, centres).argmin(-1), minlength=K)
        book.embed[0] = centres
        book.cluster_size[0] = counts.float()
        book.embed_avg[0] = centres * counts[:, None].float()
        book.initted.fill_(True)
        usage[level] = float((counts >= min_count).float().mean())
    return usage


def train_tokenizer(data: str | Path | list, out: str | Path, cfg: TokenizerTrainConfig, progress: bool = True) -> dict:
    """Train (or resume) a tokenizer run on one corpus or several (a list; ``cfg.data_weights`` their
    shares). Returns the last validation record."""
    from accelerate.utils import set_seed

    acc, run = start_run(cfg, out)
    set_seed(cfg.seed, device_specific=False)  # same init on every rank; DDP keeps them equal

    if cfg.decoder_only and not cfg.init_from:
        raise ConfigError("decoder_only needs init_from: the tokenizer whose decoder to fine-tune.")
    base = MotionTokenizer.from_pretrained(cfg.init_from) if cfg.init_from else None
    corpora = [data] if isinstance(data, (str, Path)) else list(data)
    shortest = min(LOOP_MIN_ROWS, cfg.window) if cfg.loop_short else cfg.window
    train_sets = [[loop_to(c.features, cfg.window) for c in MotionDataset(d, "train", min_frames=shortest)]
                  for d in corpora]  # fmt: skip
    val_sets = [MotionDataset(d, "val", min_frames=8) for d in corpora]
    if base is not None:
        normalizer = base.normalizer
    elif len(corpora) == 1:
        normalizer = MotionDataset(corpora[0], "train").normalizer()
    else:  # the statistics of the combined training clips
        normalizer = Normalizer.fit([f for clips in train_sets for f in clips])
    clips = [normalizer.normalize(f) for clips in train_sets for f in clips]
    windows = Windows(clips, cfg.window, corpus_repeats(train_sets, cfg.window, cfg.data_weights))
    per_corpus = max(1, cfg.val_clips // len(corpora))
    val_clips = [v[i].features for v in val_sets for i in range(min(len(v), per_corpus))]
    if len(windows) == 0:
        raise ConfigError(f"{data}: no training clip has {cfg.window} frames; lower the window (--set window=N).")

    model = base if base is not None else MotionTokenizer(cfg.model_config(), normalizer)
    if cfg.refit_levels:
        if base is None:
            raise ConfigError("refit_levels needs init_from: the trained tokenizer whose codebooks to refit.")
        if not run.latest():  # on resume the checkpoint holds the refitted codebooks
            usage = refit_codebooks(model, windows.clips, cfg.refit_levels, cfg.refit_min_count)
            acc.print(f"refitted codebooks; share of codes with {cfg.refit_min_count}+ training vectors: {usage}")
    if cfg.decoder_only:
        for module in (model.encoder, model.quantizer):
            module.requires_grad_(False)
    trained = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trained, lr=cfg.lr, betas=(0.9, 0.99), weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg))
    model, opt, sched = acc.prepare(model, opt, sched)
    raw = acc.unwrap_model(model)

    recent_codes: list[torch.Tensor] = []

    def train_step(model, x, step):
        # One coin per step from a generator seeded by the step: identical on every rank, and on resume.
        coin = torch.rand((), generator=torch.Generator().manual_seed(cfg.seed * 7919 + step))
        if cfg.decoder_only:  # no EMA codebook updates or dead-code resets: the codes must not move
            raw.encoder.eval()
            raw.quantizer.eval()
        out = model(x, drop_levels=bool(coin < raw.config.quantize_dropout))
        loss, joint_l1 = reconstruction_loss(raw, x, out.reconstruction, cfg.joint_weight, cfg.contact_weight,
                                               cfg.contact_margin, cfg.clearance_weight)
        recent_codes[:] = (recent_codes + [out.codes.detach().reshape(-1, raw.config.num_levels)])[-20:]
        codes = torch.cat(recent_codes)
        size = raw.config.codebook_size
        use = [round(float((torch.bincount(c[c >= 0], minlength=size) > 0).float().mean()), 3) for c in codes.T]
        record = {"joint_mm": 1000 * float(joint_l1.detach()), "use_min": min(use), "usage": use}
        return loss + out.commit_loss, record

    def validate(step):
        if not val_clips:
            return None, {}
        val = evaluate(raw, val_clips)
        return val["mpjpe_mm"], val

    return train_loop(acc, run, cfg, model, opt, sched, windows, train_step=train_step, validate=validate,
                      save=raw.save_pretrained, name="tokenizer", progress=progress)  # fmt: skip
