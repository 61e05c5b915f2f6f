"""Datasets: the HumanML3D layout, the Bandai corpus builder, captions."""

from .dataset import Caption, Clip, MotionDataset

__all__ = ["Caption", "Clip", "MotionDataset"]
