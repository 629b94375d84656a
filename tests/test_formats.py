"""load_motion on arrays and .npy files: shapes, units, frame rates, the canonical frame,
HumanML3D 263-vector recovery and KIT-ML mapping, and the errors a person reads."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from conftest import shared_path

from motion_retrieval import MotionFormatError, load_motion
from motion_retrieval.formats import canonicalize, kit_to_smpl, recover_from_vec263
from motion_retrieval.formats.canonical import facing_angle, rotate_y
from motion_retrieval.formats.kit import KIT_INDEX
from motion_retrieval.skeleton import JOINT_INDEX, forward_kinematics, rest_pose


def walking(T: int = 60, seed: int = 0) -> np.ndarray:
    """A rest-pose body swinging its legs and arms while moving along +Z (metres, 20 fps)."""
    rng = np.random.default_rng(seed)
    t = np.arange(T) / 20.0
    rot = np.broadcast_to(np.eye(3), (T, 22, 3, 3)).copy()

    def about_x(a):
        c, s = np.cos(a), np.sin(a)
        m = np.zeros((len(a), 3, 3))
        m[:, 0, 0] = 1
        m[:, 1, 1], m[:, 1, 2], m[:, 2, 1], m[:, 2, 2] = c, -s, s, c
        return m

    phase = rng.uniform(0, np.pi)
    for name, sign in (("l_hip", 1), ("r_hip", -1), ("l_shoulder", -1), ("r_shoulder", 1)):
        rot[:, JOINT_INDEX[name]] = about_x(sign * 0.5 * np.sin(2 * np.pi * t + phase))
    rot[:, JOINT_INDEX["l_knee"]] = about_x(0.4 + 0.4 * np.sin(2 * np.pi * t))
    root = np.stack([np.zeros(T), np.full(T, 0.95), 1.2 * t], axis=1)
    return forward_kinematics(rot, root)


def test_array_is_canonical_float32_at_20fps():
    out = load_motion(walking())
    assert out.dtype == np.float32 and out.shape == (60, 22, 3)
    feet = out[:, [7, 8, 10, 11], 1]
    assert feet.min() == pytest.approx(0.0, abs=1e-6)
    assert np.abs(out[0, 0, [0, 2]]).max() < 1e-6
    assert facing_angle(out) == pytest.approx(0.0, abs=1e-6)
    assert out[-1, 0, 2] > 2.0  # walked forward along +Z
    assert out[0, JOINT_INDEX["l_hip"], 0] > 0  # the person's left is +X


def test_canonical_frame_removes_heading_and_position():
    x = walking()
    moved = rotate_y(x, 2.1) + np.array([3.0, 0.4, -7.0])
    np.testing.assert_allclose(load_motion(moved), load_motion(x), atol=1e-5)


def test_canonicalize_keeps_a_lying_body_and_still_grounds_it():
    x = rest_pose()[None].repeat(12, 0)
    x = x[..., [1, 0, 2]]  # swap x and y: hips-shoulders axis now vertical
    out = canonicalize(x)
    assert np.isfinite(out).all() and out[:, [7, 8, 10, 11], 1].min() == pytest.approx(0)


@pytest.mark.parametrize("factor", [100.0, 1000.0])
def test_centimetres_and_millimetres_become_metres(factor):
    x = walking()
    np.testing.assert_allclose(load_motion(x * factor), load_motion(x), atol=1e-5)


def test_fps_resampling_to_20():
    x = walking(T=81)
    at_40 = load_motion(x, fps=40)
    assert at_40.shape[0] == 41
    np.testing.assert_allclose(at_40, load_motion(x[::2], fps=20), atol=1e-5)
    assert load_motion(x, fps=30).shape[0] == 54  # 80 intervals of 1/30 s -> 53.3 -> 54 frames


def test_smpl24_drops_hands():
    x = walking()
    x24 = np.concatenate([x, x[:, 20:22] + 0.08], axis=1)
    np.testing.assert_array_equal(load_motion(x24), load_motion(x))


def smpl_to_kit(joints: np.ndarray) -> np.ndarray:
    """Inverse of the KIT mapping, for tests: KIT 'L' joints are SMPL's right side."""
    kit = np.zeros((len(joints), 21, 3))
    pairs = {"root": "pelvis", "BP": "spine1", "BT": "spine3", "BLN": "neck", "BUN": "head",
             "LS": "r_shoulder", "LE": "r_elbow", "LW": "r_wrist", "RS": "l_shoulder",
             "RE": "l_elbow", "RW": "l_wrist", "LH": "r_hip", "LK": "r_knee", "LA": "r_ankle",
             "LMrot": "r_foot", "RH": "l_hip", "RK": "l_knee", "RA": "l_ankle",
             "RMrot": "l_foot"}
    for k, s in pairs.items():
        kit[:, KIT_INDEX[k]] = joints[:, JOINT_INDEX[s]]
    kit[:, KIT_INDEX["LF"]] = kit[:, KIT_INDEX["LMrot"]] + [0, 0, 0.05]
    kit[:, KIT_INDEX["RF"]] = kit[:, KIT_INDEX["RMrot"]] + [0, 0, 0.05]
    return kit


