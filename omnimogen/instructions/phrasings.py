"""Instruction phrasings as data (``phrasings.json``, ``concepts.json``), checked when they are loaded.

A template has two kinds of placeholder: ``{slot}`` is filled with words (an action, a style, a
pace), ``<Name>`` stays in the text and binds a motion part. :data:`SPEC` says, per template key,
which motion placeholders every template must contain (every named motion part is mentioned),
which slots it may use and which it must use, and how many templates there must be. A file that
breaks a rule is refused with the key, the template and the fix.

Words for actions and styles start from the caption tables of ``omnimogen.data.captions`` (third
person: "walks forward") and are extended by the JSON file (base forms: "walk forward").
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..data.captions import ACTIONS, STYLES
from ..errors import FormatError
from .schema import PLACEHOLDER

HERE = Path(__file__).parent
STYLE_SLOTS = frozenset({"style_adj", "style_adv", "a_style_adj"})


@dataclass(frozen=True)
class Spec:
    motions: frozenset[str]  # motion placeholders every template must contain
    slots: frozenset[str]  # word slots a template may use
    required: tuple[frozenset[str], ...]  # each group: at least one of these slots must be used
    minimum: int  # templates needed


def _spec(motions=(), required=(), optional=(), minimum=20) -> Spec:
    groups = tuple(frozenset([g] if isinstance(g, str) else g) for g in required)
    slots = frozenset(optional).union(*groups) if groups else frozenset(optional)
    return Spec(frozenset(motions), slots, groups, minimum)


_SRC = ("SourceMotion",)
_CLAUSES = {
    "action": _spec(required=["action"], minimum=10),
    "speed": _spec(required=["pace"], minimum=10),
    "style": _spec(required=[STYLE_SLOTS], minimum=10),
    "trajectory": _spec(required=["path"], minimum=10),
    "bodypart": _spec(required=["changed", "action"], optional=["kept"], minimum=10),
    # captioned clips: {caption} is a caption as a clause ("the person jumps forward")
    "action/caption": _spec(required=["caption"], minimum=10),
    "trajectory/caption": _spec(required=["caption"], minimum=10),
}
SPEC: dict[str, Spec] = {
    **{f"edit/{k}": Spec(frozenset(_SRC), s.slots, s.required, 20) for k, s in _CLAUSES.items()},
    **{f"clause/{k}": s for k, s in _CLAUSES.items()},
    "followup": _spec(required=["clause"]),
    "compositional": _spec(_SRC, required=["first", "second"]),
    "t2m": _spec(required=["prompt"]),
    "describe": _spec(["Motion"]),
    "reflection/generate": _spec(required=["prompt"]),
    "reflection/judge": _spec(["Motion"], required=["prompt"]),
    "reflection/check": _spec(),
    "reflection/regenerate": _spec(),
    "verdict/yes": _spec(minimum=4),
    "verdict/no": _spec(minimum=4),
    "verdict/action/ok": _spec(required=["actions"], minimum=4),
    "verdict/action/bad": _spec(required=["shown_actions", "wanted_actions"], minimum=4),
    "verdict/style/ok": _spec(required=["style_adj"], minimum=4),
    "verdict/style/bad": _spec(required=["shown_adj", "wanted_adj"], minimum=4),
    "verdict/speed/bad": _spec(required=["pace_error"], minimum=4),
    "verdict/side/bad": _spec(required=["shown_actions", "wanted_actions"], minimum=4),
    "verdict/fix": _spec(required=["attribute"], minimum=4),
    "verdict/caption/ok": _spec(required=["wanted"], minimum=4),
    "verdict/caption/action": _spec(required=["shown", "wanted"], minimum=4),
    "verdict/caption/side": _spec(required=["shown", "wanted"], minimum=4),
    "incontext/action+style": _spec(["MotionA", "MotionB"]),
    "incontext/trajectory+action": _spec(["MotionA", "MotionB"]),
    "incontext/style+trajectory": _spec(["MotionA", "MotionB"]),
    "inbetween": _spec(["StartPose", "EndPose"], minimum=10),
    "inbetween/text": _spec(["StartPose", "EndPose"], required=["prompt"], minimum=10),
    "inpaint": _spec(["Before", "After"], optional=["seconds"]),
    "continue": _spec(["Motion"], optional=["seconds"]),
    "knowledge": _spec(required=["concept"]),
    "knowledge/plan": _spec(required=["plan"], minimum=4),
    "anycontext/style": _spec(["SourceMotion", "RefMotion"]),
    "anycontext/trajectory": _spec(["SourceMotion", "RefMotion"]),
    "anycontext/speed": _spec(["SourceMotion", "RefMotion"]),
}
VOCABULARY = ("actions", "styles", "paths", "body_parts", "paces", "pace_errors")
BODY_PART_WORDS = ("legs", "torso", "arms", "left_arm", "right_arm", "upper_body")


class PhrasingError(FormatError):
    """A phrasing or concept file that breaks the rules of :data:`SPEC`."""


def check_template(template: str, spec: Spec, where: str) -> None:
    """Raise :class:`PhrasingError` naming ``where`` if ``template`` does not follow ``spec``."""
    try:
        fields = [(name, fmt, conv) for _, name, fmt, conv in string.Formatter().parse(template) if name is not None]
    except ValueError as e:
        raise PhrasingError(f"{where} {template!r}: broken {{slot}} placeholder ({e}); balance the braces.") from None
    used = set()
    for name, fmt, conv in fields:
        if not name.isidentifier() or fmt or conv:
            raise PhrasingError(
                f"{where} {template!r}: placeholder {{{name}}} must be a plain slot name such as {{action}}."
            )
        if name not in spec.slots:
            allowed = ", ".join(f"{{{s}}}" for s in sorted(spec.slots)) or "none"
            raise PhrasingError(f"{where} {template!r}: unknown slot {{{name}}}; allowed here: {allowed}.")
        used.add(name)
    motions = set(PLACEHOLDER.findall(template))
    if motions != spec.motions:
        want = " and ".join(f"<{m}>" for m in sorted(spec.motions)) or "no motion placeholder"
        raise PhrasingError(f"{where} {template!r}: must mention {want}, found {sorted(motions) or 'none'}.")
    rest = PLACEHOLDER.sub("", template)
    if "<" in rest or ">" in rest:
        raise PhrasingError(f"{where} {template!r}: broken motion placeholder; write it as <Name>.")
    for group in spec.required:
        if not used & group:
            raise PhrasingError(
                f"{where} {template!r}: needs the slot {' or '.join(f'{{{g}}}' for g in sorted(group))}."
            )


def _strings(value, where: str, minimum: int = 1) -> list[str]:
    if not isinstance(value, list) or len(value) < minimum or not all(isinstance(v, str) and v.strip() for v in value):
        raise PhrasingError(f"{where}: must be a list of at least {minimum} non-empty string(s).")
    return value


def _third_to_base(phrase: str) -> str:
    """'walks forward and turns left' -> 'walk forward and turn left': the caption tables are third
    person, instructions need the base form. Converts the first verb of each 'and' clause."""

    def base(clause: str) -> str:
        verb, _, rest = clause.partition(" ")
        verb, comma = (verb[:-1], ",") if verb.endswith(",") else (verb, "")
        if not verb.endswith("s"):
            return clause  # not a verb in the third person ('and to the left')
        irregular = {"does": "do", "says": "say", "goes": "go"}
        stem = irregular.get(verb) or (verb[:-2] if verb.endswith(("ches", "shes", "sses", "xes")) else verb[:-1])
        return f"{stem}{comma} {rest}".strip()

    return " and ".join(base(c) for c in phrase.split(" and "))


class Phrasings:
    """Templates and words, checked. ``say`` fills a random template of a key."""

    def __init__(self, doc: dict, path: str = "phrasings"):
        if not isinstance(doc, dict):
            raise PhrasingError(f"{path}: must be a JSON object with 'templates' and the word tables.")
        templates = doc.get("templates")
        if not isinstance(templates, dict):
            raise PhrasingError(f"{path}: missing the 'templates' object.")
        unknown = sorted(set(templates) - set(SPEC))
        if unknown:
            raise PhrasingError(
                f"{path}: unknown template key {unknown[0]!r}; known keys are listed in phrasings.SPEC."
            )
        for key, spec in SPEC.items():
            items = _strings(templates.get(key), f"{path}: templates['{key}']", spec.minimum)
            for i, t in enumerate(items):
                check_template(t, spec, f"{path}: templates['{key}'][{i}]")
        self.templates: dict[str, list[str]] = templates
        for table in VOCABULARY:
            if not isinstance(doc.get(table), dict):
                raise PhrasingError(f"{path}: missing the '{table}' word table.")
        self._words = self._vocabulary(doc, path)

    @staticmethod
    def _vocabulary(doc: dict, path: str) -> dict[str, dict[str, list[str]]]:
        words: dict[str, dict[str, list[str]]] = {"action": {}, "actions": {}, "adj": {}, "adv": {}}
        for action, third in ACTIONS.items():
            extra = _strings(doc["actions"][action], f"{path}: actions['{action}']") if action in doc["actions"] else []
            words["actions"][action] = list(third)
            words["action"][action] = list(dict.fromkeys([_third_to_base(p) for p in third] + extra))
        for table, known in (("actions", ACTIONS), ("styles", STYLES)):
            stray = sorted(set(doc[table]) - set(known))
            if stray:
                raise PhrasingError(
                    f"{path}: {table}['{stray[0]}'] is not a label of omnimogen.data.captions; fix or add it there."
                )
        for style, (adverbs, adjectives) in STYLES.items():
            extra = doc["styles"].get(style, {})
            if not isinstance(extra, dict):
                raise PhrasingError(f"{path}: styles['{style}'] must be an object with 'adverbs' and 'adjectives'.")
            adv = [a for a in adverbs + extra.get("adverbs", []) if a]
            adj = [a for a in adjectives + extra.get("adjectives", []) if a]
            if not adv or not adj:
                raise PhrasingError(f"{path}: styles['{style}'] needs at least one adverb and one adjective.")
            words["adv"][style], words["adj"][style] = list(dict.fromkeys(adv)), list(dict.fromkeys(adj))
        for table in ("paths", "body_parts"):
            words[table] = {k: _strings(v, f"{path}: {table}['{k}']") for k, v in doc[table].items()}
        missing = sorted(set(BODY_PART_WORDS) - set(words["body_parts"]))
        if missing:
            raise PhrasingError(f"{path}: body_parts needs words for {missing[0]!r}.")
        for table in ("paces", "pace_errors"):
            try:
                words[table] = {
                    _pace_key(float(k)): _strings(v, f"{path}: {table}['{k}']") for k, v in doc[table].items()
                }
            except ValueError:
                raise PhrasingError(f"{path}: the keys of '{table}' must be speed factors such as \"1.5\".") from None
        if set(words["paces"]) != set(words["pace_errors"]):
            raise PhrasingError(f"{path}: 'paces' and 'pace_errors' must have the same speed factors.")
        return words

    # ---- words ---------------------------------------------------------------------------------

    @property
    def speed_factors(self) -> list[float]:
        return sorted(float(k) for k in self._words["paces"])

    def _pick(self, rng: random.Random, table: str, key: str) -> str:
        options = self._words[table].get(key)
        if not options:
            raise PhrasingError(f"no words in the '{table}' table for {key!r}; add them to phrasings.json.")
        return rng.choice(options)

    def action(self, rng: random.Random, action: str) -> str:
        """Base form: 'walk forward'."""
        return self._pick(rng, "action", action)

    def actions(self, rng: random.Random, action: str) -> str:
        """Third person: 'walks forward'."""
        return self._pick(rng, "actions", action)

    def style_adj(self, rng: random.Random, style: str) -> str:
        return self._pick(rng, "adj", style)

    def style(self, rng: random.Random, style: str) -> dict[str, str]:
        """The three style slots, one random choice each."""
        adj = self.style_adj(rng, style)
        article = "an" if adj[0] in "aeiou" else "a"
        return {"style_adj": adj, "style_adv": self._pick(rng, "adv", style), "a_style_adj": f"{article} {adj}"}

    def path(self, rng: random.Random, action: str) -> str:
        return self._pick(rng, "paths", action)

    def has_path(self, action: str) -> bool:
        return action in self._words["paths"]

    def part(self, rng: random.Random, part: str) -> str:
        return self._pick(rng, "body_parts", part)

    def pace(self, rng: random.Random, factor: float) -> str:
        return self._pick(rng, "paces", _pace_key(factor))

    def pace_error(self, rng: random.Random, factor: float) -> str:
        return self._pick(rng, "pace_errors", _pace_key(factor))

    # ---- templates -----------------------------------------------------------------------------

    def say(self, rng: random.Random, key: str, capitalise: bool = True, **slots) -> str:
        """A random template of ``key`` with its slots filled (unused slots are ignored)."""
        text = rng.choice(self.templates[key]).format(**slots)
        return text[0].upper() + text[1:] if capitalise else text


def _pace_key(factor: float) -> str:
    return f"{factor:.2f}".rstrip("0").rstrip(".")


@cache
def default_phrasings() -> Phrasings:
    return load_phrasings(HERE / "phrasings.json")


def load_phrasings(path: str | Path) -> Phrasings:
    """Read and check a phrasing file; errors name the file, the key and the template."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PhrasingError(f"{path}: no such phrasing file.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PhrasingError(f"{path}: not valid JSON ({e}).") from None
    return Phrasings(doc, str(path))


