"""`evaluate`: retrieval, label, side and grounding metrics of a checkpoint on one split.

    python -m motion_retrieval evaluate --checkpoint CKPT --data DIR --split test --json

`evaluate_checkpoint` is the part the training loop also calls for validation: it encodes every
clip's motion and first caption in batches, scores all texts against all motions with the
model's own `score`, and hands plain arrays to `metrics` (docs/evaluation.md).
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from . import metrics
from .text_alignment import content_words, normalise_word, word_token_groups, words_in_span

PROTOCOLS = ("all", "batch32")


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", required=True, help="checkpoint folder (train output)")
    parser.add_argument("--data", required=True, help="data folder in the HumanML3D layout")
    parser.add_argument("--split", default="test", help="split file to evaluate (default test)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--output", help="also write the JSON object to this file")
    parser.add_argument("--batch-size", type=int, default=32, help="clips per forward pass")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--seed", type=int, default=0, help="seed of the batch-of-32 groups")
    parser.add_argument("--max-clips", type=int, default=0, help="first N clips only (0 = all)")
    parser.add_argument("--no-grounding", action="store_true", help="skip the pointing game")
    parser.add_argument("--queries", help="also score a hand-written query set (JSONL, "
                        "motion_retrieval/query_set.py) against the split's motions")


def run(args) -> int:
    from .checkpoint import load_checkpoint
    from .dataset import read_dataset
    from .query_set import load_query_set
    from .train import pick_device

    device = str(pick_device(args.device))
    query_set = load_query_set(args.queries) if args.queries else None
    model, stats, meta = load_checkpoint(args.checkpoint, device=device)
    data = read_dataset(args.data, split=args.split)
    clips = data.clips[:args.max_clips] if args.max_clips > 0 else data.clips
    if len(clips) < 2:
        raise FileNotFoundError(f"{args.data}: split {args.split!r} has {len(clips)} readable "
                                f"clips ({data.skipped} skipped); retrieval needs at least 2")
    started = time.perf_counter()
    result = evaluate_checkpoint(model, stats, clips, batch_size=args.batch_size,
                                 grounding=not args.no_grounding, seed=args.seed,
                                 query_set=query_set)
    out = {
        "checkpoint": str(Path(args.checkpoint)),
        "data": str(Path(args.data)),
        "split": args.split,
        "clips": len(clips),
        "skipped": data.skipped,
        "scorer": getattr(getattr(model, "cfg", None), "scorer", None),
        "device": str(device),
        "seconds": round(time.perf_counter() - started, 2),
        **result,
    }
    text = json.dumps(out, indent=None if args.json else 1)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    print(text if args.json else format_report(out))
    return 0


# ---------------------------------------------------------------- encoding

def _default_to_input():
    from .features import motion_to_input
    return motion_to_input


def _pad_cat(embs: list, masks: list):
    """Concatenate text batches whose token length differs (padding is masked out)."""
    import torch

    L = max(e.shape[1] for e in embs)
    out_e, out_m = [], []
    for e, m in zip(embs, masks):
        pad = L - e.shape[1]
        out_e.append(torch.nn.functional.pad(e, (0, 0, 0, pad)))
        out_m.append(torch.nn.functional.pad(m, (0, pad), value=False))
    return torch.cat(out_e), torch.cat(out_m)


def _source(clip) -> str:
    lab = clip.labels or {}
    return str(lab.get("dataset") or lab.get("source") or "data")


def _grounded_phrases(clip, caption_index: int, words) -> list[tuple[list[list[int]], dict]]:
    """(content-word token groups, phrase) for each grounding.json phrase of one caption."""
    if not clip.grounding or caption_index >= len(clip.grounding):
        return []
    out = []
    for phrase in clip.grounding[caption_index]:
        c0, c1 = phrase["span"]
        groups = [w.tokens for w in content_words(words_in_span(words, c0, c1))]
        if groups:
            out.append((groups, phrase))
    return out


def _arm_words(clip, words) -> tuple[list[list[int]], str] | None:
    """Bandai-Namco one-arm contents: the side, arm and verb words, and the side."""
    side = metrics.one_arm_side((clip.labels or {}).get("content"))
    if side is None:
        return None
    picked = metrics.arm_phrase_words([normalise_word(w.text) for w in words], side)
    return ([words[i].tokens for i in picked], side) if picked else None


def evaluate_checkpoint(model, stats: dict, dataset_clips: Sequence, batch_size: int = 32,
                        protocols: Sequence[str] = PROTOCOLS, *, grounding: bool = True,
                        seed: int = 0, to_input: Callable | None = None,
                        query_set: Sequence[dict] | None = None) -> dict:
    """All metrics of `model` on `dataset_clips` (dataset.Clip-like: id, joints, captions,
    labels, grounding). The query of each clip is its first caption.

    protocols: "all" and/or "batch32". grounding: run the pointing game (MaxSim models only).
    to_input: joints -> (x, block_mask, n_frames); default features.motion_to_input.
    query_set: hand-written queries (`query_set.load_query_set`) also scored against the clips.
    Returns a JSON-ready dict; the model is left in the train/eval mode it came in.
    """
    unknown = set(protocols) - set(PROTOCOLS)
    if unknown:
        raise ValueError(f"unknown protocols {sorted(unknown)}; choose from {PROTOCOLS}")
    clips = list(dataset_clips)
    if len(clips) < 2:
        raise ValueError(f"retrieval needs at least 2 clips, got {len(clips)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    queries = [c.captions[0] for c in clips]
    extra = [it["query"] for it in query_set or ()]
    phrases: list[metrics.GroundedPhrase] = []
    arm: list[metrics.GroundedPhrase] = []
    patches = 0

    def on_batch(batch, m_emb, m_mask):
        nonlocal patches
        patches = m_emb.shape[1]
        if grounding and patches == metrics.NUM_PATCHES:
            _ground_batch(model, batch, m_emb, m_mask, phrases, arm)

    scores = score_matrix(model, stats, clips, queries + extra, batch_size=batch_size,
                          to_input=to_input, on_batch=on_batch)
    scores, extra_scores = scores[:len(clips)], scores[len(clips):]
    out = score_report(scores, clips, protocols, seed=seed,
                       grounding=(phrases, arm) if grounding else None, patches=patches)
    if query_set:
        from .query_set import query_set_recall
        out["query_set"] = query_set_recall(extra_scores, query_set, [c.labels for c in clips])
    return out


def score_matrix(model, stats: dict, clips: Sequence, texts: Sequence[str], *,
                 batch_size: int = 32, to_input: Callable | None = None,
                 on_batch: Callable | None = None) -> np.ndarray:
    """(texts, clips) float64 scores with the model's own `score` (hybrid or not).

    on_batch(batch, m_emb, m_mask) sees every batch of motion embeddings (the pointing game
    uses it). The model is left in the train/eval mode it came in.
    """
    import torch

    from .model import is_hybrid

    to_input = to_input or _default_to_input()
    hybrid = is_hybrid(model)
    device = getattr(model, "device", None) or next(iter(model.parameters())).device
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with torch.no_grad():
            embs, masks, wholes = [], [], []
            for s in range(0, len(texts), batch_size):
                if hybrid:
                    e, m, _, w = model.encode_text_whole(list(texts[s:s + batch_size]))
                    wholes.append(w)
                else:
                    e, m, _ = model.encode_text(list(texts[s:s + batch_size]))
                embs.append(e)
                masks.append(m)
            t_emb, t_mask = _pad_cat(embs, masks)
            t_whole = torch.cat(wholes) if hybrid else None
            columns = []
            for s in range(0, len(clips), batch_size):
                batch = clips[s:s + batch_size]
                inputs = [to_input(c.joints, stats) for c in batch]
                x = torch.as_tensor(np.stack([i[0] for i in inputs]), dtype=torch.float32,
                                    device=device)
                bm = torch.as_tensor(np.stack([i[1] for i in inputs]), dtype=torch.bool,
                                     device=device)
                if hybrid:
                    m_emb, m_mask, m_whole = model.encode_motion_whole(x, bm)
                    score = model.score(t_emb, t_mask, m_emb, m_mask, t_whole=t_whole,
                                        m_whole=m_whole)
                else:
                    m_emb, m_mask = model.encode_motion(x, bm)
                    score = model.score(t_emb, t_mask, m_emb, m_mask)
                columns.append(score.float().cpu())
                if on_batch is not None:
                    on_batch(batch, m_emb, m_mask)
            return torch.cat(columns, dim=1).numpy().astype(np.float64)
    finally:
        if was_training and hasattr(model, "train"):
            model.train()


def _ground_batch(model, batch, m_emb, m_mask, phrases: list, arm: list) -> None:
    """Similarity maps of every grounded caption against its own motion, turned into phrases."""
    jobs = []  # (clip index in batch, caption)
    for j, clip in enumerate(batch):
        for c, caption in enumerate(clip.captions):
            has_truth = bool(clip.grounding) and c < len(clip.grounding) and clip.grounding[c]
            if has_truth or metrics.one_arm_side((clip.labels or {}).get("content")):
                jobs.append((j, c, caption))
    if not jobs:
        return
    t_emb, t_mask, tokens = model.encode_text([cap for _, _, cap in jobs])
    for k, (j, c, caption) in enumerate(jobs):
        clip = batch[j]
        sim = model.similarity_maps(t_emb[k], m_emb[j], m_mask[j]).float().cpu().numpy()
        words = word_token_groups(caption, tokens[k])
        for groups, phrase in _grounded_phrases(clip, c, words):
            phrases.append(metrics.GroundedPhrase(sim, groups, phrase["parts"],
                                                  phrase.get("frames"), clip.n_frames,
                                                  _source(clip)))
        picked = _arm_words(clip, words)
        if picked:
            arm.append(metrics.GroundedPhrase(sim, picked[0], metrics.arm_parts(picked[1]),
                                              None, clip.n_frames, _source(clip)))


def score_report(scores: np.ndarray, clips: Sequence, protocols: Sequence[str] = PROTOCOLS, *,
                 seed: int = 0, grounding: tuple | None = None, patches: int | None = None) -> dict:
    """The metrics dict from a (texts, motions) score matrix and the clips it was computed on."""
    queries = [c.captions[0] for c in clips]
    out: dict = {"queries": len(queries)}
    if "all" in protocols:
        out["all"] = metrics.retrieval_metrics(scores, queries)
    if "batch32" in protocols:
        out["batch32"] = metrics.batch_protocol(scores, queries, size=32, seed=seed)
    labels = [c.labels or None for c in clips]
    if any(lab and lab.get("content") is not None for lab in labels):
        out["labels"] = {
            "content": metrics.label_recall(scores, labels, labels, ("content",)),
            "content_style": metrics.label_recall(scores, labels, labels, ("content", "style")),
        }
    sides = [metrics.motion_sides(c.labels) for c in clips]
    if any(sides):
        out["side"] = metrics.side_accuracy(scores, queries, sides)
    if grounding is not None:
        if patches != metrics.NUM_PATCHES:
            out["grounding"] = {"skipped": "the model has no patch embeddings (global scorer)"}
        else:
            phrases, arm = grounding
            out["grounding"] = metrics.grounding_score(phrases)
            if arm:
                out["arm_grounding"] = metrics.grounding_score(arm)
    return out


# ---------------------------------------------------------------- readable report

def _fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def format_report(result: dict) -> str:
    """A plain-text table of an evaluation result (the JSON has everything)."""
    lines = [f"checkpoint {result.get('checkpoint', '-')}  data {result.get('data', '-')}  "
             f"split {result.get('split', '-')}  clips {result.get('clips', result['queries'])}"]
    keys = [f"R@{k}" for k in metrics.KS] + ["MedR"]
    lines.append(f"{'protocol':<10}{'dir':<5}" + "".join(f"{k:>8}" for k in keys))
    for proto in ("all", "batch32"):
        for d in ("t2m", "m2t"):
            if proto in result:
                row = result[proto][d]
                lines.append(f"{proto:<10}{d:<5}" + "".join(f"{_fmt(row[k]):>8}" for k in keys))
    for name, row in result.get("labels", {}).items():
        lines.append(f"{'label':<10}{name[:4]:<5}" + "".join(f"{_fmt(row[k]):>8}" for k in keys)
                     + f"   ({row['n']} queries, keys {'+'.join(row['keys'])})")
    if "side" in result:
        s = result["side"]
        lines.append(f"side accuracy {_fmt(s['accuracy'])} % over {s['n']} one-sided queries "
                     f"(chance {_fmt(s['chance'])} %, own motion first {_fmt(s['oracle'])} %)")
    if "query_set" in result:
        q = result["query_set"]
        lines.append(f"query set: R@1 {_fmt(q['R@1'])}  R@5 {_fmt(q['R@5'])}  R@10 "
                     f"{_fmt(q['R@10'])} over {q['n']} hand-written queries "
                     f"({q['unanswerable']} with no right answer in this split left out)")
    for title in ("grounding", "arm_grounding"):
        g = result.get(title)
        if not g:
            continue
        if "skipped" in g:
            lines.append(f"{title}: skipped ({g['skipped']})")
            continue
        for ds, r in g.items():
            lines.append(f"{title} [{ds}] part {_fmt(r['part'])} % (chance "
                         f"{_fmt(r['part_chance'])}), time {_fmt(r['time'])} % (chance "
                         f"{_fmt(r['time_chance'])}); {r['phrases']} phrases, {r['words']} words")
    return "\n".join(lines)

