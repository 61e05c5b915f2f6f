"""Chats with an exact answer, then a follow-up the model answers: is the turn / the speed kept?
Run with the package to measure on the import path (the previous commit or the working tree)."""
import json, sys
import numpy as np
import omnimogen
from omnimogen.model.pipeline import load_model
from omnimogen.motion import checks
m = load_model()
out = {"package": omnimogen.__file__, "turn": [], "speed": []}
for seed in range(8):
    chat = m.chat()
    a = chat("a man walks forward and turns left", seed=seed).motions[0]
    b = chat("now make him look tired", seed=100 + seed).motions[0]
    out["turn"].append({"first": checks.turn_side(a.joints), "after": checks.turn_side(b.joints),
                        "facing_after": checks.facing_along_path(b.joints), "frames": [a.num_frames, b.num_frames]})
    chat = m.chat()
    a = chat("a person walks forward", seconds=4, seed=seed).motions[0]
    f = chat("play it twice as fast", seed=seed).motions[0]
    b = chat("now make it look happy", seed=100 + seed).motions[0]
    out["speed"].append({"frames": [a.num_frames, f.num_frames, b.num_frames],
                         "ratio_after_vs_first": checks.speed_ratio(b.joints, a.joints)})
t = out["turn"]; s = out["speed"]
out["summary"] = {"turn_kept": sum(x["after"] == "left" for x in t), "first_turned": sum(x["first"] == "left" for x in t),
                  "speed_within_25pct_of_2": sum(abs(x["ratio_after_vs_first"] / 2 - 1) <= 0.25 for x in s if x["ratio_after_vs_first"]),
                  "n": len(t)}
print(json.dumps(out["summary"]))
json.dump(out, open(sys.argv[1], "w"), indent=1, default=float)
