"""BVH: parsing any channel layout, forward kinematics, retargeting by joint names, units,
resampling, the writer's round trip, and the Bandai-Namco corpus."""
from __future__ import annotations

import gzip
import time

import numpy as np
import pytest
from conftest import shared_path
from scipy.spatial.transform import Rotation
from test_formats import walking

from motion_retrieval import MotionFormatError, load_motion
from motion_retrieval.formats.bvh import BVH_NAMES, parse_bvh, read_bvh, write_bvh
from motion_retrieval.formats.retarget import retarget
from motion_retrieval.skeleton import JOINT_INDEX, JOINT_NAMES, PARENTS

TWO_BONES = """HIERARCHY
ROOT Hips
{{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition {order}
  JOINT Arm
  {{
    OFFSET 0 10 0
    CHANNELS 3 {order}
    End Site
    {{
      OFFSET 5 0 0
    }}
  }}
}}
MOTION
Frames: 2
Frame Time: 0.5
{rows}
"""


@pytest.mark.parametrize("order", ["XYZ", "ZXY", "YZX", "ZYX"])
def test_fk_follows_the_channel_order(order):
    rng = np.random.default_rng(1)
    ang = rng.uniform(-90, 90, size=(2, 2, 3))
    rows = "\n".join(f"1 2 3 {' '.join(map(str, a[0]))} {' '.join(map(str, a[1]))}" for a in ang)
    chans = " ".join(f"{c}rotation" for c in order)
    bvh = parse_bvh(TWO_BONES.format(order=chans, rows=rows))
    pos = bvh.positions()
    for t in range(2):
        r0 = Rotation.from_euler(order, ang[t, 0], degrees=True)  # intrinsic, listed order
        r1 = r0 * Rotation.from_euler(order, ang[t, 1], degrees=True)
        arm = np.array([1, 2, 3]) + r0.apply([0, 10, 0])
        np.testing.assert_allclose(pos[t, 1], arm, atol=1e-9)
        np.testing.assert_allclose(pos[t, 2], arm + r1.apply([5, 0, 0]), atol=1e-9)


def test_joint_without_channels_and_position_channels_replace_offset():
    text = TWO_BONES.format(order="Zrotation", rows="0 7 0 90\n0 0 0 0").replace(
        "CHANNELS 3 Zrotation", "CHANNELS 0").replace("CHANNELS 6", "CHANNELS 4")
    with pytest.raises(MotionFormatError, match="line 20: 5 values, expected 4"):
        parse_bvh(text.replace("0 0 0 0", "0 0 0 0 0"))
    pos = parse_bvh(text).positions()
    np.testing.assert_allclose(pos[0, 1], [-10, 7, 0], atol=1e-9)  # root Z-rotated by 90


def test_round_trip_write_read_synthetic():
    x = walking(T=50)
    text = write_bvh(x)
    back = read_bvh(text)
    assert back.shape == x.shape
    assert np.linalg.norm(back - x, axis=-1).max() < 1e-3  # FK data: exact up to printing
    assert parse_bvh(text).names[:3] == ["Hips", "LeftUpLeg", "LeftLeg"]


def test_round_trip_noisy_positions_within_two_cm():
    rng = np.random.default_rng(3)
    x = walking(T=50) + rng.normal(0, 0.002, size=(50, 22, 3))  # jitter changes bone lengths
    err = np.linalg.norm(read_bvh(write_bvh(x)) - x, axis=-1)
    assert err.max() < 0.02 and err.mean() < 0.01


@pytest.mark.shared_data
def test_round_trip_humanml3d_sample():
    ref = np.load(shared_path("humanml3d-sample", "new_joints", "012314.npy"))
    err = np.linalg.norm(read_bvh(write_bvh(ref)) - ref, axis=-1)
    assert err.max() < 0.02, f"max {err.max():.4f} m"


def test_written_file_loads_through_load_motion(tmp_path):
    x = walking(T=40)
    (tmp_path / "m.bvh").write_text(write_bvh(x))
    with gzip.open(tmp_path / "m.bvh.gz", "wt") as f:
        f.write(write_bvh(x))
    a, b = load_motion(tmp_path / "m.bvh"), load_motion(tmp_path / "m.bvh.gz")
    np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(a, load_motion(x), atol=1e-3)


