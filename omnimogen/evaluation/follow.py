"""``omnimogen bench follow``: does the model do what an instruction says, in words it never saw?

    run_follow("bench/follow", data="data/bandai", split="dev")

The cases are the hand-written paraphrases of ``follow_prompts.json`` (never used in training; a
``dev`` half to look at while working, a ``test`` half scored only for a final model). Each case binds
real clips to its placeholders, chosen by their labels from the test split (:class:`Binder`), the same
clip for every method and repeat, and asks one to three turns; every turn names what its answer must show, and each of those
expectations is a check:

- from the joints (:mod:`.checks`): ``turn`` (the heading ends turned 45 degrees or more to that
  side), ``curve`` (the path ends on that side), ``facing`` (in turns and curves, the body faces its
  direction of travel in 90% of the moving frames: no crab walk; for a path taken from a reference, it
  meets the path at the reference's angle, since some real walks go diagonally), ``locomotion`` (forward, backward,
  in place), ``hand`` (which hands go up), ``side`` (where the words name left or right and the
  answer shows a side, by a raised hand, a turn or a curve: is it that one), ``speed_ratio`` (within 25% of the asked ratio to the
  motion edited), ``speed`` (faster or slower by at least 15%), ``keep_length`` (exactly the edited
  motion's frames), ``kept_parts`` (the kept parts stay within 8 cm of the source's, in the body's
  frame), ``trajectory`` (the root path is at most half as far from the reference's as the source's
  is), ``speed_from`` (within 25% of the reference's speed), ``seconds`` (the asked duration, 5%);
- from the evaluator, what only it can judge: ``action`` and ``style``, the labels of the 5 nearest
  train clips (majority) to the answer in its motion space (on real test clips this reading is right
  for 97% of actions and 95% of styles); walks that differ only in their path and the left/right forms
  of a gesture count as one action there (:data:`ACTION_GROUPS`: the joints judge the path and the
  side) and near-synonym styles count as one (:data:`STYLE_GROUPS`). A style asked of an action that
  the corpus never shows in it ("an angry wave": Dataset-2's gestures come in 7 styles) is scored
  apart, as ``style_not_in_corpus``;
- ``warned``: a request outside what the model knows gets a warning (family ``unknown``), and
  ``no_false_warning``: a text-to-motion or knowledge request it knows does not. An ``unknown``
  expectation that names the activity (``"unknown": "cartwheel"``) is unknown only to a model none of
  whose training captions has that word (``OmniMoGenLM.known_captions``; the extra corpus has
  cartwheels): a model trained on it is held to ``no_false_warning`` there instead;
- ``answered``: the model's turn came with a motion (a turn without one fails every check its words
  imply).

Methods: ``model``; ``ground_truth``, a real clip with the turn's target labels (sped by the asked
ratio where one is asked) where the labels determine one; ``copy_source``, the bound source motion
returned unchanged. Pass rates are over every (case, repeat) of a check, with Wilson 95% intervals
(repeats of one case are not independent, so the intervals are somewhat narrow).
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import time
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FormatError, check_number
from ..fileio import atomic_path, lock_folder, unlock_folder
from ..instructions.corpus import ClipInfo, Corpus
from ..instructions.schema import PLACEHOLDER
from ..model.generate import MAX_TEMPERATURE
from ..model.understand import UNKNOWN_WARNING
from ..motion import FPS, WINDOW_ROWS, Motion, checks, resample

PROMPTS = Path(__file__).with_name("follow_prompts.json")
SPLITS = ("dev", "test", "all")
METHODS = ("model", "ground_truth", "copy_source")
FAMILIES = ("t2m", "edit/action", "edit/speed", "edit/style", "edit/trajectory", "edit/bodypart",
            "edit/compositional", "multiturn", "incontext/action+style", "incontext/trajectory+action",
            "incontext/style+trajectory", "incontext/speed", "inbetween", "continue", "knowledge", "unknown")  # fmt: skip
EXPECT_KEYS = ("action", "style", "hand", "turn", "curve", "locomotion", "speed_ratio", "speed", "keep_length",
               "kept_parts", "trajectory_from", "speed_from", "seconds", "unknown", "nearest", "shows")  # fmt: skip
SKILLS = ("inverted", "airborne", "kick")  # "shows": whole-body skills the joints tell (checks.shows)
# The evaluator judges what is done; the joints judge where and with which side. So the walks that
# differ only in their path (the turn, curve and locomotion checks tell them apart) count as one action,
# as do the left and right forms of a gesture (the hand check) and two pairs the labels split finely.
ACTION_GROUPS = {"walk-left": "walk", "walk-right": "walk", "walk-turn-left": "walk", "walk-turn-right": "walk",
                 "wave-left-hand": "wave-one-hand", "wave-right-hand": "wave-one-hand",
                 "raise-up-left-hand": "raise-one-hand", "raise-up-right-hand": "raise-one-hand",
                 "byebye": "bye", "dance-long": "dance", "dance-short": "dance"}  # fmt: skip
STAND_INS = {"dance-long": "dance-short"}  # an action with no clip in the corpus -> the nearest one that has
STYLE_GROUPS = {"masculinity": "masculine", "elderly": "old", "exhausted": "tired", "youthful": "young"}
NEIGHBOURS = 5
# Families whose answer is two motions in one (the legs and path of one, the arms of another): the
# evaluator reads the whole body (a walk that waves reads as a walk), so a hand gesture there is judged
# by the joints alone (the hand and gesture checks).
COMBINED = ("edit/bodypart", "incontext/trajectory+action")
CHECK_OF = {"trajectory_from": "trajectory", "unknown": "warned"}  # expectation -> the check that tests it
# Bound motions are cut to WINDOW_ROWS (the training window, 9.8 s), as the X2Mo samples are.


class FollowError(FormatError):
    """A prompts file or request the follow suite cannot use; the message names the case and the fix."""


@dataclass(frozen=True)
class Turn:
    instruction: str
    expect: dict


@dataclass(frozen=True)
class FollowCase:
    id: str
    family: str
    split: str
    turns: tuple[Turn, ...]
    motions: dict = field(default_factory=dict)  # placeholder -> {"action", "style"}


def load_prompts(path: str | Path | None = None, split: str = "dev") -> list[FollowCase]:
    """The cases of ``split`` ("dev", "test" or "all") from a prompts file (default: the shipped one)."""
    path = Path(path) if path else PROMPTS
    if split not in SPLITS:
        raise FollowError(f"split must be one of {', '.join(SPLITS)}, not {split!r}.")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FollowError(f"{path}: cannot read the prompts ({e}).") from None
    cases, seen = [], set()
    for i, c in enumerate(doc.get("cases", [])):
        where = f"{path}: case {i} ({c.get('id', 'no id')})"
        if c.get("id") in seen or not isinstance(c.get("id"), str):
            raise FollowError(f"{where}: ids must be unique strings.")
        seen.add(c["id"])
        if c.get("family") not in FAMILIES or c.get("split") not in ("dev", "test"):
            raise FollowError(f"{where}: family must be one of {', '.join(FAMILIES)} and split dev or test.")
        turns = c.get("turns")
        if not isinstance(turns, list) or not turns:
            raise FollowError(f"{where}: needs a list of turns.")
        motions = c.get("motions", {})
        named = set()
        for t in turns:
            if not isinstance(t.get("instruction"), str) or not isinstance(t.get("expect"), dict):
                raise FollowError(f"{where}: every turn needs an instruction and an expect object.")
            bad = set(t["expect"]) - set(EXPECT_KEYS)
            if bad:
                raise FollowError(f"{where}: unknown expectation(s) {', '.join(sorted(bad))}.")
            if not isinstance(t["expect"].get("unknown", True), (bool, str)) or t["expect"].get("unknown") == "":
                raise FollowError(f"{where}: 'unknown' must be true or the word that names the activity.")
            if t["expect"].get("shows", SKILLS[0]) not in SKILLS:
                raise FollowError(f"{where}: 'shows' must be one of {', '.join(SKILLS)}.")
            named |= set(PLACEHOLDER.findall(t["instruction"]))
        if named != set(motions):
            raise FollowError(f"{where}: placeholders {sorted(named)} and motions {sorted(motions)} differ.")
        cases.append(FollowCase(c["id"], c["family"], c["split"],
                                tuple(Turn(t["instruction"], t["expect"]) for t in turns), motions))  # fmt: skip
    if not cases:
        raise FollowError(f"{path}: holds no cases.")
    return [c for c in cases if split == "all" or c.split == split]


def wilson(passed: int, total: int) -> tuple[float, float, float]:
    """Pass rate and its Wilson 95% interval, in percent: (rate, low, high)."""
    if total == 0:
        return math.nan, math.nan, math.nan
    z, p = 1.96, passed / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return 100 * p, 100 * max(0.0, centre - half), 100 * min(1.0, centre + half)


def action_group(action: str) -> str:
    return ACTION_GROUPS.get(action, action)


def style_group(style: str) -> str:
    return STYLE_GROUPS.get(style, style)


# ---------------------------------------------------------------------------------------------
# The motions each method answers with


class Binder:
    """Real clips for the labels a case names, from the test split, else (for the few actions with no
    test clip: punch, kick, slash, respond and dance-short have one or two takes in the whole corpus)
    the val and then the train split: the same clip for every method and repeat."""

    def __init__(self, corpus: Corpus, splits: tuple[str, ...] = ("test", "val", "train")):
        self.corpus = corpus
        self.by_split: list[dict[tuple[str, str], list[ClipInfo]]] = []
        for split in splits:
            by_label: dict[tuple[str, str], list[ClipInfo]] = defaultdict(list)
            for clips in corpus.cells(split).values():
                for c in clips:
                    by_label[c.action, c.style].append(c)
                    by_label[c.action, "*"].append(c)
            for pool in by_label.values():
                pool.sort(key=lambda c: (c.mirror, c.style != "normal", c.id))
            self.by_split.append(by_label)

    def clip(self, labels: dict, key: str) -> ClipInfo | None:
        """A clip with these labels (its style, else one of the same style group, else any style; no
        mirrored copy where an original will do), picked by ``key``; None if no split has the action."""
        action, style = labels.get("action"), labels.get("style") or "normal"
        for by_label in self.by_split:
            pool = by_label.get((action, style), [])
            if not pool:
                anyone = by_label.get((action, "*"), [])
                pool = [c for c in anyone if style_group(c.style) == style_group(style)] or anyone
            originals = [c for c in pool if not c.mirror]
            pool = originals or pool
            if pool:
                return pool[zlib.crc32(key.encode()) % len(pool)]
        if action in STAND_INS:  # dance-long has no take at all upstream
            return self.clip({**labels, "action": STAND_INS[action]}, key)
        return None

    def motion(self, labels: dict, key: str, rows: int | None = None) -> Motion | None:
        """The clip's motion, its first ``rows`` feature rows when given."""
        clip = self.clip(labels, key)
        return None if clip is None else Motion.from_features(self.corpus.features(clip.id)[:rows], name=clip.id)


