"""The Motion Image layout (METHOD.md §2): time x body-part bands, cut into 16 x 16 patches.

The model input is the (224, 29) array of z-scored angles; the model maps each part's columns to a
16-pixel band, so the image is 224 frames x (14 parts x 16) pixels and patch p = (time block
p // 14, body part p % 14). Time block i holds image rows [16 i, 16 i + 16).

Two ways to fit a clip of n frames into 224 rows:
- "pad" (default): n <= 224 frames are copied as they are and zero-padded after (0 is the mean of
  a normalised column); longer clips are resampled to 224 rows.
- "resample": every clip is resampled to exactly 224 rows.
Resampling is linear and cell-centred: row r samples the clip at frame (r + 0.5) * n / 224 - 0.5,
so block i covers clip time [16 i n / 224, 16 (i + 1) n / 224) frames. `patch_info` uses the same
mapping to turn a patch back into frames and seconds of the original clip.
"""
from __future__ import annotations

import numpy as np

from .skeleton import BODY_PARTS, FPS, NUM_DOF, NUM_PARTS, PART_INDEX, PART_JOINTS, PART_LABELS

IMAGE_FRAMES = 224
PATCH = 16
TIME_BLOCKS = IMAGE_FRAMES // PATCH  # 14
NUM_PATCHES = TIME_BLOCKS * NUM_PARTS  # 196
MODES = ("pad", "resample")


