"""Programs of actions -> one motion: timing, hand-off between actions, noise, canonical frame."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..skeleton import FPS
from . import actions as A
from .kinematics import Pose, pose_to_joints

LOCOMOTION = ("walk", "jog", "run", "walk_backward", "sidestep", "turn", "circle")
ARMS = ("wave", "raise", "punch", "reach", "clap")
LEGS = ("kick", "knee_raise", "squat", "lunge", "jump", "jump_forward", "hop")
TRUNK = ("bend", "twist", "lean")
ALL_ACTIONS = LOCOMOTION + ARMS + LEGS + TRUNK

SIDED = {"sidestep", "turn", "circle", "wave", "raise", "punch", "reach", "kick", "knee_raise",
         "lunge", "hop", "twist", "lean"}
BOTH_OK = {"wave", "raise", "punch", "reach"}  # actions that can use both arms
COUNTED = set(ARMS) | {"kick", "knee_raise", "squat", "lunge", "jump", "jump_forward", "hop",
                       "bend", "twist", "lean"}
STYLED = {"walk", "jog", "run", "walk_backward", "sidestep", "wave", "raise", "punch", "clap",
          "kick", "knee_raise", "squat", "bend", "twist", "lean"}
TEMPO = {None: 1.0, "slow": 1.35, "fast": 0.75}
TURN_ANGLES = (45, 90, 180)

_LEG = ("l_hip", "l_knee", "l_ankle", "r_hip", "r_knee", "r_ankle")
_GAIT_PARTS = ("global", "pelvis", "l_hip", "r_hip", "l_knee", "r_knee")


@dataclass(frozen=True)
class ActionSpec:
    """One action of a program; `amp` (0-1) and `dur` (seconds) are unnamed variation."""

    name: str
    side: str | None = None     # "left" | "right" | "both" | None
    count: int = 1
    angle: int | None = None    # turns only
    style: str | None = None    # "slow" | "fast" | None
    amp: float = 0.7
    dur: float = 1.0

    def __post_init__(self) -> None:
        name, side = self.name, self.side
        if name not in ALL_ACTIONS:
            raise ValueError(f"unknown action {name!r}; known: {', '.join(ALL_ACTIONS)}")
        allowed = (("left", "right", "both") if name in BOTH_OK else ("both",) if name == "clap"
                   else ("left", "right") if name in SIDED else (None,))
        if side not in allowed:
            raise ValueError(f"action {name!r} takes side in {allowed}, got {side!r}")
        if self.count < 1:
            raise ValueError(f"action {name!r} needs a count of at least 1, got {self.count}")
        if (name == "turn") != (self.angle is not None):
            raise ValueError(f"an angle is for turns only (action {name!r}, angle {self.angle})")

    @property
    def content(self) -> str:
        out = self.name
        if self.side:
            out += f"_{self.side}"
        if self.name in COUNTED:
            out += f"_x{self.count}"
        if self.angle is not None:
            out += f"_{self.angle}"
        return out

    def mirrored(self) -> ActionSpec:
        side = {"left": "right", "right": "left"}.get(self.side, self.side)
        return replace(self, side=side)

    @property
    def parts(self) -> list[str]:
        """Body parts (skeleton.BODY_PARTS names) that carry this action."""
        n = self.name
        if n in ARMS:
            sides = {"left": "l", "right": "r"}.get(self.side, "lr")
            return [f"{s}_{j}" for s in sides for j in ("shoulder", "elbow")]
        if n == "turn":
            return ["global", "pelvis"]
        if n in LOCOMOTION:
            return list(_GAIT_PARTS)
        if n in ("kick", "knee_raise"):
            s = self.side[0]
            return [f"{s}_hip", f"{s}_knee", f"{s}_ankle"]
        if n in LEGS:
            return ["global", "pelvis", *_LEG]
        return ["lumbar", "pelvis"]


def base_duration(spec: ActionSpec) -> float:
    """Seconds the action takes at normal tempo, before random variation."""
    n, c = spec.name, spec.count
    hands = 2 if spec.side == "both" else 1
    table = {
        "walk": 3.2, "jog": 3.0, "run": 2.8, "walk_backward": 3.0, "sidestep": 2.8,
        "turn": 1.0 + 0.9 * (spec.angle or 90) / 90, "circle": 7.0,
        "wave": 0.9 + 0.55 * c, "raise": 1.3 * c, "punch": 0.6 + 0.45 * c * hands,
        "reach": 1.7 * c, "clap": 0.9 + 0.45 * c, "kick": 0.7 + 1.0 * c,
        "knee_raise": 0.7 + 1.1 * c, "squat": 1.9 * c, "lunge": 2.3 * c, "jump": 1.3 * c,
        "jump_forward": 1.4 * c, "hop": 0.6 + 0.65 * c, "bend": 2.2 * c, "twist": 1.8 * c,
        "lean": 1.8 * c,
    }
    return table[n] * TEMPO[spec.style]


def run_action(pose: Pose, f0: int, n: int, st: A.State, spec: ActionSpec,
               rng: np.random.Generator) -> A.State:
    name, side, c, amp = spec.name, spec.side, spec.count, spec.amp
    s = side[0] if side in ("left", "right") else None
    sign = 1.0 if side == "left" else -1.0
    if name in ("walk", "jog", "run", "walk_backward", "sidestep"):
        gait = A.GAITS["backward" if name == "walk_backward" else name]
        if name == "sidestep":
            gait = replace(gait, lateral=sign * gait.lateral)
        scale = {None: 1.0, "slow": 0.7, "fast": 1.3}[spec.style] * (0.85 + 0.3 * amp)
        return A.locomote(pose, f0, n, st, gait, 0.0, rng, speed_scale=scale)
    if name == "turn":
        return A.locomote(pose, f0, n, st, A.GAITS["turn"], sign * spec.angle, rng)
    if name == "circle":
        gait = replace(A.GAITS["walk"], speed=0.95)
        return A.locomote(pose, f0, n, st, gait, sign * 360.0, rng)
    if name == "wave":
        return A.wave(pose, f0, n, st, side, c, amp)
    if name == "raise":
        return A.raise_arm(pose, f0, n, st, side, c, amp, plane=float(rng.uniform(5, 60)))
    if name == "punch":
        return A.punch(pose, f0, n, st, side, c, amp)
    if name == "reach":
        return A.reach(pose, f0, n, st, side, c, amp)
    if name == "clap":
        return A.clap(pose, f0, n, st, c, amp)
    if name in ("kick", "knee_raise"):
        return A.leg_lift(pose, f0, n, st, s, c, "kick" if name == "kick" else "knee", amp)
    if name == "squat":
        return A.squat(pose, f0, n, st, c, 0.22 + 0.15 * amp)
    if name == "lunge":
        return A.lunge(pose, f0, n, st, s, c, 0.2 + 0.1 * amp)
    if name in ("jump", "jump_forward"):
        dist = 0.3 + 0.3 * amp if name == "jump_forward" else 0.0
        return A.vertical_jump(pose, f0, n, st, c, 0.12 + 0.12 * amp, dist)
    if name == "hop":
        return A.vertical_jump(pose, f0, n, st, c, 0.05 + 0.04 * amp, 0.0, one_leg=s)
    if name in TRUNK:
        return A.trunk(pose, f0, n, st, name, side, c, amp)
    raise AssertionError(name)  # ActionSpec rejects names not handled above


def _smooth_noise(rng: np.random.Generator, T: int, dims: int, scale: float) -> np.ndarray:
    """Slow random wobble (about 1 Hz), so the same program never repeats exactly."""
    k = 9
    w = np.hanning(2 * k + 1)
    x = rng.standard_normal((T + 2 * k, dims))
    out = np.stack([np.convolve(x[:, d], w / np.sqrt((w**2).sum()), "valid") for d in range(dims)])
    return scale * out.T


def build_motion(program: list[ActionSpec], lead: float, gaps: list[float], tail: float,
                 rng: np.random.Generator, return_local: bool = False):
    """Joints (T, 22, 3) float32 in the canonical frame and each action's [f0, f1) frames.

    With return_local, also the local joint rotations (T, 22, 3, 3) the joints came from.
    """
    sizes = [max(8, round(a.dur * FPS)) for a in program]
    pauses = [round(lead * FPS)] + [round(g * FPS) for g in gaps] + [round(tail * FPS)]
    T = sum(sizes) + sum(pauses)
    pose = Pose(T)
    st = A.State()
    f = pauses[0]
    A.stand(pose, 0, f, st)
    ranges = []
    for spec, n, pause in zip(program, sizes, pauses[1:]):
        st = run_action(pose, f, n, st, spec, rng)
        ranges.append((f, f + n))
        A.stand(pose, f + n, f + n + pause, st)
        f += n + pause
    pose.trunk += _smooth_noise(rng, T, 3, 1.5)
    pose.neck += _smooth_noise(rng, T, 2, 2.0)
    for s in "lr":
        pose.arm[s][:, [0, 1, 3]] += _smooth_noise(rng, T, 3, 2.0)
        pose.arm[s][:, 3] = np.maximum(pose.arm[s][:, 3], 2.0)
    pose.pelvis[:, [0, 2]] += _smooth_noise(rng, T, 2, 0.004)
    joints, local = pose_to_joints(pose, return_local=True)
    joints[:, :, 1] -= joints[:, [7, 8, 10, 11], 1].min()
    joints[:, :, [0, 2]] -= joints[0, 0, [0, 2]]
    if return_local:
        return joints.astype(np.float32), ranges, local
    return joints.astype(np.float32), ranges