def bind(case: FollowCase, binder: Binder) -> dict[str, Motion]:
    """The case's placeholders bound to real clips (in-betweening: the first 0.6 s of the start clip and
    the last 0.6 s of the end clip, which is the same clip when the labels are)."""
    out = {}
    for name, labels in case.motions.items():
        m = binder.motion(labels, f"{case.id}/{labels.get('action')}/{labels.get('style')}", rows=WINDOW_ROWS)
        if m is None:
            raise FollowError(f"case {case.id}: the corpus has no clip of {labels} for <{name}>.")
        out[name] = m
    if case.family == "inbetween" and {"StartPose", "EndPose"} <= set(out):
        k = 13
        out["StartPose"] = Motion.from_joints(out["StartPose"].joints[:k])
        out["EndPose"] = Motion.from_joints(out["EndPose"].joints[-k:])
    return out


def _source(case: FollowCase, motions: dict[str, Motion]) -> Motion | None:
    for name in ("SourceMotion", "Motion"):
        if name in motions:
            return motions[name]
    return None


def target_labels(case: FollowCase, upto: int) -> dict | None:
    """The (action, style) the answer to turn ``upto`` should have, accumulated over the turns from the
    source's labels; None when the turns do not name an action (nothing to fetch a real clip by)."""
    src = case.motions.get("SourceMotion") or case.motions.get("Motion") or {}
    labels = {"action": src.get("action"), "style": src.get("style", "normal")}
    for t in case.turns[: upto + 1]:
        e = t.expect
        if e.get("unknown"):
            return None
        if e.get("action"):
            labels["action"] = e["action"]
        if e.get("style"):
            labels["style"] = e["style"]
    return labels if labels["action"] else None


