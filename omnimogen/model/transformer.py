"""One causal transformer over the unified vocabulary (a Hugging Face causal language model).

The default is a small Llama-style model initialised from scratch. In the ``grouped`` layout a
motion step enters as the sum of its level embeddings (added to the ``<step>`` token's) and leaves
through one head per level; level l's head also sees embeddings of the codes chosen for levels < l
(teacher-forced in training), so the levels of a step are predicted coarse to fine rather than
independently.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..checkpoint import config_from, load_weights, read_config, save_checkpoint
from ..errors import FormatError, OmnimogenError
from .vocab import Vocab


@dataclass(frozen=True)
class ModelConfig:
    layout: str = "grouped"  # "grouped" (one position per latent step) or "flat" (the paper's)
    base: str | None = None  # a local pretrained AutoModelForCausalLM folder; None: Llama-style from scratch
    lora_rank: int = 0  # > 0: train LoRA adapters on the base (plus the new embeddings and heads)
    hidden_size: int = 256  # the shipped default: 6 x 256, 8 M parameters (CPU-sized)
    layers: int = 6
    heads: int = 4
    intermediate_size: int = 768
    max_positions: int = 1024
    rope_theta: float = 10_000.0


@dataclass
class LMOutput:
    logits: torch.Tensor  # (B, T, V) next-token logits over the vocabulary
    hidden: torch.Tensor  # (B, T, H) last hidden states
    past_key_values: object | None = None
    loss: torch.Tensor | None = None  # when the forward pass was given a loss mask
    stats: dict | None = None
    logprobs: torch.Tensor | None = None  # (B, T - 1) when given a logprob mask: log p of each next token


class OmniMoGenLM(nn.Module):
    # The captions of the captioned clips the model was trained on (saved with it): requests in their
    # words are known to it (``understand.interpret``).
    known_captions: tuple[str, ...] = ()

    def __init__(self, config: ModelConfig, vocab: Vocab):
        super().__init__()
        if config.layout != vocab.layout:
            raise ValueError(f"model layout {config.layout!r} differs from the vocabulary's {vocab.layout!r}")
        self.config, self.vocab = config, vocab
        # Sampling settings the model is best used with (saved with it; ``SAMPLING_KEYS``), e.g.
        # {"temperature": 0.7}: what generation uses where the caller gives none.
        self.sampling: dict = {}
        # Generation uses the lean decoder (fast_llama) where it supports the model; False forces
        # the Hugging Face forward (for comparison or debugging).
        self.lean_decoding = True
        L, K = vocab.levels, vocab.codebook_size
        # The grouped layout never puts code tokens in ``ids``: the text-sized table suffices.
        vocab_size = vocab.text_size if config.layout == "grouped" else vocab.size
        self.lm = _pretrained(config, vocab_size) if config.base else _scratch(config, vocab, vocab_size)
        hidden = self.lm.get_input_embeddings().embedding_dim
        if config.layout == "grouped":
            self.code_embed = nn.Embedding(L * K, hidden)  # input: sum over levels
            self.code_cond = nn.Embedding(L * K, hidden)  # coarse-to-fine conditioning
            self.code_norm = nn.LayerNorm(hidden)
            self.code_head = nn.Linear(hidden, L * K)  # level l uses rows l*K .. (l+1)*K
            self.register_buffer("level_offsets", torch.arange(L) * K, persistent=False)

    # ---- the forward pass ------------------------------------------------------------------------

    def embed(self, ids: torch.Tensor, codes: torch.Tensor | None) -> torch.Tensor:
        x = self.lm.get_input_embeddings()(ids)  # (B, T, H)
        if codes is not None and self.config.layout == "grouped":
            step = codes[..., 0] >= 0  # (B, T)
            flat = (codes.clamp(min=0) + self.level_offsets).masked_fill(~step[..., None], 0)
            x = x + (self.code_embed(flat).sum(-2) * step[..., None])
        return x

    def forward(self, ids, codes=None, attention_mask=None, position_ids=None, past_key_values=None, use_cache=False,
                loss_mask=None, logprob_mask=None) -> LMOutput:  # fmt: skip
        """With ``loss_mask`` the output carries the training loss, with ``logprob_mask`` the log
        probability of each masked next token (both computed inside forward, so that DDP sees them)."""
        out = self.lm(
            inputs_embeds=self.embed(ids, codes),
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            use_cache=use_cache,
            output_hidden_states=True,
        )
        result = LMOutput(out.logits, out.hidden_states[-1], out.past_key_values if use_cache else None)
        if loss_mask is not None:
            result.loss, result.stats = self._loss(result, ids, loss_mask, codes)
        if logprob_mask is not None:
            result.logprobs = self._logprobs(result, ids, logprob_mask, codes)
        return result

    def _logprobs(self, out: LMOutput, ids, mask, codes) -> torch.Tensor:
        """(B, T - 1): log p(token t + 1 | tokens ..t) where ``mask[:, t + 1]``, else 0. A latent step
        of the grouped layout counts its ``<step>`` token and every level of its codes."""
        target, learn = ids[:, 1:], mask[:, 1:]
        logits = out.logits[:, :-1].float()
        lp = torch.log_softmax(logits, -1).gather(-1, target[..., None])[..., 0] * learn
        if self.config.layout != "grouped":
            return lp
        step = learn & (target == self.vocab.special["<step>"])
        if not step.any():
            return lp
        next_codes = codes[:, 1:][step]  # (N, L)
        levels = torch.log_softmax(self.code_logits(out.hidden[:, :-1][step], next_codes).float(), -1)  # (N, L, K)
        code_lp = levels.gather(-1, next_codes[..., None])[..., 0].sum(-1)  # (N,)
        return lp.masked_scatter(step, lp[step] + code_lp)

    def code_logits(self, hidden: torch.Tensor, prev_codes: torch.Tensor) -> torch.Tensor:
        """Level logits (..., L, K) of the next step, from hidden (..., H) and that step's codes
        (..., L) for teacher forcing (only levels < l condition level l; -1 entries are ignored)."""
        L, K = self.vocab.levels, self.vocab.codebook_size
        cond = self.code_cond(prev_codes.clamp(min=0) + self.level_offsets) * (prev_codes >= 0)[..., None]
        # level l sees the sum of the embeddings of levels 0..l-1
        shifted = torch.cumsum(cond, dim=-2) - cond  # (..., L, H)
        h = self.code_norm(hidden[..., None, :] + shifted)
        weight = self.code_head.weight.view(L, K, -1)
        bias = self.code_head.bias.view(L, K)
        return torch.einsum("...lh,lkh->...lk", h, weight) + bias

    def level_logits(self, hidden: torch.Tensor, cond: torch.Tensor, level: int) -> torch.Tensor:
        """One level's logits (..., K), as ``code_logits`` computes them, from hidden (..., H) and
        ``cond``: the sum of ``code_cond`` of the codes chosen on the coarser levels (zeros for level 0).
        Sampling builds ``cond`` up level by level, so each level costs one small product."""
        K = self.vocab.codebook_size
        rows = slice(level * K, (level + 1) * K)
        return F.linear(self.code_norm(hidden + cond), self.code_head.weight[rows], self.code_head.bias[rows])

    def loss(self, ids, loss_mask, codes=None, attention_mask=None) -> tuple[torch.Tensor, dict]:
        """Next-token cross-entropy on the assistant's tokens (and its motion codes)."""
        out = self(ids, codes, attention_mask=attention_mask, loss_mask=loss_mask)
        return out.loss, out.stats

    def _loss(self, out: LMOutput, ids, loss_mask, codes) -> tuple[torch.Tensor, dict]:
        target, learn = ids[:, 1:], loss_mask[:, 1:]
        logits = out.logits[:, :-1]
        token_loss = F.cross_entropy(logits[learn], target[learn]) if learn.any() else logits.sum() * 0
        stats = {"token_loss": float(token_loss.detach())}
        if self.config.layout != "grouped":
            return token_loss, stats
        step = learn & (target == self.vocab.special["<step>"])  # (B, T-1)
        if not step.any():
            # Touch the code modules with zero weight: DDP waits for a gradient of every parameter.
            idle = self.code_logits(out.hidden[:1, 0], torch.zeros_like(ids[:1, :1]).expand(1, self.vocab.levels))
            return token_loss + 0.0 * idle.sum(), stats
        next_codes = codes[:, 1:][step]  # (N, L)
        level_logits = self.code_logits(out.hidden[:, :-1][step], next_codes)  # (N, L, K)
        code_loss = F.cross_entropy(level_logits.reshape(-1, self.vocab.codebook_size), next_codes.reshape(-1))
        stats["code_loss"] = float(code_loss.detach())
        # Weigh a step like the L tokens it replaces, so both layouts put the same weight on motion.
        n_tokens, n_steps = int(learn.sum()), int(step.sum())
        loss = (token_loss * n_tokens + code_loss * n_steps * self.vocab.levels) / (
            n_tokens + n_steps * self.vocab.levels
        )
        return loss, stats


