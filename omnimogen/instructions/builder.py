"""The X2Mo-style training set: sample every task of the mix from a corpus, write shards and a manifest.

``build_x2mo(data, out, samples=N, seed=S)`` draws ``N`` samples split 90/5/5 into train/val/test,
each split from its own clips only. Every sample gets its own generator, seeded from
(seed, split, task, index), so a sample does not depend on the others or on the mix of other
tasks, and the same inputs and seed give byte-identical files. The output folder holds

    {split}-{k:05d}.jsonl   shards of at most 10,000 samples, tasks interleaved in a fixed random order
    manifest.json           counts per task and split, seed, mix, limits, dataset hash, file hashes
    mix.png                 a chart of the mix

and is written to a temporary folder renamed into place, after every sample has passed the validator.

Default size: 30,000 samples, 27,000 of them for training: about 360 tokens each (motions at 6
codes per 4 rows, text at 4 characters per token), so about 10 M training tokens. A small
transformer on a CPU trains at a few thousand tokens per second, so that is about an hour per
epoch, several epochs a day. More would mostly repeat material: the train split has 4,476 clips in
195 (dataset, action, style) cells, and 30,000 samples already reference all but a few of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from ..errors import FormatError, OmnimogenError, check_number
from .corpus import Corpus
from .schema import SPLITS, Sample, write_samples
from .tasks import TASKS, Pool, TaskConfig, Unsatisfiable
from .validate import file_sha256, validate_set

BUILDER_VERSION = "x2mo-3"  # x2mo-3: broader wording (captions, phrasings), Dataset-1 drawn more often
DEFAULT_SAMPLES = 30_000
SPLIT_SHARES = {"train": 0.90, "val": 0.05, "test": 0.05}
SHARD_SIZE = 10_000
MAX_DRAWS = 100  # draws per sample before a task is declared impossible in a split
# The paper's shares (percent of X2Mo) for its thirteen sub-tasks ...
PAPER_MIX = {
    "edit/action": 13.1, "edit/speed": 6.6, "edit/bodypart": 4.4, "edit/style": 2.9, "edit/trajectory": 2.9,
    "multiturn/2": 13.9, "multiturn/3": 11.7,
    "reflection/generate": 8.8, "reflection/judge": 7.3, "reflection/regenerate": 7.3,
    "incontext/action+style": 8.0, "incontext/trajectory+action": 6.6, "incontext/style+trajectory": 6.6,
}  # fmt: skip
# ... and ours (percent of the whole): the capabilities the paper shows beyond its table.
EXTRA_MIX = {"t2m": 12.0, "describe": 4.0, "inbetween": 3.0, "inpaint": 2.0, "continue": 3.0, "knowledge": 2.0}
# The paper's thirteen keep their proportions and fill what the others leave (74 %).
DEFAULT_MIX = {
    **{k: v / sum(PAPER_MIX.values()) * (100 - sum(EXTRA_MIX.values())) for k, v in PAPER_MIX.items()},
    **EXTRA_MIX,
}


@dataclass
class BuildResult:
    out: str
    counts: dict[str, dict[str, int]]  # task -> split -> samples
    skipped: list[str] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    stats: dict = field(default_factory=dict)


def normalise_mix(mix: dict[str, float] | None) -> dict[str, float]:
    """Task weights -> shares summing to 1, in the order of ``TASKS``; an unknown task is an error."""
    mix = DEFAULT_MIX if mix is None else mix
    unknown = sorted(set(mix) - set(TASKS))
    if unknown:
        extra = " (compositional editing is evaluation-only: it is in AnyContext)" if "compositional" in unknown else ""
        raise FormatError(f"mix: unknown task {unknown[0]!r}{extra}; tasks are {', '.join(TASKS)}.")
    if any(not isinstance(w, int | float) or w < 0 for w in mix.values()) or not sum(mix.values()) > 0:
        raise FormatError("mix: weights must be non-negative numbers with a positive sum.")
    total = sum(mix.values())
    return {k: mix[k] / total for k in TASKS if mix.get(k, 0) > 0}


def apportion(total: int, shares: dict[str, float]) -> dict[str, int]:
    """Integers proportional to ``shares`` that sum to ``total`` (largest remainders, ties by order)."""
    raw = {k: total * s for k, s in shares.items()}
    out = {k: int(v) for k, v in raw.items()}
    order = sorted(raw, key=lambda k: (-(raw[k] - out[k]), list(raw).index(k)))
    for k in order[: total - sum(out.values())]:
        out[k] += 1
    return out


def sample_id(split: str, task: str, k: int) -> str:
    return f"{split}-{task.replace('/', '-').replace('+', '-')}-{k:06d}"


def draw(task: str, pool: Pool, cfg: TaskConfig, seed: int, k: int) -> Sample | None:
    """Sample ``k`` of a task: the first successful draw of its own seeded generators."""
    fn = TASKS[task]
    for attempt in range(MAX_DRAWS):
        sample = fn(random.Random(f"x2mo/{seed}/{pool.split}/{task}/{k}/{attempt}"), pool, cfg)
        if sample is not None:
            return Sample(sample_id(pool.split, task, k), sample.task, sample.split, sample.turns, sample.meta)
    return None


def generate(corpus: Corpus, split: str, counts: dict[str, int], seed: int, cfg: TaskConfig,
             skipped: list[str], progress=None) -> list[Sample]:  # fmt: skip
    """The samples of one split, tasks interleaved in a seeded order; unbuildable tasks are reported."""
    pool = Pool(corpus, split)
    samples = []
    for task, n in counts.items():
        try:
            for k in range(n):
                sample = draw(task, pool, cfg, seed, k)
                if sample is None:
                    raise Unsatisfiable(f"no valid sample in {MAX_DRAWS} draws (sample {k})")
                samples.append(sample)
                if progress is not None:
                    progress.update()
        except Unsatisfiable as e:
            made = sum(s.task == task for s in samples)
            message = f"{task} in {split}: skipped {n - made} of {n} samples: {e}."
            skipped.append(message)
            warnings.warn(message, stacklevel=2)
            if progress is not None:
                progress.update(n - made)
    random.Random(f"x2mo/{seed}/{split}/order").shuffle(samples)
    return samples


@contextlib.contextmanager
def staging(out: str | Path, overwrite: bool) -> Iterator[Path]:
    """A temporary folder next to ``out`` that replaces it on success; ``out`` is never half written."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise FormatError(f"{out}: already exists and is not empty; choose another folder or pass --overwrite.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)  # mkdtemp makes the folder private
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_files(folder: Path, groups: dict[str, list[Sample]]) -> dict[str, dict]:
    """Write each group as ``{name}-{k:05d}.jsonl`` shards; returns file name -> samples and sha256."""
    files = {}
    for name, samples in groups.items():
        for k, start in enumerate(range(0, len(samples), SHARD_SIZE)):
            path = folder / f"{name}-{k:05d}.jsonl"
            count = write_samples(path, samples[start : start + SHARD_SIZE])
            files[path.name] = {"samples": count, "sha256": file_sha256(path)}
    return files


