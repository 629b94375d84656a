"""SMPL body meshes posed from joint positions, for the optional mesh view of the demo.

SMPL's model files are licensed (https://smpl.is.tue.mpg.de) and no package ships them, so
everything here is optional: `mesh_available()` says whether SMPL_MODEL_DIR holds a usable model,
`fit_smpl` poses SMPL from (T, 22, 3) joints (analytic IK, then Adam on the joint error), and
`export_glb` writes a frame (or a strip of frames) for `gr.Model3D`.

Trust: SMPL is distributed as a Python pickle. A `.pkl` model is read with a restricted unpickler
that only builds numpy arrays, scipy sparse matrices and chumpy arrays (turned into numpy), so a
tampered file fails to load instead of running code. The `.npz` form (`convert_to_npz`) needs no
pickle at all and is preferred.
"""
from __future__ import annotations

import copyreg
import functools
import os
import pickle
import time
from contextlib import redirect_stdout
from importlib.util import find_spec
from io import StringIO
from pathlib import Path

import numpy as np

from .skeleton import NUM_JOINTS, PARENTS

ENV_VAR = "SMPL_MODEL_DIR"

# Where a model may sit inside SMPL_MODEL_DIR, in order of preference: our own names, smplx's
# `create(dir, model_type="smpl")` layout, then the names of the official downloads.
MODEL_FILES: tuple[str, ...] = (
    "SMPL_NEUTRAL.npz", "SMPL_NEUTRAL.pkl",
    "smpl/SMPL_NEUTRAL.npz", "smpl/SMPL_NEUTRAL.pkl",
    "basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl",
    "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl",
    "smpl/models/basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl",
)

MESH_HELP = (
    "The mesh view needs the SMPL body model, which is licensed and cannot ship with this app. "
    "To enable it: register at https://smpl.is.tue.mpg.de, download the SMPL model for Python, "
    "put the neutral model in a folder as SMPL_NEUTRAL.pkl (or smpl/SMPL_NEUTRAL.pkl, or a "
    "converted SMPL_NEUTRAL.npz), install the extras (`pip install smplx trimesh`) and start "
    "the app with `SMPL_MODEL_DIR=/path/to/that/folder python app.py`. The body is then posed "
    "from the joints of each motion and shown as a 3D mesh."
)

# SMPL has 24 joints: our 22 (same order) plus the two hands.
SMPL_NUM_JOINTS = 24
SMPL_PARENTS: tuple[int, ...] = (*PARENTS, 20, 21)
REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights",
                 "kintree_table", "f")

# Joints whose own rotation moves no target joint (feet, head, wrists, hands): held at zero.
_FREE_JOINTS = (10, 11, 15, 20, 21, 22, 23)
_HINGES = {4: 7, 5: 8, 18: 20, 19: 21}  # knee/elbow -> the joint its segment points to


class SMPLModelError(ValueError):
    """An SMPL model file that is missing, malformed or unsafe; the message says which and why."""


# --- finding the model --------------------------------------------------------------------------

def find_model_file(location: str | os.PathLike) -> Path | None:
    """The SMPL model file at `location` (the file itself, or a folder holding one), or None."""
    path = Path(location).expanduser()
    if path.is_file():
        return path if _looks_usable(path) else None
    if path.is_dir():
        for name in MODEL_FILES:
            if (path / name).is_file() and _looks_usable(path / name):
                return path / name
    return None


def _looks_usable(path: Path) -> bool:
    # Cheap checks only (the app calls this at start-up); a full read happens in load_model.
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                return all(k in data.files for k in REQUIRED_KEYS)
        except (OSError, ValueError):
            return False
    if path.suffix == ".pkl":
        try:
            with open(path, "rb") as fh:
                head = fh.read(2)
        except OSError:
            return False
        return len(head) == 2 and (head[0] == 0x80 or head[:1] in (b"(", b"}"))
    return False


def smpl_model_dir() -> Path | None:
    """The SMPL_MODEL_DIR location if it holds a usable SMPL model, else None.

    It may name a folder (see MODEL_FILES for the names looked for) or the model file itself.
    """
    root = os.environ.get(ENV_VAR, "").strip()
    if not root or find_model_file(root) is None:
        return None
    return Path(root).expanduser()


