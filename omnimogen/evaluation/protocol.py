"""The standard HumanML3D text-to-motion evaluation protocol (Guo et al. 2022), for the official evaluator.

Researchers who have the official evaluator files run it as

    evaluator = load_humanml3d_evaluator("checkpoints/t2m/text_mot_match/model", glove_dir="glove")
    results = run_protocol(omnimogen_generator(model), "HumanML3D", evaluator)
    results["model"]["FID"], results["model"]["FID_ci95"], results["ground_truth"]["R@3"], ...

and get numbers that compare with published tables. The steps follow ``EricGuo5513/text-to-motion``
(``final_evaluations.py``, ``data/dataset.py: Text2MotionDatasetV2``, ``networks/evaluator_wrapper.py``,
``utils/word_vectorizer.py``); the places where we differ, and why, are listed in :func:`run_protocol`.

Three inputs the user provides (none ships with this package and nothing is downloaded):

- the evaluator checkpoint ``t2m/text_mot_match/model/finest.tar``;
- the normalisation the evaluator was trained with, ``mean.npy`` / ``std.npy`` of
  ``t2m/Comp_v6_KLD01/meta`` (the official loader's ``opt.meta_dir``; it is *not* the dataset's
  ``Mean.npy`` / ``Std.npy`` in general);
- the GloVe vocabulary of the word vectorizer: ``our_vab_data.npy``, ``our_vab_words.pkl``,
  ``our_vab_idx.pkl`` (the repository's ``glove/`` folder).

The text side needs no tagger: HumanML3D's ``texts/ID.txt`` lines already carry the spaCy tokens as
``caption#word/POS word/POS ...#start#end``, which is what the official loader reads.
"""

from __future__ import annotations

import hashlib
import math
import pickle
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data.dataset import FEATURES, TEXTS, Layout
from ..errors import FormatError, MotionError
from ..motion import FPS, WINDOW_ROWS
from .guo import GuoEvaluator, load_guo_evaluator
from .metrics import diversity, fid, matching_score, multimodality, r_precision
from .report import ProtocolResults, over_repeats

# Constants of the official pipeline (evaluator_wrapper.py, data/dataset.py, final_evaluations.py).
# FPS: a caption's start/end seconds times 20 give feature rows
MIN_FRAMES = 40  # motions (or caption segments) shorter than this are left out (24 for KIT-ML)
MAX_FRAMES = 200  # ... and those this long or longer
MAX_MOTION_LENGTH = WINDOW_ROWS  # every motion is zero-padded (after normalisation) to this many rows
MAX_TEXT_LEN = 20  # tokens kept per caption, before sos/eos are added
UNIT_LENGTH = 4  # lengths are cut to whole units of 4 frames (the evaluator's latent step)

METRICS = ("FID", "R@1", "R@2", "R@3", "MM-Dist", "Diversity", "MultiModality")

# utils/word_vectorizer.py: 15 part-of-speech classes, five of them "very important" word lists that
# override the tagger's class for the words they contain.
POS_ENUMERATOR = {
    "VERB": 0, "NOUN": 1, "DET": 2, "ADP": 3, "NUM": 4, "AUX": 5, "PRON": 6, "ADJ": 7, "ADV": 8,
    "Loc_VIP": 9, "Body_VIP": 10, "Obj_VIP": 11, "Act_VIP": 12, "Desc_VIP": 13, "OTHER": 14,
}  # fmt: skip
VIP_WORDS = {
    "Loc_VIP": ("left", "right", "clockwise", "counterclockwise", "anticlockwise", "forward", "back", "backward",
                "up", "down", "straight", "curve"),
    "Body_VIP": ("arm", "chin", "foot", "feet", "face", "hand", "mouth", "leg", "waist", "eye", "knee", "shoulder",
                 "thigh"),
    "Obj_VIP": ("stair", "dumbbell", "chair", "window", "floor", "car", "ball", "handrail", "baseball", "basketball"),
    "Act_VIP": ("walk", "run", "swing", "pick", "bring", "kick", "put", "squat", "throw", "hop", "dance", "jump",
                "turn", "stumble", "dance", "stop", "sit", "lift", "lower", "raise", "wash", "stand", "kneel",
                "stroll", "rub", "bend", "balance", "flap", "jog", "shuffle", "lean", "rotate", "spin", "spread",
                "climb"),
    "Desc_VIP": ("slowly", "carefully", "fast", "careful", "slow", "quickly", "happy", "angry", "sad", "happily",
                 "angrily", "sadly"),
}  # fmt: skip

