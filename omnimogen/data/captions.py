"""Captions written from action and style labels, with varied phrasings, and left/right mirroring.

The Bandai corpus has labels, no free text. Captions combine a verb phrase for the action with an
adverb or adjective for the style through a template; a clip gets several distinct captions, drawn
deterministically from its id. The tables are data: extend them for a new corpus.
"""

from __future__ import annotations

import hashlib
import random
import re

# Verb phrases in the third person (a person ...).
ACTIONS: dict[str, list[str]] = {
    "walk": [
        "walks forward",
        "walks ahead",
        "walks straight forward",
        "strolls forward",
        "moves forward on foot",
    ],
    "walk-back": [
        "walks backward",
        "walks backwards",
        "steps back several times",
        "retreats, walking backwards",
    ],
    # Measured on the clips: the actor walks 15-60 degrees left (right) of the initial facing.
    "walk-left": [
        "walks diagonally forward to the left",
        "walks off toward the left",
        "heads forward and to the left",
    ],
    "walk-right": [
        "walks diagonally forward to the right",
        "walks off toward the right",
        "heads forward and to the right",
    ],
    "walk-turn-left": [
        "walks forward and turns left",
        "walks and makes a left turn",
        "turns to the left while walking",
    ],
    "walk-turn-right": [
        "walks forward and turns right",
        "walks and makes a right turn",
        "turns to the right while walking",
    ],
    "run": ["runs forward", "jogs forward", "runs ahead"],
    "dash": ["sprints forward", "dashes ahead", "runs forward at full speed"],
    "bow": ["bows", "takes a bow", "bends forward in a bow"],
    "bye": ["waves goodbye", "waves a hand to say bye", "says goodbye with a wave"],
    "byebye": ["waves bye-bye", "waves goodbye again and again", "waves farewell"],
    "guide": ["shows someone the way", "gestures to guide someone", "points the way for someone"],
    "respond": ["responds to someone", "answers someone with a gesture", "reacts to being called"],
    "call": ["calls out to someone", "calls someone over", "beckons someone to come"],
    "punch": ["throws a punch", "punches", "strikes with a fist"],
    "kick": ["kicks", "throws a kick", "kicks with one leg"],
    "slash": ["slashes with a sword", "swings a blade", "makes a slashing attack"],
    "dance-short": ["dances", "does a short dance", "dances for a moment"],
    "dance-long": ["dances", "performs a long dance", "keeps dancing"],
    "wave-both-hands": ["waves both hands", "waves with both hands", "waves both arms overhead"],
    "wave-left-hand": ["waves the left hand", "waves with the left hand", "waves their left hand"],
    "wave-right-hand": ["waves the right hand", "waves with the right hand", "waves their right hand"],
    "raise-up-both-hands": ["raises both hands", "lifts both hands up", "puts both hands up"],
    "raise-up-left-hand": ["raises the left hand", "lifts the left hand up", "puts the left hand up"],
    "raise-up-right-hand": ["raises the right hand", "lifts the right hand up", "puts the right hand up"],
}