def ground_truth(case: FollowCase, turn: int, binder: Binder, previous: Motion | None) -> Motion | None:
    """A real clip with the turn's target labels, cut to the edited motion's length where the turn keeps
    it, and played at the asked speed where one is asked; None where the labels name no clip."""
    e = case.turns[turn].expect
    if case.family in ("inbetween", "continue", "incontext/trajectory+action", "unknown") or e.get("speed_from"):
        return None
    labels = target_labels(case, turn)
    base = previous if (labels is not None and previous is not None and not e.get("action") and not e.get("style")
                        and not e.get("turn") and not e.get("curve") and not e.get("locomotion")) else None  # fmt: skip
    motion = base or (binder.motion(labels, f"{case.id}/gt/{turn}") if labels else None)
    if motion is None:
        return None
    ratio = e.get("speed_ratio") or {"faster": 1.5, "slower": 0.67}.get(e.get("speed", ""), None)
    joints = motion.joints
    if ratio:
        joints = resample(joints, FPS * ratio, FPS) if len(joints) > 4 else joints
    elif e.get("keep_length") and previous is not None:
        joints = joints[: previous.num_frames]
    return Motion.from_joints(joints)


# ---------------------------------------------------------------------------------------------
# Checks of one answer


class Labeller:
    """The evaluator's reading of a motion: the labels of its nearest train clips in the motion space."""

    def __init__(self, evaluator, corpus: Corpus):
        self.evaluator = evaluator
        clips = sorted((c for cells in corpus.cells("train").values() for c in cells), key=lambda c: c.id)
        self.labels = [(c.action, c.style) for c in clips]
        self.emb = evaluator.embed_motions([corpus.features(c.id) for c in clips])  # (N, E)
        self.pairs = {(action_group(a), style_group(s)) for a, s in self.labels}

    def exists(self, action: str, style: str) -> bool:
        """Whether the train clips hold this action in this style (many asked pairs do not: Dataset-2's
        gestures come in 7 styles, "an angry wave" has no example to learn from)."""
        return (action_group(action), style_group(style)) in self.pairs

    def __call__(self, motions: list[Motion]) -> list[tuple[str, str]]:
        if not motions:
            return []
        q = self.evaluator.embed_motions([m.features for m in motions])  # (M, E)
        out = []
        for row in q @ self.emb.T:
            top = np.argsort(-row)[:NEIGHBOURS]
            action = Counter(action_group(self.labels[i][0]) for i in top).most_common(1)[0][0]
            style = Counter(style_group(self.labels[i][1]) for i in top).most_common(1)[0][0]
            out.append((action, style))
        return out


