"""The optional SMPL mesh view: a posed body as a .glb for the app's 3D viewer.

Finding, reading and fitting SMPL live in motion_retrieval.mesh; this module only names and
caches the files the app shows. The view is available only when SMPL_MODEL_DIR holds a model
and smplx + trimesh are installed (`mesh_status()` says why not, and how to enable it).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from motion_retrieval.mesh import MESH_HELP, mesh_available, mesh_status

__all__ = ["MESH_HELP", "MeshError", "mesh_available", "mesh_file", "mesh_status"]


class MeshError(ValueError):
    """A mesh that could not be made; the message is meant for the person using the app."""


def mesh_file(joints: np.ndarray, out_dir: str | Path, name: str = "motion", *,
              strip: int = 0, frame: int | None = None) -> Path:
    """Pose SMPL from (T, 22, 3) joints and write `<name>-<hash>.glb` in out_dir.

    strip > 1 shows that many frames side by side, else one frame (default: the middle one).
    The file is keyed by the joints, the view and the SMPL model in use, so a second request
    for the same motion is served from disk without fitting again.
    """
    from motion_retrieval.mesh import find_model_file, motion_to_glb, smpl_model_dir

    available, message = mesh_status()
    if not available:
        raise MeshError(message)
    joints = np.ascontiguousarray(joints, dtype=np.float32)
    model = find_model_file(smpl_model_dir())
    h = hashlib.sha256(joints.tobytes())
    h.update(f"{joints.shape}:{strip}:{frame}:{model}:{model.stat().st_mtime_ns}".encode())
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:40] or "motion"
    path = Path(out_dir) / f"{safe}-{h.hexdigest()[:16]}.glb"
    if path.is_file():
        return path
    tmp = path.with_name(f".{path.name}.tmp.glb")  # a half-written file is never served
    try:
        motion_to_glb(joints, tmp, frame=frame, strip=strip)
    except (ValueError, RuntimeError) as exc:  # SMPLModelError is a ValueError
        tmp.unlink(missing_ok=True)
        raise MeshError(f"the body could not be posed from this motion ({exc})") from None
    tmp.replace(path)
    return path
