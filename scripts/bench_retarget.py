"""Foot contacts and retargeting, measured on real takes and generated motions.

    python scripts/bench_retarget.py --data data/bandai [--extra data/extra_import] [--clips 60] [--generated 24]
        [--out benchmarks/retarget.json]

1. **Clean contacts** (``omnimogen.motion.contacts``) before and after, on SMPL22 joints: GMD's foot-skate
   ratio, the slide of planted feet (mean horizontal speed of foot joints on the frames the cleanup
   plants), floor penetration, floating, OmniMoGen's Physical score, and how far the cleanup moved the
   joints (on real takes: the damage it does).
2. **Retargeting** of the cleaned motions onto our skeleton, the three test rigs (tests/fixtures/rigs) and a
   Bandai take's own rig,
   read back from the written BVH by our importer: end-effector direction error (head, wrists,
   ankles from their limb's first joint, degrees), and the planted-foot slide (over the foot joints the
   character has: the CMU rig has no toes) and skate ratio on the character (speeds divided by the
   character's size relative to the motion's, so rigs compare).

Real takes: the Bandai test split (evenly spread), and the held-out extra clips when given. Generated:
the shipped model on everyday prompts (seeded). Medians and means over clips; the machine and date
are recorded.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import tempfile
import warnings
from pathlib import Path

import numpy as np

from omnimogen.evaluation.metrics import contact_report, foot_skating_ratio, mpjpe
from omnimogen.formats.bvh import read_bvh, save_bvh
from omnimogen.formats.retarget import _leg_length, effector_errors, load_rig, retarget
from omnimogen.motion import Motion
from omnimogen.motion.contacts import clean_contacts, contacts

HERE = Path(__file__).resolve().parent
PROMPTS = ["a person walks forward", "someone walks in a circle", "a person jogs forward and stops",
           "a person walks and turns left", "a tired person walks slowly", "a happy person walks forward",
           "a person walks backwards", "a person walks to the right", "a person runs a few steps",
           "a man strolls and then turns around", "a woman walks forward confidently", "a person walks sideways"]  # fmt: skip
FEET = [7, 10, 8, 11]  # left ankle, left toe, right ankle, right toe: the order of contacts()'s columns


def planted_slide(joints: np.ndarray, planted: np.ndarray, fps: float = 20, feet=FEET) -> float:
    """Mean horizontal speed (m/s) of the foot joints (of ``feet``) over steps where they are planted on
    both frames."""
    speed = np.linalg.norm(np.diff(joints[:, FEET][..., [0, 2]], axis=0), axis=-1) * fps
    both = planted[:-1] & planted[1:] & np.isin(FEET, feet)
    return float(speed[both].mean()) if both.any() else 0.0


def clips(data: str, split: str, count: int) -> list[np.ndarray]:
    names = [n.strip() for n in (Path(data) / f"{split}.txt").read_text().split() if n.strip()]
    names = [n for n in names if not n.startswith("M")] or names  # not the mirrors
    pick = np.linspace(0, len(names) - 1, min(count, len(names))).round().astype(int)
    return [np.load(Path(data) / "new_joints" / f"{names[i]}.npy").astype(np.float64) for i in pick]


def measure(motions: list[np.ndarray], rigs: dict) -> dict:
    rows = {"clean": [], "rigs": {name: [] for name in rigs}}
    with tempfile.TemporaryDirectory() as tmp:
        for joints in motions:
            planted = contacts(joints, 20)
            clean = clean_contacts(joints, 20)
            before, after = contact_report(joints, 20), contact_report(clean, 20)
            rows["clean"].append({
                "skate_before": before.skate, "skate_after": after.skate,
                "slide_before": planted_slide(joints, planted), "slide_after": planted_slide(clean, planted),
                "penetration_mm_before": 1000 * before.penetration, "penetration_mm_after": 1000 * after.penetration,
                "floating_mm_before": 1000 * before.floating, "floating_mm_after": 1000 * after.floating,
                "physical_before": before.physical, "physical_after": after.physical,
                "moved_mm": 1000 * mpjpe(joints, clean), "moved_max_mm": 1000 * float(np.abs(clean - joints).max()),
            })  # fmt: skip
            for name, rig in rigs.items():
                row = {}
                for on_rig in (False, True):
                    path = Path(tmp) / f"{name}.bvh"
                    if rig is None:
                        Motion.from_joints(clean, 20).save(path, clean_contacts=on_rig)
                    else:
                        save_bvh(path, retarget(clean, rig, 20, clean_contacts=on_rig))
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # a rig without toes: placed on reading back
                        axes = {"up": "y", "unit": "m"} if rig is None else {"up": rig.up, "unit": rig.unit}
                        back = read_bvh(path, **axes).joints.astype(np.float64)  # a crawl is not detected upright
                    feet = FEET if rig is None else [f for f in FEET if f in rig.found]  # those the character has
                    size = _leg_length(back) / _leg_length(clean)
                    errors = effector_errors(clean, back)
                    tag = "_rig_clean" if on_rig else ""
                    row |= {f"effector_deg{tag}": float(np.mean(list(errors.values()))),
                            f"effector_max_deg{tag}": max(errors.values()),
                            f"slide{tag}": planted_slide(back / size, contacts(clean, 20), feet=feet),
                            f"skate{tag}": foot_skating_ratio(back / size),
                            f"penetration_mm{tag}": 1000 * contact_report(back / size, 20).penetration}  # fmt: skip
                rows["rigs"][name].append(row)
    return rows


def summary(rows: list[dict]) -> dict:
    keys = rows[0].keys()
    return {k: {"mean": float(np.mean([r[k] for r in rows])), "median": float(np.median([r[k] for r in rows])),
                "max": float(np.max([r[k] for r in rows]))} for k in keys}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="the Bandai dataset (omnimogen data bandai)")
    ap.add_argument("--extra", help="the imported extra clips (omnimogen data import); their test split")
    ap.add_argument("--clips", type=int, default=60, help="real clips per source (default: 60)")
    ap.add_argument("--generated", type=int, default=24, help="generated motions (default: 24)")
    ap.add_argument("--out", default="benchmarks/retarget.json")
    args = ap.parse_args()

    fixtures = HERE.parent / "tests" / "fixtures"
    rigs = {"ours": None, **{p.stem: load_rig(p) for p in sorted((fixtures / "rigs").glob("*.bvh"))},
            "bandai": load_rig(fixtures / "bandai" / "dataset-1_walk_normal_001.bvh.gz")}  # fmt: skip
    sets = {"bandai_test": clips(args.data, "test", args.clips)}
    if args.extra:
        sets["extra_heldout"] = clips(args.extra, "test", args.clips)
    if args.generated:
        from omnimogen import load_model

        model = load_model()
        sets["generated"] = [model(PROMPTS[k % len(PROMPTS)], seed=k).motions[0].joints.astype(np.float64)
                             for k in range(args.generated)]  # fmt: skip
    doc = {"what": __doc__.split("\n\n")[1].strip(), "date": datetime.date.today().isoformat(),
           "machine": f"{platform.machine()}, {platform.system()}", "command": "python scripts/bench_retarget.py "
           + " ".join(f"--{k} {v}" for k, v in vars(args).items() if v is not None and k != "out"), "sets": {}}  # fmt: skip
    for name, motions in sets.items():
        rows = measure(motions, rigs)
        doc["sets"][name] = {"clips": len(motions), "clean": summary(rows["clean"]),
                             "rigs": {r: summary(v) for r, v in rows["rigs"].items()}}  # fmt: skip
        c = doc["sets"][name]["clean"]
        print(f"{name} ({len(motions)} clips): skate {c['skate_before']['mean']:.3f} -> {c['skate_after']['mean']:.3f}, "
              f"planted slide {c['slide_before']['mean']:.3f} -> {c['slide_after']['mean']:.3f} m/s, penetration "
              f"{c['penetration_mm_before']['mean']:.1f} -> {c['penetration_mm_after']['mean']:.1f} mm, Physical "
              f"{c['physical_before']['mean']:.3f} -> {c['physical_after']['mean']:.3f}, moved {c['moved_mm']['mean']:.1f} mm")
        for r, v in doc["sets"][name]["rigs"].items():
            tag = "_rig_clean"
            print(f"  {r:18s} effector {v['effector_deg' + tag]['mean']:.2f} deg (worst effector of any clip "
                  f"{v['effector_max_deg' + tag]['max']:.2f}), planted slide {v['slide']['mean']:.3f} -> "
                  f"{v['slide' + tag]['mean']:.3f} m/s with on-rig cleaning, skate {v['skate' + tag]['mean']:.3f}, "
                  f"penetration {v['penetration_mm' + tag]['mean']:.1f} mm")  # fmt: skip
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