def test_resampling_and_units_and_up_axis(tmp_path):
    x = walking(T=61)
    text = write_bvh(x, fps=60)  # 60 fps file -> 20 fps
    back = read_bvh(text)
    assert back.shape[0] == 21
    np.testing.assert_allclose(back, x[::3], atol=1e-3)
    # The writer uses centimetres; the same numbers as metres are detected too.
    metres = read_bvh(text, scale=0.01)
    np.testing.assert_allclose(metres, back)
    z_up = x[..., [0, 2, 1]] * np.array([1, -1, 1])  # y -> z, z -> -y
    np.testing.assert_allclose(read_bvh(write_bvh(z_up, fps=60), up="z"), back, atol=1e-3)


def _named(names_for, skip=()):
    """A (names, parents, positions) skeleton from walking() with renamed / dropped joints."""
    x = walking(T=20)
    keep = [j for j in range(22) if JOINT_NAMES[j] not in skip]
    parents = []
    for j in keep:
        p = PARENTS[j]
        while p >= 0 and p not in keep:
            p = PARENTS[p]
        parents.append(keep.index(p) if p >= 0 else -1)
    return [names_for[j] for j in keep], parents, x[:, keep], x


MIXAMO = [f"mixamorig:{n}" for n in BVH_NAMES]
BANDAI = ["Hips", "UpperLeg_L", "UpperLeg_R", "Spine", "LowerLeg_L", "LowerLeg_R", "_s2",
          "Foot_L", "Foot_R", "Chest", "Toes_L", "Toes_R", "Neck", "Shoulder_L", "Shoulder_R",
          "Head", "UpperArm_L", "UpperArm_R", "LowerArm_L", "LowerArm_R", "Hand_L", "Hand_R"]
SMPL = ["Pelvis", "L_Hip", "R_Hip", "Spine1", "L_Knee", "R_Knee", "Spine2", "L_Ankle",
        "R_Ankle", "Spine3", "L_Foot", "R_Foot", "Neck", "L_Collar", "R_Collar", "Head",
        "L_Shoulder", "R_Shoulder", "L_Elbow", "R_Elbow", "L_Wrist", "R_Wrist"]


@pytest.mark.parametrize("names", [MIXAMO, list(BVH_NAMES), SMPL], ids=["mixamo", "cmu", "smpl"])
def test_retarget_full_rigs_exactly(names):
    n, p, pos, x = _named(names)
    shuffled = np.random.default_rng(0).permutation(len(n))  # order in the file must not matter
    inv = np.argsort(shuffled)
    out = retarget([n[i] for i in shuffled], [inv[p[i]] if p[i] >= 0 else -1 for i in shuffled],
                   pos[:, shuffled])
    np.testing.assert_allclose(out, x)


def test_retarget_bandai_rig_interpolates_missing_spine():
    n, p, pos, x = _named(BANDAI, skip=("spine2",))
    out = retarget(n, p, pos)
    s1, s2, s3 = (JOINT_INDEX[k] for k in ("spine1", "spine2", "spine3"))
    np.testing.assert_allclose(out[:, s2], (x[:, s1] + x[:, s3]) / 2)
    others = [j for j in range(22) if j != s2]
    np.testing.assert_allclose(out[:, others], x[:, others])


def test_retarget_without_collars_neck_or_spine():
    n, p, pos, x = _named(BVH_NAMES, skip=("l_collar", "r_collar", "spine1", "spine2", "spine3"))
    out = retarget(n, p, pos)
    assert np.isfinite(out).all()
    for s, sign in (("l", 1), ("r", -1)):
        collar = out[:, JOINT_INDEX[f"{s}_collar"], 0] * sign
        assert (collar > 0).all() and (collar < x[:, JOINT_INDEX[f"{s}_shoulder"], 0] * sign).all()
    spine_y = out[:, [0, 3, 6, 9, 12], 1]
    assert (np.diff(spine_y, axis=1) > 0).all()  # interpolated upwards along pelvis -> neck


def test_unmappable_skeleton_names_the_missing_joints():
    n, p, pos, _ = _named(BVH_NAMES, skip=("l_knee", "r_wrist"))
    with pytest.raises(MotionFormatError, match="left knee, right wrist.*LeftUpLeg"):
        retarget(n, p, pos)


