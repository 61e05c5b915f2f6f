"""AnyContext-style benchmark: source motion + reference motion + instruction -> target, test clips only.

Each case asks the model to take one attribute from ``<RefMotion>`` and keep the rest of
``<SourceMotion>``, as in the paper's benchmark:

style
    source (action a, style s1), reference (another action b, style s2), target: the real (a, s2)
    clip of the same dataset.
trajectory
    source a walk variant v1 in style s1, reference another variant v2 (another style where the
    split has one), target: the real (v2, s1) clip; where the split has none and v2 is v1's mirror
    (turn left / turn right), the exact mirror of the source.
speed
    source any clip, reference another take of the same action played ``f`` times as fast, target:
    the source played ``f`` times as fast (exact time-resampling). For a captioned clip the other
    take is one whose captions are near its own (``tasks.NEAR``).
compositional (ours)
    two edits in one instruction on the source alone (style, action, trajectory, speed), never seen
    together in training: the target is real where both edits are real, else derived exactly.

Every case records how its target was made (``meta``: real or derived, the relation, the labels) and
the target reference carries its recipe. A corpus of captioned clips without labels gives speed and
compositional cases (its action edits between captions far apart); style and trajectory need labels. The set is a fixed, versioned artifact: a fixed seed, and a
manifest with the hash of every file and of the whole set.
"""

from __future__ import annotations

import json
import random
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path

from tqdm import tqdm

from ..data.captions import mirror_label
from ..errors import OmnimogenError
from .builder import BuildResult, _counts, set_hash, staging, write_files
from .corpus import Corpus
from .schema import Sample, Step, Turn, motion, text
from .tasks import PATHS, Pool, State, TaskConfig, Unsatisfiable, compositional, crop, similar, source_rows
from .validate import validate_set

VERSION = "anycontext-1"
SEED = 2512_19159  # fixed: the benchmark is an artifact, not a random draw
CASES = 200  # per category: the paper's retrieval scores use batches of 32
SPEED_FACTORS = (0.5, 0.67, 1.5, 2.0)  # clearly visible tempo changes
CATEGORIES = ("style", "trajectory", "speed", "compositional")


def _case(pool: Pool, category: str, rng: random.Random, source: State, ref: State, target: State, kind: str,
          relation: str) -> Sample:  # fmt: skip
    prompt = pool.say.say(rng, f"anycontext/{category}")
    turns = (
        Turn("user", (motion(source.ref, "SourceMotion"), motion(ref.ref, "RefMotion"), text(prompt))),
        Turn("assistant", (motion(target.ref),)),
    )
    meta = {"target_kind": kind, "relation": relation, "source": source.labels(), "reference": ref.labels(),
            "target": target.labels()}  # fmt: skip
    return Sample("", f"anycontext/{category}", pool.split, turns, meta)


def style_case(rng: random.Random, pool: Pool, cfg: TaskConfig) -> Sample | None:
    cap = cfg.cap(3)
    targets = pool.memo("anycontext/style", lambda: [
        c for c in pool.cell_list if any(o[2] != c[2] for o in pool.where(dataset=c[0], action=c[1]))
        and any(not similar(o[1], c[1]) for o in pool.where(dataset=c[0], style=c[2]))])  # fmt: skip
    if not targets:
        raise pool.needs_labels("action in two styles")
    d, a, s2 = pool.pick(rng, targets)
    src = rng.choice([c for c in pool.where(dataset=d, action=a) if c[2] != s2])
    ref = rng.choice([c for c in pool.where(dataset=d, style=s2) if not similar(c[1], a)])
    source, reference, target = (crop(rng, pool.clip(rng, c), cap) for c in (src, ref, (d, a, s2)))
    return _case(pool, "style", rng, source, reference, target, "real", f"({a}, {src[2]}) -> ({a}, {s2}), real clip")


def trajectory_case(rng: random.Random, pool: Pool, cfg: TaskConfig) -> Sample | None:
    cap = cfg.cap(3)
    sources = pool.memo("anycontext/trajectory", lambda: [
        c for c in pool.cell_list if c[1] in PATHS and len(pool.where(dataset=c[0], action=PATHS)) > 1])  # fmt: skip
    if not sources:
        raise pool.needs_labels("two walk variants")
    d, v1, s1 = pool.pick(rng, sources)
    refs = [c for c in pool.where(dataset=d, action=PATHS) if c[1] != v1]
    ref_cell = rng.choice([c for c in refs if c[2] != s1] or refs)
    v2 = ref_cell[1]
    source, reference = crop(rng, pool.clip(rng, (d, v1, s1)), cap), crop(rng, pool.clip(rng, ref_cell), cap)
    if (d, v2, s1) in pool.cells:
        target, kind, how = crop(rng, pool.clip(rng, (d, v2, s1)), cap), "real", "real clip"
    elif mirror_label(v1) == v2:
        target, kind, how = replace(source, steps=(Step("mirror"),)), "derived", "mirror of the source"
    else:
        return None
    return _case(pool, "trajectory", rng, source, reference, target, kind, f"({v1}, {s1}) -> ({v2}, {s1}), {how}")


