"""`prepare`: write a data set in the HumanML3D layout, check a user's folder, or print stats.

    python -m motion_retrieval prepare bandai:PATH --out DIR      Bandai-Namco BVH corpus
    python -m motion_retrieval prepare bvh:PATH --out DIR [--captions CSV]
    python -m motion_retrieval prepare synthetic:N --out DIR [--seed S]
    python -m motion_retrieval prepare humanml3d:PATH | kitml:PATH [--out DIR]
    python -m motion_retrieval prepare --stats DIR

A re-run whose inputs (file names, sizes, mtimes), options and code are unchanged returns at
once: the key of the last run is kept in DIR/.prepare.json.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from .captions import check_sides, generate_captions, side_of
from .dataset import KIT_FPS, KIT_JOINTS, SPLITS, Clip, parse_texts, read_dataset, write_dataset
from .errors import MotionFormatError
from .skeleton import FPS, NUM_JOINTS

CACHE_FILE = ".prepare.json"
KINDS = ("bandai", "bvh", "synthetic", "humanml3d", "kitml")
_BANDAI_NAME = re.compile(r"^(dataset-\d+)_([A-Za-z0-9-]+)_([A-Za-z0-9-]+)_(\d+)$")
_PKG = Path(__file__).resolve().parent


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", nargs="?", metavar="SOURCE",
                        help="bandai:PATH, bvh:PATH, synthetic:N, humanml3d:PATH or kitml:PATH")
    parser.add_argument("--out", type=Path, metavar="DIR", help="folder to write")
    parser.add_argument("--seed", type=int, default=0, help="seed for synthetic:N (default 0)")
    parser.add_argument("--captions", type=Path, metavar="CSV",
                        help="for bvh:PATH, a CSV of file,caption rows (else the file name)")
    parser.add_argument("--stats", nargs="?", const="", metavar="DIR",
                        help="print clips, captions, frames and labels per split of DIR "
                             "(or of --out after preparing)")
    parser.add_argument("--limit", type=int, metavar="N", help="only the first N source files")
    parser.add_argument("--force", action="store_true", help="ignore the cache and redo")


def run(args: argparse.Namespace) -> int:
    if args.source is None:
        if not args.stats:
            raise MotionFormatError("give a SOURCE (bandai:PATH, bvh:PATH, synthetic:N, "
                                    "humanml3d:PATH, kitml:PATH) or --stats DIR")
        print_stats(Path(args.stats))
        return 0
    kind, sep, arg = args.source.partition(":")
    if not sep or kind not in KINDS or not arg:
        raise MotionFormatError(f"SOURCE must look like KIND:ARG with KIND one of "
                                f"{', '.join(KINDS)}; got {args.source!r}")
    if kind in ("humanml3d", "kitml"):
        rc = check_folder(Path(arg), kind, out=args.out)
    else:
        if args.out is None:
            raise MotionFormatError(f"{kind}: needs --out DIR, the folder to write")
        t0 = time.perf_counter()
        done = {"bandai": prepare_bandai, "bvh": prepare_bvh, "synthetic": prepare_synthetic}
        n, cached = done[kind](arg, args)
        what = "up to date (cached)" if cached else f"wrote {n} clips"
        print(f"{args.out}: {what} in {time.perf_counter() - t0:.1f} s")
        rc = 0
    if args.stats is not None and (args.stats or args.out):
        print_stats(Path(args.stats or args.out))
    return rc


# ---------------------------------------------------------------------------------------------
# cache


def _code_hash(*packages: str) -> str:
    files = [_PKG / "dataset.py", _PKG / "prepare.py", _PKG / "captions.py", _PKG / "skeleton.py"]
    for pkg in ("formats", *packages):
        files += sorted((_PKG / pkg).glob("*.py")) if (_PKG / pkg).is_dir() else []
    h = hashlib.sha256()
    for f in files:
        if f.exists():
            h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


def _files_signature(files: Iterable[Path]) -> list[tuple[str, int, int]]:
    return [(str(f), (s := f.stat()).st_size, s.st_mtime_ns) for f in files]


def _cache_key(**parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _cached(out: Path, key: str, force: bool) -> bool:
    path = out / CACHE_FILE
    if force or not path.exists():
        return False
    try:
        meta = json.loads(path.read_text())
    except ValueError:
        return False
    # the key alone is not enough: someone may have deleted files since
    return meta.get("key") == key and all(
        (out / "new_joints" / f"{i}.npy").exists() for i in meta.get("ids", []))


def _write(out: Path, clips: list[Clip], splits: dict[str, list[str]], key: str,
           skipped: list[tuple[str, str]]) -> None:
    old = out / CACHE_FILE
    if old.exists():  # drop files of clips an earlier run wrote and this one does not
        try:
            stale = set(json.loads(old.read_text()).get("ids", [])) - {c.id for c in clips}
        except ValueError:
            stale = set()
        for i in stale:
            (out / "new_joints" / f"{i}.npy").unlink(missing_ok=True)
            (out / "texts" / f"{i}.txt").unlink(missing_ok=True)
        old.unlink()
    write_dataset(out, clips, splits)
    meta = {"key": key, "ids": [c.id for c in clips], "skipped": skipped}
    (out / CACHE_FILE).write_text(json.dumps(meta, indent=1))


def _report_skipped(skipped: list[tuple[str, str]]) -> None:
    if not skipped:
        return
    print(f"skipped {len(skipped)} entries:")
    for name, why in skipped[:10]:
        print(f"  {name}: {why}")
    if len(skipped) > 10:
        print(f"  ... and {len(skipped) - 10} more (listed in {CACHE_FILE})")


def _progress(items: list, desc: str) -> Iterable:
    from tqdm import tqdm
    return tqdm(items, desc=desc, unit="file", dynamic_ncols=True, mininterval=1.0)


# ---------------------------------------------------------------------------------------------
# bandai:PATH


def bandai_split(dataset: str, content: str, style: str, take: int) -> str:
    """The split of one Bandai clip; see docs/data.md.

    dataset-2 has takes 001-012 of every (content, style): takes 1-9 train, 10 val, 11-12 test.
    Elsewhere (dataset-1: mostly one take) a stable hash of (content, style) sends a tenth of
    the pairs to val and a tenth to test, all takes together.
    """
    if dataset == "dataset-2":
        return "train" if take <= 9 else "val" if take == 10 else "test"
    bucket = int(hashlib.sha256(f"{content}|{style}".encode()).hexdigest(), 16) % 10
    return "val" if bucket == 0 else "test" if bucket == 1 else "train"


def parse_bandai_name(path: Path) -> tuple[str, str, str, int]:
    """(dataset, content, style, take) from `dataset-N_{content}_{style}_{take}.bvh[.gz]`."""
    stem = path.name.removesuffix(".gz").removesuffix(".bvh")
    m = _BANDAI_NAME.match(stem)
    if not m:
        raise MotionFormatError(f"{path.name} is not named dataset-N_CONTENT_STYLE_TAKE.bvh.gz")
    return m.group(1), m.group(2), m.group(3), int(m.group(4))


def _bvh_files(root: Path) -> list[Path]:
    if not root.exists():
        raise FileNotFoundError(f"no folder at {root}")
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith((".bvh",
                                                                                 ".bvh.gz")))


def bandai_clip(path: Path, joints: np.ndarray) -> Clip:
    """A Clip with generated captions, labels and grounding for one Bandai file."""
    dataset, content, style, take = parse_bandai_name(path)
    cid = path.name.removesuffix(".gz").removesuffix(".bvh")
    side = side_of(content)
    caps = generate_captions(content, style, key=cid)
    for c in caps:  # cheap, and a wrong side would poison the fine-grained evaluation
        if not check_sides(c.text, side):
            raise MotionFormatError(f"caption {c.text!r} disagrees with side {side}")
    labels = {"content": content, "style": style, "side": side, "take": take,
              "dataset": dataset, "group": bandai_group(dataset, content, style, take)}
    return Clip(cid, joints, [c.text for c in caps], labels,
                [c.grounding(len(joints)) for c in caps])


def bandai_group(dataset: str, content: str, style: str, take: int) -> str:
    """The hard-negative group (labels.json "group", see motion_retrieval.sampler).

    Contents with a side go with their mirror and both-hands twins of the same style and take
    (wave-left-hand / wave-right-hand / wave-both-hands): clips that differ only in the side.
    Other contents go with the same content and take in the other styles.
    """
    family = re.sub(r"-(left|right|both)(?=-|$)", "", content)
    family = re.sub(r"-hands?$", "", family)
    if family != content:
        return f"{dataset}/{family}/{style}/{take:03d}"
    return f"{dataset}/{content}/{take:03d}"


def _load_motion(path: Path) -> np.ndarray:
    from .formats import load_motion
    return load_motion(path)


def _convert(files: list[Path], desc: str, make: Callable[[Path], Clip],
             skipped: list[tuple[str, str]]) -> list[Clip]:
    clips = []
    for f in _progress(files, desc):
        try:
            clips.append(make(f))
        except (MotionFormatError, OSError, ValueError, EOFError) as exc:
            skipped.append((f.name, f"{type(exc).__name__}: {exc}"))
    return clips


def prepare_bandai(arg: str, args: argparse.Namespace) -> tuple[int, bool]:
    root = Path(arg)
    files = _bvh_files(root)
    if not any(f.name.startswith("dataset-") for f in files):
        raise MotionFormatError(f"{root} holds no dataset-N_*.bvh.gz files "
                                "(expected the Bandai-Namco-Research-Motiondataset folders)")
    files = files[:args.limit] if args.limit else files
    key = _cache_key(kind="bandai", files=_files_signature(files), code=_code_hash())
    if _cached(args.out, key, args.force):
        return 0, True
    skipped: list[tuple[str, str]] = []
    names = []
    for f in files:  # check every name before the slow part
        try:
            parse_bandai_name(f)
            names.append(f)
        except MotionFormatError as exc:
            skipped.append((f.name, str(exc)))
    clips = _convert(names, "bandai", lambda f: bandai_clip(f, _load_motion(f)), skipped)
    splits: dict[str, list[str]] = {s: [] for s in SPLITS}
    for c in clips:
        lab = c.labels
        splits[bandai_split(lab["dataset"], lab["content"], lab["style"], lab["take"])].append(
            c.id)
    _write(args.out, clips, splits, key, skipped)
    _report_skipped(skipped)
    return len(clips), False


# ---------------------------------------------------------------------------------------------
# bvh:PATH


def clean_caption(text: str) -> str:
    """One line with no '#', which the texts/ format reserves."""
    return " ".join(text.replace("#", " ").split())


def caption_from_name(path: Path) -> str:
    """"walk_happy_002.bvh" -> "walk happy": words of the file name, numbers dropped."""
    stem = path.name.removesuffix(".gz").removesuffix(".bvh")
    words = [w for w in re.split(r"[\s_.\-]+", stem) if w and not re.search(r"\d", w)]
    return " ".join(words).lower()


def read_caption_csv(path: Path) -> dict[str, list[str]]:
    """{file: [captions]} from rows `file,caption` (a header row is allowed)."""
    if not path.exists():
        raise FileNotFoundError(f"no captions CSV at {path}")
    table: dict[str, list[str]] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for n, row in enumerate(csv.reader(fh)):
            if n == 0 and [c.strip().lower() for c in row[:2]] == ["file", "caption"]:
                continue
            if len(row) < 2 or not row[0].strip():
                continue
            caption = clean_caption(",".join(row[1:]))  # an unquoted comma stays in the caption
            if caption:
                table.setdefault(row[0].strip(), []).append(caption)
    return table


def _stable_split(cid: str) -> str:
    bucket = int(hashlib.sha256(cid.encode()).hexdigest(), 16) % 10
    return "val" if bucket == 0 else "test" if bucket == 1 else "train"


def _bvh_id(root: Path, f: Path) -> str:
    rel = f.relative_to(root) if root.is_dir() else Path(f.name)
    stem = str(rel).removesuffix(".gz").removesuffix(".bvh")
    return re.sub(r"[/\\\s]+", "__", stem).lstrip(".")


def prepare_bvh(arg: str, args: argparse.Namespace) -> tuple[int, bool]:
    root = Path(arg)
    files = _bvh_files(root)
    if not files:
        raise MotionFormatError(f"{root} holds no .bvh or .bvh.gz files")
    files = files[:args.limit] if args.limit else files
    table = read_caption_csv(args.captions) if args.captions else None
    key = _cache_key(kind="bvh", files=_files_signature(files), code=_code_hash(),
                     captions=_files_signature([args.captions]) if args.captions else None)
    if _cached(args.out, key, args.force):
        return 0, True
    skipped: list[tuple[str, str]] = []

    def make(f: Path) -> Clip:
        cid = _bvh_id(root, f)
        rel = str(f.relative_to(root)) if root.is_dir() else f.name
        if table is not None:
            caps = table.get(rel) or table.get(f.name) or table.get(cid) or []
            if not caps:
                raise MotionFormatError(f"no caption for it in {args.captions.name}")
        else:
            caps = [caption_from_name(f)] if caption_from_name(f) else []
            if not caps:
                raise MotionFormatError("its file name has no words to make a caption from")
        return Clip(cid, _load_motion(f), caps, {"file": rel})

    clips = _convert(files, "bvh", make, skipped)
    seen: set[str] = set()
    unique = []
    for c in clips:  # "a.bvh" and "a.bvh.gz" would share an id
        if c.id in seen:
            skipped.append((c.id, "another file has the same name"))
        else:
            seen.add(c.id)
            unique.append(c)
    splits: dict[str, list[str]] = {s: [] for s in SPLITS}
    for c in unique:
        splits[_stable_split(c.id)].append(c.id)
    _write(args.out, unique, splits, key, skipped)
    _report_skipped(skipped)
    return len(unique), False


# ---------------------------------------------------------------------------------------------
# synthetic:N


def prepare_synthetic(arg: str, args: argparse.Namespace) -> tuple[int, bool]:
    try:
        n = int(arg)
    except ValueError:
        raise MotionFormatError(f"synthetic:N needs a number of clips, got {arg!r}") from None
    if n < 1:
        raise MotionFormatError(f"synthetic:N needs N >= 1, got {n}")
    key = _cache_key(kind="synthetic", n=n, seed=args.seed, code=_code_hash("synthetic"))
    if _cached(args.out, key, args.force):
        return 0, True
    from .synthetic import generate_corpus
    clips, splits = generate_corpus(n, args.seed)
    _write(args.out, list(clips), {k: list(v) for k, v in splits.items()}, key, [])
    return len(clips), False


# ---------------------------------------------------------------------------------------------
# humanml3d:PATH, kitml:PATH


def _examples(items: Iterable[str], k: int = 3) -> str:
    items = sorted(items)
    more = f", ... ({len(items)} in all)" if len(items) > k else ""
    return ", ".join(items[:k]) + more


def check_folder(root: Path, kind: str, out: Path | None = None) -> int:
    """Print what a HumanML3D or KIT-ML folder holds and what is wrong; 0 if it is usable."""
    if not root.is_dir():
        raise FileNotFoundError(f"no folder at {root}")
    want_joints = NUM_JOINTS if kind == "humanml3d" else KIT_JOINTS
    problems: list[str] = []
    print(f"{kind} folder {root}")

    motions = {p.stem: p for p in (root / "new_joints").glob("*.npy")}
    if not motions:
        problems.append("new_joints/ is missing or holds no .npy files")
    shapes: Counter = Counter()
    frames, bad = [], []
    for cid, p in motions.items():
        try:
            a = np.load(p, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            bad.append(f"{cid} ({exc})")
            continue
        shapes[(a.shape[1:] if a.ndim == 3 else a.shape, str(a.dtype))] += 1
        if a.ndim == 3 and a.shape[1:] == (want_joints, 3):
            frames.append(a.shape[0])
        else:
            bad.append(f"{cid} {a.shape}")
    print(f"  new_joints: {len(motions)} motions")
    for (shape, dtype), k in shapes.most_common():
        print(f"    {k} x (T, {', '.join(map(str, shape))}) {dtype}")
    if frames:
        fps = FPS if kind == "humanml3d" else KIT_FPS
        f = np.array(frames)
        print(f"    frames min/median/max {f.min()}/{int(np.median(f))}/{f.max()} at {fps:g} fps"
              f" = {f.sum() / fps / 3600:.1f} h")
    if bad:
        problems.append(f"{len(bad)} motions unreadable or not (T, {want_joints}, 3): "
                        f"{_examples(bad)}")
    vecs = list((root / "new_joint_vecs").glob("*.npy"))
    if vecs:
        print(f"  new_joint_vecs: {len(vecs)} feature files (not needed: joints are read)")

    texts = {p.stem: p for p in (root / "texts").glob("*.txt")}
    n_caps = n_seg = 0
    malformed = []
    for cid, p in texts.items():
        lines, notes = parse_texts(p.read_text(encoding="utf-8", errors="replace"))
        n_caps += len(lines)
        n_seg += sum(1 for ln in lines if ln.start or ln.end)
        if notes or not lines:
            malformed.append(cid)
    print(f"  texts: {len(texts)} files, {n_caps} captions ({n_seg} on a segment)")
    if not texts:
        problems.append("texts/ is missing or empty: every motion needs captions")
    if missing := set(motions) - set(texts):
        problems.append(f"{len(missing)} motions without texts: {_examples(missing)}")
    if orphans := set(texts) - set(motions):
        problems.append(f"{len(orphans)} texts without motions: {_examples(orphans)}")
    if malformed:
        problems.append(f"{len(malformed)} texts files with bad or no caption lines: "
                        f"{_examples(malformed)}")

    members = {}
    for s in SPLITS:
        path = root / f"{s}.txt"
        if not path.exists():
            problems.append(f"no {s}.txt split file")
            continue
        ids = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
        members[s] = set(ids)
        absent = members[s] - set(motions)
        print(f"  {s}.txt: {len(ids)} ids" + (f", {len(absent)} without a motion" if absent
                                              else ""))
        if absent:
            problems.append(f"{s}.txt lists {len(absent)} ids with no motion: {_examples(absent)}")
    names = list(members)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if both := members[a] & members[b]:
                problems.append(f"{len(both)} ids in both {a} and {b}: {_examples(both)}")
    for extra in ("Mean.npy", "Std.npy", "labels.json", "grounding.json"):
        if (root / extra).exists():
            print(f"  {extra}: present")

    if problems:
        print("problems:")
        for p in problems:
            print(f"  - {p}")
    else:
        print("no problems found")
    usable = bool(frames) and bool(texts)
    if out is not None and usable:
        ds = read_dataset(root, progress=True)
        known = {c.id for c in ds.clips}
        splits = {s: [c for c in sorted(known) if c.split("#")[0] in members.get(s, set())]
                  for s in SPLITS}
        write_dataset(out, ds.clips, splits)
        print(f"wrote {len(ds.clips)} clips (segments as clips of their own, 22 joints, 20 fps)"
              f" to {out}; skipped {ds.skipped}")
    elif usable:
        print(f"usable as is: pass --data {root} to train, evaluate or the demo")
    return 0 if usable else 1


# ---------------------------------------------------------------------------------------------
# --stats DIR


def dataset_stats(root: Path) -> dict[str, dict]:
    """Per split: clips, captions, frames, seconds, skipped, and counts of each label value."""
    present = [s for s in SPLITS if (root / f"{s}.txt").exists()] or [None]
    out = {}
    for s in present:
        ds = read_dataset(root, s)
        labels = {k: Counter(str(c.labels.get(k)) for c in ds.clips if k in c.labels)
                  for k in ("content", "style", "side")}
        frames = sum(c.n_frames for c in ds.clips)
        out[s or "all"] = {"clips": len(ds.clips), "captions": sum(len(c.captions) for c in ds),
                           "frames": frames, "seconds": frames / FPS, "skipped": ds.skipped,
                           "labels": {k: dict(v) for k, v in labels.items() if v}}
    return out


def print_stats(root: Path) -> None:
    stats = dataset_stats(root)
    print(f"{root}")
    print(f"  {'split':<6} {'clips':>7} {'captions':>9} {'frames':>9} {'duration':>10} "
          f"{'skipped':>8}")
    for s, st in stats.items():
        dur = time.strftime("%H:%M:%S", time.gmtime(st["seconds"]))
        print(f"  {s:<6} {st['clips']:>7} {st['captions']:>9} {st['frames']:>9} {dur:>10} "
              f"{st['skipped']:>8}")
    for key in ("content", "style", "side"):
        values: Counter = Counter()
        for st in stats.values():
            values.update(st["labels"].get(key, {}))
        if values:
            top = sorted(values.items()) if len(values) <= 30 else values.most_common(10)
            more = "" if len(values) <= 30 else f", ... (top 10 of {len(values)})"
            shown = ", ".join(f"{v} {n}" for v, n in top)
            print(f"  {key}: {len(values)} distinct: {shown}{more}")
