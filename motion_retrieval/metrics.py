"""Retrieval, label, side and grounding metrics on plain numpy arrays (no torch).

Conventions (docs/evaluation.md has the full definitions):
- `scores[i, j]` is the similarity of text i and motion j; text i describes motion i.
- A gallery item is correct for a query when it is the query's own pair or its caption is
  identical (after lower-casing and collapsing white space): duplicates are not punished.
- Ranks are pessimistic: rank = 1 + the number of wrong items scoring higher than *or equal to*
  the best correct item. A model that gives every item the same score therefore gets the worst
  rank, never R@1 = 100 %.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from . import motion_image
from .motion_image import NUM_PATCHES, TIME_BLOCKS
from .skeleton import BODY_PARTS, NUM_PARTS, PART_GROUPS, PART_INDEX

KS: tuple[int, ...] = (1, 2, 3, 5, 10)


# ---------------------------------------------------------------- ranks and recall

def normalize_caption(text: str) -> str:
    """The form in which two captions count as identical: lower case, single spaces."""
    return " ".join(str(text).lower().split())


def identical_captions(query_captions: Sequence[str],
                       gallery_captions: Sequence[str]) -> np.ndarray:
    """(Nq, Ng) bool: query i's caption equals gallery item j's caption."""
    q = [normalize_caption(c) for c in query_captions]
    g = [normalize_caption(c) for c in gallery_captions]
    ids: dict[str, int] = {}
    qi = np.array([ids.setdefault(c, len(ids)) for c in q])
    gi = np.array([ids.setdefault(c, len(ids)) for c in g])
    return qi[:, None] == gi[None, :]


def _check_scores(scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"scores must be a 2-D (queries, gallery) matrix, got shape "
                         f"{scores.shape}")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN; the model produced invalid similarities")
    return scores


def ranks_from_correct(scores: np.ndarray, correct: np.ndarray,
                       ties: str = "pessimistic") -> np.ndarray:
    """1-based rank of the best correct gallery item of each query.

    ties="pessimistic" (default) puts wrong items that tie with the best correct one ahead of
    it; "optimistic" puts them behind. Every query needs at least one correct item.
    """
    scores = _check_scores(scores)
    correct = np.asarray(correct, dtype=bool)
    if correct.shape != scores.shape:
        raise ValueError(f"correct mask {correct.shape} does not match scores {scores.shape}")
    if not correct.any(axis=1).all():
        raise ValueError("every query needs at least one correct gallery item")
    best = np.where(correct, scores, -np.inf).max(axis=1, keepdims=True)
    if ties == "pessimistic":
        ahead = (scores >= best) & ~correct
    elif ties == "optimistic":
        ahead = (scores > best) & ~correct
    else:
        raise ValueError(f"ties must be 'pessimistic' or 'optimistic', got {ties!r}")
    return 1 + ahead.sum(axis=1)


def recall_summary(ranks: np.ndarray, ks: Sequence[int] = KS) -> dict:
    """R@k in percent, median and mean rank, and the number of queries."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        return {**{f"R@{k}": None for k in ks}, "MedR": None, "MeanR": None, "n": 0}
    out = {f"R@{k}": float(100.0 * np.mean(ranks <= k)) for k in ks}
    out["MedR"] = float(np.median(ranks))
    out["MeanR"] = float(np.mean(ranks))
    out["n"] = int(ranks.size)
    return out


def retrieval_metrics(scores: np.ndarray, query_captions: Sequence[str],
                      gallery_captions: Sequence[str] | None = None, *,
                      ks: Sequence[int] = KS, ties: str = "pessimistic") -> dict:
    """The "All" protocol on a square (texts, motions) score matrix, both directions.

    text->motion: query text i, correct motions = motion i and every motion whose caption is
    identical. motion->text: query motion i, correct texts = text i and every identical text.
    `gallery_captions` is the caption that stands for each motion (default: the queries').
    """
    scores = _check_scores(scores)
    n = len(query_captions)
    if scores.shape != (n, n):
        raise ValueError(f"the All protocol needs a square ({n}, {n}) score matrix for {n} "
                         f"captions, got {scores.shape}")
    gallery_captions = query_captions if gallery_captions is None else gallery_captions
    if len(gallery_captions) != n:
        raise ValueError(f"{len(gallery_captions)} gallery captions for {n} motions")
    correct = identical_captions(query_captions, gallery_captions) | np.eye(n, dtype=bool)
    return {
        "t2m": recall_summary(ranks_from_correct(scores, correct, ties), ks),
        "m2t": recall_summary(ranks_from_correct(scores.T, correct.T, ties), ks),
    }


