"""Supervised fine-tuning of the model: ``omnimogen train lm --data X2MO --corpus DATASET --tokenizer TOK --out RUN``.

Preparation (once per run, cached in ``RUN/prepared/``): every motion the instruction samples
reference is materialised from the corpus and encoded by the tokenizer; a BPE text vocabulary is
trained on the training texts; every sample is rendered to ids, codes and a loss mask. Training
then runs the shared loop (resumable, one or many processes), batches padded to their longest
sample, and reports the validation loss per task. ``RUN/best`` is a complete model directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..checkpoint import config_from, read_config
from ..errors import FormatError
from ..fileio import atomic_path
from ..instructions.corpus import Corpus
from ..instructions.recipes import materialise
from ..instructions.schema import Sample, read_samples
from ..model.transformer import LM_FILES, ModelConfig, OmniMoGenLM, load_lm, save_lm
from ..model.vocab import Message, MotionCodes, Rendered, TextPart, Vocab
from ..tokenizer import MotionTokenizer, load_tokenizer
from ..tokenizer.model import DEFAULT_DIR as TOKENIZER_DIR
from .common import ConfigError, start_run, train_loop


@dataclass
class LMTrainConfig:
    model: dict = field(default_factory=dict)  # ModelConfig overrides, e.g. {"layout": "flat", "layers": 6}
    # A trained model folder ("default": the shipped one) to fine-tune: its architecture, vocabulary and
    # weights are kept (``model`` and ``text_vocab_size`` must stay unset), and the run's tokenizer must
    # be the one it was trained with. For teaching a trained model new captioned takes without
    # training from scratch.
    init_from: str | None = None
    # Allow ``init_from`` a model trained on another tokenizer's codes, its code embeddings kept by
    # number. A fine-tuned tokenizer renumbers almost every code, so the model must learn to read them
    # again (describing suffered most: README); ``omnimogen train realign`` moves the model onto the new
    # codes first and keeps its reading. Kept for reproducing the runs that used it.
    init_other_tokenizer: bool = False
    text_vocab_size: int = 2048
    steps: int = 5_500  # the shipped default's recipe: 5,500 steps of 16 (README)
    batch_size: int = 16
    lr: float = 6e-4
    warmup_steps: int = 300
    min_lr_ratio: float = 0.1  # cosine decay to this fraction of lr
    weight_decay: float = 0.1
    max_tokens: int = 1024  # longer rendered samples are left out (counted in the log)
    # Each training sample is rendered this many times, its motions encoded from frame 0, 1, 2, ...
    # (one latent step is 4 frames, so a shift gives other codes for the same motion). Against
    # memorising the few thousand clips of a mocap corpus; validation always uses shift 0.
    augment_shifts: int = 4
    seed: int = 0
    val_every: int = 500
    ckpt_every: int = 500
    log_every: int = 50
    val_per_task: int = 40
    num_threads: int | None = None
    device: str = "auto"  # "auto": CUDA when there is one; "cpu" forces the CPU
    mixed_precision: str = "auto"  # "auto": bfloat16 on a GPU, full precision on the CPU; "no", "bf16", "fp16"
    prepare_workers: int = 1  # processes that encode the motions during preparation
    # Times each task's training samples are seen per epoch, by task ("describe") or family ("edit");
    # whole numbers, 1 for the rest, 0 leaves a task out. Fine-tuning on new corpora erodes a skill the
    # set asks little of (describing, 4% of X2Mo: README); weighing it up rehearses it without a new
    # set or a new preparation.
    task_weights: dict = field(default_factory=dict)
    # Prompt dropout for classifier-free guidance: this share of the text-to-motion renderings is also
    # shown with its words replaced by the unconditional request (``pipeline.UNCONDITIONAL``), so the
    # row that guidance contrasts with is the model's learned "any motion" (MoMask and T2M-GPT drop
    # the text of about 10% of their samples). 0: none.
    unconditional_share: float = 0.0

    def model_config(self) -> ModelConfig:
        if self.init_from:
            return config_from(read_config(self.init_dir(), "omnimogen.lm", LM_FILES), ModelConfig, self.init_dir())
        names = {f.name for f in dataclasses.fields(ModelConfig)}
        bad = set(self.model) - names
        if bad:
            raise ConfigError(f"unknown model setting(s) {', '.join(sorted(bad))}; known: {', '.join(sorted(names))}.")
        return ModelConfig(**self.model)

    def init_dir(self) -> Path:
        from ..model.pipeline import DEFAULT_DIR

        return DEFAULT_DIR if self.init_from == "default" else Path(self.init_from)


def weigh_tasks(items: list[tuple[str, Rendered]], weights: dict) -> list[tuple[str, Rendered]]:
    """``items`` with each task's samples repeated as ``weights`` says (``LMTrainConfig.task_weights``)."""
    tasks = {t for t, _ in items}
    for name, w in weights.items():
        if not any(t == name or t.startswith(name + "/") for t in tasks):
            raise ConfigError(f"task_weights: no training task {name!r}; the set has {', '.join(sorted(tasks))}.")
        if isinstance(w, bool) or not isinstance(w, int) or w < 0:
            raise ConfigError(f"task_weights.{name} must be a whole number >= 0, got {w!r}.")

    def weight(task: str) -> int:  # the most specific name given: "edit/speed" before "edit"
        for name in (task, task.split("/")[0]):
            if name in weights:
                return weights[name]
        return 1

    out = [item for item in items for _ in range(weight(item[0]))]
    if not out:
        raise ConfigError("task_weights leave no training samples.")
    return out


