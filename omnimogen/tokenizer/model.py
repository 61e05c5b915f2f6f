"""The motion tokenizer: a 1-D convolutional encoder/decoder around a residual vector quantizer.

    features (B, T, D) -> encoder -> latents (B, T/4, C) -> RVQ -> codes (B, T/4, L) -> decoder -> (B, T, D)

Level 0 quantizes the latent, each next level the residual the previous ones left. Quantizer
dropout during training (vector-quantize-pytorch's ``quantize_dropout``) keeps every prefix of
levels decodable, so ``decode(codes, levels=k)`` gives a coarser but usable motion.
The architecture follows MoMask (Guo et al., CVPR 2024): dilated residual blocks, x4 downsampling.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from vector_quantize_pytorch import ResidualVQ

from ..checkpoint import check_normalizer, config_from, load_weights, read_config, save_checkpoint
from ..device import module_device
from ..errors import FormatError, MotionError
from ..motion import FPS, SMPL22, Motion, Normalizer, Skeleton


@dataclass(frozen=True)
class TokenizerConfig:
    input_dim: int = 263  # feature width of the skeleton
    width: int = 512  # channels of the conv stacks
    code_dim: int = 512  # dimension of a code vector
    num_levels: int = 6  # L, residual quantizer levels
    codebook_size: int = 512  # codes per level
    down_t: int = 2  # number of x2 temporal downsamplings (x4 overall)
    depth: int = 3  # residual blocks per resolution
    dilation_growth: int = 3
    ema_decay: float = 0.99
    commitment_weight: float = 0.02
    dead_code_threshold: float = 2.0  # EMA usage under which a code is reset to a batch latent
    quantize_dropout: float = 0.2  # probability that a training batch drops all levels above a random one

    @property
    def downsample(self) -> int:
        return 2**self.down_t


PRESETS = {
    # The paper's configuration (Bu et al.): 6 levels x 512 codes, code dimension 512.
    "paper": TokenizerConfig(),
    # The shipped default: the paper's quantizer on a narrower network that trains on a CPU.
    "cpu": TokenizerConfig(width=256, code_dim=256),
    # For tests.
    "tiny": TokenizerConfig(width=32, code_dim=16, num_levels=3, codebook_size=32, depth=1),
}


class ResBlock(nn.Module):
    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.conv1 = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(width, width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


def _res_stack(width: int, depth: int, growth: int, reverse: bool) -> nn.Sequential:
    dilations = [growth**i for i in range(depth)]
    return nn.Sequential(*[ResBlock(width, d) for d in (dilations[::-1] if reverse else dilations)])


class Encoder(nn.Module):
    def __init__(self, c: TokenizerConfig):
        super().__init__()
        layers = [nn.Conv1d(c.input_dim, c.width, 3, padding=1), nn.ReLU()]
        for _ in range(c.down_t):
            layers += [
                nn.Conv1d(c.width, c.width, 4, stride=2, padding=1),
                _res_stack(c.width, c.depth, c.dilation_growth, False),
            ]
        layers.append(nn.Conv1d(c.width, c.code_dim, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, D, T) -> (B, C, T/4)
        return self.net(x)


class Decoder(nn.Module):
    def __init__(self, c: TokenizerConfig):
        super().__init__()
        layers = [nn.Conv1d(c.code_dim, c.width, 3, padding=1), nn.ReLU()]
        for _ in range(c.down_t):
            layers += [
                _res_stack(c.width, c.depth, c.dilation_growth, True),
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv1d(c.width, c.width, 3, padding=1),
            ]
        layers += [
            nn.Conv1d(c.width, c.width, 3, padding=1),
            nn.ReLU(),
            nn.Conv1d(c.width, c.input_dim, 3, padding=1),
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, C, T/4) -> (B, D, T)
        return self.net(z)


@dataclass
class TokenizerOutput:
    reconstruction: torch.Tensor  # (B, T, D) normalised features
    codes: torch.Tensor  # (B, T/4, L), -1 where quantizer dropout removed a level
    commit_loss: torch.Tensor  # scalar


class MotionTokenizer(nn.Module):
    """Normalised features <-> codes. ``encode``/``decode`` take and give ``Motion`` objects."""

    def __init__(self, config: TokenizerConfig, normalizer: Normalizer, skeleton: Skeleton = SMPL22):
        super().__init__()
        if config.input_dim != skeleton.feature_dim:
            raise ValueError(
                f"input_dim {config.input_dim} does not match the skeleton's feature width {skeleton.feature_dim}"
            )
        self.config = config
        self.skeleton = skeleton
        self.normalizer = normalizer
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.quantizer = ResidualVQ(
            dim=config.code_dim,
            num_quantizers=config.num_levels,
            codebook_size=config.codebook_size,
            decay=config.ema_decay,
            commitment_weight=config.commitment_weight,
            threshold_ema_dead_code=config.dead_code_threshold,
            quantize_dropout=config.quantize_dropout > 0,
            quantize_dropout_cutoff_index=0,
            kmeans_init=True,
            kmeans_iters=10,
        )

    # ---- tensors -------------------------------------------------------------------------------

    def forward(self, x: torch.Tensor, drop_levels: bool = False) -> TokenizerOutput:
        """x: (B, T, D) normalised features, T a multiple of the downsampling factor.

        ``drop_levels`` (training only) keeps the levels up to a random one and drops the rest. The
        library would drop on every batch; MoMask found dropping on 20% of batches better, so the
        caller flips the coin, with the same outcome on every process (the quantizer's collectives
        must match across DDP ranks).
        """
        z = self.encoder(x.transpose(1, 2)).transpose(1, 2)  # (B, T/4, C)
        self.quantizer.quantize_dropout = self.training and drop_levels
        q, codes, commit = self.quantizer(z)
        recon = self.decoder(q.transpose(1, 2)).transpose(1, 2)  # (B, T, D)
        return TokenizerOutput(recon, codes, commit.sum())

    @torch.no_grad()
    def encode_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) normalised features -> (B, ceil(T/4), L) codes; T is padded by repeating the last row."""
        pad = (-x.shape[1]) % self.config.downsample
        if pad:
            x = torch.cat([x, x[:, -1:].expand(-1, pad, -1)], dim=1)
        z = self.encoder(x.transpose(1, 2)).transpose(1, 2)
        _, codes, _ = self.quantizer(z)
        return codes

    @torch.no_grad()
    def decode_tensor(self, codes: torch.Tensor, levels: int | None = None) -> torch.Tensor:
        """(B, S, L) codes -> (B, 4S, D) normalised features, using the first ``levels`` levels."""
        levels = self.config.num_levels if levels is None else levels
        codes = codes.clone()
        codes[..., levels:] = -1  # the quantizer skips levels marked -1
        q = self.quantizer.get_output_from_indices(codes)  # (B, S, C)
        return self.decoder(q.transpose(1, 2)).transpose(1, 2)

    # ---- motions -------------------------------------------------------------------------------

    def encode(self, motion: Motion) -> np.ndarray:
        """A motion -> integer codes (ceil((frames - 1) / 4), L). Any length of at least 2 frames."""
        if not isinstance(motion, Motion):
            raise MotionError(f"encode takes a Motion (Motion.load, Motion.from_joints), not {type(motion).__name__}.")
        f = motion.features  # (T, D) at 20 fps
        if len(f) < self.config.downsample:
            raise MotionError(
                f"the motion has {motion.num_frames} frames; the tokenizer needs at least "
                f"{self.config.downsample + 1} (one latent step, {self.config.downsample / FPS:.2f} s)."
            )
        if f.shape[1] != self.config.input_dim:
            raise MotionError(
                f"the motion has {f.shape[1]} features per frame; this tokenizer takes {self.config.input_dim}."
            )
        x = torch.from_numpy(self.normalizer.normalize(f)).float()[None].to(module_device(self))
        self.eval()
        return self.encode_tensor(x)[0].cpu().numpy().astype(np.int64)

    def decode(self, codes, levels: int | None = None, length: int | None = None) -> Motion:
        """Codes (S, L) -> a motion of ``4 S + 1`` frames (or ``length`` frames when given, at most that).

        ``levels=k`` uses only the first k levels (1 = coarsest).
        """
        codes = self.check_codes(codes)
        levels = self.config.num_levels if levels is None else levels
        if not 1 <= levels <= self.config.num_levels:
            raise MotionError(f"levels must be between 1 and {self.config.num_levels}, got {levels}.")
        self.eval()
        x = self.decode_tensor(torch.from_numpy(codes)[None].to(module_device(self)), levels)[0]
        f = self.normalizer.denormalize(x.float().cpu().numpy())
        if length is not None:
            if not 2 <= length <= len(f) + 1:
                raise MotionError(
                    f"length must be between 2 and {len(f) + 1} frames for {len(codes)} steps, got {length}."
                )
            f = f[: length - 1]
        return Motion.from_features(f, skeleton=self.skeleton)

    def check_codes(self, codes) -> np.ndarray:
        c = np.asarray(codes)
        if c.ndim != 2 or c.shape[1] != self.config.num_levels:
            raise MotionError(f"codes must have shape (steps, {self.config.num_levels}), got {c.shape}.")
        if len(c) == 0:
            raise MotionError("codes are empty: a motion needs at least one latent step.")
        if not np.issubdtype(c.dtype, np.integer):
            if not np.all(np.mod(c, 1) == 0):
                raise MotionError("codes must be integers.")
            c = c.astype(np.int64)
        if c.min() < 0 or c.max() >= self.config.codebook_size:
            raise MotionError(f"codes must lie in [0, {self.config.codebook_size}), found {c.min()}..{c.max()}.")
        return c.astype(np.int64)

    # ---- checkpoints ---------------------------------------------------------------------------

    FILES = ("config.json", "model.safetensors", "Mean.npy", "Std.npy")

    def fingerprint(self) -> str:
        """A short hash of what gives the codes their meaning (config, normaliser, codebooks): a model
        trained on this tokenizer's codes records it, and refuses a tokenizer with another."""
        import hashlib

        h = hashlib.sha256(json.dumps(asdict(self.config), sort_keys=True).encode())
        h.update(np.asarray(self.normalizer.mean, dtype=np.float32).tobytes())
        h.update(np.asarray(self.normalizer.std, dtype=np.float32).tobytes())
        for name, t in sorted(self.quantizer.state_dict().items()):
            if name.endswith("embed"):  # the codebooks (float32 even in half-precision checkpoints)
                h.update(name.encode())
                h.update(t.detach().float().cpu().numpy().tobytes())
        return h.hexdigest()[:16]

    def save_pretrained(self, directory: str | Path, half: bool = False) -> None:
        """``config.json`` + ``model.safetensors`` + ``Mean.npy``/``Std.npy``, each written atomically.

        ``half`` stores the encoder, decoder and EMA accumulators in float16 and keeps the codebooks
        in float32 (the shipped default: 14.9 MB instead of 26.6; measured on test clips, 99.93% of
        codes unchanged and decoded joints within 1.3 mm).
        """
        config = {"skeleton": self.skeleton.name, **asdict(self.config)}
        to_half = (
            (lambda name: name.startswith(("encoder.", "decoder.")) or name.endswith("embed_avg")) if half else None
        )
        save_checkpoint(directory, "omnimogen.tokenizer", config, self, self.normalizer, to_half)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> MotionTokenizer:
        directory = Path(directory)
        doc = read_config(directory, "omnimogen.tokenizer", cls.FILES)
        config = config_from(doc, TokenizerConfig, directory)
        normalizer = Normalizer.load(directory)
        check_normalizer(directory, normalizer, config.input_dim)
        model = cls(config, normalizer)
        load_weights(model, directory / "model.safetensors")
        return model.eval()


DEFAULT_DIR = Path(__file__).resolve().parent.parent / "assets" / "tokenizer"


def load_tokenizer(path: str | Path | None = None) -> MotionTokenizer:
    """The tokenizer shipped with the package, or one saved with ``save_pretrained`` at ``path``."""
    if path is None:
        if not (DEFAULT_DIR / "config.json").is_file():
            raise FormatError(f"{DEFAULT_DIR}: this install ships no default tokenizer; pass a path to a trained one.")
        path = DEFAULT_DIR
    return MotionTokenizer.from_pretrained(path)


def num_steps(frames: int, downsample: int = 4) -> int:
    """Latent steps for a motion of ``frames`` frames (``frames - 1`` feature rows)."""
    return math.ceil((frames - 1) / downsample)
