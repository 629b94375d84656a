import time

import numpy as np
import pytest
from conftest import shared_path
from hypothesis import given, settings
from hypothesis import strategies as st
from poses import pose, random_motion, rotate_upper_body, rx, ry, rz, turn_about_vertical

from motion_retrieval import MotionFormatError
from motion_retrieval import skeleton as sk
from motion_retrieval.angles import MIRROR_PERM, MIRROR_SIGNS, angle_stats, joint_angles

COL = {name: i for i, name in enumerate(sk.ANGLE_COLUMNS)}
GLOBAL = [COL["global_x"], COL["global_y"], COL["global_z"]]
ANATOMY = [i for i in range(sk.NUM_DOF) if i not in GLOBAL]


def angles_of(joints) -> dict[str, float]:
    a = joint_angles(joints)
    assert a.shape == (1, 29)
    return {name: float(a[0, i]) for name, i in COL.items()}


def moved(joints, *, tol: float = 0.5) -> set[str]:
    """Names of angle columns that differ from the rest pose."""
    rest = angles_of(pose())
    return {n for n, v in angles_of(joints).items() if abs(v - rest[n]) > tol}


def test_rest_pose_is_the_zero_pose():
    a = joint_angles(pose())
    assert a.dtype == np.float32
    np.testing.assert_allclose(a[0, ANATOMY], 0.0, atol=1e-4)
    assert a[0, COL["global_y"]] == pytest.approx(sk.rest_pose()[0, 1], abs=1e-6)


@pytest.mark.parametrize("side, sign", [("l", 1), ("r", -1)])
def test_knee_bent_90(side, sign):
    a = angles_of(pose(**{f"{side}_knee": rx(90)}))
    assert a[f"{side}_knee_flexion"] == pytest.approx(90, abs=2)
    assert moved(pose(**{f"{side}_knee": rx(90)})) == {f"{side}_knee_flexion"}


def test_elbow_bent_and_straight():
    assert angles_of(pose(r_elbow=rx(-120)))["r_elbow_flexion"] == pytest.approx(120, abs=1)
    assert angles_of(pose(l_elbow=rx(-1)))["l_elbow_flexion"] == pytest.approx(1, abs=0.1)


@pytest.mark.parametrize("side, sideways", [("l", rz(90)), ("r", rz(-90))])
def test_arm_raised_sideways_then_forward(side, sideways):
    side_a = angles_of(pose(**{f"{side}_shoulder": sideways}))
    fwd_a = angles_of(pose(**{f"{side}_shoulder": rx(-90)}))
    assert side_a[f"{side}_shoulder_elevation"] == pytest.approx(90, abs=5)
    assert fwd_a[f"{side}_shoulder_elevation"] == pytest.approx(90, abs=5)
    assert side_a[f"{side}_shoulder_plane"] == pytest.approx(0, abs=5)  # abduction plane
    assert fwd_a[f"{side}_shoulder_plane"] == pytest.approx(90, abs=5)  # flexion plane
    up = angles_of(pose(**{f"{side}_shoulder": rx(-150)}))
    assert up[f"{side}_shoulder_elevation"] == pytest.approx(150, abs=1)


def test_shoulder_rotation_internal_is_positive_and_faded_for_a_straight_elbow():
    a = angles_of(pose(l_shoulder=ry(-30), l_elbow=rx(-90)))  # forearm swings across the belly
    assert a["l_shoulder_rotation"] == pytest.approx(30, abs=1)
    b = angles_of(pose(r_shoulder=ry(30), r_elbow=rx(-90)))
    assert b["r_shoulder_rotation"] == pytest.approx(30, abs=1)
    # A straight arm carries no rotation information: the column stays at 0.
    assert angles_of(pose(l_shoulder=ry(-30)))["l_shoulder_rotation"] == pytest.approx(0, abs=1e-3)


@pytest.mark.parametrize("side, add", [("l", rz(-20)), ("r", rz(20))])
def test_hip_flexion_adduction_rotation(side, add):
    assert angles_of(pose(**{f"{side}_hip": rx(-90)}))[f"{side}_hip_flexion"] == pytest.approx(90)
    assert angles_of(pose(**{f"{side}_hip": rx(20)}))[f"{side}_hip_flexion"] == pytest.approx(-20)
    assert angles_of(pose(**{f"{side}_hip": add}))[f"{side}_hip_adduction"] == pytest.approx(20)
    internal = ry(-30) if side == "l" else ry(30)  # toes turn toward the midline
    a = angles_of(pose(**{f"{side}_hip": internal}))
    assert a[f"{side}_hip_rotation"] == pytest.approx(30, abs=1)
    # The rotation reference also works with a bent knee.
    b = angles_of(pose(**{f"{side}_hip": rx(-90) @ internal, f"{side}_knee": rx(90)}))
    assert b[f"{side}_hip_rotation"] == pytest.approx(30, abs=1)
    assert b[f"{side}_hip_flexion"] == pytest.approx(90, abs=1)


