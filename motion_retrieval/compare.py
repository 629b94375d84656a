"""`compare`: is model A better than model B on the same queries, or is it luck?

    python -m motion_retrieval compare --checkpoint A --checkpoint B --data DIR --split test

Both models score the same split. For each query the two outcomes (hit or miss at rank 1) are
paired, so what differs between the models is separated from what is hard for both:

- the difference in R@1 (A - B, points) with a 95 % bootstrap interval over queries (resampling
  queries says how much the figure would move on another test set of the same size);
- the discordant pairs (queries only A gets, queries only B gets) and the exact McNemar test on
  them (two-sided binomial p at 1/2; the queries both get or both miss carry no information).

With `--queries FILE` the hand-written sentences of a query set are paired too
(`queries_R@1`: a hit when the top-1 motion has the expected labels), so a claim about how
models read people's own words gets the same test as one about the generated captions.

Seed noise (another initialisation of the same recipe) is not in these numbers: it needs
another training run, which is why `docs/results.md` reports two seeds as well.
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import metrics


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value: P(a result at least this lopsided | no difference)."""
    if a_only < 0 or b_only < 0:
        raise ValueError(f"counts must be non-negative, got {a_only} and {b_only}")
    n = a_only + b_only
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(a_only, b_only) + 1))
    return min(1.0, 2 * tail / 2 ** n)


def paired_comparison(hits_a: Sequence[bool], hits_b: Sequence[bool], *, n_boot: int = 10000,
                      seed: int = 0) -> dict:
    """Paired statistics of two models' per-query hits (same queries, same order)."""
    a = np.asarray(hits_a, dtype=bool)
    b = np.asarray(hits_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"hits must be two 1-D arrays of one length, got {a.shape} and "
                         f"{b.shape}")
    if a.size == 0:
        raise ValueError("no queries to compare")
    if n_boot < 1:
        raise ValueError(f"n_boot must be positive, got {n_boot}")
    d = a.astype(np.int8) - b.astype(np.int8)
    rng = np.random.default_rng(seed)
    means = []
    for start in range(0, n_boot, 1000):  # chunks keep memory flat on large test sets
        idx = rng.integers(0, d.size, size=(min(1000, n_boot - start), d.size))
        means.append(d[idx].mean(axis=1))
    boot = 100.0 * np.concatenate(means)
    a_only, b_only = int(np.sum(a & ~b)), int(np.sum(b & ~a))
    return {
        "n": int(a.size),
        "a": float(100.0 * a.mean()),
        "b": float(100.0 * b.mean()),
        "diff": float(100.0 * d.mean()),
        "ci95": [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))],
        "a_only": a_only,
        "b_only": b_only,
        "both": int(np.sum(a & b)),
        "neither": int(np.sum(~a & ~b)),
        "p_mcnemar": mcnemar_exact(a_only, b_only),
    }


def rank1_hits(scores: np.ndarray, clips: Sequence) -> dict[str, np.ndarray]:
    """Per-query rank-1 hits of a (texts, motions) score matrix, as `evaluate` counts them:
    text->motion and motion->text of the All protocol (identical captions are correct), and
    text->motion content recall over the clips that have a content label."""
    queries = [c.captions[0] for c in clips]
    n = len(queries)
    correct = metrics.identical_captions(queries, queries) | np.eye(n, dtype=bool)
    out = {
        "t2m_R@1": metrics.ranks_from_correct(scores, correct) == 1,
        "m2t_R@1": metrics.ranks_from_correct(scores.T, correct.T) == 1,
    }
    labels = [c.labels or None for c in clips]
    rows, ranks = metrics.label_ranks(scores, labels, labels, ("content",))
    if rows:
        out["content_R@1"] = np.asarray(ranks) == 1
    return out


def compare_hits(hits_a: dict, hits_b: dict, *, n_boot: int = 10000, seed: int = 0) -> dict:
    """`paired_comparison` for every measure of two `rank1_hits` results."""
    return {k: paired_comparison(hits_a[k], hits_b[k], n_boot=n_boot, seed=seed) for k in hits_a}


def compare_scores(scores_a: np.ndarray, scores_b: np.ndarray, clips: Sequence, *,
                   n_boot: int = 10000, seed: int = 0) -> dict:
    """`paired_comparison` for every rank-1 measure of two score matrices over the same clips."""
    return compare_hits(rank1_hits(scores_a, clips), rank1_hits(scores_b, clips),
                        n_boot=n_boot, seed=seed)