def with_unconditional(items: list[tuple[str, Rendered]], vocab, share: float, seed: int = 0) -> list[tuple[str, Rendered]]:
    """``items`` and, for a seeded ``share`` of the text-to-motion ones, a copy whose user words are
    ``pipeline.UNCONDITIONAL`` (the same answer, so the model learns what "any motion" looks like)."""
    from ..model.pipeline import UNCONDITIONAL

    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
        raise ConfigError(f"unconditional_share must be a number from 0 to 1, got {share!r}.")
    t2m = [r for task, r in items if task == "t2m"]
    if share and not t2m:
        raise ConfigError("unconditional_share needs text-to-motion samples; the set has none.")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(t2m), size=int(round(share * len(t2m))), replace=False) if t2m else []
    extra = []
    for k in sorted(chosen):
        user, *answer = vocab.parse(t2m[k].ids, t2m[k].codes)
        extra.append(("t2m/unconditional", vocab.render([Message("user", (TextPart(UNCONDITIONAL),)), *answer])))
    return items + extra


def sample_messages(sample: Sample, codes_of) -> list[Message]:
    """A sample's turns as vocabulary messages, motions replaced by their codes."""
    out = []
    for turn in sample.turns:
        parts = []
        for p in turn.parts:
            parts.append(TextPart(p.text) if p.motion is None else MotionCodes(codes_of(p.motion), p.name))
        out.append(Message(turn.role, tuple(parts)))
    return out


def ref_key(ref) -> str:
    return json.dumps(ref.to_json(), sort_keys=True)


def read_split(x2mo: Path, split: str) -> list[Sample]:
    files = sorted(x2mo.glob(f"{split}-*.jsonl"))
    if not files and split == "train":
        raise ConfigError(f"{x2mo}: no {split}-*.jsonl shards; build the set with 'omnimogen data x2mo'.")
    return [s for f in files for s in read_samples(f)]


PREPARED = "prepared.json"  # what a prepared folder was made with; training from it needs nothing else