def check_turn(expect: dict, answer: Motion, edited: Motion | None, motions: dict[str, Motion],
               read: tuple[str, str] | None, warned: bool, family: str, style_exists: bool = True,
               known: tuple[str, ...] = ()) -> dict[str, bool]:  # fmt: skip
    """Every check the turn's expectations imply, pass or fail (a check that cannot be computed fails).
    ``known``: the captions the model was trained on, for an ``unknown`` expectation that names its activity."""
    j = answer.joints
    m = checks.measure(j)
    out: dict[str, bool] = {}
    if expect.get("unknown"):
        word = expect["unknown"]
        learned = isinstance(word, str) and any(re.search(rf"\b{re.escape(word)}", c, re.I) for c in known)
        return {"no_false_warning": not warned} if learned else {"warned": warned}
    if family in ("t2m", "knowledge") or (family == "multiturn" and warned):
        out["no_false_warning"] = not warned  # requests the model knows, read without a bound motion
    gesture = expect.get("action", "").startswith(("wave-", "raise-up-"))
    if read is not None and expect.get("action") and not (gesture and family in COMBINED):
        out["action"] = read[0] == action_group(expect["action"])
    if gesture:  # held up or waving: the joints tell (checks.waves); with the hand check, the whole gesture
        out["gesture"] = m.waves == expect["action"].startswith("wave-")
    if read is not None and expect.get("style"):
        key = "style" if style_exists else "style_not_in_corpus"  # scored apart: no example to learn it from
        out[key] = read[1] == style_group(expect["style"])
    if expect.get("shows"):
        out[expect["shows"]] = expect["shows"] in m.shows
    if expect.get("hand"):
        out["hand"] = m.hand == expect["hand"]
    if expect.get("turn"):
        out["turn"] = m.turn == expect["turn"]
    if expect.get("curve"):
        out["curve"] = m.side == expect["curve"]
    bends = m.side != "straight" or m.turn != "none"
    if (expect.get("turn") or expect.get("curve")) and expect.get("locomotion", "forward") == "forward" and bends:
        # asked only of paths that do bend (a straight walk faces its path trivially); a path taken from a
        # reference is faced as the reference faces it
        path_from = motions.get(expect.get("trajectory_from") or "")
        share = m.facing_along_path if path_from is None else checks.facing_like(j, path_from.joints)
        out["facing"] = share is not None and share >= checks.FACING_SHARE
    shown = [(expect.get("hand"), m.hand), (expect.get("turn"), m.turn), (expect.get("curve"), m.side)]
    sided = [(want, got) for want, got in shown if want in ("left", "right") and got in ("left", "right")]
    if sided:  # left and right: of the sides the answer shows, are they the ones asked?
        out["side"] = all(want == got for want, got in sided)
    if expect.get("locomotion"):
        out["locomotion"] = m.locomotion == expect["locomotion"]
    if expect.get("seconds"):
        out["seconds"] = abs((m.frames - 1) / FPS - float(expect["seconds"])) <= 0.05 * float(expect["seconds"]) + 0.1
    if edited is not None:
        if expect.get("speed_ratio"):
            r = checks.speed_ratio(j, edited.joints)
            out["speed_ratio"] = abs(r / float(expect["speed_ratio"]) - 1) <= checks.SPEED_TOLERANCE
        if expect.get("speed") in ("faster", "slower"):
            r = checks.speed_ratio(j, edited.joints)
            out["speed"] = r >= 1.15 if expect["speed"] == "faster" else r <= 1 / 1.15
        if expect.get("keep_length"):
            out["keep_length"] = answer.num_frames == edited.num_frames
        if expect.get("kept_parts"):
            out["kept_parts"] = all(checks.part_error(j, edited.joints, p) <= checks.KEPT_METRES
                                    for p in expect["kept_parts"])  # fmt: skip
    ref = motions.get(expect.get("trajectory_from") or "")
    # the baseline is copying the other motion: the source, or the reference where the path is the source's
    other = next((m for n, m in sorted(motions.items()) if n != expect.get("trajectory_from")), None)
    if ref is not None and other is not None:
        out["trajectory"] = checks.path_error(j, ref.joints) <= 0.5 * checks.path_error(other.joints, ref.joints)
    ref = motions.get(expect.get("speed_from") or "")
    if ref is not None:
        out["speed_from"] = abs(checks.mean_speed(j) / max(checks.mean_speed(ref.joints), 1e-6) - 1) <= checks.SPEED_TOLERANCE
    return out


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class Outcome:
    """One method's answer to one turn of one case in one repeat, and its checks."""

    case: str
    family: str
    turn: int
    repeat: int
    method: str
    checks: dict[str, bool]
    frames: int
    warning: str | None = None
    instruction: str = ""
    read: tuple[str, str] | None = None  # the evaluator's (action group, style group) of the answer


