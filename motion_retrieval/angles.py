"""Anatomical joint angles from joint positions: the 29 columns of the Motion Image (METHOD.md §1).

`joint_angles(joints (T, 22, 3)) -> (T, 29)`, columns in `skeleton.ANGLE_COLUMNS` order, degrees
except the three `global_*` columns (metres). Everything is vectorised over frames.

Frames. World: Y up, metres; a person facing +Z has their left on +X. Each frame gets two
right-handed frames whose columns are (left, up, forward):
- body (pelvis) frame: left = l_hip - r_hip; up = pelvis - hip midpoint, made orthogonal to left;
  forward = left x up (= up x across with across = r_hip - l_hip, as in METHOD.md). A person
  standing upright facing +Z has the identity body frame.
- thorax frame: left = l_collar - r_collar; up = neck - pelvis; then turned by the fixed rotation
  that makes it equal the body frame in `skeleton.rest_pose()` (the rest trunk leans back a little).
Every limb and trunk angle is measured in one of these frames, so turning the whole motion about
the vertical changes only `pelvis_yaw` and the trajectory x/z (heading invariance by construction).

Zero pose. Every angle column is 0 in `skeleton.rest_pose()` (standing, arms hanging, facing +Z).

Left and right. Right-limb vectors are reflected (x -> -x) in their frame and then go through the
same code as the left limb, so a left/right column pair has the same sign convention and mirroring
a motion (`skeleton.mirror_motion`) swaps the pair exactly. The midline columns that describe a
sideways quantity change sign under mirroring: global_x, pelvis_yaw, pelvis_list, lumbar_bending,
lumbar_rotation, neck_bending (see `MIRROR_SIGNS`, `MIRROR_PERM`).

Sign conventions (positive direction):
- global_x, global_z: pelvis position minus its position at frame 0, world axes (metres);
  global_y: pelvis height above y = 0 (canonical motions stand on y = 0).
- pelvis_yaw: heading, counter-clockwise seen from above (facing +X is +90), unwrapped over time
  so it never jumps by 360. Body frame = Ry(yaw) Rx(tilt) Rz(list).
- pelvis_tilt: the pelvis pitches forward (up axis leans forward); pelvis_list: left hip higher.
- hip_flexion: thigh forward; hip_adduction: thigh toward the midline; hip_rotation: internal
  (toes turn toward the midline), from the shank/foot direction around the thigh.
- knee_flexion, elbow_flexion: 180 - interior angle (0 = straight, never negative).
- ankle_flexion: dorsiflexion (foot toward the shin), relative to the rest-pose ankle.
- lumbar (thorax relative to pelvis, Rx(-extension) Rz(-bending) Ry(rotation) order):
  extension = leaning back (bending forward is negative), bending = toward the left,
  rotation = upper trunk turned to the left.
- neck (head direction, neck -> head, in the thorax frame): flexion = chin down / head forward,
  bending = toward the left.
- shoulder (upper arm in the thorax frame): elevation = angle between the arm and straight down
  (0..180); plane = direction the arm is raised in, 0 = sideways (abduction), 90 = forward,
  180 = across the chest, -90 = backward, wrapped to [-135, 225) so the cut sits at the rare
  backward-across direction; rotation = internal rotation of the upper arm, from the forearm
  (0 = forearm forward with the arm hanging; the zero reference is carried to other arm directions
  by the shortest turn from hanging), wrapped to [-135, 225).

Singular poses. The plane of elevation is undefined with the arm hanging or straight up: it is
multiplied by a weight that fades from 1 to 0 as elevation goes below 20 deg or above 160 deg, so
the column is continuous there. Shoulder rotation is undefined with a straight elbow (and for an
arm straight up): it is faded the same way as the elbow straightens below 30 deg of flexion and as
elevation goes above 160 deg. All angles use atan2, so every output is finite for any finite input,
degenerate skeletons (coincident joints) included.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import MotionFormatError
from .skeleton import ANGLE_COLUMNS, JOINT_INDEX, NUM_DOF, NUM_JOINTS, rest_pose

_EPS = 1e-9
_J = JOINT_INDEX
_REFLECT = np.array([-1.0, 1.0, 1.0])  # turns a right-limb vector into its left-limb look-alike
_DOWN = np.array([0.0, -1.0, 0.0])
_FORWARD = np.array([0.0, 0.0, 1.0])
_PLANE_FADE_DEG = 20.0  # plane of elevation fades to 0 within this many degrees of hanging/up
_ROT_FADE_DEG = 30.0  # shoulder rotation fades to 0 as the elbow straightens below this flexion

# Columns that change sign when a motion is mirrored; the others keep their sign.
_SIGNED_UNDER_MIRROR = ("global_x", "pelvis_yaw", "pelvis_list", "lumbar_bending",
                        "lumbar_rotation", "neck_bending")


def _swap_side(name: str) -> str:
    if name.startswith("l_"):
        return "r_" + name[2:]
    if name.startswith("r_"):
        return "l_" + name[2:]
    return name


_COL = {name: i for i, name in enumerate(ANGLE_COLUMNS)}
# joint_angles(mirror_motion(x)) == MIRROR_SIGNS * joint_angles(x)[:, MIRROR_PERM]
MIRROR_PERM: tuple[int, ...] = tuple(_COL[_swap_side(n)] for n in ANGLE_COLUMNS)
MIRROR_SIGNS = np.array([-1.0 if n in _SIGNED_UNDER_MIRROR else 1.0 for n in ANGLE_COLUMNS],
                        dtype=np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), _EPS)


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=-1)


def _frame(left: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation with columns (left, up, forward) from a left and a rough up vector."""
    left = _unit(left)
    up = _unit(up - _dot(up, left)[..., None] * left)
    return np.stack([left, up, np.cross(left, up)], axis=-1)


