"""Captions for action programs: varied wording and sentence shapes, with phrase spans.

Every phrase template is drawn from the same pools whatever the side, count or order, so a
caption's wording tells nothing about the motion beyond what it says. Verbs are written <verb>
and conjugated for the sentence shape (third person, -ing, or base form after "they").
"""
from __future__ import annotations

import re

import numpy as np

from .compose import ActionSpec

_DOUBLE = {"clap", "hop", "jab", "jog", "put", "run", "sidestep", "sit", "squat", "step", "stop"}
_TIMES = {1: ["once", "one time", ""], 2: ["twice", "two times"], 3: ["three times", "3 times"],
          4: ["four times", "4 times"]}
_NUM = {1: ["one", "a single"], 2: ["two", "2"], 3: ["three", "3"], 4: ["four", "4"]}
_DEG = {45: ["45 degrees", "forty-five degrees"], 90: ["90 degrees", "ninety degrees"],
        180: ["180 degrees", "a hundred and eighty degrees"]}

# (one-sided templates, both-sides templates); {side} {poss} {times} {n} {deg} {clock}
PHRASES: dict[str, tuple[list[str], ...]] = {
    "wave": (
        [
            "<wave> {poss} {side} hand {times}", "<wave> with {poss} {side} hand {times}",
            "<raise> {poss} {side} arm and <wave> {times}", "<wave> {times} with the {side} arm",
            "<lift> {poss} {side} hand and <wave> it {times}",
        ],
        [
            "<wave> both hands {times}", "<wave> with both arms {times}",
            "<raise> both arms and <wave> {times}", "<wave> {poss} hands above {poss} head {times}",
        ],
    ),
    "raise": (
        [
            "<raise> {poss} {side} arm {times}", "<lift> {poss} {side} hand up {times}",
            "<raise> the {side} hand over {poss} head {times}",
            "<put> {poss} {side} arm up in the air {times}",
        ],
        [
            "<raise> both arms {times}", "<lift> both hands up {times}",
            "<put> both arms up in the air {times}",
            "<raise> {poss} hands over {poss} head {times}",
        ],
    ),
    "punch": (
        [
            "<punch> with {poss} {side} hand {times}",
            "<throw> {n} punch{es} with {poss} {side} fist",
            "<punch> forward {times} using {poss} {side} arm", "<jab> {times} with the {side} hand",
        ],
        [
            "<punch> with both hands, {n} time{s} each", "<throw> {n} punch{es} with each fist",
            "<punch> forward {times} with each arm", "<box> with both fists, {n} punch{es} each",
        ],
    ),
    "reach": (
        [
            "<reach> forward with {poss} {side} hand {times}",
            "<stretch> {poss} {side} arm out in front {times}",
            "<reach> out with the {side} arm {times}", "<extend> {poss} {side} arm forward {times}",
        ],
        [
            "<reach> forward with both hands {times}", "<stretch> both arms out in front {times}",
            "<extend> both arms forward {times}", "<reach> out with both arms {times}",
        ],
    ),
    "clap": (
        [

        ],
        [
            "<clap> {poss} hands {times}", "<clap> {times}",
            "<bring> {poss} hands together {times}", "<clap> {poss} hands together {times}",
        ],
    ),
    "kick": (
        [
            "<kick> with {poss} {side} leg {times}", "<kick> {poss} {side} foot forward {times}",
            "<do> {n} kick{s} with the {side} leg", "<kick> out {times} with {poss} {side} foot",
        ],
    ),
    "knee_raise": (
        [
            "<raise> {poss} {side} knee {times}", "<lift> {poss} {side} knee up high {times}",
            "<bring> {poss} {side} knee up to {poss} chest {times}",
            "<lift> the {side} leg with a bent knee {times}",
        ],
    ),
    "squat": (
        [

        ],
        [
            "<squat> down {times}", "<do> {n} squat{s}", "<squat> {times}",
            "<bend> {poss} knees and <squat> {times}", "<crouch> down and <stand> back up {times}",
        ],
    ),
    "lunge": (
        [
            "<lunge> forward with {poss} {side} leg {times}",
            "<step> forward into a lunge with the {side} foot {times}",
            "<do> {n} lunge{s} with the {side} leg forward", "<lunge> {times} on the {side} leg",
        ],
    ),
    "jump": (
        [

        ],
        [
            "<jump> {times}", "<jump> up {times}", "<jump> in place {times}",
            "<do> {n} jump{s} on the spot", "<jump> straight up {times}",
        ],
    ),
    "jump_forward": (
        [

        ],
        [
            "<jump> forward {times}", "<leap> forward {times}", "<jump> ahead {times}",
            "<do> {n} jump{s} forward",
        ],
    ),
    "hop": (
        [
            "<hop> on {poss} {side} leg {times}", "<hop> on the {side} foot {times}",
            "<stand> on {poss} {side} leg and <hop> {times}",
            "<hop> {times} on one leg, the {side} one",
        ],
    ),
    "bend": (
        [

        ],
        [
            "<bend> forward {times}", "<bend> over {times}", "<lean> forward at the waist {times}",
            "<bend> down {times}", "<bow> down deeply {times}",
        ],
    ),
    "twist": (
        [
            "<twist> {poss} torso to the {side} {times}",
            "<turn> {poss} upper body to the {side} {times}",
            "<rotate> {poss} torso {side}ward {times}",
            "<twist> to the {side} at the waist {times}",
        ],
    ),
    "lean": (
        [
            "<lean> to the {side} {times}", "<bend> sideways to the {side} {times}",
            "<tilt> {poss} upper body to the {side} {times}", "<lean> {poss} torso {side} {times}",
        ],
    ),
    "walk": (
        [

        ],
        [
            "<walk> forward", "<walk> straight ahead", "<take> a few steps forward",
            "<walk> forwards", "<walk> ahead",
        ],
    ),
    "jog": (
        [

        ],
        [
            "<jog> forward", "<jog> ahead", "<jog> in a straight line", "<jog> forwards",
        ],
    ),
    "run": (
        [

        ],
        [
            "<run> forward", "<run> ahead", "<run> straight forward", "<run> forwards",
        ],
    ),
    "walk_backward": (
        [

        ],
        [
            "<walk> backward", "<walk> backwards", "<take> a few steps backwards",
            "<step> back a few steps", "<walk> in reverse",
        ],
    ),
    "sidestep": (
        [
            "<sidestep> to the {side}", "<step> sideways to the {side}", "<shuffle> to the {side}",
            "<take> a few side steps to the {side}", "<move> {side} with side steps",
        ],
    ),
    "turn": (
        [
            "<turn> {deg} to the {side}", "<turn> to the {side} by {deg}",
            "<rotate> {deg} to the {side}", "<turn> {side} {deg}", "<pivot> {deg} to the {side}",
        ],
    ),
    "circle": (
        [
            "<walk> in a circle to the {side}", "<walk> in a circle {clock}",
            "<walk> around in a circle, turning {side}", "<walk> a full circle {clock}",
        ],
    ),
}
_TURN_EXTRA = {45: ["<turn> slightly to the {side}", "<turn> a little to the {side}"],
               90: ["<make> a quarter turn to the {side}", "<turn> to face {poss} {side}"],
               180: ["<turn> around to the {side}", "<make> a half turn to the {side}",
                     "<turn> around over {poss} {side} shoulder"]}
