"""BVH: a parser for any hierarchy and channel layout, vectorised forward kinematics,
retargeting onto the 22 SMPL joints, and a writer for the 22-joint skeleton."""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MotionFormatError
from ..skeleton import FPS, JOINT_NAMES, NUM_JOINTS, PARENTS, REST_OFFSETS
from .canonical import (
    MAX_SECONDS,
    body_height,
    check_duration,
    check_finite,
    resample,
    unit_scale,
)
from .io import MAX_BYTES, read_bytes
from .retarget import retarget

_AXES = {"x": 0, "y": 1, "z": 2}
_CHANNELS = {f"{a}{kind}" for a in "xyz" for kind in ("position", "rotation")}


@dataclass
class BVH:
    """A parsed BVH file. End sites are joints with `is_end` set and no channels."""
    names: list[str]
    parents: list[int]
    offsets: np.ndarray          # (J, 3)
    channels: list[list[str]]    # per joint, e.g. ["xposition", ..., "zrotation"] (lower case)
    is_end: list[bool]
    frame_time: float
    motion: np.ndarray           # (T, total channels), as in the file (degrees, file units)

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def positions(self) -> np.ndarray:
        """Global joint positions (T, J, 3) by forward kinematics, vectorised over frames."""
        T, J = self.motion.shape[0], len(self.names)
        rot = np.empty((T, J, 3, 3))
        pos = np.empty((T, J, 3))
        col = 0
        for j in range(J):
            chans = self.channels[j]
            data = self.motion[:, col:col + len(chans)]
            col += len(chans)
            trans = np.broadcast_to(self.offsets[j], (T, 3)).copy()
            local = None
            for k, ch in enumerate(chans):
                axis = _AXES[ch[0]]
                if ch.endswith("position"):
                    # Position channels replace the offset (the Blender / MotionBuilder reading).
                    trans[:, axis] = data[:, k]
                else:
                    r = _axis_rotation(axis, np.deg2rad(data[:, k]))
                    local = r if local is None else local @ r
            p = self.parents[j]
            if p < 0:
                pos[:, j] = trans
                rot[:, j] = np.eye(3) if local is None else local
            else:
                pos[:, j] = pos[:, p] + np.einsum("tij,tj->ti", rot[:, p], trans)
                rot[:, j] = rot[:, p] if local is None else rot[:, p] @ local
        return pos