def _prepared_settings(cfg: LMTrainConfig, tokenizer: MotionTokenizer) -> dict:
    """The settings a rendering depends on (besides the instruction set): a run trains from a prepared
    folder only when these agree."""
    return {"layout": cfg.model_config().layout, "text_vocab_size": cfg.text_vocab_size, "max_tokens": cfg.max_tokens,
            "augment_shifts": cfg.augment_shifts, "tokenizer": tokenizer.fingerprint()}  # fmt: skip


def load_prepared(cache: Path, tokenizer: MotionTokenizer, cfg: LMTrainConfig):
    """``(vocab, rendered, captions)`` of the set the last preparation into ``cache`` wrote, for a run on
    a machine without the instruction set or the corpus (``omnimogen train lm --prepare-only``, then
    ``omnimogen train lm --out RUN`` elsewhere)."""
    path = cache / PREPARED
    if not path.is_file():
        raise ConfigError(f"{cache}: no prepared training set ({PREPARED}); pass --data and --corpus, or prepare "
                          "one with 'omnimogen train lm --prepare-only' where the corpus is.")  # fmt: skip
    doc = json.loads(path.read_text())
    want = _prepared_settings(cfg, tokenizer)
    differ = sorted(k for k in want if doc["settings"].get(k) != want[k])
    if differ:
        raise ConfigError(f"{cache}: prepared with other settings ({', '.join(differ)}: "
                          f"{', '.join(str(doc['settings'].get(k)) for k in differ)}); train with those, "
                          "or prepare again.")  # fmt: skip
    key = doc["key"]
    return Vocab.load(cache / f"vocab-{key}"), load_rendered(cache / f"prepared-{key}.npz"), tuple(doc["captions"])


