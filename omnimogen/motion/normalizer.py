"""Per-dimension feature normalisation, with HumanML3D's grouped standard deviations."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import FormatError
from .skeleton import SMPL22, Skeleton


@dataclass(frozen=True, eq=False)
class Normalizer:
    """``(x - mean) / std`` over the last axis, for numpy arrays and torch tensors alike."""

    mean: np.ndarray  # (D,)
    std: np.ndarray  # (D,)

    @classmethod
    def fit(cls, features: list[np.ndarray], skeleton: Skeleton = SMPL22) -> Normalizer:
        """Statistics of a corpus of feature arrays (each (T, D)).

        As in HumanML3D, the std is averaged within each part of the row (root rotation, root
        velocity, root height, positions, rotations, velocities, contacts), so that a part with
        small per-dimension spread (a nearly still joint) is not blown up by normalisation.
        """
        x = np.concatenate([np.asarray(f, dtype=np.float64) for f in features], axis=0)
        mean, std = x.mean(axis=0), x.std(axis=0)
        for part in skeleton.feature_slices().values():
            std[part] = std[part].mean()
        std = np.where(std < 1e-8, 1.0, std)  # a constant part (e.g. no contacts at all) stays put
        return cls(mean.astype(np.float32), std.astype(np.float32))

    def normalize(self, x):
        return (x - self._like(self.mean, x)) / self._like(self.std, x)

    def denormalize(self, x):
        return x * self._like(self.std, x) + self._like(self.mean, x)

    @staticmethod
    def _like(v: np.ndarray, x):
        return torch.as_tensor(v, dtype=x.dtype, device=x.device) if isinstance(x, torch.Tensor) else v

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / "Mean.npy", self.mean)
        np.save(directory / "Std.npy", self.std)

    @classmethod
    def load(cls, directory: str | Path) -> Normalizer:
        """Read ``Mean.npy`` and ``Std.npy`` (the HumanML3D file names) from a directory."""
        directory = Path(directory)
        try:
            mean, std = np.load(directory / "Mean.npy"), np.load(directory / "Std.npy")
        except FileNotFoundError as e:
            raise FormatError(
                f"{directory}: missing {Path(e.filename).name}; a normalizer needs Mean.npy and Std.npy."
            ) from None
        if mean.shape != std.shape or mean.ndim != 1:
            raise FormatError(f"{directory}: Mean.npy {mean.shape} and Std.npy {std.shape} must be equal 1-D shapes.")
        return cls(mean.astype(np.float32), std.astype(np.float32))
