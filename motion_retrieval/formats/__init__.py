"""Reading motions from files and arrays into the project's (T, 22, 3) convention.

`load_motion` accepts `.npy` ((T, 22, 3) HumanML3D joints, (T, 21, 3) KIT-ML, (T, 24, 3) SMPL,
(T, 263) HumanML3D features), `.bvh` / `.bvh.gz`, or an array of one of those shapes.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import MotionFormatError
from ..skeleton import FPS, NUM_JOINTS
from .bvh import read_bvh, write_bvh
from .canonical import (
    MAX_SECONDS,
    body_height,
    canonicalize,
    check_duration,
    check_finite,
    resample,
    unit_scale,
)
from .humanml3d import VEC_DIM, recover_from_vec263
from .io import MAX_BYTES, check_size
from .kit import kit_to_smpl

__all__ = ["MotionFormatError", "load_motion", "read_bvh", "write_bvh", "canonicalize",
           "recover_from_vec263", "kit_to_smpl", "MAX_BYTES", "MAX_SECONDS"]

_SHAPES = ("(T, 22, 3) HumanML3D joints, (T, 21, 3) KIT-ML joints, (T, 24, 3) SMPL joints "
           f"or (T, {VEC_DIM}) HumanML3D features")


def load_motion(source, fps: float = FPS, *, max_seconds: float = MAX_SECONDS,
                max_bytes: int = MAX_BYTES) -> np.ndarray:
    """A motion file or array -> float32 (T, 22, 3): 20 fps, metres, Y up, canonical frame.

    `fps` is the frame rate of an array or `.npy` (a BVH states its own). Bad input raises
    MotionFormatError with a message meant for a person.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = path.name.lower()
        if name.endswith((".bvh", ".bvh.gz")):
            joints = read_bvh(path, max_bytes=max_bytes, max_seconds=max_seconds)
            return _finish(joints, FPS, max_seconds, path.name)
        if name.endswith(".npy"):
            return _from_array(_read_npy(path, max_bytes), fps, max_seconds, path.name)
        raise MotionFormatError(
            f"{path.name}: unsupported file type; use .npy, .bvh or .bvh.gz")
    if isinstance(source, np.ndarray) or isinstance(source, (list, tuple)):
        try:
            arr = np.asarray(source)
        except (ValueError, TypeError) as e:
            raise MotionFormatError(f"cannot read the motion array: {e}") from None
        return _from_array(arr, fps, max_seconds, "motion array")
    raise MotionFormatError(
        f"load_motion takes a file path or a numpy array, not {type(source).__name__}")


def _read_npy(path: Path, max_bytes: int) -> np.ndarray:
    check_size(path, max_bytes)
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise MotionFormatError(
                f"{path.name} holds Python objects (a pickle); only numeric arrays are read"
            ) from None
        raise MotionFormatError(f"{path.name} is not a valid .npy file: {e}") from None
    except (OSError, EOFError) as e:
        raise MotionFormatError(f"{path.name} is not a valid .npy file: {e}") from None
    if not isinstance(arr, np.ndarray):  # an .npz archive
        arr.close()
        raise MotionFormatError(f"{path.name} is an .npz archive; save a single array as .npy")
    return arr


def _from_array(arr: np.ndarray, fps: float, max_seconds: float, what: str) -> np.ndarray:
    if arr.dtype.kind not in "fiu":
        raise MotionFormatError(f"{what} must hold real numbers, not dtype {arr.dtype}")
    shape = arr.shape
    if arr.ndim == 3 and shape[1:] in ((22, 3), (21, 3), (24, 3)):
        n = shape[1]
    elif arr.ndim == 2 and shape[1] == VEC_DIM:
        n = VEC_DIM
    else:
        raise MotionFormatError(f"{what} has shape {shape}; expected {_SHAPES}")
    try:
        fps = float(fps)
    except (TypeError, ValueError):
        raise MotionFormatError(f"fps must be a number, got {fps!r}") from None
    check_duration(shape[0], fps, max_seconds, what)
    arr = arr.astype(np.float64)
    check_finite(arr, what)
    if n == VEC_DIM:
        with np.errstate(over="ignore", invalid="ignore"):
            joints = recover_from_vec263(arr)
    elif n == 21:
        joints = kit_to_smpl(arr)
    else:
        joints = arr[:, :NUM_JOINTS]  # SMPL's two hand joints come last
    if n != VEC_DIM:
        with np.errstate(over="ignore", invalid="ignore"):
            joints = joints * unit_scale(body_height(joints))
    return _finish(joints, fps, max_seconds, what)


def _finish(joints: np.ndarray, fps: float, max_seconds: float, what: str) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        out = canonicalize(resample(joints, fps, FPS))
    if not np.isfinite(out).all():  # overflow of huge but finite input
        raise MotionFormatError(f"{what} has values too large to be positions in metres")
    return out