def rsum(result: dict) -> float:
    """The model-selection number: the mean of text->motion and motion->text R@1 and R@5 of a
    `retrieval_metrics` result."""
    return float(np.mean([result[d][k] for d in ("t2m", "m2t") for k in ("R@1", "R@5")]))


def batch_protocol(scores: np.ndarray, query_captions: Sequence[str],
                   gallery_captions: Sequence[str] | None = None, *, size: int = 32,
                   seed: int = 0, ks: Sequence[int] = KS, ties: str = "pessimistic") -> dict:
    """The "batch of 32" protocol (Guo et al.): the All metrics inside random groups, averaged.

    The pairs are shuffled with `seed` and cut into groups of `size`; the remainder that does
    not fill a group is dropped. With fewer than `size` pairs there is one group of all of them
    (`size` in the result says so).
    """
    scores = _check_scores(scores)
    n = scores.shape[0]
    gallery_captions = query_captions if gallery_captions is None else gallery_captions
    if n == 0:
        raise ValueError("no pairs to evaluate")
    order = np.random.default_rng(seed).permutation(n)
    size = min(size, n)
    groups = [order[s:s + size] for s in range(0, n - size + 1, size)]
    per_group = []
    for idx in groups:
        per_group.append(retrieval_metrics(
            scores[np.ix_(idx, idx)], [query_captions[i] for i in idx],
            [gallery_captions[i] for i in idx], ks=ks, ties=ties))
    out: dict = {"size": size, "groups": len(groups), "seed": seed}
    for direction in ("t2m", "m2t"):
        keys = [k for k in per_group[0][direction] if k != "n"]
        out[direction] = {k: float(np.mean([g[direction][k] for g in per_group]))
                          for k in keys}
        out[direction]["n"] = size * len(groups)
    return out


# ---------------------------------------------------------------- labels and sides

def _label_key(labels: Mapping | None, keys: Sequence[str]) -> tuple | None:
    if not labels:
        return None
    values = tuple(labels.get(k) for k in keys)
    return None if any(v is None for v in values) else values


def label_ranks(scores: np.ndarray, query_labels: Sequence[Mapping | None],
                gallery_labels: Sequence[Mapping | None], keys: Sequence[str] = ("content",),
                ties: str = "pessimistic") -> tuple[list[int], np.ndarray]:
    """(scored query rows, their 1-based ranks) where a hit is any motion with the same label
    values on `keys`. Queries whose label (or one of the keys) is missing, or that no gallery
    item shares, are left out; a gallery item with a missing value never matches."""
    scores = _check_scores(scores)
    if scores.shape != (len(query_labels), len(gallery_labels)):
        raise ValueError(f"scores {scores.shape} do not match {len(query_labels)} query and "
                         f"{len(gallery_labels)} gallery labels")
    q = [_label_key(lab, keys) for lab in query_labels]
    g = [_label_key(lab, keys) for lab in gallery_labels]
    rows = [i for i, k in enumerate(q) if k is not None and k in g]
    correct = np.array([[q[i] == gk for gk in g] for i in rows], dtype=bool)
    correct = correct.reshape(len(rows), len(g))
    ranks = ranks_from_correct(scores[rows], correct, ties) if rows else np.array([])
    return rows, ranks


def label_recall(scores: np.ndarray, query_labels: Sequence[Mapping | None],
                 gallery_labels: Sequence[Mapping | None], keys: Sequence[str] = ("content",),
                 *, ks: Sequence[int] = KS, ties: str = "pessimistic") -> dict:
    """Text->motion recall where a hit is any motion with the same label values on `keys`
    (`label_ranks`); `n` counts the queries that were scored."""
    _, ranks = label_ranks(scores, query_labels, gallery_labels, keys, ties)
    return {"keys": list(keys), **recall_summary(ranks, ks)}


_SIDE_RE = re.compile(r"\b(left|right|both)\b", re.IGNORECASE)


def caption_side(caption: str) -> str | None:
    """'left' or 'right' when the caption names exactly one side, else None.

    A caption that also says "both" ("raises the left hand, then both hands") is not one-sided.
    """
    found = {m.lower() for m in _SIDE_RE.findall(caption)}
    if "both" in found or len(found) != 1:
        return None
    return found.pop()


