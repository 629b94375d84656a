"""Choose a MaxSim model's whole-clip weight on the validation split; save it in a copy.

`python -m motion_retrieval hybrid --checkpoint CKPT --data DIR [--data DIR ...] --out NEW`

A model trained with the auxiliary pooled loss (`global_aux_weight` > 0) has two scores over the
same encoders: MaxSim (each word's best patch, the explanation maps) and the whole-clip cosine
of mean-pooled words and patches through the auxiliary heads. Whole-clip quantities (how far a
turn goes, how many hops, how fast) are hard to read off one 16-frame patch and easy to read off
the pooled clip, so the sum ranks better than either part. This command scores every
validation query once per part, sweeps the weight w of
    score = (maxsim + w * whole) / (1 + w),
picks the w with the best mean val_rsum over the data folders (ties: the smaller w, which keeps
more of the score explained by the maps) and writes a copy of the checkpoint whose config holds
it; the table goes into the copy's meta. The test split is never read.
"""
from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

DEFAULT_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)


def score_parts(model, stats: dict, clips: Sequence, batch_size: int = 32):
    """(maxsim (Q, N), whole (Q, N)) float64 scores of each clip's first caption against every
    clip, with and without the whole-clip part."""
    import torch

    from .evaluate import _pad_cat
    from .features import motion_to_input

    if not getattr(model.cfg, "global_aux", False) or model.cfg.scorer != "maxsim":
        raise ValueError("a hybrid score needs a MaxSim model trained with the auxiliary "
                         "whole-clip heads (global_aux_weight > 0, e.g. the faithful preset)")
    queries = [c.captions[0] for c in clips]
    model.eval()
    with torch.no_grad():
        embs, masks, t_whole = [], [], []
        for s in range(0, len(queries), batch_size):
            batch = model.tokenize(queries[s:s + batch_size])
            hidden, valid = model.text_features(batch)
            e, m = model.project_text(hidden, valid)
            embs.append(e)
            masks.append(m)
            t_whole.append(model.text_whole(hidden, valid))
        t_emb, t_mask = _pad_cat(embs, masks)
        t_whole = torch.cat(t_whole)
        local, whole = [], []
        for s in range(0, len(clips), batch_size):
            inputs = [motion_to_input(c.joints, stats) for c in clips[s:s + batch_size]]
            x = torch.as_tensor(np.stack([i[0] for i in inputs]), dtype=torch.float32,
                                device=model.device)
            bm = torch.as_tensor(np.stack([i[1] for i in inputs]), dtype=torch.bool,
                                 device=model.device)
            tokens, mask = model.motion_features(x, bm)
            m_emb, m_mask = model.project_motion(tokens, mask)
            local.append(model.local_score(t_emb, t_mask, m_emb, m_mask).float().cpu())
            whole.append((t_whole @ model.motion_whole(tokens, mask).T).float().cpu())
    return (torch.cat(local, 1).numpy().astype(np.float64),
            torch.cat(whole, 1).numpy().astype(np.float64))


def combine(local: np.ndarray, whole: np.ndarray, weight: float) -> np.ndarray:
    """The hybrid score, exactly as `RetrievalModel.score` forms it."""
    return (local + weight * whole) / (1.0 + weight)


def sweep(parts: dict[str, tuple[np.ndarray, np.ndarray, list[str]]],
          weights: Sequence[float] = DEFAULT_WEIGHTS) -> list[dict]:
    """One row per weight: val_rsum and T2M R@1 per data folder and their means.

    parts: folder name -> (maxsim, whole, query captions)."""
    from .metrics import retrieval_metrics, rsum

    rows = []
    for w in weights:
        row = {"weight": float(w)}
        for name, (local, whole, queries) in parts.items():
            res = retrieval_metrics(combine(local, whole, w), queries)
            row[f"{name}/rsum"] = rsum(res)
            row[f"{name}/t2m_R@1"] = res["t2m"]["R@1"]
        row["mean_rsum"] = float(np.mean([row[f"{n}/rsum"] for n in parts]))
        rows.append(row)
    return rows


def choose(rows: Sequence[dict]) -> float:
    """The weight of the best mean val_rsum; the smallest such weight on a tie."""
    best = max(r["mean_rsum"] for r in rows)
    return min(r["weight"] for r in rows if r["mean_rsum"] >= best - 1e-9)


def write_hybrid(checkpoint: str | Path, out: str | Path, weight: float, selection: dict) -> Path:
    """Copy `checkpoint` to `out` with model.whole_clip_weight = weight (tensors unchanged)."""
    from .checkpoint import read_config
    from .config import ModelConfig

    src, out = Path(checkpoint), Path(out)
    config = read_config(src)
    if out.resolve() == src.resolve():
        raise ValueError("--out must be a new folder: the source checkpoint stays as it is")
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} exists and is not empty; choose a new folder")
    config["model"]["whole_clip_weight"] = float(weight)
    ModelConfig(**config["model"])  # refuse a combination the loader would refuse
    shutil.copytree(src, out, dirs_exist_ok=True)
    config["meta"] = {**config.get("meta", {}), "whole_clip_selection": selection}
    (out / "config.json").write_text(json.dumps(config, indent=1))
    return out


def format_table(rows: Sequence[dict], chosen: float) -> str:
    keys = [k for k in rows[0] if k != "weight"]
    lines = ["weight  " + "  ".join(f"{k:>18}" for k in keys)]
    for r in rows:
        mark = "  <- chosen" if r["weight"] == chosen else ""
        lines.append(f"{r['weight']:6.2f}  " + "  ".join(f"{r[k]:18.2f}" for k in keys) + mark)
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="a MaxSim checkpoint with aux heads")
    parser.add_argument("--data", action="append", required=True,
                        help="prepared data folder (repeat for several)")
    parser.add_argument("--split", default="val", help="split to choose on (default: val)")
    parser.add_argument("--out", required=True, help="new checkpoint folder to write")
    parser.add_argument("--weights", default=",".join(str(w) for w in DEFAULT_WEIGHTS),
                        help="comma-separated weights to try (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32)


def run(args: argparse.Namespace) -> int:
    from .checkpoint import load_checkpoint
    from .dataset import read_dataset

    if args.split == "test":
        raise ValueError("choose the weight on the validation split, never on test")
    try:
        weights = sorted({float(w) for w in args.weights.split(",") if w.strip()})
    except ValueError as exc:
        raise ValueError(f"--weights must be comma-separated numbers, got {args.weights!r}") \
            from exc
    if not weights or min(weights) < 0:
        raise ValueError("--weights needs at least one weight, all >= 0")
    model, stats, _ = load_checkpoint(args.checkpoint)
    parts = {}
    for folder in args.data:
        clips = read_dataset(folder, split=args.split).clips
        if len(clips) < 2:
            raise ValueError(f"{folder}: split {args.split!r} has {len(clips)} clips; need 2+")
        local, whole = score_parts(model, stats, clips, args.batch_size)
        parts[Path(folder).name] = (local, whole, [c.captions[0] for c in clips])
    rows = sweep(parts, weights)
    chosen = choose(rows)
    print(format_table(rows, chosen))
    selection = {"split": args.split, "data": [str(Path(d)) for d in args.data],
                 "chosen": chosen, "table": rows}
    out = write_hybrid(args.checkpoint, args.out, chosen, selection)
    print(f"wrote {out} with model.whole_clip_weight = {chosen}")
    return 0
