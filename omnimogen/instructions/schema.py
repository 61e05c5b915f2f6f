"""The interleaved instruction format: a sample is a conversation of turns made of text and motion parts.

One sample per JSON line::

    {"id": "edit-style-000123", "task": "edit/style", "split": "train",
     "turns": [
       {"role": "user", "parts": [
          {"motion": {"clip": "dataset-2_walk_normal_003", "start": 0, "end": 80}, "name": "SourceMotion"},
          {"text": "Make <SourceMotion> look exhausted."}]},
       {"role": "assistant", "parts": [
          {"motion": {"clip": "dataset-2_walk_exhausted_001", "start": 0, "end": 80}}]}]}

A motion part references a clip of a dataset by id and a range of feature rows (20 fps), plus an
optional recipe of derivations that the builder applies (``omnimogen.instructions.recipes``); it
never stores tokenizer codes, so a dataset survives a retrained tokenizer. Text refers to motions
by placeholder (``<SourceMotion>``, ``<RefMotion>``, ``<Motion>``); a motion part's ``name`` binds it
to its placeholder. Parts are kept in order: the model reads them in that order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FormatError

ROLES = ("user", "assistant")
SPLITS = ("train", "val", "test")
PLACEHOLDER = re.compile(r"<([A-Za-z][A-Za-z0-9_]*)>")


@dataclass(frozen=True)
class Step:
    """One derivation applied to a motion: ``op`` with its arguments (see ``recipes.OPS``)."""

    op: str
    args: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"op": self.op, **self.args}


@dataclass(frozen=True)
class MotionRef:
    """Feature rows [start, end) of a dataset clip, then the recipe's steps in order."""

    clip: str
    start: int = 0
    end: int | None = None  # None: to the end of the clip
    recipe: tuple[Step, ...] = ()

    def to_json(self) -> dict:
        doc = {"clip": self.clip, "start": self.start, "end": self.end}
        if self.recipe:
            doc["recipe"] = [s.to_json() for s in self.recipe]
        return doc


@dataclass(frozen=True)
class Part:
    """Text, or a motion (with the placeholder name it binds to, if the text mentions it)."""

    text: str | None = None
    motion: MotionRef | None = None
    name: str | None = None

    def to_json(self) -> dict:
        if self.motion is not None:
            return {"motion": self.motion.to_json(), **({"name": self.name} if self.name else {})}
        return {"text": self.text}


@dataclass(frozen=True)
class Turn:
    role: str
    parts: tuple[Part, ...]

    def to_json(self) -> dict:
        return {"role": self.role, "parts": [p.to_json() for p in self.parts]}


@dataclass(frozen=True)
class Sample:
    id: str
    task: str  # family/sub-task, e.g. "edit/style", "incontext/style+trajectory", "t2m"
    split: str
    turns: tuple[Turn, ...]
    meta: dict = field(default_factory=dict)  # free-form: labels, recipe notes, concept names

    def to_json(self) -> dict:
        doc = {"id": self.id, "task": self.task, "split": self.split, "turns": [t.to_json() for t in self.turns]}
        if self.meta:
            doc["meta"] = self.meta
        return doc

    def to_line(self) -> str:
        """One JSON line; keys in a fixed order so the same sample always gives the same bytes."""
        return json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":"))

    def motions(self) -> Iterator[MotionRef]:
        for turn in self.turns:
            for part in turn.parts:
                if part.motion is not None:
                    yield part.motion


def text(s: str) -> Part:
    return Part(text=s)


def motion(ref: MotionRef, name: str | None = None) -> Part:
    return Part(motion=ref, name=name)


# ---- reading, with errors that name the line and the field ------------------------------------


class SampleError(FormatError):
    """An instruction sample that does not follow the schema."""


