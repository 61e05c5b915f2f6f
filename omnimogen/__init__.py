"""omnimogen: instruction-driven 3D human motion generation.

The names below are imported on first use (PEP 562), so that ``omnimogen --help`` and argument errors
answer without importing PyTorch.
"""

from importlib import import_module

from .errors import OmnimogenError

__version__ = "0.1.0"

_LAZY = {
    "SMPL22": ".motion", "Motion": ".motion", "Skeleton": ".motion", "features_to_joints": ".motion",
    "joints_to_features": ".motion", "load_tokenizer": ".tokenizer",
}  # fmt: skip


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'omnimogen' has no attribute {name!r}")


def load_model(path=None, device=None, dtype=None):
    """The model shipped with the package, or one saved at ``path``, on ``device`` (None: CUDA when
    there is one) in ``dtype`` (see ``omnimogen.model.pipeline.load_model``)."""
    from .model.pipeline import load_model as _load

    return _load(path, device, dtype)


__all__ = ["SMPL22", "Motion", "OmnimogenError", "Skeleton", "features_to_joints", "joints_to_features",
           "load_model", "load_tokenizer"]  # fmt: skip
