"""Experiment: a styled text-to-motion request made in two steps, the action plain, then the style edit
of it (read and pushed as style edits are), against the direct answer. Same seeds; dev half or a file."""
import dataclasses, sys
from omnimogen.model import pipeline as P
from omnimogen.model.understand import spoken_seconds, canonical_caption, canonical_style_edit, interpret, asks_for_words
from omnimogen.instructions.schema import PLACEHOLDER
from omnimogen.evaluation.follow import run_follow

orig = P.OmniMoGen.__call__

def two_step(self, instruction, motions=None, *, history=None, **options):
    if not motions and not history and not PLACEHOLDER.search(instruction) and not asks_for_words(instruction) \
            and options.get("interpret_words", True):
        r = interpret(instruction, self.lm.known_captions)
        if r.known and r.action and r.style != "normal" and r.action not in P.READ_TURNS:
            said = spoken_seconds(instruction)
            timed = {"seconds": said} if said and "seconds" not in options and "frames" not in options else {}
            plain = orig(self, canonical_caption(r.action, "normal"), **{**options, **timed, "interpret_words": False})
            edit_opts = {k: v for k, v in options.items() if k not in ("seconds", "frames")}
            styled = orig(self, canonical_style_edit(r.style), {"SourceMotion": plain.motions[0]}, **edit_opts)
            return dataclasses.replace(styled, reading=r)
    return orig(self, instruction, motions, history=history, **options)

if sys.argv[1] == "two":
    P.OmniMoGen.__call__ = two_step
prompts = sys.argv[3] if len(sys.argv) > 3 else None
run_follow(sys.argv[2], data="data/bandai", prompts=prompts, split="dev" if prompts is None else "test", repeats=4,
           families=("t2m",), progress=False)
