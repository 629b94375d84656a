"""Checks, units, resampling and the HumanML3D canonical frame for (T, 22, 3) joints."""
from __future__ import annotations

import numpy as np

from ..errors import MotionFormatError
from ..skeleton import FPS, JOINT_INDEX

MIN_SECONDS = 0.5
MAX_SECONDS = 120.0

_FEET = [JOINT_INDEX[n] for n in ("l_ankle", "r_ankle", "l_foot", "r_foot")]
# Pelvis-to-ankle plus pelvis-to-head chains: a pose-independent body size.
_HEIGHT_CHAIN = [("l_hip", "pelvis"), ("l_knee", "l_hip"), ("l_ankle", "l_knee"),
                 ("spine1", "pelvis"), ("spine2", "spine1"), ("spine3", "spine2"),
                 ("neck", "spine3"), ("head", "neck")]


def body_height(joints: np.ndarray) -> float:
    """Rough standing height from mean bone lengths (same units as `joints`)."""
    total = 0.0
    for a, b in _HEIGHT_CHAIN:
        d = joints[:, JOINT_INDEX[a]] - joints[:, JOINT_INDEX[b]]
        total += float(np.linalg.norm(d, axis=-1).mean())
    return total


def unit_scale(height: float) -> float:
    """Factor to metres for a body of this height in unknown units (m, cm or mm)."""
    # A person is 1-2 m; anything past 5 units is not metres, past 500 not centimetres.
    if height <= 5.0:
        return 1.0
    if height <= 500.0:
        return 0.01
    return 0.001


def check_finite(x: np.ndarray, what: str) -> None:
    bad = ~np.isfinite(x)
    if bad.any():
        frame = int(np.argwhere(bad)[0][0])
        raise MotionFormatError(f"{what} holds NaN or infinite values (first at frame {frame})")


def check_duration(n_frames: int, fps: float, max_seconds: float, what: str) -> None:
    if not np.isfinite(fps) or fps <= 0:
        raise MotionFormatError(f"{what}: frame rate must be a positive number, got {fps}")
    seconds = n_frames / fps
    if seconds < MIN_SECONDS:
        raise MotionFormatError(
            f"{what} is too short: {n_frames} frames at {fps:g} fps = {seconds:.2f} s "
            f"(at least {MIN_SECONDS} s is needed)")
    if seconds > max_seconds:
        raise MotionFormatError(
            f"{what} is too long: {seconds:.1f} s (the limit is {max_seconds:g} s; "
            "cut it or raise max_seconds)")


def resample(x: np.ndarray, fps: float, target: float = FPS) -> np.ndarray:
    """Linear interpolation along axis 0 from `fps` to `target` frames per second."""
    if abs(fps - target) < 1e-6:
        return x
    n = x.shape[0]
    n_out = int(np.floor((n - 1) * target / fps + 1e-6)) + 1
    t = np.arange(n_out) * (fps / target)
    i0 = np.minimum(np.floor(t).astype(int), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    w = (t - i0).reshape((-1,) + (1,) * (x.ndim - 1))
    return x[i0] * (1 - w) + x[i1] * w


def facing_angle(joints: np.ndarray, frame: int = 0) -> float | None:
    """Heading (radians about +Y) of the body at `frame`, from hips and shoulders; None if lying."""
    j = joints[frame]
    across = (j[JOINT_INDEX["r_hip"]] - j[JOINT_INDEX["l_hip"]]
              + j[JOINT_INDEX["r_shoulder"]] - j[JOINT_INDEX["l_shoulder"]])
    # forward = up x across, kept in the ground plane.
    fwd = np.array([across[2], 0.0, -across[0]])
    n = np.linalg.norm(fwd)
    if n < 1e-8 * max(1.0, np.abs(j).max()):
        return None
    return float(np.arctan2(fwd[0], fwd[2]))


def rotate_y(joints: np.ndarray, angle: float) -> np.ndarray:
    """Rotate about +Y by `angle` radians (counter-clockwise seen from above)."""
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return joints @ rot.T


def canonicalize(joints: np.ndarray) -> np.ndarray:
    """Put (T, 22, 3) metres, Y up into the HumanML3D frame; returns float32.

    Lowest foot point over the clip on y = 0, pelvis x = z = 0 at frame 0, facing +Z at frame 0.
    """
    x = np.asarray(joints, dtype=np.float64)
    angle = facing_angle(x)
    if angle is not None:
        x = rotate_y(x, -angle)
    x = x - np.array([x[0, 0, 0], x[:, _FEET, 1].min(), x[0, 0, 2]])
    return x.astype(np.float32)
