"""Map an arbitrary named skeleton (BVH) onto the 22 SMPL joints by joint-name tables."""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ..errors import MotionFormatError
from ..skeleton import JOINT_INDEX, NUM_JOINTS
from .kit import collar_point

# Normalised names (lower case, letters and digits only, namespace and rig prefixes removed).
# Covers the Bandai-Namco rig (UpperLeg_L ...), CMU / MotionBuilder (LeftUpLeg ...), Mixamo
# (mixamorig:LeftUpLeg ...), Poser/Daz (lThigh, lShldr ...), 3ds Max Biped (Bip01 L Thigh ...)
# and SMPL-named rigs (L_Hip ...).
_CENTRE = {
    "pelvis": ("hips", "pelvis", "hip"),
    "neck": ("neck", "neck1", "lowerneck"),
    "head": ("head",),
}
_SIDED = {
    "hip": ("upleg", "upperleg", "thigh", "hip", "femur"),
    "knee": ("leg", "lowerleg", "lowleg", "knee", "shin", "calf", "tibia"),
    # SMPL names the ankle "Ankle" and the toes "Foot"; CMU names the ankle "Foot".
    "ankle": ("ankle", "foot"),
    "foot": ("toebase", "toe", "toes", "toe0", "ball", "forefoot", "foot"),
    # "shoulder" is the collar when the rig also has an upper-arm joint, else the upper arm.
    "shoulder": ("arm", "upperarm", "uparm", "shldr", "humerus"),
    "collar": ("collar", "clavicle"),
    "elbow": ("forearm", "lowerarm", "lowarm", "elbow", "radius"),
    "wrist": ("hand", "wrist"),
}
_PREFIXES = ("joint", "bip001", "bip01", "def")
_SIDE_WORDS = {"l": ("left", "l"), "r": ("right", "r")}
_LABELS = {"l": "left", "r": "right"}


def normalize_name(name: str) -> str:
    n = re.sub(r"[^a-z0-9]", "", name.rsplit(":", 1)[-1].lower())
    for p in _PREFIXES:
        if n.startswith(p) and len(n) > len(p):
            return n[len(p):]
    return n


def _sided(side: str, bases: Sequence[str]) -> list[str]:
    return [f(w, b) for b in bases for w in _SIDE_WORDS[side]
            for f in (lambda w, b: w + b, lambda w, b: b + w)]


def _path(parents: Sequence[int], a: int, b: int) -> list[int]:
    """Joints strictly between a and b along the tree."""
    def up(j):
        out = []
        while j >= 0:
            out.append(j)
            j = parents[j]
        return out
    ua, ub = up(a), up(b)
    common = set(ua) & set(ub)
    if not common:
        return []
    lca = next(j for j in ua if j in common)
    down = ub[:ub.index(lca)][::-1]
    return (ua[:ua.index(lca) + 1] + down)[1:-1]


def retarget(names: Sequence[str], parents: Sequence[int], positions: np.ndarray,
             is_end: Sequence[bool] | None = None) -> np.ndarray:
    """(T, J, 3) positions of a named skeleton -> (T, 22, 3) SMPL joints (same units).

    Spine joints, the neck and the collars the rig lacks are interpolated along its chain;
    end sites stand in for missing toes or head. Raises MotionFormatError naming what is missing.
    """
    is_end = list(is_end) if is_end is not None else [False] * len(names)
    lookup: dict[str, int] = {}
    for i, n in enumerate(names):
        if not is_end[i]:
            lookup.setdefault(normalize_name(n), i)
    used: set[int] = set()

    def find(cands: Sequence[str]) -> int | None:
        for c in cands:
            i = lookup.get(c)
            if i is not None and i not in used:
                used.add(i)
                return i
        return None

    found: dict[str, int | None] = {k: find(v) for k, v in _CENTRE.items()}
    for s in "lr":
        for part in ("hip", "knee", "ankle", "foot", "shoulder", "elbow", "wrist", "collar"):
            found[f"{s}_{part}"] = find(_sided(s, _SIDED[part]))
        # "Shoulder" names the collar when an upper arm exists, the upper arm otherwise.
        key = f"{s}_collar" if found[f"{s}_shoulder"] is not None else f"{s}_shoulder"
        if found[key] is None:
            found[key] = find(_sided(s, ("shoulder",)))

    def end_child(j: int | None) -> int | None:
        if j is None:
            return None
        return next((i for i, p in enumerate(parents) if p == j and is_end[i]), None)

    for s in "lr":
        if found[f"{s}_foot"] is None:
            found[f"{s}_foot"] = end_child(found[f"{s}_ankle"])
    if found["head"] is None:
        found["head"] = end_child(found["neck"])

    required = ["pelvis", "head"] + [f"{s}_{p}" for s in "lr" for p in
                                     ("hip", "knee", "ankle", "foot", "shoulder", "elbow", "wrist")]
    missing = [k for k in required if found[k] is None]
    if missing:
        human = ", ".join(
            (f"{_LABELS[k[0]]} {k[2:]}" if k[1] == "_" else k).replace("foot", "toes")
            for k in missing)
        shown = ", ".join(n for n, e in zip(names, is_end) if not e)
        raise MotionFormatError(
            f"cannot map this skeleton onto the 22 body joints: no joint for {human}. "
            f"Its joints are: {shown}. Known names follow the CMU (LeftUpLeg), Mixamo "
            "(mixamorig:LeftUpLeg), Bandai-Namco (UpperLeg_L) and SMPL (L_Hip) rigs")

    positions = np.asarray(positions, dtype=np.float64)
    out = np.empty((positions.shape[0], NUM_JOINTS, 3))
    for k, i in found.items():
        if i is not None and k in JOINT_INDEX:
            out[:, JOINT_INDEX[k]] = positions[:, i]
    pelvis, head = found["pelvis"], found["head"]
    top = found["neck"] if found["neck"] is not None else head
    chain = [positions[:, i] for i in _path(parents, pelvis, top)]
    if found["neck"] is None:
        # The neck sits halfway between the last spine joint and the head.
        base = chain[-1] if chain else positions[:, pelvis]
        out[:, JOINT_INDEX["neck"]] = 0.5 * (base + positions[:, head])
    _place_spine(out, chain)
    for s in "lr":
        if found[f"{s}_collar"] is None:
            out[:, JOINT_INDEX[f"{s}_collar"]] = collar_point(
                out[:, JOINT_INDEX["spine3"]], out[:, JOINT_INDEX["neck"]],
                out[:, JOINT_INDEX[f"{s}_shoulder"]])
    return out


def _place_spine(out: np.ndarray, chain: list[np.ndarray]) -> None:
    """Fill spine1-3 from the rig's joints between pelvis and neck, interpolating gaps."""
    j = JOINT_INDEX
    pelvis, neck = out[:, j["pelvis"]], out[:, j["neck"]]
    k = len(chain)
    if k == 0:
        pts = [pelvis + f * (neck - pelvis) for f in (0.25, 0.5, 0.6)]
    elif k == 1:
        pts = [0.5 * (pelvis + chain[0]), chain[0], 0.5 * (chain[0] + neck)]
    elif k == 2:  # e.g. Spine, Chest: the chest is where SMPL's spine3 carries the collars
        pts = [chain[0], 0.5 * (chain[0] + chain[1]), chain[1]]
    else:
        pts = [chain[0], chain[(k - 1) // 2], chain[-1]]
    for name, p in zip(("spine1", "spine2", "spine3"), pts):
        out[:, j[name]] = p
