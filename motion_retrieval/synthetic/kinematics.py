"""From pose curves to joint positions: rotations, two-bone leg IK and the final assembly.

A clip is described by a `Pose` (per-frame curves: pelvis path, heading, toe targets for both
feet, trunk and arm angles). `pose_to_joints` turns it into (T, 22, 3) positions through
`skeleton.forward_kinematics`, so bone lengths are exact by construction. Legs are always solved
by inverse kinematics towards an ankle target, which is what keeps planted feet from sliding.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..skeleton import NUM_JOINTS, REST_OFFSETS, forward_kinematics, rest_pose

THIGH = float(np.linalg.norm(REST_OFFSETS[4]))
SHIN = float(np.linalg.norm(REST_OFFSETS[7]))
FOOT = REST_OFFSETS[10].copy()  # ankle -> toe joint, (0, -0.06, 0.133)
ANKLE_HEIGHT = float(-FOOT[1])  # ankle above the floor when the foot is flat
PELVIS_HEIGHT = float(rest_pose()[0, 1])
STANCE_HALF_WIDTH = 0.09  # toe joints this far from the body's midline while standing
HIP = {"l": 1, "r": 2}
KNEE = {"l": 4, "r": 5}
ANKLE = {"l": 7, "r": 8}
TOE = {"l": 10, "r": 11}
SHOULDER = {"l": 16, "r": 17}
ELBOW = {"l": 18, "r": 19}
SIDE_SIGN = {"l": 1.0, "r": -1.0}  # the person's left is +X


def rot_x(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1),
                     np.stack([z, s, c], -1)], -2)


def rot_y(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1),
                     np.stack([-s, z, c], -1)], -2)


def rot_z(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1),
                     np.stack([z, z, o], -1)], -2)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def swing(u: np.ndarray) -> np.ndarray:
    """(T, 3, 3) shortest rotations taking -Y (a hanging bone) onto the unit vectors u (T, 3)."""
    down = np.array([0.0, -1.0, 0.0])
    axis = np.cross(down, u)
    s = np.linalg.norm(axis, axis=-1)
    c = np.clip(u @ down, -1.0, 1.0)
    k = axis / np.maximum(s, 1e-9)[:, None]
    K = np.zeros((len(u), 3, 3))
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 0] = -k[:, 2], k[:, 1], k[:, 2]
    K[:, 1, 2], K[:, 2, 0], K[:, 2, 1] = -k[:, 0], -k[:, 1], k[:, 0]
    return np.eye(3) + s[:, None, None] * K + (1 - c)[:, None, None] * (K @ K)


def arm_rotations(side: str, elevation: np.ndarray, plane: np.ndarray, roll: np.ndarray,
                  elbow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local shoulder and elbow rotations from angles in degrees.

    elevation: 0 hanging, 90 horizontal, up to ~165; plane: 0 in front, 90 out to the side;
    roll: turn of the upper arm about itself (positive lifts a bent forearm up when the arm is
    out to the side); elbow: flexion >= 0, so the elbow can never bend backwards.
    """
    e, p = np.radians(elevation), np.radians(plane)
    u = np.stack([SIDE_SIGN[side] * np.sin(e) * np.sin(p), -np.cos(e), np.sin(e) * np.cos(p)], -1)
    shoulder = swing(u) @ rot_y(SIDE_SIGN[side] * np.radians(roll))
    return shoulder, rot_x(-np.radians(np.maximum(elbow, 0.0)))


def leg_ankle_offset(side: str, flexion: np.ndarray, abduction: np.ndarray,
                     knee: np.ndarray) -> np.ndarray:
    """Ankle position relative to the pelvis (pelvis frame) for a leg posed by angles (deg)."""
    R = rot_z(SIDE_SIGN[side] * np.radians(abduction)) @ rot_x(-np.radians(flexion))
    shin = rot_x(np.radians(knee)) @ np.array([0.0, -SHIN, 0.0])
    thigh = np.array([0.0, -THIGH, 0.0])
    return REST_OFFSETS[HIP[side]] + R @ thigh + np.einsum("tij,tj->ti", R, shin)


