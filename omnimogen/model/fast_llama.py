"""An inference-only forward of the from-scratch Llama model, with a preallocated KV cache.

Decoding one position at batch 1 on a CPU reads every weight once per position and runs many
tiny operations: Hugging Face's forward spends about 25 tensor operations and several Python
wrappers per layer (cache objects, mask builders, output recorders). This one runs the same
mathematics with fused query/key/value and gate/up projections, rotary tables indexed from one
precomputed table, a cache written in place and, by default, float16 copies of the projection
weights (half the bytes to read; this CPU's float16 matrix-vector kernel is about 4x faster).
``generate`` uses it when ``LlamaDecoder.supports(lm)``; any other causal LM (a pretrained base,
LoRA, other rotary types) takes the Hugging Face path. The tests check that both give the same
hidden states and logits: exactly with ``half=False``, to about three digits with float16 weights
(the shipped weights are stored in float16, so only the activations are rounded).
"""

from __future__ import annotations

import weakref

import torch
import torch.nn.functional as F


class LlamaDecoder:
    """Incremental forward of a ``LlamaForCausalLM`` for ``batch`` sequences of up to ``max_len`` positions."""

    @staticmethod
    def supports(lm) -> bool:
        c = lm.config
        rope = (getattr(c, "rope_parameters", None) or getattr(c, "rope_scaling", None) or {}).get(
            "rope_type", "default"
        )
        return (
            type(lm).__name__ == "LlamaForCausalLM"
            and not lm.training
            and rope == "default"
            and c.hidden_act == "silu"
            and not getattr(c, "attention_bias", False)
            and not getattr(c, "mlp_bias", False)
        )

    def __init__(self, lm, batch: int, max_len: int, half: bool = True):
        c, m = lm.config, lm.model
        # float16 copies of the projection weights: a matrix-vector product reads every weight once,
        # and this CPU's float16 kernel runs about 4x faster than float32 (benchmarks/gemv.json).
        # Activations, norms, attention and the cache stay float32.
        self.half = half and m.norm.weight.dtype == torch.float32
        self.heads, self.kv_heads = c.num_attention_heads, c.num_key_value_heads
        self.head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
        self.eps = c.rms_norm_eps
        self.layers = _fused_weights(lm, self.half)
        self.norm, self.head = m.norm.weight, lm.lm_head.weight
        weight = self.head
        shape = (len(self.layers), batch, self.kv_heads, max_len, self.head_dim)
        self.k = torch.zeros(shape, dtype=weight.dtype, device=weight.device)
        self.v = torch.zeros_like(self.k)
        positions = torch.arange(max_len, dtype=torch.float32, device=weight.device)
        freqs = positions[:, None] * m.rotary_emb.inv_freq.float()[None]
        emb = torch.cat([freqs, freqs], -1)
        scale = m.rotary_emb.attention_scaling
        self.cos, self.sin = (emb.cos() * scale).to(weight.dtype), (emb.sin() * scale).to(weight.dtype)
        self.length = 0  # positions in the cache

    def _linear(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return F.linear(x.half(), weight).float() if self.half else F.linear(x, weight)

    def _rms(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, weight.shape, weight, self.eps)

    @staticmethod
    def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        return x * cos + torch.cat([-x[..., half:], x[..., :half]], -1) * sin

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        """Input embeddings (B, T, H) of the next T positions -> their final hidden states (B, T, H).

        ``attention_mask`` (B, length + T) marks the real (1) and padding (0) positions so far,
        ``position_ids`` (B, T) the rotary positions of the new ones, as in Hugging Face.
        """
        B, T, _ = x.shape
        start, end = self.length, self.length + T
        if end > self.k.shape[3]:
            raise ValueError(f"the decoder was built for {self.k.shape[3]} positions; {end} were asked for.")
        cos, sin = self.cos[position_ids][:, None], self.sin[position_ids][:, None]  # (B, 1, T, d)
        # Causal and padding mask; every position also sees itself, so that a padding row (never
        # attended to) stays finite.
        query = torch.arange(start, end, device=x.device)[:, None]
        key = torch.arange(end, device=x.device)[None]
        mask = ((key <= query) & attention_mask[:, None, None, :end].bool()) | (key == query)
        nh, nkv, d = self.heads, self.kv_heads, self.head_dim
        for i, (ln1, wqkv, wo, ln2, wgu, wdown) in enumerate(self.layers):
            qkv = self._linear(self._rms(x, ln1), wqkv).view(B, T, nh + 2 * nkv, d).transpose(1, 2)
            qk = self._rope(qkv[:, : nh + nkv], cos, sin)  # queries and keys rotated in one go
            self.k[i, :, :, start:end] = qk[:, nh:]
            self.v[i, :, :, start:end] = qkv[:, nh + nkv :]
            att = F.scaled_dot_product_attention(
                qk[:, :nh], self.k[i, :, :, :end], self.v[i, :, :, :end], attn_mask=mask, enable_gqa=nkv != nh
            )
            x = x + self._linear(att.transpose(1, 2).reshape(B, T, nh * d), wo)
            gate, up = self._linear(self._rms(x, ln2), wgu).chunk(2, -1)
            x = x + self._linear(F.silu(gate) * up, wdown)
        self.length = end
        return self._rms(x, self.norm)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return F.linear(hidden, self.head)


# Fused (and float16) weight copies per model, made once and remade when a weight changes: every
# in-place update (an optimiser step, load_state_dict) bumps the tensor's version counter.
_FUSED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _fused_weights(lm, half: bool) -> list[tuple]:
    key = (half, tuple((id(p), p._version) for p in lm.parameters()))
    hit = _FUSED.get(lm)
    if hit is not None and hit[0] == key:
        return hit[1]
    cast = (lambda w: w.detach().half()) if half else (lambda w: w.detach())
    layers = []
    for layer in lm.model.layers:
        a, f = layer.self_attn, layer.mlp
        layers.append((
            layer.input_layernorm.weight.detach(),
            cast(torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight])),
            cast(a.o_proj.weight),
            layer.post_attention_layernorm.weight.detach(),
            cast(torch.cat([f.gate_proj.weight, f.up_proj.weight])),
            cast(f.down_proj.weight),
        ))  # fmt: skip
    _FUSED[lm] = (key, layers)
    return layers
