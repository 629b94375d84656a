"""A procedural motion corpus with compositional captions, grounding and hard-negative groups.

    clips, splits = generate_corpus(5000, seed=0)

Each clip is a `motion_retrieval.dataset.Clip`: joints (T, 22, 3) float32 in the canonical frame
at 20 fps, three captions, labels {"content", "actions", "side", "group", "style", "seconds"} and
per-caption grounding [{"span", "text", "parts", "frames"}]. Clips are deterministic per
(seed, index), so generation can be spread over processes without changing the result.
"""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from .compose import ActionSpec, build_motion
from .corpus import make_clip_record, plan_groups, split_groups

__all__ = ["CORPUS_VERSION", "ActionSpec", "build_motion", "generate_corpus", "generate_records",
           "generate_split"]

# Bumped whenever the same (n, seed) gives other clips or captions, so caches built from an
# older corpus are rebuilt. 2 (session 8): "clapping" and "sidestepping" (were "claping" and
# "sidesteping").
CORPUS_VERSION = 2


def _record(seed: int, i: int, group: str, program: list[ActionSpec]) -> dict:
    return make_clip_record(f"syn{seed}_{i:05d}", program, group, np.random.default_rng([seed, i]))


def _records(args: tuple[int, int, int]) -> list[dict]:
    n, seed, lo_hi = args[0], args[1], args[2]
    plan = plan_groups(n, seed)
    lo, hi = lo_hi
    return [_record(seed, i, gid, prog) for i, (gid, prog) in enumerate(plan) if lo <= i < hi]


def generate_records(n: int, seed: int = 0, workers: int | None = None) -> list[dict]:
    """The corpus as plain dicts (id, joints, captions, labels, grounding)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    workers = workers if workers is not None else min(os.cpu_count() or 1, 4)
    if workers <= 1 or n < 200:
        return _records((n, seed, (0, n)))
    bounds = np.linspace(0, n, workers + 1).astype(int)
    jobs = [(n, seed, (int(a), int(b))) for a, b in zip(bounds[:-1], bounds[1:])]
    with ProcessPoolExecutor(workers) as pool:
        return [r for part in pool.map(_records, jobs) for r in part]


def generate_corpus(n: int, seed: int = 0, workers: int | None = None):
    """(clips, splits): n `Clip`s and {"train", "val", "test"} id lists, groups kept whole."""
    from ..dataset import Clip

    records = generate_records(n, seed, workers)
    clips = [Clip(**r) for r in records]
    by_group = split_groups([c.labels["group"] for c in clips], seed)
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for c in clips:
        splits[by_group[c.labels["group"]]].append(c.id)
    return clips, splits


def generate_split(n: int, seed: int = 0, split: str = "test"):
    """The clips of one split of `generate_corpus(n, seed)`, generating only those clips.

    Clips are deterministic per (seed, index), so a demo gallery or a test can have the held-out
    split in a tenth of the time of the whole corpus.
    """
    from ..dataset import Clip

    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be train, val or test, got {split!r}")
    plan = plan_groups(n, seed)
    where = split_groups([gid for gid, _ in plan], seed)
    return [Clip(**_record(seed, i, gid, prog))
            for i, (gid, prog) in enumerate(plan) if where[gid] == split]
