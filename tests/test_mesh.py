"""SMPL mesh view (library side): finding the model, reading it safely, fitting, glb export.

No SMPL model ships anywhere, so the tests build a tiny one with SMPL's structure
(tests/smpl_fixture.py, shared with the demo's tests). Its rest skeleton is ours
(skeleton.rest_pose), so a motion made by forward kinematics on our skeleton can be matched
exactly.
"""
from __future__ import annotations

import pickle
import sys
import types

import numpy as np
import pytest
from conftest import shared_path
from poses import rx, ry, rz
from smpl_fixture import NJ, t_pose_rest, tiny_model, tiny_rest, write_model_dir

from motion_retrieval import MotionFormatError
from motion_retrieval import mesh as M
from motion_retrieval import skeleton as sk

pytest.importorskip("smplx")
trimesh = pytest.importorskip("trimesh")


@pytest.fixture
def model_dir(tmp_path):
    return write_model_dir(tmp_path)


def motion(n: int = 8, scale: float = 1.0) -> np.ndarray:
    """Raise the left arm sideways, bend the right knee, turn and walk forward."""
    local = np.tile(np.eye(3), (n, sk.NUM_JOINTS, 1, 1))
    root = np.tile(sk.rest_pose()[0], (n, 1))
    for t, a in enumerate(np.linspace(0, 1, n)):
        local[t, 0] = ry(40 * a)
        local[t, sk.JOINT_INDEX["l_shoulder"]] = rz(120 * a)
        local[t, sk.JOINT_INDEX["l_elbow"]] = rx(-60 * a)
        local[t, sk.JOINT_INDEX["r_hip"]] = rx(-50 * a)
        local[t, sk.JOINT_INDEX["r_knee"]] = rx(70 * a)
        local[t, sk.JOINT_INDEX["spine2"]] = rx(15 * a)
        root[t] += [0.1 * a, 0, 0.5 * a]
    offsets = sk.REST_OFFSETS * scale
    return sk.forward_kinematics(local, root, offsets).astype(np.float32)


# --- finding the model --------------------------------------------------------------------------

def test_fixture_loads_with_smplx_itself(model_dir):
    import smplx

    model = smplx.create(str(model_dir), model_type="smpl", gender="neutral")
    assert model.get_num_verts() == 47 and model.get_num_faces() == 23


def test_model_dir_follows_env_var(model_dir, tmp_path_factory, monkeypatch):
    monkeypatch.delenv(M.ENV_VAR, raising=False)
    assert M.smpl_model_dir() is None and not M.mesh_available()
    assert M.mesh_status()[1] == M.MESH_HELP
    assert "smpl.is.tue.mpg.de" in M.MESH_HELP and M.ENV_VAR in M.MESH_HELP

    empty = tmp_path_factory.mktemp("empty")
    monkeypatch.setenv(M.ENV_VAR, str(empty))
    assert M.smpl_model_dir() is None and not M.mesh_available()
    assert "holds no usable SMPL model" in M.mesh_status()[1]

    monkeypatch.setenv(M.ENV_VAR, str(empty / "missing"))
    assert "does not exist" in M.mesh_status()[1]

    monkeypatch.setenv(M.ENV_VAR, str(model_dir))
    assert M.smpl_model_dir() == model_dir and M.mesh_available()
    assert str(model_dir / "smpl" / "SMPL_NEUTRAL.pkl") in M.mesh_status()[1]

    # The file itself is accepted too.
    monkeypatch.setenv(M.ENV_VAR, str(model_dir / "smpl" / "SMPL_NEUTRAL.pkl"))
    assert M.mesh_available()


def test_npz_preferred_and_incomplete_npz_rejected(model_dir, tmp_path_factory, monkeypatch):
    npz = M.convert_to_npz(model_dir / "smpl" / "SMPL_NEUTRAL.pkl",
                           model_dir / "SMPL_NEUTRAL.npz")
    assert M.find_model_file(model_dir) == npz
    a, b = M.read_model_data(npz), M.read_model_data(model_dir / "smpl" / "SMPL_NEUTRAL.pkl")
    for key in M.REQUIRED_KEYS:
        np.testing.assert_allclose(a[key], b[key], atol=1e-6, err_msg=key)

    broken = tmp_path_factory.mktemp("broken")
    data = M.read_model_data(npz)
    del data["posedirs"]
    np.savez(broken / "SMPL_NEUTRAL.npz", **data)
    monkeypatch.setenv(M.ENV_VAR, str(broken))
    assert M.smpl_model_dir() is None
    with pytest.raises(M.SMPLModelError, match="posedirs"):
        M.read_model_data(broken / "SMPL_NEUTRAL.npz")


