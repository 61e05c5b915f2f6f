"""Instruction tasks: one pure function per task family, ``(rng, pool, config) -> Sample``.

A :class:`Pool` is one split of the corpus grouped in cells of (dataset, action, style); a task
draws everything from its pool, so a train sample can only reference train clips. Targets are real
clips wherever the data has them (another style of the same action, another action in the same
style, another path variant of the same walk) and exact derivations otherwise (recipes: speed,
mirror, body-part splice). A motion being edited is a :class:`State`, a clip range plus recipe
steps, so multi-turn chains and compositional edits apply one edit after the other: a real edit
swaps the clip and keeps the steps, an exact edit appends a step.

A task raises :class:`Unsatisfiable` when its split has no material for it at all (the builder
skips it and says so) and returns ``None`` for an unlucky draw (the builder draws again).

Captioned clips (no action/style label: HumanML3D, ``omnimogen data import``) take part in every task
that their captions can word: text-to-motion, description, in-betweening, inpainting, continuation,
speed edits, action edits and near misses between clips whose captions are far apart, side swaps
(the exact mirror, with the caption's left and right swapped) of clips whose captions name a side,
and reflection. Pairs are judged in the sentence encoder's space (the evaluator's frozen text
encoder; its trained projection is not used: it was fitted to 26 Bandai actions and puts unknown
activities together, "martial arts" next to "salsa" at 0.82). Style edits, body-part splices, the
in-context tasks and knowledge need labels: on a corpus without them the builder skips them and says so.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from ..data.captions import captions_for, mirror_label, mirror_text
from ..motion import WINDOW_ROWS
from .corpus import Cell, ClipInfo, Corpus
from .phrasings import Concept, Phrasings, default_concepts, default_phrasings
from .recipes import rows_after
from .schema import MotionRef, Part, Sample, Step, Turn, motion, text

# Walk variants that differ only in their path: trajectory edits move between them.
PATHS = ("walk", "walk-back", "walk-left", "walk-right", "walk-turn-left", "walk-turn-right")
LOCOMOTION = PATHS + ("run", "dash")
# Upper-body gestures and the body parts that perform them (what a splice takes from the donor).
GESTURE_PARTS: dict[str, tuple[str, ...]] = {
    "wave-left-hand": ("left_arm",), "raise-up-left-hand": ("left_arm",),
    "wave-right-hand": ("right_arm",), "raise-up-right-hand": ("right_arm",),
    **{g: ("left_arm", "right_arm") for g in ("wave-both-hands", "raise-up-both-hands", "bye", "byebye", "call",
                                              "guide", "punch", "slash")},
}  # fmt: skip
CELL_POWER = 0.35  # cells are drawn by clip count ** this (Pool.pick)
# Actions whose phrasings overlap: never a pair of an action edit or a wrong-action verdict.
SIMILAR = ({"dance-short", "dance-long"}, {"bye", "byebye"})
# Captioned clips: another action below this cosine of their captions, the same action at or above NEAR.
FAR, NEAR = 0.5, 0.7
_SIDED = re.compile(r"\b(left|right|clockwise|counterclockwise)\b", re.IGNORECASE)
_SUBJECT = re.compile(r"^(a|the|one) (person|man|woman|figure|human|character|individual|subject)\b|^(someone|somebody)\b",
                      re.IGNORECASE)  # fmt: skip


class Unsatisfiable(Exception):
    """The split has no clips for this task; the message says what is missing."""


@dataclass(frozen=True)
class TaskConfig:
    """Length limits the model imposes: about 10 s per motion and 1,024 tokens per sample."""

    max_rows: int = WINDOW_ROWS  # feature rows (20 fps) per motion part: 9.8 s, HumanML3D's limit
    max_sample_rows: int = 600  # all motion parts of a sample: ~900 tokens at 6 codes per 4 rows
    min_rows: int = 8  # shortest motion part, 0.4 s (two tokenizer steps)
    pose_rows: tuple[int, ...] = (4, 8, 12)  # lengths of the start/end "poses" of in-betweening

    def cap(self, parts: int) -> int:
        """Rows per motion part when a sample has ``parts`` of them."""
        return min(self.max_rows, self.max_sample_rows // parts)


def similar(a: str, b: str) -> bool:
    return a == b or any({a, b} <= s for s in SIMILAR)


class Pool:
    """One split of a corpus, with the lookups the tasks need."""

    def __init__(self, corpus: Corpus, split: str, phrasings: Phrasings | None = None,
                 concepts: tuple[Concept, ...] | None = None, sentences: Callable | None = None):  # fmt: skip
        self.corpus, self.split = corpus, split
        self.cells: dict[Cell, list[ClipInfo]] = corpus.cells(split)
        self.say = phrasings or default_phrasings()
        self.concepts = [c for c in (concepts or default_concepts()) if c.heldout == (split != "train")]
        self._sentences = sentences  # texts -> (N, dim) unit vectors; default: the evaluator's text encoder
        self._memo: dict = {}

    def memo(self, key, compute: Callable[[], list]) -> list:
        """``compute()`` once per pool: candidate lists are the same for every sample of a split."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    @cached_property
    def cell_list(self) -> list[Cell]:
        return sorted(self.cells)

    def where(self, **labels) -> list[Cell]:
        """Cells whose dataset/action/style equal the given values (a tuple value: any of them)."""

        def ok(cell: Cell) -> bool:
            values = dict(zip(("dataset", "action", "style"), cell, strict=True))
            return all(values[k] in (v if isinstance(v, tuple) else (v,)) for k, v in labels.items())

        return self.memo(("where", *sorted(labels.items())), lambda: [c for c in self.cell_list if ok(c)])

    @cached_property
    def labelled(self) -> bool:
        """Whether the split has labelled clips at all (else label tasks are skipped as such)."""
        return any(c[1] for c in self.cells)

    def needs_labels(self, what: str) -> Unsatisfiable:
        if self.labelled:
            return Unsatisfiable(f"the {self.split} split has no {what}")
        return Unsatisfiable(f"it needs action and style labels ({what}); the {self.split} split has captions only")

    def pick(self, rng: random.Random, cells: list[Cell]) -> Cell:
        """A cell with probability proportional to its clip count to the power :data:`CELL_POWER`.

        Uniform over cells would draw Dataset-1's 260 train clips (125 cells of one or two takes) for
        two thirds of the samples and leave most of Dataset-2's 4,200 takes (70 cells) unused;
        uniform over clips would all but drop Dataset-1's actions and styles. The square root gave
        Dataset-1 a quarter of the samples, and its actions (bow, kick, punch, ...) came out wrong
        nearly every time; the power 0.35 gives it about 36%.
        """
        if not cells:
            raise Unsatisfiable(f"the {self.split} split has no clips for this task")
        weights = [len(self.cells[c]) ** CELL_POWER for c in cells]
        sources = [self.cells[c][0].source for c in cells]
        if len(set(sources)) > 1:  # each folder gets its share (Corpus.weights, else its share of the clips)
            share = self.corpus.weights or [0.0] * len(self.corpus.roots)
            if self.corpus.weights is None:
                for c, k in zip(cells, sources, strict=True):
                    share[k] += len(self.cells[c])
            total = [0.0] * len(share)
            for w, k in zip(weights, sources, strict=True):
                total[k] += w
            weights = [w * share[k] / total[k] for w, k in zip(weights, sources, strict=True)]
        return rng.choices(cells, weights)[0]

    def clip(self, rng: random.Random, cell: Cell, longer_than: int = 0,
             ok: Callable[[ClipInfo], bool] | None = None) -> ClipInfo | None:  # fmt: skip
        clips = [c for c in self.cells.get(cell, ()) if c.rows > longer_than and (ok is None or ok(c))]
        return rng.choice(clips) if clips else None

    def captions(self, clip: ClipInfo) -> list[str]:
        return self.corpus.captions(clip.id) or captions_for(clip.action, clip.style, 1, clip.id)

    # ---- captioned clips ----------------------------------------------------------------------

    def sided(self, clip: ClipInfo) -> bool:
        """A captioned clip whose captions name a side (so its mirror is a side swap the words can say).
        The captions are read once per split: edits ask this of every clip of a cell on every draw."""

        def compute() -> set[str]:
            return {c.id for cell, cs in self.cells.items() if not cell[1] for c in cs
                    if any(_SIDED.search(t) for t in self.captions(c))}  # fmt: skip

        return clip.id in self.memo("sided", compute)

    @cached_property
    def _space(self) -> tuple[list[ClipInfo], dict[str, int], np.ndarray, np.ndarray, np.ndarray]:
        """The split's captioned clips, their index, unit caption vectors, folders and takes."""
        clips = [c for cell, cs in self.cells.items() if not cell[1] for c in cs]
        if self._sentences is None:
            from ..evaluation.evaluator import load_sentence_encoder

            self._sentences = lambda texts: load_sentence_encoder()(texts).numpy()
        # a clip's point: the mean of its captions' vectors, renormalised
        means = [np.asarray(self._sentences(self.captions(clip)), np.float32).mean(0) for clip in clips]
        vectors = np.stack(means) if means else np.zeros((0, 1), np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
        takes = {t: i for i, t in enumerate(sorted({c.take for c in clips}))}
        return (clips, {c.id: k for k, c in enumerate(clips)}, vectors, np.array([c.source for c in clips]),
                np.array([takes[c.take] for c in clips]))  # fmt: skip

    def partners(self, clip: ClipInfo, far: bool) -> list[ClipInfo]:
        """Captioned clips of the same folder and split, other takes, whose captions are far from
        ``clip``'s (another action: cosine below FAR) or near it (the same action: NEAR or above)."""
        if clip.labelled:
            return []
        clips, index, vectors, sources, takes = self._space
        k = index[clip.id]
        sims = vectors @ vectors[k]
        mask = (sources == sources[k]) & (takes != takes[k]) & ((sims < FAR) if far else (sims >= NEAR))
        return [clips[i] for i in np.flatnonzero(mask)]

    def has_far_partner(self, clip: ClipInfo) -> bool:
        """Whether ``partners(clip, far=True)`` is not empty, for every clip at once (chunked products)."""

        def compute() -> set[str]:
            clips, _, vectors, sources, takes = self._space
            found = set()
            for start in range(0, len(clips), 1024):
                sims = vectors[start : start + 1024] @ vectors.T
                ok = (sims < FAR) & (sources[start : start + 1024, None] == sources[None])
                ok &= takes[start : start + 1024, None] != takes[None]
                found.update(clips[start + i].id for i in np.flatnonzero(ok.any(1)))
            return found

        return clip.id in self.memo("far-partners", compute)


# ---- the motion being edited --------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    """A clip's rows [start, end) and the steps applied to them, with the labels that result."""

    clip: ClipInfo
    start: int
    end: int
    steps: tuple[Step, ...] = ()

    @property
    def ref(self) -> MotionRef:
        return MotionRef(self.clip.id, self.start, self.end, self.steps)

    @property
    def rows(self) -> int:
        """Rows after the steps (as ``recipes.check_ref`` computes them)."""
        n = self.end - self.start
        for step in self.steps:
            n = rows_after(step, n)
        return n

    @property
    def mirrored(self) -> bool:
        return sum(s.op == "mirror" for s in self.steps) % 2 == 1

    @property
    def speed(self) -> float:
        return math.prod(s.args["factor"] for s in self.steps if s.op == "speed")

    @property
    def action(self) -> str:
        return mirror_label(self.clip.action) if self.mirrored else self.clip.action

    @property
    def spliced(self) -> bool:
        return any(s.op == "bodypart" for s in self.steps)

    def labels(self) -> dict:
        out = {"clip": self.clip.id, "action": self.action, "style": self.clip.style, "dataset": self.clip.dataset}
        if self.speed != 1:
            out["speed"] = self.speed
        return out


def clause(caption: str) -> str:
    """A caption as a lower-case clause about "the person": 'A man jumps.' -> 'the person jumps';
    a caption without a subject (CMU's 'slow walk') -> 'the person does this: slow walk'."""
    text = caption.strip().rstrip(".")
    text = text[0].lower() + text[1:]
    if not _SUBJECT.match(text):
        return f"the person does this: {text}"
    return _SUBJECT.sub("the person", text, count=1)


def said(pool: Pool, state: State, rng: random.Random, sided: bool = False) -> str:
    """One of the captions of a captioned state's clip as a clause, sides swapped when it is mirrored
    (with ``sided``: one that names a side); sentences with a subject are preferred."""
    captions = [c for c in pool.captions(state.clip) if not sided or _SIDED.search(c)]
    captions = [c for c in captions if _SUBJECT.match(c.strip())] or captions
    caption = rng.choice(captions)
    return clause(mirror_text(caption) if state.mirrored else caption)


def crop(rng: random.Random, clip: ClipInfo, rows: int, steps: tuple[Step, ...] = ()) -> State:
    """A random window of at most ``rows`` rows (all of a shorter clip); deterministic given ``rng``."""
    n = min(rows, clip.rows)
    start = rng.randrange(clip.rows - n + 1)
    return State(clip, start, start + n, steps)


def source_rows(cap: int, steps: tuple[Step, ...]) -> int:
    """The most source rows that stay within ``cap`` rows after ``steps`` (speed-ups allow more)."""
    speed = math.prod(s.args["factor"] for s in steps if s.op == "speed")
    return max(1, math.floor(cap * speed + 1e-9))


# ---- edits: the building block of editing, multi-turn and compositional editing -------------------
# An edit function takes the state to edit and the row cap of the result; ``fresh`` says the state is
# a user's source that may still be shortened to fit the edit (never a previous turn's result). It
# returns None when this state cannot be edited this way.


@dataclass(frozen=True)
class Edit:
    kind: str  # "style", "action", "trajectory", "speed", "bodypart"
    source: State  # what was edited (a fresh source may have been shortened to fit the edit)
    state: State  # the result
    slots: dict = field(default_factory=dict)  # words for the edit's phrasings
    note: str = ""  # what changed, for meta
    phrase: str = ""  # the phrasings' key after "edit/" and "clause/" when not ``kind``

    @property
    def key(self) -> str:
        return self.phrase or self.kind


def _restart(rng: random.Random, pool: Pool, cell: Cell | ClipInfo, state: State, cap: int,
             cfg: TaskConfig) -> State | None:  # fmt: skip
    """A clip of ``cell`` (or that clip) cropped so that, with ``state``'s steps, it stays within ``cap`` rows."""
    clip = cell if isinstance(cell, ClipInfo) else pool.clip(rng, cell)
    if clip is None:
        return None
    new = crop(rng, clip, source_rows(cap, state.steps), state.steps)
    return new if cfg.min_rows <= new.rows <= cap else None


def edit_style(rng, pool: Pool, state: State, cap: int, cfg: TaskConfig, fresh: bool = False) -> Edit | None:
    """The same action in another style: a real clip of that cell, the state's steps re-applied."""
    d, a, s = state.clip.cell
    cells = [c for c in pool.where(dataset=d, action=a) if c[2] != s]
    if not cells or state.spliced:
        return None
    cell = rng.choice(cells)
    new = _restart(rng, pool, cell, state, cap, cfg)
    if new is None:
        return None
    return Edit("style", state, new, pool.say.style(rng, cell[2]), f"style {s} -> {cell[2]}")


def edit_action(rng, pool: Pool, state: State, cap: int, cfg: TaskConfig, fresh: bool = False) -> Edit | None:
    """Another action in the same style (a real clip); walk variants among themselves are trajectory edits.
    A captioned clip: a clip whose captions are far from its own, worded by one of them."""
    if not state.clip.labelled:
        others = pool.partners(state.clip, far=True)
        if not others or state.spliced:
            return None
        new = _restart(rng, pool, rng.choice(others), state, cap, cfg)
        if new is None:
            return None
        return Edit("action", state, new, {"caption": said(pool, new, rng)}, f"caption {state.clip.id} -> {new.clip.id}",
                    phrase="action/caption")  # fmt: skip
    d, a, s = state.clip.cell
    trajectory = a in PATHS
    cells = [c for c in pool.where(dataset=d, style=s) if not similar(c[1], a) and not (trajectory and c[1] in PATHS)]
    if not cells or state.spliced:
        return None
    new = _restart(rng, pool, rng.choice(cells), state, cap, cfg)
    if new is None:
        return None
    return Edit(
        "action", state, new, {"action": pool.say.action(rng, new.action)}, f"action {state.action} -> {new.action}"
    )


def edit_trajectory(rng, pool: Pool, state: State, cap: int, cfg: TaskConfig, fresh: bool = False) -> Edit | None:
    """Another real path variant of the same walk in the same style, or the exact mirror of a lateral path.
    A captioned clip whose captions name a side: its mirror, worded by the caption with sides swapped."""
    if not state.clip.labelled:
        if not pool.sided(state.clip) or state.spliced:
            return None
        new = replace(state, steps=state.steps + (Step("mirror"),))
        words = {"caption": said(pool, new, rng, sided=True)}
        return Edit("trajectory", state, new, words, f"mirror of {state.clip.id}", phrase="trajectory/caption")
    d, a, s = state.clip.cell
    if a not in PATHS or state.spliced:
        return None
    options: list[Cell | None] = [c for c in pool.where(dataset=d, style=s, action=PATHS) if c[1] != a]
    if mirror_label(a) != a:
        options.append(None)  # the mirror image: left and right paths exchanged, exactly
    if not options:
        return None
    cell = rng.choice(options)
    if cell is None:
        new = replace(state, steps=state.steps + (Step("mirror"),))
    else:
        new = _restart(rng, pool, cell, state, cap, cfg)
    if new is None or new.action == state.action:
        return None
    how = "mirror" if cell is None else "real"
    words = {"path": pool.say.path(rng, new.action)}
    return Edit("trajectory", state, new, words, f"path {state.action} -> {new.action} ({how})")


def edit_speed(rng, pool: Pool, state: State, cap: int, cfg: TaskConfig, fresh: bool = False) -> Edit | None:
    """Time-resampling by one of the phrased factors; a fresh source is shortened so a slow-down fits."""
    if state.speed != 1 or state.spliced:
        return None
    if fresh:
        f = rng.choice(pool.say.speed_factors)
        state = replace(
            state, end=state.start + min(state.end - state.start, source_rows(cap, (Step("speed", {"factor": f}),)))
        )
        factors = [f]
    else:
        factors = pool.say.speed_factors
    factors = [f for f in factors if cfg.min_rows <= math.floor(state.rows / f + 1e-9) <= cap]
    if not factors:
        return None
    f = rng.choice(factors)
    new = replace(state, steps=state.steps + (Step("speed", {"factor": f}),))
    return Edit("speed", state, new, {"pace": pool.say.pace(rng, f)}, f"speed x{f:g}")


def _bodypart_plan(rng, pool: Pool, state: State) -> tuple[tuple[str, ...], str, str, Cell] | None:
    """(parts taken from the donor, the kept and the changed part for the words, donor cell)."""
    d, _, s = state.clip.cell
    if state.action in LOCOMOTION:
        cells = pool.where(dataset=d, action=tuple(GESTURE_PARTS))
        cells = [c for c in cells if c[2] == s] or cells  # the same style when the split has it
        if not cells:
            return None
        cell = rng.choice(cells)
        parts = GESTURE_PARTS[cell[1]]
        changed = "arms" if len(parts) == 2 else parts[0]
        return parts, "legs", changed, cell
    if state.action in GESTURE_PARTS:
        cells = pool.where(dataset=d, action=LOCOMOTION)
        cells = [c for c in cells if c[2] == s] or cells
        if not cells:
            return None
        return ("legs",), "upper_body", "legs", rng.choice(cells)
    return None


def edit_bodypart(rng, pool: Pool, state: State, cap: int, cfg: TaskConfig, fresh: bool = False) -> Edit | None:
    """Keep some body parts, take the others from a real clip of another action (a splice). Gestures
    are short: a fresh source is shortened to its donor's length, a previous result never is."""
    if state.spliced or state.speed != 1:
        return None
    plan = _bodypart_plan(rng, pool, state)
    if plan is None:
        return None
    parts, kept, changed, cell = plan
    donor_clip = pool.clip(rng, cell, longer_than=0 if fresh else state.end - state.start - 1)
    if donor_clip is None:
        return None
    state = replace(state, end=state.start + min(state.end - state.start, donor_clip.rows))
    donor = crop(rng, donor_clip, state.end - state.start)
    step = Step("bodypart", {"parts": list(parts), "from": donor.ref.to_json()})
    new = replace(state, steps=state.steps + (step,))
    if new.rows < cfg.min_rows:
        return None
    words = {"kept": pool.say.part(rng, kept), "changed": pool.say.part(rng, changed),
             "action": pool.say.action(rng, donor_clip.action)}  # fmt: skip
    return Edit("bodypart", state, new, words, f"{'+'.join(parts)} from {donor_clip.action}")


EDITS: dict[str, Callable[..., Edit | None]] = {
    "action": edit_action, "speed": edit_speed, "bodypart": edit_bodypart, "style": edit_style,
    "trajectory": edit_trajectory,
}  # fmt: skip
# Cells an edit can start from, so that a split without material is told apart from a bad draw.
_EDIT_SOURCES: dict[str, Callable[[Pool], list[Cell]]] = {
    "style": lambda p: [c for c in p.cell_list if any(o[2] != c[2] for o in p.where(dataset=c[0], action=c[1]))],
    "action": lambda p: [c for c in p.cell_list if len(p.where(dataset=c[0], style=c[2])) > 1
                         or (not c[1] and any(p.has_far_partner(k) for k in p.cells[c]))],
    "trajectory": lambda p: [c for c in p.cell_list if c[1] in PATHS or any(p.sided(k) for k in p.cells[c])],
    "speed": lambda p: p.cell_list,
    "bodypart": lambda p: [c for c in p.cell_list if c[1] in LOCOMOTION or c[1] in GESTURE_PARTS],
}
# Which clips of a source cell an edit can start from (labelled clips: all of them).
_EDIT_CLIPS: dict[str, Callable[[Pool], Callable[[ClipInfo], bool]]] = {
    "action": lambda p: lambda k: k.labelled or p.has_far_partner(k),
    "trajectory": lambda p: lambda k: k.labelled or p.sided(k),
}
_EDIT_NEEDS = {
    "style": "action performed in two styles",
    "action": "two actions performed in one style, or two captioned clips of different actions",
    "trajectory": "walk path variant (walk, walk-back, walk-left/right, walk-turn-left/right) or caption that names a side",
    "speed": "clips",
    "bodypart": "locomotion or upper-body gesture clip",
}
_LABEL_EDITS = ("style", "bodypart")  # edits that need labels


def _sources(pool: Pool, kind: str) -> list[Cell]:
    cells = pool.memo(("sources", kind), lambda: _EDIT_SOURCES[kind](pool))
    if not cells:
        if kind in _LABEL_EDITS:
            raise pool.needs_labels(_EDIT_NEEDS[kind])
        raise Unsatisfiable(f"the {pool.split} split has no {_EDIT_NEEDS[kind]}")
    return cells


def _start(rng, pool: Pool, cells: list[Cell], cap: int, ok: Callable[[ClipInfo], bool] | None = None) -> State:
    return crop(rng, pool.clip(rng, pool.pick(rng, cells), ok=ok), cap)


def _sample(task: str, pool: Pool, turns: list[tuple[str, list[Part]]], **meta) -> Sample:
    return Sample("", task, pool.split, tuple(Turn(role, tuple(parts)) for role, parts in turns), meta)


# ---- motion editing -----------------------------------------------------------------------------


def make_edit(kind: str) -> Callable[[random.Random, Pool, TaskConfig], Sample | None]:
    def task(rng: random.Random, pool: Pool, cfg: TaskConfig) -> Sample | None:
        cap = cfg.cap(2)
        ok = _EDIT_CLIPS[kind](pool) if kind in _EDIT_CLIPS else None
        state = _start(rng, pool, _sources(pool, kind), cap, ok)
        edit = EDITS[kind](rng, pool, state, cap, cfg, fresh=True)
        if edit is None:
            return None
        prompt = pool.say.say(rng, f"edit/{edit.key}", **edit.slots)
        return _sample(f"edit/{kind}", pool, [
            ("user", [motion(edit.source.ref, "SourceMotion"), text(prompt)]),
            ("assistant", [motion(edit.state.ref)]),
        ], source=edit.source.labels(), target=edit.state.labels(), edit=edit.note)  # fmt: skip

    task.__name__ = f"edit_{kind}"
    task.__doc__ = f"Motion editing ({kind}): <SourceMotion> + instruction -> the edited motion."
    return task


def make_multiturn(turns: int) -> Callable[[random.Random, Pool, TaskConfig], Sample | None]:
    def task(rng: random.Random, pool: Pool, cfg: TaskConfig) -> Sample | None:
        cap = cfg.cap(turns + 1)
        kinds = pool.memo("edit-kinds", lambda: [k for k in EDITS if _EDIT_SOURCES[k](pool)])
        if len(kinds) < turns:
            raise pool.needs_labels(f"{turns} kinds of edit; it allows {', '.join(kinds) or 'none'}")
        state = _start(rng, pool, pool.cell_list, cap)
        conversation, notes, used = [], [], set()
        for t in range(turns):
            kinds = [k for k in EDITS if k not in used]
            rng.shuffle(kinds)
            edit = next((e for k in kinds if (e := EDITS[k](rng, pool, state, cap, cfg, fresh=t == 0))), None)
            if edit is None:
                return None
            used.add(edit.kind)
            if t == 0:
                user = [
                    motion(edit.source.ref, "SourceMotion"),
                    text(pool.say.say(rng, f"edit/{edit.key}", **edit.slots)),
                ]
            else:
                words = pool.say.say(rng, f"clause/{edit.key}", capitalise=False, **edit.slots)
                user = [text(pool.say.say(rng, "followup", clause=words))]
            conversation += [("user", user), ("assistant", [motion(edit.state.ref)])]
            notes.append(edit.note)
            state = edit.state
        return _sample(f"multiturn/{turns}", pool, conversation, edits=notes)

    task.__name__ = f"multiturn_{turns}"
    task.__doc__ = f"Multi-turn editing: {turns} edits in a row, each applied to the previous result."
    return task


def compositional(rng: random.Random, pool: Pool, cfg: TaskConfig) -> Sample | None:
    """Two edits in one instruction (evaluation only: the paper reports it as emergent)."""
    cap = cfg.cap(2)
    state = _start(rng, pool, pool.cell_list, cap)
    kinds = ["style", "action", "trajectory", "speed"]
    rng.shuffle(kinds)
    first = next((e for k in kinds if (e := EDITS[k](rng, pool, state, cap, cfg, fresh=True))), None)
    if first is None:
        return None
    rest = [k for k in kinds if k != first.kind and not {k, first.kind} == {"action", "trajectory"}]
    second = next((e for k in rest if (e := EDITS[k](rng, pool, first.state, cap, cfg))), None)
    if second is None:
        return None
    clauses = [pool.say.say(rng, f"clause/{e.key}", capitalise=False, **e.slots) for e in (first, second)]
    prompt = pool.say.say(rng, "compositional", first=clauses[0], second=clauses[1])
    return _sample("compositional", pool, [
        ("user", [motion(first.source.ref, "SourceMotion"), text(prompt)]),
        ("assistant", [motion(second.state.ref)]),
    ], source=first.source.labels(), target=second.state.labels(), edits=[first.note, second.note])  # fmt: skip


# ---- reflection -----------------------------------------------------------------------------------


def _prompt(rng: random.Random, action: str, style: str) -> str:
    """A caption for (action, style) as a lower-case clause: 'a person walks forward happily'."""
    caption = captions_for(action, style, 1, f"prompt-{rng.getrandbits(64)}")[0]
    return caption[0].lower() + caption[1:].rstrip(".")


def _near_miss(rng, pool: Pool, want: State, kind: str, cap: int, cfg: TaskConfig) -> tuple[State, str] | None:
    """A first attempt that gets one attribute wrong (or none, for 'match'), and the wrong attribute."""
    d, a, s = want.clip.cell
    if kind == "match":
        return want, ""
    if not want.clip.labelled:
        if kind == "action":
            others = pool.partners(want.clip, far=True)
            return (crop(rng, rng.choice(others), cap), "action") if others else None
        if kind == "side":
            return (replace(want, steps=(Step("mirror"),)), "side") if pool.sided(want.clip) else None
        if kind == "style":
            return None
    if kind == "style":
        cells = [c for c in pool.where(dataset=d, action=a) if c[2] != s]
        return (crop(rng, pool.clip(rng, rng.choice(cells)), cap), "style") if cells else None
    if kind == "action":
        cells = [c for c in pool.where(dataset=d, style=s) if not similar(c[1], a) and c[1] != mirror_label(a)]
        return (crop(rng, pool.clip(rng, rng.choice(cells)), cap), "action") if cells else None
    if kind == "side":
        return (replace(want, steps=(Step("mirror"),)), "side") if mirror_label(a) != a else None
    factors = [f for f in (0.5, 2.0) if cfg.min_rows <= math.floor(want.rows / f) <= cap]
    if not factors:
        return None
    f = rng.choice(factors)
    return replace(want, steps=(Step("speed", {"factor": f}),)), "pace"


def _caption_verdict(rng, pool: Pool, prompt: str, shown: State, wrong: str) -> str:
    """The verdict on a captioned clip, worded with captions (there is no style to judge)."""
    say = pool.say
    parts = [say.say(rng, "verdict/no" if wrong else "verdict/yes")]
    if wrong in ("action", "side"):
        parts.append(say.say(rng, f"verdict/caption/{wrong}", shown=said(pool, shown, rng, sided=wrong == "side"),
                             wanted=prompt))  # fmt: skip
    else:
        parts.append(say.say(rng, "verdict/caption/ok", wanted=prompt))
    if wrong == "pace":
        parts.append(say.say(rng, "verdict/speed/bad", pace_error=say.pace_error(rng, shown.speed)))
    if wrong:
        parts.append(say.say(rng, "verdict/fix", attribute=wrong))
    return " ".join(parts)


def _verdict(rng, pool: Pool, want: State, shown: State, wrong: str) -> str:
    say = pool.say
    parts = [say.say(rng, "verdict/no" if wrong else "verdict/yes")]
    if wrong in ("action", "side"):
        key = "verdict/action/bad" if wrong == "action" else "verdict/side/bad"
        parts.append(say.say(rng, key, shown_actions=say.actions(rng, shown.action),
                             wanted_actions=say.actions(rng, want.action)))  # fmt: skip
    else:
        parts.append(say.say(rng, "verdict/action/ok", actions=say.actions(rng, want.action)))
    if wrong == "style":
        adj = (say.style_adj(rng, shown.clip.style), say.style_adj(rng, want.clip.style))
        parts.append(say.say(rng, "verdict/style/bad", shown_adj=adj[0], wanted_adj=adj[1]))
    else:
        parts.append(say.say(rng, "verdict/style/ok", style_adj=say.style_adj(rng, want.clip.style)))
    if wrong == "pace":
        parts.append(say.say(rng, "verdict/speed/bad", pace_error=say.pace_error(rng, shown.speed)))
    if wrong:
        parts.append(say.say(rng, "verdict/fix", attribute=wrong))
    return " ".join(parts)


_MISS_WEIGHTS = {"match": 0.3, "style": 0.25, "action": 0.2, "side": 0.1, "pace": 0.15}


def make_reflection(stage: str) -> Callable[[random.Random, Pool, TaskConfig], Sample | None]:
    def task(rng: random.Random, pool: Pool, cfg: TaskConfig) -> Sample | None:
        cap = cfg.cap(2)
        want = _start(rng, pool, pool.cell_list, cap)
        labelled = want.clip.labelled
        prompt = _prompt(rng, want.action, want.clip.style) if labelled else said(pool, want, rng)
        if stage == "generate":
            return _sample("reflection/generate", pool, [
                ("user", [text(pool.say.say(rng, "reflection/generate", prompt=prompt))]),
                ("assistant", [motion(want.ref)]),
            ], target=want.labels())  # fmt: skip
        kinds = [k for k in _MISS_WEIGHTS if not (stage == "regenerate" and k == "match")]
        kind = rng.choices(kinds, [_MISS_WEIGHTS[k] for k in kinds])[0]
        miss = _near_miss(rng, pool, want, kind, cap, cfg)
        if miss is None:
            return None
        shown, wrong = miss
        if labelled:
            verdict = _verdict(rng, pool, want, shown, wrong)
        else:
            if wrong == "side":  # the words must name the side that the mirror swaps
                prompt = said(pool, want, rng, sided=True)
            verdict = _caption_verdict(rng, pool, prompt, shown, wrong)
        meta = {"wanted": want.labels(), "shown": shown.labels(), "wrong": wrong or "nothing"}
        if stage == "judge":
            return _sample("reflection/judge", pool, [
                ("user", [motion(shown.ref, "Motion"), text(pool.say.say(rng, "reflection/judge", prompt=prompt))]),
                ("assistant", [text(verdict)]),
            ], **meta)  # fmt: skip
        # another take of the wanted cell, if any (a captioned clip: another crop of itself)
        fixed = crop(rng, pool.clip(rng, want.clip.cell) if labelled else want.clip, cap)
        return _sample("reflection/regenerate", pool, [
            ("user", [text(pool.say.say(rng, "reflection/generate", prompt=prompt))]),
            ("assistant", [motion(shown.ref)]),
            ("user", [text(pool.say.say(rng, "reflection/check"))]),
            ("assistant", [text(verdict)]),
            ("user", [text(pool.say.say(rng, "reflection/regenerate"))]),
            ("assistant", [motion(fixed.ref)]),
        ], **meta)  # fmt: skip

    task.__name__ = f"reflection_{stage}"
    task.__doc__ = {
        "generate": "Reflection, first generation: text -> motion, asked to be checked afterwards.",
        "judge": "Reflection, self-judgment: <Motion> + prompt -> a verdict saying what matches and what does not.",
        "regenerate": "Reflection, regeneration: prompt -> flawed motion -> verdict -> corrected motion.",
    }[stage]
    return task


# ---- in-context generation --------------------------------------------------------------------------


def _swap_names(prompt: str, rng: random.Random) -> tuple[str, bool]:
    """Half of the time bind the first-named role to <MotionB>, so position never gives the role away."""
    if rng.random() < 0.5:
        return prompt, False
    return prompt.replace("<MotionA>", "\0").replace("<MotionB>", "<MotionA>").replace("\0", "<MotionB>"), True


def _incontext(rng, pool: Pool, task: str, a: State, b: State, target: State, **meta) -> Sample:
    prompt, swapped = _swap_names(pool.say.say(rng, task), rng)
    first, second = (b, a) if swapped else (a, b)  # the clips bound to <MotionA> and <MotionB>
    return _sample(task, pool, [
        ("user", [motion(first.ref, "MotionA"), motion(second.ref, "MotionB"), text(prompt)]),
        ("assistant", [motion(target.ref)]),
    ], target=target.labels(), **meta)  # fmt: skip


def incontext_action_style(rng: random.Random, pool: Pool, cfg: TaskConfig) -> Sample | None:
    """<MotionA> gives the action, <MotionB> the style; the target is the real (action, style) clip."""
    cap = cfg.cap(3)
    targets = pool.memo("action+style", lambda: [
        c for c in pool.cell_list if any(o[2] != c[2] for o in pool.where(dataset=c[0], action=c[1]))
        and any(not similar(o[1], c[1]) for o in pool.where(dataset=c[0], style=c[2]))])  # fmt: skip
    if not targets:
        raise pool.needs_labels("action in two styles with a second action in one of them")
    d, act, sty = pool.pick(rng, targets)
    a_cell = rng.choice([c for c in pool.where(dataset=d, action=act) if c[2] != sty])
    b_cell = rng.choice([c for c in pool.where(dataset=d, style=sty) if not similar(c[1], act)])
    a, b, t = (crop(rng, pool.clip(rng, c), cap) for c in (a_cell, b_cell, (d, act, sty)))
    return _incontext(rng, pool, "incontext/action+style", a, b, t, action_from=a.labels(), style_from=b.labels())


def incontext_trajectory_action(rng: random.Random, pool: Pool, cfg: TaskConfig) -> Sample | None:
    """<MotionA> gives the path (a walk variant), <MotionB> an arm gesture; the target is A with B's
    arms spliced in (exact: legs, root and torso of A, arms of B)."""
    cap = cfg.cap(3)
    walks = pool.memo("trajectory+action", lambda: [
        c for c in pool.cell_list if c[1] in PATHS and pool.where(dataset=c[0], action=tuple(GESTURE_PARTS))])  # fmt: skip
    if not walks:
        raise pool.needs_labels("walk and arm gesture of the same dataset")
    a_cell = pool.pick(rng, walks)
    gestures = pool.where(dataset=a_cell[0], action=tuple(GESTURE_PARTS))
    b_cell = rng.choice([c for c in gestures if c[2] == a_cell[2]] or gestures)
    a_clip, b_clip = pool.clip(rng, a_cell), pool.clip(rng, b_cell)
    n = min(a_clip.rows, b_clip.rows, cap)
    a, b = crop(rng, a_clip, n), crop(rng, b_clip, n)
    step = Step("bodypart", {"parts": list(GESTURE_PARTS[b_cell[1]]), "from": b.ref.to_json()})
    target = replace(a, steps=(step,))
    if target.rows < cfg.min_rows:
        return None
    return _incontext(rng, pool, "incontext/trajectory+action", a, b, target,
                      trajectory_from=a.labels(), action_from=b.labels())  # fmt: skip


def incontext_style_trajectory(rng: random.Random, pool: Pool, cfg: TaskConfig) -> Sample | None:
    """<MotionA> gives the style (any action), <MotionB> the path; the target is the real walk variant
    of B's path in A's style."""
    cap = cfg.cap(3)
    targets = pool.memo("style+trajectory", lambda: [
        c for c in pool.cell_list if c[1] in PATHS
        and any(o[2] != c[2] for o in pool.where(dataset=c[0], action=c[1]))
        and any(o[1] != c[1] for o in pool.where(dataset=c[0], style=c[2]))])  # fmt: skip
    if not targets:
        raise pool.needs_labels("walk variant in two styles with another action")
    d, path, sty = pool.pick(rng, targets)
    a_cell = rng.choice([c for c in pool.where(dataset=d, style=sty) if c[1] != path])
    b_cell = rng.choice([c for c in pool.where(dataset=d, action=path) if c[2] != sty])
    a, b, t = (crop(rng, pool.clip(rng, c), cap) for c in (a_cell, b_cell, (d, path, sty)))
    return _incontext(rng, pool, "incontext/style+trajectory", a, b, t, style_from=a.labels(),
                      trajectory_from=b.labels())  # fmt: skip


# ---- generation from text, description, completion, knowledge ---------------------------------------


def _plain(rng, pool: Pool, cap: int, min_rows: int = 1) -> State | None:
    cells = pool.memo(("plain", min_rows), lambda: [
        c for c in pool.cell_list if any(k.rows >= min_rows for k in pool.cells[c])])  # fmt: skip
    if not cells:
        raise Unsatisfiable(f"the {pool.split} split has no clip of {min_rows} rows or more")
    clip = pool.clip(rng, pool.pick(rng, cells), longer_than=min_rows - 1)
    return crop(rng, clip, cap)


def _caption_clause(caption: str) -> str:
    return caption[0].lower() + caption[1:].rstrip(".")


def text_to_motion(rng: random.Random, pool: Pool, cfg: TaskConfig) -> Sample | None:
    """Text -> motion, with the corpus captions."""
    state = _plain(rng, pool, cfg.cap(1))
    caption = rng.choice(pool.captions(state.clip))
    # A third of the prompts are the bare caption, as people type it at `omnimogen generate`.
    if rng.random() < 1 / 3:
        said = caption if rng.random() < 0.5 else caption.rstrip(".")
    else:
        said = pool.say.say(rng, "t2m", prompt=_caption_clause(caption))
    return _sample("t2m", pool, [
        ("user", [text(said)]),
        ("assistant", [motion(state.ref)]),
    ], target=state.labels())  # fmt: skip


def describe(rng: random.Random, pool: Pool, cfg: TaskConfig) -> Sample | None:
    """Motion -> caption."""
    state = _plain(rng, pool, cfg.cap(1))
    return _sample("describe", pool, [
        ("user", [motion(state.ref, "Motion"), text(pool.say.say(rng, "describe"))]),
        ("assistant", [text(rng.choice(pool.captions(state.clip)))]),
    ], source=state.labels())  # fmt: skip


def inbetween(rng: random.Random, pool: Pool, cfg: TaskConfig) -> Sample | None:
    """Start and end poses (short segments), optional text -> the whole motion between them."""
    k = rng.choice(cfg.pose_rows)
    state = _plain(rng, pool, cfg.cap(1), min_rows=2 * k + 2 * cfg.min_rows)
    ref = state.ref
    first = MotionRef(ref.clip, ref.start, ref.start + k)
    last = MotionRef(ref.clip, ref.end - k, ref.end)
    if rng.random() < 0.5:
        prompt = pool.say.say(rng, "inbetween")
    else:
        prompt = pool.say.say(rng, "inbetween/text", prompt=_caption_clause(rng.choice(pool.captions(state.clip))))
    return _sample("inbetween", pool, [
        ("user", [motion(first, "StartPose"), motion(last, "EndPose"), text(prompt)]),
        ("assistant", [motion(ref)]),
    ], target=state.labels(), pose_rows=k)  # fmt: skip


def inpaint(rng: random.Random, pool: Pool, cfg: TaskConfig) -> Sample | None:
    """The motion before and after a masked span -> the whole motion with the span filled in."""
    state = _plain(rng, pool, cfg.cap(2), min_rows=4 * cfg.min_rows)
    n = state.end - state.start
    gap = rng.randint(n // 4, n // 2)
    cut = rng.randint(cfg.min_rows, n - gap - cfg.min_rows)
    before = MotionRef(state.clip.id, state.start, state.start + cut)
    after = MotionRef(state.clip.id, state.start + cut + gap, state.end)
    prompt = pool.say.say(rng, "inpaint", seconds=f"{gap / 20:.1f}")
    return _sample("inpaint", pool, [
        ("user", [motion(before, "Before"), motion(after, "After"), text(prompt)]),
        ("assistant", [motion(state.ref)]),
    ], target=state.labels(), masked_rows=[cut, cut + gap])  # fmt: skip


def continuation(rng: random.Random, pool: Pool, cfg: TaskConfig) -> Sample | None:
    """A prefix -> what follows it."""
    cap = cfg.cap(2)
    state = _plain(rng, pool, 2 * cap, min_rows=2 * cfg.min_rows)
    n = state.end - state.start
    cut = rng.randint(max(cfg.min_rows, n - cap, n // 3), min(cap, n - cfg.min_rows, max(cfg.min_rows, 2 * n // 3)))
    prefix = MotionRef(state.clip.id, state.start, state.start + cut)
    rest = MotionRef(state.clip.id, state.start + cut, state.end)
    prompt = pool.say.say(rng, "continue", seconds=f"{(n - cut) / 20:.1f}")
    return _sample("continue", pool, [
        ("user", [motion(prefix, "Motion"), text(prompt)]),
        ("assistant", [motion(rest)]),
    ], target=state.labels())  # fmt: skip


def knowledge(rng: random.Random, pool: Pool, cfg: TaskConfig) -> Sample | None:
    """An everyday request -> a plan in words -> the motion (held-out concepts only in val/test)."""

    def realisable() -> list[tuple[Concept, list[Cell]]]:
        pairs = [(k, [c for a, s in k.motions for c in pool.where(action=a, **({"style": s} if s else {}))])
                 for k in pool.concepts]  # fmt: skip
        return [(k, cells) for k, cells in pairs if cells]

    usable = pool.memo("knowledge", realisable)
    if not usable:
        raise pool.needs_labels("a clip of an action that a concept of this split names")
    concept, cells = rng.choice(usable)
    state = crop(rng, pool.clip(rng, pool.pick(rng, cells)), cfg.cap(1))
    prompt = pool.say.say(rng, "knowledge", concept=rng.choice(concept.ask))
    plan = pool.say.say(rng, "knowledge/plan", plan=rng.choice(concept.plan))
    return _sample("knowledge", pool, [
        ("user", [text(prompt)]),
        ("assistant", [text(plan), motion(state.ref)]),
    ], concept=concept.id, target=state.labels())  # fmt: skip


TaskFn = Callable[[random.Random, Pool, TaskConfig], Sample | None]
# The training tasks, in the order of the paper's table, then ours.
TASKS: dict[str, TaskFn] = {
    **{f"edit/{k}": make_edit(k) for k in ("action", "speed", "bodypart", "style", "trajectory")},
    "multiturn/2": make_multiturn(2),
    "multiturn/3": make_multiturn(3),
    **{f"reflection/{s}": make_reflection(s) for s in ("generate", "judge", "regenerate")},
    "incontext/action+style": incontext_action_style,
    "incontext/trajectory+action": incontext_trajectory_action,
    "incontext/style+trajectory": incontext_style_trajectory,
    "t2m": text_to_motion,
    "describe": describe,
    "inbetween": inbetween,
    "inpaint": inpaint,
    "continue": continuation,
    "knowledge": knowledge,
}
EVAL_ONLY: dict[str, TaskFn] = {"compositional": compositional}