def test_ankle_dorsiflexion_is_positive():
    assert angles_of(pose(l_ankle=rx(-20)))["l_ankle_flexion"] == pytest.approx(20, abs=0.5)
    assert angles_of(pose(r_ankle=rx(30)))["r_ankle_flexion"] == pytest.approx(-30, abs=0.5)


def test_trunk_bent_forward_45():
    joints = rotate_upper_body(pose(), rx(45))
    a = angles_of(joints)
    assert -a["lumbar_extension"] == pytest.approx(45, abs=5)  # flexion = -extension
    # Arms and head are measured in the thorax frame: they came along with the trunk.
    assert moved(joints) == {"lumbar_extension"}
    # A bend spread over the spine joints: the lumbar angle follows the pelvis -> neck line.
    joints = pose(spine1=rx(15), spine2=rx(15), spine3=rx(15))
    lean = [np.degrees(np.arctan2(v[2], v[1])) for v in (joints[0, 12] - joints[0, 0],
                                                         pose()[0, 12] - pose()[0, 0])]
    assert -angles_of(joints)["lumbar_extension"] == pytest.approx(lean[0] - lean[1], abs=0.5)


def test_trunk_side_bend_and_twist_and_neck():
    assert angles_of(rotate_upper_body(pose(), rz(-20)))["lumbar_bending"] == pytest.approx(20)
    assert angles_of(rotate_upper_body(pose(), ry(30)))["lumbar_rotation"] == pytest.approx(30)
    assert angles_of(pose(neck=rx(30)))["neck_flexion"] == pytest.approx(30, abs=0.5)
    # Neck bending is the head line's angle out of the thorax's sagittal plane: tilt a head held
    # upright (the rest head leans forward) 15 degrees toward the left.
    head = sk.REST_OFFSETS[sk.JOINT_INDEX["head"]]
    upright = rx(-np.degrees(np.arctan2(head[2], head[1])))
    assert angles_of(pose(neck=rz(-15) @ upright))["neck_bending"] == pytest.approx(15, abs=0.1)


def test_pelvis_orientation():
    a = angles_of(pose(pelvis=rx(10)))
    assert a["pelvis_tilt"] == pytest.approx(10)
    hiked = pose(pelvis=rz(10))
    assert hiked[0, sk.JOINT_INDEX["l_hip"], 1] > hiked[0, sk.JOINT_INDEX["r_hip"], 1]
    assert angles_of(hiked)["pelvis_list"] == pytest.approx(10)  # left hip up is positive
    assert angles_of(pose(pelvis=ry(90)))["pelvis_yaw"] == pytest.approx(90)


def test_pelvis_yaw_is_unwrapped_over_a_full_spin():
    frames = np.concatenate([turn_about_vertical(pose(), d) for d in np.arange(0, 720, 10)])
    yaw = joint_angles(frames)[:, COL["pelvis_yaw"]]
    np.testing.assert_allclose(np.diff(yaw), 10, atol=1e-3)
    assert yaw[-1] == pytest.approx(710, abs=1e-2)


def test_global_band_is_pelvis_translation_from_frame_0():
    joints = random_motion(np.random.default_rng(1), frames=6)
    a = joint_angles(joints)
    pelvis = joints[:, 0]
    np.testing.assert_allclose(a[:, GLOBAL[0]], pelvis[:, 0] - pelvis[0, 0], atol=1e-5)
    np.testing.assert_allclose(a[:, GLOBAL[1]], pelvis[:, 1], atol=1e-5)
    np.testing.assert_allclose(a[:, GLOBAL[2]], pelvis[:, 2] - pelvis[0, 2], atol=1e-5)