def mesh_status(model_dir: str | os.PathLike | None = None) -> tuple[bool, str]:
    """(available, a sentence for the UI): why the mesh view is off, or which model it uses.

    `model_dir` overrides SMPL_MODEL_DIR.
    """
    missing = [m for m in ("smplx", "trimesh") if find_spec(m) is None]
    root = str(model_dir if model_dir is not None else os.environ.get(ENV_VAR, "")).strip()
    if not root:
        return False, MESH_HELP
    if missing:
        return False, (f"{ENV_VAR} is set but {' and '.join(missing)} is not installed "
                       f"(`pip install smplx trimesh`).")
    path = Path(root).expanduser()
    if not path.exists():
        return False, f"{ENV_VAR}={root} does not exist. " + MESH_HELP
    found = find_model_file(path)
    if found is None:
        return False, (f"{ENV_VAR}={root} holds no usable SMPL model (looked for "
                       f"{', '.join(MODEL_FILES[:4])}). " + MESH_HELP)
    return True, f"SMPL model: {found}"


def mesh_available() -> bool:
    """True when smplx and trimesh are installed and SMPL_MODEL_DIR holds a usable model."""
    return mesh_status()[0]


# --- reading the model --------------------------------------------------------------------------

class _ChumpyArray:
    """Stands in for chumpy.Ch while unpickling; only its plain array value `x` is kept."""

    def __setstate__(self, state):
        self.state = state if isinstance(state, dict) else {}


_NP_RECONSTRUCT = np.ndarray((0,)).__reduce__()[0]
_NP_SCALAR = np.float64(0).__reduce__()[0]
_SPARSE = ("csc_matrix", "csr_matrix", "coo_matrix")


class _ModelUnpickler(pickle.Unpickler):
    """Builds only what an SMPL pickle holds; any other global (os.system, ...) is refused."""

    def find_class(self, module, name):
        if (module, name) in (("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor")):
            return copyreg._reconstructor
        if module in ("__builtin__", "builtins") and name == "object":
            return object
        if (module, name) == ("_codecs", "encode"):  # how protocol 2 stores bytes
            import codecs

            return codecs.encode
        if module.split(".")[0] == "numpy":
            if name == "_reconstruct":
                return _NP_RECONSTRUCT
            if name == "scalar":
                return _NP_SCALAR
            if name in ("ndarray", "dtype"):
                return getattr(np, name)
        if module.split(".")[0] == "chumpy":
            return _ChumpyArray
        if module.startswith("scipy.sparse") and name in _SPARSE:
            import scipy.sparse

            return getattr(scipy.sparse, name)
        raise SMPLModelError(f"refusing to load {module}.{name} from an SMPL pickle: only "
                             "numpy/scipy/chumpy arrays are expected in a model file")


def _plain(value, key: str, path: Path):
    if isinstance(value, _ChumpyArray):
        if "x" not in value.state:
            raise SMPLModelError(f"{path}: '{key}' is a chumpy expression, not an array; "
                                 "re-save the model without chumpy (smplx's tools/clean_ch.py)")
        return np.asarray(value.state["x"])
    if hasattr(value, "toarray"):  # scipy sparse (J_regressor)
        return value.toarray()
    return value


