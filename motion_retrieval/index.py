"""The gallery index the demo searches: one safetensors file, no pickle.

What it holds (clip order everywhere):
- `patch_emb` (S, D) fp16: the L2-normalised patch embeddings of every clip's *valid* patches,
  concatenated (padding patches are dropped, which is what keeps the file small and the search
  fast); `patch_mask` (N, P) bool says which of the P patches each clip kept.
- `pooled` (N, D) fp16: the normalised mean of each clip's valid patches (motion-to-motion).
- `caption_emb` (C_tok, D) fp16 + `caption_offsets` (C+1,): the token embeddings of every distinct
  gallery caption (motion-to-text); `caption_owner` (C,) the clip each caption describes.
- `joints` (F, 22, 3) fp16 + `joint_offsets` (N+1,): the joint positions to animate each clip,
  relative to the pelvis's ground position `root_xz` (F, 2) float32 (fp16 alone would lose
  millimetres a few metres from the origin).
- `n_frames` (N,): clip lengths at 20 fps.
- `whole` (N, D) and `caption_whole` (C, D) fp16: the whole-clip / whole-caption vectors of a
  hybrid model (`ModelConfig.whole_clip_weight` > 0); zero rows for any other model.
- JSON in the header: ids, captions per clip, labels, and `meta` (checkpoint fingerprint, ...).

`python -m motion_retrieval index build --checkpoint CKPT --data DIR --out FILE` writes one;
`index info FILE` describes one.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

INDEX_VERSION = 1


@dataclass
class GalleryIndex:
    ids: list[str]
    captions: list[list[str]]            # every caption of each clip
    labels: list[dict | None]
    patch_emb: np.ndarray                # (S, D) fp16, valid patches only, clip after clip
    patch_mask: np.ndarray               # (N, P) bool
    pooled: np.ndarray                   # (N, D) fp16
    caption_texts: list[str]             # distinct captions
    caption_emb: np.ndarray              # (C_tok, D) fp16
    caption_offsets: np.ndarray          # (C+1,) int64 into caption_emb
    caption_owner: np.ndarray            # (C,) int64 clip index
    joints: np.ndarray                   # (F, 22, 3) fp16, pelvis x/z subtracted
    joint_offsets: np.ndarray            # (N+1,) int64 into joints
    n_frames: np.ndarray                 # (N,) int64
    meta: dict = field(default_factory=dict)
    root_xz: np.ndarray | None = None    # (F, 2) float32 pelvis ground position
    whole: np.ndarray | None = None      # (N, D) fp16 whole-clip vectors (hybrid models), or 0 rows
    caption_whole: np.ndarray | None = None  # (C, D) fp16 whole-caption vectors, or 0 rows

    def __post_init__(self) -> None:
        if self.root_xz is None:
            self.root_xz = np.zeros((len(self.joints), 2), np.float32)
        dim = self.pooled.shape[1]
        if self.whole is None:
            self.whole = np.zeros((0, dim), np.float16)
        if self.caption_whole is None:
            self.caption_whole = np.zeros((0, dim), np.float16)
        self._check()

    def _check(self) -> None:
        n = len(self.ids)
        checks = [
            (len(self.captions) == n, "captions"), (len(self.labels) == n, "labels"),
            (self.patch_mask.shape[0] == n, "patch_mask"), (self.pooled.shape[0] == n, "pooled"),
            (self.patch_emb.shape[0] == int(self.patch_mask.sum()), "patch_emb rows"),
            (len(self.joint_offsets) == n + 1, "joint_offsets"),
            (len(self.n_frames) == n, "n_frames"),
            (len(self.root_xz) == len(self.joints), "root_xz"),
            (len(self.caption_offsets) == len(self.caption_texts) + 1, "caption_offsets"),
            (len(self.caption_owner) == len(self.caption_texts), "caption_owner"),
            (len(self.whole) in (0, n), "whole"),
            (len(self.caption_whole) in (0, len(self.caption_texts)), "caption_whole"),
        ]
        bad = [name for ok, name in checks if not ok]
        if bad:
            raise ValueError(f"inconsistent gallery index ({n} clips): {', '.join(bad)} disagree")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.pooled.shape[1])

    @property
    def has_whole(self) -> bool:
        """Whether the index holds whole-clip vectors (built with a hybrid model)."""
        return len(self.whole) == len(self.ids) and len(self.ids) > 0

    @property
    def num_patches(self) -> int:
        return int(self.patch_mask.shape[1])

    def clip_joints(self, i: int) -> np.ndarray:
        """(T, 22, 3) float32 joints of clip i."""
        a, b = self.joint_offsets[i], self.joint_offsets[i + 1]
        out = self.joints[a:b].astype(np.float32)
        out[:, :, [0, 2]] += self.root_xz[a:b, None, :]
        return out

    def caption_tokens(self, c: int) -> np.ndarray:
        """(L, D) token embeddings of distinct caption c."""
        return self.caption_emb[self.caption_offsets[c]:self.caption_offsets[c + 1]]


# ---------------------------------------------------------------------------------------------
# Saving and loading


def save_index(index: GalleryIndex, path: str | Path) -> Path:
    from safetensors.numpy import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        "patch_emb": np.ascontiguousarray(index.patch_emb, dtype=np.float16),
        "patch_mask": np.ascontiguousarray(index.patch_mask, dtype=np.uint8),
        "pooled": np.ascontiguousarray(index.pooled, dtype=np.float16),
        "caption_emb": np.ascontiguousarray(index.caption_emb, dtype=np.float16),
        "caption_offsets": np.ascontiguousarray(index.caption_offsets, dtype=np.int64),
        "caption_owner": np.ascontiguousarray(index.caption_owner, dtype=np.int64),
        "joints": np.ascontiguousarray(index.joints, dtype=np.float16),
        "joint_offsets": np.ascontiguousarray(index.joint_offsets, dtype=np.int64),
        "root_xz": np.ascontiguousarray(index.root_xz, dtype=np.float32),
        "n_frames": np.ascontiguousarray(index.n_frames, dtype=np.int64),
        "whole": np.ascontiguousarray(index.whole, dtype=np.float16),
        "caption_whole": np.ascontiguousarray(index.caption_whole, dtype=np.float16),
    }
    header = {
        "format": "motion-retrieval-gallery",
        "version": str(INDEX_VERSION),
        "ids": json.dumps(index.ids),
        "captions": json.dumps(index.captions),
        "labels": json.dumps(index.labels),
        "caption_texts": json.dumps(index.caption_texts),
        "meta": json.dumps(index.meta),
    }
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=header)
    tmp.replace(path)  # a half-written index never shadows a good one
    return path


def load_index(path: str | Path) -> GalleryIndex:
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no gallery index at {path}")
    try:
        with safe_open(str(path), framework="np") as f:
            header = f.metadata() or {}
            if header.get("format") != "motion-retrieval-gallery":
                raise ValueError(f"{path} is not a gallery index (build one with "
                                 "`python -m motion_retrieval index build`)")
            if int(header.get("version", 0)) != INDEX_VERSION:
                raise ValueError(f"{path} is a version {header.get('version')} gallery index; "
                                 f"this code reads version {INDEX_VERSION}: rebuild it")
            t = {k: f.get_tensor(k) for k in f.keys()}
    except SafetensorError as exc:
        raise ValueError(f"{path} is not a readable safetensors file: {exc}") from exc
    return GalleryIndex(
        ids=json.loads(header["ids"]),
        captions=json.loads(header["captions"]),
        labels=json.loads(header["labels"]),
        patch_emb=t["patch_emb"],
        patch_mask=t["patch_mask"].astype(bool),
        pooled=t["pooled"],
        caption_texts=json.loads(header["caption_texts"]),
        caption_emb=t["caption_emb"],
        caption_offsets=t["caption_offsets"],
        caption_owner=t["caption_owner"],
        joints=t["joints"],
        joint_offsets=t["joint_offsets"],
        n_frames=t["n_frames"],
        meta=json.loads(header["meta"]),
        root_xz=t["root_xz"],
        whole=t.get("whole"),  # absent from indexes written before hybrid models
        caption_whole=t.get("caption_whole"),
    )


# ---------------------------------------------------------------------------------------------
# Building


def checkpoint_fingerprint(checkpoint_dir: str | Path) -> str:
    """A short hash of every file of a checkpoint folder (names and bytes)."""
    root = Path(checkpoint_dir)
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        h.update(p.relative_to(root).as_posix().encode())
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def _concat(parts: Sequence[np.ndarray], dim: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(p) for p in parts])
    if not parts:
        return np.zeros((0, *dim), dtype=dtype), offsets
    return np.concatenate(parts).astype(dtype), offsets


def encode_motions(model, stats, joints_list: Sequence[np.ndarray], batch_size: int = 32,
                   progress=None) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Encode clips: per clip the (n_valid, D) valid patch embeddings, the (N, P) masks and the
    (N, D) whole-clip vectors (0 rows unless the model is hybrid)."""
    import torch

    from .features import motion_to_input

    embs, masks, wholes = [], [], []
    for start in range(0, len(joints_list), batch_size):
        chunk = joints_list[start:start + batch_size]
        xs, bms = zip(*[motion_to_input(j, stats)[:2] for j in chunk])
        x = torch.as_tensor(np.stack(xs), dtype=torch.float32)
        bm = torch.as_tensor(np.stack(bms), dtype=torch.bool)
        with torch.inference_mode():
            emb, mask, whole = model.encode_motion_whole(x, bm)
        emb, mask = emb.float().numpy(), mask.numpy().astype(bool)
        embs.extend(e[m] for e, m in zip(emb, mask))
        masks.append(mask)
        if whole is not None:
            wholes.append(whole.float().numpy())
        if progress:
            progress(min(start + batch_size, len(joints_list)), len(joints_list), "motions")
    dim = int(model.cfg.embed_dim)
    return (embs, np.concatenate(masks) if masks else np.zeros((0, 0), bool),
            np.concatenate(wholes) if wholes else np.zeros((0, dim), np.float32))