def _ask(model, case: FollowCase, motions: dict[str, Motion], seed: int,
         options: dict | None = None) -> list[tuple[Motion | None, str | None]]:  # fmt: skip
    """The model's answers to the case's turns, as a user asks them: one turn as ``omnimogen generate``
    does (one motion), several as ``omnimogen chat`` does (the conversation decides what to answer).
    ``options``: sampling options every turn is asked with (``temperature``)."""
    from ..model.pipeline import GenerationError

    options = options or {}
    chat, answers = model.chat(), []
    for k, t in enumerate(case.turns):
        named = {n: motions[n] for n in dict.fromkeys(PLACEHOLDER.findall(t.instruction))}
        try:
            if len(case.turns) == 1:
                result = model(t.instruction, named, seed=seed, motion_only=True, **options)
            else:
                result = chat(t.instruction, named, seed=seed + k, **options)
        except GenerationError as e:  # no answer to this turn (and so to the turns after it): not answered
            answers += [(None, f"no answer: {e}")] * (len(case.turns) - k)
            break
        warnings = getattr(result, "warnings", None)  # (models before warnings existed: none)
        warning = "; ".join(warnings) if warnings else None
        answers.append((result.motions[-1] if result.motions else None, warning))
    return answers


def run_follow(out: str | Path, *, data: str | Path, model: str | Path | None = None,
               evaluator: str | Path | None = None, prompts: str | Path | None = None, split: str = "dev",
               repeats: int = 3, seed: int = 0, baselines_only: bool = False, families: tuple[str, ...] = (),
               progress: bool = True, device=None, temperature: float | None = None,
               keep_parts: bool = True, candidates: int | None = None) -> dict:  # fmt: skip
    """Ask every case of ``split`` and write ``results.json``, ``report.md`` and ``results.png`` to ``out``.
    ``temperature``: the model's motion sampling temperature (None: its default); ``keep_parts=False``:
    the body parts an edit keeps are left to the model too (``Options.keep_parts``), to measure it alone;
    ``candidates``: answers sampled per style edit, the nearest the source kept (``Options.candidates``)."""
    import torch
    from tqdm import tqdm

    from ..model.pipeline import MOTION_TEMPERATURE, load_model
    from .bench import dir_sha256, model_sha256, versions_of
    from .evaluator import DEFAULT_DIR as EVAL_DIR
    from .evaluator import load_evaluator

    start = time.perf_counter()
    if repeats < 1:
        raise FollowError("repeats must be at least 1.")
    if temperature is not None:
        check_number("temperature", temperature, 0, MAX_TEMPERATURE)
    options = {} if temperature is None else {"temperature": temperature}
    lock_folder(out, "benchmark folder")
    corpus = Corpus(data)
    cases = [c for c in load_prompts(prompts, split) if not families or c.family in families]
    binder = Binder(corpus)
    bound = {c.id: bind(c, binder) for c in cases}
    labeller = Labeller(load_evaluator(evaluator, device), corpus)
    model_dir = None if baselines_only else Path(model) if model else None
    lm = None if baselines_only else load_model(model_dir, device)
    if lm is not None and temperature is None:  # recorded as used: the model's own, else the package's
        options = {"temperature": lm.lm.sampling.get("temperature", MOTION_TEMPERATURE)}
    if not keep_parts:
        options["keep_parts"] = False
    if candidates is not None:
        options["candidates"] = candidates
    outcomes: list[Outcome] = []
    total = len(cases) * ((0 if baselines_only else repeats) + 2)
    with tqdm(total=total, disable=not progress, desc="follow", unit="case") as bar:
        for case in cases:
            motions = bound[case.id]
            runs = [("ground_truth", 0), ("copy_source", 0)]
            runs += [] if baselines_only else [("model", r) for r in range(repeats)]
            for method, r in runs:
                outcomes += _answer_case(method, case, motions, binder, labeller, lm, seed, r, options)
                bar.update()
    results = summarise(outcomes, cases, split, repeats)
    results |= {"suite": "follow", "seed": seed, "split": split, "prompts": str(prompts or "shipped"), **options,
                "model": None if baselines_only else {"name": str(model or "default"),
                                                      "sha256": model_sha256(model_dir or _default_model_dir()),
                                                      "sampling": lm.lm.sampling},  # its defaults: guidance
                "data": {"name": corpus.root.name}, "versions": versions_of(dir_sha256(Path(evaluator or EVAL_DIR))),
                "seconds": round(time.perf_counter() - start, 1), "date": time.strftime("%Y-%m-%d"),
                "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}"}  # fmt: skip
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "results.json") as tmp:
        tmp.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    with atomic_path(out / "answers.jsonl") as tmp:
        tmp.write_text("".join(json.dumps(o.__dict__) + "\n" for o in outcomes), encoding="utf-8")
    write_follow_report(out, results)
    unlock_folder(out)
    return results


