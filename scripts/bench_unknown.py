"""Warnings from the reading alone: how many requests the model does not know are warned of, and how
many it knows are (falsely) warned of. No motion is generated: a text-to-motion request is warned of
exactly when ``understand.interpret`` reads it as unknown (``Reading.known``).

    python scripts/bench_unknown.py --out benchmarks/unknown_reading.json

Sets: the follow suite's text-to-motion and knowledge requests (dev, test: should not be warned of),
its unknown requests, and the prompts files given with ``--prompts`` (their ``unknown`` cases should
be warned of, the others not). The follow suite's unknown cases that name an activity the shipped
model learned from the extra clips (a cartwheel, a crawl) are not warned of, rightly, and count
here as unwarned.
"""

from __future__ import annotations

import argparse
import json
import platform
import warnings
from datetime import date
from pathlib import Path

from omnimogen.evaluation.follow import load_prompts
from omnimogen.model.pipeline import load_model
from omnimogen.model.understand import asks_for_words, interpret


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", nargs="*", default=["benchmarks/follow/t2m_fresh/prompts.json",
                    "benchmarks/follow/unknown_fresh/prompts.json", "benchmarks/follow/unknown_blind/prompts.json"])
    ap.add_argument("--out", default="benchmarks/unknown_reading.json")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    known = load_model().lm.known_captions
    sets = {f"follow {split} {kind}": (None, split, fams) for split in ("dev", "test")
            for kind, fams in (("known", ("t2m", "knowledge")), ("unknown", ("unknown",)))}  # fmt: skip
    sets |= {Path(p).parent.name: (p, "all", ("t2m", "knowledge", "unknown")) for p in args.prompts}
    result = {"date": str(date.today()), "machine": platform.machine(), "sets": {}}
    for name, (path, split, families) in sets.items():
        rows = [(c.family == "unknown", not interpret(c.turns[0].instruction, known).known)
                for c in load_prompts(path, split) if c.family in families and not asks_for_words(c.turns[0].instruction)]  # fmt: skip
        result["sets"][name] = {"unknown_requests": sum(u for u, _ in rows), "warned": sum(u and w for u, w in rows),
                                "known_requests": sum(not u for u, _ in rows),
                                "false_warnings": sum(w and not u for u, w in rows)}  # fmt: skip
        print(name, result["sets"][name])
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
