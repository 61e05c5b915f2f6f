"""The motion tokenizer (residual-VQ VAE): motions <-> grids of discrete codes."""

from .model import PRESETS, MotionTokenizer, TokenizerConfig, load_tokenizer, num_steps

__all__ = ["PRESETS", "MotionTokenizer", "TokenizerConfig", "load_tokenizer", "num_steps"]