def _wrap(deg):
    return (np.asarray(deg) + 180.0) % 360.0 - 180.0


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), deg=st.floats(-170, 170))
def test_heading_invariance(seed, deg):
    joints = random_motion(np.random.default_rng(seed), frames=10, smooth=True)
    a, b = joint_angles(joints), joint_angles(turn_about_vertical(joints, deg))
    yaw = COL["pelvis_yaw"]
    dyaw = b[:, yaw] - a[:, yaw]
    np.testing.assert_allclose(_wrap(dyaw - deg), 0, atol=1e-3)
    np.testing.assert_allclose(dyaw - dyaw[0], 0, atol=1e-3)  # one constant offset, no jumps
    traj = a[:, [GLOBAL[0], GLOBAL[2]]]  # (x, z) turned by deg about +Y
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    expected = np.stack([c * traj[:, 0] + s * traj[:, 1], -s * traj[:, 0] + c * traj[:, 1]], 1)
    np.testing.assert_allclose(b[:, [GLOBAL[0], GLOBAL[2]]], expected, atol=1e-4)
    rest = [i for i in range(29) if i not in (yaw, GLOBAL[0], GLOBAL[2])]
    np.testing.assert_allclose(b[:, rest], a[:, rest], atol=2e-3)


def test_mirror_tables():
    names = sk.ANGLE_COLUMNS
    assert names[MIRROR_PERM[COL["l_hip_rotation"]]] == "r_hip_rotation"
    assert names[MIRROR_PERM[COL["lumbar_rotation"]]] == "lumbar_rotation"
    assert sorted(MIRROR_PERM) == list(range(29))
    assert {names[i] for i in np.flatnonzero(MIRROR_SIGNS < 0)} == {
        "global_x", "pelvis_yaw", "pelvis_list", "lumbar_bending", "lumbar_rotation",
        "neck_bending"}


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_mirroring_swaps_sides_with_anatomical_signs(seed):
    joints = random_motion(np.random.default_rng(seed), frames=10, max_deg=90)
    a = joint_angles(joints)
    b = joint_angles(sk.mirror_motion(joints))
    np.testing.assert_allclose(b, MIRROR_SIGNS * a[:, list(MIRROR_PERM)], atol=1e-4)


def test_mirroring_a_known_pose():
    a = angles_of(sk.mirror_motion(pose(l_knee=rx(60), l_shoulder=rz(90), pelvis=ry(30))))
    assert a["r_knee_flexion"] == pytest.approx(60)
    assert a["l_knee_flexion"] == pytest.approx(0, abs=1e-3)
    assert a["r_shoulder_elevation"] == pytest.approx(90)
    assert a["pelvis_yaw"] == pytest.approx(-30)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), max_deg=st.sampled_from([10.0, 90.0, 180.0]))
def test_random_skeletons_give_finite_angles_in_range(seed, max_deg):
    a = joint_angles(random_motion(np.random.default_rng(seed), frames=12, max_deg=max_deg))
    assert np.isfinite(a).all()
    hinges = [COL[n] for n in ("r_knee_flexion", "l_knee_flexion", "r_elbow_flexion",
                               "l_elbow_flexion", "r_shoulder_elevation", "l_shoulder_elevation")]
    assert (a[:, hinges] >= -1e-4).all() and (a[:, hinges] <= 180 + 1e-4).all()
    others = [i for i in ANATOMY if i != COL["pelvis_yaw"]]
    assert (np.abs(a[:, others]) <= 360).all()


def test_singular_poses_are_finite_and_continuous():
    t_pose = pose(l_shoulder=rz(90), r_shoulder=rz(-90))
    arms_up = pose(l_shoulder=rz(180), r_shoulder=rz(-180))
    collapsed = np.zeros((1, 22, 3))
    straight_down_foot = pose(l_ankle=rx(-90 - 24.3), r_ankle=rx(-90 - 24.3))
    for joints in (t_pose, arms_up, collapsed, straight_down_foot):
        assert np.isfinite(joint_angles(joints)).all()
    # Tiny arm movements around the hanging arm (where the plane of elevation is undefined) move
    # the plane column only a little.
    wiggle = np.concatenate([pose(l_shoulder=rz(e) @ rx(f))
                             for e in (-0.5, 0.5) for f in (-0.5, 0.5)])
    assert np.ptp(joint_angles(wiggle)[:, COL["l_shoulder_plane"]]) < 10
    near_up = np.concatenate([pose(l_shoulder=rz(179.5) @ rx(f)) for f in (-0.5, 0.5)])
    a = joint_angles(near_up)
    assert np.ptp(a[:, COL["l_shoulder_plane"]]) < 10
    assert np.ptp(a[:, COL["l_shoulder_rotation"]]) < 10


