"""Interleaved text-motion instructions: the format, derivation recipes, the X2Mo-style builder, AnyContext.

schema.py      the sample format (JSON Lines): turns of text and motion references
corpus.py      the labelled clips of a dataset, by split and (dataset, action, style) cell
recipes.py     exact derivations of a clip (speed, mirror, heading, body-part splice) and materialise()
phrasings.py   instruction templates and words as data (phrasings.json, concepts.json), checked on load
tasks.py       one pure function per task family: (rng, pool, config) -> Sample
builder.py     build_x2mo(): the training set, its manifest and chart
anycontext.py  build_anycontext(): the benchmark from test clips
validate.py    validate_set(): every sample against its corpus and the model's limits
preview.py     render_sample(): a contact sheet of a sample's motions, to check targets by eye
"""

from .anycontext import build_anycontext
from .builder import build_x2mo
from .corpus import Corpus
from .recipes import materialise
from .schema import MotionRef, Part, Sample, Step, Turn, read_samples, write_samples
from .validate import validate_set

__all__ = [
    "Corpus", "MotionRef", "Part", "Sample", "Step", "Turn", "build_anycontext", "build_x2mo", "materialise",
    "read_samples", "validate_set", "write_samples",
]  # fmt: skip