def prepare(x2mo: Path, corpus_dir: Path | list[Path], tokenizer: MotionTokenizer, cfg: LMTrainConfig, cache: Path,
            progress: bool = True, tokenizer_dir: Path | None = None,
            vocab: Vocab | None = None) -> tuple[Vocab, dict[str, list[tuple[str, Rendered]]]]:  # fmt: skip
    """Render every sample with ``vocab`` (None: a BPE vocabulary trained on the training texts); reuse
    ``cache`` when it was made from the same inputs. With
    ``cfg.prepare_workers`` > 1 the motions are encoded in that many processes, which load the
    tokenizer from ``tokenizer_dir``. ``cache/prepared.json`` records the last preparation (its
    settings and the corpus's train captions), so that ``load_prepared`` can train from it alone.
    ``cache/codes-*.npz`` keeps every motion's codes (per tokenizer and corpus), so that another set
    over the same clips encodes only the motions it adds; training elsewhere does not need it."""
    mcfg = cfg.model_config()
    inputs = [
        (x2mo / "manifest.json").read_text() if (x2mo / "manifest.json").is_file() else str(x2mo),
        dataclasses.asdict(tokenizer.config),
        mcfg.layout,
        cfg.text_vocab_size,
        cfg.max_tokens,
        cfg.augment_shifts,
    ]
    if vocab is not None:  # a given vocabulary (fine-tuning) is part of what the renderings depend on
        inputs.append(vocab.fingerprint())
    key = hashlib.sha256(json.dumps(inputs).encode()).hexdigest()[:16]
    done = cache / f"prepared-{key}.npz"
    if done.is_file():
        try:
            vocab, rendered = Vocab.load(cache / f"vocab-{key}"), load_rendered(done)
            record = cache / PREPARED
            if not record.is_file() or json.loads(record.read_text()).get("key") != key:  # a cache from before the record
                _record(cache, key, cfg, tokenizer, Corpus(corpus_dir), rendered)
            return vocab, rendered
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, FormatError) as e:  # a crash, damage
            warnings.warn(f"{done}: unreadable preparation cache ({e}); preparing again.", stacklevel=2)
    splits = {s: read_split(x2mo, s) for s in ("train", "val")}
    corpus = Corpus(corpus_dir)
    codes: dict[str, list[np.ndarray]] = {}  # ref key -> codes at shift 0, 1, ... (train refs only shifted)
    refs = {ref_key(m): m for samples in splits.values() for s in samples for m in s.motions()}
    train_refs = {ref_key(m) for s in splits["train"] for m in s.motions()}
    todo = [(k, ref, cfg.augment_shifts if k in train_refs else 1) for k, ref in sorted(refs.items())]
    store = cache / f"codes-{_codes_key(tokenizer, corpus_dir)}.npz"
    known = load_codes(store)
    codes = {k: known[k][1] for k, _, shifts in todo if k in known and known[k][0] == shifts}
    todo = [item for item in todo if item[0] not in codes]  # only motions no earlier preparation encoded
    if cfg.prepare_workers > 1 and tokenizer_dir is not None and todo:
        codes |= _encode_in_workers(todo, corpus_dir, tokenizer_dir, cfg.prepare_workers, progress)
    else:
        for k, ref, shifts in tqdm(todo, desc="encoding motions", disable=not progress or not todo):
            codes[k] = _encode_ref(corpus, tokenizer, ref, shifts)
    if todo:
        cache.mkdir(parents=True, exist_ok=True)
        save_codes(store, known | {k: (shifts, codes[k]) for k, _, shifts in todo})
    texts = [p.text or p.name for s in splits["train"] for t in s.turns for p in t.parts if p.text or p.name]
    if vocab is None:
        vocab = Vocab.train_bpe(texts, cfg.text_vocab_size, tokenizer.config.num_levels,
                                tokenizer.config.codebook_size, mcfg.layout)  # fmt: skip
    rendered: dict[str, list[tuple[str, Rendered]]] = {}
    dropped = defaultdict(int)
    for split, samples in splits.items():
        rendered[split] = []
        for s in samples:
            keys = [ref_key(m) for m in s.motions()]
            shifts = 1 if split != "train" else max([len(codes[k]) for k in keys], default=1)
            for shift in range(shifts):
                # A motion too short to shift keeps its codes in every rendering.
                r = vocab.render(sample_messages(s, lambda ref, i=shift: _at(codes[ref_key(ref)], i)))
                if len(r.ids) > cfg.max_tokens:
                    dropped[f"{split}/{s.task}"] += 1
                    continue
                rendered[split].append((s.task, r))
    if dropped:
        warnings.warn(f"left out renderings longer than {cfg.max_tokens} tokens: {dict(dropped)}", stacklevel=2)
    cache.mkdir(parents=True, exist_ok=True)
    vocab.save(cache / f"vocab-{key}")
    save_rendered(rendered, done)  # the cache counts as present only once this rename happened
    _record(cache, key, cfg, tokenizer, corpus, rendered)
    return vocab, rendered


def _record(cache: Path, key: str, cfg: LMTrainConfig, tokenizer: MotionTokenizer, corpus: Corpus, rendered) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the clips it leaves out were counted when it was read
        captions = corpus.train_captions()
    record = {"key": key, "settings": _prepared_settings(cfg, tokenizer), "captions": list(captions),
              "samples": {split: len(items) for split, items in rendered.items()}}  # fmt: skip
    with atomic_path(cache / PREPARED) as tmp:
        tmp.write_text(json.dumps(record))


def save_rendered(rendered: dict[str, list[tuple[str, Rendered]]], path: Path) -> None:
    """The rendered splits as one compressed ``.npz`` of plain arrays (no pickle), written atomically:
    per split the concatenated ids (int32), loss masks and codes (int16), the sample offsets and the
    task names (as JSON). Small enough to carry to a training machine without the corpus."""
    arrays = {}
    for split, items in rendered.items():
        lengths = [len(r.ids) for _, r in items]
        arrays[f"{split}/offsets"] = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64)
        arrays[f"{split}/ids"] = np.concatenate([r.ids for _, r in items] or [np.zeros(0)]).astype(np.int32)
        arrays[f"{split}/loss_mask"] = np.concatenate([r.loss_mask for _, r in items] or [np.zeros(0)]).astype(bool)
        if items and items[0][1].codes is not None:
            arrays[f"{split}/codes"] = np.concatenate([r.codes for _, r in items]).astype(np.int16)
        arrays[f"{split}/tasks"] = np.frombuffer(json.dumps([t for t, _ in items]).encode(), dtype=np.uint8)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)


