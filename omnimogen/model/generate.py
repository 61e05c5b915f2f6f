"""Constrained, KV-cached sampling of an assistant turn.

Outside a motion span only text and structure tokens may be sampled; inside a span only motion
codes of the expected level (flat layout) or ``<step>``/``</mo>`` plus level-wise codes (grouped
layout). A span can be forced to an exact number of latent steps (length control). Randomness
comes from a ``torch.Generator`` passed in, never from the global seed. Within :func:`watching`, every
new token is reported to a callback, which may stop the generation by raising :class:`Cancelled`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import OmnimogenError, OptionError, check_number
from .fast_llama import LlamaDecoder
from .transformer import OmniMoGenLM
from .vocab import Rendered

MAX_TEMPERATURE = 100.0  # far past useful (1 is the model's own distribution; 50 is nearly uniform)
MAX_GUIDANCE = 20.0


@dataclass(frozen=True)
class SamplingOptions:
    temperature: float = 1.0  # 0: greedy
    text_temperature: float | None = None  # words (outside motion spans); None: ``temperature``
    top_k: int | None = None
    top_p: float | None = None
    max_new_tokens: int = 512
    motion_steps: int | None = None  # force every motion span to exactly this many latent steps
    max_motion_steps: int = 64  # a span is closed after this many steps (the training maximum)
    min_motion_steps: int = 1  # ... and not before this many (where the model decides the length)
    motion_only: bool = False  # the answer is exactly one motion (text-to-motion, an edit), no words
    words_only: bool = False  # the answer is words, no motion (a caption, an answer to a question)
    guidance: float = 1.0  # motion codes from unconditional + guidance x (conditional - unconditional) logits; 1: off
    style_guidance: float = 0.0  # + this x (conditional - the request without its style), where that is asked too

    def __post_init__(self):  # the one check of the sampling settings, for the CLI and the API alike
        check_number("temperature", self.temperature, 0, MAX_TEMPERATURE)
        if self.text_temperature is not None:
            check_number("text_temperature", self.text_temperature, 0, MAX_TEMPERATURE)
        if self.top_k is not None:
            check_number("top_k", self.top_k, 1, integer=True)
        if self.top_p is not None:
            check_number("top_p", self.top_p, 0, 1, above=True)
        check_number("max_new_tokens", self.max_new_tokens, 1, integer=True)
        if self.motion_steps is not None:
            check_number("motion_steps", self.motion_steps, 1, integer=True)
        check_number("max_motion_steps", self.max_motion_steps, 1, integer=True)
        check_number("min_motion_steps", self.min_motion_steps, 1, self.max_motion_steps, integer=True)
        check_number("guidance", self.guidance, 0, MAX_GUIDANCE)
        check_number("style_guidance", self.style_guidance, 0, MAX_GUIDANCE)
        if self.motion_only and self.words_only:
            raise OptionError("an answer cannot be a motion only and words only at once.")


class Cancelled(OmnimogenError):
    """A generation stopped because its watcher asked it to (a user cancelled, or a client went away)."""


# (token index in this pass, tokens the pass is expected to write) -> None; set by ``watching``
Watcher = Callable[[int, int], None]
_watcher: ContextVar[Watcher | None] = ContextVar("omnimogen_watcher", default=None)


@contextmanager
def watching(callback: Watcher) -> Iterator[None]:
    """Within the block (in this thread or task), each :func:`generate` call reports every token it
    writes as ``callback(index, expected)``: ``index`` counts from 0 in each call (a pass), ``expected``
    is the pass's likely length (exact for a motion of asked length, else its token budget). Raise
    :class:`Cancelled` from the callback to stop."""
    token = _watcher.set(callback)
    try:
        yield
    finally:
        _watcher.reset(token)


def report(index: int, expected: int) -> None:
    """Tell the watcher of this thread or task, if there is one, that token ``index`` of a pass is being
    written (what :func:`generate` does for every token); it may raise :class:`Cancelled`."""
    watch = _watcher.get()
    if watch is not None:
        watch(index, expected)


@dataclass
class Generated:
    ids: list[np.ndarray]  # per batch item: the new tokens (up to and including <eoa>)
    codes: list[np.ndarray | None] = field(default_factory=list)  # grouped layout: (T_new, L), -1 off steps
    finished: list[bool] = field(default_factory=list)  # reached <eoa> within the budget


def _sample(logits: torch.Tensor, allowed: torch.Tensor | None, opt: SamplingOptions, gen: torch.Generator | None,
            temperature: torch.Tensor | None = None):  # fmt: skip
    """logits (B, V), allowed (B, V) bool (None: everything) -> (B,) ids; ``temperature`` (B,)
    overrides ``opt.temperature`` per row (0: greedy)."""
    logits = logits.float() if allowed is None else logits.float().masked_fill(~allowed, float("-inf"))
    if temperature is None:  # one temperature for the batch: the per-level code sampling takes this path
        greedy = None
        if opt.temperature == 0:
            return logits.argmax(-1)
        logits = logits / opt.temperature
    else:
        t = temperature.to(logits.device).float()
        greedy = t == 0
        if bool(greedy.all()):
            return logits.argmax(-1)
        logits = logits / t.clamp(min=1e-6)[:, None]
    if opt.top_k:
        kth = torch.topk(logits, min(opt.top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if opt.top_p is not None and opt.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = torch.softmax(sorted_logits, -1)
        drop = probs.cumsum(-1) - probs > opt.top_p  # keep the smallest prefix reaching top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    probs = torch.softmax(logits, -1)
    if gen is not None and gen.device != probs.device:  # a seeded CPU generator: the same draw on any device
        sampled = torch.multinomial(probs.cpu(), 1, generator=gen).squeeze(-1).to(probs.device)
    else:
        sampled = torch.multinomial(probs, 1, generator=gen).squeeze(-1)
    # top-k and top-p keep each row's best token, so the argmax here is the greedy choice
    return sampled if greedy is None else torch.where(greedy, logits.argmax(-1), sampled)


class _Grammar:
    """Which token ids may follow, per batch item, as an assistant turn is written."""

    TEXT, NAME, MOTION, DONE = range(4)

    def __init__(self, model: OmniMoGenLM, batch: int, opt: SamplingOptions):
        v = model.vocab
        self.v, self.opt, self.layout = v, opt, v.layout
        self.state = [self.TEXT] * batch
        self.steps = [0] * batch  # latent steps in the current span
        self.pos = [0] * batch  # tokens in the current span (flat)
        self.name_len = [0] * batch
        self.spans = [0] * batch  # motion spans closed so far
        width = model.lm.get_input_embeddings().num_embeddings
        self.width = width
        self._masks: dict[tuple[str, ...], torch.Tensor] = {}
        sp = v.special
        text = torch.zeros(width, dtype=torch.bool)
        text[: v.text_size] = torch.from_numpy(v.text_token_mask())
        self.words_ok = text.clone()
        self.words_ok[sp["<eoa>"]] = True
        self.text_ok = self.words_ok.clone()
        for s in ("<mo>", "<name>"):
            self.text_ok[sp[s]] = True
        self.name_ok = text.clone()
        self.name_first = text.clone()
        self.name_ok[sp["<mo>"]] = True
        self.level_ok = []
        for level in range(v.levels):
            m = torch.zeros(width, dtype=torch.bool)
            if self.layout == "flat":
                lo, hi = v.level_range(level)
                m[lo:hi] = True
            self.level_ok.append(m)

    def _only(self, *names: str) -> torch.Tensor:
        """The (cached) mask allowing just these special tokens."""
        if names not in self._masks:
            m = torch.zeros(self.width, dtype=torch.bool)
            for s in names:
                m[self.v.special[s]] = True
            self._masks[names] = m
        return self._masks[names]

    def temperatures(self) -> torch.Tensor | None:
        """Per item: the text temperature while it writes words, the motion one inside a motion."""
        o = self.opt
        if o.text_temperature is None:
            return None
        return torch.tensor([o.text_temperature if s in (self.TEXT, self.NAME) else o.temperature for s in self.state])

    def allowed(self, i: int) -> torch.Tensor:
        st = self.state[i]
        if st == self.TEXT:
            if self.opt.motion_only:
                return self._only("<mo>") if self.spans[i] == 0 else self._only("<eoa>")
            return self.words_ok if self.opt.words_only else self.text_ok
        if st == self.NAME:
            return self.name_first if self.name_len[i] == 0 else self.name_ok
        if st == self.DONE:
            return self._only("<pad>")
        must_stop, may_stop = self._limits(i)
        if self.layout == "flat":
            level = self.pos[i] % self.v.levels
            if level == 0 and must_stop:
                return self._only("</mo>")
            return self.level_ok[level] | self._only("</mo>") if level == 0 and may_stop else self.level_ok[level]
        if must_stop:
            return self._only("</mo>")
        return self._only("<step>", "</mo>") if may_stop else self._only("<step>")

    def _limits(self, i: int) -> tuple[bool, bool]:
        steps, fixed = self.steps[i], self.opt.motion_steps
        if fixed is not None:
            return steps >= fixed, steps >= fixed
        return steps >= self.opt.max_motion_steps, steps >= self.opt.min_motion_steps

    def advance(self, i: int, token: int) -> None:
        sp = self.v.special
        st = self.state[i]
        if st == self.TEXT:
            if token == sp["<eoa>"]:
                self.state[i] = self.DONE
            elif token == sp["<name>"]:
                self.state[i], self.name_len[i] = self.NAME, 0
            elif token == sp["<mo>"]:
                self.state[i], self.steps[i], self.pos[i] = self.MOTION, 0, 0
        elif st == self.NAME:
            if token == sp["<mo>"]:
                self.state[i], self.steps[i], self.pos[i] = self.MOTION, 0, 0
            else:
                self.name_len[i] += 1
        elif st == self.MOTION:
            if token == sp["</mo>"]:
                self.state[i] = self.TEXT
                self.spans[i] += 1
            elif self.layout == "grouped":
                self.steps[i] += 1
            else:
                self.pos[i] += 1
                if self.pos[i] % self.v.levels == 0:
                    self.steps[i] += 1


@torch.no_grad()
def generate(
    model: OmniMoGenLM,
    prompts: list[Rendered],
    options: SamplingOptions = SamplingOptions(),
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    unconditional: list[Rendered] | None = None,
) -> Generated:
    """Write the assistant turn that follows each prompt (rendered with ``generation_prompt=True``).
    ``unconditional``: one prompt per prompt that asks for less (the same turn without what it asks
    for), run beside it with the same answer; with ``options.guidance`` g, each motion code is
    sampled from unconditional + g x (conditional - unconditional) logits (classifier-free guidance,
    as MoMask and T2M-GPT's successors sample; a grouped layout only). A second B of them (the
    requests without their style) adds ``options.style_guidance`` x (conditional - that) to those logits."""
    model.eval()
    v = model.vocab
    grouped = v.layout == "grouped"
    pad = v.special["<pad>"]
    B = len(prompts)
    guided = unconditional is not None and options.guidance != 1.0
    if guided:
        if not grouped or len(unconditional) not in (B, 2 * B):
            raise OptionError("guidance needs a grouped-layout model and one or two unconditional prompts per prompt.")
        prompts = [*prompts, *unconditional]  # rows B.. follow rows ..B: the same tokens, other context
    R, T0 = len(prompts), max(len(p.ids) for p in prompts)
    device = next(model.parameters()).device
    # Left padding, so every prompt ends at the same position.
    ids = torch.full((R, T0), pad, dtype=torch.long)
    attn = torch.zeros((R, T0), dtype=torch.long)
    codes = torch.full((R, T0, v.levels), -1, dtype=torch.long) if grouped else None
    for b, p in enumerate(prompts):
        n = len(p.ids)
        ids[b, T0 - n :] = torch.from_numpy(p.ids)
        attn[b, T0 - n :] = 1
        if grouped:
            codes[b, T0 - n :] = torch.from_numpy(p.codes)
    ids, attn = ids.to(device), attn.to(device)
    codes = codes.to(device) if grouped else None
    grammar = _Grammar(model, B, options)
    new_ids: list[list[int]] = [[] for _ in range(B)]
    new_codes: list[list[np.ndarray]] = [[] for _ in range(B)]
    past = None
    cur_ids, cur_codes = ids, codes
    fast = (
        LlamaDecoder(model.lm, R, T0 + options.max_new_tokens)
        if use_cache and model.lean_decoding and LlamaDecoder.supports(model.lm)
        else None
    )
    expected = options.max_new_tokens
    if options.motion_only and options.motion_steps is not None:  # <mo>, the steps (or their codes), </mo>, <eoa>
        expected = min(expected, options.motion_steps * (1 if grouped else v.levels) + 3)
    for step in range(options.max_new_tokens):
        report(step, expected)
        pos = (attn.cumsum(-1) - 1).clamp(min=0)
        allowed = torch.stack([grammar.allowed(b) for b in range(B)]).to(device)
        forced = bool((allowed.sum(-1) == 1).all())  # the grammar leaves one choice: no logits needed
        if fast is not None:  # tokens come from rows ..B only: the unconditional rows follow them
            hidden = fast(model.embed(cur_ids, cur_codes), attn, pos[:, -cur_ids.shape[1] :])[:, -1]
            logits = None if forced else fast.logits(hidden[:B])
        elif use_cache:
            out = model(cur_ids, cur_codes, attention_mask=attn, position_ids=pos[:, -cur_ids.shape[1] :],
                        past_key_values=past, use_cache=True)  # fmt: skip
            past, logits, hidden = out.past_key_values, out.logits[:, -1], out.hidden[:, -1]
        else:
            out = model(ids, codes, attention_mask=attn, position_ids=pos)
            logits, hidden = out.logits[:, -1], out.hidden[:, -1]  # (B, V), (B, H)
        token = (
            allowed.int().argmax(-1) if forced else _sample(logits[:B], allowed, options, generator, grammar.temperatures())
        )
        step_codes = torch.full((B, v.levels), -1, dtype=torch.long, device=device)
        if grouped:
            is_step = token == v.special["<step>"]
            if is_step.any():
                free = hidden[B:].view(R // B - 1, B, -1)[:, is_step].flatten(0, 1) if guided else None
                step_codes[is_step] = _sample_step(model, hidden[:B][is_step], options, generator, free)
        for b in range(B):
            if grammar.state[b] == grammar.DONE:
                continue
            new_ids[b].append(int(token[b]))
            if grouped:
                new_codes[b].append(step_codes[b].cpu().numpy())
            grammar.advance(b, int(token[b]))
        if all(s == grammar.DONE for s in grammar.state):
            break
        cur_ids = token.repeat(R // B)[:, None]
        cur_codes = step_codes.repeat(R // B, 1)[:, None] if grouped else None
        ids = torch.cat([ids, cur_ids], 1)
        codes = torch.cat([codes, cur_codes], 1) if grouped else None
        attn = torch.cat([attn, torch.ones((R, 1), dtype=attn.dtype, device=device)], 1)
    return Generated(
        ids=[np.array(x, dtype=np.int64) for x in new_ids],
        codes=[np.array(c, dtype=np.int64).reshape(-1, v.levels) if grouped else None for c in new_codes],
        finished=[s == grammar.DONE for s in grammar.state],
    )


def _sample_step(model: OmniMoGenLM, hidden: torch.Tensor, opt: SamplingOptions, gen,
                 free: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """Codes (N, L) of one latent step, level by level, each conditioned on the coarser ones.
    ``free``: the unconditional rows' hidden states (N, or 2N with the unstyled ones), to guide by."""
    n, L, K = hidden.shape[0], model.vocab.levels, model.vocab.codebook_size
    chosen = torch.empty((n, L), dtype=torch.long, device=hidden.device)
    rows = hidden if free is None else torch.cat([hidden, free])  # every row in one product per level
    cond = torch.zeros_like(hidden)
    for level in range(L):
        logits = model.level_logits(rows, cond.repeat(len(rows) // n, 1), level)
        if free is not None:
            c, u, unstyled = logits[:n], logits[n : 2 * n], logits[2 * n :]
            logits = u + opt.guidance * (c - u)
            if len(unstyled):  # the requests without their style: towards the style
                logits = logits + opt.style_guidance * (c - unstyled)
        chosen[:, level] = _sample(logits, None, opt, gen)
        cond = cond + model.code_cond(chosen[:, level] + level * K)
    return chosen