def leg_ik(hip: np.ndarray, ankle: np.ndarray, lateral: np.ndarray,
           reach: float = 0.999) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-bone IK in world space: the knee bends in the plane normal to `lateral`, forwards.

    hip, ankle, lateral: (T, 3). Returns the thigh's world rotation (T, 3, 3), the knee flexion
    angle (T,) in radians (>= 0) and the ankle actually reached (equal to the target when it is
    within reach).
    """
    d = ankle - hip
    L = np.linalg.norm(d, axis=-1)
    dh = d / np.maximum(L, 1e-9)[:, None]
    L = np.clip(L, abs(THIGH - SHIN) + 1e-3, reach * (THIGH + SHIN))
    n = _unit(lateral - np.sum(lateral * dh, -1, keepdims=True) * dh)
    a = (THIGH**2 - SHIN**2 + L**2) / (2 * L)
    h = np.sqrt(np.maximum(THIGH**2 - a**2, 0.0))
    knee = hip + a[:, None] * dh + h[:, None] * np.cross(dh, n)
    reached = hip + L[:, None] * dh
    u = (knee - hip) / THIGH
    f = (reached - knee) / SHIN
    z = np.cross(n, -u)
    R = np.stack([n, -u, z], -1)
    theta = np.arctan2(-np.sum(f * z, -1), np.sum(f * u, -1))
    return R, theta, reached


@dataclass
class Pose:
    """Per-frame curves of one clip (T frames). Angles in degrees, positions in metres (world)."""

    T: int
    pelvis: np.ndarray = field(init=False)          # (T, 3) pelvis position
    yaw: np.ndarray = field(init=False)             # (T,) heading, + turns to the left
    tilt: np.ndarray = field(init=False)            # (T,) pelvis pitch, + forwards
    toe: dict = field(init=False)                   # side -> (T, 3) toe target (world)
    foot_yaw: dict = field(init=False)              # side -> (T,) foot heading
    foot_pitch: dict = field(init=False)            # side -> (T,) + heel up / toes down
    free: dict = field(init=False)                  # side -> (T,) 0 = follow toe, 1 = `leg`
    leg: dict = field(init=False)                   # side -> (T, 3) hip flex, abd, knee
    trunk: np.ndarray = field(init=False)           # (T, 3) bend forward, lean left, twist left
    neck: np.ndarray = field(init=False)            # (T, 2) nod down, tilt left
    arm: dict = field(init=False)                   # side -> (T, 4) elevation, plane, roll, elbow

    def __post_init__(self) -> None:
        T = self.T
        self.pelvis = np.zeros((T, 3))
        self.yaw = np.zeros(T)
        self.tilt = np.zeros(T)
        self.toe = {s: np.zeros((T, 3)) for s in "lr"}
        self.foot_yaw = {s: np.zeros(T) for s in "lr"}
        self.foot_pitch = {s: np.zeros(T) for s in "lr"}
        self.free = {s: np.zeros(T) for s in "lr"}
        self.leg = {s: np.zeros((T, 3)) for s in "lr"}
        self.trunk = np.zeros((T, 3))
        self.neck = np.zeros((T, 2))
        self.arm = {s: np.tile([0.0, 90.0, 0.0, 8.0], (T, 1)) for s in "lr"}


def foot_vector(yaw: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """World vector ankle -> toe for a foot with this heading and pitch (radians)."""
    return np.einsum("tij,tj->ti", rot_y(yaw) @ rot_x(pitch), np.broadcast_to(FOOT, (len(yaw), 3)))


def pelvis_rotation(pose: Pose) -> np.ndarray:
    return rot_y(np.radians(pose.yaw)) @ rot_x(np.radians(pose.tilt))


def limit_pelvis_height(pose: Pose, margin: float = 0.985) -> None:
    """Lower the pelvis where a planted foot would otherwise be out of the leg's reach."""
    R0 = pelvis_rotation(pose)
    cap = np.full(pose.T, np.inf)
    for s in "lr":
        planted = pose.free[s] < 0.5
        ankle = pose.toe[s] - foot_vector(np.radians(pose.foot_yaw[s]),
                                          np.radians(pose.foot_pitch[s]))
        hip_off = np.einsum("tij,j->ti", R0, REST_OFFSETS[HIP[s]])
        hip_xz = pose.pelvis + hip_off
        dh2 = (hip_xz[:, 0] - ankle[:, 0]) ** 2 + (hip_xz[:, 2] - ankle[:, 2]) ** 2
        room = np.sqrt(np.maximum((margin * (THIGH + SHIN)) ** 2 - dh2, 0.0))
        c = ankle[:, 1] + room - hip_off[:, 1]
        cap = np.where(planted, np.minimum(cap, c), cap)
    y = np.minimum(pose.pelvis[:, 1], cap)
    # a pelvis that drops abruptly looks wrong: ease every dip in over a few frames
    k = 4
    pad = np.pad(y, k, mode="edge")
    eroded = np.min(np.stack([pad[i:i + len(y)] for i in range(2 * k + 1)]), 0)
    w = np.hanning(2 * k + 3)[1:-1]
    smooth = np.convolve(np.pad(eroded, k, mode="edge"), w / w.sum(), mode="valid")
    pose.pelvis[:, 1] = np.minimum(smooth, cap)


