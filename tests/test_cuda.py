"""CUDA: bf16 autocast training steps, CUDA-vs-CPU scores, device choice.

The GPU tests skip where torch sees no CUDA device (CI); tools/device/gpu_check.sh runs this
file on the GPU machine with `--noconftest`, so it must not use conftest.py fixtures (that
machine may lack hypothesis). amp_context's no-op on the CPU is tested in test_train.py.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from motion_retrieval.config import apply_overrides, tiny
from motion_retrieval.model import RetrievalModel
from motion_retrieval.train import (
    TrainSet,
    amp_context,
    build_optimizer,
    device_line,
    pick_device,
    train_step,
)

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA device (torch.cuda.is_available() is False)")

CAPTIONS = ["a person walks forward", "someone waves the left hand",
            "a person jumps on the right foot", "the man kneels down",
            "a person turns around", "someone raises both arms",
            "a person kicks with the left foot", "the woman sits down"]


def _toy_set(n: int = 8) -> TrainSet:
    """Random z-scored inputs of varied lengths, one caption each, one grounded phrase each."""
    g = np.random.default_rng(0)
    x = g.standard_normal((n, 224, 29)).astype(np.float32)
    blocks = [14, 9, 5, 12, 14, 3, 7, 11][:n]
    bm = np.zeros((n, 14), bool)
    for i, b in enumerate(blocks):
        bm[i, :b] = True
        x[i, b * 16:] = 0.0
    grounding = []
    for cap in CAPTIONS[:n]:
        word = cap.split()[-1]
        c0 = cap.index(word)
        grounding.append([[{"span": [c0, c0 + len(word)], "text": word,
                            "parts": ["l_ankle", "r_ankle"], "frames": [0, 40]}]])
    return TrainSet(x=x, block_mask=bm, n_frames=[16 * b for b in blocks],
                    captions=[[c] for c in CAPTIONS[:n]], grounding=grounding,
                    groups=[None] * n, source=["toy"] * n)


def test_device_line_on_cpu():
    """The line train prints (gpu_check.sh's summary reads it): autocast is off on the CPU."""
    dev = torch.device("cpu")
    assert device_line(dev, amp_context(dev, True)) == "device cpu, bf16 autocast off"


@needs_cuda
def test_pick_device_auto_is_cuda():
    assert pick_device("auto").type == "cuda"
    assert pick_device("cuda").type == "cuda"


@needs_cuda
def test_train_steps_under_bf16_autocast_on_cuda():
    """The faithful recipe's loss terms in a tiny model: bf16 inside the context, finite loss
    and gradients, float32 weights, and the loss falls on a fixed batch."""
    dev = torch.device("cuda")
    amp = amp_context(dev, True)
    assert isinstance(amp, torch.autocast)
    assert device_line(dev, amp).endswith("bf16 autocast on")
    a = torch.randn(4, 4, device=dev)
    with amp:
        assert (a @ a).dtype == torch.bfloat16
    cfg = apply_overrides(tiny(), ["mirror_prob=0", "mlm_weight=0", "grounding_weight=0.5",
                                   "token_diversity_weight=0.1", "global_aux_weight=1",
                                   "model.part_identity=part_embed", "model.word_time=true",
                                   "word_time_weight=1", "lr_head=3e-3", "lr_motion=1e-3"])
    torch.manual_seed(0)
    model = RetrievalModel(cfg.model).to(dev).train()
    opt = build_optimizer(model, cfg)
    seen: dict[str, torch.dtype] = {}
    hooks = [getattr(model, name).register_forward_hook(
        lambda _m, _i, out, name=name: seen.__setitem__(name, out.dtype))
        for name in ("motion_projection", "text_projection")]
    ts, rng = _toy_set(), np.random.default_rng(0)
    losses = []
    for _ in range(15):
        out = train_step(model, cfg, ts, list(range(8)), rng, dev, amp)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(bool(torch.isfinite(g).all()) for g in grads)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(out["loss"].detach()))
    for h in hooks:
        h.remove()
    assert {"nce", "aux", "ground", "div", "when"} <= set(out)
    assert all(np.isfinite(losses)), losses
    assert seen == {"motion_projection": torch.bfloat16, "text_projection": torch.bfloat16}
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert losses[-1] < losses[0], losses


@needs_cuda
@pytest.mark.parametrize("tf32", [False, True])
def test_scores_on_cuda_match_cpu(tf32):
    """The same weights score the same on CUDA and the CPU (float32, no autocast). With TF32
    off the two agree to float32 rounding; with it on (cuDNN's default for the ViT's patch
    convolution, so what evaluation on CUDA does) to ~1e-3."""
    cfg = apply_overrides(tiny(), ["model.part_identity=part_embed", "model.word_time=true"])
    torch.manual_seed(0)
    model = RetrievalModel(cfg.model).eval()
    ts = _toy_set()
    x, bm = torch.from_numpy(ts.x), torch.from_numpy(ts.block_mask)
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
    scores = {}
    try:
        with torch.no_grad():
            for dev in ("cpu", "cuda"):
                model.to(dev)
                t_emb, t_mask, _ = model.encode_text(CAPTIONS)
                m_emb, m_mask = model.encode_motion(x.to(dev), bm.to(dev))
                assert t_emb.dtype == m_emb.dtype == torch.float32
                scores[dev] = model.score(t_emb, t_mask, m_emb, m_mask).cpu()
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
    assert scores["cpu"].shape == (8, 8)
    diff = float((scores["cuda"] - scores["cpu"]).abs().max())
    assert diff < (5e-3 if tf32 else 1e-4), diff
    # the same best motion wherever it leads by more than twice the tolerance
    top2 = scores["cpu"].topk(2, dim=1).values
    clear = (top2[:, 0] - top2[:, 1]) > 2 * (5e-3 if tf32 else 1e-4)
    assert clear.any()
    assert torch.equal(scores["cuda"].argmax(1)[clear], scores["cpu"].argmax(1)[clear])