# --- reading the model safely -------------------------------------------------------------------

class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_pickle_with_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    data = tiny_model()
    data["bs_style"] = _Evil(marker)
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps(data, protocol=2))
    with pytest.raises(M.SMPLModelError, match="refusing to load"):
        M.read_model_data(path)
    assert not marker.exists()


def test_chumpy_arrays_become_numpy(tmp_path, monkeypatch):
    chumpy = types.ModuleType("chumpy")
    ch_mod = types.ModuleType("chumpy.ch")

    class Ch:  # how chumpy pickles: the object's __dict__, holding the value as `x`
        def __init__(self, x=None, **extra):
            if x is not None:
                self.x = x
            self.__dict__.update(extra)

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    ch_mod.Ch = Ch
    monkeypatch.setitem(sys.modules, "chumpy", chumpy)
    monkeypatch.setitem(sys.modules, "chumpy.ch", ch_mod)

    data = tiny_model()
    expected = data["shapedirs"].copy()
    data["shapedirs"] = Ch(expected, dterms=["x"])
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps(data, protocol=2))
    np.testing.assert_array_equal(M.read_model_data(path)["shapedirs"], expected)

    data["shapedirs"] = Ch(a=1)  # a chumpy expression: no stored value
    path.write_bytes(pickle.dumps(data, protocol=2))
    with pytest.raises(M.SMPLModelError, match="clean_ch"):
        M.read_model_data(path)


@pytest.mark.parametrize("key,bad", [
    ("posedirs", np.zeros((47, 3, 10))),
    ("J_regressor", np.zeros((22, 47))),
    ("f", np.array([[0, 1, 99]])),
])
def test_malformed_model_is_explained(tmp_path, key, bad):
    data = tiny_model()
    data[key] = bad
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps(data, protocol=2))
    with pytest.raises(M.SMPLModelError, match=f"'{key}'"):
        M.read_model_data(path)


def test_load_model_without_model_says_how(monkeypatch):
    monkeypatch.delenv(M.ENV_VAR, raising=False)
    with pytest.raises(M.SMPLModelError, match="smpl.is.tue.mpg.de"):
        M.load_model()


# --- fitting ------------------------------------------------------------------------------------

def test_ik_guess_is_exact_on_a_matching_skeleton(model_dir):
    joints = motion()
    out = M.fit_smpl(joints, model_dir, iters=0)
    assert out["error_m"] < 1e-4
    np.testing.assert_allclose(out["joints"], joints, atol=1e-4)
    # Free joints (wrists, feet, head, hands) are not rotated.
    np.testing.assert_array_equal(out["body_pose"].reshape(-1, 23, 3)[:, [19, 20]], 0)


def test_fit_recovers_joints_and_skins_the_mesh(model_dir):
    joints = motion()
    out = M.fit_smpl(joints, model_dir, iters=40)
    assert out["vertices"].shape == (8, 47, 3) and out["vertices"].dtype == np.float32
    assert out["faces"].shape == (23, 3)
    assert out["error_m"] < 0.005
    err = np.linalg.norm(out["joints"] - joints, axis=-1)
    assert err.max() < 0.01, err.max()
    # Vertex j sits on joint j in the tiny model, so the skinned mesh must follow the skeleton.
    np.testing.assert_allclose(out["vertices"][:, :22], joints, atol=0.01)


def test_fit_from_a_t_pose_model(tmp_path):
    np.savez(tmp_path / "SMPL_NEUTRAL.npz", **tiny_model(rest=t_pose_rest()))
    joints = motion()
    out = M.fit_smpl(joints, tmp_path)
    assert out["error_m"] < 0.005
    np.testing.assert_allclose(out["vertices"][:, :22], joints, atol=0.01)
    # Hanging the arms from a T-pose is a swing of about 90 degrees at each shoulder.
    shoulders = np.linalg.norm(out["body_pose"].reshape(-1, 23, 3)[0, [15, 16]], axis=-1)
    np.testing.assert_allclose(np.degrees(shoulders), 90, atol=5)


