"""The cases of the benchmark suites: what each suite asks, with which motions, and the answer it expects.

A :class:`Case` is one request and its target: the instruction (for text-to-motion, the clip's
captions, one of which is asked per repeat), the motions bound to its placeholders, the target
motion, and what the metrics need to know about it (the label a motion must share with the target
to count as retrieved, the target rows that the input already fixes). The suites read their cases
from the data the rest of the project builds, so the benchmark asks exactly what the data describe:

anycontext  the AnyContext set (``omnimogen data anycontext``): one category per file.
edit        the ``edit/*`` samples of an X2Mo set's test shard (``omnimogen data x2mo``).
tasks       the in-betweening, inpainting, continuation, ``reflection/generate`` (asked without and
            with Think mode) and knowledge samples of the same shard.
t2m         every test clip of the corpus with its captions, cut to 196 rows as HumanML3D's protocol cuts.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import FormatError
from ..instructions.anycontext import CATEGORIES as ANYCONTEXT_CATEGORIES
from ..instructions.corpus import Corpus
from ..instructions.recipes import check_ref, donor
from ..instructions.schema import MotionRef, Sample, read_samples
from ..motion import WINDOW_ROWS

SUITES = ("anycontext", "t2m", "edit", "tasks")
MAX_ROWS = WINDOW_ROWS  # the longest motion the protocol compares (9.8 s), as HumanML3D cuts its test clips
EDIT_CATEGORIES = ("action", "speed", "bodypart", "style", "trajectory")
# X2Mo task -> tasks-suite category; reflection is asked twice, the second time with Think mode.
TASK_CATEGORIES = {"inbetween": "inbetween", "inpaint": "inpaint", "continue": "continue",
                   "reflection/generate": "reflection", "knowledge": "knowledge"}  # fmt: skip
THINK = "reflection_think"
CATEGORIES = {
    "anycontext": ANYCONTEXT_CATEGORIES,
    "edit": EDIT_CATEGORIES,
    "tasks": (*TASK_CATEGORIES.values(), THINK),
    "t2m": (),  # one category: all
}
SET_FORMATS = {"anycontext": ("omnimogen.anycontext", "anycontext"), "edit": ("omnimogen.x2mo", "x2mo"),
               "tasks": ("omnimogen.x2mo", "x2mo")}  # fmt: skip


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    texts: tuple[str, ...]  # the instruction; for t2m the captions, one asked per repeat
    target: MotionRef
    rows: int  # feature rows of the target
    label: str  # a motion counts as retrieved when its target has this label (the case id: only its own)
    inputs: tuple[tuple[str, MotionRef], ...] = ()  # placeholder name -> motion, in order of the prompt
    frames: int | None = None  # length the model is asked for, when the task states it (None: it decides)
    keep: tuple[int, int] = (0, 0)  # target rows at the start and end that the inputs fix (keyframe error)
    think: bool = False  # ask with Think mode (self-reflection)
    motion_only: bool = True  # the answer is one motion; False: the model may write a plan first

    @property
    def source(self) -> MotionRef | None:
        """The motion being edited or continued (what the copy-source baseline returns), if any."""
        named = dict(self.inputs)
        return named.get("SourceMotion", named.get("Motion"))

    def text(self, seed: int, repeat: int) -> str:
        """The instruction asked in ``repeat``: a caption drawn per repeat when there are several."""
        return self.texts[case_seed(self, seed, repeat) % len(self.texts)]


def case_seed(case: Case, seed: int, repeat: int, sample: int = 0) -> int:
    """A seed of its own for each (case, repeat, sample): independent of which other cases run."""
    key = [seed, repeat, zlib.crc32(case.id.encode()), sample]
    return int(np.random.SeedSequence(key).generate_state(1)[0])


def _labels(meta: dict) -> str | None:
    t = meta.get("target")
    return f"{t['action']}/{t['style']}" if isinstance(t, dict) and {"action", "style"} <= set(t) else None


def _from_sample(s: Sample, category: str, corpus: Corpus, label: str) -> Case:
    """A one-exchange sample (user turn, assistant turn) as a case: the answer's last motion is the target."""
    if len(s.turns) != 2 or s.turns[0].role != "user":
        raise FormatError(f"sample {s.id}: a benchmark case needs one user turn and one answer.")
    user, answer = s.turns
    texts = " ".join(p.text for p in user.parts if p.text is not None)
    inputs = tuple((p.name or "Motion", p.motion) for p in user.parts if p.motion is not None)
    targets = [p.motion for p in answer.parts if p.motion is not None]
    if not targets or not texts:
        raise FormatError(f"sample {s.id}: a benchmark case needs an instruction and a target motion.")
    for name, ref in inputs:
        check_ref(ref, corpus, f"sample {s.id}, <{name}>")
    rows = check_ref(targets[-1], corpus, f"sample {s.id}, target")
    return Case(s.id, category, (texts,), targets[-1], rows, label, inputs)


