"""Self-describing checkpoints: a directory with ``config.json`` and ``model.safetensors`` (plus a
component's own files), written atomically and read with one clear error per broken piece.

The one implementation behind the tokenizer's, the evaluator's and the model's save/load.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import FormatError
from .fileio import atomic_path
from .motion import SMPL22


def save_checkpoint(directory: str | Path, kind: str, config: dict, model: torch.nn.Module, normalizer=None,
                    half: Callable[[str], bool] | None = None) -> None:  # fmt: skip
    """Write ``config.json`` (``{"type": kind, ...config}``), ``model.safetensors`` and, when given,
    the normalizer's ``Mean.npy``/``Std.npy``. Floating tensors for whose names ``half`` says yes
    are stored as float16 (loading casts them back): shipped weights stay small."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_path(directory / "config.json") as tmp:
        tmp.write_text(json.dumps({"type": kind, **config}, indent=1))
    state, seen = {}, set()
    for name, t in model.state_dict().items():
        t = t.detach().cpu()
        if t.data_ptr() in seen:  # safetensors refuses shared memory (tied embeddings): store a copy
            t = t.clone()
        seen.add(t.data_ptr())
        if half is not None and t.is_floating_point() and half(name):
            t = t.half()
        state[name] = t.contiguous()
    with atomic_path(directory / "model.safetensors") as tmp:
        save_file(state, str(tmp))
    if normalizer is not None:
        for name, arr in (("Mean.npy", normalizer.mean), ("Std.npy", normalizer.std)):
            with atomic_path(directory / name) as tmp:
                np.save(tmp, arr)


def read_config(directory: str | Path, kind: str, files: tuple[str, ...]) -> dict:
    """Check that ``directory`` holds ``files`` and a ``config.json`` of type ``kind`` for the
    built-in skeleton; return the config."""
    directory = Path(directory)
    what = kind.split(".")[-1]
    if not directory.is_dir():
        raise FormatError(f"{directory}: {what} directory does not exist.")
    for name in files:
        if not (directory / name).is_file():
            raise FormatError(f"{directory}: missing {name}; a {what} directory holds {', '.join(files)}.")
    try:
        doc = json.loads((directory / "config.json").read_text())
    except json.JSONDecodeError as e:
        raise FormatError(f"{directory / 'config.json'}: not valid JSON ({e}).") from None
    if not isinstance(doc, dict) or doc.get("type") != kind:
        raise FormatError(f"{directory / 'config.json'}: not an omnimogen {what} config.")
    if doc.get("skeleton", SMPL22.name) != SMPL22.name:
        raise FormatError(f"{directory}: {what} for skeleton {doc['skeleton']!r}; only {SMPL22.name!r} is built in.")
    return doc


HEADER_KEYS = ("type", "skeleton", "tokenizer", "text_model", "captions", "sampling")  # what config.json holds beside the settings


def config_from(doc: dict, cls, directory: str | Path):
    """The config dataclass ``cls`` from a checkpoint's ``config.json``; a key it does not know (a typo, a
    checkpoint of a newer version) is refused instead of silently dropped."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(doc) - names - set(HEADER_KEYS))
    if unknown:
        raise FormatError(f"{Path(directory) / 'config.json'}: unknown setting(s) {', '.join(unknown)}; "
                          "it was written by another version of omnimogen or edited by hand.")  # fmt: skip
    try:
        return cls(**{k: v for k, v in doc.items() if k in names})
    except (TypeError, ValueError) as e:
        raise FormatError(f"{Path(directory) / 'config.json'}: a setting is malformed ({e}).") from None


def load_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Load a safetensors file into ``model``; every tensor must be there, with its shape."""
    path = Path(path)
    try:
        state = load_file(str(path))
    except SafetensorError as e:
        raise FormatError(f"{path}: not a readable safetensors file ({e}).") from None
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)  # copies cast float16 back
    except RuntimeError as e:  # a tensor of the wrong shape
        raise FormatError(f"{path}: weights do not match config.json ({str(e).splitlines()[-1].strip()}).") from None
    # A tied tensor (the output head sharing the input embeddings) may be stored once, as accelerate
    # and transformers do: it is loaded through its twin.
    ptrs = {name: t.data_ptr() for name, t in model.state_dict().items()}
    loaded = {ptrs[name] for name in state if name in ptrs}
    missing = [name for name in missing if ptrs.get(name) not in loaded]
    if missing or unexpected:
        raise FormatError(
            f"{path}: weights do not match config.json "
            f"(missing {len(missing)}, unexpected {len(unexpected)} tensors, e.g. {(missing or unexpected)[0]})."
        )


def check_normalizer(directory: Path, normalizer, width: int) -> None:
    if normalizer.mean.shape != (width,):
        raise FormatError(f"{directory}: Mean.npy has {normalizer.mean.shape[0]} values, config says {width}.")
