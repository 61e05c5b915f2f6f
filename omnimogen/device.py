"""Where tensors live: one rule for every command.

A model's parameters decide its device. Everything that enters a model's path (batches, prompts,
codes, motions) is moved to that device by the caller that builds it (:func:`module_device`), and
every result that leaves it as numpy comes back with ``.cpu()``. Nothing inside a model's forward
pass creates a tensor without naming the device of its input. Training picks the device through
accelerate (CUDA when there is one, the CPU otherwise, one process per GPU under ``accelerate
launch``/``torchrun``); inference takes ``device``/``dtype`` (``load_model(device="cuda")``,
``--device`` on the command line).
"""

from __future__ import annotations

from .errors import OptionError

DEVICES = ("auto", "cpu", "cuda")  # and "cuda:N"
DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
          "float16": "float16", "fp16": "float16"}  # fmt: skip


def resolve_device(name=None):
    """``None``/"auto" -> CUDA when there is one, else the CPU; "cpu", "cuda", "cuda:N" or a
    ``torch.device`` as asked, refused with one sentence when this machine has no such device."""
    import torch

    if isinstance(name, torch.device):
        name = str(name)
    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(name, str):
        raise OptionError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', not {name!r}.")
    kind, _, index = name.partition(":")
    if kind == "cpu" and not index:
        return torch.device("cpu")
    if kind == "cuda" and (not index or index.isdigit()):
        if not torch.cuda.is_available():
            raise OptionError(f"device {name!r}: this machine has no CUDA GPU (or this PyTorch is a CPU build); use 'cpu'.")
        if index and int(index) >= torch.cuda.device_count():
            raise OptionError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s).")
        return torch.device(name)
    raise OptionError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', not {name!r}.")


def resolve_dtype(name=None):
    """The model's weight type: ``None`` -> float32; "bfloat16"/"bf16", "float16"/"fp16", "float32"."""
    import torch

    if name is None or isinstance(name, torch.dtype):
        return name or torch.float32
    if name not in DTYPES:
        raise OptionError(f"dtype must be one of {', '.join(sorted(set(DTYPES.values())))}, not {name!r}.")
    return getattr(torch, DTYPES[name])


def module_device(module):
    """The device of a module's parameters (the CPU for a module without any)."""
    import torch

    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def mixed_precision(setting: str, cpu: bool) -> str:
    """Accelerate's ``mixed_precision`` for a training setting: "auto" is bfloat16 on a GPU that has
    it and full precision on the CPU (bfloat16 matmuls there are slower, not faster); "bf16", "fp16"
    and "no" as given."""
    import torch

    if setting not in ("auto", "no", "bf16", "fp16"):
        raise OptionError(f"mixed_precision must be 'auto', 'no', 'bf16' or 'fp16', not {setting!r}.")
    if setting != "auto":
        return setting
    if cpu or not torch.cuda.is_available():
        return "no"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
