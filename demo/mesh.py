"""The optional SMPL mesh view: available only when SMPL model files are supplied.

SMPL's model files are licensed and no package ships them, so the app hides the mesh view unless
SMPL_MODEL_DIR points at a folder holding them (and smplx + trimesh are installed).
"""
from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path

SMPL_FILES = ("SMPL_NEUTRAL.pkl", "SMPL_NEUTRAL.npz", "smpl/SMPL_NEUTRAL.pkl",
              "smpl/SMPL_NEUTRAL.npz")
HOW_TO = ("The mesh view needs the SMPL body model, which cannot be shipped with this app. "
          "Register at https://smpl.is.tue.mpg.de, download SMPL_NEUTRAL.pkl (or .npz), put it "
          "in a folder and start the app with `SMPL_MODEL_DIR=/that/folder python app.py` "
          "(needs `pip install smplx trimesh`).")


def smpl_model_file(model_dir: str | None = None) -> Path | None:
    """The SMPL model file under SMPL_MODEL_DIR (or `model_dir`), if there is one."""
    root = model_dir or os.environ.get("SMPL_MODEL_DIR")
    if not root:
        return None
    return next((Path(root) / f for f in SMPL_FILES if (Path(root) / f).is_file()), None)


def mesh_status(model_dir: str | None = None) -> tuple[bool, str]:
    """(available, message for the UI)."""
    root = model_dir or os.environ.get("SMPL_MODEL_DIR")
    if not root:
        return False, HOW_TO
    missing = [m for m in ("smplx", "trimesh") if find_spec(m) is None]
    if missing:
        return False, f"SMPL_MODEL_DIR is set but {', '.join(missing)} is not installed."
    if smpl_model_file(root) is None:
        return False, (f"SMPL_MODEL_DIR={root} holds none of {', '.join(SMPL_FILES)}. "
                       + HOW_TO)
    return True, f"SMPL model: {smpl_model_file(root)}"
