"""Downloads: a gallery clip as HumanML3D joints (.npy) and as BVH."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np


def safe_name(clip_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", clip_id).strip("._") or "motion"


def export_motion(joints: np.ndarray, clip_id: str, out_dir: str | Path) -> tuple[Path, Path]:
    """Write `<id>.npy` ((T, 22, 3) float32 metres, 20 fps) and `<id>.bvh`; return both paths."""
    from motion_retrieval.formats import write_bvh

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    joints = np.asarray(joints, dtype=np.float32)
    npy = out / f"{safe_name(clip_id)}.npy"
    bvh = out / f"{safe_name(clip_id)}.bvh"
    np.save(npy, joints)
    bvh.write_text(write_bvh(joints))
    return npy, bvh
