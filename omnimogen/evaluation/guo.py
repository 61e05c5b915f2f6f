"""The official HumanML3D text-motion evaluator of Guo et al. 2022, in a form that loads its weights.

Every text-to-motion paper since 2022 reports FID, R-precision, MM-Dist, Diversity and
MultiModality with the embeddings of one frozen model: the text-motion matching network of
"Generating Diverse and Natural 3D Human Motions from Texts" (repository
``EricGuo5513/text-to-motion``, checkpoint ``checkpoints/t2m/text_mot_match/model/finest.tar``).
To compare with those numbers we need that exact model, so this module rebuilds its three networks
with the same layer names and shapes (``networks/modules.py``: ``MovementConvEncoder``,
``TextEncoderBiGRUCo``, ``MotionEncoderBiGRUCo``) and the sizes its ``EvaluatorModelWrapper`` sets.
The weights are not ours to ship; researchers who have them load them with
:func:`load_guo_evaluator`.

Inputs, as the official evaluation pipeline prepares them:

- motions: 263-D HumanML3D features (251-D for KIT) normalised with the mean and std that ship with
  the evaluator (``checkpoints/t2m/Comp_v6_KLD01/meta/{mean,std}.npy``), *not* the dataset's
  ``Mean.npy`` / ``Std.npy``; the 4 foot-contact channels are dropped here, as the wrapper does.
- texts: per token a 300-D GloVe vector and a 15-way part-of-speech one-hot (the word vectorizer
  and ``glove/our_vab_*`` files of the same repository), at most 20 tokens with sos/eos.

Two differences from the wrapper, both on purpose: outputs keep the input order (the wrapper
sorts the batch by motion length and returns it sorted), and lengths need not be sorted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from ..errors import FormatError, MotionError

PARTS = ("movement_encoder", "text_encoder", "motion_encoder")  # sub-dicts of finest.tar


@dataclass(frozen=True)
class GuoConfig:
    """Sizes of the evaluator (the official values for HumanML3D; ``dim_pose=251`` for KIT-ML)."""

    dim_pose: int = 263
    dim_word: int = 300
    dim_pos_ohot: int = 15
    dim_text_hidden: int = 512
    dim_motion_hidden: int = 1024
    dim_coemb_hidden: int = 512
    dim_movement_enc_hidden: int = 512
    dim_movement_latent: int = 512
    unit_length: int = 4  # frames per movement latent step: two stride-2 convolutions


def _head(hidden: int, out: int) -> nn.Sequential:
    """The projection both BiGRU encoders share; indices 0, 1, 3 carry the checkpoint's weights."""
    return nn.Sequential(nn.Linear(2 * hidden, hidden), nn.LayerNorm(hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, out))


