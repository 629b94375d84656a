"""Hand-written query sets: how a model does on sentences nobody generated.

The test captions of the procedural corpus come from the same templates as its training
captions, and Bandai-Namco's from the same phrase lists, so the usual metrics cannot say how a
model reads a person's own words. A query set is a JSONL file of queries written by hand, each
with the labels a right answer must have:

    {"query": "someone greets people by waving the left hand", "expect": {"actions": ["wave_left"]}}
    {"query": "a man bows politely", "expect": {"content": "bow"}}

`actions` (procedural labels): every listed action is one of the motion's actions, compared
without its count ("hop_right" matches "hop_right_x3") and, if the name leaves it out, its
angle ("turn_left" matches "turn_left_90"; "walk" does not match "walk_backward"). Any other
key (`content`, `side`, `style`) must be equal. `evaluate --queries FILE` scores the set against
the split's motions with the model's own score and reports label recall (a hit: a motion with
the expected labels at rank <= k).
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from . import metrics

KEYS = ("actions", "content", "side", "style")


def load_query_set(path: str | Path) -> list[dict]:
    """The items of a JSONL query set, checked; blank lines and `#` comments are skipped."""
    path = Path(path)
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{n}: not JSON ({e.msg})") from None
        query, expect = (item.get("query"), item.get("expect")) if isinstance(item, dict) else (
            None, None)
        if not isinstance(query, str) or not query.strip():
            raise ValueError(f"{path}:{n}: needs a non-empty \"query\" string")
        if not isinstance(expect, dict) or not expect or set(expect) - set(KEYS):
            raise ValueError(f"{path}:{n}: \"expect\" must map some of {list(KEYS)} to labels")
        actions = expect.get("actions", [])
        if not isinstance(actions, list) or not all(isinstance(a, str) and a for a in actions):
            raise ValueError(f"{path}:{n}: \"actions\" must be a list of action names")
        items.append({"query": query.strip(), "expect": expect})
    if not items:
        raise ValueError(f"{path}: no queries")
    return items


def _has_action(wanted: str, actions: Sequence[str]) -> bool:
    for a in actions:
        a = re.sub(r"_x\d+$", "", a)  # the count
        if a == wanted or re.fullmatch(re.escape(wanted) + r"_\d+", a):  # or the angle
            return True
    return False


def labels_match(expect: Mapping, labels: Mapping | None) -> bool:
    """Whether a motion with `labels` is a right answer for a query expecting `expect`."""
    labels = labels or {}
    for key, value in expect.items():
        if key == "actions":
            have = labels.get("actions") or []
            if not all(_has_action(a, have) for a in value):
                return False
        elif labels.get(key) != value:
            return False
    return True


def _ranks(scores: np.ndarray, items: Sequence[Mapping],
           gallery_labels: Sequence[Mapping | None]) -> tuple[np.ndarray, np.ndarray]:
    """(answerable query rows, their ranks of the first right answer; pessimistic ties)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(items), len(gallery_labels)):
        raise ValueError(f"scores {scores.shape} do not match {len(items)} queries and "
                         f"{len(gallery_labels)} motions")
    correct = np.array([[labels_match(it["expect"], g) for g in gallery_labels] for it in items],
                       dtype=bool).reshape(len(items), len(gallery_labels))
    rows = np.flatnonzero(correct.any(1))
    ranks = (metrics.ranks_from_correct(scores[rows], correct[rows]) if rows.size
             else np.array([], dtype=int))
    return rows, ranks


def query_hits(scores: np.ndarray, items: Sequence[Mapping],
               gallery_labels: Sequence[Mapping | None]) -> np.ndarray:
    """Rank-1 hit (bool) of each answerable query, in order: what `compare` pairs."""
    return _ranks(scores, items, gallery_labels)[1] == 1


def query_set_recall(scores: np.ndarray, items: Sequence[Mapping],
                     gallery_labels: Sequence[Mapping | None], *,
                     ks: Sequence[int] = (1, 5, 10)) -> dict:
    """Label recall of hand-written queries: scores (queries, motions), pessimistic ties.

    Queries with no right answer in the gallery are left out (`unanswerable` counts them);
    `top1` lists, per query, whether it hit and the content of its top-1 motion.
    """
    scores = np.asarray(scores, dtype=np.float64)
    rows, ranks = _ranks(scores, items, gallery_labels)
    return {
        **metrics.recall_summary(ranks, ks),
        "unanswerable": int(len(items) - rows.size),
        "top1": [{"query": items[i]["query"], "hit": bool(r == 1),
                  "top1": (gallery_labels[int(scores[i].argmax())] or {}).get("content")}
                 for i, r in zip(rows, ranks)],
    }
