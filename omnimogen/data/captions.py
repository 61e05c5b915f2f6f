"""Captions written from action and style labels, with varied phrasings, and left/right mirroring.

The Bandai corpus has labels, no free text. Captions combine a verb phrase for the action with an
adverb or adjective for the style through a template; a clip gets several distinct captions, drawn
deterministically from its id. The tables are data: extend them for a new corpus.
"""

from __future__ import annotations

import functools
import hashlib
import random
import re

# Verb phrases in the third person (a person ...). Every third-person verb opens the phrase or
# follows " and " (the instruction words are derived from these by omnimogen.instructions.phrasings).
ACTIONS: dict[str, list[str]] = {
    "walk": [
        "walks forward",
        "walks ahead",
        "walks straight forward",
        "strolls forward",
        "moves forward on foot",
        "walks along",
        "walks in a straight line",
        "takes a few steps forward",
        "ambles forward",
        "goes for a walk",
        "heads straight ahead on foot",
        "walks on ahead",
        "walks forward at a normal pace",
    ],
    "walk-back": [
        "walks backward",
        "walks backwards",
        "steps back several times",
        "retreats, walking backwards",
        "backs up",
        "backs away step by step",
        "walks in reverse",
        "takes several steps backward",
        "moves backward",
        "backpedals",
        "steps backward",
        "reverses, walking backward",
        "retreats step by step",
    ],
    # Measured on the clips: the actor walks 15-60 degrees left (right) of the initial facing.
    # The two lists are mirror images of each other, in the same order.
    "walk-left": [
        "walks diagonally forward to the left",
        "walks off toward the left",
        "heads forward and to the left",
        "walks forward veering left",
        "walks off at an angle to the left",
        "drifts left while walking forward",
        "walks forward, bearing to the left",
        "veers off to the left while walking",
        "walks diagonally left",
        "walks ahead at a slant to the left",
        "angles off to the left on foot",
        "walks forward and slightly to the left",
    ],
    "walk-right": [
        "walks diagonally forward to the right",
        "walks off toward the right",
        "heads forward and to the right",
        "walks forward veering right",
        "walks off at an angle to the right",
        "drifts right while walking forward",
        "walks forward, bearing to the right",
        "veers off to the right while walking",
        "walks diagonally right",
        "walks ahead at a slant to the right",
        "angles off to the right on foot",
        "walks forward and slightly to the right",
    ],
    "walk-turn-left": [
        "walks forward and turns left",
        "walks and makes a left turn",
        "turns to the left while walking",
        "walks and turns to the left",
        "walks and heads left around a corner",
        "walks and swings round to the left",
        "walks forward and turns the corner to the left",
        "turns left partway through a walk",
        "walks and curves around to the left",
        "walks ahead and changes direction to the left",
        "takes a left turn while walking",
        "rounds a corner to the left while walking",
    ],
    "walk-turn-right": [
        "walks forward and turns right",
        "walks and makes a right turn",
        "turns to the right while walking",
        "walks and turns to the right",
        "walks and heads right around a corner",
        "walks and swings round to the right",
        "walks forward and turns the corner to the right",
        "turns right partway through a walk",
        "walks and curves around to the right",
        "walks ahead and changes direction to the right",
        "takes a right turn while walking",
        "rounds a corner to the right while walking",
    ],
    "run": [
        "runs forward",
        "jogs forward",
        "runs ahead",
        "runs straight ahead",
        "jogs along",
        "goes for a run",
        "breaks into a run",
        "moves forward at a run",
        "runs along at a steady pace",
        "runs in a hurry",
        "jogs ahead",
    ],
    "dash": [
        "sprints forward",
        "dashes ahead",
        "runs forward at full speed",
        "dashes forward",
        "races forward",
        "runs as fast as possible",
        "bolts forward",
        "makes a quick dash",
        "sprints ahead at top speed",
        "rushes forward at a sprint",
        "charges ahead at full tilt",
    ],
    "bow": [
        "bows",
        "takes a bow",
        "bends forward in a bow",
        "bends at the waist in a bow",
        "bows politely",
        "gives a respectful bow",
        "bows deeply",
        "dips forward in a quick bow",
        "bows low",
        "makes a polite bow",
        "bows with respect",
        "gives a bow",
    ],
    "bye": [
        "waves goodbye",
        "waves a hand to say bye",
        "says goodbye with a wave",
        "waves bye",
        "gives a goodbye wave",
        "waves a quick goodbye",
        "raises a hand to say goodbye",
        "gives a little wave goodbye",
        "bids farewell with a wave",
        "says bye with a wave of the hand",
    ],
    "byebye": [
        "waves bye-bye",
        "waves goodbye again and again",
        "waves farewell",
        "waves goodbye over and over",
        "keeps waving goodbye",
        "waves bye-bye several times",
        "gives a long goodbye wave",
        "waves a hand back and forth to say goodbye",
        "waves farewell repeatedly",
        "says bye-bye with lots of waving",
    ],
    "guide": [
        "shows someone the way",
        "gestures to guide someone",
        "points the way for someone",
        "shows the way with a hand",
        "guides someone with a sweep of the hand",
        "directs someone with a hand gesture",
        "gestures to show where to go",
        "points out the direction to go",
        "motions someone to go this way",
        "leads the way with an open hand",
        "indicates the way with the hand",
        "ushers someone along with a gesture",
    ],
    "respond": [
        "responds to someone",
        "answers someone with a gesture",
        "reacts to being called",
        "responds when called",
        "answers a call with a short gesture",
        "turns and answers someone who called",
        "acknowledges someone calling",
        "gives a quick gesture in reply",
        "reacts with a short gesture when called",
        "signals back to someone",
        "answers back with a gesture",
    ],
    "call": [
        "calls out to someone",
        "calls someone over",
        "beckons someone to come",
        "beckons someone over",
        "waves someone over",
        "calls to someone to come closer",
        "signals someone to come over",
        "gestures for someone to come",
        "motions someone closer",
        "calls someone to come here",
        "summons someone with a wave",
        "beckons with a hand",
    ],
    "punch": [
        "throws a punch",
        "punches",
        "strikes with a fist",
        "punches the air",
        "throws a jab",
        "jabs forward with a fist",
        "swings a fist",
        "throws a hook",
        "punches forward",
        "hits out with a fist",
        "throws a straight punch",
        "boxes at the air",
    ],
    "kick": [
        "kicks",
        "throws a kick",
        "kicks with one leg",
        "kicks out with a leg",
        "kicks the air",
        "does a front kick",
        "kicks forward",
        "lashes out with a kick",
        "delivers a kick",
        "swings a leg in a kick",
        "does a kick",
    ],
    "slash": [
        "slashes with a sword",
        "swings a blade",
        "makes a slashing attack",
        "swings a sword",
        "slashes through the air",
        "chops with a blade",
        "cuts through the air with a sword",
        "strikes with a sword",
        "hacks with a blade",
        "slices with a sword",
        "does a sword swing",
    ],
    "dance-short": [
        "dances",
        "does a short dance",
        "dances for a moment",
        "does a quick dance",
        "busts a few dance moves",
        "dances a few steps",
        "does a little dance",
        "breaks into a short dance",
        "shows off a few dance moves",
        "grooves for a few seconds",
        "performs a brief dance",
    ],
    "dance-long": [
        "dances",
        "performs a long dance",
        "keeps dancing",
        "dances for a long time",
        "does a long dance routine",
        "dances on and on",
        "goes through a full dance routine",
        "dances nonstop for a while",
        "performs an extended dance",
        "keeps on dancing for a long while",
        "dances a whole routine",
    ],
    "wave-both-hands": [
        "waves both hands",
        "waves with both hands",
        "waves both arms overhead",
        "waves with both arms",
        "waves both hands in the air",
        "waves both hands high",
        "waves both arms back and forth",
        "waves with both hands at once",
        "gives a big two-handed wave",
        "waves with both hands above the head",
        "raises both hands and waves",
    ],
    "wave-left-hand": [
        "waves the left hand",
        "waves with the left hand",
        "waves their left hand",
        "gives a wave with the left hand",
        "waves the left hand in the air",
        "raises the left hand and waves",
        "waves using the left hand",
        "waves with the left arm",
        "waves the left hand back and forth",
        "does a one-handed wave with the left hand",
        "waves hello with the left hand",
        "lifts the left hand and waves it",
    ],
    "wave-right-hand": [
        "waves the right hand",
        "waves with the right hand",
        "waves their right hand",
        "gives a wave with the right hand",
        "waves the right hand in the air",
        "raises the right hand and waves",
        "waves using the right hand",
        "waves with the right arm",
        "waves the right hand back and forth",
        "does a one-handed wave with the right hand",
        "waves hello with the right hand",
        "lifts the right hand and waves it",
    ],
    "raise-up-both-hands": [
        "raises both hands",
        "lifts both hands up",
        "puts both hands up",
        "raises both arms",
        "puts both arms up in the air",
        "lifts both arms overhead",
        "holds both hands up",
        "throws both hands in the air",
        "raises both hands high",
        "reaches up with both hands",
        "stretches both arms up",
    ],
    "raise-up-left-hand": [
        "raises the left hand",
        "lifts the left hand up",
        "puts the left hand up",
        "raises the left arm",
        "puts the left arm up",
        "holds the left hand up",
        "lifts the left arm into the air",
        "raises the left hand high",
        "sticks the left hand up",
        "reaches up with the left hand",
        "puts up the left hand",
    ],
    "raise-up-right-hand": [
        "raises the right hand",
        "lifts the right hand up",
        "puts the right hand up",
        "raises the right arm",
        "puts the right arm up",
        "holds the right hand up",
        "lifts the right arm into the air",
        "raises the right hand high",
        "sticks the right hand up",
        "reaches up with the right hand",
        "puts up the right hand",
    ],
}

