"""Known poses and random valid skeletons for the joint-angle tests (forward kinematics)."""
from __future__ import annotations

import numpy as np

from motion_retrieval import skeleton as sk


def rx(deg: float) -> np.ndarray:
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def ry(deg: float) -> np.ndarray:
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rz(deg: float) -> np.ndarray:
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def pose(**rotations: np.ndarray) -> np.ndarray:
    """(1, 22, 3) rest pose with local rotations at named joints (a joint's rotation moves its
    children: `l_knee=rx(90)` bends the left knee 90 degrees)."""
    local = np.tile(np.eye(3), (1, sk.NUM_JOINTS, 1, 1))
    for name, rot in rotations.items():
        local[0, sk.JOINT_INDEX[name]] = rot
    root = sk.rest_pose()[0][None]
    return sk.forward_kinematics(local, root)


def rotate_upper_body(joints: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """Turn everything above the pelvis about the pelvis joint (a bend at the lumbar spine)."""
    out = np.array(joints, dtype=np.float64)
    upper = [sk.JOINT_INDEX[n] for n in sk.JOINT_NAMES
             if n not in ("pelvis",) and "hip" not in n and "knee" not in n
             and "ankle" not in n and "foot" not in n]
    pelvis = out[:, :1]
    out[:, upper] = pelvis + (out[:, upper] - pelvis) @ rot.T
    return out


def turn_about_vertical(joints: np.ndarray, deg: float) -> np.ndarray:
    """The whole motion turned about the world Y axis through the origin."""
    return np.asarray(joints, dtype=np.float64) @ ry(deg).T


def random_rotations(rng: np.random.Generator, shape: tuple[int, ...],
                     max_deg: float) -> np.ndarray:
    """Random rotations (shape + (3, 3)) with angles up to max_deg about random axes."""
    axis = rng.normal(size=(*shape, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    angle = np.radians(rng.uniform(0, max_deg, size=shape))[..., None, None]
    k = np.zeros((*shape, 3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -axis[..., 2], axis[..., 1], -axis[..., 0]
    k = k - np.swapaxes(k, -1, -2)
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def random_motion(rng: np.random.Generator, frames: int = 8, max_deg: float = 60.0,
                  smooth: bool = False) -> np.ndarray:
    """A (T, 22, 3) motion of a valid skeleton: random joint rotations, random bone scale, a
    random heading and a wandering pelvis. With smooth=True the pose drifts slowly over time."""
    if smooth:
        start, end = random_rotations(rng, (2, sk.NUM_JOINTS), max_deg)
        w = np.linspace(0, 1, frames)[:, None, None, None]
        local = _orthonormalise((1 - w) * start + w * end)
    else:
        local = random_rotations(rng, (frames, sk.NUM_JOINTS), max_deg)
    local[:, 0] = ry(rng.uniform(-180, 180)) @ local[:, 0]
    root = np.cumsum(rng.normal(scale=0.05, size=(frames, 3)), axis=0) + [0, 0.9, 0]
    offsets = sk.REST_OFFSETS * rng.uniform(0.8, 1.2)
    return sk.forward_kinematics(local, root, offsets)


def _orthonormalise(m: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(m)
    return u @ vt
