"""The 22-joint SMPL / HumanML3D skeleton, the 14 body parts of the Motion Image, and mirroring.

Coordinate convention (HumanML3D): metres, Y up, the body faces +Z, so the person's left is +X.
"""
from __future__ import annotations

import re

import numpy as np

FPS = 20  # HumanML3D frame rate; every motion in the project is resampled to it.

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "l_hip", "r_hip", "spine1", "l_knee", "r_knee", "spine2", "l_ankle", "r_ankle",
    "spine3", "l_foot", "r_foot", "neck", "l_collar", "r_collar", "head", "l_shoulder",
    "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist",
)
NUM_JOINTS = len(JOINT_NAMES)
JOINT_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}

PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19,
)

# The chains HumanML3D draws and uses (right leg, left leg, spine, right arm, left arm).
KINEMATIC_CHAINS: tuple[tuple[int, ...], ...] = (
    (0, 2, 5, 8, 11),
    (0, 1, 4, 7, 10),
    (0, 3, 6, 9, 12, 15),
    (9, 14, 17, 19, 21),
    (9, 13, 16, 18, 20),
)

# Joint i <-> MIRROR_JOINTS[i] when left and right are swapped.
MIRROR_JOINTS: tuple[int, ...] = tuple(
    JOINT_INDEX[re.sub(r"^(l|r)_", lambda m: "r_" if m.group(1) == "l" else "l_", n)]
    for n in JOINT_NAMES
)

# The 14 body parts of the Motion Image (METHOD.md §1), in band order, with their degrees of
# freedom and the joints whose movement each one describes (used to light up the skeleton).
BODY_PARTS: tuple[str, ...] = (
    "global", "pelvis", "r_hip", "l_hip", "r_knee", "l_knee", "r_ankle", "l_ankle",
    "lumbar", "neck", "r_shoulder", "l_shoulder", "r_elbow", "l_elbow",
)
NUM_PARTS = len(BODY_PARTS)
PART_INDEX = {name: i for i, name in enumerate(BODY_PARTS)}
PART_DOF: tuple[int, ...] = (3, 3, 3, 3, 1, 1, 1, 1, 3, 2, 3, 3, 1, 1)
NUM_DOF = sum(PART_DOF)  # 29

# Human-readable part names for the UI.
PART_LABELS: tuple[str, ...] = (
    "root trajectory", "pelvis", "right hip", "left hip", "right knee", "left knee",
    "right ankle", "left ankle", "lumbar (trunk)", "neck", "right shoulder", "left shoulder",
    "right elbow", "left elbow",
)

PART_JOINTS: dict[str, tuple[int, ...]] = {
    "global": (0,),
    "pelvis": (0, 1, 2),
    "r_hip": (2, 5),
    "l_hip": (1, 4),
    "r_knee": (5, 8),
    "l_knee": (4, 7),
    "r_ankle": (8, 11),
    "l_ankle": (7, 10),
    "lumbar": (0, 3, 6, 9),
    "neck": (12, 15),
    "r_shoulder": (14, 17, 19),
    "l_shoulder": (13, 16, 18),
    "r_elbow": (19, 21),
    "l_elbow": (18, 20),
}


def _part_columns() -> dict[str, slice]:
    out, start = {}, 0
    for name, dof in zip(BODY_PARTS, PART_DOF):
        out[name] = slice(start, start + dof)
        start += dof
    return out


# Columns of the (T, 29) joint-angle array that belong to each part.
PART_COLUMNS: dict[str, slice] = _part_columns()

# Names of the 29 columns, in order (see motion_retrieval.angles for sign conventions).
ANGLE_COLUMNS: tuple[str, ...] = (
    "global_x", "global_y", "global_z",
    "pelvis_yaw", "pelvis_tilt", "pelvis_list",
    "r_hip_flexion", "r_hip_adduction", "r_hip_rotation",
    "l_hip_flexion", "l_hip_adduction", "l_hip_rotation",
    "r_knee_flexion", "l_knee_flexion",
    "r_ankle_flexion", "l_ankle_flexion",
    "lumbar_extension", "lumbar_bending", "lumbar_rotation",
    "neck_flexion", "neck_bending",
    "r_shoulder_plane", "r_shoulder_elevation", "r_shoulder_rotation",
    "l_shoulder_plane", "l_shoulder_elevation", "l_shoulder_rotation",
    "r_elbow_flexion", "l_elbow_flexion",
)
assert len(ANGLE_COLUMNS) == NUM_DOF

MIRROR_PARTS: tuple[int, ...] = tuple(
    PART_INDEX[re.sub(r"^(l|r)_", lambda m: "r_" if m.group(1) == "l" else "l_", n)]
    for n in BODY_PARTS
)