def motion_sides(labels: dict | None) -> frozenset:
    """The sides ("left"/"right") a motion performs a one-sided action on.

    A procedural clip chains several actions, each named with its side ("clap_both",
    "kick_left_x2"), so its sides come from every action: "claps, then kicks with the left leg"
    has the left side although its first sided action (`labels.side`, "both") does not. Other
    datasets label one side per clip. Two-handed actions ("both") give no side.
    """
    labels = labels or {}
    actions = labels.get("actions")
    if actions:
        return frozenset(w for a in actions for w in str(a).split("_") if w in ("left", "right"))
    side = labels.get("side")
    return frozenset([side]) if side in ("left", "right") else frozenset()


def side_accuracy(scores: np.ndarray, query_captions: Sequence[str],
                  gallery_sides: Sequence) -> dict:
    """Over queries naming one side, the share (%) whose top-1 motion has that side.

    gallery_sides: per motion, its side ("left"/"right"/"both"/None) or the set of sides it
    performs one-sided actions on (`motion_sides`). A tie for the top score counts as a hit only
    if every tied motion has the named side (pessimistic, like the ranks). `chance` is the
    expected accuracy of a random top-1; `oracle` the accuracy when each query's top-1 is its own
    motion (the same index), 100 when the side labels agree with the captions.
    """
    scores = _check_scores(scores)
    if scores.shape != (len(query_captions), len(gallery_sides)):
        raise ValueError(f"scores {scores.shape} do not match {len(query_captions)} captions "
                         f"and {len(gallery_sides)} gallery sides")
    sets = [frozenset([s]) if isinstance(s, str) or s is None else frozenset(s)
            for s in gallery_sides]
    has = {side: np.array([side in g for g in sets]) for side in ("left", "right")}
    hits, chance, oracle, per_side = [], [], [], {"left": [0, 0], "right": [0, 0]}
    for i, caption in enumerate(query_captions):
        side = caption_side(caption)
        if side is None:
            continue
        top = scores[i] >= scores[i].max()
        hit = bool(has[side][top].all())
        hits.append(hit)
        chance.append(float(np.mean(has[side])))
        if i < len(sets):
            oracle.append(bool(has[side][i]))
        per_side[side][0] += hit
        per_side[side][1] += 1
    return {
        "accuracy": float(100.0 * np.mean(hits)) if hits else None,
        "chance": float(100.0 * np.mean(chance)) if chance else None,
        "oracle": float(100.0 * np.mean(oracle)) if oracle else None,
        "n": len(hits),
        **{f"n_{s}": c[1] for s, c in per_side.items()},
        **{f"accuracy_{s}": (100.0 * c[0] / c[1]) if c[1] else None
           for s, c in per_side.items()},
    }


# ---------------------------------------------------------------- grounding (pointing game)

def valid_blocks(n_frames: int) -> np.ndarray:
    """(14,) bool: time blocks holding at least one real frame (the model's block_mask)."""
    return np.array([f0 < f1 for f0, f1 in
                     (motion_image.block_frames(t, n_frames) for t in range(TIME_BLOCKS))])


def frames_to_blocks(frames: Sequence[int], n_frames: int) -> np.ndarray:
    """(14,) bool: time blocks showing any frame of [f0, f1) (end exclusive).

    The frame -> block mapping is the Motion Image's own (motion_image.block_frames): padded
    clips put frame f in block f // 16, longer clips are resampled to 224 rows.
    """
    f0, f1 = int(frames[0]), int(frames[1])
    if not 0 <= f0 < f1:
        raise ValueError(f"frames must be a non-empty range [f0, f1), got {list(frames)}")
    mask = np.zeros(TIME_BLOCKS, dtype=bool)
    mask[motion_image.frames_to_blocks(f0, f1, n_frames)] = True
    return mask


def parts_mask(parts: Sequence[str]) -> np.ndarray:
    """(14,) bool from body-part names (skeleton.BODY_PARTS) or group names (PART_GROUPS)."""
    mask = np.zeros(NUM_PARTS, dtype=bool)
    for name in parts:
        if name in PART_INDEX:
            mask[PART_INDEX[name]] = True
        elif name in PART_GROUPS:
            mask[[PART_INDEX[p] for p in PART_GROUPS[name]]] = True
        else:
            raise ValueError(f"unknown body part {name!r}; expected one of {BODY_PARTS} or a "
                             f"group in {tuple(PART_GROUPS)}")
    return mask