def normalize(angles: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """z-score (T, 29) angles with per-column statistics (see `angles.angle_stats`); float32."""
    angles = np.asarray(angles, dtype=np.float32)
    mean = np.asarray(mean, dtype=np.float32)
    std = np.asarray(std, dtype=np.float32)
    if angles.ndim != 2 or angles.shape[1] != NUM_DOF:
        raise ValueError(f"normalize expects (T, {NUM_DOF}) angles, got {angles.shape}")
    if mean.shape != (NUM_DOF,) or std.shape != (NUM_DOF,):
        raise ValueError(f"mean and std must be ({NUM_DOF},), got {mean.shape} and {std.shape}")
    if not (std > 0).all():
        raise ValueError("std must be positive in every column (use angle_stats, which floors it)")
    return (angles - mean) / std


def denormalize(norm_angles: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """The inverse of `normalize`."""
    return np.asarray(norm_angles, dtype=np.float32) * std + mean


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def _resampled(n_frames: int, mode: str) -> bool:
    return mode == "resample" or n_frames > IMAGE_FRAMES


def resample(x: np.ndarray, rows: int = IMAGE_FRAMES) -> np.ndarray:
    """Linear, cell-centred resampling of (n, C) along time to (rows, C)."""
    x = np.asarray(x)
    n = x.shape[0]
    pos = np.clip((np.arange(rows) + 0.5) * n / rows - 0.5, 0, n - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    w = (pos - lo)[:, None]
    return (1 - w) * x[lo] + w * x[hi]


def to_model_input(norm_angles: np.ndarray, mode: str = "pad",
                   ) -> tuple[np.ndarray, np.ndarray, int]:
    """(T, 29) normalised angles -> (x (224, 29) float32, block_mask (14,) bool, n_frames = T).

    block_mask[i] is True when time block i holds at least one real frame.
    """
    _check_mode(mode)
    a = np.asarray(norm_angles, dtype=np.float32)
    if a.ndim != 2 or a.shape[1] != NUM_DOF:
        raise ValueError(f"to_model_input expects (T, {NUM_DOF}) normalised angles, "
                         f"got {a.shape}")
    n = a.shape[0]
    if n == 0:
        raise ValueError("to_model_input got a motion with no frames")
    if _resampled(n, mode):
        x = resample(a).astype(np.float32)
        rows = IMAGE_FRAMES
    else:
        x = np.zeros((IMAGE_FRAMES, NUM_DOF), dtype=np.float32)
        x[:n] = a
        rows = n
    block_mask = np.arange(TIME_BLOCKS) * PATCH < rows
    return x, block_mask, n


def patch_to_cell(p: int) -> tuple[int, int]:
    """Patch index (0..195) -> (time block, body part index)."""
    p = int(p)
    if not 0 <= p < NUM_PATCHES:
        raise ValueError(f"patch index must be in 0..{NUM_PATCHES - 1}, got {p}")
    return p // NUM_PARTS, p % NUM_PARTS


def cell_to_patch(time_block: int, part: int | str) -> int:
    """(time block, body part index or name) -> patch index."""
    if isinstance(part, str):
        if part not in PART_INDEX:
            raise ValueError(f"unknown body part {part!r}; expected one of {BODY_PARTS}")
        part = PART_INDEX[part]
    time_block, part = int(time_block), int(part)
    if not 0 <= time_block < TIME_BLOCKS:
        raise ValueError(f"time block must be in 0..{TIME_BLOCKS - 1}, got {time_block}")
    if not 0 <= part < NUM_PARTS:
        raise ValueError(f"body part index must be in 0..{NUM_PARTS - 1}, got {part}")
    return time_block * NUM_PARTS + part


def block_span(time_block: int, n_frames: int, mode: str = "pad") -> tuple[float, float]:
    """Clip time [t0, t1), in frames, that a time block shows (t0 == t1 past the clip's end).

    The spans of a clip's blocks tile [0, n_frames) exactly, with no gap and no overlap.
    """
    _check_mode(mode)
    if n_frames < 1:
        raise ValueError(f"n_frames must be at least 1, got {n_frames}")
    if not 0 <= time_block < TIME_BLOCKS:
        raise ValueError(f"time block must be in 0..{TIME_BLOCKS - 1}, got {time_block}")
    if _resampled(n_frames, mode):
        # One division of an exact integer, so boundaries that fall on a frame are exact.
        return (time_block * PATCH * n_frames / IMAGE_FRAMES,
                (time_block + 1) * PATCH * n_frames / IMAGE_FRAMES)
    return float(min(time_block * PATCH, n_frames)), float(min((time_block + 1) * PATCH, n_frames))


def block_frames(time_block: int, n_frames: int, mode: str = "pad") -> tuple[int, int]:
    """Frames [f0, f1) of an n-frame clip that a time block shows (f0 == f1 past the clip's end).

    Frame k stands for clip time [k, k + 1): a block gets every frame its span touches, so
    neighbouring blocks share at most one frame (none when the clip is padded, not resampled;
    a clip stretched to 224 rows from under 14 frames shows one frame in several blocks).
    """
    t0, t1 = block_span(time_block, n_frames, mode)
    if _resampled(n_frames, mode):
        # Exact integer floor/ceil of time_block * 16 * n / 224, free of float rounding.
        f0 = time_block * PATCH * n_frames // IMAGE_FRAMES
        f1 = -(-(time_block + 1) * PATCH * n_frames // IMAGE_FRAMES)
        return f0, f1
    return int(t0), int(t1)


def frames_to_blocks(f0: int, f1: int, n_frames: int, mode: str = "pad") -> list[int]:
    """Time blocks that show any of the clip frames [f0, f1) (e.g. a grounded caption span)."""
    blocks = []
    for t in range(TIME_BLOCKS):
        b0, b1 = block_frames(t, n_frames, mode)
        if b0 < b1 and b0 < f1 and f0 < b1:
            blocks.append(t)
    return blocks


def patch_info(p: int, n_frames: int, fps: float = FPS, mode: str = "pad") -> dict:
    """What patch p of an n-frame clip shows: frames [f0, f1) of the original clip, seconds, part.

    Keys: patch, time_block, part_index, part (name), label (for people), joints (joint indices to
    light up), frames (f0, f1) (see `block_frames`), seconds (s0, s1) (the block's exact time
    span, see `block_span`), valid (False for a padding block past the clip's end).
    """
    time_block, part = patch_to_cell(p)
    t0, t1 = block_span(time_block, n_frames, mode)
    f0, f1 = block_frames(time_block, n_frames, mode)
    name = BODY_PARTS[part]
    return {
        "patch": int(p),
        "time_block": time_block,
        "part_index": part,
        "part": name,
        "label": PART_LABELS[part],
        "joints": PART_JOINTS[name],
        "frames": (f0, f1),
        "seconds": (t0 / fps, t1 / fps),
        "valid": f1 > f0,
    }