def _default_model_dir() -> Path:
    from ..model.pipeline import DEFAULT_DIR

    return DEFAULT_DIR


def _answer_case(method, case, motions, binder, labeller, lm, seed, repeat, options=None) -> list[Outcome]:
    source = _source(case, motions)
    if method == "model":
        answers = _ask(lm, case, motions, seed * 1000 + zlib.crc32(case.id.encode()) % 1000 + 7919 * repeat, options)
    elif method == "copy_source":
        if source is None:
            return []
        answers = [(source, None)] * len(case.turns)
    else:
        answers, previous = [], source
        for k in range(len(case.turns)):
            gt = ground_truth(case, k, binder, previous)
            answers.append((gt, None))
            previous = gt if gt is not None else previous
        if all(a is None for a, _ in answers):
            return []
    reads = labeller([a for a, _ in answers if a is not None])
    reads_iter = iter(reads)
    out, edited = [], source
    for k, (t, (answer, warning)) in enumerate(zip(case.turns, answers, strict=True)):
        if answer is None:
            if method == "model":  # no motion where one was asked: every check the words imply fails
                missed = {"answered": False} | {CHECK_OF.get(e, e): False for e in t.expect if e not in ("nearest",)}
                out.append(Outcome(case.id, case.family, k, repeat, method, missed, 0, warning, t.instruction))
            continue
        read = next(reads_iter)
        target = target_labels(case, k)
        exists = target is None or labeller.exists(target["action"], target["style"])
        known = getattr(getattr(lm, "lm", None), "known_captions", ()) if method == "model" else ()
        warned = warning is not None and UNKNOWN_WARNING in warning  # (not: "none of 9 answers shows ...")
        got = check_turn(t.expect, answer, edited, motions, read, warned, case.family, exists, known)
        if method == "model":
            got = {"answered": True} | got
        if method != "model":
            got.pop("warned", None)
            got.pop("no_false_warning", None)
        out.append(Outcome(case.id, case.family, k, repeat, method, got, answer.num_frames, warning, t.instruction,
                           read))  # fmt: skip
        edited = answer
    return out


