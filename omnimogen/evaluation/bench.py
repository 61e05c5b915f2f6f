"""``omnimogen bench``: a suite's cases asked of a model and of three baselines, scored with the evaluator.

    run_bench("anycontext", "bench/ac", data="data/bandai", model="runs/lm/best", evaluator="runs/eval/best")

Every method answers every case it can (see :mod:`.bench_cases` for the cases):

model         the model, asked the case's instruction with its motions bound (``seed=`` per case and repeat)
ground_truth  the target itself: the ceiling each metric can reach with this evaluator
copy_source   the source motion unchanged (cases that have one: editing, AnyContext, continuation)
retrieval     the train clip whose caption is nearest to the instruction in the evaluator's text space,
              cut to the target's length: what the words alone get

Each motion is reduced to its evaluator embedding, its Physical score and, where the input fixes
part of the target (in-betweening, inpainting), its keyframe error; the suite's metrics are computed
from those per repeat and reported as mean and 95% half-width over the repeats (``metrics.aggregate``).
Repeats draw new model samples (new seeds), new captions (t2m) and new retrieval batches; the
baselines' motions do not change between repeats, only the batches they are scored in.

Runs resume: the per-motion numbers are written in chunks to ``OUT/partial/`` under a fingerprint of
everything that decides them (suite, model, data, evaluator, seed, repeats, settings, versions); a
rerun with the same fingerprint reads the finished chunks, another fingerprint is refused unless
``overwrite``. ``results.json`` is written atomically at the end, with the report and chart.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import platform
import shutil
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..errors import FormatError, OmnimogenError, check_number
from ..fileio import LOCK, atomic_path, lock_folder, unlock_folder
from ..instructions.corpus import Corpus
from ..instructions.recipes import materialise
from ..instructions.schema import PLACEHOLDER
from ..instructions.validate import file_sha256
from ..model import pipeline
from ..model.generate import MAX_TEMPERATURE
from ..model.pipeline import MOTION_TEMPERATURE, GenerationError, load_model
from ..model.transformer import sampling_defaults
from ..motion import SMPL22, Motion
from . import evaluator as ev
from .bench_cases import SUITES, Case, case_seed, clips_used, load_cases, read_set, subset, with_think
from .bench_report import CHART, REPORT, write_report
from .evaluator import label_ranks, load_evaluator
from .follow import PROMPTS
from .metrics import diversity, fid, keyframe_error, matching_score, multimodality, physical_score
from .paraphrase import reword_anycontext
from .paraphrase import t2m_cases as paraphrase_t2m
from .report import SuiteResults, over_repeats

METHODS = ("model", "ground_truth", "copy_source", "retrieval")
FORMAT = "omnimogen.bench-1"  # part of the fingerprint: a change in how numbers are made starts over
RESULTS, RUN_FILE, PARTIAL = "results.json", "run.json", "partial"
KEYS = ("emb", "physical", "keyframe")  # what is kept of each motion


class BenchError(OmnimogenError, ValueError):
    """A benchmark request that cannot run as given (unknown suite, a folder holding another run, ...)."""


@dataclass(frozen=True)
class BenchConfig:
    repeats: int = 20  # the protocol's 20 repeats, each with new samples, captions and batches
    batch_size: int = 32  # retrieval batches, as the paper and Guo et al. use
    per_category: int | None = None  # at most this many cases per category (None: all)
    diversity_pairs: int = 300
    mm_texts: int = 100  # MultiModality (t2m): texts, generations per text, pairs per text
    mm_samples: int = 30
    mm_pairs: int = 10
    think_rounds: int = 3  # judge-and-regenerate rounds of Think mode
    temperature: float | None = None  # the motion's sampling temperature; None: the model's own (as generate's)
    chunk: int = 32  # motions per partial file: what an interruption can lose


# --quick: one retrieval batch per category, two repeats, a small MultiModality set.
QUICK = BenchConfig(repeats=2, per_category=32, mm_texts=8, mm_samples=6, mm_pairs=5)


# ---------------------------------------------------------------------------------------------
# Identity: hashes of what a run reads, and the fingerprint that decides whether it may resume


def _digest(named: list[tuple[str, str]]) -> str:
    """One hash for a set of files, from their names and hashes."""
    return hashlib.sha256("".join(f"{n}:{h}\n" for n, h in sorted(named)).encode()).hexdigest()


def _hash_files(root: Path, paths, prefix: str = "") -> list[tuple[str, str]]:
    return [(prefix + p.relative_to(root).as_posix(), file_sha256(p)) for p in paths if p.is_file()]


def dir_sha256(directory: Path) -> str:
    """The hash of a checkpoint: over every file in it (config, weights, vocabulary, tokenizer)."""
    return _digest(_hash_files(directory, sorted(directory.rglob("*"))))


def model_sha256(directory: Path) -> str:
    """A model's files and its tokenizer's: its own ``tokenizer/``, or the shipped one it then loads."""
    files = _hash_files(directory, sorted(directory.rglob("*")))
    if not (directory / "tokenizer").is_dir():
        from ..tokenizer.model import DEFAULT_DIR as TOKENIZER_DIR

        files += _hash_files(TOKENIZER_DIR, sorted(TOKENIZER_DIR.rglob("*")), "tokenizer/")
    return _digest(files)


def _checkpoint(path, default: Path, what: str, loader) -> Path:
    """The folder of a model or evaluator, or a FormatError saying why there is none."""
    if path is None:
        if not (default / "config.json").is_file():
            try:
                loader(None)  # raises the loader's own message: this install ships none
            except FormatError as e:
                raise FormatError(f"{e} The benchmark takes it as --{what} PATH.") from None
        return default
    path = Path(path)
    if not path.is_dir():
        raise FormatError(f"{path}: {what} directory does not exist.")
    return path


def versions_of(evaluator_sha: str) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("omnimogen", "torch", "numpy", "scipy", "transformers", ev.TEXT_PACKAGE):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out | {"evaluator": evaluator_sha}


def _cases(suite: str, corpus: Corpus, folder, progress: bool,
           paraphrase: str | None = None) -> tuple[list[Case], list[tuple[str, str]], str]:  # fmt: skip
    """The suite's cases, the hashes of the set files read, and the data's name. Without ``folder`` the
    set is built from the corpus with the default settings of ``omnimogen data anycontext`` / ``x2mo``.
    ``paraphrase`` (a half of the paraphrase set) asks t2m and AnyContext in held-out words."""
    words = [] if paraphrase is None else _hash_files(PROMPTS.parent, [PROMPTS], "words/")
    if suite == "t2m":
        if paraphrase is not None:
            cases, name = paraphrase_t2m(corpus, paraphrase)
            return cases, words, name
        return load_cases(suite, corpus, []), [], "test split"
    reword = (lambda s: s) if paraphrase is None else (lambda s: reword_anycontext(s, paraphrase))
    suffix = "" if paraphrase is None else f", paraphrase {paraphrase}"
    if folder is not None:
        samples, files = read_set(folder, suite, corpus)
        hashes = _hash_files(Path(folder), files, "cases/") + words
        return load_cases(suite, corpus, reword(samples)), hashes, Path(folder).name + suffix
    from ..instructions.anycontext import build_anycontext
    from ..instructions.builder import build_x2mo

    with tempfile.TemporaryDirectory() as tmp:
        built = Path(tmp) / ("anycontext" if suite == "anycontext" else "x2mo")
        (build_anycontext if suite == "anycontext" else build_x2mo)(corpus, built, progress=progress)
        samples, files = read_set(built, suite, corpus)
        hashes = _hash_files(built, files, "cases/") + words
        return load_cases(suite, corpus, reword(samples)), hashes, f"{built.name} (built){suffix}"


def _corpus_files(corpus: Corpus, cases: list[Case]) -> list[tuple[str, str]]:
    """Hashes of the corpus files a run reads: labels and splits, features and captions of the clips the
    cases use and of the train split (the retrieval baseline's pool)."""
    ids = sorted(clips_used(cases) | {c.id for cells in corpus.cells("train").values() for c in cells})
    root = corpus.root
    paths = [root / "labels.json", root / "train.txt", root / "test.txt"]
    paths += [root / sub / f"{i}{ext}" for i in ids for sub, ext in (("new_joint_vecs", ".npy"), ("texts", ".txt"))]
    return _hash_files(root, paths, "data/")


def _prepare(out: Path, identity: dict, overwrite: bool) -> bool:
    """Make ``out`` ready for the run ``identity`` describes; True when it already holds it complete."""
    if out.exists() and not out.is_dir():
        raise BenchError(f"{out}: exists and is not a folder.")
    lock_folder(out, "benchmark folder")
    if any(p.name != LOCK for p in out.iterdir()):
        try:
            previous = json.loads((out / RUN_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            raise BenchError(f"{out}: not empty and holds no benchmark run; choose a new or empty folder.") from None
        same = previous.get("fingerprint") == identity["fingerprint"]
        if overwrite:
            for name in (RESULTS, REPORT, CHART, RUN_FILE):
                (out / name).unlink(missing_ok=True)
            shutil.rmtree(out / PARTIAL, ignore_errors=True)
        elif not same:
            what = ", ".join(f"{k} {previous.get(k)}" for k in ("suite", "seed", "repeats", "quick"))
            model = (previous.get("model") or {}).get("name")
            raise BenchError(f"{out}: holds another run ({what}, model {model}); choose another folder or pass "
                             "--overwrite to replace it.")  # fmt: skip
        elif (out / RESULTS).is_file():
            return True
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / RUN_FILE) as tmp:
        tmp.write_text(json.dumps(identity, indent=1) + "\n", encoding="utf-8")
    return False


# ---------------------------------------------------------------------------------------------
# Producing each method's motions


def local_pose(features: np.ndarray) -> np.ndarray:
    """(rows, 22, 3) joint positions relative to the root's floor point and the facing (HumanML3D's
    ``ric`` channels plus the root height): a pose compared without where it stands or faces."""
    s = SMPL22.feature_slices()
    f = np.asarray(features, dtype=np.float64)
    root = np.zeros((len(f), 1, 3))
    root[:, 0, 1] = f[:, s["root_height"]][:, 0]
    return np.concatenate([root, f[:, s["positions"]].reshape(len(f), -1, 3)], axis=1)


def fixed_rows_error(motion: Motion, target: Motion, keep: tuple[int, int]) -> float:
    """Keyframe error (m) over the rows the input fixes: the first ``keep[0]`` and last ``keep[1]`` rows
    of each motion, compared as local poses. The poses reach the model each in its own frame (a
    motion's features start at the origin facing +Z), so where an end pose stands is not asked."""
    a, b = local_pose(motion.features), local_pose(target.features)
    head, tail = (min(k, len(a), len(b)) for k in keep)
    ends = [np.concatenate([x[:head], x[len(x) - tail :]]) for x in (a, b)]
    return keyframe_error(*ends, range(len(ends[0])))


class Producer:
    """Each method's motion for a case: materialised, retrieved or generated."""

    def __init__(self, corpus: Corpus, evaluator: ev.TextMotionEvaluator, model: pipeline.OmniMoGen | None,
                 seed: int, cfg: BenchConfig):  # fmt: skip
        self.corpus, self.evaluator, self.model, self.seed, self.cfg = corpus, evaluator, model, seed, cfg
        self._index: tuple[list[str], np.ndarray] | None = None

    def motion(self, method: str, case: Case, repeat: int, sample: int) -> Motion:
        if method == "ground_truth":
            return materialise(case.target, self.corpus)
        if method == "copy_source":
            return materialise(case.source, self.corpus)
        if method == "retrieval":
            return self.retrieve(case.text(self.seed, repeat), case.rows)
        return self.generate(case, repeat, sample)

    def retrieve(self, text: str, rows: int) -> Motion:
        """The train clip with the caption nearest to ``text`` (placeholders read as "the motion")."""
        if self._index is None:
            ids, texts = [], []
            for clip in sorted((c for cells in self.corpus.cells("train").values() for c in cells), key=lambda c: c.id):
                for caption in self.corpus.captions(clip.id):
                    ids.append(clip.id)
                    texts.append(caption)
            if not texts:
                raise FormatError(f"{self.corpus.root}: no train clip has captions; the retrieval baseline needs them.")
            self._index = ids, self.evaluator.embed_texts(texts)
        ids, emb = self._index
        query = self.evaluator.embed_texts([PLACEHOLDER.sub("the motion", text)])[0]
        clip = ids[int(np.argmax(emb @ query))]
        return Motion.from_features(self.corpus.features(clip)[:rows], name=clip)

    def generate(self, case: Case, repeat: int, sample: int) -> Motion:
        """The model's answer; a case that allows words first falls back to a motion-only answer."""
        inputs = {name: materialise(ref, self.corpus) for name, ref in case.inputs}
        kwargs = {"seed": case_seed(case, self.seed, repeat, sample), "frames": case.frames, "think": case.think,
                  "rounds": self.cfg.think_rounds}  # fmt: skip
        if self.cfg.temperature is not None:  # else the model's own
            kwargs["temperature"] = self.cfg.temperature
        text, result = case.text(self.seed, repeat), None
        if not case.motion_only:
            with contextlib.suppress(GenerationError):  # words that never end: ask for the motion alone
                result = self.model(text, inputs, motion_only=False, **kwargs)
        if result is None or not result.motions:
            try:
                result = self.model(text, inputs, motion_only=True, **kwargs)
            except GenerationError as e:
                raise GenerationError(f"case {case.id}: {e}") from None
        return result.motions[-1]


def compute_chunk(producer: Producer, method: str, items: list[tuple[Case, int]], repeat: int, bar) -> dict:
    """Embedding, Physical and keyframe error of each item's motion (NaN where nothing is fixed)."""
    motions, keyframe = [], []
    for case, sample in items:
        m = producer.motion(method, case, repeat, sample)
        motions.append(m)
        fixed = case.keep != (0, 0)
        keyframe.append(fixed_rows_error(m, materialise(case.target, producer.corpus), case.keep) if fixed else np.nan)
        bar.update()
    return {
        "emb": producer.evaluator.embed_motions([m.features for m in motions]),
        "physical": np.array([physical_score(m.joints) for m in motions]),
        "keyframe": np.array(keyframe, dtype=np.float64),
    }


def _read_chunk(path: Path, n: int) -> dict | None:
    """A finished chunk of ``n`` motions, or None (absent or not what this run writes)."""
    try:
        with np.load(path) as z:
            chunk = {k: z[k] for k in KEYS}
    except (OSError, KeyError, ValueError):
        return None
    return chunk if all(len(v) == n for v in chunk.values()) else None


def _items(method: str, suite: str, cases: list[Case], cfg: BenchConfig) -> list[tuple[Case, int]]:
    """(case, sample) pairs a method answers: sample 0 of its cases, plus t2m's MultiModality samples."""
    if method != "model":
        return [(c, 0) for c in cases if not c.think and (method != "copy_source" or c.source is not None)]
    items = [(c, 0) for c in cases]
    if suite == "t2m":
        items += [(c, k) for c in _mm_cases(cases, cfg) for k in range(1, cfg.mm_samples + 1)]
    return items


def _mm_cases(cases: list[Case], cfg: BenchConfig) -> list[Case]:
    pick = np.sort(np.random.default_rng(1).permutation(len(cases))[: cfg.mm_texts])
    return [cases[i] for i in pick]


def _varies(method: str, suite: str) -> bool:
    """Whether a method's motions change between repeats (new samples; new captions in t2m)."""
    return method == "model" or (method == "retrieval" and suite == "t2m")


# ---------------------------------------------------------------------------------------------
# Metrics of one repeat


def _rng(seed: int, repeat: int, category: str, purpose: int = 0) -> np.random.Generator:
    """The same batches for every method in a repeat and category, so methods are compared alike."""
    return np.random.default_rng([seed, repeat, zlib.crc32(category.encode()), purpose])


def _retrieval(query, targets, labels, batch_size: int, rng) -> dict[str, float]:
    r = label_ranks(query, targets, labels, batch_size, rng).recall()
    return {k: r[k] for k in ("R@1", "R@2", "R@3", "AvgR")}


def _motion_metrics(suite, cases, out, reference, source, cfg, seed, repeat) -> dict[str, dict[str, float]]:
    """Per category and ``all``: retrieval of the output by the target (by the source too, in ``edit``),
    Physical, and keyframe error where the input fixes rows. ``all`` pools the categories when the
    method answered all of them (Think mode aside)."""
    plain = [i for i, c in enumerate(cases) if not c.think]
    groups = {
        cat: [i for i, c in enumerate(cases) if c.category == cat] for cat in dict.fromkeys(c.category for c in cases)
    }
    if {cases[i].category for i in plain} == {c.category for c in reference["cases"]}:
        groups["all"] = plain
    metrics = {}
    for cat, idx in groups.items():
        labels = [cases[i].label for i in idx]
        ref = reference["emb"][[reference["row"][cases[i].id] for i in idx]]
        m = _retrieval(ref, out["emb"][idx], labels, cfg.batch_size, _rng(seed, repeat, cat))
        if source is not None:
            src = source["emb"][[source["row"][cases[i].id] for i in idx]]
            m |= {f"source_{k}": v for k, v in _retrieval(src, out["emb"][idx], labels, cfg.batch_size,
                                                        _rng(seed, repeat, cat)).items()}  # fmt: skip
        m["Physical"] = float(out["physical"][idx].mean())
        if not np.isnan(out["keyframe"][idx]).all():
            m["KeyframeErr"] = float(np.nanmean(out["keyframe"][idx]))
        metrics[cat] = m
    return metrics


def _t2m_metrics(cases, out, reference, text_emb, cfg, seed, repeat, with_mm: bool) -> dict[str, dict[str, float]]:
    """Guo et al.'s text-to-motion metrics with our evaluator; R-precision counts any motion with the
    caption's label as a match (Bandai captions are written from labels, so same-label clips share them)."""
    n, emb = len(cases), out["emb"][: len(cases)]
    ranks = label_ranks(text_emb, emb, [c.label for c in cases], cfg.batch_size, _rng(seed, repeat, "all")).recall()
    m = {f"R@{k}": ranks[f"R@{k}"] / 100 for k in (1, 2, 3)}
    if n >= 2:
        m["FID"] = fid(reference["emb"], emb)
        m["Diversity"] = diversity(emb, pairs=min(cfg.diversity_pairs, n - 1), rng=_rng(seed, repeat, "all", 1))
    m["MM-Dist"] = matching_score(text_emb, emb)
    if with_mm:
        groups = out["emb"][n:].reshape(-1, cfg.mm_samples, emb.shape[1])  # (texts, samples, E)
        m["MultiModality"] = multimodality(groups, pairs=min(cfg.mm_pairs, cfg.mm_samples - 1),
                                           rng=_rng(seed, repeat, "all", 2))  # fmt: skip
    m["Physical"] = float(out["physical"][:n].mean())
    return {"all": m}


# ---------------------------------------------------------------------------------------------
# The run


def run_bench(suite: str, out: str | Path, *, data: str | Path, cases: str | Path | None = None,
              model: str | Path | None = None, evaluator: str | Path | None = None, seed: int = 0,
              repeats: int | None = None, quick: bool = False, baselines_only: bool = False, overwrite: bool = False,
              config: BenchConfig | None = None, progress: bool = True, paraphrase: str | None = None,
              device=None, temperature: float | None = None) -> SuiteResults:  # fmt: skip
    """Run ``suite`` and write ``results.json``, ``report.md`` and ``results.png`` into ``out``; returns the results.

    ``data`` is the labelled HumanML3D-layout corpus; ``cases`` the AnyContext folder (anycontext) or
    X2Mo folder (edit, tasks), built from ``data`` with default settings when not given; ``model`` and
    ``evaluator`` are checkpoint folders (None: the ones shipped). ``quick`` uses :data:`QUICK`.
    ``paraphrase`` ("dev", "test" or "all"): ask t2m or AnyContext in that half of the held-out paraphrase
    set's words instead of the training templates' (:mod:`.paraphrase`). ``temperature`` replaces the
    model's motion sampling temperature (``BenchConfig.temperature``).
    """
    start = time.perf_counter()
    if suite not in SUITES:
        raise BenchError(f"unknown suite {suite!r}; the suites are {', '.join(SUITES)} and follow.")
    cfg = config or (QUICK if quick else BenchConfig())
    cfg = cfg if repeats is None else replace(cfg, repeats=repeats)
    cfg = cfg if temperature is None else replace(cfg, temperature=temperature)
    if cfg.temperature is not None:
        check_number("temperature", cfg.temperature, 0, MAX_TEMPERATURE)
    for name, low in (("repeats", 1), ("chunk", 1), ("batch_size", 2), ("mm_samples", 2)):
        check_number(name, getattr(cfg, name), low, 10_000, integer=True)
    if suite == "t2m" and cases is not None:
        raise BenchError("the t2m suite asks the captions of the dataset's test split; it takes no --cases.")
    if paraphrase is not None and (suite not in ("t2m", "anycontext") or paraphrase not in ("dev", "test", "all")):
        raise BenchError("paraphrase words are asked by the t2m and anycontext suites, split dev, test or all.")
    corpus = Corpus(data)
    model_dir = None if baselines_only else _checkpoint(model, pipeline.DEFAULT_DIR, "model", load_model)
    eval_dir = _checkpoint(evaluator, ev.DEFAULT_DIR, "evaluator", load_evaluator)
    if model_dir is not None and cfg.temperature is None:  # recorded as used: the model's own, else the package's
        cfg = replace(cfg, temperature=sampling_defaults(model_dir).get("temperature", MOTION_TEMPERATURE))
    case_list, set_files, data_name = _cases(suite, corpus, cases, progress, paraphrase)
    case_list = subset(case_list, cfg.per_category)
    case_list = with_think(case_list) if suite == "tasks" else case_list
    eval_sha = dir_sha256(eval_dir)
    identity = {
        "format": FORMAT, "suite": suite,
        "model": {"name": None, "sha256": None} if model_dir is None else {
            "name": str(model or "default"), "sha256": model_sha256(model_dir),
            "sampling": sampling_defaults(model_dir)},  # its defaults, e.g. its guidance
        "data": {"name": f"{corpus.root.name}:{data_name}",
                 "sha256": _digest(set_files + _corpus_files(corpus, case_list))},
        "evaluator": {"name": str(evaluator or "default"), "sha256": eval_sha},
        "seed": seed, "repeats": cfg.repeats, "quick": quick, "config": asdict(cfg), "versions": versions_of(eval_sha),
    }  # fmt: skip
    identity["fingerprint"] = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    out = Path(out)
    if _prepare(out, identity, overwrite):
        unlock_folder(out)
        return SuiteResults.from_json(json.loads((out / RESULTS).read_text(encoding="utf-8")))

    methods = [m for m in METHODS if m != "model" or model_dir is not None]
    loaded = None if model_dir is None else load_model(None if model is None else model_dir, device)
    producer = Producer(corpus, load_evaluator(None if evaluator is None else eval_dir, device), loaded, seed, cfg)
    plan = {m: _items(m, suite, case_list, cfg) for m in methods}
    plan = {m: items for m, items in plan.items() if items}
    runs = {m: range(cfg.repeats) if _varies(m, suite) else range(1) for m in plan}
    outputs = _produce(producer, plan, runs, out / PARTIAL, cfg, progress)

    metrics = _score(suite, plan, outputs, producer.evaluator, cfg, seed)
    results = SuiteResults(suite, identity["model"], identity["data"], seed, cfg.repeats, identity["versions"], metrics)
    with atomic_path(out / RESULTS) as tmp:
        tmp.write_text(json.dumps(results.to_json(), indent=1) + "\n", encoding="utf-8")
    counts = {m: _counts(items) for m, items in plan.items()}
    write_report(out, results.to_json(), identity, counts, time.perf_counter() - start)
    shutil.rmtree(out / PARTIAL, ignore_errors=True)
    unlock_folder(out)
    return results


def _score(suite: str, plan: dict, outputs: dict, evaluator, cfg: BenchConfig, seed: int) -> dict:
    """Every method's metrics per repeat, then their means and 95% half-widths: {method: {category: {...}}}."""
    reference = _indexed(plan["ground_truth"], outputs["ground_truth"][0])
    source = _indexed(plan["copy_source"], outputs["copy_source"][0]) if suite == "edit" else None

    def measure(r: int) -> dict:
        out = {}
        for method, items in plan.items():
            main = [c for c, k in items if k == 0]
            o = outputs[method][r if _varies(method, suite) else 0]
            if suite == "t2m":
                text_emb = evaluator.embed_texts([c.text(seed, r) for c in main])
                out[method] = _t2m_metrics(main, o, reference, text_emb, cfg, seed, r, method == "model")
            else:
                out[method] = _motion_metrics(suite, main, o, reference, source, cfg, seed, r)
        return out

    return over_repeats(cfg.repeats, measure).summary


def _counts(items: list[tuple[Case, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c, k in items:
        if k == 0:
            out[c.category] = out.get(c.category, 0) + 1
    return out


def _indexed(items: list[tuple[Case, int]], output: dict) -> dict:
    """A method's embeddings with a row per case id (the targets and sources other methods are scored against)."""
    return {"emb": output["emb"], "row": {c.id: i for i, (c, _) in enumerate(items)}, "cases": [c for c, _ in items]}


def _produce(producer: Producer, plan: dict, runs: dict, partial: Path, cfg: BenchConfig, progress: bool) -> dict:
    """Every method's per-motion numbers for every repeat it needs, read from finished chunks or computed."""
    partial.mkdir(parents=True, exist_ok=True)
    jobs = [(m, r, c, items[c : c + cfg.chunk]) for m, items in plan.items() for r in runs[m]
            for c in range(0, len(items), cfg.chunk)]  # fmt: skip
    done = {}
    for m, r, c, chunk in jobs:
        got = _read_chunk(partial / f"{m}-r{r:03d}-{c:05d}.npz", len(chunk))
        if got is not None:
            done[m, r, c] = got
    total = sum(len(chunk) for *_, chunk in jobs)
    with tqdm(total=total, initial=sum(len(v["physical"]) for v in done.values()), disable=not progress,
              desc="motions", unit="motion") as bar:  # fmt: skip
        for m, r, c, chunk in jobs:
            if (m, r, c) not in done:
                bar.set_postfix_str(f"{m}, repeat {r + 1}")
                done[m, r, c] = compute_chunk(producer, m, chunk, r, bar)
                with atomic_path(partial / f"{m}-r{r:03d}-{c:05d}.npz") as tmp:
                    np.savez(tmp, **done[m, r, c])
    return {m: {r: {k: np.concatenate([done[m, r, c][k] for c in range(0, len(plan[m]), cfg.chunk)])
                    for k in KEYS} for r in runs[m]} for m in plan}  # fmt: skip