def read_model_data(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of an SMPL model file (.npz, or a .pkl read without running code), checked."""
    path = Path(path)
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as npz:
                raw = {k: npz[k] for k in npz.files}
        except ValueError as exc:
            raise SMPLModelError(f"{path}: not a plain-array .npz SMPL model ({exc})") from exc
    else:
        with open(path, "rb") as fh:
            try:
                raw = _ModelUnpickler(fh, encoding="latin1").load()
            except SMPLModelError:
                raise
            except Exception as exc:  # a truncated or foreign pickle: say so in plain words
                raise SMPLModelError(f"{path}: cannot read this SMPL pickle ({exc})") from exc
        if not isinstance(raw, dict):
            raise SMPLModelError(f"{path}: expected a dict of arrays, got {type(raw).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise SMPLModelError(f"{path}: not an SMPL model, missing {', '.join(missing)}")
    data = {k: np.asarray(_plain(raw[k], k, path)) for k in REQUIRED_KEYS}
    _check_shapes(data, path)
    return data


def _check_shapes(d: dict[str, np.ndarray], path: Path) -> None:
    V = d["v_template"].shape[0]
    J = d["J_regressor"].shape[0]
    expect = {
        "v_template": (V, 3), "J_regressor": (SMPL_NUM_JOINTS, V),
        "weights": (V, SMPL_NUM_JOINTS), "kintree_table": (2, SMPL_NUM_JOINTS),
    }
    for key, shape in expect.items():
        if d[key].shape != shape:
            raise SMPLModelError(f"{path}: '{key}' has shape {d[key].shape}, expected {shape} "
                                 f"(SMPL has {SMPL_NUM_JOINTS} joints; this file has {J})")
    if d["shapedirs"].ndim != 3 or d["shapedirs"].shape[:2] != (V, 3):
        raise SMPLModelError(f"{path}: 'shapedirs' has shape {d['shapedirs'].shape}, "
                             f"expected ({V}, 3, num_betas)")
    if d["posedirs"].shape != (V, 3, 9 * (SMPL_NUM_JOINTS - 1)):
        raise SMPLModelError(f"{path}: 'posedirs' has shape {d['posedirs'].shape}, "
                             f"expected ({V}, 3, {9 * (SMPL_NUM_JOINTS - 1)})")
    f = d["f"]
    if f.ndim != 2 or f.shape[1] != 3 or f.size == 0 or f.min() < 0 or f.max() >= V:
        raise SMPLModelError(f"{path}: 'f' must be (F, 3) vertex indices below {V}")
    parents = tuple(int(p) for p in d["kintree_table"][0, 1:])
    if parents != SMPL_PARENTS[1:]:
        raise SMPLModelError(f"{path}: kinematic tree {parents} is not SMPL's")


def convert_to_npz(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Re-save an SMPL model (.pkl) as a plain .npz that loads without pickle."""
    data = read_model_data(src)
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    np.savez(dst, **{k: (v.astype(np.int64) if k in ("f", "kintree_table")
                        else v.astype(np.float32)) for k, v in data.items()})
    return dst


@functools.lru_cache(maxsize=2)
def _load_cached(path: str, mtime: float, size: int, num_betas: int, device: str):
    import smplx
    import torch
    from smplx.utils import Struct

    data = read_model_data(path)
    with redirect_stdout(StringIO()):  # smplx prints a warning when a model has 10 betas
        model = smplx.SMPL(path, data_struct=Struct(**data), num_betas=num_betas,
                           dtype=torch.float32)
    return model.to(device).eval().requires_grad_(False)


def load_model(location: str | os.PathLike | None = None, *, num_betas: int = 10,
               device: str = "cpu"):
    """An smplx.SMPL module for the model at `location` (default: SMPL_MODEL_DIR), cached."""
    location = location if location is not None else os.environ.get(ENV_VAR, "")
    if not str(location).strip():
        raise SMPLModelError(f"no SMPL model given and {ENV_VAR} is not set. " + MESH_HELP)
    path = find_model_file(location)
    if path is None:
        raise SMPLModelError(f"no usable SMPL model at {location}. " + MESH_HELP)
    st = path.stat()
    return _load_cached(str(path.resolve()), st.st_mtime, st.st_size, num_betas, str(device))


# --- fitting ------------------------------------------------------------------------------------

def _swing(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(T, 3, 3) smallest rotations taking directions u onto v (both (T, 3))."""
    from scipy.spatial.transform import Rotation

    u = u / np.maximum(np.linalg.norm(u, axis=-1, keepdims=True), 1e-9)
    v = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)
    axis = np.cross(u, v)
    sin = np.linalg.norm(axis, axis=-1, keepdims=True)
    cos = np.sum(u * v, axis=-1, keepdims=True)
    # Opposite directions: any axis perpendicular to u will do.
    flip = (sin[:, 0] < 1e-6) & (cos[:, 0] < 0)
    if flip.any():
        other = np.where(np.abs(u[flip, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]])
        axis[flip] = np.cross(u[flip], other)
        sin[flip] = np.linalg.norm(axis[flip], axis=-1, keepdims=True)
    rotvec = axis / np.maximum(sin, 1e-12) * np.arctan2(sin, cos)
    rotvec[(sin[:, 0] < 1e-12) & ~flip] = 0.0
    return Rotation.from_rotvec(rotvec).as_matrix()


def _kabsch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations R minimising sum |R a_i - b_i|^2; a is (K, 3), b is (T, K, 3)."""
    H = np.einsum("ki,tkj->tij", a, b)
    U, _, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(np.swapaxes(Vt, 1, 2) @ np.swapaxes(U, 1, 2)))
    D = np.tile(np.eye(3), (len(b), 1, 1))
    D[:, 2, 2] = d
    return np.swapaxes(Vt, 1, 2) @ D @ np.swapaxes(U, 1, 2)


def ik_guess(joints: np.ndarray, rest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Analytic pose from positions: (T, 24, 3) local axis-angles and (T, 3) root offset.

    `rest` is the (24, 3) SMPL rest skeleton. Joints with several children (pelvis, spine3) get
    the best rigid fit of their child bones; the others the smallest swing of their one bone
    from the parent's orientation (so twist stays at the parent's).
    """
    from scipy.spatial.transform import Rotation

    T = len(joints)
    children = {j: [c for c in range(NUM_JOINTS) if SMPL_PARENTS[c] == j]
                for j in range(SMPL_NUM_JOINTS)}
    glob = np.empty((T, SMPL_NUM_JOINTS, 3, 3))
    for j in range(SMPL_NUM_JOINTS):
        parent_rot = glob[:, SMPL_PARENTS[j]] if j else np.tile(np.eye(3), (T, 1, 1))
        kids = children[j]
        if len(kids) > 1:
            glob[:, j] = _kabsch(rest[kids] - rest[j], joints[:, kids] - joints[:, j:j + 1])
        elif len(kids) == 1:
            bone_now = parent_rot @ (rest[kids[0]] - rest[j])
            glob[:, j] = _swing(bone_now, joints[:, kids[0]] - joints[:, j]) @ parent_rot
        else:
            glob[:, j] = parent_rot
    local = glob.copy()
    for j in range(1, SMPL_NUM_JOINTS):
        local[:, j] = np.swapaxes(glob[:, SMPL_PARENTS[j]], 1, 2) @ glob[:, j]
    rotvec = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_rotvec().reshape(T, -1, 3)
    return rotvec, joints[:, 0] - rest[0]


def fit_shape(joints: np.ndarray, J0: np.ndarray, Jdirs: np.ndarray, *, steps: int = 4,
              damping: float = 1e-4) -> np.ndarray:
    """Shape coefficients whose rest bone lengths match the motion's (median over frames).

    Gauss-Newton on the 21 bone lengths; `damping` keeps the betas near the mean body when the
    lengths say little (Jdirs is (24, 3, B): how each beta moves each rest joint).
    """
    kids = np.arange(1, NUM_JOINTS)
    par = np.array(SMPL_PARENTS)[kids]
    target = np.median(np.linalg.norm(joints[:, kids] - joints[:, par], axis=-1), axis=0)
    bone_dirs = Jdirs[kids] - Jdirs[par]  # (21, 3, B)
    betas = np.zeros(Jdirs.shape[-1])
    for _ in range(steps):
        bones = J0[kids] - J0[par] + bone_dirs @ betas
        length = np.maximum(np.linalg.norm(bones, axis=-1), 1e-9)
        jac = np.einsum("kc,kcb->kb", bones / length[:, None], bone_dirs)
        lhs = jac.T @ jac + damping * np.eye(len(betas))
        betas = betas + np.linalg.solve(lhs, -jac.T @ (length - target) - damping * betas)
    return betas


def _hinge_axes(rest: np.ndarray) -> dict[int, np.ndarray]:
    # A knee or elbow bends about the axis across its segment and the body's facing (+Z).
    out = {}
    for j, child in _HINGES.items():
        axis = np.cross(rest[child] - rest[j], [0.0, 0.0, 1.0])
        if np.linalg.norm(axis) > 1e-6:
            out[j] = axis / np.linalg.norm(axis)
    return out


def _posed_joints(rot, rest):
    """(T, 22, 3) joints (root at its rest place) from (T, 24, 3, 3) local rotations.

    The same chain as smplx's batch_rigid_transform, on unbound per-joint tensors: indexing one
    stacked tensor per joint makes autograd zero-fill a full-size gradient each time (~20x
    slower on CPU).
    """
    import torch

    rots = rot.unbind(1)
    offsets = (rest[1:NUM_JOINTS] - rest[list(PARENTS[1:])]).unbind(0)
    glob, pos = [rots[0]], [rest[0].expand(len(rot), 3)]
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        pos.append(pos[p] + glob[p] @ offsets[j - 1])
        glob.append(glob[p] @ rots[j])
    return torch.stack(pos, dim=1)


def _check_joints(joints) -> np.ndarray:
    from .errors import MotionFormatError

    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim == 2:
        joints = joints[None]
    if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3) or len(joints) == 0:
        raise MotionFormatError(f"fit_smpl expects (T, {NUM_JOINTS}, 3) joint positions, "
                                f"got shape {joints.shape}")
    if not np.isfinite(joints).all():
        raise MotionFormatError("fit_smpl got joint positions with NaN or infinite values")
    return joints


def fit_smpl(joints, model_dir: str | os.PathLike | None = None, iters: int = 30, *,
             device: str = "cpu", stride: int = 1, fit_betas: bool = True,
             lr: float = 0.01, optimizer: str = "adam", skin=None) -> dict:
    """Pose SMPL from (T, 22, 3) joints (SMPL joints 0..21, metres, Y up).

    The shape is solved first from the bone lengths (`fit_shape`, shared by all frames), the pose
    is initialised by `ik_guess`, then Adam refines pose, translation and shape on the squared
    joint error plus small priors (pose size, knees and elbows bending about their hinge,
    frame-to-frame smoothness, shape size), batched over frames; optimizer="lbfgs" refines with
    L-BFGS instead. The refinement is kept only if it lowers the mean joint error. Only the
    skeleton takes part in the loop; the mesh is skinned once at the end (smplx's lbs).
    `stride` fits every n-th frame; `iters=0` returns the shape fit and the IK guess.
    `skin` (indices into the fitted frames) skins only those frames: skinning is most of the
    cost when a view needs one pose of a long clip.

    Returns dict(vertices (S, V, 3) float32 for the skinned frames, faces (F, 3) int64,
    joints (T', 22, 3) float32 posed SMPL joints, frames (T',) indices into the input,
    skinned (S,) indices into `frames`, error_m mean joint error in metres, betas,
    body_pose (T', 69), global_orient (T', 3), transl (T', 3), seconds).
    """
    import torch
    from smplx.lbs import batch_rodrigues, lbs

    start = time.perf_counter()
    if stride < 1 or iters < 0:
        raise ValueError(f"need stride >= 1 and iters >= 0, got stride={stride}, iters={iters}")
    if optimizer not in ("adam", "lbfgs"):
        raise ValueError(f"optimizer must be 'adam' or 'lbfgs', got {optimizer!r}")
    joints = _check_joints(joints)
    frames = np.arange(0, len(joints), stride)
    skinned = np.arange(len(frames)) if skin is None else np.asarray(skin, dtype=np.int64)
    if skinned.ndim != 1 or (len(skinned) and not (
            -len(frames) <= skinned.min() and skinned.max() < len(frames))):
        raise ValueError(f"skin must list indices into the {len(frames)} fitted frames")
    skinned = skinned % len(frames)
    target_np = joints[frames]
    model = load_model(model_dir, device=device)
    dev, dtype = model.v_template.device, model.v_template.dtype
    T = len(frames)

    # Rest joints as an affine function of the shape: J(betas) = J0 + Jdirs @ betas.
    J0 = model.J_regressor @ model.v_template
    Jdirs = torch.einsum("jv,vcb->jcb", model.J_regressor, model.shapedirs)
    if fit_betas:
        betas_np = fit_shape(target_np, J0.double().cpu().numpy(),
                             Jdirs.double().cpu().numpy())
    else:
        betas_np = np.zeros(model.num_betas)
    betas = torch.tensor(betas_np[None], dtype=dtype, device=dev)
    rest = (J0 + Jdirs @ betas[0]).double().cpu().numpy()

    rotvec, transl0 = ik_guess(target_np, rest)
    target = torch.as_tensor(target_np, dtype=dtype, device=dev)
    pose = torch.tensor(rotvec, dtype=dtype, device=dev)
    transl = torch.tensor(transl0, dtype=dtype, device=dev)
    free = torch.ones(SMPL_NUM_JOINTS, 1, dtype=dtype, device=dev)
    free[list(_FREE_JOINTS)] = 0.0
    pose = pose * free
    hinges = _hinge_axes(rest)
    hinge_ids = list(hinges)
    hinge_axes = torch.tensor(np.stack([hinges[j] for j in hinge_ids]), dtype=dtype, device=dev)
    parents = model.parents

    def skeleton(pose, transl, betas):
        rot = batch_rodrigues(pose.reshape(-1, 3)).reshape(len(pose), -1, 3, 3)
        return _posed_joints(rot, J0 + Jdirs @ betas[0]) + transl[:, None]

    def objective():
        masked = pose * free
        err = ((skeleton(masked, transl, betas) - target) ** 2).sum(-1).mean()
        prior = 1e-4 * (masked[:, 1:] ** 2).sum(-1).mean()
        h = masked[:, hinge_ids]
        along = (h * hinge_axes).sum(-1, keepdim=True) * hinge_axes
        prior = prior + 1e-3 * ((h - along) ** 2).sum(-1).mean()
        if T > 1:
            prior = prior + 1e-3 * ((masked[1:] - masked[:-1]) ** 2).sum(-1).mean()
        return err + prior + 5e-6 * (betas ** 2).sum()

    start_state = [t.clone() for t in (pose, transl, betas)]
    if iters:
        params = [pose, transl] + ([betas] if fit_betas else [])
        for p in params:
            p.requires_grad_(True)
        if optimizer == "lbfgs":
            opt = torch.optim.LBFGS(params, lr=1.0, max_iter=iters, history_size=20,
                                    line_search_fn="strong_wolfe")

            def closure():
                opt.zero_grad(set_to_none=True)
                loss = objective()
                loss.backward()
                return loss

            opt.step(closure)
        else:
            opt = torch.optim.Adam(params, lr=lr)
            # Adam's first steps move every parameter by about lr however small its gradient
            # is, which would shake a good IK start; a decaying rate lets it settle back.
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1.0 - i / iters)
            for _ in range(iters):
                opt.zero_grad(set_to_none=True)
                objective().backward()
                opt.step()
                sched.step()

    with torch.no_grad():
        pose = pose.detach() * free
        transl, betas = transl.detach(), betas.detach()
        fitted = skeleton(pose, transl, betas)
        # The IK start is exact when the skeletons agree; never hand back something worse.
        ik_fit = skeleton(*start_state)
        if (ik_fit - target).norm(dim=-1).mean() < (fitted - target).norm(dim=-1).mean():
            (pose, transl, betas), fitted = start_state, ik_fit
        # smplx's own posed joints are what we report, so a slip in our fitting chain would
        # show as error here. Only the joints of frames that are not skinned come from ours.
        verts = []
        sel = torch.as_tensor(skinned, device=dev)
        for i in range(0, len(sel), 32):  # chunks bound the (chunk, V, 4, 4) transforms
            idx = sel[i:i + 32]
            v, j = lbs(betas.expand(len(idx), -1), pose[idx].reshape(-1, 72),
                       model.v_template, model.shapedirs, model.posedirs, model.J_regressor,
                       parents, model.lbs_weights)
            verts.append(v + transl[idx, None])
            fitted[idx] = j[:, :NUM_JOINTS] + transl[idx, None]
        vertices = torch.cat(verts) if verts else torch.zeros(0, *model.v_template.shape)  # skin=[]
    error = float((fitted - target).norm(dim=-1).mean())
    return {
        "vertices": vertices.float().cpu().numpy(),
        "faces": np.asarray(model.faces, dtype=np.int64),
        "joints": fitted.float().cpu().numpy(),
        "frames": frames,
        "skinned": skinned,
        "error_m": error,
        "betas": betas[0].cpu().numpy(),
        "global_orient": pose[:, 0].cpu().numpy(),
        "body_pose": pose[:, 1:].reshape(T, -1).cpu().numpy(),
        "transl": transl.cpu().numpy(),
        "seconds": time.perf_counter() - start,
    }


# --- export -------------------------------------------------------------------------------------

MESH_COLOR = (0.72, 0.74, 0.80, 1.0)


def export_glb(vertices, faces, path: str | os.PathLike, frame: int | None = None, *,
               strip: int = 0, spacing: float = 0.9) -> Path:
    """Write a binary glTF (.glb) of one frame, or of `strip` frames side by side.

    vertices: (V, 3) or (T, V, 3); frame: which frame of a (T, V, 3) array (default: middle).
    strip > 1 lays that many evenly spaced frames along +X (left to right for a viewer facing
    the body), each centred on its own pelvis-height column so the poses read as a film strip.
    """
    import trimesh

    vertices = np.asarray(vertices, dtype=np.float32)
    faces = np.asarray(faces, dtype=np.int64)
    if vertices.ndim == 2:
        vertices = vertices[None]
    if vertices.ndim != 3 or vertices.shape[-1] != 3 or len(vertices) == 0:
        raise ValueError(f"vertices must be (V, 3) or (T, V, 3), got {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 \
            or faces.max() >= vertices.shape[1]:
        raise ValueError(f"faces must be (F, 3) indices below {vertices.shape[1]}, "
                         f"got shape {faces.shape}")
    T = len(vertices)
    if strip > 1:
        picks = np.unique(np.linspace(0, T - 1, strip).round().astype(int))
        parts = []
        for i, t in enumerate(picks):
            v = vertices[t].copy()
            v[:, [0, 2]] -= v[:, [0, 2]].mean(axis=0)
            v[:, 0] += (i - (len(picks) - 1) / 2) * spacing
            parts.append(v)
        verts = np.concatenate(parts)
        tris = np.concatenate([faces + i * vertices.shape[1] for i in range(len(picks))])
    else:
        t = T // 2 if frame is None else int(frame)
        if not -T <= t < T:
            raise ValueError(f"frame {frame} is out of range for {T} frames")
        verts, tris = vertices[t], faces
    mesh = trimesh.Trimesh(verts, tris, process=False)
    mesh.visual.vertex_colors = np.tile(np.array(MESH_COLOR) * 255, (len(verts), 1)).astype(
        np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(trimesh.Scene(mesh).export(file_type="glb"))
    return path


def motion_to_glb(joints, path: str | os.PathLike, *, frame: int | None = None, strip: int = 0,
                  model_dir: str | os.PathLike | None = None, stride: int = 2,
                  iters: int = 30, device: str = "cpu") -> dict:
    """Fit SMPL to a motion and write the glb in one call (what the demo needs).

    `frame` indexes the input motion (default: middle); with `stride` > 1 the nearest fitted
    frame is shown. Only the frames shown are skinned. Returns fit_smpl's dict plus `path` and
    `frame` (the input frame shown, the first one of a strip).
    """
    n = len(_check_joints(joints))
    frames = np.arange(0, n, stride)
    if strip > 1:
        picks = np.unique(np.linspace(0, len(frames) - 1, strip).round().astype(int))
    else:
        want = n // 2 if frame is None else int(frame)
        if not -n <= want < n:
            raise ValueError(f"frame {frame} is out of range for {n} frames")
        picks = np.array([np.abs(frames - (want % n)).argmin()])
    out = fit_smpl(joints, model_dir, iters, device=device, stride=stride, skin=picks)
    out["path"] = export_glb(out["vertices"], out["faces"], path, strip=len(picks))
    out["frame"] = int(frames[picks[0]])
    return out
