"""KIT-ML (MMM) 21-joint positions mapped into the 22-joint SMPL order."""
from __future__ import annotations

import numpy as np

from ..errors import MotionFormatError
from ..skeleton import JOINT_INDEX, NUM_JOINTS

KIT_JOINTS: tuple[str, ...] = (
    "root", "BP", "BT", "BLN", "BUN", "LS", "LE", "LW", "RS", "RE", "RW",
    "LH", "LK", "LA", "LMrot", "LF", "RH", "RK", "RA", "RMrot", "RF",
)
KIT_INDEX = {n: i for i, n in enumerate(KIT_JOINTS)}

# MMM's "L"/"R" prefixes are the mirror of SMPL's left/right in the processed KIT-ML data:
# HumanML3D's KIT pipeline takes index 11 (LH) as the right hip and 5 (LS) as the right
# shoulder, and TEMOS/MotionGPT map SMPL left_hip to "RH". We follow them so that "left" in a
# KIT caption is the SMPL left here. Ankle = A and foot = Mrot (the metatarsal, i.e. the ball
# of the foot, which is where SMPL's foot joint sits).
_DIRECT = {
    "pelvis": "root", "spine1": "BP", "spine3": "BT", "neck": "BLN", "head": "BUN",
    "l_hip": "RH", "l_knee": "RK", "l_ankle": "RA", "l_foot": "RMrot",
    "r_hip": "LH", "r_knee": "LK", "r_ankle": "LA", "r_foot": "LMrot",
    "l_shoulder": "RS", "l_elbow": "RE", "l_wrist": "RW",
    "r_shoulder": "LS", "r_elbow": "LE", "r_wrist": "LW",
}


def collar_point(spine3: np.ndarray, neck: np.ndarray, shoulder: np.ndarray) -> np.ndarray:
    """Where SMPL's collar joint sits when a rig has none: a third of the way to the shoulder
    from the base of the neck (between chest and neck), matching SMPL's rest proportions."""
    return 0.63 * (0.5 * (spine3 + neck)) + 0.37 * shoulder


def kit_to_smpl(joints: np.ndarray) -> np.ndarray:
    """(T, 21, 3) KIT-ML joints -> (T, 22, 3) in SMPL order, same units; missing joints
    (spine2, collars) interpolated."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (len(KIT_JOINTS), 3):
        raise MotionFormatError(f"expected (T, 21, 3) KIT-ML joints, got {joints.shape}")
    out = np.empty((joints.shape[0], NUM_JOINTS, 3))
    for name, kit in _DIRECT.items():
        out[:, JOINT_INDEX[name]] = joints[:, KIT_INDEX[kit]]
    j = JOINT_INDEX
    out[:, j["spine2"]] = 0.5 * (out[:, j["spine1"]] + out[:, j["spine3"]])
    for side in "lr":
        out[:, j[f"{side}_collar"]] = collar_point(
            out[:, j["spine3"]], out[:, j["neck"]], out[:, j[f"{side}_shoulder"]])
    return out