def _local(frame: np.ndarray, v: np.ndarray) -> np.ndarray:
    """World vectors (T, 3) expressed in per-frame frames (T, 3, 3)."""
    return np.einsum("tji,tj->ti", frame, v)


def _angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in radians between vectors; atan2 keeps it accurate near 0 and 180 degrees."""
    return np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), _dot(a, b))


def _twist(u: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Signed angle of r around unit axis u, from the rest forward direction carried along.

    The rest forward (+Z) is carried by the shortest rotation from straight down to u, which is
    well defined except for u straight up. Positive = r turned toward -X (medial for the left
    side) as seen for a limb hanging down.
    """
    w = np.cross(_DOWN, u)
    c = _dot(_DOWN, u)
    wf = np.cross(w, _FORWARD)
    ref = _FORWARD + wf + np.cross(w, wf) / np.maximum(1.0 + c, 1e-6)[..., None]
    r_perp = r - _dot(r, u)[..., None] * u
    return np.arctan2(_dot(u, np.cross(ref, r_perp)), _dot(ref, r_perp))


def _fade(x: np.ndarray, width: float) -> np.ndarray:
    return np.clip(x / width, 0.0, 1.0)


def _frames(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Body (pelvis) frames and uncorrected thorax frames, each (T, 3, 3)."""
    hips_mid = 0.5 * (p[:, _J["l_hip"]] + p[:, _J["r_hip"]])
    body = _frame(p[:, _J["l_hip"]] - p[:, _J["r_hip"]], p[:, _J["pelvis"]] - hips_mid)
    thorax = _frame(p[:, _J["l_collar"]] - p[:, _J["r_collar"]],
                    p[:, _J["neck"]] - p[:, _J["pelvis"]])
    return body, thorax


def _rest_constants() -> tuple[np.ndarray, float, float]:
    rest = rest_pose()[None]
    body, thorax = _frames(rest)
    # A rotation about the left axis (the rest pose is symmetric), so it commutes with mirroring.
    thorax_fix = thorax[0].T @ body[0]
    head = _local(thorax @ thorax_fix, rest[:, _J["head"]] - rest[:, _J["neck"]])[0]
    neck_flex = float(np.arctan2(head[2], head[1]))
    ankle = float(_angle_between(rest[:, _J["l_knee"]] - rest[:, _J["l_ankle"]],
                                 rest[:, _J["l_foot"]] - rest[:, _J["l_ankle"]])[0])
    return thorax_fix, neck_flex, ankle


_THORAX_FIX, _REST_NECK_FLEX, _REST_ANKLE_INTERIOR = _rest_constants()


def _leg(p: np.ndarray, body: np.ndarray, side: str) -> tuple[np.ndarray, ...]:
    s = side + "_"
    flip = _REFLECT if side == "r" else np.ones(3)
    hip, knee, ankle, foot = (p[:, _J[s + n]] for n in ("hip", "knee", "ankle", "foot"))
    thigh = _unit(_local(body, knee - hip) * flip)
    shank = _unit(_local(body, ankle - knee) * flip)
    toe = _unit(_local(body, foot - ankle) * flip)
    flexion = np.arctan2(thigh[:, 2], -thigh[:, 1])
    adduction = np.arctan2(-thigh[:, 0], np.hypot(thigh[:, 1], thigh[:, 2]))
    # The foot points forward and a bent shank points back: their difference is a forward
    # reference that survives both a straight knee and a bent one.
    rotation = _twist(thigh, toe - shank)
    knee_flex = _angle_between(thigh, shank)
    ankle_flex = _REST_ANKLE_INTERIOR - _angle_between(-shank, toe)
    return flexion, adduction, rotation, knee_flex, ankle_flex


def _arm(p: np.ndarray, thorax: np.ndarray, side: str) -> tuple[np.ndarray, ...]:
    s = side + "_"
    flip = _REFLECT if side == "r" else np.ones(3)
    shoulder, elbow, wrist = (p[:, _J[s + n]] for n in ("shoulder", "elbow", "wrist"))
    upper = _unit(_local(thorax, elbow - shoulder) * flip)
    fore = _unit(_local(thorax, wrist - elbow) * flip)
    elevation = np.arctan2(np.hypot(upper[:, 0], upper[:, 2]), -upper[:, 1])
    plane = np.mod(np.arctan2(upper[:, 2], upper[:, 0]) + np.radians(135), 2 * np.pi)
    plane -= np.radians(135)
    sin_elev = np.sin(elevation)
    plane = plane * _fade(sin_elev, np.sin(np.radians(_PLANE_FADE_DEG)))
    elbow_flex = _angle_between(upper, fore)
    # Twist is measured from the forearm, so it is only defined with a bent elbow; it also
    # loses its reference with the arm straight up.
    weight = _fade(np.sin(elbow_flex), np.sin(np.radians(_ROT_FADE_DEG)))
    weight = weight * _fade(np.pi - elevation, np.radians(_PLANE_FADE_DEG))
    # Wrapped to [-135, 225): the cut sits at an external rotation no shoulder reaches, while
    # hand-behind-the-back poses (large internal rotation) stay continuous.
    rotation = np.mod(_twist(upper, fore) + np.radians(135), 2 * np.pi) - np.radians(135)
    rotation = rotation * weight
    return plane, elevation, rotation, elbow_flex


def _check_joints(joints) -> np.ndarray:
    p = np.asarray(joints, dtype=np.float64)
    if p.ndim != 3 or p.shape[1:] != (NUM_JOINTS, 3):
        raise MotionFormatError(
            f"joint_angles expects joint positions of shape (frames, {NUM_JOINTS}, 3), "
            f"got {p.shape}")
    if p.shape[0] == 0:
        raise MotionFormatError("joint_angles got a motion with no frames")
    if not np.isfinite(p).all():
        bad = np.unique(np.nonzero(~np.isfinite(p))[0])
        raise MotionFormatError(
            f"joint positions contain NaN or infinite values (frames {bad[:5].tolist()}...)")
    return p


def joint_angles(joints: np.ndarray) -> np.ndarray:
    """(T, 22, 3) joint positions -> (T, 29) float32 angles (degrees; global_* in metres).

    Columns follow `skeleton.ANGLE_COLUMNS`; conventions are in this module's docstring.
    """
    p = _check_joints(joints)
    body, thorax = _frames(p)
    thorax = thorax @ _THORAX_FIX

    out = np.empty((p.shape[0], NUM_DOF))
    pelvis = p[:, _J["pelvis"]]
    out[:, 0] = pelvis[:, 0] - pelvis[0, 0]
    out[:, 1] = pelvis[:, 1]
    out[:, 2] = pelvis[:, 2] - pelvis[0, 2]

    # body = Ry(yaw) Rx(tilt) Rz(list): a turn about the vertical only adds to yaw.
    out[:, 3] = np.unwrap(np.arctan2(body[:, 0, 2], body[:, 2, 2]))
    out[:, 4] = np.arctan2(-body[:, 1, 2], np.hypot(body[:, 0, 2], body[:, 2, 2]))
    out[:, 5] = np.arctan2(body[:, 1, 0], body[:, 1, 1])

    r_leg, l_leg = _leg(p, body, "r"), _leg(p, body, "l")
    out[:, 6:9] = np.stack(r_leg[:3], axis=-1)
    out[:, 9:12] = np.stack(l_leg[:3], axis=-1)
    out[:, 12], out[:, 13] = r_leg[3], l_leg[3]
    out[:, 14], out[:, 15] = r_leg[4], l_leg[4]

    # Thorax in the body frame = Rx(flexion) Rz(-bending) Ry(rotation).
    q = np.einsum("tji,tjk->tik", body, thorax)
    out[:, 16] = -np.arctan2(q[:, 2, 1], q[:, 1, 1])
    out[:, 17] = np.arctan2(q[:, 0, 1], np.hypot(q[:, 1, 1], q[:, 2, 1]))
    out[:, 18] = np.arctan2(q[:, 0, 2], q[:, 0, 0])

    head = _unit(_local(thorax, p[:, _J["head"]] - p[:, _J["neck"]]))
    out[:, 19] = np.arctan2(head[:, 2], head[:, 1]) - _REST_NECK_FLEX
    out[:, 20] = np.arctan2(head[:, 0], np.hypot(head[:, 1], head[:, 2]))

    r_arm, l_arm = _arm(p, thorax, "r"), _arm(p, thorax, "l")
    out[:, 21:24] = np.stack(r_arm[:3], axis=-1)
    out[:, 24:27] = np.stack(l_arm[:3], axis=-1)
    out[:, 27], out[:, 28] = r_arm[3], l_arm[3]

    out[:, 3:] = np.degrees(out[:, 3:])
    return out.astype(np.float32)


def angle_stats(angles: Sequence[np.ndarray], min_std: float = 1e-2,
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and std over all frames of a set of (T, 29) arrays, as float32 (29,).

    Frames are pooled (a long clip weighs more). std is floored at `min_std` so that a column
    that never moves (e.g. no trajectory in a corpus) normalises to 0 instead of blowing up.
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in angles]
    if not arrays:
        raise ValueError("angle_stats needs at least one (T, 29) array")
    for i, a in enumerate(arrays):
        if a.ndim != 2 or a.shape[1] != NUM_DOF:
            raise ValueError(f"angle_stats: item {i} has shape {a.shape}, expected (T, {NUM_DOF})")
    frames = np.concatenate(arrays, axis=0)
    if frames.shape[0] == 0:
        raise ValueError("angle_stats got only empty motions")
    mean = frames.mean(axis=0)
    std = np.maximum(frames.std(axis=0), min_std)
    return mean.astype(np.float32), std.astype(np.float32)
