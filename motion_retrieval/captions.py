"""Captions for the Bandai-Namco corpus, generated from its (content, style) labels.

The corpus has no sentences, only labels. Each content has at least five verb phrases written
the way HumanML3D annotators write ("walks forward", "waves with the left hand"); each style
has subjects, adverbs and manner phrases ("an elderly person", "wearily", "like a giant").
A clip gets three different captions, chosen by a hash of its id, so a re-run writes the same
text. Left and right come only from the content label: a phrase never names a side the label
does not, and style words never name one at all. "byebye" counts as "both": in every take
both hands wave, unlike "bye".
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from .errors import MotionFormatError

CAPTIONS_PER_CLIP = 3  # as in HumanML3D

_LEGS = ("global", "pelvis", "r_hip", "l_hip", "r_knee", "l_knee", "r_ankle", "l_ankle")
_ARM = {"left": ("l_shoulder", "l_elbow"), "right": ("r_shoulder", "r_elbow")}
_ARMS = _ARM["right"] + _ARM["left"]
_ALL = _LEGS + ("lumbar", "neck") + _ARMS


@dataclass(frozen=True)
class Content:
    phrases: tuple[str, ...]  # verb phrases, third person; "{side}" is filled from the label
    parts: tuple[str, ...]  # body parts the action is about (skeleton.BODY_PARTS names)
    side: str | None = None  # "left", "right", "both" or None


def _sided(side: str, phrases: tuple[str, ...], parts: tuple[str, ...]) -> Content:
    return Content(tuple(p.replace("{side}", side) for p in phrases), parts, side)


_WAVE_ONE = ("waves the {side} hand", "waves with the {side} hand",
             "raises the {side} hand and waves", "waves hello with the {side} hand",
             "gives a wave with the {side} hand", "waves the {side} arm from side to side")
_RAISE_ONE = ("raises the {side} hand", "lifts the {side} arm up", "puts the {side} hand up",
              "raises the {side} arm above the head", "reaches up with the {side} hand",
              "lifts the {side} hand into the air")
_TURN = ("walks forward and turns {side}", "walks and then turns to the {side}",
         "turns {side} while walking", "walks in a curve to the {side}",
         "makes a {side} turn while walking", "walks ahead, then veers to the {side}")
# Bandai's walk-left/right: the body keeps facing forward while the path heads off diagonally
# (15-60 degrees) to that side, so "turns" would be wrong and "sideways" only half right.
_DRIFT = ("walks to the {side}", "walks diagonally to the {side}",
          "walks forward and to the {side}", "moves toward the front {side}",
          "walks off to the {side} while facing forward", "drifts to the {side} while walking")

CONTENTS: dict[str, Content] = {
    "walk": Content(("walks forward", "walks straight ahead", "takes several steps forward",
                     "walks in a straight line", "walks ahead",
                     "moves forward on foot"), _LEGS),
    "run": Content(("runs forward", "jogs forward", "runs straight ahead", "breaks into a run",
                    "runs in a straight line", "runs ahead"), _LEGS),
    "dash": Content(("sprints forward", "dashes forward", "dashes straight ahead",
                     "makes a quick dash ahead", "sprints in a straight line",
                     "bursts into a sprint"), _LEGS),
    "walk-back": Content(("walks backward", "walks backwards", "takes several steps backward",
                          "steps back a few times", "moves backward while facing forward",
                          "backs away step by step"), _LEGS),
    "walk-left": _sided("left", _DRIFT, _LEGS),
    "walk-right": _sided("right", _DRIFT, _LEGS),
    "walk-turn-left": _sided("left", _TURN, _LEGS),
    "walk-turn-right": _sided("right", _TURN, _LEGS),
    "wave-left-hand": _sided("left", _WAVE_ONE, _ARM["left"]),
    "wave-right-hand": _sided("right", _WAVE_ONE, _ARM["right"]),
    "wave-both-hands": Content(("waves both hands", "waves with both hands",
                                "raises both arms and waves them", "waves both arms overhead",
                                "waves hello with both hands", "gives a big wave with both arms"),
                               _ARMS, "both"),
    "raise-up-left-hand": _sided("left", _RAISE_ONE, _ARM["left"]),
    "raise-up-right-hand": _sided("right", _RAISE_ONE, _ARM["right"]),
    "raise-up-both-hands": Content(("raises both hands", "lifts both arms up",
                                    "puts both hands up", "raises both arms above the head",
                                    "reaches up with both hands",
                                    "lifts both hands into the air"), _ARMS, "both"),
    "bow": Content(("bows", "takes a bow", "bows forward from the waist",
                    "bends forward in a bow", "gives a bow", "bows the head and upper body"),
                   ("lumbar", "neck", "pelvis")),
    # bye, guide and respond use one hand (right, right, left in every take; checked on the
    # data), byebye and call both: the phrases say "a hand" / "both hands" accordingly.
    "bye": Content(("waves goodbye with one hand", "raises a hand and waves goodbye",
                    "says goodbye with a wave of the hand", "waves bye with one hand",
                    "gives a one-handed goodbye wave", "waves farewell with a single hand"),
                   _ARM["right"]),
    "byebye": Content(("waves goodbye with both hands", "waves both hands to say goodbye",
                       "says bye-bye waving both arms", "raises both hands and waves goodbye",
                       "waves farewell with both hands",
                       "gives a goodbye wave with both hands"), _ARMS, "both"),
    "guide": Content(("gestures to show the way", "points the way with an arm",
                      "shows someone the way with a sweep of the arm",
                      "extends an arm to direct someone", "guides someone with a hand gesture",
                      "motions with an open hand to lead the way"), _ARM["right"] + ("lumbar",)),
    "respond": Content(("raises a hand to respond", "puts a hand up to answer",
                        "answers by raising a hand", "lifts a hand high in reply",
                        "responds with a raised hand", "raises a hand as if answering a call"),
                       _ARM["left"]),
    "call": Content(("calls someone over", "beckons someone to come closer",
                     "calls out to someone", "waves someone over",
                     "gestures for someone to come", "calls to someone from a distance"),
                    _ARMS + ("neck",)),
    "punch": Content(("throws a punch", "punches forward", "punches the air",
                      "strikes forward with a fist", "does a punching motion",
                      "throws a few punches"), _ARMS + ("lumbar",)),
    "kick": Content(("kicks", "kicks forward", "does a kick", "kicks out with one leg",
                     "lifts a leg and kicks", "kicks the air in front"), _LEGS),
    "slash": Content(("slashes with a sword", "swings a sword in a slash",
                      "makes a slashing motion", "slashes as if holding a blade",
                      "cuts through the air with a sword", "swings an imaginary sword"),
                     _ARMS + ("lumbar",)),
    "dance-short": Content(("dances", "does a short dance", "dances to music",
                            "performs a short dance routine", "dances in place",
                            "moves rhythmically to a beat"), _ALL),
    "dance-long": Content(("dances", "does a long dance", "dances to music",
                           "performs a dance routine", "dances for a while",
                           "moves rhythmically to a beat"), _ALL),
}


@dataclass(frozen=True)
class Style:
    subjects: tuple[str, ...]  # "an elderly person"
    adverbs: tuple[str, ...]  # "slowly"
    manners: tuple[str, ...]  # "like an old person"


_PLAIN_SUBJECTS = ("a person", "someone", "the person", "a man", "a figure")

STYLES: dict[str, Style] = {
    "normal": Style((), ("casually", "calmly"), ("in an ordinary way", "in a relaxed way")),
    "happy": Style(("a happy person", "a cheerful person"), ("happily", "cheerfully", "joyfully"),
                   ("in a cheerful mood", "with a happy bounce")),
    "sad": Style(("a sad person", "a downcast person"), ("sadly", "gloomily", "dejectedly"),
                 ("with a sad, slumped posture", "looking dejected")),
    "angry": Style(("an angry person", "a furious person"), ("angrily", "furiously"),
                   ("in an angry way", "with an angry attitude")),
    "proud": Style(("a proud person", "a confident person"), ("proudly", "confidently"),
                   ("with the chest puffed out", "in a proud manner")),
    "not-confident": Style(("a timid person", "an unsure person", "a shy person"),
                           ("timidly", "hesitantly", "nervously"),
                           ("without confidence", "in an unsure way")),
    "masculinity": Style(("a masculine person", "a macho person"), ("boldly", "firmly"),
                         ("in a masculine manner", "in a manly way")),
    "feminine": Style(("a feminine person", "a graceful person"), ("gracefully", "daintily"),
                      ("in a feminine manner", "in a feminine way")),
    "childish": Style(("a child", "a little kid", "a childlike person"),
                      ("playfully", "childishly"), ("like a child", "like a small kid")),
    "old": Style(("an elderly person", "an old person", "a senior"),
                 ("slowly", "stiffly", "feebly"),
                 ("like an old person", "with the stiffness of old age")),
    "tired": Style(("a tired person", "a worn-out person"), ("wearily", "tiredly", "sluggishly"),
                   ("as if exhausted", "dragging with fatigue")),
    "active": Style(("an energetic person", "a lively person"),
                    ("energetically", "briskly", "vigorously"),
                    ("full of energy", "with lots of energy")),
    "musical": Style(("a stage performer", "a theatrical performer"),
                     ("theatrically", "rhythmically"),
                     ("as if in a musical", "with a showy, musical flair")),
    "giant": Style(("a giant", "a huge, heavy giant"), ("heavily", "ponderously"),
                   ("like a giant", "with heavy, giant-like movements")),
    "chimpira": Style(("a thug", "a street punk", "a hoodlum"), ("menacingly", "cockily"),
                      ("like a thug", "with a thuggish swagger")),
    "youthful": Style(("a young person", "a youthful person", "a teenager"),
                      ("lightly", "youthfully"), ("in a youthful way", "with youthful energy")),
}
STYLES["masculine"] = STYLES["masculinity"]  # dataset-2 spells it this way
STYLES["elderly"] = STYLES["old"]
STYLES["exhausted"] = Style(("an exhausted person", "a worn-out person"),
                            ("wearily", "sluggishly", "tiredly"),
                            ("as if completely exhausted", "with heavy fatigue"))
STYLES["children"] = STYLES["childish"]  # the dataset README's spelling

SIDE_WORDS = re.compile(r"\b(left|right)\b", re.IGNORECASE)
_SIDE_NOUN = re.compile(r"\b(left|right|both) (hand|arm|hands|arms)\b")


@dataclass(frozen=True)
class Caption:
    text: str
    phrases: tuple[dict, ...] = field(default=())  # {"span", "text", "parts"}; no frames yet

    def grounding(self, n_frames: int) -> list[dict]:
        """The phrases in grounding.json form, each over the whole clip."""
        return [{**p, "span": list(p["span"]), "parts": list(p["parts"]),
                 "frames": [0, int(n_frames)]} for p in self.phrases]


def side_of(content: str) -> str | None:
    """"left", "right", "both" or None for a Bandai content label."""
    return _content(content).side


def _content(content: str) -> Content:
    try:
        return CONTENTS[content]
    except KeyError:
        raise MotionFormatError(f"no caption templates for Bandai content {content!r} "
                                f"(known: {', '.join(sorted(CONTENTS))})") from None


def _style(style: str) -> Style:
    try:
        return STYLES[style]
    except KeyError:
        raise MotionFormatError(f"no caption words for Bandai style {style!r} "
                                f"(known: {', '.join(sorted(STYLES))})") from None


def _pick(key: str, tag: str, n: int) -> int:
    # sha256, not hash() or random: stable across processes and Python versions
    return int(hashlib.sha256(f"{key}|{tag}".encode()).hexdigest()[:12], 16) % n


def _order(key: str, tag: str, n: int) -> list[int]:
    return sorted(range(n), key=lambda i: hashlib.sha256(f"{key}|{tag}|{i}".encode()).digest())


def _side_parts(words: str) -> tuple[str, ...]:
    side = words.split()[0]
    return _ARMS if side == "both" else _ARM[side]


def _build(subject: str, before: str, verb: str, after: str, parts: tuple[str, ...]) -> Caption:
    text, spans = subject + " ", []
    if before:
        text += before + " "
    start = len(text)
    text += verb
    spans.append({"span": (start, len(text)), "text": verb, "parts": tuple(parts)})
    if after:
        text += " " + after
    for m in _SIDE_NOUN.finditer(verb):
        c0 = start + m.start()
        spans.append({"span": (c0, c0 + len(m.group(0))), "text": m.group(0),
                      "parts": _side_parts(m.group(0))})
    return Caption(text, tuple(spans))


def generate_captions(content: str, style: str, key: str,
                      n: int = CAPTIONS_PER_CLIP) -> list[Caption]:
    """n different captions for one clip; the same key (the clip id) gives the same captions."""
    c, s = _content(content), _style(style)
    verbs = [c.phrases[i] for i in _order(key, "verb", len(c.phrases))]
    plain = s is STYLES["normal"]
    # Ways to say the style: in the subject, as an adverb before or after, as a manner phrase.
    forms = ["plain", "adverb", "manner", "plain"] if plain else \
        ["subject", "adverb", "manner", "subject+adverb", "adverb_after"]
    forms = [forms[i] for i in _order(key, "form", len(forms))]
    out: list[Caption] = []
    for k in range(n):
        verb, form = verbs[k % len(verbs)], forms[k % len(forms)]
        subj = _PLAIN_SUBJECTS[_pick(key, f"subj{k}", len(_PLAIN_SUBJECTS))]
        adv = s.adverbs[_pick(key, f"adv{k}", len(s.adverbs))]
        manner = s.manners[_pick(key, f"manner{k}", len(s.manners))]
        styled = s.subjects[_pick(key, f"ssubj{k}", len(s.subjects))] if s.subjects else subj
        before, after = "", ""
        if form == "subject":
            subj = styled
        elif form == "adverb":
            before = adv
        elif form == "adverb_after":
            after = adv
        elif form == "manner":
            after = manner
        elif form == "subject+adverb":
            subj, before = styled, adv
        out.append(_build(subj, before, verb, after, c.parts))
    return out


def check_sides(text: str, side: str | None) -> bool:
    """True when the side words of a caption agree with a side label."""
    found = {m.group(1).lower() for m in SIDE_WORDS.finditer(text)}
    if side in ("left", "right"):
        return found == {side}
    return not found and (side != "both" or re.search(r"\bboth\b", text) is not None)