def summarise(outcomes: list[Outcome], cases: list[FollowCase], split: str, repeats: int) -> dict:
    """Pass rates per method, check and family (with Wilson 95% intervals), and the share of turns
    that pass every one of their checks."""
    metrics: dict = {}
    for method in METHODS:
        mine = [o for o in outcomes if o.method == method]
        if not mine:
            continue
        table: dict = {}
        for family in ["all", *sorted({o.family for o in mine})]:
            rows = [o for o in mine if family == "all" or o.family == family]
            counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
            for o in rows:
                for name, ok in o.checks.items():
                    counts[name][0] += int(ok)
                    counts[name][1] += 1
                if o.checks:
                    counts["every_check"][0] += int(all(o.checks.values()))
                    counts["every_check"][1] += 1
            table[family] = {name: dict(zip(("pass_pct", "ci95_low", "ci95_high"), wilson(*c), strict=True)) | {"n": c[1]}
                             for name, c in sorted(counts.items())}  # fmt: skip
        metrics[method] = table
    return {"repeats": repeats, "cases": len(cases), "turns": sum(len(c.turns) for c in cases),
            "families": dict(Counter(c.family for c in cases)), "metrics": metrics}  # fmt: skip


def write_follow_report(out: Path, results: dict) -> None:
    """``report.md``: every check's pass rate for the model next to the baselines; ``results.png``: the same as bars."""
    m = results["metrics"]
    names = sorted({n for method in m.values() for n in method.get("all", {})})
    asked = f"{results['repeats']} repeats of the model" if "model" in m else "baselines only"
    lines = [f"# Follow suite: {results['split']} split, {results['cases']} cases, {results['turns']} turns, {asked}", "",
             "Pass rate (%) [Wilson 95% interval] (n = turns x repeats that carry the check). Checks from the joints "
             "except action and style (the evaluator's nearest train clips). See omnimogen/evaluation/follow.py.", "",
             "| check | " + " | ".join(m) + " |", "|---|" + "---|" * len(m)]  # fmt: skip
    for name in names:
        cells = []
        for method in m:
            v = m[method].get("all", {}).get(name)
            cells.append(
                "–" if v is None else f"{v['pass_pct']:.1f} [{v['ci95_low']:.0f}, {v['ci95_high']:.0f}] (n={v['n']})"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if "model" in m:
        lines += ["", "## The model by family", "", "| family | checks (pass %, n) |", "|---|---|"]
        for family, table in m["model"].items():
            if family == "all":
                continue
            lines.append(
                f"| {family} | " + ", ".join(f"{k} {v['pass_pct']:.0f} ({v['n']})" for k, v in table.items()) + " |"
            )
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _chart(out / "results.png", m, names)


def _chart(path: Path, m: dict, names: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6, len(names) * 0.7), 3.6))
    width = 0.8 / max(1, len(m))
    for i, method in enumerate(m):
        vals = [m[method]["all"].get(n, {}).get("pass_pct", np.nan) for n in names]
        lo = [v - m[method]["all"].get(n, {}).get("ci95_low", v) for n, v in zip(names, vals, strict=True)]
        hi = [m[method]["all"].get(n, {}).get("ci95_high", v) - v for n, v in zip(names, vals, strict=True)]
        yerr = np.clip(np.nan_to_num([lo, hi]), 0, None)  # the interval's ends, never below 0 by rounding
        ax.bar(np.arange(len(names)) + i * width, vals, width, yerr=yerr, label=method, capsize=2)
    ax.set_xticks(np.arange(len(names)) + width * (len(m) - 1) / 2, names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("pass rate (%)")
    ax.set_ylim(0, 100)
    if m:
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