def load_rendered(path: Path) -> dict[str, list[tuple[str, Rendered]]]:
    """What :func:`save_rendered` wrote; raises ValueError or KeyError on a damaged file."""
    out: dict[str, list[tuple[str, Rendered]]] = {}
    with np.load(path, allow_pickle=False) as z:
        for split in sorted({k.split("/")[0] for k in z.files}):
            offsets, ids, mask = z[f"{split}/offsets"], z[f"{split}/ids"].astype(np.int64), z[f"{split}/loss_mask"]
            codes = z[f"{split}/codes"].astype(np.int64) if f"{split}/codes" in z.files else None
            tasks = json.loads(z[f"{split}/tasks"].tobytes().decode())
            if len(tasks) + 1 != len(offsets) or offsets[-1] != len(ids) or len(mask) != len(ids):
                raise ValueError(f"the {split} arrays do not agree in length")
            out[split] = [(t, Rendered(ids[a:b], mask[a:b], None if codes is None else codes[a:b]))
                          for t, a, b in zip(tasks, offsets[:-1], offsets[1:], strict=True)]  # fmt: skip
    return out


def _codes_key(tokenizer: MotionTokenizer, corpus_dir: Path | list[Path]) -> str:
    """What a motion's codes depend on besides its reference: the tokenizer's weights and the corpus folders."""
    folders = [str(Path(c).resolve()) for c in (corpus_dir if isinstance(corpus_dir, list) else [corpus_dir])]
    return hashlib.sha256(json.dumps([tokenizer.fingerprint(), folders]).encode()).hexdigest()[:16]


def save_codes(path: Path, codes: dict[str, tuple[int, list[np.ndarray]]]) -> None:
    """Every motion reference's codes (``ref key -> (shifts asked, codes at shift 0, 1, ...)``) as one
    ``.npz`` of plain arrays, written atomically. A later preparation of another instruction set over the
    same corpus and tokenizer (new captions, another mix) encodes only the motions this lacks."""
    index = [[k, shifts, [len(c) for c in variants]] for k, (shifts, variants) in sorted(codes.items())]
    rows = [c for _, (_, variants) in sorted(codes.items()) for c in variants]
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, index=np.frombuffer(json.dumps(index).encode(), dtype=np.uint8),
                                codes=np.concatenate(rows).astype(np.int16) if rows else np.zeros((0, 1), np.int16))  # fmt: skip


def load_codes(path: Path) -> dict[str, tuple[int, list[np.ndarray]]]:
    """What :func:`save_codes` wrote; empty when there is none or it is damaged (it is only a cache)."""
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as z:
            index, flat = json.loads(z["index"].tobytes().decode()), z["codes"].astype(np.int64)
        out, at = {}, 0
        for k, shifts, lengths in index:
            out[k] = (shifts, [flat[a : a + n] for a, n in zip(np.cumsum([at, *lengths[:-1]]), lengths, strict=True)])
            at += sum(lengths)
        if at != len(flat):
            raise ValueError("the index and the codes disagree in length")
        return out
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        warnings.warn(f"{path}: unreadable code cache ({e}); encoding again.", stacklevel=2)
        return {}