# generate_fn(texts, lengths, seeds) -> one array (>= length, D) of HumanML3D features per request.
GenerateFn = Callable[[list[str], list[int], list[int]], Sequence]


# ---------------------------------------------------------------------------------------------
# The text side: GloVe word vectors and part-of-speech one-hots


class _PlainUnpickler(pickle.Unpickler):
    """Reads lists, dicts, strings and numbers only (numpy scalars too): no code in the file runs."""

    _ALLOWED = {("numpy", "dtype"), ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")}

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _read_pickle(path: Path):
    if not path.is_file():
        raise FormatError(f"{path}: no such file; the word vectorizer needs the official glove/our_vab_* files.")
    try:
        with path.open("rb") as f:
            return _PlainUnpickler(f).load()
    except Exception as e:  # any unreadable file is the same user error
        raise FormatError(f"{path}: not a plain pickled word list or index ({type(e).__name__}: {e}).") from None


class WordVectorizer:
    """The official ``WordVectorizer(glove_dir, "our_vab")``: a ``word/POS`` token -> (300-D vector, 15-D one-hot).

    A word outside the vocabulary gets the ``unk`` vector and the ``OTHER`` class; a word of one of
    the VIP lists gets that list's class whatever its tag says. A token without ``/`` counts as
    tagged ``OTHER`` (the official code would stop with an error on it).
    """

    def __init__(self, glove_dir: str | Path, prefix: str = "our_vab"):
        d = Path(glove_dir)
        if not d.is_dir():
            raise FormatError(f"{d}: GloVe directory does not exist; pass the folder holding {prefix}_data.npy.")
        data = d / f"{prefix}_data.npy"
        if not data.is_file():
            raise FormatError(f"{data}: no such file; the word vectorizer needs the official glove/{prefix}_* files.")
        try:
            vectors = np.load(data, allow_pickle=False)
        except Exception as e:
            raise FormatError(f"{data}: not a numpy array file ({type(e).__name__}: {e}).") from None
        words = _read_pickle(d / f"{prefix}_words.pkl")
        word2idx = _read_pickle(d / f"{prefix}_idx.pkl")
        if vectors.ndim != 2 or not isinstance(words, list | tuple) or not isinstance(word2idx, dict):
            raise FormatError(
                f"{d}: expected {prefix}_data.npy (words, dim), a word list and a word -> row dict; got an array "
                f"of shape {vectors.shape}, a {type(words).__name__} and a {type(word2idx).__name__}."
            )
        try:
            self.word2vec = {w: vectors[int(word2idx[w])].astype(np.float32) for w in words}
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise FormatError(
                f"{d}: {prefix}_idx.pkl has no valid row for word {e}; the three files disagree."
            ) from None
        if "unk" not in self.word2vec:
            raise FormatError(f"{d}: the vocabulary has no 'unk' word, which stands for every unknown word.")
        self.dim = vectors.shape[1]
        self._vip: dict[str, str] = {}
        for cls, ws in VIP_WORDS.items():  # the first list that has the word decides, as the official loop
            for w in ws:
                self._vip.setdefault(w, cls)

    def __len__(self) -> int:
        return len(self.word2vec)

    @staticmethod
    def _one_hot(pos: str) -> np.ndarray:
        v = np.zeros(len(POS_ENUMERATOR), dtype=np.float32)
        v[POS_ENUMERATOR.get(pos, POS_ENUMERATOR["OTHER"])] = 1
        return v

    def __getitem__(self, token: str) -> tuple[np.ndarray, np.ndarray]:
        word, _, pos = token.rpartition("/") if "/" in token else (token, "", "OTHER")
        if word not in self.word2vec:
            return self.word2vec["unk"], self._one_hot("OTHER")
        return self.word2vec[word], self._one_hot(self._vip.get(word, pos))

    def encode(self, tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray, int]:
        """Tokens -> word vectors (22, dim), POS one-hots (22, 15) and the caption length.

        As ``Text2MotionDatasetV2.__getitem__``: at most 20 tokens, wrapped in ``sos``/``eos``, and
        padded with ``unk`` to 22 (the padding is ignored: the GRU stops at the caption length).
        """
        toks = list(tokens)[:MAX_TEXT_LEN]
        toks = ["sos/OTHER", *toks, "eos/OTHER"]
        length = len(toks)
        toks += ["unk/OTHER"] * (MAX_TEXT_LEN + 2 - length)
        pairs = [self[t] for t in toks]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]), length