def pool_hits(per_folder: Sequence[dict]) -> dict:
    """Concatenate per-folder hits, measure by measure (those every folder has). Each query
    stays ranked within its own folder's gallery: pooling adds queries, not gallery items."""
    keys = [k for k in per_folder[0] if all(k in h for h in per_folder)]
    return {k: np.concatenate([h[k] for h in per_folder]) for k in keys}


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", action="append", required=True,
                        help="give it twice: model A, then model B")
    parser.add_argument("--data", action="append", required=True,
                        help="data folder in the HumanML3D layout (repeatable)")
    parser.add_argument("--split", default="test", help="split file to compare on (default test)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--output", help="also write the JSON object to this file")
    parser.add_argument("--batch-size", type=int, default=32, help="clips per forward pass")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--bootstrap", type=int, default=10000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    parser.add_argument("--queries", action="append", default=[],
                        help="also pair the rank-1 label hits of a hand-written query set "
                             "(JSONL, motion_retrieval/query_set.py) scored against each "
                             "folder's motions: once for every folder, or once per --data in "
                             "the same order")
    parser.add_argument("--pool", action="store_true",
                        help="also test all folders' queries together (e.g. test splits of "
                             "several generator seeds; each query keeps its own gallery)")


def run(args) -> int:
    from .checkpoint import load_checkpoint
    from .dataset import read_dataset
    from .evaluate import score_matrix
    from .query_set import load_query_set, query_hits
    from .train import pick_device

    if len(args.checkpoint) != 2:
        raise ValueError(f"compare needs exactly two --checkpoint, got {len(args.checkpoint)}")
    queries = getattr(args, "queries", None) or []
    if len(queries) not in (0, 1, len(args.data)):
        raise ValueError(f"give --queries once, or once per --data ({len(args.data)}), "
                         f"not {len(queries)} times")
    query_sets = [load_query_set(q) for q in queries]
    query_sets = query_sets * len(args.data) if len(query_sets) == 1 else query_sets
    device = str(pick_device(args.device))
    models = [load_checkpoint(c, device=device)[:2] for c in args.checkpoint]
    out: dict = {"a": args.checkpoint[0], "b": args.checkpoint[1], "split": args.split,
                 "data": {}}
    pooled: list[tuple[dict, dict]] = []
    for i, folder in enumerate(args.data):
        data = read_dataset(folder, split=args.split)
        if len(data.clips) < 2:
            raise FileNotFoundError(f"{folder}: split {args.split!r} has {len(data.clips)} "
                                    f"readable clips; retrieval needs at least 2")
        texts = [c.captions[0] for c in data.clips]
        items = query_sets[i] if query_sets else []
        labels = [c.labels or None for c in data.clips]
        hits = []
        for m, s in models:
            scores = score_matrix(m, s, data.clips, texts + [it["query"] for it in items],
                                  batch_size=args.batch_size)
            h = rank1_hits(scores[:len(texts)], data.clips)
            q = query_hits(scores[len(texts):], items, labels) if items else []
            if len(q):  # a query set with no right answer in this gallery has nothing to pair
                h["queries_R@1"] = q
            hits.append(h)
        pooled.append(hits)
        out["data"][str(Path(folder))] = compare_hits(*hits, n_boot=args.bootstrap,
                                                      seed=args.seed)
    if args.pool and len(pooled) > 1:
        out["pooled"] = compare_hits(pool_hits([h[0] for h in pooled]),
                                     pool_hits([h[1] for h in pooled]),
                                     n_boot=args.bootstrap, seed=args.seed)
    text = json.dumps(out, indent=None if args.json else 1)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    print(text if args.json else format_comparison(out))
    return 0


def format_comparison(out: dict) -> str:
    lines = [f"A = {out['a']}", f"B = {out['b']}", f"split: {out['split']}", ""]
    sections = dict(out["data"])
    if "pooled" in out:
        sections["all folders pooled"] = out["pooled"]
    for folder, measures in sections.items():
        lines.append(f"{folder}")
        lines.append(f"  {'measure':<12} {'n':>5} {'A':>6} {'B':>6} {'A-B':>6}  "
                     f"{'95% interval':<15} {'A only':>6} {'B only':>6} {'McNemar p':>9}")
        for name, r in measures.items():
            lo, hi = r["ci95"]
            lines.append(f"  {name:<12} {r['n']:>5} {r['a']:>6.1f} {r['b']:>6.1f} "
                         f"{r['diff']:>+6.1f}  [{lo:+5.1f}, {hi:+5.1f}]  {r['a_only']:>6} "
                         f"{r['b_only']:>6} {r['p_mcnemar']:>9.3g}")
        lines.append("")
    return "\n".join(lines).rstrip()