def test_kit_joints_map_to_smpl_order_in_metres():
    x = walking()
    out = kit_to_smpl(smpl_to_kit(x))
    direct = [j for n, j in JOINT_INDEX.items() if n not in ("spine2", "l_collar", "r_collar")]
    np.testing.assert_allclose(out[:, direct], x[:, direct])
    np.testing.assert_allclose(out[:, JOINT_INDEX["spine2"]],
                               (x[:, JOINT_INDEX["spine1"]] + x[:, JOINT_INDEX["spine3"]]) / 2)
    # Collars land between the neck base and the shoulder, on the correct side.
    lc = out[:, JOINT_INDEX["l_collar"]]
    assert (lc[:, 0] > 0).all() and (lc[:, 0] < x[:, JOINT_INDEX["l_shoulder"], 0]).all()
    loaded = load_motion(smpl_to_kit(x) * 1000.0, fps=20)  # KIT-ML is in millimetres
    np.testing.assert_allclose(loaded[:, direct], load_motion(x)[:, direct], atol=2e-3)


def test_recover_263_on_synthetic_features():
    # Build features the way HumanML3D defines them and check the positions come back.
    x = walking(T=40).astype(np.float64)
    T = len(x)
    heading = np.linspace(0.0, 1.0, T)  # rotation angle about +Y, radians
    c, s = np.cos(heading), np.sin(heading)
    rel = x - x[:, :1] * np.array([1, 0, 1])
    local = rel.copy()  # joints expressed in the heading frame (rotate by +heading about +Y)
    local[..., 0] = c[:, None] * rel[..., 0] + s[:, None] * rel[..., 2]
    local[..., 2] = -s[:, None] * rel[..., 0] + c[:, None] * rel[..., 2]
    vel = np.diff(x[:, 0], axis=0)
    vloc = vel.copy()
    vloc[:, 0] = c[1:] * vel[:, 0] + s[1:] * vel[:, 2]  # HumanML3D uses the next frame's heading
    vloc[:, 2] = -s[1:] * vel[:, 0] + c[1:] * vel[:, 2]
    vec = np.zeros((T, 263))
    vec[:-1, 0] = np.diff(heading) / 2  # the stored quaternion holds the half angle
    vec[:-1, 1:3] = vloc[:, [0, 2]]
    vec[:, 3] = x[:, 0, 1]
    vec[:, 4:67] = local[:, 1:].reshape(T, 63)
    got = recover_from_vec263(vec)
    np.testing.assert_allclose(got, x - x[:1, :1] * np.array([1, 0, 1]), atol=1e-9)