# ---- knowledge concepts ------------------------------------------------------------------------


@dataclass(frozen=True)
class Concept:
    """An everyday request our actions can express ("hail a taxi"), a plan in words, the cells that do it."""

    id: str
    ask: tuple[str, ...]  # base-form requests: "hail a taxi"
    plan: tuple[str, ...]  # sentences
    motions: tuple[tuple[str, str | None], ...]  # (action, style or None: any style)
    heldout: bool = False  # True: only in the val and test splits


@cache
def default_concepts() -> tuple[Concept, ...]:
    return load_concepts(HERE / "concepts.json")


def load_concepts(path: str | Path) -> tuple[Concept, ...]:
    """Read and check a concept table; every action and style must be a known label."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PhrasingError(f"{path}: no such concept file.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PhrasingError(f"{path}: not valid JSON ({e}).") from None
    items = doc.get("concepts") if isinstance(doc, dict) else None
    if not isinstance(items, list) or not items:
        raise PhrasingError(f"{path}: must hold a non-empty 'concepts' list.")
    concepts, seen = [], set()
    for i, c in enumerate(items):
        where = f"{path}: concepts[{i}]"
        if not isinstance(c, dict) or not isinstance(c.get("id"), str) or c["id"] in seen:
            raise PhrasingError(f"{where}: needs a unique string 'id'.")
        seen.add(c["id"])
        motions = []
        for m in c.get("motions") or [None]:
            if not isinstance(m, dict) or m.get("action") not in ACTIONS or m.get("style", None) not in (None, *STYLES):
                raise PhrasingError(
                    f"{where} ({c['id']}): every motion needs a known 'action' and an optional known 'style'."
                )
            motions.append((m["action"], m.get("style")))
        for text in _strings(c.get("ask"), f"{where}.ask"):
            check_template(text, _spec(), f"{where}.ask")
        concepts.append(Concept(c["id"], tuple(c["ask"]), tuple(_strings(c.get("plan"), f"{where}.plan")),
                                tuple(motions), bool(c.get("heldout", False))))  # fmt: skip
    return tuple(concepts)