def _task_case(s: Sample, category: str, corpus: Corpus) -> Case:
    label = f"concept/{s.meta['concept']}" if "concept" in s.meta else (_labels(s.meta) or s.id)
    case = _from_sample(s, category, corpus, label)
    n = case.rows
    if category == "inbetween":
        k = int(s.meta.get("pose_rows") or case.inputs[0][1].end - case.inputs[0][1].start)
        return replace(case, frames=n + 1, keep=(k, k))
    if category == "inpaint":
        cut, end = s.meta["masked_rows"]
        return replace(case, frames=n + 1, keep=(cut, n - end))
    if category == "continue":
        return replace(case, frames=n + 1)  # the instruction states the duration
    if category == "knowledge":
        return replace(case, motion_only=False)  # the plan in words comes first
    return case


def read_set(folder: str | Path, suite: str, corpus: Corpus) -> tuple[list[Sample], list[Path]]:
    """The samples an instruction set holds for ``suite`` (all of AnyContext; the X2Mo test shard), and
    the files read. The set must be of the suite's kind and built from ``corpus``."""
    folder = Path(folder)
    kind, command = SET_FORMATS[suite]
    what = f"{'an AnyContext' if command == 'anycontext' else 'an X2Mo'} set"
    if not folder.is_dir():
        raise FormatError(f"{folder}: instruction set folder does not exist.")
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        raise FormatError(
            f"{folder}: no readable manifest.json; build {what} with 'omnimogen data {command}'."
        ) from None
    if manifest.get("format") != kind:
        raise FormatError(f"{folder}: not {what} (manifest format {manifest.get('format')!r}); build one with "
                          f"'omnimogen data {command}'.")  # fmt: skip
    built_from = manifest.get("dataset", {}).get("source_sha256")
    if built_from and built_from != corpus.source_sha256:
        raise FormatError(
            f"{folder}: built from another dataset than {corpus.root}; pass the dataset it was built from."
        )
    files = sorted(folder.glob("*.jsonl" if suite == "anycontext" else "test-*.jsonl"))
    if not files:
        raise FormatError(f"{folder}: holds no {'case' if suite == 'anycontext' else 'test-*.jsonl'} files.")
    return [s for f in files for s in read_samples(f)], [folder / "manifest.json", *files]


def load_cases(suite: str, corpus: Corpus, samples: list[Sample]) -> list[Case]:
    """The cases of a suite, grouped by category in the suite's order (file order within one)."""
    if suite == "t2m":
        cases = []
        for clip in sorted((c for cells in corpus.cells("test").values() for c in cells), key=lambda c: c.id):
            captions = tuple(corpus.captions(clip.id))
            if captions:
                rows = min(clip.rows, MAX_ROWS)
                cases.append(Case(clip.id, "all", captions, MotionRef(clip.id, 0, rows), rows,
                                  f"{clip.action}/{clip.style}", frames=rows + 1))  # fmt: skip
        if not cases:
            raise FormatError(f"{corpus.root}: no test clip has captions; text-to-motion needs texts/ID.txt files.")
        return cases
    cases = []
    for s in samples:
        family, _, sub = s.task.partition("/")
        if suite == "anycontext" and family == "anycontext":
            cases.append(_from_sample(s, sub, corpus, s.id))
        elif suite == "edit" and family == "edit":
            cases.append(_from_sample(s, sub, corpus, s.id))
        elif suite == "tasks" and s.task in TASK_CATEGORIES:
            cases.append(_task_case(s, TASK_CATEGORIES[s.task], corpus))
    order = CATEGORIES[suite]
    cases = sorted((c for c in cases if c.category in order), key=lambda c: order.index(c.category))
    if not cases:
        raise FormatError(f"the instruction set holds no case of the {suite} suite ({', '.join(order)}).")
    return cases


def subset(cases: list[Case], per_category: int | None) -> list[Case]:
    """At most ``per_category`` cases of each category, the same ones for every seed (a fixed shuffle)."""
    if per_category is None:
        return cases
    keep = set()
    for category in dict.fromkeys(c.category for c in cases):
        idx = [i for i, c in enumerate(cases) if c.category == category]
        keep.update(np.asarray(idx)[np.random.default_rng(0).permutation(len(idx))[:per_category]].tolist())
    return [c for i, c in enumerate(cases) if i in keep]


def with_think(cases: list[Case]) -> list[Case]:
    """Reflection cases once more, asked with Think mode (the model only: baselines do not think). They keep
    their ids, so each is asked with the same seed as without Think mode: a paired comparison."""
    extra = [replace(c, category=THINK, think=True) for c in cases if c.category == "reflection"]
    return cases + extra


def clips_used(cases: list[Case]) -> set[str]:
    """Every clip a case reads (targets, inputs and body-part donors)."""
    out = set()
    refs = [ref for c in cases for ref in (c.target, *(r for _, r in c.inputs))]
    while refs:
        ref = refs.pop()
        out.add(ref.clip)
        refs += [donor(step) for step in ref.recipe if step.op == "bodypart"]
    return out
