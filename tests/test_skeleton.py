import numpy as np
import pytest

from motion_retrieval import skeleton as sk


def test_tables_are_consistent():
    assert len(sk.JOINT_NAMES) == len(sk.PARENTS) == sk.NUM_JOINTS == 22
    assert all(sk.PARENTS[j] < j for j in range(1, 22))  # parents come first: FK in one pass
    assert sum(sk.PART_DOF) == 29 == len(sk.ANGLE_COLUMNS)
    assert set(sk.PART_JOINTS) == set(sk.BODY_PARTS)
    cols = np.concatenate([np.arange(29)[sk.PART_COLUMNS[p]] for p in sk.BODY_PARTS])
    assert np.array_equal(cols, np.arange(29))
    for chain in sk.KINEMATIC_CHAINS:
        for a, b in zip(chain[:-1], chain[1:]):
            assert sk.PARENTS[b] == a


def test_mirror_tables_swap_sides():
    for i, name in enumerate(sk.JOINT_NAMES):
        other = sk.JOINT_NAMES[sk.MIRROR_JOINTS[i]]
        assert other == name.replace("l_", "#").replace("r_", "l_").replace("#", "r_")
    assert sk.BODY_PARTS[sk.MIRROR_PARTS[sk.PART_INDEX["l_elbow"]]] == "r_elbow"
    assert sk.MIRROR_PARTS[sk.PART_INDEX["lumbar"]] == sk.PART_INDEX["lumbar"]


def test_rest_pose_faces_plus_z_with_left_on_plus_x():
    pose = sk.rest_pose()
    assert pose[sk.JOINT_INDEX["l_hip"], 0] > 0 > pose[sk.JOINT_INDEX["r_hip"], 0]
    assert pose[sk.JOINT_INDEX["l_foot"], 2] > pose[sk.JOINT_INDEX["l_ankle"], 2]  # toes forward
    assert pose[:, 1].min() == pytest.approx(0.0)
    assert 1.5 < pose[sk.JOINT_INDEX["head"], 1] < 1.8


def test_mirror_motion_swaps_and_negates(rng):
    x = rng.normal(size=(5, 22, 3))
    m = sk.mirror_motion(x)
    li, ri = sk.JOINT_INDEX["l_wrist"], sk.JOINT_INDEX["r_wrist"]
    np.testing.assert_allclose(m[:, li], x[:, ri] * [-1, 1, 1])
    np.testing.assert_allclose(sk.mirror_motion(m), x)
    with pytest.raises(ValueError):
        sk.mirror_motion(np.zeros((5, 21, 3)))


def test_mirror_caption_keeps_case_and_words():
    assert sk.mirror_caption("Left hand, then the RIGHT leg") == "Right hand, then the LEFT leg"
    assert sk.mirror_caption("turns clockwise leftward") == "turns counterclockwise rightward"
    assert sk.mirror_caption("a cleft in the bright light") == "a cleft in the bright light"


def test_forward_kinematics_rotates_children(rng):
    rot = np.tile(np.eye(3), (2, 22, 1, 1))
    # 90 degrees about x at the left knee: the shank swings from -y to -z or +z, length kept.
    c, s = 0.0, 1.0
    rot[1, sk.JOINT_INDEX["l_knee"]] = [[1, 0, 0], [0, c, -s], [0, s, c]]
    pos = sk.forward_kinematics(rot, np.zeros((2, 3)))
    knee, ankle = sk.JOINT_INDEX["l_knee"], sk.JOINT_INDEX["l_ankle"]
    shank0 = pos[0, ankle] - pos[0, knee]
    shank1 = pos[1, ankle] - pos[1, knee]
    assert np.linalg.norm(shank1) == pytest.approx(np.linalg.norm(shank0))
    assert abs(shank1[1]) < 1e-9 and abs(shank1[2]) > 0.4
    np.testing.assert_allclose(pos[1, : knee + 1], pos[0, : knee + 1])
