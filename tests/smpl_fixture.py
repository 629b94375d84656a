"""A tiny SMPL-structured body model for tests (no SMPL file ships anywhere).

24 joints, one vertex at each joint (J_regressor picks it) skinned to the parent bone, plus one
vertex per bone so every bone is a triangle. Its rest skeleton is ours (skeleton.rest_pose), so a
motion made by forward kinematics on our skeleton can be matched exactly.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import scipy.sparse

from motion_retrieval import mesh as M
from motion_retrieval import skeleton as sk

NJ = M.SMPL_NUM_JOINTS


def tiny_rest() -> np.ndarray:
    rest = np.zeros((NJ, 3))
    rest[:22] = sk.rest_pose()
    rest[22] = rest[20] + [0, -0.08, 0]
    rest[23] = rest[21] + [0, -0.08, 0]
    return rest


def t_pose_rest() -> np.ndarray:
    """Our skeleton with the arms held out sideways, the rest pose of the real SMPL."""
    rest = tiny_rest()
    for side, sign in (((16, 18, 20, 22), 1), ((17, 19, 21, 23), -1)):
        lengths = np.linalg.norm(np.diff(rest[list(side)], axis=0), axis=1)
        for i, j in enumerate(side[1:]):
            rest[j] = rest[side[i]] + [sign * lengths[i], 0, 0]
    return rest


def tiny_model(sparse_regressor: bool = False, rest: np.ndarray | None = None) -> dict:
    """A 47-vertex, 23-face model laid out like SMPL_NEUTRAL.pkl."""
    rest = tiny_rest() if rest is None else rest
    parents = M.SMPL_PARENTS
    rng = np.random.default_rng(0)
    bones = range(1, NJ)
    mids = np.array([(rest[parents[c]] + rest[c]) / 2 + [0.0, 0.0, 0.03] for c in bones])
    v = np.concatenate([rest, mids])
    V = len(v)
    weights = np.zeros((V, NJ))
    weights[0, 0] = 1
    for c in bones:
        weights[c, parents[c]] = 1  # a joint's vertex rides on the bone that ends there
        weights[NJ + c - 1, parents[c]] = 1
    shapedirs = rng.normal(scale=0.005, size=(V, 3, 10))
    shapedirs[:, :, 0] = 0.1 * (v - rest[0])  # beta 0 = +10 % size about the pelvis
    posedirs = np.zeros((V, 3, 9 * (NJ - 1)))
    posedirs[NJ:] = rng.normal(scale=1e-3, size=(V - NJ, 3, 9 * (NJ - 1)))
    regressor = np.eye(NJ, V)
    kintree = np.stack([np.array(parents, dtype=np.int64) % 2**32, np.arange(NJ)])
    return {
        "v_template": v, "shapedirs": shapedirs, "posedirs": posedirs,
        "J_regressor": scipy.sparse.csc_matrix(regressor) if sparse_regressor else regressor,
        "weights": weights, "kintree_table": kintree.astype(np.uint32),
        "f": np.array([[parents[c], c, NJ + c - 1] for c in bones], dtype=np.uint32),
        "bs_style": "lbs", "bs_type": "lrotmin",
    }


def write_model_dir(root: Path) -> Path:
    """smplx's create() layout: ROOT/smpl/SMPL_NEUTRAL.pkl (pickled the way SMPL ships)."""
    (root / "smpl").mkdir(parents=True, exist_ok=True)
    with open(root / "smpl" / "SMPL_NEUTRAL.pkl", "wb") as fh:
        pickle.dump(tiny_model(sparse_regressor=True), fh, protocol=2)
    return root
