"""The codes file of ``omnimogen encode`` / ``decode``: a motion's tokenizer codes as JSON.

``{"format": "omnimogen.codes", "version": 1, "levels", "codebook_size", "frames", "codes"}``;
``frames`` is the motion's length at 20 fps, which decoding restores exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import FormatError
from ..fileio import atomic_path

FORMAT = "omnimogen.codes"


def write_codes(path: str | Path, codes: np.ndarray, *, codebook_size: int, frames: int) -> Path:
    """Write (steps, levels) integer codes of a motion of ``frames`` frames (at 20 fps)."""
    codes = np.asarray(codes)
    doc = {"format": FORMAT, "version": 1, "levels": int(codes.shape[1]), "codebook_size": int(codebook_size),
           "frames": int(frames), "codes": codes.tolist()}  # fmt: skip
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(doc), encoding="utf-8")
    return Path(path)


def read_codes(path: str | Path) -> tuple[list, int | None]:
    """The codes of a codes file and the length they decode to (None in files that do not say)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        codes = doc["codes"]
        frames = doc.get("frames")
    except FileNotFoundError:
        raise FormatError(f"{path}: no such file.") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as e:
        raise FormatError(f"{path}: not a codes file written by 'omnimogen encode' ({e!r}).") from None
    if frames is not None and (not isinstance(frames, int) or isinstance(frames, bool) or frames < 2):
        raise FormatError(f"{path}: 'frames' must be a whole number of at least 2, not {frames!r}.")
    return codes, frames