LM_FILES = ("config.json", "model.safetensors", "vocab.json", "text_tokenizer.json")


def save_lm(model: OmniMoGenLM, directory: str | Path, tokenizer_fingerprint: str | None = None,
            half: bool = False) -> None:  # fmt: skip
    """``config.json`` + ``model.safetensors`` + the vocabulary files, each written atomically.
    ``tokenizer_fingerprint`` (``MotionTokenizer.fingerprint()``) names the tokenizer whose codes
    the model was trained on; ``half`` stores the weights in float16 (loading casts them back).
    ``model.known_captions`` (the captions of the captioned clips it was trained on) go in too."""
    model.vocab.save(directory)
    config = {**asdict(model.config), "tokenizer": tokenizer_fingerprint}
    if model.known_captions:
        config["captions"] = list(model.known_captions)
    if model.sampling:
        config["sampling"] = check_sampling(model.sampling, directory)
    save_checkpoint(directory, "omnimogen.lm", config, model, half=(lambda name: True) if half else None)


def load_lm(directory: str | Path) -> OmniMoGenLM:
    """The model of ``directory``; ``.tokenizer_fingerprint`` is the tokenizer it was trained on (or None),
    ``.known_captions`` the captions of the captioned clips it was trained on."""
    directory = Path(directory)
    doc = read_config(directory, "omnimogen.lm", LM_FILES)
    model = OmniMoGenLM(config_from(doc, ModelConfig, directory), Vocab.load(directory))
    load_weights(model, directory / "model.safetensors")
    model.tokenizer_fingerprint = doc.get("tokenizer")
    captions = doc.get("captions", [])
    if not isinstance(captions, list) or not all(isinstance(c, str) and c.strip() for c in captions):
        raise FormatError(f"{directory / 'config.json'}: 'captions' must be a list of captions.")
    model.known_captions = tuple(captions)
    model.sampling = check_sampling(doc.get("sampling", {}), directory)
    return model.eval()


