"""Joint positions -> model input: the one preprocessing path of training, evaluation, demo."""
from __future__ import annotations

import numpy as np

from .errors import MotionFormatError


def check_stats(stats: dict) -> tuple[np.ndarray, np.ndarray]:
    """(mean (29,), std (29,)) float32 from a stats dict; clear errors for anything else."""
    try:
        mean = np.asarray(stats["mean"], dtype=np.float32)
        std = np.asarray(stats["std"], dtype=np.float32)
    except (KeyError, TypeError) as exc:
        raise ValueError("angle statistics must be a dict with 'mean' and 'std'") from exc
    if mean.shape != (29,) or std.shape != (29,):
        raise ValueError(f"angle statistics must be (29,) each, got {mean.shape} / {std.shape}")
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)):
        raise ValueError("angle statistics must be finite with a positive std")
    return mean, std


def angles_to_input(angles: np.ndarray, stats: dict):
    """(T, 29) raw joint angles -> (x (224, 29) float32, block_mask (14,) bool, n_frames)."""
    from .motion_image import normalize, to_model_input

    mean, std = check_stats(stats)
    return to_model_input(normalize(angles, mean, std))


def motion_to_input(joints: np.ndarray, stats: dict):
    """(T, 22, 3) joints -> (x (224, 29) float32, block_mask (14,) bool, n_frames)."""
    from .angles import joint_angles

    joints = np.asarray(joints, dtype=np.float32)
    if joints.ndim != 3 or joints.shape[1:] != (22, 3):
        raise MotionFormatError(f"expected joints of shape (T, 22, 3), got {joints.shape}")
    if joints.shape[0] < 2:
        raise MotionFormatError("a motion needs at least 2 frames")
    return angles_to_input(joint_angles(joints), stats)