def encode_captions(model, texts: Sequence[str], batch_size: int = 64,
                    progress=None, lock=None) -> tuple[list[np.ndarray], np.ndarray]:
    """Per caption, the (L_valid, D) token embeddings, and the (C, D) whole-caption vectors
    (0 rows unless the model is hybrid); progress(done, total, "captions").

    `lock` (held for each batch) lets this share the model's tokenizer with a live searcher:
    fast tokenizers refuse concurrent use from two threads.
    """
    import contextlib

    import torch

    from .model import is_hybrid

    out: list = [None] * len(texts)
    wholes = np.zeros((len(texts) if is_hybrid(model) else 0, int(model.cfg.embed_dim)),
                      np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding per batch
    for start in range(0, len(texts), batch_size):
        rows = order[start:start + batch_size]
        with lock or contextlib.nullcontext(), torch.inference_mode():
            emb, mask, _, whole = model.encode_text_whole([texts[i] for i in rows])
        emb, mask = emb.float().numpy(), mask.numpy().astype(bool)
        for i, e, m in zip(rows, emb, mask):
            out[i] = e[m]
        if whole is not None:
            wholes[rows] = whole.float().numpy()
        if progress:
            progress(min(start + batch_size, len(texts)), len(texts), "captions")
    return out, wholes


def distinct_captions(captions: Sequence[Sequence[str]]) -> tuple[list[str], np.ndarray]:
    """Every distinct non-empty caption (given per clip), and the clip each first appears in."""
    texts, owner, seen = [], [], set()
    for i, clip_captions in enumerate(captions):
        for text in clip_captions:
            if text and text not in seen:
                seen.add(text)
                texts.append(text)
                owner.append(i)
    return texts, np.asarray(owner, dtype=np.int64)


def add_captions(index: GalleryIndex, model, progress=None, lock=None) -> GalleryIndex:
    """Encode the distinct captions of `index` into it (in place) and return it.

    The caption fields are swapped in together at the end, so a reader never sees half of them.
    """
    texts, owner = distinct_captions(index.captions)
    cap_list, cap_whole = encode_captions(model, texts, progress=progress, lock=lock)
    caption_emb, caption_offsets = _concat(cap_list, (index.dim,), np.float16)
    index.caption_texts, index.caption_emb, index.caption_whole = (
        texts, caption_emb, cap_whole.astype(np.float16))
    index.caption_offsets, index.caption_owner = caption_offsets, owner
    index.meta.pop("captions_pending", None)
    index._check()
    return index


def build_index(model, stats, clips, meta: dict | None = None, batch_size: int = 32,
                progress=None, captions: bool = True) -> GalleryIndex:
    """Encode `clips` (objects with .id, .joints, .captions, .labels) into a GalleryIndex.

    captions=False leaves the caption embeddings (motion -> text search only) for a later
    `add_captions`, which lets the demo open before they are done; meta["captions_pending"]
    says so.
    """
    clips = list(clips)
    if not clips:
        raise ValueError("cannot build a gallery index from zero clips")
    model.eval()
    joints = [np.asarray(c.joints, dtype=np.float32) for c in clips]
    patch_list, patch_mask, whole = encode_motions(model, stats, joints, batch_size, progress)
    dim = patch_list[0].shape[1]
    pooled = np.stack([p.mean(0) for p in patch_list])
    pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-8)
    patch_emb, _ = _concat(patch_list, (dim,), np.float16)
    roots = [j[:, 0, [0, 2]] for j in joints]
    local = [j - np.insert(r, 1, 0.0, axis=1)[:, None, :] for j, r in zip(joints, roots)]
    joint_arr, joint_offsets = _concat(local, (22, 3), np.float16)
    info = {"built": time.strftime("%Y-%m-%d %H:%M:%S"), "num_clips": len(clips),
            "embed_dim": int(dim), "num_patches": int(patch_mask.shape[1])}
    index = GalleryIndex(
        ids=[str(c.id) for c in clips],
        captions=[list(c.captions) for c in clips],
        labels=[getattr(c, "labels", None) or None for c in clips],
        patch_emb=patch_emb, patch_mask=patch_mask, pooled=pooled.astype(np.float16),
        caption_texts=[], caption_emb=np.zeros((0, dim), np.float16),
        caption_offsets=np.zeros(1, np.int64), caption_owner=np.zeros(0, np.int64),
        joints=joint_arr, joint_offsets=joint_offsets,
        n_frames=np.asarray([len(j) for j in joints], dtype=np.int64),
        meta={**info, **(meta or {}), "captions_pending": True},
        root_xz=np.concatenate(roots).astype(np.float32),
        whole=whole.astype(np.float16),
    )
    return add_captions(index, model, progress) if captions else index


