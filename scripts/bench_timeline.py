"""How visible the joins of long motions are: timelines of several prompts, and one long prompt.

    python scripts/bench_timeline.py [--timelines 8] [--first-seed 100] [--out benchmarks/timeline.json]
                                     [--figure docs/studio/joins.png] [--data data/bandai]

For each join (the frames that joining two generated pieces changed), the largest frame-to-frame
change of the mean joint speed (m/s) within 3 frames of it, against the same measure in windows away
from joins, and the share of joins more abrupt than 95% of same-width windows away from joins
(``omnimogen.model.stitch.speed_jumps``; 0.05 if joins were as smooth as the rest). Compared on the
same generated segments: joined as ``OmniMoGen.timeline`` does now (the model's in-between, cut in
where the poses agree best, each cut settled) and as it did first (each segment placed after the last
and 5 frames cross-faded). Also four 30 s walks (one prompt, continued window after window), both ways.
The shipped model, seeded; the seeds differ from those the joining was tuned on (0-15).

A join between two different actions has to change speed, which windows inside one segment need not.
With ``--data`` (a ``data bandai`` folder) each join is also held against real people: the median over
the Bandai test takes of the actions on either side of it of the largest change anywhere in a take
(a run's start, for one); ``beyond_real`` is the share of joins more abrupt than that.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
from pathlib import Path

import numpy as np

from omnimogen import load_model
from omnimogen.model import stitch

PROMPTS = [("a person walks forward", 4), ("a person waves with the right hand", 3), ("a person bows", 3),
           ("a person runs a few steps", 3), ("a tired person walks slowly", 4), ("a person raises both hands", 3),
           ("a happy person walks", 4), ("a person turns around", 3)]  # fmt: skip
ACTIONS = {"a person walks forward": ["walk"], "a person waves with the right hand": ["wave-right-hand"],
           "a person bows": ["bow"], "a person runs a few steps": ["run"], "a tired person walks slowly": ["walk"],
           "a person raises both hands": ["raise-up-both-hands"], "a happy person walks": ["walk"],
           "a person turns around": ["walk-turn-left", "walk-turn-right"]}  # the Bandai actions each prompt asks for


def real_changes(data: str) -> dict[str, float]:
    """Per action of ``ACTIONS``: the median over the Bandai test takes of the largest frame-to-frame
    change of the mean joint speed anywhere in a take (m/s)."""
    labels = json.loads((Path(data) / "labels.json").read_text())
    wanted = {a for acts in ACTIONS.values() for a in acts}
    found: dict[str, list[float]] = {a: [] for a in wanted}
    for clip in (Path(data) / "test.txt").read_text().split():
        if labels.get(clip, {}).get("action") in wanted:
            found[labels[clip]["action"]].append(float(stitch.speed_changes(np.load(Path(data) / "new_joints" / f"{clip}.npy")).max()))
    return {a: float(np.median(v)) for a, v in found.items() if v}


def beyond_real(joints: np.ndarray, spans: list[tuple[int, int]], sides: list[tuple[str, str]], real: dict) -> list[bool]:
    """For each join (span) between the prompts ``sides``: is it more abrupt than real takes of either action?"""
    limit = [max(real[a] for text in pair for a in ACTIONS[text]) for pair in sides]
    return [stitch.speed_jumps(joints, [span])["join_max"] > lim for span, lim in zip(spans, limit, strict=True)]


def crossfade(a: np.ndarray, b: np.ndarray, blend: int = 5) -> tuple[np.ndarray, list[int]]:
    """The first joins: b placed after a (its first frame re-states a's last), the next ``blend`` frames
    cross-faded from where a would have gone. Returns the joints and the join (a's last frame)."""
    b = stitch.place_after(b, a)[1:]
    k = min(blend, len(a) - 1, len(b))
    w = np.linspace(0, 1, k + 2)[1:-1, None, None]
    extrapolated = a[-1] + (a[-1] - a[-2]) * np.arange(1, k + 1)[:, None, None]
    b[:k] = (1 - w) * extrapolated + w * b[:k]
    return np.concatenate([a, b]), [len(a) - 1]


def long_walks(model, joining, seeds: list[int], real: dict | None) -> dict[str, float]:
    """30 s walks made with ``stitch.bridged`` replaced by ``joining`` (None: as it is), measured at their joins."""
    original, rows = stitch.bridged, []
    for seed in seeds:
        spans = []

        def recorded(window, a, b, extra, spans=spans):
            out, at = original(window, a, b, extra) if joining is None else joining(a, b)
            spans.extend(at)
            return out, at

        stitch.bridged = recorded
        try:
            walk = model.generate("a person walks forward", seconds=30, seed=seed).motions[0].joints
        finally:
            stitch.bridged = original
        seen = stitch.speed_jumps(walk, spans)
        if real:
            seen["beyond_real"] = float(np.mean(beyond_real(walk, spans, [("a person walks forward",) * 2] * len(spans), real)))
        rows.append({"now" if joining is None else "crossfade": seen})
    return summary(rows, "now" if joining is None else "crossfade")


def summary(rows: list[dict], key: str) -> dict[str, float]:
    return {"join_max_median": float(np.median([r[key]["join_max"] for r in rows])),
            "join_max_worst": float(np.max([r[key]["join_max"] for r in rows])),
            "above_p95": float(np.mean([r[key]["above_p95"] for r in rows])),
            "inside_median": float(np.median([r[key]["inside_median"] for r in rows])),
            "inside_window_max": float(np.median([r[key]["inside_window_max"] for r in rows])),
            **({"beyond_real": float(np.mean([r[key]["beyond_real"] for r in rows]))} if "beyond_real" in rows[0][key] else {})}  # fmt: skip


def figure(rows: list[dict], path: str) -> None:
    """Mean joint speed over time of the first timelines, joined both ways, joins shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 1, figsize=(10, 2.4 * len(rows)), squeeze=False)
    for ax, row in zip(axes[:, 0], rows, strict=True):
        for key, style in (("crossfade", ":"), ("now", "-")):
            joints, spans = row["joints"][key]
            speed = np.linalg.norm(np.diff(joints, axis=0), axis=-1).mean(-1) * 20
            ax.plot(np.arange(len(speed)) / 20, speed, style, label=f"{key}: largest change at a join "
                    f"{row[key]['join_max']:.2f} m/s (windows away from joins {row[key]['inside_window_max']:.2f})")
            for lo, hi in spans:
                ax.axvspan(lo / 20, (hi + 1) / 20, color="C1" if key == "now" else "0.8", alpha=0.25)
        ax.set_title(" / ".join(row["segments"]) + f" (seed {row['seed']})", fontsize=9)
        ax.set_ylabel("mean joint speed (m/s)", fontsize=8)
        ax.legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--timelines", type=int, default=8, help="three-segment timelines (default: 8)")
    ap.add_argument("--first-seed", type=int, default=100, help="seed of the first timeline (default: 100)")
    ap.add_argument("--out", default="benchmarks/timeline.json")
    ap.add_argument("--figure", help="also draw the speed of the first three timelines to this PNG")
    ap.add_argument("--data", help="a `data bandai` folder: hold each join against real takes of its actions")
    args = ap.parse_args()
    model = load_model()
    real = real_changes(args.data) if args.data else None
    rows = []
    for k in range(args.timelines):
        segments = [PROMPTS[(k + i * 3) % len(PROMPTS)] for i in range(3)]
        tl = model.timeline(segments, seed=args.first_seed + k)
        joined, bounds = tl.segments[0].joints, []
        for part in tl.segments[1:]:
            joined, at = crossfade(joined, part.joints)
            bounds += at
        now, before = stitch.speed_jumps(tl.motion.joints, tl.seams), stitch.speed_jumps(joined, bounds)
        if real:  # the two cuts of a transition join the same two segments; a cross-fade has one
            sides = [(segments[n][0], segments[n + 1][0]) for n in range(len(segments) - 1)]
            now["beyond_real"] = float(np.mean(beyond_real(tl.motion.joints, tl.seams, [s for s in sides for _ in (0, 1)], real)))
            before["beyond_real"] = float(np.mean(beyond_real(joined, [(j, j) for j in bounds], sides, real)))
        rows.append({"segments": [s for s, _ in segments], "seed": args.first_seed + k, "now": now, "crossfade": before,
                     "joints": {"now": (tl.motion.joints, tl.seams), "crossfade": (joined, [(j, j) for j in bounds])}})
        print(f"{k}: now {now['join_max']:.3f} (a window inside {now['inside_window_max']:.3f}), "
              f"cross-fade {before['join_max']:.3f} (a window inside {before['inside_window_max']:.3f}) m/s", flush=True)
    walks = list(range(args.first_seed, args.first_seed + 4))
    if args.figure:
        figure(rows[:3], args.figure)
    for row in rows:
        del row["joints"]
    doc = {"what": __doc__.split("\n\n")[1].strip(), "date": datetime.date.today().isoformat(),
           "machine": f"{platform.machine()}, {platform.system()}",
           "command": f"python scripts/bench_timeline.py --timelines {args.timelines} --first-seed {args.first_seed}"
                      + (" --data DATA" if args.data else ""), "real_take_largest_change": real,
           "summary": {"now": summary(rows, "now"), "crossfade": summary(rows, "crossfade")},
           "walk_30s": {"now": long_walks(model, None, walks, real), "crossfade": long_walks(model, crossfade, walks, real)},
           "rows": rows}  # fmt: skip
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc["summary"], indent=1), json.dumps(doc["walk_30s"], indent=1))


if __name__ == "__main__":
    main()
