"""Batch orders for training: plain shuffles, or batches built from whole hard-negative groups.

The procedural corpus labels clips that differ only in side, order or count with one
labels.json "group"; a single vector per motion cannot tell them apart, so putting a whole group
in one batch makes local (patch-level) evidence pay off in the contrastive loss.
"""
from __future__ import annotations

import numpy as np


def random_batches(n: int, batch_size: int, rng: np.random.Generator) -> list[list[int]]:
    """A shuffled pass over n items in batches; a last batch of fewer than 2 is dropped."""
    order = rng.permutation(n).tolist()
    batches = [order[i:i + batch_size] for i in range(0, n, batch_size)]
    return [b for b in batches if len(b) >= 2]


def group_batches(groups: list[str | None], batch_size: int,
                  rng: np.random.Generator) -> list[list[int]]:
    """A shuffled pass in which every group's members share a batch.

    Groups larger than a batch are cut into batch-sized pieces; clips without a group fill the
    space left. Batches are packed first-fit, so almost all are full; each index appears once.
    """
    if batch_size < 2:
        raise ValueError("batch_size must be at least 2")
    members: dict[str, list[int]] = {}
    loose: list[int] = []
    for i, g in enumerate(groups):
        if g is None or g == "":
            loose.append(i)
        else:
            members.setdefault(str(g), []).append(i)
    units: list[list[int]] = []
    for idx in members.values():
        idx = [idx[j] for j in rng.permutation(len(idx))]
        units += [idx[s:s + batch_size] for s in range(0, len(idx), batch_size)]
    units = [units[j] for j in rng.permutation(len(units))]
    # Biggest first packs tighter; the shuffle above breaks ties at random.
    units.sort(key=len, reverse=True)
    bins: list[list[int]] = []
    room: list[int] = []
    for u in units:
        for b, free in enumerate(room):
            if free >= len(u):
                bins[b] += u
                room[b] -= len(u)
                break
        else:
            bins.append(list(u))
            room.append(batch_size - len(u))
    loose = [loose[j] for j in rng.permutation(len(loose))]
    for b in range(len(bins)):
        take, loose = loose[:room[b]], loose[room[b]:]
        bins[b] += take
    bins += [loose[s:s + batch_size] for s in range(0, len(loose), batch_size)]
    bins = [bins[j] for j in rng.permutation(len(bins))]
    return [b for b in bins if len(b) >= 2]
