"""Look at instruction samples: every motion of a sample side by side on a contact sheet, with its text.

The point is to check by eye that a target really does what its instruction says, so every motion
part is materialised (recipes applied) and titled with its turn, its name and how it was made.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

from ..errors import check_number
from ..formats.render import render
from .corpus import Corpus
from .recipes import materialise
from .schema import MotionRef, Sample, read_samples


def describe_ref(ref: MotionRef) -> str:
    """'clip[0:120] speed x2, mirror': a short account of a reference for a panel title."""
    steps = []
    for s in ref.recipe:
        if s.op == "speed":
            steps.append(f"speed x{s.args['factor']:g}")
        elif s.op == "heading":
            steps.append(f"heading {s.args['degrees']:g}")
        elif s.op == "bodypart":
            steps.append(f"{'+'.join(s.args['parts'])} of {s.args['from']['clip']}")
        else:
            steps.append(s.op)
    return f"{ref.clip}[{ref.start}:{ref.end}]" + (f" {', '.join(steps)}" if steps else "")


def transcript(sample: Sample) -> str:
    """The conversation as text, motions shown as <Name> or [motion clip...]."""
    lines = [f"{sample.id} ({sample.task})"]
    for turn in sample.turns:
        words = [
            p.text if p.text is not None else f"[{p.name or 'motion'}: {describe_ref(p.motion)}]" for p in turn.parts
        ]
        lines.append(f"  {turn.role}: " + " ".join(words))
    return "\n".join(lines)


def render_sample(sample: Sample, corpus: Corpus, path: str | Path) -> Path:
    """A PNG contact sheet of every motion of ``sample`` in conversation order."""
    motions, titles = [], []
    for t, turn in enumerate(sample.turns):
        for part in turn.parts:
            if part.motion is not None:
                motions.append(materialise(part.motion, corpus))
                steps = describe_ref(part.motion).partition(" ")[2]  # the recipe only: panels are narrow
                titles.append(f"{t + 1}. {f'<{part.name}>' if part.name else turn.role} {steps}".strip())
    texts = [p.text for turn in sample.turns if turn.role == "user" for p in turn.parts if p.text]
    return render(motions, path, titles=titles, caption=" / ".join(texts))


def pick(directory: str | Path, task: str, count: int, seed: int = 0) -> list[Sample]:
    """``count`` random samples of ``task`` from every file of an instruction set folder."""
    check_number("count", count, 1, 1000, integer=True)

    def samples() -> Iterator[Sample]:
        for path in sorted(Path(directory).glob("*.jsonl")):
            yield from (s for s in read_samples(path) if s.task == task)

    found = list(samples())
    return random.Random(seed).sample(found, min(count, len(found)))