# Body parts grouped the way captions talk about them (used by grounding and the UI).
PART_GROUPS: dict[str, tuple[str, ...]] = {
    "left_arm": ("l_shoulder", "l_elbow"),
    "right_arm": ("r_shoulder", "r_elbow"),
    "left_leg": ("l_hip", "l_knee", "l_ankle"),
    "right_leg": ("r_hip", "r_knee", "r_ankle"),
    "trunk": ("lumbar", "pelvis"),
    "head": ("neck",),
    "whole_body": ("global", "pelvis"),
}


def mirror_motion(joints: np.ndarray) -> np.ndarray:
    """Mirror a (..., 22, 3) motion through the sagittal plane: swap left/right joints, negate x."""
    joints = np.asarray(joints)
    if joints.shape[-2:] != (NUM_JOINTS, 3):
        raise ValueError(f"expected (..., {NUM_JOINTS}, 3) joints, got {joints.shape}")
    out = joints[..., list(MIRROR_JOINTS), :].copy()
    out[..., 0] *= -1
    return out


_SIDE_WORDS = {
    "left": "right", "right": "left",
    "leftward": "rightward", "rightward": "leftward",
    "leftwards": "rightwards", "rightwards": "leftwards",
    "clockwise": "counterclockwise", "counterclockwise": "clockwise",
    "anticlockwise": "clockwise",
}
_SIDE_RE = re.compile(r"\b(" + "|".join(sorted(_SIDE_WORDS, key=len, reverse=True)) + r")\b",
                      re.IGNORECASE)


def _match_case(word: str, like: str) -> str:
    if like.isupper():
        return word.upper()
    if like[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def mirror_caption(text: str) -> str:
    """Swap left/right (and clockwise/counterclockwise) words, keeping their capitalisation."""
    return _SIDE_RE.sub(lambda m: _match_case(_SIDE_WORDS[m.group(0).lower()], m.group(0)), text)


# A rest pose (standing, arms hanging, facing +Z) whose bone lengths match the HumanML3D sample
# (mean over its 170 frames). Offsets are joint minus parent, metres; left is +X.
REST_OFFSETS = np.array([
    [0.0, 0.0, 0.0],          # pelvis (placed by rest_pose)
    [0.065, -0.080, 0.0],     # l_hip
    [-0.065, -0.080, 0.0],    # r_hip
    [0.0, 0.128, -0.032],     # spine1
    [0.0, -0.392, 0.0],       # l_knee
    [0.0, -0.392, 0.0],       # r_knee
    [0.0, 0.143, 0.0],        # spine2
    [0.0, -0.429, 0.0],       # l_ankle
    [0.0, -0.429, 0.0],       # r_ankle
    [0.0, 0.055, 0.015],      # spine3
    [0.0, -0.06, 0.133],      # l_foot
    [0.0, -0.06, 0.133],      # r_foot
    [0.0, 0.213, -0.05],      # neck
    [0.075, 0.115, -0.01],    # l_collar
    [-0.075, 0.115, -0.01],   # r_collar
    [0.0, 0.09, 0.05],        # head
    [0.128, 0.0, 0.0],        # l_shoulder
    [-0.128, 0.0, 0.0],       # r_shoulder
    [0.0, -0.26, 0.0],        # l_elbow
    [0.0, -0.26, 0.0],        # r_elbow
    [0.0, -0.268, 0.0],       # l_wrist
    [0.0, -0.268, 0.0],       # r_wrist
], dtype=np.float64)

BONE_LENGTHS = np.linalg.norm(REST_OFFSETS, axis=1)  # index = child joint; [0] is 0


def rest_pose() -> np.ndarray:
    """(22, 3) standing pose, arms down, facing +Z, feet on y = 0, pelvis above the origin."""
    pos = np.zeros((NUM_JOINTS, 3))
    for j in range(1, NUM_JOINTS):
        pos[j] = pos[PARENTS[j]] + REST_OFFSETS[j]
    pos[:, 1] -= pos[[10, 11], 1].min()
    return pos


def forward_kinematics(local_rot: np.ndarray, root_pos: np.ndarray,
                       offsets: np.ndarray = REST_OFFSETS) -> np.ndarray:
    """Joint positions from per-joint local rotations.

    local_rot: (T, 22, 3, 3) rotation of each joint relative to its parent's frame (the rest pose
    is identity everywhere); root_pos: (T, 3) pelvis position. Vectorised over frames.
    Returns (T, 22, 3).
    """
    local_rot = np.asarray(local_rot, dtype=np.float64)
    T = local_rot.shape[0]
    glob = np.empty_like(local_rot)
    pos = np.empty((T, NUM_JOINTS, 3))
    glob[:, 0] = local_rot[:, 0]
    pos[:, 0] = root_pos
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        glob[:, j] = glob[:, p] @ local_rot[:, j]
        pos[:, j] = pos[:, p] + glob[:, p] @ offsets[j]
    return pos