def _encode_ref(corpus: Corpus, tokenizer: MotionTokenizer, ref, shifts: int) -> list[np.ndarray]:
    """Codes of a reference's motion at shift 0, 1, ... (one when ``shifts`` is 1)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        motion = materialise(ref, corpus)
        return [tokenizer.encode(motion)] + shifted_codes(tokenizer, motion, shifts)


_WORKER: dict = {}


def _start_worker(corpus_dir: list[str], tokenizer_dir: str) -> None:
    torch.set_num_threads(1)
    _WORKER["corpus"], _WORKER["tokenizer"] = Corpus(corpus_dir), load_tokenizer(tokenizer_dir).eval()


def _encode_chunk(chunk) -> dict[str, list[np.ndarray]]:
    return {k: _encode_ref(_WORKER["corpus"], _WORKER["tokenizer"], ref, shifts) for k, ref, shifts in chunk}


def _encode_in_workers(todo, corpus_dir: Path | list[Path], tokenizer_dir, workers: int, progress: bool) -> dict:
    """The same codes as the one-process loop, from ``workers`` processes (spawned: each loads the
    corpus and tokenizer itself; on a many-core GPU machine preparation is otherwise the longest step)."""
    import multiprocessing as mp

    chunks = [todo[i : i + 64] for i in range(0, len(todo), 64)]
    codes: dict[str, list[np.ndarray]] = {}
    folders = [str(c) for c in (corpus_dir if isinstance(corpus_dir, list) else [corpus_dir])]
    with mp.get_context("spawn").Pool(workers, _start_worker, (folders, str(tokenizer_dir))) as pool:
        for part in tqdm(pool.imap_unordered(_encode_chunk, chunks), total=len(chunks), disable=not progress,
                         desc="encoding motions (chunks of 64)"):  # fmt: skip
            codes.update(part)
    return codes


def shifted_codes(tokenizer: MotionTokenizer, motion, shifts: int) -> list[np.ndarray]:
    """Codes of the motion started 1 .. shifts-1 frames later, all cut to one length and encoded as
    one batch; none when the motion is too short to shift."""
    f = tokenizer.normalizer.normalize(motion.features)
    length = len(f) - (shifts - 1)
    if shifts < 2 or length <= tokenizer.config.downsample:
        return []
    x = torch.from_numpy(np.stack([f[i : i + length] for i in range(1, shifts)])).float()
    tokenizer.eval()
    return list(tokenizer.encode_tensor(x).numpy().astype(np.int64))


def _at(variants: list, i: int):
    return variants[min(i, len(variants) - 1)]


class Rendered2Batch:
    """Pads a list of rendered samples to the longest (pad id, mask off, codes -1)."""

    def __init__(self, vocab: Vocab):
        self.pad, self.levels, self.grouped = vocab.special["<pad>"], vocab.levels, vocab.layout == "grouped"

    def __call__(self, items) -> dict:
        rs = [r for _, r in items]
        n, t = len(rs), max(len(r.ids) for r in rs)
        ids = torch.full((n, t), self.pad, dtype=torch.long)
        mask = torch.zeros((n, t), dtype=torch.bool)
        attn = torch.zeros((n, t), dtype=torch.long)
        codes = torch.full((n, t, self.levels), -1, dtype=torch.long) if self.grouped else None
        for i, r in enumerate(rs):
            k = len(r.ids)
            ids[i, :k], mask[i, :k], attn[i, :k] = torch.from_numpy(r.ids), torch.from_numpy(r.loss_mask), 1
            if self.grouped:
                codes[i, :k] = torch.from_numpy(r.codes)
        return {"ids": ids, "loss_mask": mask, "attention_mask": attn, "codes": codes}


def _lr_lambda(cfg: LMTrainConfig):
    import math

    def f(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


@torch.no_grad()
def validate_per_task(model: OmniMoGenLM, val: list[tuple[str, Rendered]], per_task: int, collate) -> dict:
    model.eval()
    by_task = defaultdict(list)
    for task, r in val:
        if len(by_task[task]) < per_task:
            by_task[task].append((task, r))
    losses = {}
    for task, items in sorted(by_task.items()):
        total = 0.0
        device = next(model.parameters()).device
        for i in range(0, len(items), 8):
            b = {k: v if v is None else v.to(device) for k, v in collate(items[i : i + 8]).items()}
            out = model(b["ids"], b["codes"], attention_mask=b["attention_mask"], loss_mask=b["loss_mask"])
            total += float(out.loss) * len(items[i : i + 8])
        losses[task] = total / len(items)
    return losses


def _init_model(cfg: LMTrainConfig, tokenizer: MotionTokenizer) -> OmniMoGenLM | None:
    """The model ``cfg.init_from`` names, checked against the run's settings and tokenizer (None without)."""
    if not cfg.init_from:
        return None
    if cfg.model or cfg.text_vocab_size != LMTrainConfig.text_vocab_size:
        raise ConfigError("init_from keeps the architecture and vocabulary of the model it starts from; "
                          "leave 'model' and 'text_vocab_size' unset.")  # fmt: skip
    if not (cfg.init_dir() / "config.json").is_file():
        raise ConfigError(f"init_from: {cfg.init_dir()} is not a model folder (no config.json).")
    base = load_lm(cfg.init_dir())
    if base.tokenizer_fingerprint not in (None, tokenizer.fingerprint()) and not cfg.init_other_tokenizer:
        raise ConfigError(f"init_from: {cfg.init_dir()} was trained on tokenizer {base.tokenizer_fingerprint}, "
                          f"this run uses {tokenizer.fingerprint()}; its codes would mean other motions. "
                          "Pass the tokenizer it was trained with (--tokenizer), or move the model onto this one's codes "
                          "first: omnimogen train realign --model MODEL --tokenizer TOK --corpus DATA --out DIR, "
                          "then init_from=DIR.")  # fmt: skip
    return base