def _need(doc: dict, key: str, kind, where: str):
    if key not in doc:
        raise SampleError(f"{where}: missing field '{key}'.")
    value = doc[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        name = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise SampleError(f"{where}: field '{key}' must be {name}, got {type(value).__name__}.")
    return value


def ref_from_json(doc, where: str = "motion") -> MotionRef:
    """A motion reference from its JSON object (also the donor of a body-part splice)."""
    if not isinstance(doc, dict):
        raise SampleError(f"{where}: a motion reference must be an object with a 'clip'.")
    clip = _need(doc, "clip", str, where)
    start = _need(doc, "start", int, where) if "start" in doc else 0
    end = doc.get("end")
    if end is not None and (not isinstance(end, int) or isinstance(end, bool)):
        raise SampleError(f"{where}: field 'end' must be an integer or null.")
    if start < 0 or (end is not None and end <= start):
        raise SampleError(f"{where}: frame range [{start}, {end}) is empty or negative.")
    steps = []
    for k, s in enumerate(doc.get("recipe", [])):
        if not isinstance(s, dict) or not isinstance(s.get("op"), str):
            raise SampleError(f"{where}.recipe[{k}]: a step needs an 'op' string.")
        steps.append(Step(s["op"], {a: v for a, v in s.items() if a != "op"}))
    return MotionRef(clip, start, end, tuple(steps))


def sample_from_json(doc, where: str = "sample") -> Sample:
    """Validate a parsed JSON object against the schema; errors name ``where`` and the field."""
    if not isinstance(doc, dict):
        raise SampleError(f"{where}: a sample must be a JSON object.")
    sid = _need(doc, "id", str, where)
    where = f"{where} ({sid})"
    task = _need(doc, "task", str, where)
    split = _need(doc, "split", str, where)
    if split not in SPLITS:
        raise SampleError(f"{where}: field 'split' must be one of {', '.join(SPLITS)}, got {split!r}.")
    turns = []
    for t, tdoc in enumerate(_need(doc, "turns", list, where)):
        tw = f"{where}.turns[{t}]"
        if not isinstance(tdoc, dict):
            raise SampleError(f"{tw}: a turn must be an object.")
        role = _need(tdoc, "role", str, tw)
        if role not in ROLES:
            raise SampleError(f"{tw}: field 'role' must be 'user' or 'assistant', got {role!r}.")
        parts = []
        for p, pdoc in enumerate(_need(tdoc, "parts", list, tw)):
            pw = f"{tw}.parts[{p}]"
            if not isinstance(pdoc, dict) or ("text" in pdoc) == ("motion" in pdoc):
                raise SampleError(f"{pw}: a part must have exactly one of 'text' or 'motion'.")
            if "text" in pdoc:
                parts.append(Part(text=_need(pdoc, "text", str, pw)))
            else:
                name = pdoc.get("name")
                if name is not None and not (isinstance(name, str) and PLACEHOLDER.fullmatch(f"<{name}>")):
                    raise SampleError(f"{pw}: field 'name' must be a placeholder name such as 'SourceMotion'.")
                parts.append(Part(motion=ref_from_json(_need(pdoc, "motion", dict, pw), f"{pw}.motion"), name=name))
        if not parts:
            raise SampleError(f"{tw}: a turn needs at least one part.")
        turns.append(Turn(role, tuple(parts)))
    if not turns:
        raise SampleError(f"{where}: a sample needs at least one turn.")
    meta = doc.get("meta", {})
    if not isinstance(meta, dict):
        raise SampleError(f"{where}: field 'meta' must be an object.")
    return Sample(sid, task, split, tuple(turns), meta)


def read_samples(path: str | Path) -> Iterator[Sample]:
    """Samples of a JSON Lines file, validated; an error names the file, the line and the field."""
    path = Path(path)
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except json.JSONDecodeError as e:
                raise SampleError(f"{path}, line {n}: not valid JSON ({e.msg}).") from None
            yield sample_from_json(doc, f"{path}, line {n}")


def write_samples(path: str | Path, samples) -> int:
    """Write samples as JSON Lines (atomically); returns how many."""
    from ..fileio import atomic_path

    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for s in samples:
            f.write(s.to_line() + "\n")
            count += 1
    return count
