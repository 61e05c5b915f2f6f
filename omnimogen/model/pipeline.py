"""The user-facing model: instructions in, motions (and text) out.

    model = omnimogen.load_model()
    model.generate("a tired person waves goodbye", seconds=4).motions[0].save("wave.bvh")
    model.edit(motion, "make it look happy")
    model("Follow the style of <RefMotion> with the action of <SourceMotion>", {"SourceMotion": a, "RefMotion": b})

Motions are bound to the placeholders their instruction mentions (``<SourceMotion>``) in a mapping of
their own, apart from the options (:class:`Options`); they enter the prompt as motion parts named after
them, in order of first mention, before the text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..device import module_device, resolve_device, resolve_dtype
from ..errors import FormatError, OmnimogenError, check_number
from ..instructions.schema import PLACEHOLDER
from ..instructions.tasks import PATHS
from ..motion import FPS, WINDOW_ROWS, Motion, mirror_joints, resample
from ..motion.checks import (
    action_test,
    locomotion,
    path_length,
    pose_distance,
    raised_hand,
    side_of_path,
    skill_named,
    turn_side,
)
from ..tokenizer import MotionTokenizer, load_tokenizer
from .compose import along_path, splice_whole, turned
from .generate import SamplingOptions, generate
from .stitch import INBETWEEN, POSE_FRAMES, bridged, long_motion, place_after
from .transformer import OmniMoGenLM, load_lm, save_lm
from .understand import (
    KeptParts,
    Reading,
    action_and_style,
    asked_action,
    asked_direction,
    asked_gesture,
    asked_mirror,
    asked_speed,
    asked_style,
    asked_turn,
    asks_for_caption,
    asks_for_words,
    canonical_action_edit,
    canonical_caption,
    canonical_style_edit,
    caption_style,
    changes_length,
    interpret,
    kept_parts,
    motion_and_speed,
    path_and_action,
    read_judgment,
    refers_back,
    spoken_seconds,
    style_of,
    unknown_request_warnings,
)
from .vocab import Message, MotionCodes, TextPart

# The motion's sampling temperature where neither the caller nor the model's config.json ("sampling":
# ``OmniMoGenLM.sampling``) gives one (generate, chat, the studio, bench).
MOTION_TEMPERATURE = 1.0
TEXT_TEMPERATURE = 0.6  # words are sampled cooler than motions: scripts/bench_describe.py measures why
MAX_SECONDS = 60.0  # longer requests are refused; beyond the training length motions are continued
WINDOW_FRAMES = WINDOW_ROWS + 1  # the longest motion of the training data (9.8 s)
# A text-to-motion answer whose length the model decides is at least this long (2 s: HumanML3D keeps no
# shorter motion; the model, which also learned 0.4 s crops, once answered "a light jog" in 0.65 s).
SHORTEST_FRAMES = 40
# A walk whose length the model decides is at least 4 s: it answered a quarter of "A person walks
# forward." with 2-2.5 s, three steps and a stop, which the evaluator reads as another action (Bandai's
# walks last 6.1 s or more in 95 of 100 train clips, its diagonal and turning walks 3.4 and 3.6 s).
SHORTEST_WALK_FRAMES = 80
MAX_ROUNDS = 5  # self-reflection rounds (the paper measures 1 to 5)
MAX_SAMPLES = 64  # answers to one request on the command line; more is a loop in a script
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "assets" / "model"


class InstructionError(OmnimogenError, ValueError):
    """An instruction that cannot be carried out as given (missing motion, bad duration, ...)."""


class GenerationError(OmnimogenError, RuntimeError):
    """The model did not produce a valid answer within its retries."""


# What a guided answer is contrasted with (``Options.guidance``): a request for any motion at all, asked
# alone, without the conversation, the bound motions or the words (tried on the follow dev half:
# keeping the turn's motions did no better).
UNCONDITIONAL = "A person moves."
# Read text-to-motion actions that are a straight walk turned (``OmniMoGen._walk_that_turns``): degrees
# (positive: left) and where, as the corpus's clips do (Bandai's turning walks turn about 90 degrees;
# its diagonal walks angle off 15-60 degrees from the start).
READ_TURNS = {"walk-turn-left": (90.0, 0.5), "walk-turn-right": (-90.0, 0.5),
              "walk-left": (35.0, 0.05), "walk-right": (-35.0, 0.05)}  # fmt: skip
WALK_TRIES = 3  # walks asked for one that goes straight ahead (on the follow dev half, 1 in 5 does not)
# An edit that asks for a style and nothing else ("make <SourceMotion> look like he just got dumped":
# understand.asked_style) is asked in the training's words and its codes pushed this much away from
# the same edit asked for a normal style: on 32 held-out style edits (4 answers each) the evaluator
# read the asked style in 22% asked in the user's words, 40% asked in the training's, 50% with this
# push (42% at 0.5, 46% at 2, where the action fell back).
EDIT_STYLE_GUIDANCE = 1.0
# A style edit keeps the action: this many answers are sampled at once (one batch) and the one whose poses
# are nearest the source's is kept (checks.pose_distance). On the blind style_blind2 set (32 edits, 4
# times each; scripts/bench_edit_candidates.py) the evaluator read the source's action in 77% of single
# answers and 86% of the nearest of 8 (gestures and strikes in place: 58 -> 73%), the asked style in 38%
# and 35%: the action is kept more often, the style shown about as often.
STYLE_EDIT_CANDIDATES = 8
# A text-to-motion request or an edit into another action, where the joints can check the action
# (checks.action_test: a bow leans forward, a raised or waving hand is the asked one, a cartwheel turns
# over) and the answer does not show it, is sampled again, this many at once, and the first that shows
# it is kept (else the first answer). On the blind t2m_gestures_blind set (44 requests, 4 answers each),
# the evaluator read a bow in 40% of single answers and 79% of those kept so.
SHOWN_CANDIDATES = 8
MAX_CANDIDATES = 16
# A motion that travels slower than this (root path, m/s) walks: Bandai's walks go 0.5-1.9 m/s (median
# 1.3), its runs 1.2-3.7 (a tenth under 1.9) and its dashes 2.5-4.4.
WALKING_SPEED = 1.8


@dataclass(frozen=True)
class Options:
    """How one request is carried out; checked when made. Motions are never options: they are passed by
    placeholder name in a mapping of their own."""

    seconds: float | None = None  # exact duration (or ``frames`` at 20 fps); None: the words or the model decide
    frames: int | None = None
    seed: int | None = None
    think: bool = False  # self-reflection: judge the motion in words, regenerate when it falls short
    rounds: int = 3
    temperature: float = MOTION_TEMPERATURE  # the motion's
    text_temperature: float | None = TEXT_TEMPERATURE  # the words' (None: ``temperature``)
    top_k: int | None = None
    top_p: float | None = 0.95
    guidance: float = 1.0  # classifier-free guidance of the motion codes (generate.py); 1: none
    # With guidance, a read style also pushed against the same request without it; None: 0 for text to
    # motion, EDIT_STYLE_GUIDANCE for an edit that asks for a style and nothing else.
    style_guidance: float | None = None
    motion_only: bool = False  # the answer is exactly one motion, no words
    words_only: bool = False  # the answer is words, no motion (describe, questions in a chat)
    interpret_words: bool = True  # a text-to-motion request is read as the nearest known action (understand.py)
    # Parts of the given motions the words ask for exactly are copied, not generated: the body parts an
    # edit keeps (understand.kept_parts), one motion's path with another's gesture or manner (compose).
    keep_parts: bool = True
    # Answers sampled at once to an edit that keeps the source's action (a style edit), the nearest kept
    # (None: STYLE_EDIT_CANDIDATES), and to a text-to-motion request whose first answer does not show the
    # action the joints can check, the first that shows it kept (None: SHOWN_CANDIDATES); 1: one answer.
    candidates: int | None = None

    def __post_init__(self):
        self.sampling()  # checks the sampling settings
        if self.seed is not None:
            check_number("seed", self.seed, 0, 2**63 - 1, integer=True)
        check_number("rounds", self.rounds, 1, MAX_ROUNDS, integer=True)
        if self.seconds is not None and self.frames is not None:
            raise InstructionError("give the duration in seconds or in frames, not both.")
        if self.seconds is not None:
            check_number("seconds", self.seconds, 0, MAX_SECONDS, above=True)
        if self.frames is not None:
            check_number("frames", self.frames, integer=True)
        if self.candidates is not None:
            check_number("candidates", self.candidates, 1, MAX_CANDIDATES, integer=True)

    def sampling(self, **overrides) -> SamplingOptions:
        settings = {"temperature": self.temperature, "text_temperature": self.text_temperature, "top_k": self.top_k,
                    "top_p": self.top_p, "guidance": self.guidance, "style_guidance": self.style_guidance or 0.0,
                    "motion_only": self.motion_only,
                    "words_only": self.words_only}  # fmt: skip
        return SamplingOptions(**{**settings, **overrides})


OPTIONS = tuple(f.name for f in dataclasses.fields(Options))


@dataclass(frozen=True)
class Result:
    text: str  # what the assistant wrote, motions shown as their placeholders
    motions: list[Motion]
    reasoning: str | None = None  # think=True: the judgments and plans written on the way
    tokens: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # the answer's ids
    parts: tuple = field(default=(), repr=False)  # the answer as parsed (text and codes), for follow-ups
    # think=True: the answer's motions after each round, the first attempt's first (the last is ``motions``)
    attempts: tuple = field(default=(), repr=False)
    warnings: list[str] = field(default_factory=list)  # e.g. a request the model does not know (see understand.py)
    reading: Reading | None = None  # how a text-to-motion request or a style edit was read (interpret_words=True)
    kept: KeptParts | None = None  # body parts taken from the edited motion as the words asked (keep_parts=True)
    composed: str | None = None  # the answer made from the given motions' parts, not generated (keep_parts=True)
    prompt: Message | None = field(default=None, repr=False)  # the user turn as the model was asked it


TRANSITION_SECONDS = 0.4  # added at each join of a timeline, between the two segments' 0.6 s ends


@dataclass(frozen=True)
class Timeline:
    motion: Motion  # every segment and transition, one motion
    starts: list[int]  # frame where each segment's part begins (a transition's middle for all but the first)
    segments: list[Motion]  # each segment as generated on its own
    seams: list[tuple[int, int]]  # (first, last) frame that each join changed (stitch.bridged)


class OmniMoGen:
    """A trained model and its motion tokenizer."""

    def __init__(self, lm: OmniMoGenLM, tokenizer: MotionTokenizer):
        if (tokenizer.config.num_levels, tokenizer.config.codebook_size) != (lm.vocab.levels, lm.vocab.codebook_size):
            raise FormatError(
                f"the model was trained on a tokenizer with {lm.vocab.levels} x {lm.vocab.codebook_size} codes; "
                f"this one has {tokenizer.config.num_levels} x {tokenizer.config.codebook_size}."
            )
        self.lm, self.tokenizer = lm.eval(), tokenizer.eval()

    # ---- files ---------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, directory: str | Path, device=None, dtype=None) -> OmniMoGen:
        """A saved model: its own ``tokenizer/`` folder, or, when it has none, the shipped tokenizer
        (the shipped model uses it and does not carry a copy). Either way the tokenizer must be the
        one the model was trained on. ``device`` and ``dtype`` as in :meth:`to`."""
        directory = Path(directory)
        if not directory.is_dir():
            raise FormatError(f"{directory}: model directory does not exist.")
        lm = load_lm(directory)
        own = directory / "tokenizer"
        tokenizer = load_tokenizer(own if own.is_dir() else None)
        trained_on = getattr(lm, "tokenizer_fingerprint", None)
        if trained_on is not None and trained_on != tokenizer.fingerprint():
            where = own if own.is_dir() else "the shipped tokenizer"
            raise FormatError(
                f"{directory}: the model was trained on tokenizer {trained_on}, but {where} is "
                f"{tokenizer.fingerprint()}; its codes would mean other motions. Use the tokenizer it was trained with."
            )
        return cls(lm, tokenizer).to(device, dtype)

    def to(self, device=None, dtype=None) -> OmniMoGen:
        """Move the model to ``device`` ("auto"/None: CUDA when there is one, "cpu", "cuda", "cuda:N")
        with the language model's weights in ``dtype`` (None: float32; "bfloat16" halves the memory on
        a GPU). The tokenizer stays in float32: its codebooks decide which code a motion gets."""
        where = resolve_device(device)
        self.lm.to(device=where, dtype=resolve_dtype(dtype))
        self.tokenizer.to(where)
        return self

    @property
    def device(self):
        return module_device(self.lm)

    def save_pretrained(self, directory: str | Path, tokenizer: bool = True, half: bool = False) -> None:
        """The model, and (unless ``tokenizer=False``: it is the shipped one) its tokenizer in
        ``tokenizer/``; ``half`` stores the model's weights in float16 (half the size)."""
        save_lm(self.lm, directory, self.tokenizer.fingerprint(), half=half)
        if tokenizer:
            self.tokenizer.save_pretrained(Path(directory) / "tokenizer")

    # ---- the calls -----------------------------------------------------------------------------

    def __call__(self, instruction: str, motions: Mapping[str, Motion] | None = None, *,
                 history: list[Message] | None = None, **options) -> Result:  # fmt: skip
        """Carry out an instruction; ``motions`` binds its placeholders by name ({"SourceMotion": m}).

        ``options`` are the fields of :class:`Options` (``seconds``, ``seed``, ``temperature``, ...);
        ``history`` the earlier turns of a conversation (:class:`ChatSession` keeps them).
        ``interpret_words``: a text-to-motion request (no motions, no history, not a question) is read
        as the nearest known action and the style it names, and the model is asked that in its
        training captions' words (``Result.reading``); an unknown request keeps its words and gets a
        warning. False asks the model the words as given.
        """
        check_instruction(instruction)
        opts = _options(options, self.lm.sampling)
        motions = _motions(motions)
        if history is not None and not (isinstance(history, list) and all(isinstance(m, Message) for m in history)):
            raise InstructionError("history must be a list of Message turns, as a ChatSession keeps them.")
        roles = action_and_style(instruction) if opts.interpret_words and not history and len(motions) == 2 else None
        if roles is not None:
            return self._style_transferred(instruction, motions, roles, opts.seed, options)
        frames = opts.frames
        if opts.seconds is None and frames is None:
            frames = self.implied_frames(instruction, motions)
        n = self._frames(opts.seconds, frames)
        gen = torch.Generator().manual_seed(opts.seed) if opts.seed is not None else None
        reading = None
        if opts.interpret_words and not motions and not history and not PLACEHOLDER.search(instruction) \
                and not asks_for_words(instruction):
            reading = interpret(instruction, self.lm.known_captions)
        asked = reading.caption if reading is not None and reading.known else instruction
        edit = opts.interpret_words and list(motions) == ["SourceMotion"] and not history
        action = self.asked_action(instruction, motions["SourceMotion"]) if edit else None
        style = asked_style(instruction) if edit and action is None else None
        if style is not None:  # asked in the training's words, guided away from the same edit to normal
            asked = canonical_style_edit(style)
            reading = Reading("", style, instruction, 1.0, True, asked, task="edit/style")
            if opts.style_guidance is None:
                opts = dataclasses.replace(opts, style_guidance=EDIT_STYLE_GUIDANCE)
        elif action is not None:  # another action, asked in the training's words
            asked = canonical_action_edit(action)
            reading = Reading(action, "normal", instruction, 1.0, True, asked, task="edit/action")
        prompt = self._user_turn(asked, motions)
        # A style edit's plain form (the same motion's codes), which its guided codes are pushed away from.
        restyled = None if style is None else Message("user", (*prompt.parts[:-1], TextPart(canonical_style_edit("normal"))))
        composed = None
        if opts.keep_parts and not opts.words_only and reading is not None and reading.known and reading.task == "t2m":
            composed = self._walk_that_turns(instruction, reading, n, opts)
        elif opts.keep_parts and not opts.words_only and opts.seconds is None and opts.frames is None:
            composed = (self.edited_exactly(instruction, motions["SourceMotion"])
                        or self._gesture_spliced(instruction, motions["SourceMotion"], opts)
                        if list(motions) == ["SourceMotion"]
                        else self._at_speed_of(instruction, motions) or self.compose(instruction, motions)
                        if len(motions) == 2 else None)  # fmt: skip
        if composed is not None:  # (motion, how) or (motion, how, the body parts kept)
            return self._composed(composed[0], composed[1], prompt, reading, *composed[2:])
        if n is not None and n > WINDOW_FRAMES:
            joints = long_motion(lambda text, k, bound: self._window(text, k, gen, opts, bound), asked, motions, n,
                                 WINDOW_FRAMES, 2 * self.tokenizer.config.downsample + 1)  # fmt: skip
            result = Result("<Motion>", [Motion.from_joints(joints, caption=asked)])
        else:
            sized = n is not None or motions or history  # else the model decides: not under 2 s (a walk: 4 s)
            walks = reading is not None and reading.known and reading.action.startswith("walk")
            shortest = SHORTEST_WALK_FRAMES if walks else SHORTEST_FRAMES
            opt = opts.sampling(motion_steps=self.latent_steps(n),
                                **({} if sized else {"min_motion_steps": self.latent_steps(shortest)}))
            messages = [*(history or []), prompt]
            styled = reading is not None and reading.known and reading.task == "t2m" and reading.action \
                and reading.style != "normal"  # fmt: skip
            unstyled = canonical_caption(reading.action, "normal") if styled and opt.style_guidance else None
            plain = Message("user", (TextPart(unstyled),)) if unstyled else restyled
            guide = plain if opt.style_guidance else None
            near = motions["SourceMotion"].resample(FPS).joints if style is not None else None
            result = self._answer(messages, opt, gen, frames=n, unstyled=guide,
                                  pick=None if near is None else lambda j: pose_distance(j, near),
                                  candidates=(opts.candidates or STYLE_EDIT_CANDIDATES) if near is not None else 1)  # fmt: skip
            read = reading is not None and reading.known and reading.task in ("t2m", "edit/action")
            shown = action_test(reading.action or skill_named(reading.caption) or "") if read else None
            many = opts.candidates or SHOWN_CANDIDATES
            if shown is not None and many > 1 and result.motions and not shown(result.motions[-1].joints):
                again = self._answer(messages, opt, gen, frames=n, unstyled=guide, candidates=many,
                                     pick=lambda j: 0.0 if shown(j) else 1.0)  # fmt: skip
                if again.motions and shown(again.motions[-1].joints):
                    result = again
                else:  # said, not silent: the joints show that this answer misses what was asked
                    result = dataclasses.replace(result, warnings=[*result.warnings, (
                        f"none of {many + 1} answers shows what {reading.caption!r} asks, as the joints tell "
                        f"(checks.action_test); this one may not either.")])  # fmt: skip
            if opts.think:  # a judgment's complaints about a style the words never asked for are not taken
                style = reading.style if reading is not None else style_of(instruction)
                unasked = ("style",) if style == "normal" else ()
                result = self._reflect(messages, result, opt, gen, opts.rounds, n, unasked)
        warnings = unknown_request_warnings(reading, instruction) if reading is not None else []
        if opts.keep_parts and list(motions) == ["SourceMotion"] and action is None:  # an edit (a continuation's <Motion> is not)
            result = self.keep_parts(result, instruction, motions["SourceMotion"])
        return dataclasses.replace(result, prompt=prompt, reading=reading, warnings=[*result.warnings, *warnings])

    def compose(self, instruction: str, motions: dict[str, Motion]) -> tuple[Motion, str] | None:
        """The path of one motion with what the other does, made from the two when the words ask for
        that ("take the route walked in <RefMotion> and let the wave from <SourceMotion> happen along
        the way", "the moping manner of <SourceMotion> along the route of <RefMotion>":
        ``understand.path_and_action``) and the joints allow it (``compose.py``): a hand raised in place
        is spliced onto the route's legs, path and torso, as the training's examples of this task were
        made; a motion that travels itself is bent onto the route's path. The model was trained on
        such examples and follows the path in 22% of the follow suite's answers. None otherwise: the
        model answers."""
        roles = path_and_action(instruction)
        if roles is None:
            return None
        path, other = (motions[name].resample(FPS) for name in roles)
        if locomotion(path.joints) == "in_place":
            return None
        if locomotion(other.joints) != "in_place":  # a walk of its own: its manner along the route
            bent = along_path(other, path)
            return None if bent is None else (bent, f"<{roles[1]}> walked along the path of <{roles[0]}>")
        hand = raised_hand(other.joints)
        if hand == "none":
            return None
        arms = ("left_arm", "right_arm") if hand == "both" else (f"{hand}_arm",)
        motion = splice_whole(path, other, arms)
        return motion, f"the path, legs and torso of <{roles[0]}> with the {', '.join(arms)} of <{roles[1]}>"

    def asked_action(self, instruction: str, source: Motion) -> str | None:
        """The action an edit of ``source`` asks for instead of its own (``understand.asked_action``),
        asked as the training's action edits are worded ("Change the action in <SourceMotion>: the person
        should run forward instead."). With the target named in those words, the model made the asked
        action in 69% of the answers to 32 action edits by a separate writer, asked in the writer's
        words 45% (4 answers each), and kept the length in all. A hand gesture whose words name no hand
        is made with the hand ``source`` raises ("now have her wave it"). Another walk (backward,
        turning) asked of a walk is a trajectory edit, which the training words otherwise: None, the
        model answers the words as given, as for any edit it does not read."""
        action = asked_action(instruction, raised_hand(source.joints))
        if action in PATHS and locomotion(source.joints) != "in_place" \
                and path_length(source.joints) < WALKING_SPEED * source.duration:  # fmt: skip
            return None  # the source walks
        return action

    def _style_transferred(self, instruction: str, motions: dict[str, Motion], roles: tuple[str, str],
                           seed: int | None, options: dict) -> Result:  # fmt: skip
        """What one motion does in the manner of the other (``understand.action_and_style``: ``roles`` is
        (action's placeholder, style's)): the style the model names in its own caption of the style's
        motion, asked as the style edit of the action's motion (a style-only edit, pushed as those are).
        Asked as worded, the model copies the style's motion instead: on 32 such requests by a separate
        writer (4 answers each), the asked action came out in 44% of the answers and the style in 24%;
        asked in the training's words ("Perform the action of <SourceMotion> in the style of
        <RefMotion>."), in none of 40 answers to the follow suite's 10. Its
        captions name Dataset-2's styles (elderly, exhausted, ...) but seldom Dataset-1's (sad, proud,
        ...); where they name none, the action's motion is given back as it is, with a warning (asked to
        look normal, the model made a backward walk stand still)."""
        acting, styling = roles
        described = self.describe(motions[styling], seed=seed).text
        style = caption_style(described)
        # No style read: the action's motion as it is, unless a length or the model's own parts are asked for.
        copied = style == "normal" and options.get("keep_parts", True) and options.get("seconds") is None \
            and options.get("frames") is None  # fmt: skip
        said = f"<{acting}> as it is" if copied else canonical_style_edit(style).replace("<SourceMotion>", f"<{acting}>")
        reading = Reading("", style, described, 1.0, True, said, task="incontext/style")
        warnings = [] if style != "normal" else [
            f"the model names no style in <{styling}> (its caption: {described!r}), so <{acting}> is "
            f"{'given back as it is' if copied else 'asked to look normal'}; name the style in words to ask for it "
            f"(\"make <{acting}> look proud\")."]  # fmt: skip
        if copied:
            result = self._composed(motions[acting], said, self._user_turn(instruction, motions), reading)
        else:
            result = self(canonical_style_edit(style), {"SourceMotion": motions[acting]}, **options)
        return dataclasses.replace(result, reading=reading, warnings=[*result.warnings, *warnings])

    def _composed(self, motion: Motion, how: str, prompt: Message, reading: Reading | None = None,
                  kept: KeptParts | None = None) -> Result:  # fmt: skip
        """The answer ``motion`` made (as ``how`` says) from given motions rather than generated; its codes
        are what a follow-up turn edits."""
        return Result("<Motion>", [motion], parts=(MotionCodes(self.tokenizer.encode(motion)),), composed=how,
                      prompt=prompt, reading=reading, kept=kept)  # fmt: skip

    def edited_exactly(self, instruction: str, motion: Motion, name: str = "<SourceMotion>") -> tuple[Motion, str] | None:
        """An edit of ``motion`` that the words ask for exactly and that is made without the model (with
        how it was made, naming the motion ``name``): another speed and nothing else, played so
        (:meth:`_played`), a turn of a straight walk, bent so (:meth:`_turned`), its mirror image
        (:meth:`_mirrored`) or a walk the other way (:meth:`_reversed`); else None."""
        return (self._played(instruction, motion, name) or self._turned(instruction, motion, name)
                or self._mirrored(instruction, motion, name) or self._reversed(instruction, motion, name))

    def _mirrored(self, instruction: str, motion: Motion, name: str) -> tuple[Motion, str] | None:
        """A motion that shows a side (a raised hand, a turn, a path off to one side) mirrored left to
        right, when the words ask for its mirror image or its other side and nothing else ("mirror the
        turn so it goes toward the left", "same wave with the other hand": ``understand.asked_mirror``),
        as a mirrored animation is made in any animation package. Where the words name a side ("so it
        goes toward the left"), the motion must show the other one; "mirror it" mirrors any motion."""
        side = asked_mirror(instruction)
        if side is None:
            return None
        joints = motion.resample(FPS).joints
        shown = next((s for s in (raised_hand(joints), turn_side(joints), side_of_path(joints)) if s in ("left", "right")), None)
        if side and shown in (None, side):
            return None
        mirrored = place_after(mirror_joints(joints), joints[:1])  # where and as the source starts
        return Motion.from_joints(mirrored, FPS, name=motion.name), f"{name} mirrored left to right"

    def _reversed(self, instruction: str, motion: Motion, name: str) -> tuple[Motion, str] | None:
        """A walk asked to go the other way along its path and nothing else ("have them back up instead",
        "forwards, the way they face": ``understand.asked_direction``), played backward in time: human
        backward walking is close to forward walking reversed in time (Grasso et al. 1998, J.
        Neurophysiol. 80), so the steps and the length stay, and it starts where the walk starts, facing
        as it does. None for a motion that does not travel, or that already goes the asked way."""
        way = asked_direction(instruction)
        if way is None:
            return None
        joints = motion.resample(FPS).joints
        going = locomotion(joints)
        if going == "in_place" or going == way:
            return None
        back = place_after(joints[::-1], joints[:1])  # from where the walk starts, facing as it does
        return Motion.from_joints(back, FPS, name=motion.name), f"{name} played backward in time: walking {way}"

    def _played(self, instruction: str, motion: Motion, name: str) -> tuple[Motion, str] | None:
        """An edit that asks for another speed and nothing else ("play it at 1.5x", "it drags, hurry it
        up": ``understand.asked_speed``): the motion played that much faster or slower, by time
        resampling, as the training's speed edits were made. The model's own were within 25% of the
        asked ratio in 64% of the follow suite's test answers."""
        ratio = asked_speed(instruction)
        return None if ratio is None else self._played_at(motion, ratio, f"{name} played {ratio:.3g} times as fast")

    def _played_at(self, motion: Motion, ratio: float, how: str) -> tuple[Motion, str] | None:
        """``motion`` played ``ratio`` times as fast (time resampling), unless that is too short or long."""
        joints = resample(motion.resample(FPS).joints, FPS * ratio, FPS)
        if not 2 * self.tokenizer.config.downsample < len(joints) <= MAX_SECONDS * FPS + 1:
            return None
        return Motion.from_joints(joints, FPS, name=motion.name), how

    def _at_speed_of(self, instruction: str, motions: dict[str, Motion]) -> tuple[Motion, str] | None:
        """One walk at another's pace, when the words ask for that and nothing else ("<SourceMotion>
        should go exactly as fast as the runner in <RefMotion>": ``understand.motion_and_speed``): the
        kept motion played as many times as fast as the other travels faster (root path per second),
        as speed edits are played. Both must travel: a gesture's timing is not its joints' speed (a
        normal wave and an active one move their joints at 0.07 and 0.29 m/s, with 1.6 and 2.0 waves a
        second), so it is left to the model. The model was never trained on this task; its answers
        matched the speed in 2 of 8 of the follow suite's test answers."""
        roles = motion_and_speed(instruction)
        if roles is None:
            return None
        kept, giver = (motions[n].resample(FPS) for n in roles)
        if "in_place" in (locomotion(kept.joints), locomotion(giver.joints)):
            return None
        pace = [path_length(m.joints) / max(m.num_frames - 1, 1) for m in (kept, giver)]
        ratio = pace[1] / max(pace[0], 1e-9)
        if not 0.1 <= ratio <= 10:
            return None
        return self._played_at(kept, ratio, f"<{roles[0]}> played {ratio:.3g} times as fast: the pace of <{roles[1]}>")

    def _gesture_spliced(self, instruction: str, source: Motion, opts: Options) -> tuple[Motion, str, KeptParts] | None:
        """An edit that keeps the legs and asks the arms it changes for a wave or a raised hand ("legs
        stay, right hand waves": ``understand.asked_gesture``): the model asked for that gesture as text
        to motion, in its training captions' words and as long as the source, and its changed parts
        spliced onto the source's (``splice_whole``, as the training's body-part edits were made). The
        model's own edits held a hand up where a wave was asked, or waved where a held hand was, in
        about half the answers. None otherwise (the model edits)."""
        parts = kept_parts(instruction)
        action = None if parts is None else asked_gesture(instruction, parts)
        if action is None:
            return None
        source = source.resample(FPS)
        words = canonical_caption(action, style_of(instruction))
        ask = dataclasses.replace(opts, seconds=None, frames=source.num_frames, interpret_words=False,
                                  keep_parts=False, motion_only=True, think=False)  # fmt: skip
        gesture = self(words, **dataclasses.asdict(ask)).motions[0]
        how = f"the {', '.join(parts.kept)} of <SourceMotion> with the {', '.join(parts.changed)} of a motion made as {words!r}"
        return splice_whole(source, gesture, parts.changed), how, parts

    def _turned(self, instruction: str, walk: Motion, name: str) -> tuple[Motion, str] | None:
        """A walk edited to turn ("swing 90 degrees to the left partway", "head off on a diagonal toward
        the left": ``understand.asked_turn``), bent onto a course that turns so (:meth:`_bent_walk`).
        Only where the words ask for nothing else (no style, speed, kept body part or other action).
        The model turned 12% of the follow suite's test edits that ask for one."""
        turn = asked_turn(instruction)
        if turn is None or changes_length(instruction) or style_of(instruction) != "normal" \
                or kept_parts(instruction) is not None:  # fmt: skip
            return None
        return self._bent_walk(walk, *turn, name)

    def _walk_that_turns(self, instruction: str, reading: Reading, frames: int | None,
                         opts: Options) -> tuple[Motion, str] | None:  # fmt: skip
        """Text to motion of a walk that turns or angles off ("she cuts left at the corner"): the model
        walks straight ahead in the read style, and the walk is bent onto a course that turns as the
        words say (``understand.asked_turn``; where they name no turn of their own, as the read
        action's clips do: READ_TURNS). The model's own turns slide sideways (its answers face along their path in
        40% of the follow suite's test turns); a bent walk faces along it. None (the model answers)
        when the reading is no such walk or the model's walk does not go straight ahead."""
        said = asked_turn(instruction)  # the words' own turn, degrees and timing: they win where they name one
        if reading.action in READ_TURNS:
            degrees, where = READ_TURNS[reading.action]
            if said is not None and (said[0] > 0) == (degrees > 0):
                degrees, where = said
        elif reading.action == "walk" and said is not None:  # "strolls ahead, then wheels around to the right"
            degrees, where = said
        else:
            return None
        walk_words = canonical_caption("walk", reading.style)
        for attempt in range(WALK_TRIES):  # a walk that drifts, wanders or stops short: asked again, the next seed
            seed = None if opts.seed is None else opts.seed + attempt
            ask = dataclasses.replace(opts, seconds=None, frames=frames, seed=seed, interpret_words=False,
                                      keep_parts=False, motion_only=True, think=False)  # fmt: skip
            walk = self(walk_words, **dataclasses.asdict(ask)).motions[0]
            if frames is None and walk.num_frames < SHORTEST_WALK_FRAMES:  # three steps and a stop: asked again
                continue
            bent = self._bent_walk(walk, degrees, where, f"a walk made as {walk_words!r}")
            if bent is not None:
                return bent
        return None

    def _bent_walk(self, walk: Motion, degrees: float, where: float, what: str) -> tuple[Motion, str] | None:
        """``walk`` bent onto a course turning ``degrees`` (positive: left) at ``where`` of the way
        (``compose.turned``): its steps, manner and length stay its own, so its feet do not glide. None
        unless it walks straight ahead (a turn asked of a walk that already turns or angles off would
        replace that turn, not add to it: the model's)."""
        walk = walk.resample(FPS)
        joints = walk.joints
        if locomotion(joints) != "forward" or turn_side(joints) != "none" or side_of_path(joints) != "straight":
            return None
        bent = turned(walk, degrees, where)
        side = "left" if degrees > 0 else "right"
        return None if bent is None else (bent, f"{what} walked along a course turning {abs(degrees):g} "
                                                f"degrees to the {side} at {where:.0%} of the way")  # fmt: skip

    def keep_parts(self, result: Result, instruction: str, edited: Motion) -> Result:
        """``result`` with the body parts the words keep ("keep the legs of <SourceMotion> and wave the
        right hand") taken from ``edited`` and the parts they change from the model's answer, by rotation
        (``instructions.recipes.splice``, as the training's body-part edits were made); the path goes
        with the legs. The model alone cannot copy half a body: its kept parts drift by tens of
        centimetres. An answer of another length than ``edited`` is left as it is, with a warning."""
        parts = kept_parts(instruction)
        if parts is None or len(result.motions) != 1:
            return result
        answer, edited = result.motions[0], edited.resample(FPS)
        if answer.num_frames != edited.num_frames:
            return dataclasses.replace(result, warnings=[*result.warnings, (
                f"the words keep the {', '.join(parts.kept)} of the motion, but the answer has another length "
                f"({answer.num_frames} frames, not {edited.num_frames}), so they are the model's own.")])
        motion = splice_whole(edited, answer, parts.changed)
        motion = Motion.from_joints(motion.joints, FPS, caption=answer.caption, name=answer.name)
        codes = MotionCodes(self.tokenizer.encode(motion))  # what a follow-up turn edits
        swapped = tuple(codes if isinstance(p, MotionCodes) else p for p in result.parts)
        return dataclasses.replace(result, motions=[motion], parts=swapped, kept=parts)

    def generate(self, text: str, **kwargs) -> Result:
        """Text to motion: the answer is one motion (``motion_only=False`` lets the model write words too)."""
        kwargs.setdefault("motion_only", True)
        return self(text, **kwargs)

    def edit(self, motion: Motion, instruction: str, **kwargs) -> Result:
        """Edit ``motion`` as the instruction says; it is bound to ``<SourceMotion>``. The answer is one motion."""
        if isinstance(instruction, str) and instruction.strip() and not PLACEHOLDER.search(instruction):
            instruction = f"Edit <SourceMotion>: {instruction.strip()}"
        kwargs.setdefault("motion_only", True)
        return self(instruction, {"SourceMotion": motion}, **kwargs)

    def inbetween(self, start: Motion, end: Motion, text: str | None = None, **kwargs) -> Result:
        """A motion from the pose(s) of ``start`` to those of ``end`` (optionally doing ``text``).

        As in training, the start is the last 0.6 s of ``start`` and the end the first 0.6 s of
        ``end`` (shorter motions are used whole); the answer is the whole motion between them.
        """
        what = f" while {text.strip().rstrip('.')}" if text else ""
        instruction = INBETWEEN[:-1] + what + "."
        k = POSE_FRAMES
        first = Motion.from_joints(start.joints[-k:], start.fps) if start.num_frames > k else start
        last = Motion.from_joints(end.joints[:k], end.fps) if end.num_frames > k else end
        kwargs.setdefault("motion_only", True)
        return self(instruction, {"StartPose": first, "EndPose": last}, **kwargs)

    def timeline(self, segments: list[tuple[str, float]], *, seed: int | None = None, seeds: list[int | None] | None = None,
                 transition: float = TRANSITION_SECONDS, **kwargs) -> Timeline:  # fmt: skip
        """Several prompts in a row, each for its seconds, as one motion. Each segment is made from its
        words (segment k with ``seeds[k]``, else ``seed + k``), and the model in-betweens every join
        (:func:`~omnimogen.model.stitch.bridged`): the last 0.6 s of one segment and the first 0.6 s of
        the next are replaced by a transition of those 1.2 s plus ``transition`` seconds. Regenerating
        one segment is the same call with another seed for it."""
        if not segments:
            raise InstructionError("a timeline needs at least one segment (text, seconds).")
        if seeds is not None and len(seeds) != len(segments):
            raise InstructionError(f"{len(seeds)} seeds for {len(segments)} segments.")
        seeds = seeds or [None if seed is None else seed + k for k in range(len(segments))]
        parts = [self.generate(text, seconds=sec, seed=s, **kwargs).motions[0]
                 for (text, sec), s in zip(segments, seeds, strict=True)]  # fmt: skip
        opts = _options({k: v for k, v in kwargs.items() if k != "motion_only"}, self.lm.sampling)
        joints, starts, seams = parts[0].joints, [0], []
        for n, nxt in enumerate(parts[1:], start=1):  # the bridge into segment n has a seed of its own
            gen = torch.Generator().manual_seed(seeds[n] + 10_000) if seeds[n] is not None else None
            joints, at = bridged(lambda text, k, bound, gen=gen: self._window(text, k, gen, opts, bound), joints,
                                 nxt.joints, int(round(transition * FPS)))  # fmt: skip
            starts.append((at[0][1] + at[-1][0]) // 2)
            seams += at
        return Timeline(Motion.from_joints(joints, caption=" / ".join(t for t, _ in segments)), starts, parts, seams)

    def describe(self, motion: Motion, **kwargs) -> Result:
        """Motion to text; the answer is words only, so ``temperature`` sets theirs."""
        if "temperature" in kwargs:
            kwargs.setdefault("text_temperature", kwargs["temperature"])
        kwargs.setdefault("words_only", True)  # a caption, never a motion (the model wrote one in 1 of 20 once)
        return self("Write a caption for <Motion>.", {"Motion": motion}, **kwargs)

    def chat(self) -> ChatSession:
        return ChatSession(self)

    # ---- internals -----------------------------------------------------------------------------

    def _frames(self, seconds: float | None, frames: int | None) -> int | None:
        """The frames asked (checked against what the model can make), from seconds or frames."""
        if seconds is not None:
            frames = int(round(seconds * FPS)) + 1
        if frames is not None and not 2 * self.tokenizer.config.downsample < frames <= MAX_SECONDS * FPS + 1:
            raise InstructionError(
                f"frames must be between {2 * self.tokenizer.config.downsample + 1} and {int(MAX_SECONDS * FPS) + 1}, got {frames}."
            )
        return frames

    def implied_frames(self, instruction: str, motions: dict[str, Motion]) -> int | None:
        """The length the words imply when no duration is given: a duration they name ("a 5 second
        clip"), else the length of the motion being edited (bound as ``<SourceMotion>``, the only motion)
        unless they ask for another speed or length. (A conversation's follow-ups keep the last answer's: ChatSession.)"""
        said = spoken_seconds(instruction)
        if said is not None:  # within the lengths a call may ask for: the words are not checked like an argument
            return max(int(round(min(said, MAX_SECONDS) * FPS)) + 1, 2 * self.tokenizer.config.downsample + 1)
        edited = motions.get("SourceMotion")
        if len(motions) != 1 or not isinstance(edited, Motion) or changes_length(instruction):
            return None  # in-context answers take their length from the model: a path to follow may be longer
        return min(edited.num_frames, WINDOW_FRAMES)

    def latent_steps(self, frames: int | None) -> int | None:
        """The latent steps that decode to ``frames`` frames."""
        return None if frames is None else -(-(frames - 1) // self.tokenizer.config.downsample)

    def _window(self, instruction: str, frames: int, gen, opts: Options, motions: dict[str, Motion]) -> Motion:
        """One window of a long motion: exactly ``frames`` frames, motion only."""
        opt = opts.sampling(motion_steps=self.latent_steps(frames), motion_only=True, words_only=False)
        return self._answer([self._user_turn(instruction, motions)], opt, gen, frames).motions[0]

    def _user_turn(self, instruction: str, motions: dict[str, Motion]) -> Message:
        check_instruction(instruction)
        named = list(dict.fromkeys(PLACEHOLDER.findall(instruction)))
        missing = [n for n in named if n not in motions]
        if missing:
            raise InstructionError(
                f"the instruction refers to {', '.join(f'<{n}>' for n in missing)} but no motion was given for it; "
                f"pass it in motions={{'{missing[0]}': motion}} (or --motion {missing[0]}=FILE)."
            )
        unused = [n for n in motions if n not in named]
        if unused:
            raise InstructionError(f"motion {unused[0]!r} was given but the instruction never mentions <{unused[0]}>.")
        parts = [MotionCodes(self.tokenizer.encode(motions[name]), name) for name in named]
        return Message("user", (*parts, TextPart(instruction)))

    def _answer(self, messages, opt: SamplingOptions, gen, frames: int | None, retries: int = 3,
                unstyled: Message | None = None, pick: Callable[[np.ndarray], float] | None = None,
                candidates: int = 1) -> Result:  # fmt: skip
        """The model's answer to the last turn of ``messages``. Guided motion codes are contrasted with
        UNCONDITIONAL asked alone, and with ``unstyled`` too where given (the request without its style).
        ``candidates`` answers are sampled at once and the one whose joints ``pick`` scores lowest is
        kept, the earliest of equals: the nearest the source for a style edit (STYLE_EDIT_CANDIDATES),
        one that shows the asked action for a request the joints can check (SHOWN_CANDIDATES)."""
        prompt = self.lm.vocab.render(messages, generation_prompt=True)
        free = None  # guided motion codes: the requests asked beside the answer (generate.py)
        if opt.guidance != 1.0 and not opt.words_only:
            free = [self.lm.vocab.render([turn], generation_prompt=True)
                    for turn in (Message("user", (TextPart(UNCONDITIONAL),)), unstyled) if turn]  # fmt: skip
            free = [f for f in free for _ in range(candidates)]  # one of each per candidate, in that order
        last_error = "no answer"
        for _ in range(retries):
            out = generate(self.lm, [prompt] * candidates, opt, gen, unconditional=free)
            results = []
            for b in range(candidates):
                if not out.finished[b]:
                    last_error = f"the answer did not finish within {opt.max_new_tokens} tokens"
                    continue
                try:
                    results.append(self._result(self._parts(prompt, out, b), out.ids[b], frames))
                except ValueError as e:
                    last_error = str(e)
            moving = [r for r in results if r.motions]  # (an answer in words alone has no poses to compare)
            if pick is not None and len(moving) > 1:
                return min(moving, key=lambda r: pick(r.motions[-1].joints))
            if results:
                return results[0]
        raise GenerationError(
            f"the model produced no valid answer in {retries} tries ({last_error}); try another seed."
        )

    def _parts(self, prompt, out, row: int = 0) -> tuple:
        v = self.lm.vocab
        ids = np.concatenate([prompt.ids, out.ids[row]])
        codes = np.concatenate([prompt.codes, out.codes[row]]) if v.layout == "grouped" else None
        return v.parse(ids, codes)[-1].parts

    def _result(self, parts, tokens, frames: int | None) -> Result:
        text, motions = [], []
        for p in parts:
            if isinstance(p, TextPart):
                text.append(p.text)
            else:
                length = frames if frames is not None else None
                motions.append(self.tokenizer.decode(p.codes, length=length))
                text.append(f"<{p.name or 'Motion'}>")
        return Result("".join(text).strip(), motions, tokens=tokens, parts=tuple(parts))

    def _reflect(self, messages, result, opt, gen, rounds, frames, ignore: tuple[str, ...] = ()) -> Result:
        """Self-reflection: judge the motion in words against the instruction, regenerate if it falls
        short (faults of the ``ignore``d attributes do not count: :meth:`Judgment.right`)."""
        notes, attempts = [], [tuple(result.motions)]
        for _ in range(rounds):
            if not result.motions:
                break
            answer = Message("assistant", result.parts)
            ask = Message("user", (TextPart("Critique your attempt."),))  # as the reflection data asks
            judge_opt = dataclasses.replace(opt, motion_steps=None, motion_only=False, words_only=True)  # a critique
            try:
                verdict = self._answer([*messages, answer, ask], judge_opt, gen, frames=None)
            except GenerationError as e:  # keep the motion we have rather than fail the whole call
                notes.append(f"(no judgment: {e})")
                break
            notes.append(verdict.text)
            if read_judgment(verdict.text).right(ignore):  # a yes that names a fault is not taken as one
                break
            messages = [*messages, answer, ask, Message("assistant", (TextPart(verdict.text),)),
                        Message("user", (TextPart("Use your critique to regenerate it."),))]  # fmt: skip
            result = self._answer(messages, opt, gen, frames)
            attempts.append(tuple(result.motions))
        return dataclasses.replace(result, reasoning="\n".join(notes) or None, attempts=tuple(attempts))


class ChatSession:
    """A multi-turn conversation: every answer is kept and the next instruction can refer to it."""

    def __init__(self, model: OmniMoGen):
        self.model = model
        self.history: list[Message] = []
        self.last_motion: Motion | None = None  # the last answer, which a follow-up edits (its length, its parts)

    def __call__(self, instruction: str, motions: Mapping[str, Motion] | None = None, **options) -> Result:
        """One turn. Unless the instruction asks for words (a question, a caption, a critique), the
        answer is a motion, as every turn of the training conversations is. A turn that names no motion
        and does not point back at one ("a person does a cartwheel", not "make it faster") is a new
        request: it is asked as a first turn (its words read, an unknown action warned of) and later
        turns can edit its answer; one that asks for a style and nothing else ("now make him look tired")
        is asked as a style edit of the last answer (``understand.asked_style``), as edits are, and one
        that asks for another action ("have them jog instead") as its action edit (:meth:`OmniMoGen.asked_action`)."""
        check_instruction(instruction)
        words = asks_for_words(instruction)
        options.setdefault("motion_only", not words)
        options.setdefault("words_only", words)
        fresh = not motions and not words and not refers_back(instruction)
        follow_up = not fresh and not words and not motions and self.last_motion is not None
        exact = None  # another speed or a turn of the last answer, asked for and nothing else: made exactly
        if follow_up and options.get("keep_parts", True) and options.get("seconds") is None and options.get("frames") is None:
            exact = self.model.edited_exactly(instruction, self.last_motion, "the last answer")
        if follow_up and options.get("seconds") is None and options.get("frames") is None \
                and spoken_seconds(instruction) is None and not changes_length(instruction):  # fmt: skip
            options["frames"] = self.last_motion.num_frames  # a follow-up edits the last answer: same length
        read = follow_up and exact is None and options.get("interpret_words", True)
        action = self.model.asked_action(instruction, self.last_motion) if read else None
        style = asked_style(instruction) if read and action is None else None
        if exact is not None:
            result = self.model._composed(*exact, self.model._user_turn(instruction, {}))
        elif style is not None or action is not None:  # "now make him look tired", "have them jog instead":
            asked = canonical_style_edit(style) if style is not None else canonical_action_edit(action)
            result = self.model(asked, {"SourceMotion": self.last_motion}, **options)  # an edit of the last answer
            result = dataclasses.replace(result, reading=dataclasses.replace(result.reading, phrase=instruction))
        elif words and not motions and self.last_motion is not None and asks_for_caption(instruction):
            result = self.model.describe(self.last_motion, **options)  # "what is the person doing?"
        else:
            result = self.model(instruction, motions, history=None if fresh else self.history, **options)
        if exact is None and action is None and follow_up and options.get("keep_parts", True):
            result = self.model.keep_parts(result, instruction, self.last_motion)
        if result.motions:
            self.last_motion = result.motions[-1]
        self.history += [result.prompt, Message("assistant", result.parts)]
        return result

    def replay(self, instruction: str, motions: Mapping[str, Motion] | None, answers: list[Motion]) -> None:
        """Add a turn answered earlier (a saved conversation loaded again) to the history, without
        generating: the instruction with its motions, and the answer's motions."""
        prompt = self.model._user_turn(instruction, _motions(motions))
        parts = tuple(MotionCodes(self.model.tokenizer.encode(m)) for m in answers)
        self.history += [prompt, Message("assistant", parts)]
        if answers:
            self.last_motion = answers[-1]


def load_model(path: str | Path | None = None, device=None, dtype=None) -> OmniMoGen:
    """The model shipped with the package, or one saved with ``save_pretrained`` at ``path``, on
    ``device`` (None: CUDA when there is one, else the CPU) with its weights in ``dtype``."""
    if path is None:
        if not (DEFAULT_DIR / "config.json").is_file():
            raise FormatError(
                f"{DEFAULT_DIR}: this install ships no default model yet; pass the path of a trained one."
            )
        path = DEFAULT_DIR
    return OmniMoGen.from_pretrained(path, device, dtype)


def check_instruction(instruction) -> None:
    """Refuse what is not a usable instruction (not text, empty, not UTF-8) with one sentence."""
    if isinstance(instruction, bytes):
        raise InstructionError("the instruction must be text (str), not bytes; decode it first.")
    if not isinstance(instruction, str):
        raise InstructionError(f"the instruction must be text (str), not {type(instruction).__name__}.")
    if not instruction.strip():
        raise InstructionError("the instruction is empty; say what the motion should be.")
    try:
        instruction.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes from the command line arrive as lone surrogates
        raise InstructionError("the instruction is not valid UTF-8 text; check the terminal's encoding.") from None


def _options(options: dict, defaults: dict) -> Options:
    """``Options`` from what the caller gave, the model's own sampling ``defaults`` where it gave none."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        hint = " (motions go in the motions mapping: {'SourceMotion': motion})" if unknown[0][:1].isupper() else ""
        raise InstructionError(f"unknown option {unknown[0]!r}; the options are {', '.join(OPTIONS)}{hint}.")
    return Options(**{**defaults, **options})


def _motions(motions) -> dict[str, Motion]:
    if motions is None:
        return {}
    if not isinstance(motions, Mapping):
        raise InstructionError(f"motions must map placeholder names to Motions, not {type(motions).__name__}.")
    for name, m in motions.items():
        if not isinstance(m, Motion):
            raise InstructionError(f"{name} must be a Motion, not {type(m).__name__}.")
    return dict(motions)