@dataclass
class GroundedPhrase:
    """One phrase to score: the caption's token x patch map against its own motion.

    sim_map: (L, 196) similarities, patch p = time block p // 14, body part p % 14.
    words: token positions of each content word of the phrase (pieces of one word together).
    parts: referenced body parts; frames: referenced [f0, f1) or None (no time ground truth).
    """

    sim_map: np.ndarray
    words: list[list[int]]
    parts: Sequence[str]
    frames: Sequence[int] | None
    n_frames: int
    dataset: str = "all"


def word_patches(sim_map: np.ndarray, words: Sequence[Sequence[int]],
                 n_frames: int | None = None) -> np.ndarray:
    """The best-matching patch of each word (a word's map = mean of its pieces' rows).

    With n_frames, patches of padding time blocks are excluded even if the map scores them.
    """
    sim_map = np.asarray(sim_map, dtype=np.float64)
    if sim_map.ndim != 2 or sim_map.shape[1] != NUM_PATCHES:
        raise ValueError(f"a grounding map must be (tokens, {NUM_PATCHES}), got "
                         f"{sim_map.shape}; the global baseline has no patches to ground")
    out = []
    for positions in words:
        if not len(positions):
            raise ValueError("a word needs at least one token position")
        row = sim_map[list(positions)].mean(axis=0)
        if n_frames is not None:
            row = np.where(np.repeat(valid_blocks(n_frames), NUM_PARTS), row, -np.inf)
        if np.isnan(row).any() or not np.isfinite(row).any():
            raise ValueError(f"the map rows of token positions {list(positions)} have no valid "
                             "patch")
        out.append(int(np.argmax(row)))
    return np.array(out, dtype=int)


def grounding_score(phrases: Sequence[GroundedPhrase]) -> dict:
    """The pointing game, per dataset: % of content words whose best patch is referenced.

    For each phrase, the share of its words whose argmax patch lies in the referenced parts
    (and, where frames are given, in the referenced time blocks); shares are averaged over
    phrases. Chance levels are the same shares for a patch drawn uniformly among valid ones.
    """
    groups: dict[str, dict[str, list]] = {}
    for ph in phrases:
        if not ph.words:
            continue
        g = groups.setdefault(ph.dataset, {"part": [], "time": [], "part_chance": [],
                                           "time_chance": [], "words": []})
        patches = word_patches(ph.sim_map, ph.words, ph.n_frames)
        part_ok = parts_mask(ph.parts)
        g["part"].append(float(np.mean(part_ok[patches % NUM_PARTS])))
        g["part_chance"].append(float(part_ok.mean()))
        g["words"].append(len(patches))
        if ph.frames is not None:
            blocks = frames_to_blocks(ph.frames, ph.n_frames)
            valid = valid_blocks(ph.n_frames)
            g["time"].append(float(np.mean(blocks[patches // NUM_PARTS])))
            g["time_chance"].append(float((blocks & valid).sum() / valid.sum()))

    def pct(values: list) -> float | None:
        return float(100.0 * np.mean(values)) if values else None

    return {name: {
        "part": pct(g["part"]), "part_chance": pct(g["part_chance"]),
        "time": pct(g["time"]), "time_chance": pct(g["time_chance"]),
        "phrases": len(g["part"]), "time_phrases": len(g["time"]), "words": sum(g["words"]),
    } for name, g in groups.items()}


# ---------------------------------------------------------------- Bandai-Namco one-arm contents

_ONE_ARM_RE = re.compile(r"^(wave|raise-up)-(left|right)-hand$")
ARM_WORDS = frozenset({"arm", "arms", "hand", "hands"})
ARM_VERBS = frozenset("""
wave waves waved waving raise raises raised raising lift lifts lifted lifting
swing swings swung swinging shake shakes shook shaking
""".split())


def one_arm_side(content: str | None) -> str | None:
    """'left'/'right' for the one-arm Bandai-Namco contents (wave/raise-up-<side>-hand)."""
    m = _ONE_ARM_RE.match(content or "")
    return m.group(2) if m else None


def arm_phrase_words(words: Sequence[str], side: str) -> list[int]:
    """Indices of the words that must point at the `side` arm: the side word, arm/hand, verb."""
    return [i for i, w in enumerate(words)
            if w == side or w in ARM_WORDS or w in ARM_VERBS]


def arm_parts(side: str) -> tuple[str, ...]:
    """The Motion Image parts of one arm."""
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    return PART_GROUPS[f"{side}_arm"]