@pytest.mark.shared_data
def test_recover_263_matches_humanml3d_new_joints():
    root = shared_path("humanml3d-sample")
    vec = np.load(root / "new_joint_vecs" / "012314.npy")
    ref = np.load(root / "new_joints" / "012314.npy")
    err = np.linalg.norm(recover_from_vec263(vec) - ref, axis=-1).max()
    assert err < 0.01, f"max joint error {err * 100:.3f} cm"
    a = load_motion(root / "new_joint_vecs" / "012314.npy")
    b = load_motion(root / "new_joints" / "012314.npy")
    assert np.abs(a - b).max() < 0.01
    # HumanML3D joints are already canonical: loading them barely moves them.
    assert np.abs(b - ref).max() < 0.02


# ---- errors -------------------------------------------------------------------------------

@pytest.mark.parametrize("arr, words", [
    (np.zeros((30, 22, 2)), "shape (30, 22, 2)"),
    (np.zeros((30, 100)), "expected (T, 22, 3)"),
    (np.zeros(5), "shape (5,)"),
    (np.array(["a", "b"]), "real numbers"),
    (np.zeros((30, 22, 3), dtype=complex), "real numbers"),
])
def test_bad_arrays_say_what_is_wrong(arr, words):
    with pytest.raises(MotionFormatError, match=words.replace("(", r"\(").replace(")", r"\)")):
        load_motion(arr)


def test_nan_and_inf_name_the_frame():
    x = walking()
    x[17, 3, 1] = np.nan
    with pytest.raises(MotionFormatError, match="NaN.*frame 17"):
        load_motion(x)
    x[17, 3, 1] = np.inf
    with pytest.raises(MotionFormatError, match="infinite"):
        load_motion(x)


def test_duration_limits():
    with pytest.raises(MotionFormatError, match="too short"):
        load_motion(walking(T=9))
    load_motion(walking(T=10))  # exactly 0.5 s is fine
    with pytest.raises(MotionFormatError, match="too long.*limit is 2 s"):
        load_motion(walking(T=60), max_seconds=2)
    with pytest.raises(MotionFormatError, match="frame rate"):
        load_motion(walking(), fps=0)


def test_npy_files(tmp_path):
    x = walking()
    np.save(tmp_path / "a.npy", x.astype(np.float32))
    np.testing.assert_allclose(load_motion(tmp_path / "a.npy"), load_motion(x), atol=1e-5)
    np.testing.assert_allclose(load_motion(str(tmp_path / "a.npy"), fps=40).shape[0], 30)


def test_pickled_npy_is_refused_and_never_run(tmp_path):
    ran = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(ran), "w"))

    path = tmp_path / "evil.npy"
    np.save(path, np.array([Evil()], dtype=object), allow_pickle=True)
    with pytest.raises(MotionFormatError, match="pickle"):
        load_motion(path)
    assert not ran.exists()
    with open(tmp_path / "raw.npy", "wb") as f:
        pickle.dump({"a": 1}, f)
    with pytest.raises(MotionFormatError, match="pickle"):
        load_motion(tmp_path / "raw.npy")
    (tmp_path / "junk.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(MotionFormatError, match="not a valid .npy"):
        load_motion(tmp_path / "junk.npy")


def test_file_errors(tmp_path):
    np.save(tmp_path / "big.npy", walking())
    with pytest.raises(MotionFormatError, match="over the 0.0 MB limit"):
        load_motion(tmp_path / "big.npy", max_bytes=1000)
    with pytest.raises(MotionFormatError, match="cannot read"):
        load_motion(tmp_path / "missing.npy")
    (tmp_path / "m.txt").write_text("1 2 3")
    with pytest.raises(MotionFormatError, match="unsupported file type"):
        load_motion(tmp_path / "m.txt")
    np.savez(tmp_path / "z.npy", a=walking())  # savez appends .npz
    (tmp_path / "z.npy.npz").rename(tmp_path / "z.npy")
    with pytest.raises(MotionFormatError, match="npz"):
        load_motion(tmp_path / "z.npy")
    with pytest.raises(MotionFormatError, match="file path or a numpy array"):
        load_motion(42)


def test_error_is_a_value_error():
    with pytest.raises(ValueError):
        load_motion(np.zeros((3, 3)))