_SPEED = {"slow": ["slowly", "at a slow pace", "carefully"], "fast": ["quickly", "fast", "rapidly"]}
SUBJECTS = [("a person", "their", "they"), ("someone", "their", "they"), ("a man", "his", "he"),
            ("the person", "their", "they"), ("a figure", "their", "they"),
            ("a woman", "her", "she"), ("the man", "his", "he"), ("a human", "their", "they"),
            ("the subject", "their", "they"), ("a person", "his", "he")]

# Sentence shapes; {a} {b} {c} are phrases, ":ing" / ":base" the verb form they take.
SHAPES = {
    1: ["{S} {a}", "{S} is {a:ing}", "{S} {a} and then stands still", "{S} stands and {a}"],
    2: ["{S} {a}, then {b}", "{S} {a} and then {b}", "{S} {a}, and then {b}",
        "{S} {a} before {b:ing}", "{S} first {a}, then {b}", "after {a:ing}, {s} {b}",
        "{S} {a}. then {p} {b:base}", "{S} {a} and {b}", "{S} is {a:ing}, then {b:ing}",
        "{S} {b} after {a:ing}", "{S} {a}; afterwards {p} {b:base}"],
    3: ["{S} {a}, {b}, and then {c}", "{S} {a}, then {b}, then {c}",
        "{S} first {a}, then {b}, and finally {c}", "{S} {a} and {b} before {c:ing}",
        "after {a:ing}, {s} {b} and then {c}", "{S} {a}, {b} and {c}"],
}


