"""The on-disk data layout (HumanML3D-style) and its reader and writer.

    DIR/new_joints/<id>.npy        float32 (T, 22, 3); KIT-ML folders hold (T, 21, 3) in mm
    DIR/texts/<id>.txt             lines "caption#tokens#start#end" (start/end 0 = whole clip)
    DIR/train.txt val.txt test.txt one id per line
    DIR/labels.json                optional {id: {"content", "style", "side", "group", ...}}
    DIR/grounding.json             optional {id: [per caption: [{span, text, parts, frames}]]}

A caption with non-zero start/end (seconds) describes only that part of the motion: the reader
makes it a clip of its own, `<id>#<start>-<end>`, cut at int(start*20):int(end*20) as HumanML3D
does. Entries that cannot be read are skipped and counted, never fatal.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import MotionFormatError
from .formats import load_motion
from .formats.canonical import canonicalize
from .skeleton import BODY_PARTS, FPS, NUM_JOINTS

SPLITS = ("train", "val", "test")
KIT_JOINTS = 21
KIT_FPS = 12.5
_BAD_ID = re.compile(r"[/\\\s]")


@dataclass
class Clip:
    """One motion and the captions that describe it (grounding: per caption, a list of phrases)."""

    id: str
    joints: np.ndarray
    captions: list[str]
    labels: dict = field(default_factory=dict)
    grounding: list = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        return int(self.joints.shape[0])

    @property
    def seconds(self) -> float:
        return self.n_frames / FPS


@dataclass
class Dataset:
    """Clips read from one folder; `skipped` counts entries that could not be read."""

    root: Path
    clips: list[Clip]
    skipped: int = 0
    skip_reasons: list[tuple[str, str]] = field(default_factory=list)  # (id, why)
    split: str | None = None

    def __len__(self) -> int:
        return len(self.clips)

    def __iter__(self) -> Iterator[Clip]:
        return iter(self.clips)

    def __getitem__(self, i: int) -> Clip:
        return self.clips[i]

    def by_id(self) -> dict[str, Clip]:
        return {c.id: c for c in self.clips}


# ---------------------------------------------------------------------------------------------
# writing


def _check_clip(clip: Clip) -> None:
    if not clip.id or _BAD_ID.search(clip.id) or clip.id.startswith("."):
        raise MotionFormatError(f"clip id {clip.id!r} cannot be a file name "
                                "(no slashes, spaces or leading dot)")
    j = np.asarray(clip.joints)
    if j.ndim != 3 or j.shape[1:] != (NUM_JOINTS, 3) or j.shape[0] < 1:
        raise MotionFormatError(f"clip {clip.id}: joints must be (T, {NUM_JOINTS}, 3), "
                                f"got {j.shape}")
    if not np.isfinite(j).all():
        raise MotionFormatError(f"clip {clip.id}: joints contain NaN or inf")
    if not clip.captions:
        raise MotionFormatError(f"clip {clip.id}: has no captions")
    for c in clip.captions:
        if not c.strip() or "#" in c or "\n" in c or "\r" in c:
            raise MotionFormatError(f"clip {clip.id}: caption {c!r} is empty or holds '#' or "
                                    "a line break, which the texts/ format cannot store")
    if clip.grounding:
        check_grounding(clip)


def check_grounding(clip: Clip) -> None:
    """Raise MotionFormatError unless clip.grounding matches its captions and frame count."""
    if len(clip.grounding) != len(clip.captions):
        raise MotionFormatError(f"clip {clip.id}: {len(clip.grounding)} grounding entries for "
                                f"{len(clip.captions)} captions")
    for caption, phrases in zip(clip.captions, clip.grounding):
        for p in phrases:
            c0, c1 = p["span"]
            if not 0 <= c0 < c1 <= len(caption) or caption[c0:c1] != p["text"]:
                raise MotionFormatError(f"clip {clip.id}: span {p['span']} of {caption!r} is "
                                        f"not {p['text']!r}")
            unknown = set(p["parts"]) - set(BODY_PARTS)
            if unknown:
                raise MotionFormatError(f"clip {clip.id}: unknown body parts {sorted(unknown)}")
            f0, f1 = p["frames"]
            if not 0 <= f0 < f1 <= clip.n_frames:
                raise MotionFormatError(f"clip {clip.id}: frames {p['frames']} outside "
                                        f"0..{clip.n_frames}")


def write_dataset(root: str | Path, clips: Iterable[Clip], splits: dict[str, list[str]]) -> Path:
    """Write clips in the layout above; splits maps split name -> clip ids (each id in one)."""
    root = Path(root)
    clips = list(clips)
    ids = [c.id for c in clips]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise MotionFormatError(f"duplicate clip ids: {dup}")
    known, seen = set(ids), {}
    for name, members in splits.items():
        if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
            raise MotionFormatError(f"split name {name!r} is not a plain word")
        for i in members:
            if i not in known:
                raise MotionFormatError(f"split {name} lists {i!r}, which is not a clip")
            if i in seen:
                raise MotionFormatError(f"clip {i!r} is in both {seen[i]} and {name}")
            seen[i] = name
    for c in clips:
        _check_clip(c)

    (root / "new_joints").mkdir(parents=True, exist_ok=True)
    (root / "texts").mkdir(exist_ok=True)
    for c in clips:
        np.save(root / "new_joints" / f"{c.id}.npy", np.asarray(c.joints, dtype=np.float32))
        lines = "".join(f"{t.strip()}##0.0#0.0\n" for t in c.captions)
        (root / "texts" / f"{c.id}.txt").write_text(lines, encoding="utf-8")
    for name, members in splits.items():
        (root / f"{name}.txt").write_text("".join(f"{i}\n" for i in members), encoding="utf-8")

    labels = {c.id: c.labels for c in clips if c.labels}
    grounding = {c.id: c.grounding for c in clips if c.grounding}
    for fname, table in (("labels.json", labels), ("grounding.json", grounding)):
        path = root / fname
        if table:
            path.write_text(json.dumps(table, indent=1, sort_keys=True), encoding="utf-8")
        elif path.exists():  # a stale sidecar from an earlier write would mislabel these clips
            path.unlink()
    return root


# ---------------------------------------------------------------------------------------------
# reading


@dataclass
class TextLine:
    caption: str
    start: float  # seconds; 0 with end 0 = whole clip
    end: float
    index: int  # line number among the file's captions (grounding.json is in this order)


def parse_texts(text: str) -> tuple[list[TextLine], list[str]]:
    """Caption lines of a texts/<id>.txt file, and a note for each line that was dropped."""
    out, problems = [], []
    for n, raw in enumerate(text.splitlines()):
        line = raw.strip()
        if not line:
            continue
        fields = line.split("#")
        caption = fields[0].strip()
        if not caption:
            problems.append(f"line {n + 1}: empty caption")
            continue
        start = end = 0.0
        if len(fields) >= 4:
            try:
                start, end = float(fields[2] or 0), float(fields[3] or 0)
            except ValueError:
                problems.append(f"line {n + 1}: start/end {fields[2]!r}/{fields[3]!r} "
                                "are not numbers")
                continue
            # HumanML3D writes nan for "whole clip" in a few files
            start = 0.0 if math.isnan(start) else start
            end = 0.0 if math.isnan(end) else end
        out.append(TextLine(caption, start, end, len(out)))
    return out, problems


def _to_joints(arr: np.ndarray, fps: float | None) -> np.ndarray:
    """(T, 22, 3) metres at 20 fps from a stored array (SMPL order, or KIT order in mm)."""
    if arr.ndim != 3 or arr.shape[-1] != 3 or arr.shape[1] not in (NUM_JOINTS, KIT_JOINTS):
        raise MotionFormatError(f"expected (T, {NUM_JOINTS}, 3) or KIT (T, {KIT_JOINTS}, 3) "
                                f"joints, got {arr.shape}")
    if fps is None:
        fps = KIT_FPS if arr.shape[1] == KIT_JOINTS else FPS
    return np.asarray(load_motion(arr, fps=fps), dtype=np.float32)


def _cut(joints: np.ndarray, start: float, end: float) -> np.ndarray:
    return joints[int(start * FPS):int(end * FPS)]


def _segment_grounding(phrases_per_caption: list, f0: int, n: int) -> list:
    out = []
    for phrases in phrases_per_caption:
        kept = []
        for p in phrases:
            a, b = max(p["frames"][0] - f0, 0), min(p["frames"][1] - f0, n)
            if a < b:
                kept.append({**p, "frames": [a, b]})
        out.append(kept)
    return out


def _read_json(path: Path, problems: list[tuple[str, str]]) -> dict:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        problems.append((path.name, f"unreadable, ignored: {exc}"))
        return {}
    if not isinstance(data, dict):
        problems.append((path.name, "not a JSON object, ignored"))
        return {}
    return data


def split_ids(root: str | Path, split: str | None = None) -> list[str]:
    """Ids of one split, or of all splits (train, val, test, then others), or of every motion
    file when the folder has no split files."""
    root = Path(root)
    if split is not None:
        path = root / f"{split}.txt"
        if not path.exists():
            have = sorted(p.stem for p in root.glob("*.txt"))
            raise FileNotFoundError(f"{root} has no {split}.txt (split files there: {have})")
        names = [split]
    else:
        names = [s for s in SPLITS if (root / f"{s}.txt").exists()]
    ids: list[str] = []
    seen: set[str] = set()
    for name in names:
        for line in (root / f"{name}.txt").read_text(encoding="utf-8").splitlines():
            i = line.strip()
            if i and i not in seen:
                seen.add(i)
                ids.append(i)
    if not names:
        ids = sorted(p.stem for p in (root / "new_joints").glob("*.npy"))
    return ids


def read_dataset(root: str | Path, split: str | None = None, progress: bool = False, *,
                 fps: float | None = None, min_frames: int = 1) -> Dataset:
    """Read a folder in the layout above (ours, HumanML3D or KIT-ML).

    split: "train", "val", "test" (or any <name>.txt), None for all. fps: the stored frame rate
    (default 20, or 12.5 for 21-joint KIT arrays). Clips shorter than min_frames are skipped.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no data folder at {root}")
    if not (root / "new_joints").is_dir():
        raise MotionFormatError(f"{root} is not a data set folder: it has no new_joints/ "
                                "(run `python -m motion_retrieval prepare` to make one)")
    ids = split_ids(root, split)
    reasons: list[tuple[str, str]] = []
    labels = _read_json(root / "labels.json", reasons)
    grounding = _read_json(root / "grounding.json", reasons)
    reasons.clear()  # sidecar problems are not skipped clips; keep them out of the count
    clips: list[Clip] = []

    def skip(cid: str, why: str) -> None:
        reasons.append((cid, why))

    it: Iterable[str] = ids
    if progress:
        from tqdm import tqdm
        it = tqdm(ids, desc=f"reading {root.name}", unit="clip")
    for cid in it:
        motion_path, text_path = root / "new_joints" / f"{cid}.npy", root / "texts" / f"{cid}.txt"
        if not motion_path.exists():
            skip(cid, "no new_joints file")
            continue
        if not text_path.exists():
            skip(cid, "no texts file")
            continue
        try:
            lines, _ = parse_texts(text_path.read_text(encoding="utf-8", errors="replace"))
            joints = _to_joints(np.load(motion_path, allow_pickle=False), fps)
        except (OSError, ValueError) as exc:  # MotionFormatError is a ValueError
            skip(cid, f"{type(exc).__name__}: {exc}")
            continue
        if not lines:
            skip(cid, "no readable captions")
            continue
        lab = labels.get(cid) or {}
        ground = grounding.get(cid) or []
        if ground and len(ground) != len(lines):
            ground = []  # out of step with the texts: better none than wrong

        whole = [ln for ln in lines if ln.start == 0 and ln.end == 0]
        if whole:
            if len(joints) < min_frames:
                skip(cid, f"{len(joints)} frames, fewer than {min_frames}")
            else:
                clips.append(Clip(cid, joints, [ln.caption for ln in whole], dict(lab),
                                  [ground[ln.index] for ln in whole] if ground else []))
        segments: dict[tuple[float, float], list[TextLine]] = {}
        for ln in lines:
            if not (ln.start == 0 and ln.end == 0):
                segments.setdefault((ln.start, ln.end), []).append(ln)
        for (start, end), group in segments.items():
            sid = f"{cid}#{start:g}-{end:g}"
            part = _cut(joints, start, end)
            if len(part) < max(min_frames, 1) or end <= start:
                skip(sid, f"segment {start:g}-{end:g} s holds {len(part)} frames")
                continue
            g = ([ground[ln.index] for ln in group] if ground else [])
            # canonical again: a segment starts wherever the person happened to be, and the
            # global band must mean the same for every clip
            clips.append(Clip(sid, canonicalize(part), [ln.caption for ln in group],
                              {**lab, "parent": cid},
                              _segment_grounding(g, int(start * FPS), len(part))))
    return Dataset(root, clips, len(reasons), reasons, split)