def _axis_rotation(axis: int, angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    m = np.zeros(angle.shape + (3, 3))
    i, k = [a for a in range(3) if a != axis]
    m[..., axis, axis] = 1.0
    m[..., i, i] = c
    m[..., k, k] = c
    # Right-handed: about y the sign pattern is flipped relative to x and z.
    sign = -1.0 if axis == 1 else 1.0
    m[..., i, k] = -s * sign
    m[..., k, i] = s * sign
    return m


class _Tokens:
    """Whitespace tokens of the hierarchy with their 1-based line numbers."""

    def __init__(self, lines: list[str]):
        self.items = [(tok, n + 1) for n, line in enumerate(lines) for tok in line.split()]
        self.i = 0
        self.last_line = len(lines)

    def next(self, what: str) -> tuple[str, int]:
        if self.i >= len(self.items):
            raise MotionFormatError(
                f"malformed BVH: file ends at line {self.last_line} while expecting {what}")
        self.i += 1
        return self.items[self.i - 1]

    def rest_of_line(self, line: int, what: str) -> str:
        """The remaining tokens of `line` joined by spaces (names like 'Bip01 L Thigh')."""
        words = []
        while self.i < len(self.items) and self.items[self.i][1] == line \
                and self.items[self.i][0] != "{":
            words.append(self.items[self.i][0])
            self.i += 1
        if not words:
            raise MotionFormatError(f"malformed BVH at line {line}: missing {what}")
        return " ".join(words)

    def expect(self, word: str) -> int:
        tok, line = self.next(f"'{word}'")
        if tok.upper() != word.upper():
            raise MotionFormatError(f"malformed BVH at line {line}: expected '{word}', got '{tok}'")
        return line

    def number(self, what: str) -> float:
        tok, line = self.next(what)
        try:
            v = float(tok)
        except ValueError:
            raise MotionFormatError(
                f"malformed BVH at line {line}: expected a number for {what}, got '{tok}'"
            ) from None
        if not np.isfinite(v):
            raise MotionFormatError(f"malformed BVH at line {line}: {what} is not finite")
        return v


_MAX_JOINTS = 500
_MAX_CELLS = 5_000_000  # frames x joints; bounds forward-kinematics memory (~0.4 GB)


def parse_bvh(text: str) -> BVH:
    """Parse BVH text. Errors name the offending line."""
    lines = text.splitlines()
    motion_at = next((n for n, line in enumerate(lines)
                      if line.strip().upper() == "MOTION"), None)
    if motion_at is None:
        raise MotionFormatError("malformed BVH: no MOTION section (is this a BVH file?)")
    tok = _Tokens(lines[:motion_at])
    tok.last_line = motion_at + 1
    tok.expect("HIERARCHY")

    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    is_end: list[bool] = []
    stack: list[int] = []
    while tok.i < len(tok.items):
        word, line = tok.next("ROOT, JOINT or End Site")
        kw = word.upper()
        if kw == "}":
            if not stack:
                raise MotionFormatError(f"malformed BVH at line {line}: unmatched '}}'")
            stack.pop()
            continue
        if kw == "ROOT" and stack:
            raise MotionFormatError(f"malformed BVH at line {line}: ROOT inside another joint")
        if kw == "JOINT" and not stack:
            raise MotionFormatError(f"malformed BVH at line {line}: JOINT outside any ROOT")
        if kw in ("ROOT", "JOINT"):
            name = tok.rest_of_line(line, "a joint name")
            end = False
        elif kw == "END":
            tok.expect("Site")
            if not stack:
                raise MotionFormatError(f"malformed BVH at line {line}: End Site outside a joint")
            name, end = f"{names[stack[-1]]}_End", True
        else:
            raise MotionFormatError(
                f"malformed BVH at line {line}: expected ROOT, JOINT, End Site or '}}', "
                f"got '{word}'")
        if len(names) >= _MAX_JOINTS:
            raise MotionFormatError(f"malformed BVH at line {line}: over {_MAX_JOINTS} joints")
        tok.expect("{")
        tok.expect("OFFSET")
        off = [tok.number(f"the OFFSET of {name}") for _ in range(3)]
        chans: list[str] = []
        if not end:
            word, line = tok.next("CHANNELS")
            if word.upper() == "CHANNELS":
                n = tok.number(f"the channel count of {name}")
                if n != int(n) or not 0 <= n <= 6:
                    raise MotionFormatError(
                        f"malformed BVH at line {line}: channel count of {name} must be 0-6")
                for _ in range(int(n)):
                    c, cl = tok.next(f"a channel name of {name}")
                    if c.lower() not in _CHANNELS or c.lower() in chans:
                        raise MotionFormatError(
                            f"malformed BVH at line {cl}: bad channel '{c}' for {name}")
                    chans.append(c.lower())
            else:
                tok.i -= 1  # a joint without CHANNELS is fixed
        names.append(name)
        parents.append(stack[-1] if stack else -1)
        offsets.append(off)
        channels.append(chans)
        is_end.append(end)
        stack.append(len(names) - 1)
    if stack:
        raise MotionFormatError(
            f"malformed BVH: joint '{names[stack[-1]]}' is not closed before MOTION "
            f"(line {motion_at + 1})")
    if not names:
        raise MotionFormatError("malformed BVH: the HIERARCHY has no joints")

    n_frames, frame_time, data_at = _motion_header(lines, motion_at)
    if n_frames * len(names) > _MAX_CELLS:
        raise MotionFormatError(
            f"BVH too large: {n_frames} frames x {len(names)} joints is over {_MAX_CELLS:,}")
    n_chan = sum(len(c) for c in channels)
    motion = _motion_data(lines, data_at, n_frames, n_chan)
    return BVH(names, parents, np.array(offsets), channels, is_end, frame_time, motion)


def _header_value(lines: list[str], n: int, label: str) -> tuple[float, int]:
    while n < len(lines) and not lines[n].strip():
        n += 1
    if n >= len(lines):
        raise MotionFormatError(f"malformed BVH: file ends before the '{label}' line")
    key, _, value = lines[n].partition(":")
    if key.strip().lower() != label.lower():
        raise MotionFormatError(
            f"malformed BVH at line {n + 1}: expected '{label}:', got '{lines[n].strip()[:40]}'")
    try:
        v = float(value)
    except ValueError:
        raise MotionFormatError(
            f"malformed BVH at line {n + 1}: '{label}' is not a number") from None
    return v, n + 1


def _motion_header(lines: list[str], motion_at: int) -> tuple[int, float, int]:
    frames, n = _header_value(lines, motion_at + 1, "Frames")
    if not np.isfinite(frames) or frames != int(frames) or frames < 1:
        raise MotionFormatError(f"malformed BVH at line {n}: Frames must be a positive integer")
    frame_time, n = _header_value(lines, n, "Frame Time")
    if not np.isfinite(frame_time) or frame_time <= 0:
        raise MotionFormatError(f"malformed BVH at line {n}: Frame Time must be positive")
    return int(frames), frame_time, n


def _motion_data(lines: list[str], start: int, n_frames: int, n_chan: int) -> np.ndarray:
    body = "\n".join(lines[start:])
    flat = np.zeros(0)
    try:
        with warnings.catch_warnings():
            # Depending on the numpy version, fromstring stops with a warning or raises at the
            # first token it cannot read; either way the slow path below names the line.
            warnings.simplefilter("ignore")
            if body.strip():
                flat = np.fromstring(body, dtype=np.float64, sep=" ")
    except ValueError:
        flat = None
    if flat is None or flat.size != n_frames * n_chan or not np.isfinite(flat).all():
        flat = _parse_lines(lines, start, n_frames, n_chan)
    if n_chan == 0:
        return np.zeros((n_frames, 0))
    return flat.reshape(n_frames, n_chan)


def _parse_lines(lines: list[str], start: int, n_frames: int, n_chan: int) -> np.ndarray:
    """Slow path, line by line: report the first bad motion line (or return the data when
    only the fast reader disliked it)."""
    frame, rows = 0, []
    for n in range(start, len(lines)):
        toks = lines[n].split()
        if not toks:
            continue
        try:
            vals = np.array([float(t) for t in toks])
        except ValueError:
            bad = next(t for t in toks if not _is_float(t))
            raise MotionFormatError(
                f"malformed BVH at line {n + 1}: '{bad[:20]}' is not a number") from None
        if not np.isfinite(vals).all():
            raise MotionFormatError(f"malformed BVH at line {n + 1}: NaN or infinite value")
        if len(toks) != n_chan:
            raise MotionFormatError(
                f"malformed BVH at line {n + 1}: {len(toks)} values, expected {n_chan} "
                "(one per channel)")
        frame += 1
        if frame > n_frames:
            raise MotionFormatError(
                f"malformed BVH at line {n + 1}: more frames than the {n_frames} declared")
        rows.append(vals)
    if frame == n_frames:
        return np.concatenate(rows) if rows else np.zeros(0)
    raise MotionFormatError(
        f"malformed BVH: the header declares {n_frames} frames but the file ends after {frame} "
        f"(line {len(lines)}); it may be truncated")


def _is_float(t: str) -> bool:
    try:
        float(t)
        return True
    except ValueError:
        return False


def read_bvh(source: str | os.PathLike, *, max_bytes: int = MAX_BYTES,
             max_seconds: float = MAX_SECONDS, scale: float | None = None, up: str = "y",
             fps: float = FPS) -> np.ndarray:
    """A BVH (or .bvh.gz) file, or BVH text, -> (T, 22, 3) float64 joints in metres at `fps`.

    Units are detected from the body size unless `scale` (file units to metres) is given;
    `up` is the file's vertical axis ("y" or "z"). Not canonicalised (see load_motion).
    """
    if isinstance(source, str) and "HIERARCHY" in source[:1000]:
        text = source
    else:
        raw = read_bytes(Path(source), max_bytes)
        text = raw.decode("utf-8", errors="replace")
    bvh = parse_bvh(text)
    check_duration(len(bvh.motion), bvh.fps, max_seconds, "BVH motion")
    pos = bvh.positions()
    joints = retarget(bvh.names, bvh.parents, pos, bvh.is_end)
    if up.lower() == "z":
        joints = np.stack([joints[..., 0], joints[..., 2], -joints[..., 1]], axis=-1)
    elif up.lower() != "y":
        raise MotionFormatError(f"up must be 'y' or 'z', got {up!r}")
    if scale is None:
        scale = unit_scale(body_height(joints))
    check_finite(joints, "BVH motion")
    return resample(joints * scale, bvh.fps, fps)


# Joint names written by write_bvh (CMU / MotionBuilder style, understood by most tools).
BVH_NAMES: tuple[str, ...] = (
    "Hips", "LeftUpLeg", "RightUpLeg", "Spine", "LeftLeg", "RightLeg", "Spine1", "LeftFoot",
    "RightFoot", "Spine2", "LeftToeBase", "RightToeBase", "Neck", "LeftShoulder",
    "RightShoulder", "Head", "LeftArm", "RightArm", "LeftForeArm", "RightForeArm", "LeftHand",
    "RightHand",
)
_CHILDREN = [[c for c in range(NUM_JOINTS) if PARENTS[c] == j] for j in range(NUM_JOINTS)]
_MIRROR_PAIRS = {0: (1, 2, 3), 9: (13, 14, 12)}  # joint: (left child, right child, middle)


def _rest_offsets(joints: np.ndarray) -> np.ndarray:
    """Offsets for the written skeleton: template directions, the clip's mean bone lengths;
    where a joint has several children, the clip's own (mean) layout in that joint's frame."""
    offsets = np.zeros((NUM_JOINTS, 3))
    for c in range(1, NUM_JOINTS):
        length = np.linalg.norm(joints[:, c] - joints[:, PARENTS[c]], axis=-1).mean()
        offsets[c] = REST_OFFSETS[c] / np.linalg.norm(REST_OFFSETS[c]) * length
    for j, (left, right, mid) in _MIRROR_PAIRS.items():
        frame = _branch_frame(joints, left, right, mid, j)
        for c in _CHILDREN[j]:
            local = np.einsum("tji,tj->ti", frame, joints[:, c] - joints[:, j])
            offsets[c] = local.mean(axis=0)
    return offsets


def _branch_frame(joints, left, right, mid, j) -> np.ndarray:
    """(T, 3, 3) rotation whose columns are left (+x), up (+y), forward (+z) at a branch joint."""
    x = joints[:, left] - joints[:, right]
    x /= np.linalg.norm(x, axis=-1, keepdims=True) + 1e-12
    y = joints[:, mid] - joints[:, j]
    y = y - (y * x).sum(-1, keepdims=True) * x
    y /= np.linalg.norm(y, axis=-1, keepdims=True) + 1e-12
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def _align(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T, 3, 3) smallest rotations taking directions a to b (both (T, 3))."""
    a = a / (np.linalg.norm(a, axis=-1, keepdims=True) + 1e-12)
    b = b / (np.linalg.norm(b, axis=-1, keepdims=True) + 1e-12)
    v = np.cross(a, b)
    c = (a * b).sum(-1)
    vx = np.zeros(a.shape[:-1] + (3, 3))
    vx[..., 0, 1], vx[..., 0, 2] = -v[..., 2], v[..., 1]
    vx[..., 1, 0], vx[..., 1, 2] = v[..., 2], -v[..., 0]
    vx[..., 2, 0], vx[..., 2, 1] = -v[..., 1], v[..., 0]
    k = 1.0 / (1.0 + c)
    out = np.eye(3) + vx + (vx @ vx) * k[..., None, None]
    # Opposite directions: turn half a circle about any axis normal to a.
    flip = c < -1 + 1e-9
    if flip.any():
        axis = np.cross(a[flip], [1.0, 0.0, 0.0])
        weak = np.linalg.norm(axis, axis=-1) < 1e-6
        axis[weak] = np.cross(a[flip][weak], [0.0, 1.0, 0.0])
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        out[flip] = 2 * axis[:, :, None] * axis[:, None, :] - np.eye(3)
    return out


def _kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations best taking the (K, 3) vectors src onto the (T, K, 3) dst."""
    h = np.einsum("ki,tkj->tij", src, dst)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.transpose(0, 2, 1) @ u.transpose(0, 2, 1)))
    fix = np.ones((len(d), 3))
    fix[:, 2] = d
    return vt.transpose(0, 2, 1) @ (fix[:, :, None] * u.transpose(0, 2, 1))


