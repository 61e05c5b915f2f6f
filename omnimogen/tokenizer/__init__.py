"""The motion tokenizer (residual-VQ VAE): motions <-> grids of discrete codes."""

from .model import PRESETS, MotionTokenizer, TokenizerConfig, num_steps

__all__ = ["PRESETS", "MotionTokenizer", "TokenizerConfig", "num_steps"]