SAMPLING_KEYS = ("temperature", "text_temperature", "top_k", "top_p", "guidance", "style_guidance")  # what a model's config.json may set


def check_sampling(sampling, directory: str | Path) -> dict:
    """A model's sampling defaults, checked as generation would check them (a FormatError names the file)."""
    from .generate import SamplingOptions  # generate imports this module

    where = Path(directory) / "config.json"
    if not isinstance(sampling, dict) or set(sampling) - set(SAMPLING_KEYS):
        raise FormatError(f"{where}: 'sampling' must map some of {', '.join(SAMPLING_KEYS)} to values.")
    try:
        SamplingOptions(**sampling)
    except OmnimogenError as e:
        raise FormatError(f"{where}: sampling: {e}") from None
    return dict(sampling)


def sampling_defaults(directory: str | Path) -> dict:
    """The sampling defaults saved with the model in ``directory``, read without loading its weights."""
    return check_sampling(read_config(directory, "omnimogen.lm", LM_FILES).get("sampling", {}), directory)


def _scratch(config: ModelConfig, vocab: Vocab, vocab_size: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    return LlamaForCausalLM(
        LlamaConfig(
            vocab_size=vocab_size,
            hidden_size=config.hidden_size,
            intermediate_size=config.intermediate_size,
            num_hidden_layers=config.layers,
            num_attention_heads=config.heads,
            num_key_value_heads=config.heads,
            max_position_embeddings=config.max_positions,
            rope_theta=config.rope_theta,
            tie_word_embeddings=True,
            pad_token_id=vocab.special["<pad>"],
            bos_token_id=vocab.special["<bos>"],
            eos_token_id=vocab.special["<eoa>"],
        )
    )


def _pretrained(config: ModelConfig, vocab_size: int):
    """A local pretrained causal LM with its embeddings resized for our tokens, optionally with LoRA."""
    from transformers import AutoModelForCausalLM

    lm = AutoModelForCausalLM.from_pretrained(config.base, local_files_only=True)
    lm.resize_token_embeddings(vocab_size)
    if config.lora_rank > 0:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(
            r=config.lora_rank,
            lora_alpha=2 * config.lora_rank,
            target_modules="all-linear",
            modules_to_save=["embed_tokens", "lm_head"],  # the new rows must train in full
        )
        lm = get_peft_model(lm, lora)
    return lm