def _euler_zxy(m: np.ndarray) -> np.ndarray:
    """Degrees (z, x, y) with m = Rz @ Rx @ Ry, the channel order written."""
    x = np.arcsin(np.clip(m[..., 2, 1], -1.0, 1.0))
    z = np.arctan2(-m[..., 0, 1], m[..., 1, 1])
    y = np.arctan2(-m[..., 2, 0], m[..., 2, 2])
    lock = np.abs(m[..., 2, 1]) > 1 - 1e-9  # gimbal lock: put all the turn on z
    z = np.where(lock, np.arctan2(m[..., 1, 0], m[..., 0, 0]), z)
    y = np.where(lock, 0.0, y)
    return np.rad2deg(np.stack([z, x, y], axis=-1))


def write_bvh(joints: np.ndarray, fps: float = FPS) -> str:
    """BVH text (centimetres, Y up) of the 22-joint skeleton whose FK reproduces `joints`.

    joints: (T, 22, 3) metres. Bone lengths are the clip's means, so positions come back
    exactly up to bone-length noise in the input.
    """
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3) or len(joints) == 0:
        raise MotionFormatError(f"expected (T, {NUM_JOINTS}, 3) joints, got {joints.shape}")
    check_finite(joints, "motion")
    if not np.isfinite(fps) or fps <= 0:
        raise MotionFormatError(f"fps must be positive, got {fps}")
    T = len(joints)
    offsets = _rest_offsets(joints)
    glob = np.empty((T, NUM_JOINTS, 3, 3))
    for j in range(NUM_JOINTS):
        kids = _CHILDREN[j]
        parent_rot = glob[:, PARENTS[j]] if j else np.broadcast_to(np.eye(3), (T, 3, 3))
        if len(kids) > 1:
            glob[:, j] = _kabsch(offsets[kids], joints[:, kids] - joints[:, j, None])
        elif kids:
            c = kids[0]
            rest_dir = np.einsum("tij,j->ti", parent_rot, offsets[c])
            glob[:, j] = _align(rest_dir, joints[:, c] - joints[:, j]) @ parent_rot
        else:
            glob[:, j] = parent_rot
    local = glob.copy()
    for j in range(1, NUM_JOINTS):
        local[:, j] = glob[:, PARENTS[j]].transpose(0, 2, 1) @ glob[:, j]
    angles = _euler_zxy(local)  # (T, 22, 3)

    cm = 100.0
    out = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        pad = "  " * depth
        o = offsets[j] * cm
        out.append(f"{pad}{'ROOT' if j == 0 else 'JOINT'} {BVH_NAMES[j]}")
        out.append(f"{pad}{{")
        out.append(f"{pad}  OFFSET {o[0]:.6f} {o[1]:.6f} {o[2]:.6f}")
        chans = "6 Xposition Yposition Zposition" if j == 0 else "3"
        out.append(f"{pad}  CHANNELS {chans} Zrotation Xrotation Yrotation")
        for c in _CHILDREN[j]:
            emit(c, depth + 1)
        if not _CHILDREN[j]:
            out.append(f"{pad}  End Site")
            out.append(f"{pad}  {{")
            out.append(f"{pad}    OFFSET 0.000000 0.000000 0.000000")
            out.append(f"{pad}  }}")
        out.append(f"{pad}}}")

    order: list[int] = []

    def visit(j: int) -> None:
        order.append(j)
        for c in _CHILDREN[j]:
            visit(c)

    emit(0, 0)
    visit(0)
    out += ["MOTION", f"Frames: {T}", f"Frame Time: {1.0 / fps:.8f}"]
    cols = np.concatenate([joints[:, 0] * cm] + [angles[:, j] for j in order], axis=1)
    out += [" ".join(f"{v:.6f}" for v in row) for row in cols]
    return "\n".join(out) + "\n"


__all__ = ["BVH", "BVH_NAMES", "parse_bvh", "read_bvh", "write_bvh", "JOINT_NAMES"]
