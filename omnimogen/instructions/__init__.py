"""Interleaved text-motion instructions: the format, derivation recipes, the X2Mo-style builder, AnyContext."""
