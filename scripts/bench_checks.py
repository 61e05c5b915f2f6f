"""How often each check of the follow suite agrees with the labels of real clips.

    python scripts/bench_checks.py --data data/bandai [--split test] [--extra data/extra] [--out benchmarks/checks.json]

The checks must give the labelled answer on real motion before they can judge a model: a
walk-turn-left clip must read as a left turn, a raise-up-right-hand clip as the right hand, a
walk-back as walking backward (``omnimogen.motion.checks``, mirrored clips included: their labels
swap left and right), and the evaluator's reading of action and style (the follow suite's
``Labeller``) must name the clip's own labels. Writes per check: clips, agreement (%), confusions;
for the evaluator's reading, per source dataset. The whole-body skills (``checks.shows``: inverted,
airborne, kick) are scored on the labelled split and on every clip of the ``--extra`` captioned
folders, whose captions say which skill a clip shows: how many of those clips show it (detected) and
how many of the clips that show none of them read as showing it (false).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from omnimogen.instructions.corpus import Corpus
from omnimogen.motion import Motion, checks

# label -> what each check should read
EXPECT = {
    "turn": {"walk-turn-left": "left", "walk-turn-right": "right", "walk": "none", "walk-left": "none",
             "walk-right": "none"},
    "side": {"walk-left": "left", "walk-right": "right", "walk-turn-left": "left", "walk-turn-right": "right",
             "walk": "straight"},
    "locomotion": {"walk": "forward", "run": "forward", "dash": "forward", "walk-back": "backward",
                   "walk-turn-left": "forward", "walk-turn-right": "forward", "bow": "in_place",
                   "wave-both-hands": "in_place", "wave-left-hand": "in_place", "wave-right-hand": "in_place",
                   "raise-up-both-hands": "in_place", "raise-up-left-hand": "in_place",
                   "raise-up-right-hand": "in_place"},
    "hand": {"raise-up-left-hand": "left", "raise-up-right-hand": "right", "raise-up-both-hands": "both",
             "wave-left-hand": "left", "wave-right-hand": "right", "wave-both-hands": "both"},
    "waves": {"wave-left-hand": True, "wave-right-hand": True, "wave-both-hands": True, "raise-up-left-hand": False,
              "raise-up-right-hand": False, "raise-up-both-hands": False, "walk": False},
    "bows": {"bow": True, "bye": False, "byebye": False, "guide": False, "call": False, "punch": False,
             "slash": False, "respond": False, "raise-up-both-hands": False, "wave-both-hands": False},
}  # fmt: skip
FACING = ("walk", "walk-left", "walk-right", "walk-turn-left", "walk-turn-right", "run", "dash")
SKILL_LABELS = {"kick": "kick"}  # labelled clips: action -> skill
UNCLEAR = r"danc|martial|spin|gets? up|lying"  # captions that may or may not show a skill: not scored


def skill_table(expected: list[tuple[set[str], tuple[str, ...]]]) -> dict:
    """(skills a clip shows by its words, skills read from its joints) -> per skill: detected and false rates."""
    out = {}
    for skill in checks.SKILL_WORDS:
        pos = [skill in got for want, got in expected if skill in want]
        neg = [skill in got for want, got in expected if not want]
        out[skill] = {"clips_showing": len(pos), "detected_pct": round(100 * float(np.mean(pos)), 1) if pos else None,
                      "clips_showing_none": len(neg), "false_pct": round(100 * float(np.mean(neg)), 1) if neg else None}  # fmt: skip
    return out


def evaluator_reading(corpus: Corpus, clips) -> dict:
    """Agreement of the follow suite's evaluator reading (5 nearest train clips) with the labels of
    the split's original (unmirrored) clips, per dataset."""
    from omnimogen.evaluation.evaluator import load_evaluator
    from omnimogen.evaluation.follow import Labeller, action_group, style_group

    originals = [c for c in clips if not c.mirror]
    reads = Labeller(load_evaluator(), corpus)([Motion.from_features(corpus.features(c.id)) for c in originals])
    out = {}
    for d in sorted({c.dataset for c in originals}):
        idx = [i for i, c in enumerate(originals) if c.dataset == d]
        out[f"dataset-{d}"] = {
            "clips": len(idx),
            "action_pct": round(
                100 * float(np.mean([reads[i][0] == action_group(originals[i].action) for i in idx])), 1
            ),
            "style_pct": round(100 * float(np.mean([reads[i][1] == style_group(originals[i].style) for i in idx])), 1),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--extra", action="append", default=[], help="captioned folders for the skill checks")
    ap.add_argument("--out", default="benchmarks/checks.json")
    args = ap.parse_args()
    corpus = Corpus(args.data)
    clips = [c for cells in corpus.cells(args.split).values() for c in cells]
    agree: dict[str, list[bool]] = defaultdict(list)
    confusions: dict[str, Counter] = defaultdict(Counter)
    facing: dict[str, list[float]] = defaultdict(list)
    start = time.perf_counter()
    for clip in clips:
        joints = Motion.from_features(corpus.features(clip.id)).joints
        m = checks.measure(joints)
        got = {"turn": m.turn, "side": m.side, "locomotion": m.locomotion, "hand": m.hand, "waves": m.waves,
               "bows": checks.bows(joints)}
        for check, table in EXPECT.items():
            if clip.action in table:
                ok = got[check] == table[clip.action]
                agree[check].append(ok)
                if not ok:
                    confusions[check][f"{clip.action} -> {got[check]}"] += 1
        if clip.action in FACING and m.facing_along_path is not None:
            facing[clip.action].append(m.facing_along_path)
    skills = [({SKILL_LABELS[c.action]} if c.action in SKILL_LABELS else set(),
               checks.shows(Motion.from_features(corpus.features(c.id)).joints)) for c in clips]  # fmt: skip
    extra = []
    for folder in args.extra:
        captioned = Corpus(folder)
        for clip_id in sorted(captioned.clips):
            words = " ".join(captioned.captions(clip_id)).lower()
            if re.search(UNCLEAR, words):
                continue
            want = {k for k, pattern in checks.SKILL_WORDS.items() if re.search(pattern, words)}
            extra.append((want, checks.shows(Motion.from_features(captioned.features(clip_id)).joints)))
    reading = evaluator_reading(corpus, clips)
    result = {
        "what": "agreement of the follow suite's joint checks with the labels of real clips",
        "command": f"python scripts/bench_checks.py --data {args.data} --split {args.split}"
                   + "".join(f" --extra {e}" for e in args.extra),
        "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "split": args.split, "seconds": round(time.perf_counter() - start, 1),
        "checks": {k: {"clips": len(v), "agreement_pct": round(100 * float(np.mean(v)), 1),
                       "confusions": dict(confusions[k].most_common(8))} for k, v in agree.items()},
        "evaluator_reading_originals": reading,
        "skills": {"labelled_split": skill_table(skills), **({"extra": skill_table(extra)} if extra else {})},
        "facing_along_path": {a: {"clips": len(v), "mean_share": round(float(np.mean(v)), 3),
                                  "clips_at_least_0.9": round(float(np.mean(np.array(v) >= 0.9)), 3)}
                              for a, v in sorted(facing.items())},
    }  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