def model_from_run(run: str | Path, checkpoint: str | Path | None = None) -> OmniMoGenLM:
    """The model of a training run at one of its checkpoints (default: the latest), as training left
    it: for comparing runs mid-way or shipping a model from a run stopped before its last step."""
    from ..checkpoint import load_weights
    from .common import RunDir

    run = RunDir(run)
    path = Path(checkpoint) if checkpoint else run.latest()
    if path is None or not (path / "model.safetensors").is_file():
        raise ConfigError(f"{run.root}: no checkpoint with model.safetensors to load.")
    cfg = LMTrainConfig(**json.loads((run.root / "config.json").read_text()))
    vocabs = sorted((run.root / "prepared").glob("vocab-*"))
    if len(vocabs) != 1:
        raise ConfigError(f"{run.root}/prepared: expected one vocab-* folder, found {len(vocabs)}.")
    model = OmniMoGenLM(cfg.model_config(), Vocab.load(vocabs[0]))
    load_weights(model, path / "model.safetensors")
    return model.eval()


def prepare_run(x2mo: str | Path, corpus: str | Path | list, tokenizer: str | Path | None, out: str | Path,
                cfg: LMTrainConfig, progress: bool = True) -> dict:  # fmt: skip
    """Only the preparation of a run (``omnimogen train lm --prepare-only``): ``RUN/config.json`` and
    ``RUN/prepared/``, from which ``train_lm(None, None, tokenizer, RUN, cfg)`` trains on a machine that
    has neither the instruction set nor the corpus. Returns the sample counts and the folder's size."""
    from ..fileio import lock_folder
    from .common import RunDir, check_settings

    check_settings(cfg)
    run = RunDir(out)
    lock_folder(run.root, "training run")
    run.check_config(cfg)
    corpus = [Path(c) for c in ([corpus] if isinstance(corpus, (str, Path)) else corpus)]
    cache = run.root / "prepared"
    tok = load_tokenizer(tokenizer)
    base = _init_model(cfg, tok)
    prepare(Path(x2mo), corpus, tok, cfg, cache, progress, tokenizer_dir=tokenizer or TOKENIZER_DIR,
            vocab=base.vocab if base is not None else None)  # fmt: skip
    doc = json.loads((cache / PREPARED).read_text())
    key = doc["key"]
    size = sum(p.stat().st_size for p in [cache / f"prepared-{key}.npz", cache / PREPARED,
                                          *(cache / f"vocab-{key}").rglob("*")] if p.is_file())  # fmt: skip
    return {"samples": doc["samples"], "bytes": size, "folder": str(cache)}