class MovementConvEncoder(nn.Module):
    """Pose features (B, T, D) -> movement latents (B, T // 4, latent), two stride-2 convolutions."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        super().__init__()
        # Dropout sits between the convolutions in the original; it keeps the Sequential indices
        # (main.0, main.3) that the checkpoint's keys name, and does nothing in eval mode.
        self.main = nn.Sequential(
            nn.Conv1d(input_size, hidden_size, 4, 2, 1),
            nn.Dropout(0.2),
            nn.LeakyReLU(0.2),
            nn.Conv1d(hidden_size, output_size, 4, 2, 1),
            nn.Dropout(0.2),
            nn.LeakyReLU(0.2),
        )
        self.out_net = nn.Linear(output_size, output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.main(x.transpose(1, 2)).transpose(1, 2)  # (B, T // 4, output_size)
        return self.out_net(h)


class _BiGRUCo(nn.Module):
    """A bidirectional GRU from a learned initial state; the co-embedding is its two last states."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        super().__init__()
        self.input_emb = nn.Linear(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True, bidirectional=True)
        self.output_net = _head(hidden_size, output_size)
        self.hidden = nn.Parameter(torch.zeros(2, 1, hidden_size))  # learned h0, one per direction

    def _encode(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        emb = self.input_emb(x)  # (B, L, hidden)
        packed = pack_padded_sequence(emb, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, last = self.gru(packed, self.hidden.expand(-1, x.shape[0], -1).contiguous())  # (2, B, hidden)
        return self.output_net(torch.cat([last[0], last[1]], dim=-1))  # (B, output_size)


class TextEncoderBiGRUCo(_BiGRUCo):
    """Word vectors plus part-of-speech embeddings (B, L, word) -> text co-embedding (B, out)."""

    def __init__(self, word_size: int, pos_size: int, hidden_size: int, output_size: int):
        super().__init__(word_size, hidden_size, output_size)
        self.pos_emb = nn.Linear(pos_size, word_size)

    def forward(self, word_embs: torch.Tensor, pos_ohot: torch.Tensor, cap_lens: torch.Tensor) -> torch.Tensor:
        return self._encode(word_embs + self.pos_emb(pos_ohot), cap_lens)


class MotionEncoderBiGRUCo(_BiGRUCo):
    """Movement latents (B, L, latent) with L valid steps per item -> motion co-embedding (B, out)."""

    def forward(self, movements: torch.Tensor, m_lens: torch.Tensor) -> torch.Tensor:
        return self._encode(movements, m_lens)


class GuoEvaluator(nn.Module):
    """The three networks of ``finest.tar`` under the checkpoint's own names."""

    def __init__(self, config: GuoConfig | None = None):
        super().__init__()
        c = self.config = config or GuoConfig()
        self.movement_encoder = MovementConvEncoder(c.dim_pose - 4, c.dim_movement_enc_hidden, c.dim_movement_latent)
        self.text_encoder = TextEncoderBiGRUCo(c.dim_word, c.dim_pos_ohot, c.dim_text_hidden, c.dim_coemb_hidden)
        self.motion_encoder = MotionEncoderBiGRUCo(c.dim_movement_latent, c.dim_motion_hidden, c.dim_coemb_hidden)

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.no_grad()
    def embed_motions(self, features, lengths) -> torch.Tensor:
        """Motion embeddings (B, 512) of normalised features (B, T, dim_pose) with valid frame counts (B,).

        Only the first ``lengths[i]`` frames matter, up to the convolution's reach of 2 frames past
        the end (as in the original). A length counts in whole latent steps of 4 frames.
        """
        c = self.config
        x = torch.as_tensor(features, dtype=torch.float32, device=self._device())
        if x.ndim != 3 or x.shape[-1] != c.dim_pose:
            raise MotionError(f"features must have shape (batch, frames, {c.dim_pose}), got {tuple(x.shape)}.")
        lens = torch.as_tensor(lengths, dtype=torch.long).reshape(-1)
        if len(lens) != len(x) or lens.min() < c.unit_length or lens.max() > x.shape[1]:
            raise MotionError(
                f"lengths must give, per motion, a frame count from {c.unit_length} to {x.shape[1]}; "
                f"got {lens.tolist()} for {len(x)} motions."
            )
        movements = self.movement_encoder(x[..., :-4])  # (B, T // 4, latent): contacts dropped
        return self.motion_encoder(movements, lens // c.unit_length)

    @torch.no_grad()
    def embed_texts(self, word_embs, pos_ohot, cap_lens) -> torch.Tensor:
        """Text embeddings (B, 512) of word vectors (B, L, 300) and POS one-hots (B, L, 15), lengths (B,)."""
        c = self.config
        device = self._device()
        w = torch.as_tensor(word_embs, dtype=torch.float32, device=device)
        p = torch.as_tensor(pos_ohot, dtype=torch.float32, device=device)
        if w.ndim != 3 or w.shape[-1] != c.dim_word or p.shape != (*w.shape[:2], c.dim_pos_ohot):
            raise ValueError(
                f"word_embs must be (batch, tokens, {c.dim_word}) and pos_ohot (batch, tokens, "
                f"{c.dim_pos_ohot}), got {tuple(w.shape)} and {tuple(p.shape)}."
            )
        lens = torch.as_tensor(cap_lens, dtype=torch.long).reshape(-1)
        if len(lens) != len(w) or lens.min() < 1 or lens.max() > w.shape[1]:
            raise ValueError(
                f"cap_lens must give, per text, a token count from 1 to {w.shape[1]}; got {lens.tolist()}."
            )
        return self.text_encoder(w, p, lens)


def _check_part(name: str, module: nn.Module, state: object, path: Path) -> None:
    """Raise a FormatError naming the first key that is missing, extra or of another shape."""
    if not isinstance(state, dict):
        raise FormatError(
            f"{path}: no {name!r} state dict; expected the layout of t2m/text_mot_match/model/finest.tar."
        )
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise FormatError(
            f"{path}: {name} has missing keys {missing[:3]} and unexpected keys {extra[:3]}; "
            "is this the Guo et al. text-motion matching checkpoint?"
        )
    for key, shape in expected.items():
        got = tuple(getattr(state[key], "shape", ()))
        if got != shape:
            raise FormatError(
                f"{path}: {name}.{key} has shape {got}, the evaluator expects {shape}; "
                "check GuoConfig (dim_pose=251 for KIT-ML)."
            )


def load_guo_evaluator(
    path: str | Path, config: GuoConfig | None = None, device: str | torch.device = "cpu"
) -> GuoEvaluator:
    """Load the official evaluator checkpoint (``finest.tar``) into a :class:`GuoEvaluator` in eval mode.

    The file is a ``torch.save`` dict with the state dicts ``movement_encoder``, ``text_encoder`` and
    ``motion_encoder`` (plus ``epoch`` and optimizer states, which are ignored). It is read with
    ``weights_only=True``: no code in the file runs.
    """
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: no such file; the evaluator is t2m/text_mot_match/model/finest.tar.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # any unreadable file is the same user error
        raise FormatError(f"{path}: not a torch checkpoint ({type(e).__name__}: {e}).") from None
    if not isinstance(ckpt, dict):
        raise FormatError(f"{path}: expected a dict with {', '.join(PARTS)}, got {type(ckpt).__name__}.")
    model = GuoEvaluator(config)
    for name in PARTS:
        part = getattr(model, name)
        _check_part(name, part, ckpt.get(name), path)
        part.load_state_dict(ckpt[name])
    return model.to(device).eval().requires_grad_(False)
