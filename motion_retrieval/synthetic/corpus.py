"""The procedural corpus: programs sampled in hard-negative groups, motions, captions, splits.

A group is a base program plus variants that differ in one detail a retrieval model must get
right: the other side, the other order, another count, another turn angle, another gait or tempo.
Every clip's labels carry the group id so training can batch a clip with its hard negatives.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..skeleton import FPS
from .captions import caption
from .compose import (
    ALL_ACTIONS,
    BOTH_OK,
    COUNTED,
    SIDED,
    STYLED,
    TURN_ANGLES,
    ActionSpec,
    base_duration,
    build_motion,
)

MIN_SECONDS, MAX_SECONDS = 2.0, 10.0
CAPTIONS_PER_CLIP = 3
GAITS = ("walk", "jog", "run", "walk_backward")
# how often each action is drawn (locomotion and arms are what people describe most)
_WEIGHTS = {a: 1.0 for a in ALL_ACTIONS}
_WEIGHTS.update(walk=2.0, turn=1.5, wave=1.5, circle=0.5)


def sample_action(rng: np.random.Generator, name: str | None = None) -> ActionSpec:
    if name is None:
        names = list(ALL_ACTIONS)
        p = np.array([_WEIGHTS[a] for a in names])
        name = names[rng.choice(len(names), p=p / p.sum())]
    side = None
    if name in SIDED:
        side = str(rng.choice(["left", "right", "both"] if name in BOTH_OK else ["left", "right"]))
    if name == "clap":
        side = "both"
    count = int(rng.choice([1, 2, 3], p=[0.4, 0.35, 0.25])) if name in COUNTED else 1
    angle = int(rng.choice(TURN_ANGLES, p=[0.2, 0.5, 0.3])) if name == "turn" else None
    style = None
    if name in STYLED and rng.random() < 0.25:
        style = str(rng.choice(["slow", "fast"]))
    return ActionSpec(name, side, count, angle, style, amp=float(rng.uniform(0.3, 1.0)))


def _seconds(program: list[ActionSpec]) -> float:
    return sum(base_duration(a) for a in program)


def sample_program(rng: np.random.Generator) -> list[ActionSpec]:
    """One, two or three actions, no action twice in a row, total within the clip limits."""
    while True:
        k = int(rng.choice([1, 2, 3], p=[0.35, 0.45, 0.2]))
        program: list[ActionSpec] = []
        while len(program) < k:
            a = sample_action(rng)
            if program and a.name == program[-1].name:
                continue
            if a.name == "circle" and k > 1:
                continue
            program.append(a)
        if _seconds(program) <= MAX_SECONDS - 1.5:
            return program


def variants(program: list[ActionSpec], rng: np.random.Generator) -> list[list[ActionSpec]]:
    """Hard negatives of `program`: each differs in one detail (side, order, count, ...)."""
    out = []
    if any(a.side in ("left", "right") for a in program):
        out.append([a.mirrored() for a in program])
    if len(program) >= 2 and program[0].content != program[1].content:
        out.append([program[1], program[0], *program[2:]])
    counted = [i for i, a in enumerate(program) if a.name in COUNTED]
    if counted:
        i = int(rng.choice(counted))
        c = int(rng.choice([x for x in (1, 2, 3) if x != program[i].count]))
        out.append([*program[:i], replace(program[i], count=c), *program[i + 1:]])
    turns = [i for i, a in enumerate(program) if a.name == "turn"]
    if turns:
        i = turns[0]
        ang = int(rng.choice([x for x in TURN_ANGLES if x != program[i].angle]))
        out.append([*program[:i], replace(program[i], angle=ang), *program[i + 1:]])
    gaits = [i for i, a in enumerate(program) if a.name in GAITS]
    if gaits:
        i = gaits[0]
        g = str(rng.choice([x for x in GAITS if x != program[i].name]))
        out.append([*program[:i], replace(program[i], name=g), *program[i + 1:]])
    styled = [i for i, a in enumerate(program) if a.name in STYLED and a.style]
    if styled:
        i = styled[0]
        other = {"slow": "fast", "fast": "slow"}[program[i].style]
        out.append([*program[:i], replace(program[i], style=other), *program[i + 1:]])
    order = rng.permutation(len(out))
    return [out[i] for i in order if _seconds(out[i]) <= MAX_SECONDS - 1.5]


def content(program: list[ActionSpec]) -> str:
    return "+".join(a.content for a in program)


def make_clip_record(clip_id: str, program: list[ActionSpec], group: str,
                     rng: np.random.Generator) -> dict:
    """Everything for one clip: joints, captions, labels and per-caption grounding."""
    program = [replace(a, dur=base_duration(a) * rng.uniform(0.9, 1.15)) for a in program]
    gaps = [float(rng.uniform(0.1, 0.5)) for _ in program[1:]]
    lead, tail = float(rng.uniform(0.1, 0.6)), float(rng.uniform(0.1, 0.6))
    total = sum(a.dur for a in program) + sum(gaps) + lead + tail
    if total < MIN_SECONDS + 0.2:  # frame rounding can lose a few frames: keep a margin
        lead += (MIN_SECONDS + 0.2 - total) / 2
        tail += (MIN_SECONDS + 0.2 - total) / 2
    elif total > MAX_SECONDS:
        k = (MAX_SECONDS - 0.1 - sum(gaps) - lead - tail) / sum(a.dur for a in program)
        program = [replace(a, dur=a.dur * k) for a in program]
    joints, ranges = build_motion(program, lead, gaps, tail, rng)
    captions, grounding = [], []
    seen = set()
    for _ in range(CAPTIONS_PER_CLIP):
        for _try in range(5):  # prefer three different sentences
            text, spans = caption(program, rng)
            if text not in seen:
                break
        seen.add(text)
        captions.append(text)
        grounding.append([
            {"span": [s0, s1], "text": text[s0:s1], "parts": a.parts, "frames": [f0, f1]}
            for a, (s0, s1), (f0, f1) in zip(program, spans, ranges)
        ])
    main_side = next((a.side for a in program if a.side), None)
    labels = {
        "content": content(program),
        "actions": [a.content for a in program],
        "side": main_side,
        "group": group,
        "style": next((a.style for a in program if a.style), None),
        "seconds": round(len(joints) / FPS, 2),
    }
    return {"id": clip_id, "joints": joints, "captions": captions, "labels": labels,
            "grounding": grounding}


def plan_groups(n: int, seed: int) -> list[tuple[str, list[ActionSpec]]]:
    """(group id, program) for n clips, groups of 2-4 clips that are each other's negatives."""
    rng = np.random.default_rng([seed, 0x5EED])
    plan: list[tuple[str, list[ActionSpec]]] = []
    g = 0
    while len(plan) < n:
        base = sample_program(rng)
        size = int(rng.choice([2, 3, 4], p=[0.35, 0.4, 0.25]))
        members = [base]
        for v in variants(base, rng):
            if len(members) >= size:
                break
            if content(v) not in {content(m) for m in members}:
                members.append(v)
        gid = f"g{seed}_{g:05d}"
        plan.extend((gid, m) for m in members[: n - len(plan)])
        g += 1
    return plan


def split_groups(groups: list[str], seed: int) -> dict[str, str]:
    """group id -> "train" | "val" | "test" (about 80/10/10 of the groups)."""
    uniq = sorted(set(groups))
    perm = np.random.default_rng([seed, 0x5917]).permutation(len(uniq))
    out = {}
    for rank, i in enumerate(perm):
        frac = rank / max(len(uniq), 1)
        out[uniq[i]] = "train" if frac < 0.8 else "val" if frac < 0.9 else "test"
    return out
