"""The retrieval suites asked in held-out words: ``omnimogen bench t2m|anycontext --paraphrase [--split S]``.

The t2m and AnyContext suites ask in the training templates' words unless told otherwise. With
``--paraphrase`` they ask in the words of the follow suite's hand-written paraphrase set
(``follow_prompts.json``, never used in training; ``--split`` picks its dev or test half):

t2m         the set's text-to-motion prompts, each asked for the test clips of the action and style it
            names (style 'normal' where it names none). Labels that no test clip has are left out and
            counted in the data name; the clips with no prompt are not asked.
anycontext  the same cases as the template-worded set (same motions, same targets), each instruction
            rewritten from the set's held-out frames, picked by the case id. Compositional cases keep
            their two edits: held-out sentence and clause frames, slots filled from the training
            vocabulary (a style adjective, a path, a pace), because those single words name labels.
"""

from __future__ import annotations

import json
import random
import re
import zlib
from dataclasses import replace

from ..instructions.corpus import Corpus
from ..instructions.phrasings import default_phrasings
from ..instructions.schema import MotionRef, Sample, Turn, text
from .bench_cases import MAX_ROWS, Case
from .follow import PROMPTS, FollowError, load_prompts

NOTE = {  # how the X2Mo builder notes each edit of a compositional case (instructions/tasks.py)
    "style": re.compile(r"^style \S+ -> (?P<style>\S+)$"),
    "action": re.compile(r"^action \S+ -> (?P<action>\S+)$"),
    "trajectory": re.compile(r"^path \S+ -> (?P<path>\S+) \(\w+\)$"),
    "speed": re.compile(r"^speed x(?P<factor>[0-9.]+)$"),
}


def frames(split: str) -> dict:
    """The held-out AnyContext frames of ``split`` ("dev", "test" or "all"): {category: [frames]} and
    {"clauses": {kind: [frames]}}."""
    doc = json.loads(PROMPTS.read_text(encoding="utf-8")).get("anycontext")
    if not isinstance(doc, dict):
        raise FollowError(f"{PROMPTS}: no 'anycontext' frames.")
    halves = ("dev", "test") if split == "all" else (split,)
    pick = lambda d: [f for h in halves for f in d[h]]  # noqa: E731
    out = {k: pick(doc[k]) for k in ("style", "trajectory", "speed", "compositional")}
    out["clauses"] = {k: pick(v) for k, v in doc["clauses"].items()}
    return out


def t2m_cases(corpus: Corpus, split: str) -> tuple[list[Case], str]:
    """Text-to-motion cases asked in the paraphrase set's words, and a name saying what was left out."""
    prompts: dict[tuple[str, str], list[str]] = {}
    for c in load_prompts(split=split):
        if c.family == "t2m" and "action" in c.turns[0].expect:  # skill-only cases name no label
            e = c.turns[0].expect
            prompts.setdefault((e["action"], e.get("style", "normal")), []).append(c.turns[0].instruction)
    cases, asked = [], set()
    clips = sorted((c for cells in corpus.cells("test").values() for c in cells), key=lambda c: c.id)
    for clip in clips:
        texts = prompts.get((clip.action, clip.style))
        if texts:
            asked.add((clip.action, clip.style))
            rows = min(clip.rows, MAX_ROWS)
            cases.append(Case(clip.id, "all", tuple(texts), MotionRef(clip.id, 0, rows), rows,
                              f"{clip.action}/{clip.style}", frames=rows + 1))  # fmt: skip
    if not cases:
        raise FollowError(f"{corpus.root}: no test clip has the action and style of a paraphrase prompt.")
    missing = sum(len(v) for k, v in prompts.items() if k not in asked)
    return cases, f"paraphrase {split}: {len(cases)} clips of {len(asked)} labels, {missing} prompts with no test clip"


def _rng(sample: Sample) -> random.Random:
    return random.Random(zlib.crc32(sample.id.encode()))


def _clause(rng: random.Random, clauses: dict, note: str) -> str:
    say = default_phrasings()
    for kind, pattern in NOTE.items():
        m = pattern.match(note)
        if m is None:
            continue
        if kind == "style":
            slots = say.style(rng, m["style"])
        elif kind == "action":
            slots = {"action": say.action(rng, m["action"])}
        elif kind == "trajectory":
            slots = {"path": say.path(rng, m["path"])}
        else:
            slots = {"pace": say.pace(rng, float(m["factor"]))}
        return rng.choice(clauses[kind]).format(**slots)
    raise FollowError(f"a compositional case has an edit the paraphrase cannot word: {note!r}.")


def reword_anycontext(samples: list[Sample], split: str) -> list[Sample]:
    """The same AnyContext cases, each instruction in held-out words (deterministic per case id)."""
    table, out = frames(split), []
    for s in samples:
        category = s.task.partition("/")[2]
        rng = _rng(s)
        if category == "compositional":
            first, second = (_clause(rng, table["clauses"], n) for n in s.meta["edits"])
            prompt = rng.choice(table["compositional"]).format(first=first, second=second)
        else:
            prompt = rng.choice(table[category])
        user = s.turns[0]
        parts = tuple(p for p in user.parts if p.text is None) + (text(prompt),)
        out.append(replace(s, turns=(Turn(user.role, parts), *s.turns[1:])))
    return out