def test_fit_adapts_the_shape_to_longer_bones(model_dir):
    joints = motion(scale=1.05)
    fixed = M.fit_smpl(joints, model_dir, fit_betas=False)
    fitted = M.fit_smpl(joints, model_dir)
    assert fitted["error_m"] < 0.005 < 0.01 < fixed["error_m"]
    assert 0.45 < fitted["betas"][0] < 0.55, fitted["betas"]  # 5 % longer = beta 0 of 0.5


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_refinement_improves_on_ik_for_noisy_joints(model_dir, optimizer):
    joints = motion() + np.random.default_rng(1).normal(scale=0.01, size=(8, 22, 3))
    ik = M.fit_smpl(joints, model_dir, iters=0)
    refined = M.fit_smpl(joints, model_dir, iters=40, optimizer=optimizer)
    assert refined["error_m"] < 0.8 * ik["error_m"], (refined["error_m"], ik["error_m"])
    with pytest.raises(ValueError, match="optimizer"):
        M.fit_smpl(joints, model_dir, optimizer="sgd")


def test_fit_stride_and_single_frame(model_dir):
    joints = motion(9)
    out = M.fit_smpl(joints, model_dir, iters=5, stride=2)
    np.testing.assert_array_equal(out["frames"], [0, 2, 4, 6, 8])
    assert out["vertices"].shape == (5, 47, 3) and out["joints"].shape == (5, 22, 3)
    one = M.fit_smpl(joints[3], model_dir, iters=5)
    assert one["vertices"].shape == (1, 47, 3)


def test_skin_only_some_frames(model_dir):
    joints = motion()
    full = M.fit_smpl(joints, model_dir, iters=10)
    part = M.fit_smpl(joints, model_dir, iters=10, skin=[1, -1])
    np.testing.assert_array_equal(part["skinned"], [1, 7])
    np.testing.assert_allclose(part["vertices"], full["vertices"][[1, 7]], atol=1e-5)
    np.testing.assert_allclose(part["joints"], full["joints"], atol=1e-4)
    with pytest.raises(ValueError, match="8 fitted frames"):
        M.fit_smpl(joints, model_dir, iters=0, skin=[8])


@pytest.mark.parametrize("bad,match", [
    (np.zeros((4, 21, 3)), "22, 3"),
    (np.full((4, 22, 3), np.nan), "NaN"),
    (np.zeros((0, 22, 3)), "22, 3"),
])
def test_fit_rejects_bad_joints(model_dir, bad, match):
    with pytest.raises(MotionFormatError, match=match):
        M.fit_smpl(bad, model_dir)


@pytest.mark.shared_data
def test_fit_real_humanml3d_clip(model_dir):
    joints = np.load(shared_path("humanml3d-sample", "new_joints", "012314.npy"))
    out = M.fit_smpl(joints, model_dir, stride=2)
    assert out["vertices"].shape[0] == len(range(0, len(joints), 2))
    assert out["error_m"] < 0.03, out["error_m"]


# --- export -------------------------------------------------------------------------------------

def _load_glb(path):
    scene = trimesh.load(path, process=False)
    meshes = list(scene.geometry.values())
    assert len(meshes) == 1
    return meshes[0]


def test_export_single_frame_round_trips(model_dir, tmp_path):
    out = M.fit_smpl(motion(), model_dir, iters=5)
    path = M.export_glb(out["vertices"], out["faces"], tmp_path / "view" / "pose.glb", frame=6)
    assert path.read_bytes()[:4] == b"glTF"
    mesh = _load_glb(path)
    assert len(mesh.vertices) == 47 and len(mesh.faces) == 23
    np.testing.assert_allclose(np.sort(mesh.vertices, axis=0),
                               np.sort(out["vertices"][6], axis=0), atol=1e-5)
    # A single (V, 3) frame works too.
    assert len(_load_glb(M.export_glb(out["vertices"][0], out["faces"],
                                      tmp_path / "one.glb")).vertices) == 47