def build_index_from_checkpoint(checkpoint: str | Path, data: str | Path, split: str | None,
                                out: str | Path, limit: int | None = None,
                                progress=None) -> GalleryIndex:
    from .checkpoint import load_checkpoint
    from .dataset import read_dataset

    model, stats, _ = load_checkpoint(checkpoint)
    dataset = read_dataset(data, split=split)
    clips = list(dataset.clips)[:limit] if limit else list(dataset.clips)
    if not clips:
        raise ValueError(f"no clips in {data}" + (f" (split {split!r})" if split else ""))
    index = build_index(model, stats, clips, progress=progress, meta={
        "checkpoint": str(Path(checkpoint).resolve()),
        "fingerprint": checkpoint_fingerprint(checkpoint),
        "data": str(Path(data).resolve()), "split": split,
    })
    save_index(index, out)
    return index


def describe(index: GalleryIndex) -> str:
    valid = index.patch_mask.sum(1)
    lines = [
        f"clips        {len(index)}",
        f"embed dim    {index.dim}",
        f"patches      {index.num_patches} per clip, {valid.mean():.1f} valid on average",
        f"captions     {sum(len(c) for c in index.captions)} ({len(index.caption_texts)} distinct)",
        f"frames       {int(index.n_frames.sum())} "
        f"({index.n_frames.min()}-{index.n_frames.max()} per clip)",
        f"whole-clip   {'yes (serves a hybrid model)' if index.has_whole else 'no'}",
    ]
    lines += [f"{k:<12} {v}" for k, v in sorted(index.meta.items())]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="encode a prepared data folder into a gallery index")
    b.add_argument("--checkpoint", required=True, help="checkpoint folder (model.safetensors, ...)")
    b.add_argument("--data", required=True, help="prepared data folder (HumanML3D layout)")
    b.add_argument("--split", default="test", help="split to index ('all' for every clip)")
    b.add_argument("--out", required=True, help="output file (.safetensors)")
    b.add_argument("--limit", type=int, default=None, help="index at most this many clips")
    i = sub.add_parser("info", help="describe a gallery index")
    i.add_argument("file")


def run(args: argparse.Namespace) -> int:
    if args.index_command == "info":
        t0 = time.perf_counter()
        index = load_index(args.file)
        print(describe(index))
        print(f"{'load time':<12} {time.perf_counter() - t0:.2f} s")
        return 0
    split = None if args.split == "all" else args.split
    t0 = time.perf_counter()

    def progress(done: int, total: int, stage: str) -> None:
        print(f"\rencoded {done}/{total} {stage}  ", end="", flush=True)

    index = build_index_from_checkpoint(args.checkpoint, args.data, split, args.out,
                                        limit=args.limit, progress=progress)
    print(f"\nwrote {args.out}: {len(index)} clips in {time.perf_counter() - t0:.1f} s")
    return 0