def set_hash(files: dict[str, dict]) -> str:
    """One hash for a whole set: of its file names and file hashes."""
    return hashlib.sha256("".join(f"{n}:{e['sha256']}\n" for n, e in sorted(files.items())).encode()).hexdigest()


def _counts(groups: dict[str, list[Sample]]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for samples in groups.values():
        for s in samples:
            counts.setdefault(s.task, {}).setdefault(s.split, 0)
            counts[s.task][s.split] += 1
    return {t: counts[t] for t in sorted(counts, key=lambda t: list(TASKS).index(t) if t in TASKS else len(TASKS))}


def build_x2mo(data: str | Path | list | Corpus, out: str | Path, *, samples: int = DEFAULT_SAMPLES, seed: int = 0,
               mix: dict[str, float] | None = None, config: TaskConfig | None = None, overwrite: bool = False,
               progress: bool = True) -> BuildResult:  # fmt: skip
    """Build the instruction set into ``out`` from ``data`` (a folder, several, or a :class:`Corpus`
    with per-folder weights); see the module docstring. Returns counts and sizes."""
    start = time.perf_counter()
    check_number("samples", samples, 1, 10**8, integer=True)
    check_number("seed", seed, 0, 2**63 - 1, integer=True)
    shares, cfg = normalise_mix(mix), config or TaskConfig()
    corpus = data if isinstance(data, Corpus) else Corpus(data)
    per_split = apportion(samples, SPLIT_SHARES)
    skipped: list[str] = []
    with staging(out, overwrite) as tmp:
        groups = {}
        with tqdm(total=samples, disable=not progress, desc="samples") as bar:
            for split in SPLITS:
                groups[split] = generate(corpus, split, apportion(per_split[split], shares), seed, cfg, skipped, bar)
        files = write_files(tmp, groups)
        counts = _counts(groups)
        manifest = {
            "format": "omnimogen.x2mo",
            "builder_version": BUILDER_VERSION,
            "seed": seed,
            "samples_requested": samples,
            "totals": {split: len(groups[split]) for split in SPLITS},
            "mix": {k: round(v, 5) for k, v in shares.items()},
            "counts": counts,
            "skipped": skipped,
            "config": asdict(cfg),
            "dataset": {"name": corpus.name, "source_sha256": corpus.source_sha256,
                        **({"weights": corpus.weights} if corpus.weights else {})},
            "files": files,
            "hash": set_hash(files),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        report = validate_set(tmp, corpus, cfg)
        if not report.ok:
            raise OmnimogenError(
                f"the built set fails validation ({report.error_count} problems), first: {report.errors[0]}"
            )
        manifest["statistics"] = report.summary()
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        draw_mix_chart(
            tmp / "mix.png", counts, f"X2Mo-style mix: {sum(manifest['totals'].values()):,} samples, seed {seed}"
        )
        size = sum(p.stat().st_size for p in tmp.iterdir())
    return BuildResult(str(out), counts, skipped, len(files) + 2, size, round(time.perf_counter() - start, 1),
                       report.summary())  # fmt: skip


FAMILY_COLOURS = {"edit": "#1f77b4", "multiturn": "#ff7f0e", "reflection": "#2ca02c", "incontext": "#d62728"}


def draw_mix_chart(path: Path, counts: dict[str, dict[str, int]], title: str) -> None:
    """Horizontal bars: samples per task (train solid, val and test lighter), with each task's share."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    tasks = list(counts)[::-1]
    total = sum(sum(v.values()) for v in counts.values())
    fig = Figure(figsize=(8, 0.32 * len(tasks) + 1.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    left = [0] * len(tasks)
    for split, alpha in zip(SPLITS, (1.0, 0.55, 0.3), strict=True):
        widths = [counts[t].get(split, 0) for t in tasks]
        colours = [FAMILY_COLOURS.get(t.split("/")[0], "#7f7f7f") for t in tasks]
        ax.barh(tasks, widths, left=left, color=colours, alpha=alpha, label=split)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    for y, width in enumerate(left):
        ax.text(width, y, f" {width:,} ({100 * width / total:.1f}%)", va="center", fontsize=8)
    ax.set_xlim(0, max(left) * 1.25)
    ax.set_xlabel("samples (solid: train; lighter: val, test)")
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
