"""HumanML3D's 263-number feature vectors back to joint positions."""
from __future__ import annotations

import numpy as np

from ..errors import MotionFormatError
from ..skeleton import NUM_JOINTS

VEC_DIM = 263


def recover_from_vec263(vec: np.ndarray) -> np.ndarray:
    """(T, 263) HumanML3D features -> (T, 22, 3) joint positions, metres (float64).

    Uses the first 4 + 63 numbers: heading velocity, root xz velocity in the heading frame,
    root height, and the 21 root-relative joints in the heading frame.
    """
    vec = np.asarray(vec, dtype=np.float64)
    if vec.ndim != 2 or vec.shape[1] != VEC_DIM:
        raise MotionFormatError(f"expected (T, {VEC_DIM}) HumanML3D features, got {vec.shape}")
    T = vec.shape[0]
    # The stored quaternion is (cos a, 0, sin a, 0) with a the running sum of the velocities
    # of the *previous* frames, i.e. a rotation of 2a about +Y; positions are un-rotated by it.
    half = np.concatenate([[0.0], np.cumsum(vec[:-1, 0])])
    theta = -2.0 * half
    c, s = np.cos(theta), np.sin(theta)

    def unrotate(v: np.ndarray) -> np.ndarray:  # v (T, ..., 3), rotation by theta about +Y
        shape = (T,) + (1,) * (v.ndim - 2)
        cc, ss = c.reshape(shape), s.reshape(shape)
        out = v.copy()
        out[..., 0] = cc * v[..., 0] + ss * v[..., 2]
        out[..., 2] = -ss * v[..., 0] + cc * v[..., 2]
        return out

    step = np.zeros((T, 3))
    step[1:, [0, 2]] = vec[:-1, 1:3]
    root = np.cumsum(unrotate(step), axis=0)
    root[:, 1] = vec[:, 3]

    local = vec[:, 4:4 + (NUM_JOINTS - 1) * 3].reshape(T, NUM_JOINTS - 1, 3)
    joints = unrotate(local)
    joints[..., 0] += root[:, None, 0]
    joints[..., 2] += root[:, None, 2]
    return np.concatenate([root[:, None], joints], axis=1)
