"""What every training command shares: config files and overrides, run folders, resumable checkpoints.

A run folder holds ``config.json`` (the resolved training config), ``checkpoints/step-N/`` (written
completely, then published by atomically rewriting ``checkpoints/latest``, so a run killed at any
moment, even by SIGKILL, resumes from the last complete checkpoint) and ``log.jsonl``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import typing
from pathlib import Path

from ..device import mixed_precision
from ..errors import OmnimogenError, OptionError, check_number
from ..fileio import atomic_path, lock_folder


class ConfigError(OmnimogenError, ValueError):
    """A training config file or --set override is wrong."""


def _coerce(value: str, kind):
    origin = typing.get_origin(kind)
    if kind is bool:
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(value)
    if kind in (int, float, str):
        return kind(value)
    if origin in (tuple, list):
        return json.loads(value)
    if origin is typing.Union or origin is getattr(__import__("types"), "UnionType", None):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if value.lower() in ("none", "null"):
            return None
        return _coerce(value, args[0])
    return json.loads(value)


def resolve_config(cls, file: str | Path | None = None, overrides: list[str] = ()):
    """Build a config dataclass from defaults, then a JSON file, then ``key=value`` overrides.

    Nested dataclass fields are addressed with dots (``model.width=256``).
    """
    values: dict = {}
    if file:
        try:
            values = json.loads(Path(file).read_text())
        except FileNotFoundError:
            raise ConfigError(f"{file}: config file does not exist.") from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"{file}: not valid JSON ({e}).") from None
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected key=value.")
        node = values
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = raw  # coerced below against the field's type
    return _build(cls, values, "")


def _build(cls, values: dict, prefix: str):
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {', '.join(prefix + u for u in sorted(unknown))}; known: {', '.join(sorted(names))}."
        )
    kwargs = {}
    for name, value in values.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            if not isinstance(value, dict):
                raise ConfigError(f"{prefix}{name} must be a group of settings, not {value!r}.")
            base = dataclasses.asdict(getattr(cls(), name))
            kwargs[name] = _build(kind, {**base, **value}, f"{prefix}{name}.")
        elif isinstance(value, dict) and typing.get_origin(kind) in (dict, None) and kind is not str:
            kwargs[name] = {k: _json_or_str(v) for k, v in value.items()}  # free-form group: numbers parse
        elif isinstance(value, str) and kind is not str:
            try:
                kwargs[name] = _coerce(value, kind)
            except (ValueError, json.JSONDecodeError):
                raise ConfigError(
                    f"{prefix}{name}={value!r} is not a valid {getattr(kind, '__name__', kind)}."
                ) from None
        else:
            kwargs[name] = value
    return cls(**kwargs)


def _json_or_str(value):
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


class RunDir:
    """The files of one training run."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.checkpoints = self.root / "checkpoints"

    def latest(self) -> Path | None:
        pointer = self.checkpoints / "latest"
        if not pointer.is_file():
            return None
        path = self.checkpoints / pointer.read_text().strip()
        return path if (path / "COMPLETE").is_file() else None

    def new_checkpoint(self, step: int) -> Path:
        path = self.checkpoints / f"step-{step:08d}"
        shutil.rmtree(path, ignore_errors=True)  # a half-written one from a killed run
        path.mkdir(parents=True)
        return path

    def publish(self, path: Path, keep: int = 2) -> None:
        """Mark ``path`` complete, point ``latest`` at it, and delete all but the newest ``keep``."""
        (path / "COMPLETE").write_text("")
        with atomic_path(self.checkpoints / "latest") as tmp:
            tmp.write_text(path.name)
        done = sorted(p for p in self.checkpoints.glob("step-*") if (p / "COMPLETE").is_file())
        for old in done[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
        for stale in self.checkpoints.glob("step-*"):
            if not (stale / "COMPLETE").is_file() and stale != path:
                shutil.rmtree(stale, ignore_errors=True)

    def log(self, record: dict) -> None:
        with open(self.root / "log.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def check_config(self, config) -> None:
        """Write the config on a fresh run; on resume, refuse a config that differs from the run's."""
        path = self.root / "config.json"
        doc = json.loads(json.dumps(dataclasses.asdict(config)))  # tuples -> lists, as stored
        if path.is_file():
            old = json.loads(path.read_text())
            changed = {k for k in set(old) | set(doc) if old.get(k) != doc.get(k) and k not in RESUMABLE_KEYS}
            if changed and self.latest() is not None:
                raise ConfigError(
                    f"{self.root}: this run was started with other settings ({', '.join(sorted(changed))}); "
                    "resume it with the same config or choose a new --out folder."
                )
        self.root.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(doc, indent=1))


# Settings a resumed run may change: how long it runs, how often it reports, and where (a run
# prepared or begun on a CPU machine continues on a GPU one).
RESUMABLE_KEYS = {"steps", "val_every", "ckpt_every", "log_every", "num_threads", "device", "mixed_precision"}


# The numeric settings the training configs share, by name: (low, high, whole number, low excluded).
SETTINGS = {
    "steps": (1, 10**9, True, False), "batch_size": (1, 2**16, True, False), "lr": (0, 1, False, True),
    "warmup_steps": (0, 10**9, True, False), "weight_decay": (0, 10, False, False),
    "min_lr_ratio": (0, 1, False, False), "val_every": (1, 10**9, True, False), "ckpt_every": (1, 10**9, True, False),
    "log_every": (1, 10**9, True, False), "num_threads": (1, 1024, True, False),
    "prepare_workers": (1, 256, True, False), "max_tokens": (16, 10**6, True, False),
    "augment_shifts": (1, 64, True, False), "text_vocab_size": (64, 10**6, True, False),
    "val_per_task": (1, 10**6, True, False), "val_clips": (1, 10**7, True, False), "window": (8, 10**4, True, False),
    "joint_weight": (0, 10**3, False, False), "temperature": (0, 10, False, True), "crop_min": (0, 1, False, True),
    "train_share": (0, 1, False, True), "group_size": (2, 1024, True, False), "clip": (0, 1, False, True),
    "kl": (0, 100, False, False), "max_prompts": (1, 10**7, True, False), "val_prompts": (1, 10**6, True, False),
    "semantic": (0, 100, False, False), "physical": (0, 100, False, False), "verifiable": (0, 100, False, False),
    "seed": (0, 2**63 - 1, True, False),
}  # fmt: skip


def check_settings(cfg) -> None:
    """Refuse a training config whose numbers are out of range (one sentence naming the setting)."""
    for name, (low, high, integer, above) in SETTINGS.items():
        value = getattr(cfg, name, None)
        if value is not None:
            try:
                check_number(name, value, low, high, integer=integer, above=above)
            except OptionError as e:
                raise ConfigError(str(e)) from None


def start_run(cfg, out: str | Path):
    """The accelerator (one process or many, GPU when there is one) and the run folder, with the
    run's config written on a fresh run and checked on resume."""
    import torch
    from accelerate import Accelerator

    check_settings(cfg)
    if getattr(cfg, "num_threads", None):
        torch.set_num_threads(cfg.num_threads)
    device = getattr(cfg, "device", "auto")
    if device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"device={device!r} must be 'auto', 'cpu' or 'cuda' (accelerate gives each process its GPU).")
    cpu = device == "cpu" or not torch.cuda.is_available()
    if device == "cuda" and cpu:
        raise ConfigError("device='cuda': this machine has no CUDA GPU (or this PyTorch is a CPU build); use 'auto' or 'cpu'.")
    try:
        precision = mixed_precision(getattr(cfg, "mixed_precision", "no"), cpu)
    except OptionError as e:
        raise ConfigError(str(e)) from None
    acc = Accelerator(cpu=cpu, mixed_precision=precision)
    run = RunDir(out)
    if acc.is_main_process:
        lock_folder(run.root, "training run")  # two trainings into one folder would interleave everything
        run.check_config(cfg)
    acc.wait_for_everyone()
    return acc, run