# ---------------------------------------------------------------------------------------------
# The evaluator with its inputs prepared as the official pipeline prepares them


@dataclass(eq=False)
class HumanML3DEvaluator:
    """The Guo et al. evaluator, its word vectorizer and the normalisation it was trained with."""

    model: GuoEvaluator
    vectorizer: WordVectorizer
    mean: np.ndarray  # (dim_pose,) of t2m/Comp_v6_KLD01/meta/mean.npy
    std: np.ndarray
    chunk: int = 64  # motions or texts per forward pass; does not change the results
    sha256: str = ""  # of the checkpoint file, for the record

    def __post_init__(self):
        dim = self.model.config.dim_pose
        if self.mean.shape != (dim,) or self.std.shape != (dim,):
            raise FormatError(
                f"the evaluator's mean {self.mean.shape} and std {self.std.shape} must both have shape ({dim},)."
            )
        if not (np.isfinite(self.mean).all() and np.isfinite(self.std).all() and (self.std > 0).all()):
            raise FormatError("the evaluator's mean and std must be finite, and the std positive.")
        if self.vectorizer.dim != self.model.config.dim_word:
            raise FormatError(
                f"the GloVe vectors have {self.vectorizer.dim} dimensions; the evaluator reads "
                f"{self.model.config.dim_word}."
            )

    @property
    def dim_pose(self) -> int:
        return self.model.config.dim_pose

    def embed_motions(self, motions: Sequence[np.ndarray], lengths: Sequence[int]) -> np.ndarray:
        """Raw (not normalised) features, each (>= length, dim_pose), and lengths (multiples of 4) -> (N, 512).

        Normalised with the evaluator's statistics and zero-padded to 196 rows, as the official
        loaders do (the padding is visible to the convolutions' last step, so it matters).
        """
        out = []
        for s in range(0, len(motions), self.chunk):
            batch = np.zeros((len(motions[s : s + self.chunk]), MAX_MOTION_LENGTH, self.dim_pose), np.float32)
            lens = np.asarray(lengths[s : s + self.chunk], dtype=np.int64)
            for k, (m, n) in enumerate(zip(motions[s : s + self.chunk], lens, strict=True)):
                batch[k, :n] = (np.asarray(m[:n], np.float32) - self.mean) / self.std
            out.append(self.model.embed_motions(torch.from_numpy(batch), torch.from_numpy(lens)).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.model.config.dim_coemb_hidden), np.float32)

    def embed_texts(self, token_lists: Sequence[Sequence[str]]) -> np.ndarray:
        """Captions as ``word/POS`` token lists -> text embeddings (N, 512)."""
        out = []
        for s in range(0, len(token_lists), self.chunk):
            enc = [self.vectorizer.encode(t) for t in token_lists[s : s + self.chunk]]
            words = torch.from_numpy(np.stack([e[0] for e in enc]))
            pos = torch.from_numpy(np.stack([e[1] for e in enc]))
            lens = torch.tensor([e[2] for e in enc])
            out.append(self.model.embed_texts(words, pos, lens).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.model.config.dim_coemb_hidden), np.float32)


def _meta_candidates(checkpoint: Path) -> list[Path]:
    """Where the official checkpoints keep the evaluator's normalisation, relative to finest.tar."""
    model_dir = checkpoint.parent  # .../t2m/text_mot_match/model
    root = model_dir.parent.parent  # .../t2m
    return [
        model_dir.parent / "meta",
        root / "Comp_v6_KLD01" / "meta",  # final_evaluations.py's dataset_opt_path
        root / "Comp_v6_KLD005" / "meta",  # the copy MoMask's evaluation reads
        root / "VQVAEV3_CB1024_CMT_H1024_NRES3" / "meta",  # the copy T2M-GPT's evaluation reads
    ]