# For each style: adverbial phrases (how: "a person walks forward ___") and adjectives (what kind of
# person: "a ___ person"). "" means unmarked.
STYLES: dict[str, tuple[list[str], list[str]]] = {
    "normal": (["", "normally", "in an ordinary way"], ["", ""]),
    "happy": (
        ["happily", "cheerfully", "joyfully", "gleefully", "merrily", "in high spirits", "with delight",
         "in a cheerful mood", "with a spring in the step"],
        ["happy", "cheerful", "joyful", "glad", "delighted", "jolly", "merry", "upbeat"],
    ),
    "sad": (
        ["sadly", "gloomily", "in a sad way", "miserably", "unhappily", "mournfully", "glumly",
         "with a heavy heart", "feeling down"],
        ["sad", "gloomy", "sorrowful", "unhappy", "miserable", "downcast", "downhearted", "glum", "depressed"],
    ),
    "angry": (
        ["angrily", "furiously", "in an angry way", "irritably", "crossly", "in a rage", "in a huff",
         "in a fit of anger", "fuming"],
        ["angry", "furious", "annoyed", "mad", "irritated", "cross", "enraged", "irate"],
    ),
    "proud": (
        ["proudly", "with pride", "in a proud manner", "confidently", "with the chest out",
         "with the head held high", "self-assuredly", "boldly", "with confidence"],
        ["proud", "self-assured", "confident", "dignified", "assured", "bold", "haughty"],
    ),
    "not-confident": (
        ["timidly", "hesitantly", "without confidence", "shyly", "nervously", "awkwardly", "meekly",
         "uncertainly", "self-consciously"],
        ["timid", "unconfident", "insecure", "shy", "nervous", "awkward", "unsure", "hesitant", "meek"],
    ),
    "masculinity": (
        ["in a masculine way", "in a macho manner", "like a tough guy", "in a manly way", "ruggedly",
         "with a macho swagger", "with a tough-guy attitude"],
        ["masculine", "macho", "manly", "tough", "rugged", "burly"],
    ),
    "masculine": (
        ["in a masculine way", "in a manly manner", "in a macho way", "like a tough guy", "ruggedly",
         "with manly confidence", "like a macho man"],
        ["masculine", "manly", "macho", "tough", "rugged", "brawny"],
    ),
    "feminine": (
        ["in a feminine way", "femininely", "gracefully", "elegantly", "daintily", "in a ladylike manner",
         "delicately", "with feminine grace"],
        ["feminine", "ladylike", "graceful", "elegant", "dainty", "girly"],
    ),
    "childish": (
        ["childishly", "like a child", "in a childish way", "like a little kid", "playfully",
         "like a small child", "in a kid-like way", "with childlike glee"],
        ["childish", "childlike", "playful", "immature", "kid-like", "silly"],
    ),
    "youthful": (
        ["youthfully", "in a youthful way", "like a young person", "with youthful energy", "spryly",
         "with a youthful bounce", "like a teenager", "in a young, lively way"],
        ["youthful", "young", "sprightly", "spry", "young-looking", "juvenile"],
    ),
    "old": (
        ["like an old person", "in an elderly way", "slowly like an old person", "stiffly",
         "slowly like an old man", "with stiff old joints", "shakily", "feebly", "like a senior citizen"],
        ["old", "elderly", "aged", "frail", "stiff", "senior", "feeble", "doddering"],
    ),
    "elderly": (
        ["like an elderly person", "in an elderly way", "like an old person", "stiffly", "feebly",
         "slowly like an old man", "with stiff joints", "like a grandparent", "shakily"],
        ["elderly", "old", "aged", "frail", "senior", "feeble", "stooped"],
    ),
    "tired": (
        ["tiredly", "wearily", "in a tired way", "sluggishly", "dragging their feet", "drowsily",
         "half-asleep", "sleepily", "lethargically", "without much energy"],
        ["tired", "weary", "worn-out", "sleepy", "drained", "drowsy", "sluggish", "fatigued", "lethargic"],
    ),
    "exhausted": (
        ["in an exhausted way", "wearily", "with exhaustion", "completely worn out", "out of breath",
         "breathlessly", "on the verge of collapse", "barely able to keep going", "as if completely drained"],
        ["exhausted", "worn-out", "drained", "spent", "breathless", "wiped-out", "burnt-out", "bone-tired"],
    ),
    "active": (
        ["energetically", "actively", "vigorously", "in a lively way", "with lots of energy", "bouncily",
         "briskly", "full of energy", "with pep"],
        ["energetic", "active", "lively", "bouncy", "peppy", "vigorous", "spirited", "dynamic"],
    ),
    "musical": (
        ["theatrically", "like in a musical", "with musical flair", "like a Broadway dancer",
         "like a stage performer", "dramatically", "with showbiz flair", "as if on a stage"],
        ["theatrical", "showy", "dramatic", "flamboyant", "stagy", "expressive", "over-the-top"],
    ),
    "giant": (
        ["like a giant", "with huge heavy movements", "like a lumbering giant", "heavily", "ponderously",
         "like an ogre", "with heavy, plodding steps", "like a hulking brute", "in a heavy, lumbering way"],
        ["giant", "hulking", "lumbering", "heavy-footed", "ponderous", "huge", "massive", "ogre-like"],
    ),
    "chimpira": (
        ["like a street thug", "with a thuggish swagger", "like a hoodlum", "with a swagger", "cockily",
         "like a gangster", "like a punk", "with a strut", "like a delinquent", "like a bully"],
        ["thuggish", "delinquent", "swaggering", "cocky", "punkish", "gangster-like", "thug-like", "strutting"],
    ),
}

SUBJECTS = [
    "a person",
    "someone",
    "the person",
    "a human",
    "a figure",
    "a man",
    "a woman",
    "he",
    "she",
    "a guy",
    "somebody",
    "the character",
    "a character",
    "the actor",
]
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
    options = _options(action, style)
    rng = random.Random(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))
    return rng.sample(options, min(n, len(options)))


@functools.cache
def _options(action: str, style: str) -> list[str]:
    """Every caption the tables can write for (action, style), sorted: built once per pair, because
    a corpus build asks for thousands of clips' captions."""
    adverbs, adjectives = STYLES[style]
    return sorted(
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


def label_words(label: str) -> list[str]:
    """The words a caption of this label should contain, for checking one: 'raise-up-left-hand' ->
    ['left', 'hand'] (the verbs and fillers that the phrasings vary are left out)."""
    generic = {"up", "raise", "normal", "a", "the"}
    return [w for w in label.replace("_", "-").split("-") if w and w not in generic]


def names_label(caption: str, label: str) -> bool:
    """Whether ``caption`` has every one of ``label_words(label)`` (a label without any: True)."""
    return all(w in caption.lower() for w in label_words(label))