def speed_case(rng: random.Random, pool: Pool, cfg: TaskConfig) -> Sample | None:
    cap = cfg.cap(3)
    cell = pool.pick(rng, pool.cell_list)
    f = rng.choice(SPEED_FACTORS)
    step = (Step("speed", {"factor": f}),)
    source = crop(rng, pool.clip(rng, cell), min(cap, source_rows(cap, step)))  # shown as is and sped up
    if not source.clip.labelled:  # a captioned clip: another take whose captions say the same
        others = pool.partners(source.clip, far=False)
    else:
        others = [c for c in pool.cells[cell] if c.id != source.clip.id]
    if not others and source.clip.labelled:  # no other take: another style of the same action
        cells = [c for c in pool.where(dataset=cell[0], action=cell[1]) if c != cell]
        others = [k for c in cells for k in pool.cells[c]]
    if not others:
        return None
    reference = crop(rng, rng.choice(others), source_rows(cap, step), step)
    target = replace(source, steps=step)
    if min(target.rows, reference.rows) < cfg.min_rows:
        return None
    return _case(pool, "speed", rng, source, reference, target, "derived", f"speed x{f:g} of the source")


def compositional_case(rng: random.Random, pool: Pool, cfg: TaskConfig) -> Sample | None:
    sample = compositional(rng, pool, cfg)
    if sample is None:
        return None
    derived = any(m.recipe for m in sample.motions())
    meta = {**sample.meta, "target_kind": "derived" if derived else "real", "relation": "; ".join(sample.meta["edits"])}
    return replace(sample, task="anycontext/compositional", meta=meta)


CASE_MAKERS = {"style": style_case, "trajectory": trajectory_case, "speed": speed_case,
               "compositional": compositional_case}  # fmt: skip


def make_cases(pool: Pool, category: str, count: int, cfg: TaskConfig, progress=None) -> list[Sample]:
    """``count`` distinct cases of a category (no two with the same source and reference)."""
    cases, seen, attempt = [], set(), 0
    while len(cases) < count:
        if attempt > 50 * count:
            raise Unsatisfiable(f"only {len(cases)} distinct {category} cases in the {pool.split} split")
        rng = random.Random(f"{VERSION}/{SEED}/{category}/{attempt}")
        attempt += 1
        case = CASE_MAKERS[category](rng, pool, cfg)
        key = case and json.dumps([p.motion.to_json() for p in case.turns[0].parts if p.motion])
        if case is None or key in seen:
            continue
        seen.add(key)
        cases.append(replace(case, id=f"anycontext-{category}-{len(cases):04d}"))
        if progress is not None:
            progress.update()
    return cases


def build_anycontext(data: str | Path | list, out: str | Path, *, cases: int = CASES, overwrite: bool = False,
                     progress: bool = True) -> BuildResult:  # fmt: skip
    """Build the benchmark from the test split of ``data`` (a folder, several, or a Corpus) into ``out``
    (one file per category)."""
    start = time.perf_counter()
    corpus, cfg = (data if isinstance(data, Corpus) else Corpus(data)), TaskConfig()
    pool = Pool(corpus, "test")
    skipped: list[str] = []
    with staging(out, overwrite) as tmp:
        groups = {}
        with tqdm(total=cases * len(CATEGORIES), disable=not progress, desc="cases") as bar:
            for category in CATEGORIES:
                try:
                    groups[category] = make_cases(pool, category, cases, cfg, bar)
                except Unsatisfiable as e:
                    skipped.append(f"{category}: skipped: {e}.")
                    warnings.warn(skipped[-1], stacklevel=2)
        if not groups:
            raise OmnimogenError(
                f"{corpus.name}: no AnyContext category can be built from its test split ({skipped[0]})"
            )
        files = write_files(tmp, groups)
        counts = _counts(groups)
        kinds = {
            c: {k: sum(s.meta["target_kind"] == k for s in g) for k in ("real", "derived")} for c, g in groups.items()
        }
        manifest = {
            "format": "omnimogen.anycontext",
            "version": VERSION,
            "seed": SEED,
            "cases_per_category": cases,
            "counts": counts,
            "targets": kinds,
            "skipped": skipped,
            "config": asdict(cfg),
            "dataset": {"name": corpus.name, "source_sha256": corpus.source_sha256, "split": "test"},
            "files": files,
            "hash": set_hash(files),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        report = validate_set(tmp, corpus, cfg)
        if not report.ok:
            raise OmnimogenError(
                f"the built set fails validation ({report.error_count} problems), first: {report.errors[0]}"
            )
        size = sum(p.stat().st_size for p in tmp.iterdir())
    return BuildResult(str(out), counts, skipped, len(files) + 1, size, round(time.perf_counter() - start, 1),
                       report.summary())  # fmt: skip