def train_lm(x2mo: str | Path | None, corpus: str | Path | list | None, tokenizer: str | Path | None, out: str | Path,
             cfg: LMTrainConfig, progress: bool = True) -> dict:  # fmt: skip
    """Train (or resume) the model on an instruction set; ``corpus`` is the folder (or folders, in the
    order the set was built from) whose clips the samples reference. With ``x2mo`` and ``corpus``
    None, train from what :func:`prepare_run` left in ``out``."""
    from accelerate.utils import set_seed

    acc, run = start_run(cfg, out)
    tok = load_tokenizer(tokenizer)
    base = _init_model(cfg, tok)
    cache = run.root / "prepared"
    if x2mo is None:
        vocab, data, captions = load_prepared(cache, tok, cfg)
        if base is not None and vocab.fingerprint() != base.vocab.fingerprint():
            raise ConfigError(f"{cache}: prepared with another vocabulary than init_from's model; prepare again.")
    else:
        corpus = [Path(c) for c in ([corpus] if isinstance(corpus, (str, Path)) else corpus)]
        given = base.vocab if base is not None else None
        # Only the main process prepares; the others wait and read its cache.
        if acc.is_main_process:
            prepare(Path(x2mo), corpus, tok, cfg, cache, progress, tokenizer_dir=tokenizer or TOKENIZER_DIR, vocab=given)
        acc.wait_for_everyone()
        vocab, data = prepare(Path(x2mo), corpus, tok, cfg, cache, progress=False, vocab=given)
        captions = tuple(json.loads((cache / PREPARED).read_text())["captions"])
    set_seed(cfg.seed, device_specific=False)
    if base is not None:
        model = base.train()
        captions = tuple(dict.fromkeys(base.known_captions + captions))  # what it knew, and the new takes'
    else:
        model = OmniMoGenLM(cfg.model_config(), vocab)
    model.known_captions = captions
    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=cfg.lr, betas=(0.9, 0.95))  # fmt: skip
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg))
    model, opt, sched = acc.prepare(model, opt, sched)
    raw = acc.unwrap_model(model)
    collate = Rendered2Batch(vocab)

    def train_step(model, b, step):
        out = model(b["ids"], b["codes"], attention_mask=b["attention_mask"], loss_mask=b["loss_mask"])
        return out.loss, {**out.stats, "tokens": int(b["attention_mask"].sum())}

    def validate(step):
        if not data.get("val"):
            return None, {}
        losses = validate_per_task(raw, data["val"], cfg.val_per_task, collate)
        mean = float(np.mean(list(losses.values())))
        return mean, {"loss_mean": mean, **{f"loss/{k}": round(v, 4) for k, v in losses.items()}}

    def save(directory: Path):
        save_lm(raw, directory, tok.fingerprint())
        tok.save_pretrained(Path(directory) / "tokenizer")

    train = weigh_tasks(data["train"], cfg.task_weights)
    if cfg.task_weights:
        acc.print(f"task_weights {cfg.task_weights}: {len(train)} training renderings (from {len(data['train'])})")
    if cfg.unconditional_share:
        train = with_unconditional(train, raw.vocab, cfg.unconditional_share, cfg.seed)
        acc.print(f"unconditional_share {cfg.unconditional_share}: {len(train)} training renderings")
    return train_loop(acc, run, cfg, model, opt, sched, train, collate=collate, train_step=train_step,
                      validate=validate, save=save, name="lm", progress=progress)  # fmt: skip