def _load_stats(meta_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    for mean_name, std_name in (("mean.npy", "std.npy"), ("Mean.npy", "Std.npy")):
        if (meta_dir / mean_name).is_file() and (meta_dir / std_name).is_file():
            try:
                mean, std = np.load(meta_dir / mean_name), np.load(meta_dir / std_name)
            except Exception as e:
                raise FormatError(
                    f"{meta_dir}: unreadable {mean_name} / {std_name} ({type(e).__name__}: {e})."
                ) from None
            return mean.astype(np.float32).reshape(-1), std.astype(np.float32).reshape(-1)
    raise FormatError(f"{meta_dir}: no mean.npy and std.npy here.")


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_humanml3d_evaluator(
    checkpoint: str | Path,
    glove_dir: str | Path,
    meta_dir: str | Path | None = None,
    *,
    device: str | torch.device = "cpu",
) -> HumanML3DEvaluator:
    """Load the official evaluator: ``checkpoint`` is ``finest.tar`` or the folder holding it
    (``t2m/text_mot_match/model``); ``glove_dir`` holds ``our_vab_*``; ``meta_dir`` holds the
    evaluator's ``mean.npy`` / ``std.npy`` (default: looked up where the official checkpoints keep it,
    ``t2m/Comp_v6_KLD01/meta`` next to ``t2m/text_mot_match``)."""
    path = Path(checkpoint)
    if path.is_dir():
        path = path / "finest.tar"
    if not path.is_file():
        raise FormatError(f"{path}: no such file; the evaluator is t2m/text_mot_match/model/finest.tar.")
    if meta_dir is None:
        found = [d for d in _meta_candidates(path) if (d / "mean.npy").is_file() and (d / "std.npy").is_file()]
        if not found:
            looked = ", ".join(str(d) for d in _meta_candidates(path))
            raise FormatError(
                f"{path}: no evaluator normalisation (mean.npy, std.npy) found in {looked}; pass the folder "
                "t2m/Comp_v6_KLD01/meta of the official checkpoints as meta_dir (--evaluator-meta)."
            )
        meta = found[0]
    else:
        meta = Path(meta_dir)
        if not meta.is_dir():
            raise FormatError(f"{meta}: evaluator meta directory does not exist; it holds mean.npy and std.npy.")
    mean, std = _load_stats(meta)
    vectorizer = WordVectorizer(glove_dir)
    model = load_guo_evaluator(path, device=device)  # FormatError: not a checkpoint, wrong layout or shapes
    return HumanML3DEvaluator(model, vectorizer, mean, std, sha256=_file_sha256(path))


# ---------------------------------------------------------------------------------------------
# The test set, as Text2MotionDatasetV2 builds it


@dataclass(frozen=True)
class Entry:
    """One entry of the official test set: a motion (or a captioned segment of one) and its captions."""

    name: str
    motion: np.ndarray  # (T, D) raw features, MIN_FRAMES <= T < MAX_FRAMES
    captions: tuple[tuple[str, tuple[str, ...]], ...]  # (caption, word/POS tokens)


def _parse_line(line: str) -> tuple[str, tuple[str, ...], float, float]:
    parts = line.strip().split("#")
    caption = parts[0].strip()
    tokens = tuple(t for t in parts[1].split(" ") if t) if len(parts) > 1 else ()
    if not tokens:  # no tagger output: every word tagged OTHER, as omnimogen's own corpora write it
        tokens = tuple(f"{w}/OTHER" for w in caption.lower().rstrip(".").replace(",", "").split())
    tags = []
    for k in (2, 3):
        try:
            v = float(parts[k]) if len(parts) > k and parts[k].strip() else 0.0
        except ValueError:
            v = 0.0
        tags.append(0.0 if math.isnan(v) else v)
    return caption, tokens, tags[0], tags[1]


@dataclass
class EvalSet:
    items: list[Entry]
    skipped: dict[str, int] = field(default_factory=dict)


def load_test_set(dataset_dir: str | Path, split: str = "test", dim_pose: int = 263) -> EvalSet:
    """The official evaluation set of a HumanML3D-layout dataset.

    As ``Text2MotionDatasetV2``: motions of 40 to 199 rows; a caption with a start/end time makes
    its own entry with ``motion[int(start * 20):int(end * 20)]`` (if that is 40 to 199 rows), the
    others are the captions of the whole motion, which is an entry only if it has one; entries are
    ordered by length (stable). Clips without a feature or text file are left out with a warning.
    """
    layout = Layout(dataset_dir, need=())
    split_file = layout.split_file(split)
    ids = layout.split_ids(split)
    layout.require(FEATURES, TEXTS)
    skipped = {"no feature file": 0, "no text file": 0, "length outside [40, 200)": 0}
    entries: list[Entry] = []
    for name in ids:
        if not layout.feature_path(name).is_file():
            skipped["no feature file"] += 1
            continue
        if not layout.text_path(name).is_file():
            skipped["no text file"] += 1
            continue
        motion = layout.features(name, dim_pose)
        if not MIN_FRAMES <= len(motion) < MAX_FRAMES:
            skipped["length outside [40, 200)"] += 1
            continue
        whole = []
        for k, line in enumerate(layout.text_lines(name)):
            caption, tokens, start, end = _parse_line(line)
            if start == 0.0 and end == 0.0:
                whole.append((caption, tokens))
                continue
            segment = motion[int(start * FPS) : int(end * FPS)]
            if MIN_FRAMES <= len(segment) < MAX_FRAMES:
                entries.append(Entry(f"{name}#{k}", segment, ((caption, tokens),)))
        if whole:
            entries.append(Entry(name, motion, tuple(whole)))
    entries.sort(key=lambda e: len(e.motion))
    skipped = {k: v for k, v in skipped.items() if v}
    if skipped:
        warnings.warn(
            f"{split_file}: left out "
            + ", ".join(f"{v} clip(s) with {k}" for k, v in skipped.items())
            + f"; {len(entries)} test entries remain.",
            stacklevel=2,
        )
    if not entries:
        raise FormatError(f"{split_file}: no usable test entries (a motion of 40 to 199 frames with a caption).")
    return EvalSet(entries, skipped)


def dataset_sha256(dataset_dir: str | Path, split: str = "test") -> str:
    """A hash of the split file and every feature and text file it lists (what the protocol reads)."""
    layout = Layout(dataset_dir, need=())
    ids = layout.split_ids(split)
    h = hashlib.sha256(layout.split_file(split).read_bytes())
    for name in ids:
        for path in (layout.feature_path(name), layout.text_path(name)):
            if path.is_file():
                h.update(f"{path.parent.name}/{path.name}\n".encode())
                h.update(_file_sha256(path).encode())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# One repeat's draw: captions, crops and order


@dataclass
class _Draw:
    order: np.ndarray  # (U,) entry indices in batch order: U = whole batches of the shuffled entries
    captions: list[str]
    tokens: list[tuple[str, ...]]
    lengths: np.ndarray  # (U,) cropped lengths, multiples of 4
    crops: list[np.ndarray]  # (U,) raw feature crops
    ref_lengths: np.ndarray  # the FID reference pass: another shuffled pass with its own crops
    ref_crops: list[np.ndarray]
    seeds: np.ndarray  # (U,) generation seeds
    mm_rows: np.ndarray  # (mm_num,) positions into order
    mm_seeds: np.ndarray  # (mm_num, mm_samples - 1)
    diversity_seed: int
    mm_seed: int


def _crop(rng: np.random.Generator, motions: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The official test-time crop: the length rounded down to a multiple of 4, one unit less with
    probability 1/3 (``np.random.choice(['single', 'single', 'double'])``), at a uniform offset."""
    n = len(motions)
    double = rng.integers(0, 3, n) == 2
    offsets = rng.random(n)
    lengths, crops = np.zeros(n, dtype=np.int64), []
    for k, m in enumerate(motions):
        length = (len(m) // UNIT_LENGTH - int(double[k])) * UNIT_LENGTH
        start = min(int(offsets[k] * (len(m) - length + 1)), len(m) - length)
        lengths[k] = length
        crops.append(m[start : start + length])
    return lengths, crops


def _draw(items: list[Entry], used: int, seed: int, repeat: int, mm_num: int, mm_samples: int) -> _Draw:
    """Repeat ``repeat``'s random choices, from independent streams of (seed, repeat): the ground
    truth's draw does not change with the MultiModality settings or with whether a model runs."""
    streams = np.random.SeedSequence([seed, repeat]).spawn(5)
    data, ref, gen, mm, metric = (np.random.default_rng(s) for s in streams)
    order = data.permutation(len(items))[:used]
    caption_u = data.random(len(order))
    picked = [
        items[i].captions[min(int(u * len(items[i].captions)), len(items[i].captions) - 1)]
        for i, u in zip(order, caption_u, strict=True)
    ]
    lengths, crops = _crop(data, [items[i].motion for i in order])
    ref_order = ref.permutation(len(items))[:used]
    ref_lengths, ref_crops = _crop(ref, [items[i].motion for i in ref_order])
    seeds = gen.integers(0, 2**31 - 1, used)
    mm_rows = np.sort(mm.choice(used, mm_num, replace=False)) if mm_num else np.zeros(0, dtype=np.int64)
    mm_seeds = mm.integers(0, 2**31 - 1, (mm_num, max(mm_samples - 1, 0)))
    div_seed, mm_seed = (int(s) for s in metric.integers(0, 2**63 - 1, 2))
    return _Draw(
        order, [p[0] for p in picked], [p[1] for p in picked], lengths, crops, ref_lengths, ref_crops,
        seeds, mm_rows, mm_seeds, div_seed, mm_seed,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Generation


def omnimogen_generator(model, **options) -> GenerateFn:
    """A ``generate_fn`` for an :class:`omnimogen.model.pipeline.OmniMoGen` model.

    A request for ``n`` feature rows asks for ``n + 1`` frames (a motion of T frames has T - 1
    feature rows) and one motion only; ``options`` go to ``model.generate`` (temperature, top_p, ...).
    """

    def generate(texts: list[str], lengths: list[int], seeds: list[int]) -> list[np.ndarray]:
        out = []
        for text, n, seed in zip(texts, lengths, seeds, strict=True):
            result = model.generate(text, frames=int(n) + 1, seed=int(seed), motion_only=True, **options)
            if not result.motions:
                raise MotionError(f"the model answered {text!r} without a motion.")
            out.append(result.motions[0].features)
        return out

    return generate


def _generate(generate_fn: GenerateFn, texts: list[str], lengths: list[int], seeds: list[int], dim: int,
              chunk: int, bar) -> list[np.ndarray]:  # fmt: skip
    """Call generate_fn in chunks and check every answer: (>= length, dim), finite; cut to length."""
    out: list[np.ndarray] = []
    for s in range(0, len(texts), chunk):
        t, n, sd = (
            texts[s : s + chunk],
            [int(x) for x in lengths[s : s + chunk]],
            [int(x) for x in seeds[s : s + chunk]],
        )
        answers = list(generate_fn(t, n, sd))
        if len(answers) != len(t):
            raise MotionError(f"generate_fn returned {len(answers)} motions for {len(t)} requests.")
        for text, length, a in zip(t, n, answers, strict=True):
            if hasattr(a, "detach"):
                a = a.detach().cpu().numpy()
            a = np.asarray(a, dtype=np.float32)
            if a.ndim != 2 or a.shape[1] != dim or len(a) < length:
                raise MotionError(
                    f"generate_fn must return features of shape (at least {length}, {dim}) for {text!r}; got {a.shape}."
                )
            if not np.isfinite(a[:length]).all():
                raise MotionError(f"generate_fn returned NaN or infinite features for {text!r}.")
            out.append(a[:length])
        if bar is not None:
            bar.update(len(t))
    return out


# ---------------------------------------------------------------------------------------------
# The protocol


def _scores(text_emb, motion_emb, ref_emb, batch_size: int, pairs: int, div_seed: int) -> dict[str, float]:
    r = r_precision(text_emb, motion_emb, batch_size=batch_size, top_k=3)  # consecutive (already shuffled)
    return {
        "FID": fid(ref_emb, motion_emb),
        "R@1": float(r[0]),
        "R@2": float(r[1]),
        "R@3": float(r[2]),
        "MM-Dist": matching_score(text_emb, motion_emb),
        "Diversity": diversity(motion_emb, pairs, rng=div_seed),
    }


def run_protocol(
    generate_fn: GenerateFn | None,
    dataset_dir: str | Path,
    evaluator: HumanML3DEvaluator,
    *,
    split: str = "test",
    batch_size: int = 32,
    diversity_pairs: int = 300,
    mm_num: int = 100,
    mm_samples: int = 30,
    mm_pairs: int = 10,
    repeats: int = 20,
    seed: int = 0,
    max_texts: int | None = None,
    fid_reference: str = "paired",
    progress: bool = True,
) -> ProtocolResults:
    """Evaluate ``generate_fn`` (and the ground truth) with the HumanML3D protocol of Guo et al.

    ``generate_fn(texts, lengths, seeds)`` gets a batch of captions, feature-row counts and integer
    seeds and returns one array per request of *raw* HumanML3D features (the representation of
    ``new_joint_vecs``, not normalised), at least ``length`` rows (extra rows are cut). With
    ``generate_fn=None`` only the ground truth is evaluated (a check that a setup reproduces the
    published ground-truth row). :func:`omnimogen_generator` adapts an OmniMoGen model.

    Per repeat r (random numbers from ``seed`` and r only: deterministic, and a repeat's numbers do
    not depend on how many repeats run or on the model):

    1. The test entries (:func:`load_test_set`) are shuffled and cut to whole batches of
       ``batch_size`` (the official loader's ``shuffle=True, drop_last=True``); each entry gets one
       caption chosen at random and the official crop (:func:`_crop`: length rounded down to a
       multiple of 4, one unit shorter with probability 1/3, uniform offset; at most 196 rows).
    2. Model: ``generate_fn`` makes one motion per entry from its caption, with the cropped ground
       truth's length.
    3. The captions, the cropped real motions and the generated motions are embedded with the
       evaluator (motions normalised with the evaluator's mean/std and zero-padded to 196 rows).
    4. FID. Model: against the real motions of the same pass (``fid_reference="paired"``, as the
       evaluation code of T2M-GPT and MoMask computes it; a perfect generator scores 0) or against
       the independent pass of the ground-truth row (``"independent"``, as ``final_evaluations.py``).
       Ground truth: its embeddings against an independent second pass over the real test motions
       with fresh crops, as ``evaluate_fid`` iterates the ground-truth loader again: the noise floor
       of the crops (0.002 in the published tables).
    5. R-precision top-1/2/3 (fractions) within consecutive batches of ``batch_size`` (each text
       ranks its batch's motions by Euclidean distance), MM-Dist over the same pairs, Diversity over
       ``diversity_pairs`` random pairs (the same pairs for both methods).
    6. MultiModality (model only; the official code has none for the ground truth): ``mm_num``
       entries chosen at random get ``mm_samples`` generations in all (the first is the step-2
       motion), same caption and length, other seeds; ``mm_pairs`` pairs of generations per entry.

    Returns a :class:`~omnimogen.evaluation.report.ProtocolResults`: ``metrics`` ``{"ground_truth":
    {METRIC: mean, METRIC + "_ci95": half-width}, "model": {...}}``, ``per_repeat`` ``{method: {METRIC:
    [values]}}``, ``entries`` and ``texts_per_repeat``, METRIC in :data:`METRICS`; the half-width is ``1.96 * std / sqrt(repeats)`` with the population std, as
    ``get_metric_statistics``. ``max_texts`` limits the texts per repeat for a quick look (numbers
    then do not compare with published ones: FID in particular grows as the sample shrinks).

    Other differences from ``final_evaluations.py`` (none changes what a metric estimates): the
    model is asked for the ground truth's length (as T2M-GPT, MDM and MoMask evaluate, rather than
    with Guo's length estimator); the ground-truth row and the model share one draw of captions,
    crops and batches per repeat (paired comparisons; the official code draws them separately);
    the MultiModality entries are drawn from the entries in whole batches rather than from all.
    """
    if fid_reference not in ("paired", "independent"):
        raise ValueError(f"fid_reference must be 'paired' or 'independent', got {fid_reference!r}.")
    if batch_size < 3:
        raise ValueError(f"batch_size must be at least 3 for R-precision top-3, got {batch_size}.")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}.")
    if mm_num < 0 or (mm_num and mm_samples <= mm_pairs):
        raise ValueError(
            f"MultiModality needs more samples per text than pairs (mm_samples {mm_samples}, mm_pairs {mm_pairs}) "
            f"and mm_num >= 0 (got {mm_num})."
        )
    data = load_test_set(dataset_dir, split, evaluator.dim_pose)
    items = data.items
    pool = len(items) if max_texts is None else min(len(items), max_texts)
    used = pool // batch_size * batch_size
    if used < batch_size:
        raise FormatError(
            f"{dataset_dir}: {len(items)} test entries{'' if max_texts is None else f' (max_texts {max_texts})'}, "
            f"fewer than one batch of {batch_size}."
        )
    if used <= diversity_pairs:
        raise ValueError(
            f"Diversity draws {diversity_pairs} pairs from {used} motions; it needs more motions than pairs "
            "(lower diversity_pairs for a small dataset)."
        )
    if generate_fn is not None and mm_num >= used:
        raise ValueError(f"mm_num ({mm_num}) must be smaller than the {used} texts of a repeat.")
    mm_num = mm_num if generate_fn is not None else 0

    from tqdm import tqdm

    per_text = 1 + (max(mm_samples - 1, 0) * mm_num / used)
    total = int(repeats * used * per_text) if generate_fn is not None else repeats
    unit = "motion" if generate_fn is not None else "repeat"
    with tqdm(total=total, disable=not progress, desc="HumanML3D protocol", unit=unit) as bar:

        def measure(r: int) -> dict[str, dict[str, dict[str, float]]]:
            d = _draw(items, used, seed, r, mm_num, mm_samples)
            if generate_fn is not None:  # first, so that a generator that fails does so at once
                gen = _generate(generate_fn, d.captions, d.lengths.tolist(), d.seeds.tolist(), evaluator.dim_pose,
                                batch_size, bar)  # fmt: skip
                if mm_num:
                    texts = [d.captions[i] for i in d.mm_rows for _ in range(mm_samples - 1)]
                    lengths = [int(d.lengths[i]) for i in d.mm_rows for _ in range(mm_samples - 1)]
                    extra = _generate(generate_fn, texts, lengths, d.mm_seeds.reshape(-1).tolist(),
                                      evaluator.dim_pose, batch_size, bar)  # fmt: skip
            text_emb = evaluator.embed_texts(d.tokens)
            gt_emb = evaluator.embed_motions(d.crops, d.lengths)
            ref_emb = evaluator.embed_motions(d.ref_crops, d.ref_lengths)
            rows = {"ground_truth": _scores(text_emb, gt_emb, ref_emb, batch_size, diversity_pairs, d.diversity_seed)}
            if generate_fn is not None:
                gen_emb = evaluator.embed_motions(gen, d.lengths)
                model_ref = gt_emb if fid_reference == "paired" else ref_emb
                rows["model"] = _scores(text_emb, gen_emb, model_ref, batch_size, diversity_pairs, d.diversity_seed)
                if mm_num:
                    extra_emb = evaluator.embed_motions(extra, lengths).reshape(mm_num, mm_samples - 1, -1)
                    mm_emb = np.concatenate([gen_emb[d.mm_rows][:, None], extra_emb], axis=1)  # (mm_num, samples, D)
                    rows["model"]["MultiModality"] = multimodality(mm_emb, mm_pairs, rng=d.mm_seed)
                bar.set_postfix(FID=f"{rows['model']['FID']:.3f}", R3=f"{rows['model']['R@3']:.3f}")
            else:
                bar.update(1)
            return {method: {"all": scores} for method, scores in rows.items()}

        scores = over_repeats(repeats, measure, METRICS)
    return ProtocolResults(
        metrics={method: cats["all"] for method, cats in scores.summary.items()},
        per_repeat={method: cats["all"] for method, cats in scores.per_repeat.items()},
        entries=len(items),
        texts_per_repeat=used,
    )


__all__ = [
    "GenerateFn", "HumanML3DEvaluator", "METRICS", "Entry", "EvalSet", "WordVectorizer", "dataset_sha256",
    "load_humanml3d_evaluator", "load_test_set", "omnimogen_generator", "run_protocol",
]  # fmt: skip