def state_checksum(model) -> str:
    """A short hash of every parameter and buffer: equal on all ranks when DDP kept them in sync."""
    import hashlib

    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def train_loop(acc, run: RunDir, cfg, model, opt, sched, dataset, *, collate=None, train_step, validate,
               save, name: str, progress: bool = True) -> dict:  # fmt: skip
    """The loop every training command shares: epochs of shuffled batches, logging, validation,
    keeping the best model, resumable checkpoints, and a final check that ranks agree.

    ``train_step(model, batch, step) -> (loss, record)``; ``validate(step) -> (score, record)``,
    lower scores are better, run on the main process only; ``save(directory)`` writes the model.
    ``cfg`` needs ``steps``, ``batch_size``, ``seed``, ``log_every``, ``val_every``, ``ckpt_every``.
    """
    import time

    import torch
    from tqdm import tqdm

    step, best = 0, float("inf")
    latest = run.latest()
    if latest is not None:
        acc.load_state(str(latest))
        meta = json.loads((latest / "meta.json").read_text())
        step, best = meta["step"], meta["best"]
        acc.print(f"resumed {run.root} at step {step}")

    def loader_for(epoch: int):
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        dl = torch.utils.data.DataLoader(
            dataset, batch_size=cfg.batch_size, shuffle=True, drop_last=True, generator=gen, collate_fn=collate
        )
        return acc.prepare_data_loader(dl)

    batches_per_epoch = len(dataset) // (cfg.batch_size * acc.num_processes)
    if batches_per_epoch == 0:
        raise ConfigError(f"fewer training examples ({len(dataset)}) than one batch; lower batch_size.")
    epoch, offset = divmod(step, batches_per_epoch)
    loader = acc.skip_first_batches(loader_for(epoch), offset) if offset else loader_for(epoch)
    it = iter(loader)
    bar = tqdm(total=cfg.steps, initial=step, disable=not (progress and acc.is_main_process), desc=name)
    record: dict = {}
    t0 = time.perf_counter()
    while step < cfg.steps:
        try:
            batch = next(it)
        except StopIteration:
            epoch += 1
            it = iter(loader_for(epoch))
            continue
        model.train()
        loss, record = train_step(model, batch, step)
        opt.zero_grad(set_to_none=True)
        acc.backward(loss)
        opt.step()
        sched.step()
        step += 1
        bar.update(1)
        last = step == cfg.steps
        if step % cfg.log_every == 0 or last:
            record = {"step": step, "loss": float(loss.detach()), "lr": sched.get_last_lr()[0], **record,
                      "sec_per_step": round((time.perf_counter() - t0) / cfg.log_every, 4)}  # fmt: skip
            t0 = time.perf_counter()
            bar.set_postfix({k: f"{v:.4g}" for k, v in record.items() if isinstance(v, float) and k != "lr"})
            if acc.is_main_process:
                run.log(record)
        if step % cfg.val_every == 0 or last:
            if acc.is_main_process:
                score, val = validate(step)
                if val:
                    run.log({"step": step, "val": val})
                    acc.print(
                        f"step {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in val.items() if isinstance(v, float))
                    )
                if score is not None and score < best:
                    best = score
                    save(run.root / "best")
            acc.wait_for_everyone()
        if step % cfg.ckpt_every == 0 or last:
            if acc.is_main_process:
                run.new_checkpoint(step)
            acc.wait_for_everyone()
            path = run.checkpoints / f"step-{step:08d}"
            acc.save_state(str(path))
            if acc.is_main_process:
                (path / "meta.json").write_text(json.dumps({"step": step, "best": best}))
                run.publish(path)
            acc.wait_for_everyone()
    bar.close()
    # Each rank writes its checksum to a file rather than gathering it: a collective over Python-made
    # tensors this late can deadlock Gloo's teardown (its worker thread frees them and needs the GIL
    # while the main thread, holding it, joins that worker in the process group's destructor).
    ranks = run.root / "ranks"
    ranks.mkdir(exist_ok=True)
    (ranks / f"{acc.process_index}.checksum").write_text(state_checksum(acc.unwrap_model(model)))
    acc.wait_for_everyone()
    checksums = [(ranks / f"{r}.checksum").read_text() for r in range(acc.num_processes)]
    if acc.is_main_process:
        save(run.root / "final")
        if best == float("inf"):
            save(run.root / "best")
        run.log({"step": step, "rank_checksums": checksums})
    acc.wait_for_everyone()
    acc.end_training()
    return {**record, "rank_checksums": checksums}
