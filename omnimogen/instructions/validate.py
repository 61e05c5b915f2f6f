"""Check every sample of an instruction set against its corpus and the model's limits.

A sample passes when its turns start with the user and end with the assistant, every text is
non-empty, every ``<Name>`` in a text is bound to a motion part and every named part is mentioned,
every motion reference resolves to a clip of the sample's own split with a row range inside the
clip and a recipe that applies, and its motions fit the model (``TaskConfig``: rows per part and per
sample). The report also estimates tokens, so a mix can be sized for the model's context.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FormatError
from .corpus import Corpus
from .recipes import check_ref
from .schema import PLACEHOLDER, Sample, SampleError, read_samples
from .tasks import TASKS, TaskConfig

MIN_PART_ROWS = 4  # one latent step of the tokenizer (x4 temporal downsampling)
CODE_LEVELS = 6  # RVQ levels flattened into the sequence (the paper's configuration)
CHARS_PER_TOKEN = 4  # English text in a BPE vocabulary, roughly
MAX_ERRORS = 50  # messages kept in a report; the count covers all


def motion_tokens(rows: int) -> int:
    """Tokens of one motion part: ``CODE_LEVELS`` codes per latent step plus begin and end markers."""
    return 2 + CODE_LEVELS * math.ceil(rows / 4)


@dataclass
class ValidationReport:
    samples: int = 0
    error_count: int = 0
    errors: list[str] = field(default_factory=list)  # the first MAX_ERRORS messages
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # task -> split -> samples
    motion_rows: int = 0
    tokens_total: int = 0
    tokens_max: int = 0

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def error(self, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(message)

    def summary(self) -> dict:
        mean = self.tokens_total / self.samples if self.samples else 0
        return {"samples": self.samples, "errors": self.error_count, "motion_rows": self.motion_rows,
                "tokens_mean": round(mean, 1), "tokens_max": self.tokens_max}  # fmt: skip


def check_sample(sample: Sample, corpus: Corpus, cfg: TaskConfig, tasks: Iterable[str]) -> tuple[list[str], int, int]:
    """Problems of one sample (messages naming the sample and the place), its motion rows and tokens."""
    where, problems = f"sample {sample.id}", []
    if sample.task not in tasks:
        problems.append(f"{where}: task {sample.task!r} does not belong in this set.")
    roles = [t.role for t in sample.turns]
    if roles[0] != "user" or roles[-1] != "assistant" or any(a == b for a, b in zip(roles, roles[1:], strict=False)):
        problems.append(
            f"{where}: turns must alternate user/assistant, start with the user and end with the assistant."
        )
    names, mentioned, rows, tokens = [], set(), 0, 0
    for t, turn in enumerate(sample.turns):
        for p, part in enumerate(turn.parts):
            pw = f"{where}.turns[{t}].parts[{p}]"
            if part.motion is None:
                if not part.text or not part.text.strip():
                    problems.append(f"{pw}: empty text.")
                    continue
                mentioned |= set(PLACEHOLDER.findall(part.text))
                tokens += math.ceil(len(part.text) / CHARS_PER_TOKEN)
                continue
            if part.name:
                names.append(part.name)
            try:
                n = check_ref(part.motion, corpus, f"{pw}.motion", split=sample.split)
            except SampleError as e:
                problems.append(str(e))
                continue
            if not MIN_PART_ROWS <= n <= cfg.max_rows:
                problems.append(f"{pw}: the motion has {n} rows; parts must have {MIN_PART_ROWS} to {cfg.max_rows}.")
            rows += n
            tokens += motion_tokens(n)
    if len(set(names)) != len(names):
        problems.append(
            f"{where}: a motion name is bound twice ({', '.join(sorted(n for n, c in Counter(names).items() if c > 1))})."
        )
    for name in sorted(mentioned - set(names)):
        problems.append(f"{where}: the text mentions <{name}> but no motion part is named {name!r}.")
    for name in sorted(set(names) - mentioned):
        problems.append(f"{where}: the motion part named {name!r} is never mentioned as <{name}> in the text.")
    if rows > cfg.max_sample_rows:
        problems.append(f"{where}: its motions have {rows} rows in all, more than {cfg.max_sample_rows}.")
    return problems, rows, tokens


def validate_samples(samples: Iterable[Sample], corpus: Corpus, cfg: TaskConfig, tasks: Iterable[str],
                     report: ValidationReport | None = None) -> ValidationReport:  # fmt: skip
    report = report or ValidationReport()
    tasks, seen = set(tasks), set()
    for sample in samples:
        report.samples += 1
        if sample.id in seen:
            report.error(f"sample {sample.id}: the id is used twice.")
        seen.add(sample.id)
        report.counts.setdefault(sample.task, {}).setdefault(sample.split, 0)
        report.counts[sample.task][sample.split] += 1
        problems, rows, tokens = check_sample(sample, corpus, cfg, tasks)
        for message in problems:
            report.error(message)
        report.motion_rows += rows
        report.tokens_total += tokens
        report.tokens_max = max(report.tokens_max, tokens)
    return report


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def validate_set(directory: str | Path, data: str | Path | Corpus, cfg: TaskConfig | None = None) -> ValidationReport:
    """Validate an X2Mo or AnyContext folder (told apart by its manifest) against its corpus.

    Checks the manifest (files present, hashes, counts) and then every sample of every file.
    """
    directory = Path(directory)
    manifest_path = directory / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = manifest["files"]
        fmt = manifest["format"]
    except FileNotFoundError:
        raise FormatError(f"{manifest_path}: missing; is {directory} an instruction set folder?") from None
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise FormatError(f"{manifest_path}: not an instruction set manifest ({e!r}).") from None
    tasks = {"omnimogen.x2mo": TASKS, "omnimogen.anycontext": {f"anycontext/{c}" for c in
                                                              ("style", "trajectory", "speed", "compositional")}}  # fmt: skip
    if fmt not in tasks:
        raise FormatError(f"{manifest_path}: unknown format {fmt!r}.")
    corpus = data if isinstance(data, Corpus) else Corpus(data)
    if cfg is None:
        limits = manifest.get("config", {})
        cfg = TaskConfig(**{k: limits[k] for k in ("max_rows", "max_sample_rows", "min_rows") if k in limits})
    report = ValidationReport()
    if manifest.get("dataset", {}).get("source_sha256") != corpus.source_sha256:
        report.error(f"{manifest_path}: built from another version of the dataset than {corpus.name}.")
    for name, entry in sorted(files.items()):
        path = directory / name
        if not path.is_file():
            report.error(f"{path}: listed in the manifest but missing.")
            continue
        if file_sha256(path) != entry.get("sha256"):
            report.error(f"{path}: its hash differs from the manifest's; the file was changed after the build.")
        before = report.samples
        try:
            validate_samples(read_samples(path), corpus, cfg, tasks[fmt], report)
        except SampleError as e:
            report.error(str(e))
        if report.samples - before != entry.get("samples"):
            report.error(f"{path}: holds {report.samples - before} samples, the manifest says {entry.get('samples')}.")
    if "counts" in manifest and manifest["counts"] != report.counts:
        report.error(f"{manifest_path}: its per-task counts differ from the samples in the files.")
    return report