def pose_to_joints(pose: Pose, return_local: bool = False):
    """(T, 22, 3) float64 joint positions for a pose (pelvis height is capped to leg reach).

    With return_local, also the (T, 22, 3, 3) local rotations (for checking joint limits).
    """
    T = pose.T
    limit_pelvis_height(pose)
    local = np.tile(np.eye(3), (T, NUM_JOINTS, 1, 1))
    R0 = pelvis_rotation(pose)
    local[:, 0] = R0
    bend, lean, twist = np.radians(pose.trunk).T
    spine = rot_y(twist / 3) @ rot_x(bend / 3) @ rot_z(-lean / 3)
    for j in (3, 6, 9):
        local[:, j] = spine
    local[:, 12] = rot_x(np.radians(pose.neck[:, 0])) @ rot_z(-np.radians(pose.neck[:, 1]))
    for s in "lr":
        el, pl, ro, eb = pose.arm[s].T
        local[:, SHOULDER[s]], local[:, ELBOW[s]] = arm_rotations(s, el, pl, ro, eb)
        yaw, pitch = np.radians(pose.foot_yaw[s]), np.radians(pose.foot_pitch[s])
        fvec = foot_vector(yaw, pitch)
        hip = pose.pelvis + np.einsum("tij,j->ti", R0, REST_OFFSETS[HIP[s]])
        planted_ankle = pose.toe[s] - fvec
        flex, abd, kn = pose.leg[s].T
        free_ankle = pose.pelvis + np.einsum("tij,tj->ti", R0, leg_ankle_offset(s, flex, abd, kn))
        # a freed leg leaves the floor vertically first, then follows its own pose
        w = pose.free[s]
        rise = np.maximum(free_ankle[:, 1] - planted_ankle[:, 1], 0.0)
        wh = (w * np.clip(rise / 0.05, 0, 1) ** 2)[:, None]
        ankle = (1 - wh) * planted_ankle + wh * free_ankle
        ankle[:, 1] = planted_ankle[:, 1] + w * rise
        lateral = np.einsum("tij,j->ti", rot_y(yaw), np.array([1.0, 0.0, 0.0]))
        R_thigh, theta, _ = leg_ik(hip, ankle, lateral)
        local[:, HIP[s]] = np.swapaxes(R0, 1, 2) @ R_thigh
        local[:, KNEE[s]] = rot_x(theta)
        # ankle hinge: turn the foot about the knee's axis to the wanted pitch
        shank = R_thigh @ rot_x(theta)
        t = np.einsum("tji,tj->ti", shank, fvec)
        a = np.arctan2(t[:, 2], t[:, 1]) - np.arctan2(FOOT[2], FOOT[1])
        local[:, ANKLE[s]] = rot_x((a + np.pi) % (2 * np.pi) - np.pi)
    joints = forward_kinematics(local, pose.pelvis)
    return (joints, local) if return_local else joints
