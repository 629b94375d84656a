"""Uploaded motion files: refuse what is too big or of the wrong kind before parsing, then read.

Every failure becomes an UploadError whose message a person can act on; nothing else escapes.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_SECONDS = 60.0
SUFFIXES = (".npy", ".bvh", ".bvh.gz")


class UploadError(ValueError):
    """An upload the demo cannot use; the message says why."""


def suffix_of(name: str) -> str:
    name = name.lower()
    return next((s for s in sorted(SUFFIXES, key=len, reverse=True) if name.endswith(s)), "")


def check_upload(path: str | Path | None, max_bytes: int = MAX_UPLOAD_BYTES) -> Path:
    """The upload's path, once its name and size are acceptable (nothing is parsed here)."""
    if path is None or str(path) == "":
        raise UploadError("no file was uploaded")
    path = Path(path)
    if not suffix_of(path.name):
        raise UploadError(f"{path.name}: upload a .npy, .bvh or .bvh.gz motion file")
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise UploadError(f"{path.name} could not be opened ({exc.strerror or exc})") from None
    if size == 0:
        raise UploadError(f"{path.name} is empty")
    if size > max_bytes:
        raise UploadError(f"{path.name} is {size / 2**20:.1f} MB; the limit is "
                          f"{max_bytes / 2**20:.0f} MB")
    return path


def read_upload(path: str | Path | None, max_bytes: int = MAX_UPLOAD_BYTES,
                max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """(T, 22, 3) float32 joints of an uploaded .npy / .bvh / .bvh.gz, or an UploadError."""
    from motion_retrieval import MotionFormatError
    from motion_retrieval.formats import load_motion

    path = check_upload(path, max_bytes)
    try:
        joints = load_motion(path, max_seconds=max_seconds, max_bytes=max_bytes)
    except MotionFormatError as exc:
        raise UploadError(f"{path.name}: {exc}") from None
    except (ValueError, OSError, EOFError, UnicodeError, IndexError, KeyError) as exc:
        # A reader tripped on malformed content: say so without a stack trace.
        raise UploadError(f"{path.name} could not be read as a motion "
                          f"({type(exc).__name__}: {exc})") from None
    joints = np.asarray(joints, dtype=np.float32)
    if joints.ndim != 3 or joints.shape[1:] != (22, 3) or len(joints) < 2:
        raise UploadError(f"{path.name}: expected a motion of (frames, 22, 3) joints, "
                          f"got {joints.shape}")
    if not np.isfinite(joints).all():
        raise UploadError(f"{path.name} holds NaN or infinite values")
    return joints
