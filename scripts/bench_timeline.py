"""How visible the joins of long motions are: timelines of several prompts, and one long prompt.

    python scripts/bench_timeline.py [--timelines 8] [--out benchmarks/timeline.json]

For each seam (where two generated pieces meet: a segment and a transition, or two cross-faded
segments), the largest frame-to-frame change of the mean joint speed (m/s) within 3 frames of it,
against the median change everywhere else and the median of the largest change in windows of the
same width away from joins (``omnimogen.model.stitch.speed_jumps``). Compared on the
same generated segments: joined by the model's in-betweening (``OmniMoGen.timeline``, the studio's
timeline) and by placing each segment after the last and cross-fading 5 frames (what the joins were
before). Also a 30 s walk (one prompt, continued window after window). The shipped model, seeded.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
from pathlib import Path

import numpy as np

from omnimogen import load_model
from omnimogen.model.stitch import BLEND_FRAMES, join, place_after, speed_jumps

PROMPTS = [("a person walks forward", 4), ("a person waves with the right hand", 3), ("a person bows", 3),
           ("a person runs a few steps", 3), ("a tired person walks slowly", 4), ("a person raises both hands", 3),
           ("a happy person walks", 4), ("a person turns around", 3)]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--timelines", type=int, default=8, help="three-segment timelines (default: 8)")
    ap.add_argument("--out", default="benchmarks/timeline.json")
    args = ap.parse_args()
    model = load_model()
    rows = []
    for k in range(args.timelines):
        segments = [PROMPTS[(k + i * 3) % len(PROMPTS)] for i in range(3)]
        tl = model.timeline(segments, seed=k)
        joined, bounds = tl.segments[0].joints, []
        for part in tl.segments[1:]:
            bounds.append(len(joined) - 1)
            joined = join(joined, place_after(part.joints, joined), BLEND_FRAMES)
        ours, fade = speed_jumps(tl.motion.joints, tl.seams), speed_jumps(joined, bounds)
        rows.append({"segments": [s for s, _ in segments], "seed": k, "transitions": ours, "crossfade": fade})
        print(f"{k}: transitions {ours['join_max']:.3f} (a window inside {ours['inside_window_max']:.3f}), "
              f"cross-fade {fade['join_max']:.3f} (a window inside {fade['inside_window_max']:.3f}) m/s")
    walk = model.generate("a person walks forward", seconds=30, seed=0).motions[0].joints
    import omnimogen.model.stitch as stitch  # the same walk joined as before: each window placed and cross-faded

    bridged = stitch.bridged
    stitch.bridged = lambda window, a, b, extra: (stitch.join(a, stitch.place_after(b, a), stitch.BLEND_FRAMES), [len(a) - 1])
    try:
        faded = model.generate("a person walks forward", seconds=30, seed=0).motions[0].joints
    finally:
        stitch.bridged = bridged
    faded_seams = list(range(196, len(faded) - 1, 196))
    # a long motion's windows (WINDOW_FRAMES, 197) each add 196 frames; at the end L of the motion so far the
    # in-between replaces 12 frames on either side, so its seams are at L - 13 and L + 12 (stitch.bridged)
    starts = [seam for end in range(197, len(walk), 196) for seam in (end - 13, end + 12)]
    long_walk = speed_jumps(walk, starts)
    doc = {"what": __doc__.split("\n\n")[1].strip(), "date": datetime.date.today().isoformat(),
           "machine": f"{platform.machine()}, {platform.system()}", "command": f"python scripts/bench_timeline.py --timelines {args.timelines}",
           "summary": {m: {"join_max_median": float(np.median([r[m]["join_max"] for r in rows])),
                           "join_max_worst": float(np.max([r[m]["join_max"] for r in rows])),
                           "inside_median": float(np.median([r[m]["inside_median"] for r in rows])),
                           "inside_window_max": float(np.median([r[m]["inside_window_max"] for r in rows]))}
                       for m in ("transitions", "crossfade")},
           "walk_30s": {"in_betweened": long_walk, "crossfade": speed_jumps(faded, faded_seams)}, "rows": rows}  # fmt: skip
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc["summary"], indent=1), doc["walk_30s"])


if __name__ == "__main__":
    main()