# For each style: adverbial phrases (how) and adjectives (what kind of person). "" means unmarked.
STYLES: dict[str, tuple[list[str], list[str]]] = {
    "normal": (["", "normally", "in an ordinary way"], ["", ""]),
    "happy": (["happily", "cheerfully", "joyfully"], ["happy", "cheerful", "joyful"]),
    "sad": (["sadly", "gloomily", "in a sad way"], ["sad", "gloomy", "sorrowful"]),
    "angry": (["angrily", "furiously", "in an angry way"], ["angry", "furious", "annoyed"]),
    "proud": (["proudly", "with pride", "in a proud manner"], ["proud", "self-assured"]),
    "not-confident": (["timidly", "hesitantly", "without confidence"], ["timid", "unconfident", "insecure"]),
    "masculinity": (["in a masculine way", "in a macho manner"], ["masculine", "macho"]),
    "masculine": (["in a masculine way", "in a manly manner"], ["masculine", "manly"]),
    "feminine": (["in a feminine way", "femininely"], ["feminine", "ladylike"]),
    "childish": (["childishly", "like a child", "in a childish way"], ["childish", "childlike"]),
    "youthful": (["youthfully", "in a youthful way", "like a young person"], ["youthful", "young"]),
    "old": (
        ["like an old person", "in an elderly way", "slowly like an old person"],
        ["old", "elderly", "aged"],
    ),
    "elderly": (
        ["like an elderly person", "in an elderly way", "like an old person"],
        ["elderly", "old", "aged"],
    ),
    "tired": (["tiredly", "wearily", "in a tired way"], ["tired", "weary", "worn-out"]),
    "exhausted": (
        ["in an exhausted way", "wearily", "with exhaustion"],
        ["exhausted", "worn-out", "drained"],
    ),
    "active": (["energetically", "actively", "vigorously"], ["energetic", "active", "lively"]),
    "musical": (["theatrically", "like in a musical", "with musical flair"], ["theatrical", "showy"]),
    "giant": (["like a giant", "with huge heavy movements", "like a lumbering giant"], ["giant", "hulking"]),
    "chimpira": (
        ["like a street thug", "with a thuggish swagger", "like a hoodlum"],
        ["thuggish", "delinquent"],
    ),
}

SUBJECTS = ["a person", "someone", "the person", "a human", "a figure"]
TEMPLATES = [
    "{subject} {action} {adverb}",
    "{subject} {action} {adverb}",
    "{adj_subject} {action}",
    "{adverb_front}, {subject} {action}",
    "{subject} {action}, {adverb}",
]

_SWAPS = {"left": "right", "right": "left", "clockwise": "counterclockwise", "counterclockwise": "clockwise"}
_SWAP_RE = re.compile(r"\b(left|right|counterclockwise|clockwise)\b", re.IGNORECASE)


def mirror_text(text: str) -> str:
    """Swap left and right (and the sense of rotation), keeping capitalisation."""

    def swap(m: re.Match) -> str:
        word = _SWAPS[m.group(0).lower()]
        return word.capitalize() if m.group(0)[0].isupper() else word

    return _SWAP_RE.sub(swap, text)


def mirror_label(action: str) -> str:
    """The action label of the mirrored motion ('walk-turn-left' -> 'walk-turn-right')."""
    return mirror_text(action)


def _article(adjective: str) -> str:
    return "an" if adjective[:1] in "aeiou" else "a"


def _compose(template: str, action: str, adverb: str, adjective: str, subject: str) -> str | None:
    if "{adj_subject}" in template:
        if not adjective:
            return None
        text = template.format(adj_subject=f"{_article(adjective)} {adjective} person", action=action)
    elif "{adverb_front}" in template:
        if not adverb:
            return None
        text = template.format(adverb_front=adverb[0].upper() + adverb[1:], subject=subject, action=action)
    else:
        if "{adverb}" in template and "," in template and not adverb:
            return None
        text = template.format(subject=subject, action=action, adverb=adverb)
    text = re.sub(r"\s+", " ", text).strip(" ,")
    return text[0].upper() + text[1:] + "." if text else None


def captions_for(action: str, style: str, n: int, key: str) -> list[str]:
    """``n`` distinct captions for a clip, chosen deterministically from ``key`` (the clip id)."""
    if action not in ACTIONS:
        raise KeyError(f"no phrasings for action {action!r}; add it to omnimogen.data.captions.ACTIONS")
    if style not in STYLES:
        raise KeyError(f"no phrasings for style {style!r}; add it to omnimogen.data.captions.STYLES")
    adverbs, adjectives = STYLES[style]
    options = sorted(
        {
            c
            for t in TEMPLATES
            for a in ACTIONS[action]
            for adv in adverbs
            for adj in adjectives
            for s in SUBJECTS
            if (c := _compose(t, a, adv, adj, s))
        }
    )
    rng = random.Random(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))
    return rng.sample(options, min(n, len(options)))
