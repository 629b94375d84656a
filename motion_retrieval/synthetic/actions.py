"""Procedural actions: each one writes its curves into a frame range of a `Pose`.

Every action starts and ends in a relaxed standing pose (arms down, trunk upright, both feet
planted side by side), so any two can follow each other without a jump. Locomotion plans
footsteps: a stance foot keeps its toe fixed on the floor (heel rising about it before toe-off)
while the pelvis moves on, and the legs are solved by IK, so planted feet do not slide.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..skeleton import FPS
from .kinematics import FOOT, PELVIS_HEIGHT, SIDE_SIGN, STANCE_HALF_WIDTH, Pose

STAND_HEIGHT = PELVIS_HEIGHT - 0.02  # knees very slightly soft, as people stand
OTHER = {"l": "r", "r": "l"}


@dataclass
class State:
    """Where the body is between actions: pelvis (x, z), heading (deg) and the planted feet."""

    xz: np.ndarray = field(default_factory=lambda: np.zeros(2))
    yaw: float = 0.0
    toe: dict = field(default_factory=dict)
    foot_yaw: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for s in "lr":
            self.toe.setdefault(s, nominal_toe(self.xz, self.yaw, s))
            self.foot_yaw.setdefault(s, self.yaw)


def heading(yaw_deg) -> np.ndarray:
    """Unit forward vectors (x, z) for headings in degrees (+ = turned to the left)."""
    y = np.radians(yaw_deg)
    return np.stack([np.sin(y), np.cos(y)], -1)


def nominal_toe(xz, yaw_deg, side: str) -> np.ndarray:
    """Toe position of a relaxed standing foot for a pelvis at xz with this heading."""
    f = heading(yaw_deg)
    left = np.stack([f[..., 1], -f[..., 0]], -1)  # forward (0,1) -> left (1,0)
    p = np.asarray(xz) + SIDE_SIGN[side] * STANCE_HALF_WIDTH * left + FOOT[2] * f
    return np.stack([p[..., 0], np.zeros_like(p[..., 0]), p[..., 1]], -1)


def smoothstep(x) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def bump(n: int, up: int, down: int, start: int = 0, stop: int | None = None) -> np.ndarray:
    """(n,) envelope: 0 before start, eases to 1 over `up` frames, back to 0 by `stop`."""
    stop = n if stop is None else stop
    t = np.arange(n, dtype=np.float64)
    rise = smoothstep((t - start) / max(up, 1))
    fall = smoothstep((stop - 1 - t) / max(down, 1))
    return np.minimum(rise, fall)


def reps(n: int, count: int, start: int, stop: int) -> np.ndarray:
    """(n,) smooth 0-1-0 pulses, `count` of them between start and stop (cosine shaped)."""
    t = np.arange(n, dtype=np.float64)
    ph = np.clip((t - start) / max(stop - start, 1), 0, 1) * count
    return 0.5 - 0.5 * np.cos(2 * np.pi * ph)


def stand(pose: Pose, f0: int, f1: int, st: State) -> None:
    """Fill frames [f0, f1) with the relaxed standing pose at state `st`."""
    sl = slice(f0, f1)
    pose.pelvis[sl] = [st.xz[0], STAND_HEIGHT, st.xz[1]]
    pose.yaw[sl] = st.yaw
    for s in "lr":
        pose.toe[s][sl] = st.toe[s]
        pose.foot_yaw[s][sl] = st.foot_yaw[s]


# ---------------------------------------------------------------------------------------------
# locomotion


@dataclass
class Gait:
    speed: float      # m/s along the body's forward axis (negative: backwards)
    lateral: float    # m/s to the body's left (negative: to the right)
    cadence: float    # steps per second
    duty: float       # fraction of a cycle a foot is on the floor
    clearance: float  # swing height of the toe, m
    bob: float        # pelvis up-down amplitude, m
    crouch: float     # how much lower the pelvis rides while moving, m
    arm_swing: float  # degrees per metre of foot separation along the heading
    elbow: float      # elbow flexion while moving, deg
    lean: float       # trunk forward lean while moving, deg
    heel_off: float   # toe-off heel rise, deg


GAITS = {
    "walk": Gait(1.15, 0.0, 1.9, 0.62, 0.06, 0.015, 0.03, 55, 15, 3, 30),
    "jog": Gait(2.0, 0.0, 2.6, 0.45, 0.10, 0.03, 0.07, 60, 70, 8, 35),
    "run": Gait(2.8, 0.0, 2.9, 0.38, 0.14, 0.04, 0.09, 70, 85, 12, 40),
    "backward": Gait(-0.75, 0.0, 1.7, 0.65, 0.07, 0.01, 0.03, 40, 15, -2, 20),
    "sidestep": Gait(0.0, 0.55, 1.8, 0.65, 0.07, 0.01, 0.04, 0, 15, 2, 10),
    "turn": Gait(0.0, 0.0, 1.8, 0.65, 0.05, 0.005, 0.02, 0, 15, 0, 10),
}


def locomote(pose: Pose, f0: int, n: int, st: State, gait: Gait, turn: float,
             rng: np.random.Generator, speed_scale: float = 1.0) -> State:
    """Move for n frames: body velocity from `gait`, heading changing by `turn` degrees."""
    stand(pose, f0, f0 + n, st)
    sl = slice(f0, f0 + n)
    ramp = int(0.6 * FPS)
    tail = int(0.55 * FPS)
    env = bump(n, ramp, ramp, start=2, stop=n - tail)
    w = np.cumsum(env)
    yaw = st.yaw + turn * w / max(w[-1], 1e-9)
    fwd = heading(yaw)
    left = np.stack([fwd[:, 1], -fwd[:, 0]], -1)
    vel = (gait.speed * fwd + gait.lateral * left) * (env * speed_scale)[:, None] / FPS
    xz = st.xz + np.cumsum(vel, 0) - vel[0]
    pose.yaw[sl] = yaw
    pose.pelvis[sl, 0], pose.pelvis[sl, 2] = xz[:, 0], xz[:, 1]

    cycle = 2 * FPS / (gait.cadence * np.sqrt(speed_scale))
    swing_len = (1 - gait.duty) * cycle
    lead = "l" if rng.random() < 0.5 else "r"
    if gait.lateral != 0:  # a sidestep opens with the foot on the side it goes to
        lead = "l" if gait.lateral > 0 else "r"
    t = np.arange(n, dtype=np.float64)
    out = State(xz=xz[-1].copy(), yaw=float(yaw[-1]), toe={}, foot_yaw={})
    first_lift = {s: float("inf") for s in "lr"}
    for s in "lr":
        toe = np.tile(st.toe[s], (n, 1))
        fyaw = np.full(n, st.foot_yaw[s])
        pitch = np.zeros(n)
        cur, cur_yaw = st.toe[s].copy(), st.foot_yaw[s]
        lift = 2 + (0.0 if s == lead else 0.5) * cycle
        prev_land = 0.0
        while lift + swing_len < n - 2:
            land = lift + swing_len
            tm = int(min(land + gait.duty * cycle / 2, n - 1))
            target = nominal_toe(xz[tm], yaw[tm], s)
            if np.linalg.norm(target - cur) > 0.02 or abs(yaw[tm] - cur_yaw) > 3:
                first_lift[s] = min(first_lift[s], lift)
                # heel rises about the planted toe before toe-off
                pre = (t >= lift - 0.35 * gait.duty * cycle) & (t < lift) & (t >= prev_land)
                if pre.any():
                    k = (t[pre] - (lift - 0.35 * gait.duty * cycle)) / (0.35 * gait.duty * cycle)
                    pitch[pre] = gait.heel_off * smoothstep(k)
                m = (t >= lift) & (t < land)
                ph = (t[m] - lift) / swing_len
                # lift first, travel in the air, set down last: no scuffing near the floor
                s_h = smoothstep((ph - 0.12) / 0.76)
                toe[m] = cur + (target - cur) * s_h[:, None]
                toe[m, 1] = gait.clearance * np.sin(np.pi * ph) ** 0.6
                fyaw[m] = cur_yaw + (yaw[tm] - cur_yaw) * s_h
                pitch[m] = gait.heel_off * (1 - smoothstep(ph / 0.5)) - 12 * np.sin(np.pi * ph) ** 2
                after = t >= land
                toe[after], fyaw[after], pitch[after] = target, yaw[tm], 0.0
                cur, cur_yaw, prev_land = target, float(yaw[tm]), land
            lift += cycle
        pose.toe[s][sl], pose.foot_yaw[s][sl], pose.foot_pitch[s][sl] = toe, fyaw, pitch
        out.toe[s], out.foot_yaw[s] = cur, cur_yaw

    # pelvis: lower while moving, bob twice per cycle (lowest at each mid-stance)
    moving = bump(n, ramp, ramp, start=int(min(*first_lift.values(), n)), stop=n - tail // 2)
    lead_lift = 2.0
    mid = lead_lift + swing_len + gait.duty * cycle / 2
    bob = -gait.bob * np.cos(2 * np.pi * (t - mid) / (cycle / 2))
    pose.pelvis[sl, 1] = STAND_HEIGHT + (bob - gait.crouch) * moving
    pose.trunk[sl, 0] += gait.lean * moving
    # arms swing against the legs: each arm follows the opposite foot's lead
    f = np.einsum("ti,ti->t", pose.toe["r"][sl][:, [0, 2]] - pose.toe["l"][sl][:, [0, 2]], fwd)
    for s in "lr":
        swing = np.clip(-SIDE_SIGN[s] * gait.arm_swing * f, -40, 40)
        pose.arm[s][sl, 0] = swing * moving
        pose.arm[s][sl, 1] = 5
        pose.arm[s][sl, 3] = 8 + (gait.elbow - 8) * moving
    return out


# ---------------------------------------------------------------------------------------------
# whole-body actions in place


def vertical_jump(pose: Pose, f0: int, n: int, st: State, count: int, height: float,
                  distance: float, one_leg: str | None = None) -> State:
    """`count` jumps (or hops on `one_leg`) of the given apex height, moving `distance` each."""
    stand(pose, f0, f0 + n, st)
    sl = slice(f0, f0 + n)
    g = 9.81
    flight = 2 * np.sqrt(2 * height / g) * FPS
    per = n / count
    t = np.arange(n, dtype=np.float64)
    y = np.zeros(n)
    crouch = np.zeros(n)
    lift = np.zeros(n)
    travel = np.zeros(n)
    fwd = heading(st.yaw)
    for k in range(count):
        a = k * per
        take = a + 0.45 * per - flight / 2
        land = take + flight
        depth = 0.16 if one_leg is None else 0.06
        pre = (t >= a) & (t < take)
        crouch[pre] = depth * np.sin(np.pi * smoothstep((t[pre] - a) / (take - a)))
        post = (t >= land) & (t < a + per)
        crouch[post] = 0.7 * depth * np.sin(np.pi * smoothstep((t[post] - land) / (a + per - land)))
        air = (t >= take) & (t < land)
        tau = (t[air] - take) / FPS
        y[air] = (flight / FPS) * g / 2 * tau - g / 2 * tau**2
        lift[air] = 1
        travel += distance * smoothstep((t - take) / flight)
    pose.pelvis[sl, 1] = STAND_HEIGHT + y - crouch
    shift = travel[:, None] * fwd
    pose.pelvis[sl, 0] += shift[:, 0]
    pose.pelvis[sl, 2] += shift[:, 1]
    pose.pelvis[sl, [0, 2]] -= 0.12 * crouch[:, None] * fwd  # hips go back when crouching
    pose.trunk[sl, 0] += 110 * crouch
    out = State(xz=st.xz + distance * count * fwd, yaw=st.yaw, toe={}, foot_yaw={})
    legs = "lr" if one_leg is None else one_leg
    for s in legs:
        toe = st.toe[s] + np.stack([shift[:, 0], y, shift[:, 1]], -1)
        pose.toe[s][sl] = toe
        pose.foot_pitch[s][sl] = 30 * smoothstep(y / 0.03)
        out.toe[s] = st.toe[s] + np.array([fwd[0], 0, fwd[1]]) * distance * count
    # arms swing back in the crouch and up through the take-off
    for s in "lr":
        pose.arm[s][sl, 0] = -200 * crouch + 40 * lift * (one_leg is None)
        pose.arm[s][sl, 1] = 10
    if one_leg is not None:
        free = OTHER[one_leg]
        w = bump(n, 6, 6)
        pose.free[free][sl] = w
        pose.leg[free][sl] = np.stack([15 * w, 0 * w, 75 * w], -1)
        pose.pelvis[sl, [0, 2]] += (SIDE_SIGN[one_leg] * 0.06 * w)[:, None] * np.array(
            [fwd[1], -fwd[0]])
        out.toe[free] = st.toe[free]
        for s in "lr":
            pose.arm[s][sl, 0] += 15 * w
            pose.arm[s][sl, 1] = 60
    for s in "lr":
        out.foot_yaw[s] = st.foot_yaw[s]
    return out


def squat(pose: Pose, f0: int, n: int, st: State, count: int, depth: float) -> State:
    stand(pose, f0, f0 + n, st)
    sl = slice(f0, f0 + n)
    r = reps(n, count, 3, n - 3)
    fwd = heading(st.yaw)
    pose.pelvis[sl, 1] -= depth * r
    pose.pelvis[sl, [0, 2]] -= 0.35 * depth * r[:, None] * fwd
    pose.trunk[sl, 0] += 75 * depth * r
    for s in "lr":
        pose.arm[s][sl, 0] = 190 * depth * r
        pose.arm[s][sl, 1] = 5
        pose.foot_pitch[s][sl] = 0
    return st


def lunge(pose: Pose, f0: int, n: int, st: State, side: str, count: int, depth: float) -> State:
    stand(pose, f0, f0 + n, st)
    sl = slice(f0, f0 + n)
    t = np.arange(n, dtype=np.float64)
    fwd = heading(st.yaw)
    step = np.array([fwd[0], 0, fwd[1]]) * 0.62
    per = n / count
    out_pos = np.zeros(n)
    down = np.zeros(n)
    lift = np.zeros(n)
    for k in range(count):
        a = k * per
        q = (t - a) / per
        m = (q >= 0) & (q < 1)
        out_pos[m] = smoothstep((q[m] - 0.03) / 0.17) * smoothstep((0.97 - q[m]) / 0.17)
        down[m] = np.sin(np.pi * np.clip((q[m] - 0.22) / 0.56, 0, 1))
        sw = m & ((q < 0.22) | (q > 0.78))
        e = np.where(q < 0.5, q / 0.22, (1 - q) / 0.22)
        lift[sw] = np.sin(np.pi * np.clip(e[sw], 0, 1)) ** 0.6
    pose.toe[side][sl] = st.toe[side] + out_pos[:, None] * step
    pose.toe[side][sl, 1] = 0.06 * lift
    pose.pelvis[sl, [0, 2]] += 0.45 * out_pos[:, None] * step[[0, 2]]
    pose.pelvis[sl, 1] -= depth * down
    back = OTHER[side]
    pose.foot_pitch[back][sl] = 45 * out_pos
    pose.trunk[sl, 0] += 4 * down
    for s in "lr":
        pose.arm[s][sl, 1] = 20
        pose.arm[s][sl, 3] = 8 + 10 * down
    return st


def leg_lift(pose: Pose, f0: int, n: int, st: State, side: str, count: int, kind: str,
             amp: float) -> State:
    """Knee raise or kick with one leg, standing on the other (weight shifted onto it)."""
    stand(pose, f0, f0 + n, st)
    sl = slice(f0, f0 + n)
    fwd = heading(st.yaw)
    left = np.array([fwd[1], -fwd[0]])
    hold = bump(n, 8, 8)
    pose.pelvis[sl, [0, 2]] += (SIDE_SIGN[OTHER[side]] * 0.06 * hold)[:, None] * left
    r = reps(n, count, 8, n - 8)
    w = np.minimum(1.0, 4 * r) * hold
    if kind == "knee":
        leg = np.stack([95 * amp * r, 0 * r, 100 * r], -1)
        pose.trunk[sl, 0] -= 5 * r
    else:  # kick: chamber, snap the shin out, chamber again
        t = np.arange(n, dtype=np.float64)
        ph = np.clip((t - 8) / max(n - 16, 1), 0, 1) * count % 1.0
        snap = np.exp(-(((ph - 0.5) / 0.12) ** 2))
        leg = np.stack([(45 + 40 * amp * snap) * r, 0 * r, (75 - 70 * snap) * r], -1)
        pose.trunk[sl, 0] -= 12 * snap * r
    pose.free[side][sl] = w
    pose.leg[side][sl] = leg
    pose.foot_pitch[side][sl] = 20 * r
    for s in "lr":
        pose.arm[s][sl, 0] = 25 * hold
        pose.arm[s][sl, 1] = 70
        pose.arm[s][sl, 3] = 8 + 40 * hold
    return st


# ---------------------------------------------------------------------------------------------
# arms and trunk (feet stay planted)


def _arm_sides(side: str) -> str:
    return {"left": "l", "right": "r", "both": "lr"}[side]


def wave(pose: Pose, f0: int, n: int, st: State, side: str, count: int, amp: float) -> State:
    stand(pose, f0, f0 + n, st)
    sl = slice(f0, f0 + n)
    up = bump(n, 10, 10)
    inner = int(0.2 * n)
    r = reps(n, count, inner, n - inner)
    for s in _arm_sides(side):
        pose.arm[s][sl, 0] = (95 + 40 * amp) * up
        pose.arm[s][sl, 1] = 85 - 10 * up
        pose.arm[s][sl, 2] = 85 * up
        pose.arm[s][sl, 3] = 8 + (20 + 45 * r) * up
    pose.neck[sl, 0] -= 5 * up
    return st


def raise_arm(pose: Pose, f0: int, n: int, st: State, side: str, count: int, amp: float,
              plane: float) -> State:
    stand(pose, f0, f0 + n, st)
    sl = slice(f0, f0 + n)
    r = np.minimum(1.0, 1.25 * reps(n, count, 3, n - 3))
    for s in _arm_sides(side):
        pose.arm[s][sl, 0] = (95 + 65 * amp) * r
        pose.arm[s][sl, 1] = plane
        pose.arm[s][sl, 3] = 8 - 5 * r
    return st


def punch(pose: Pose, f0: int, n: int, st: State, side: str, count: int, amp: float) -> State:
    stand(pose, f0, f0 + n, st)
    sl = slice(f0, f0 + n)
    guard = bump(n, 10, 10)
    t = np.arange(n, dtype=np.float64)
    sides = _arm_sides(side)
    hits = count * len(sides)
    span = n - 24
    for s in "lr":
        pose.arm[s][sl] = np.stack([45 * guard, 15 + 0 * t, 0 * t, 8 + 112 * guard], -1)
    for k in range(hits):
        s = sides[k % len(sides)]
        c = 12 + span * (k + 0.5) / hits
        p = np.exp(-(((t - c) / (1.1 + 0.8 * (1 - amp))) ** 2))
        pose.arm[s][sl, 0] += 42 * p
        pose.arm[s][sl, 1] -= 20 * p
        pose.arm[s][sl, 3] -= 110 * p
        pose.trunk[sl, 2] += -SIDE_SIGN[s] * 14 * amp * p
    return st


def reach(pose: Pose, f0: int, n: int, st: State, side: str, count: int, amp: float) -> State:
    stand(pose, f0, f0 + n, st)
    sl = slice(f0, f0 + n)
    r = np.minimum(1.0, 1.3 * reps(n, count, 3, n - 3))
    for s in _arm_sides(side):
        pose.arm[s][sl, 0] = 85 * r
        pose.arm[s][sl, 1] = 5
        pose.arm[s][sl, 3] = 8 + 4 * r
    pose.trunk[sl, 0] += 25 * amp * r
    pose.pelvis[sl, [0, 2]] -= 0.06 * amp * r[:, None] * heading(st.yaw)
    return st


def clap(pose: Pose, f0: int, n: int, st: State, count: int, amp: float) -> State:
    stand(pose, f0, f0 + n, st)
    sl = slice(f0, f0 + n)
    up = bump(n, 10, 10)
    inner = int(0.22 * n)
    r = reps(n, count, inner, n - inner)
    for s in "lr":
        pose.arm[s][sl, 0] = (60 + 15 * amp) * up
        pose.arm[s][sl, 1] = 40 - 65 * r * up
        pose.arm[s][sl, 3] = 8 + 15 * up
    return st


def trunk(pose: Pose, f0: int, n: int, st: State, kind: str, side: str | None, count: int,
          amp: float) -> State:
    stand(pose, f0, f0 + n, st)
    sl = slice(f0, f0 + n)
    r = np.minimum(1.0, 1.3 * reps(n, count, 3, n - 3))
    if kind == "bend":
        angle = 55 + 30 * amp
        pose.trunk[sl, 0] += angle * r
        pose.pelvis[sl, [0, 2]] -= 0.0015 * angle * r[:, None] * heading(st.yaw)
        for s in "lr":
            pose.arm[s][sl, 0] = 0.9 * angle * r
            pose.arm[s][sl, 1] = 5
    elif kind == "twist":
        pose.trunk[sl, 2] += SIDE_SIGN[side[0]] * (35 + 20 * amp) * r
        for s in "lr":
            pose.arm[s][sl, 0] = 20 * r
            pose.arm[s][sl, 1] = 60
            pose.arm[s][sl, 3] = 8 + 60 * r
    else:  # lean sideways
        pose.trunk[sl, 1] += SIDE_SIGN[side[0]] * (20 + 15 * amp) * r
        pose.pelvis[sl, [0, 2]] -= (SIDE_SIGN[side[0]] * 0.03 * r)[:, None] * np.array(
            [heading(st.yaw)[1], -heading(st.yaw)[0]])
    return st