def test_export_strip_lays_frames_side_by_side(model_dir, tmp_path):
    out = M.fit_smpl(motion(), model_dir, iters=5)
    mesh = _load_glb(M.export_glb(out["vertices"], out["faces"], tmp_path / "s.glb", strip=3,
                                  spacing=1.0))
    assert len(mesh.vertices) == 3 * 47 and len(mesh.faces) == 3 * 23
    assert np.ptp(mesh.vertices[:, 0]) > 2.0  # three bodies, one metre apart


def test_motion_to_glb_shows_the_nearest_fitted_frame(model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(M.ENV_VAR, str(model_dir))
    joints = motion(9)
    out = M.motion_to_glb(joints, tmp_path / "m.glb", frame=5, stride=2, iters=5)
    assert out["frame"] in (4, 6)
    mesh = _load_glb(out["path"])
    # Vertex j sits on joint j: the glb holds the pose of the frame it reports.
    shown = np.sort(mesh.vertices[:22], axis=0)
    np.testing.assert_allclose(shown, np.sort(joints[out["frame"]], axis=0), atol=0.01)
    with pytest.raises(ValueError, match="out of range"):
        M.motion_to_glb(joints, tmp_path / "m.glb", frame=9, iters=0)
    strip = M.motion_to_glb(joints, tmp_path / "s.glb", strip=3, stride=2, iters=0)
    assert strip["vertices"].shape == (3, 47, 3) and strip["frame"] == 0
    assert len(_load_glb(strip["path"]).vertices) == 3 * 47


def test_export_rejects_bad_input(tmp_path):
    v = np.zeros((2, 5, 3))
    with pytest.raises(ValueError, match="out of range"):
        M.export_glb(v, [[0, 1, 2]], tmp_path / "x.glb", frame=2)
    with pytest.raises(ValueError, match="below 5"):
        M.export_glb(v, [[0, 1, 5]], tmp_path / "x.glb")
    with pytest.raises(ValueError, match=r"\(V, 3\)"):
        M.export_glb(np.zeros((5, 2)), [[0, 1, 2]], tmp_path / "x.glb")


def full_size_model(rng: np.random.Generator) -> dict:
    """SMPL's real sizes (6,890 vertices, 13,776 faces) around our skeleton, for timing."""
    rest, parents = tiny_rest(), np.array(M.SMPL_PARENTS)
    V, F = 6890, 13776
    bone = rng.integers(1, NJ, V)
    t = rng.uniform(size=(V, 1))
    v = rest[parents[bone]] * (1 - t) + rest[bone] * t + rng.normal(scale=0.04, size=(V, 3))
    weights = np.zeros((V, NJ))
    weights[np.arange(V), parents[bone]] = 0.7
    weights[np.arange(V), bone] += 0.3
    regressor = np.zeros((NJ, V))
    for j in range(NJ):
        regressor[j, np.argsort(np.linalg.norm(v - rest[j], axis=1))[:8]] = 1 / 8
    return {
        "v_template": v, "shapedirs": rng.normal(scale=0.003, size=(V, 3, 10)),
        "posedirs": rng.normal(scale=0.001, size=(V, 3, 9 * (NJ - 1))),
        "J_regressor": regressor, "weights": weights,
        "kintree_table": np.stack([parents % 2**32, np.arange(NJ)]).astype(np.int64),
        "f": rng.integers(0, V, size=(F, 3)),
    }


@pytest.mark.slow
def test_full_size_ten_second_clip_is_interactive(tmp_path, rng):
    """Timing at SMPL's real size; run with `-m slow -s` to see the numbers."""
    import time

    np.savez(tmp_path / "SMPL_NEUTRAL.npz", **full_size_model(rng))
    joints = motion(200)  # 10 s at 20 fps
    M.load_model(tmp_path)  # the app loads the model once
    rows = []
    for name, call in [
        ("fit_smpl, 200 frames skinned", lambda: M.fit_smpl(joints, tmp_path)),
        ("motion_to_glb stride=2, 1 frame skinned",
         lambda: M.motion_to_glb(joints, tmp_path / "a.glb", model_dir=tmp_path)),
    ]:
        start = time.perf_counter()
        out = call()
        rows.append((name, time.perf_counter() - start, out["error_m"]))
        print(f"{name}: {rows[-1][1]:.2f} s, mean joint error {1000 * out['error_m']:.1f} mm")
    assert max(r[1] for r in rows) < 30, rows  # generous: the CI machine may be shared
    assert all(r[2] < 0.03 for r in rows), rows
