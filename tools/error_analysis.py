"""Where a model's top-1 misses go on the procedural test split, and its clip-length bias.

    python tools/error_analysis.py runs/faithful_e6/best runs/global_e6/best [--data data/synthetic]

For each query (a clip's first caption) the top-1 motion is put in one bucket: the same caption
(a hit), the same content and side (other wording), the other side, the same actions in another
order, the same actions with other counts, another clip of the same labels.json group, or
another content. Also printed: the correlation of each motion's mean score (a column of the
score matrix) with its number of real time blocks, and, for MaxSim models, R@1 when only the
content words of the query are scored (the evaluation's `content_words`).
"""
from __future__ import annotations

import argparse
import collections
import json
import re
import sys
from pathlib import Path

import numpy as np
import torch

# Run as a script from anywhere: the package is the repository itself, not an installed one.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from motion_retrieval.checkpoint import load_checkpoint
from motion_retrieval.metrics import retrieval_metrics
from motion_retrieval.text_alignment import content_words, word_token_groups
from motion_retrieval.train import build_set, clip_angles, read_clips


def _sideless(actions: list[str]) -> list[str]:
    return [re.sub(r"_(left|right)(?=_|$)", "_SIDE", x) for x in actions]


def bucket(a: dict, b: dict, same_caption: bool) -> str:
    # The action names carry the side ("kick_left_x2"), so the same content is the same side.
    if same_caption:
        return "hit"
    if a["content"] == b["content"]:
        return "same content, other wording"
    if _sideless(a["actions"]) == _sideless(b["actions"]):
        return "other side"
    if sorted(a["actions"]) == sorted(b["actions"]):
        return "other order"
    base = [x.split("_x")[0] for x in a["actions"]]
    if base == [x.split("_x")[0] for x in b["actions"]]:
        return "other count"
    return "same group, other" if a.get("group") == b.get("group") else "other content"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--data", default="data/synthetic")
    args = p.parse_args()
    labels = json.loads((Path(args.data) / "labels.json").read_text())
    clips, src = read_clips([args.data], "test")
    for ckpt in args.checkpoints:
        model, stats, _ = load_checkpoint(ckpt, "cpu")
        model.eval()
        ts = build_set(clips, src, clip_angles(clips, "angles"), stats, mirror=False)
        texts = [c[0] for c in ts.captions]
        with torch.no_grad():
            m_emb, m_mask, m_whole = model.encode_motion_whole(torch.from_numpy(ts.x),
                                                               torch.from_numpy(ts.block_mask))
            t_emb, t_mask, tokens, t_whole = model.encode_text_whole(texts)
            wholes = {"t_whole": t_whole, "m_whole": m_whole}  # None unless hybrid
            scores = model.score(t_emb, t_mask, m_emb, m_mask, **wholes).numpy()
        top = scores.argmax(1)
        counts = collections.Counter(
            bucket(labels[ts.ids[i]], labels[ts.ids[j]], texts[i] == texts[j])
            for i, j in enumerate(top))
        blocks = ts.block_mask.sum(1)
        out = {"checkpoint": ckpt, "queries": len(texts), "top1": dict(counts.most_common()),
               "length_bias": float(np.corrcoef(scores.mean(0), blocks)[0, 1]),
               "t2m_R@1": retrieval_metrics(scores, texts)["t2m"]["R@1"]}
        if model.cfg.scorer == "maxsim":
            keep = torch.zeros_like(t_mask)
            for i, caption in enumerate(texts):
                for w in content_words(word_token_groups(caption, tokens[i])):
                    keep[i, w.tokens] = True
            with torch.no_grad():
                s2 = model.score(t_emb, keep & t_mask, m_emb, m_mask, **wholes).numpy()
            out["t2m_R@1_content_words_only"] = retrieval_metrics(s2, texts)["t2m"]["R@1"]
        print(json.dumps(out))


if __name__ == "__main__":
    main()