def conjugate(verb: str, form: str) -> str:
    if form == "base":
        return verb
    if form == "ing":
        if verb in _DOUBLE:
            return verb + verb[-1] + "ing"
        if verb.endswith("e") and not verb.endswith("ee"):
            return verb[:-1] + "ing"
        return verb + "ing"
    if verb == "do":
        return "does"
    if verb.endswith(("s", "sh", "ch", "x")):
        return verb + "es"
    return verb + "s"


def phrase(spec: ActionSpec, form: str, poss: str, rng: np.random.Generator) -> str:
    """One way of saying `spec`, its verbs in `form` ("3sg", "ing" or "base")."""
    pools = PHRASES[spec.name]
    pool = pools[1] if spec.side in (None, "both") and len(pools) > 1 else pools[0]
    if spec.name == "turn":
        pool = pool + _TURN_EXTRA[spec.angle]
    tpl = str(rng.choice(pool))
    count = spec.count
    times = str(rng.choice(_TIMES[count]))
    values = {
        "side": spec.side or "", "times": times, "n": str(rng.choice(_NUM[count])),
        "s": "" if count == 1 else "s", "es": "" if count == 1 else "es",
        "deg": str(rng.choice(_DEG[spec.angle])) if spec.angle else "",
        "clock": "counterclockwise" if spec.side == "left" else "clockwise",
        "poss": poss,
    }
    text = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], tpl)
    text = re.sub(r"<(\w+)>", lambda m: conjugate(m.group(1), form), text)
    if spec.style and rng.random() < 0.9:
        adv = str(rng.choice(_SPEED[spec.style]))
        text = f"{adv} {text}" if rng.random() < 0.3 and " " not in adv else f"{text} {adv}"
    return re.sub(r"\s+", " ", text).strip().replace(" ,", ",")


def caption(program: list[ActionSpec], rng: np.random.Generator) -> tuple[str, list[tuple]]:
    """A caption and, per action in program order, its phrase's (start, end) character span."""
    subj, poss, pron = SUBJECTS[rng.integers(len(SUBJECTS))]
    if rng.random() < 0.3:
        poss = "the"
    shape = str(rng.choice(SHAPES[len(program)]))
    keys = "abc"
    out, spans, pos = [], {}, 0
    for piece in re.split(r"(\{[^}]+\})", shape):
        if not piece:
            continue
        m = re.fullmatch(r"\{(\w)(?::(\w+))?\}", piece)
        if m and m.group(1) in keys:
            i = keys.index(m.group(1))
            form = m.group(2) or "3sg"
            if m.group(2) == "base" and pron != "they":
                form = "3sg"  # "then he walks", but "then they walk"
            text = phrase(program[i], form, poss, rng)
            spans[i] = (pos, pos + len(text))
        elif piece in ("{S}", "{s}"):
            text = subj
        elif piece == "{p}":
            text = pron
        else:
            text = piece
        out.append(text)
        pos += len(text)
    sentence = "".join(out)
    if rng.random() < 0.6:
        sentence = sentence[0].upper() + sentence[1:]
        sentence = re.sub(r"\. ([a-z])", lambda m: ". " + m.group(1).upper(), sentence)
    if rng.random() < 0.6:
        sentence += "."
    return sentence, [spans[i] for i in range(len(program))]