@pytest.mark.shared_data
def test_real_humanml3d_clip_is_plausible():
    joints = np.load(shared_path("humanml3d-sample", "new_joints", "012314.npy"))
    a = joint_angles(joints)
    assert a.shape == (len(joints), 29) and np.isfinite(a).all()
    assert np.abs(np.diff(a[:, COL["pelvis_yaw"]])).max() < 45  # unwrapped, smooth heading
    knees = a[:, [COL["l_knee_flexion"], COL["r_knee_flexion"]]]
    assert 0 <= knees.min() and knees.max() < 150


def test_200_frames_take_a_few_ms():
    joints = random_motion(np.random.default_rng(0), frames=200)
    joint_angles(joints)
    start = time.perf_counter()
    for _ in range(5):
        joint_angles(joints)
    assert (time.perf_counter() - start) / 5 < 0.05  # a few ms; generous for a busy CI box


def test_bad_input_is_rejected_with_a_clear_message():
    with pytest.raises(MotionFormatError, match=r"\(frames, 22, 3\)"):
        joint_angles(np.zeros((10, 21, 3)))
    with pytest.raises(MotionFormatError, match="no frames"):
        joint_angles(np.zeros((0, 22, 3)))
    bad = pose()
    bad[0, 3, 1] = np.nan
    with pytest.raises(MotionFormatError, match="NaN"):
        joint_angles(bad)


def test_angle_stats_pools_frames_and_floors_std():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(30, 29)) * 5 + 2, rng.normal(size=(10, 29)) * 5 + 2
    a[:, 0] = b[:, 0] = 3.0  # a column that never moves
    mean, std = angle_stats([a, b])
    both = np.concatenate([a, b])
    assert mean.shape == std.shape == (29,) and mean.dtype == np.float32
    np.testing.assert_allclose(mean, both.mean(0), rtol=1e-5)
    np.testing.assert_allclose(std[1:], both.std(0)[1:], rtol=1e-5)
    assert std[0] == pytest.approx(1e-2)
    assert np.isfinite((both - mean) / std).all()
    with pytest.raises(ValueError, match="at least one"):
        angle_stats([])
    with pytest.raises(ValueError, match=r"\(T, 29\)"):
        angle_stats([np.zeros((4, 28))])


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_smooth_motions_give_smooth_angles(seed):
    a = joint_angles(random_motion(np.random.default_rng(seed), frames=40, max_deg=45,
                                   smooth=True))
    step = np.abs(np.diff(a, axis=0)).max(axis=0)
    # Random poses reach the shoulder's wrap-around cuts, which everyday arm movements avoid
    # (tested below); every other column must move smoothly.
    shoulder = [COL[f"{s}_shoulder_{k}"] for s in "lr" for k in ("plane", "rotation")]
    others = [i for i in range(29) if i not in shoulder and i not in GLOBAL]
    assert step[others].max() < 20
    assert step[GLOBAL].max() < 0.5


def test_shoulder_columns_are_smooth_over_everyday_arm_movements():
    # A slow sweep: plane -60 -> 150 (backward, sideways, forward, across the chest), elevation
    # 5 -> 150 -> 5, rotation -60 -> 90, elbow bent. Continuous columns take small steps; a cut
    # crossing would jump by a large fraction of 360.
    t = np.linspace(0, 1, 400)
    planes, elevations, rotations = -60 + 210 * t, 5 + 145 * np.sin(np.pi * t), -60 + 150 * t
    frames = [pose(l_shoulder=ry(-p) @ rz(e) @ ry(p) @ ry(-r), l_elbow=rx(-90),
                   r_shoulder=ry(p) @ rz(-e) @ ry(-p) @ ry(r), r_elbow=rx(-90))
              for p, e, r in zip(planes, elevations, rotations)]
    a = joint_angles(np.concatenate(frames))
    for side in "lr":
        cols = [COL[f"{side}_shoulder_{k}"] for k in ("plane", "elevation", "rotation")]
        assert np.abs(np.diff(a[:, cols], axis=0)).max() < 10
        assert a[:, cols[0]].max() > 120  # the sweep did reach across the chest
        np.testing.assert_allclose(a[:, cols[1]], elevations, atol=0.5)
    np.testing.assert_allclose(a[:, COL["l_shoulder_plane"]], a[:, COL["r_shoulder_plane"]],
                               atol=1e-3)