@pytest.mark.parametrize("edit, words", [
    (lambda t: t.replace("OFFSET 0 10 0", "OFFSET 0 ten 0"), "line 8: expected a number"),
    (lambda t: t.replace("Frames: 2", "Frames: 3"), "declares 3 frames but .* after 2"),
    (lambda t: t.replace("Frame Time: 0.5", "Frame Time: 0"), "Frame Time must be positive"),
    (lambda t: t.replace("MOTION", "MOTON"), "no MOTION section"),
    (lambda t: t.replace("CHANNELS 3", "CHANNELS 9"), "line 9: channel count"),
    (lambda t: t.replace("Zrotation\n", "Wrotation\n"), "line 5: bad channel 'Wrotation'"),
    (lambda t: t.replace("  }\n}\n", "  }\n"), "not closed"),
    (lambda t: t.replace("JOINT Arm", "JIONT Arm"), "line 6: expected ROOT, JOINT"),
    (lambda t: t.rstrip().rsplit(" ", 1)[0] + " nan\n", "line 20: NaN"),
    (lambda t: t.rstrip() + " 1\n", "line 20: 10 values, expected 9"),
    (lambda t: t.rstrip() + "\n" + " 1" * 9 + "\n", "line 21: more frames"),
])
def test_malformed_bvh_says_which_line(edit, words):
    good = TWO_BONES.format(order="Xrotation Yrotation Zrotation",
                            rows=("0 " * 9 + "\n") * 2)
    parse_bvh(good)
    with pytest.raises(MotionFormatError, match=words):
        parse_bvh(edit(good))


def test_size_caps_and_gzip_bomb(tmp_path):
    text = write_bvh(walking(T=40))
    (tmp_path / "m.bvh").write_text(text)
    with pytest.raises(MotionFormatError, match="over the"):
        load_motion(tmp_path / "m.bvh", max_bytes=len(text) - 1)
    bomb = tmp_path / "bomb.bvh.gz"
    with gzip.open(bomb, "wb") as f:
        f.write(text.encode() + b" " * 5_000_000)
    assert bomb.stat().st_size < 100_000
    with pytest.raises(MotionFormatError, match="decompresses to more than"):
        load_motion(bomb, max_bytes=1_000_000)
    (tmp_path / "bad.bvh.gz").write_bytes(b"not gzip at all")
    with pytest.raises(MotionFormatError, match="cannot read bad.bvh.gz"):
        load_motion(tmp_path / "bad.bvh.gz")


def test_bvh_duration_limits():
    with pytest.raises(MotionFormatError, match="too short"):
        read_bvh(write_bvh(walking(T=8)))
    with pytest.raises(MotionFormatError, match="too long"):
        read_bvh(write_bvh(walking(T=60)), max_seconds=1.0)


@pytest.mark.shared_data
def test_bandai_walk_is_sane():
    path = shared_path("bandai-namco", "dataset-1", "dataset-1_walk_normal_001.bvh.gz")
    j = load_motion(path)
    assert j.dtype == np.float32 and j.shape[1:] == (22, 3)
    assert j.shape[0] == int((195 - 1) / 30 * 20) + 1  # 30 fps -> 20 fps
    assert j[:, [7, 8, 10, 11], 1].min() == 0.0
    assert 0.8 < j[:, 0, 1].mean() < 1.0  # pelvis height of a ~1.6 m adult
    assert 1.3 < j[:, JOINT_INDEX["head"], 1].mean() < 1.6
    assert j[-1, 0, 2] > 3.0 and abs(j[-1, 0, 0]) < 0.25 * j[-1, 0, 2]  # walks ahead along +Z
    assert j[0, JOINT_INDEX["l_shoulder"], 0] > j[0, JOINT_INDEX["r_shoulder"], 0]
    # Feet touch the floor during the walk (each foot's lowest point near y = 0).
    assert j[:, [10, 11], 1].min(axis=0).max() < 0.05


@pytest.mark.shared_data
def test_bandai_sides_are_the_persons_sides():
    root = shared_path("bandai-namco", "dataset-2")
    left = load_motion(root / "dataset-2_raise-up-left-hand_normal_001.bvh.gz")
    right = load_motion(root / "dataset-2_raise-up-right-hand_normal_001.bvh.gz")
    lw, rw = JOINT_INDEX["l_wrist"], JOINT_INDEX["r_wrist"]
    assert left[:, lw, 1].max() > left[:, rw, 1].max() + 0.3
    assert right[:, rw, 1].max() > right[:, lw, 1].max() + 0.3


@pytest.mark.shared_data
def test_all_bandai_files_load():
    root = shared_path("bandai-namco")
    files = sorted(root.glob("dataset-*/*.bvh.gz"))
    assert len(files) == 1014
    start = time.perf_counter()
    for f in files:
        j = load_motion(f)
        assert j.shape[0] >= 10 and np.isfinite(j).all(), f.name
        assert 0.6 < j[:, 0, 1].mean() < 1.1, f.name
    per_file = (time.perf_counter() - start) / len(files)
    print(f"mean load time per Bandai file: {per_file * 1000:.1f} ms")
