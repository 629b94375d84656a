"""Training: batches, targets, losses falling, the train command end to end, resuming."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from train_fixtures import fit_steps

from motion_retrieval.cli import main
from motion_retrieval.config import apply_overrides, tiny
from motion_retrieval.dataset import Clip, write_dataset
from motion_retrieval.model import RetrievalModel
from motion_retrieval.skeleton import JOINT_INDEX, rest_pose
from motion_retrieval.train import (
    TrainSet,
    grounding_targets,
    mirror_grounded,
    train_step,
)

MOVERS = [("l_wrist", "the left hand"), ("r_wrist", "the right hand"),
          ("l_ankle", "the left foot"), ("r_ankle", "the right foot"), ("head", "the head")]


def _clip(k: int, joint: str, what: str, n: int) -> Clip:
    t = np.arange(n) / 20.0
    j = np.repeat(rest_pose()[None], n, axis=0)
    j[:, JOINT_INDEX[joint], 1] += 0.15 * np.sin(2 * np.pi * (0.5 + 0.2 * k) * t)
    cap = f"a person moves {what} {['slowly', 'quickly', 'twice'][k % 3]}"
    c0 = cap.index(what)
    parts = {"l_wrist": ["l_shoulder", "l_elbow"], "r_wrist": ["r_shoulder", "r_elbow"],
             "l_ankle": ["l_ankle"], "r_ankle": ["r_ankle"], "head": ["neck"]}[joint]
    ground = [[{"span": [c0, c0 + len(what)], "text": what, "parts": parts,
                "frames": [0, n]}]]
    return Clip(id=f"c{k:02d}", joints=j.astype(np.float32), captions=[cap],
                labels={"group": joint.split("_")[-1]}, grounding=ground)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    clips = [_clip(k, *MOVERS[k % 5], n=40 + 7 * k) for k in range(15)]
    ids = [c.id for c in clips]
    root = tmp_path_factory.mktemp("data")
    return write_dataset(root, clips, {"train": ids[:10], "val": ids[10:], "test": []})


def test_mirror_grounded_moves_spans_and_parts():
    cap = "wave the left hand, then the right foot"
    ph = [{"span": [5, 18], "text": "the left hand", "parts": ["left_arm"], "frames": [0, 9]},
          {"span": [25, 39], "text": "the right foot", "parts": ["r_ankle"]}]
    out, new = mirror_grounded(cap, ph)
    assert out == "wave the right hand, then the left foot"
    assert [out[a:b] for a, b in (p["span"] for p in new)] == ["the right hand", "the left foot"]
    assert new[0]["parts"] == ["right_arm"] and new[1]["parts"] == ["l_ankle"]
    assert new[0]["frames"] == [0, 9]


def test_grounding_targets_mark_content_words():
    model = RetrievalModel(tiny().model)
    cap = "a person raises the left hand"
    batch = model.tokenize([cap])
    ph = [[{"span": [19, 29], "text": "left hand", "parts": ["l_shoulder", "l_elbow"],
            "frames": [16, 40]}]]
    part, tim = grounding_targets(batch["tokens"], [cap], ph, [100], batch["valid"].shape[1])
    toks = batch["tokens"][0]
    marked = [toks[i] for i in range(len(toks)) if part[0, i].any()]
    assert marked == ["left", "hand"]
    l = toks.index("left")
    assert part[0, l].nonzero().flatten().tolist() == [11, 13]
    assert tim[0, l].nonzero().flatten().tolist() == [1, 2]


def _toy_set(n: int = 8) -> TrainSet:
    g = np.random.default_rng(0)
    x = g.standard_normal((n, 224, 29)).astype(np.float32)
    return TrainSet(x=x, block_mask=np.ones((n, 14), bool), n_frames=[224] * n,
                    captions=[[f"motion number {w}"] for w in
                              ("one", "two", "three", "four", "five", "six", "seven", "eight")],
                    grounding=[[[]] for _ in range(n)], groups=[None] * n, source=["toy"] * n)


def test_loss_falls_when_overfitting():
    torch.manual_seed(0)
    cfg = apply_overrides(tiny(), ["mlm_weight=0", "mirror_prob=0", "lr_head=3e-3",
                                   "lr_motion=1e-3"])
    model = RetrievalModel(cfg.model)
    model.freeze_text_layers(6)  # heads and motion side only: keeps the test fast
    opt = torch.optim.AdamW(model.param_groups(cfg.lr_motion, cfg.lr_text, cfg.lr_head, 0.0))
    ts, rng = _toy_set(), np.random.default_rng(0)
    idx = list(range(8))
    import contextlib
    losses = []
    for _ in range(12):
        out = train_step(model, cfg, ts, idx, rng, torch.device("cpu"), contextlib.nullcontext())
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["nce"].detach()))
    assert losses[-1] < 0.5 * losses[0], losses


def test_faithful_terms_run_and_report(data_dir):
    from motion_retrieval.train import build_set, clip_angles, read_clips

    clips, src = read_clips([str(data_dir)], "train")
    stats = {"mean": np.zeros(29, np.float32), "std": np.full(29, 30.0, np.float32)}
    ts = build_set(clips, src, clip_angles(clips, "t"), stats, mirror=True)
    assert ts.x_mirror is not None and ts.groups[0] == "wrist"
    cfg = apply_overrides(tiny(), ["grounding_weight=1", "token_diversity_weight=1",
                                   "model.part_identity=both", "mirror_prob=0.5"])
    model = RetrievalModel(cfg.model)
    import contextlib
    out = train_step(model, cfg, ts, list(range(6)), np.random.default_rng(0),
                     torch.device("cpu"), contextlib.nullcontext())
    assert {"nce", "mlm", "div", "ground", "loss"} <= set(out)
    assert float(out["ground"].detach()) > 0
    out["loss"].backward()
    assert model.motion.part_embed.grad is not None


def test_global_aux_loss_reaches_every_real_patch(data_dir):
    """MaxSim's max sends a word's gradient to one patch; the auxiliary pooled loss reaches all."""
    import contextlib

    from motion_retrieval.train import build_set, clip_angles, read_clips

    clips, src = read_clips([str(data_dir)], "train")
    stats = {"mean": np.zeros(29, np.float32), "std": np.full(29, 30.0, np.float32)}
    ts = build_set(clips, src, clip_angles(clips, "t"), stats, mirror=False)
    grads = {}
    for w in (0.0, 1.0):
        torch.manual_seed(0)
        cfg = apply_overrides(tiny(), [f"global_aux_weight={w}", "mlm_weight=0",
                                       "model.global_aux=true"])
        model = RetrievalModel(cfg.model)
        out = train_step(model, cfg, ts, list(range(6)), np.random.default_rng(0),
                         torch.device("cpu"), contextlib.nullcontext())
        assert ("aux" in out) == (w > 0)
        tokens = []

        def keep(mod, inp, o, tokens=tokens):
            o.retain_grad()
            tokens.append(o)

        model.motion.register_forward_hook(keep)
        out = train_step(model, cfg, ts, list(range(6)), np.random.default_rng(0),
                         torch.device("cpu"), contextlib.nullcontext())
        out["loss"].backward()
        g = tokens[0].grad.norm(dim=-1)  # (B, 196)
        real = torch.from_numpy(ts.block_mask[:6]).repeat_interleave(14, dim=1)
        grads[w] = (g[real] > 0).float().mean().item()
        assert float(g[~real].abs().max()) == 0.0  # padding patches never get a gradient
    assert grads[1.0] == 1.0 and grads[0.0] < 1.0, grads


def test_mixed_precision_step_matches_float32(data_dir):
    """The bf16 autocast that CUDA training uses, run here through CPU autocast (no GPU in CI):
    every loss term and the backward pass work in mixed precision and agree with float32."""
    from motion_retrieval.train import amp_context, build_set, clip_angles, read_clips

    assert amp_context(torch.device("cpu"), True).__class__.__name__ == "nullcontext"
    assert amp_context(torch.device("cuda"), False).__class__.__name__ == "nullcontext"
    clips, src = read_clips([str(data_dir)], "train")
    stats = {"mean": np.zeros(29, np.float32), "std": np.full(29, 30.0, np.float32)}
    ts = build_set(clips, src, clip_angles(clips, "t"), stats, mirror=False)
    cfg = apply_overrides(tiny(), ["grounding_weight=1", "token_diversity_weight=1",
                                   "model.global_aux=true", "global_aux_weight=1",
                                   "model.part_identity=part_embed"])
    import contextlib
    results = {}
    for name, ctx in (("fp32", contextlib.nullcontext()),
                      ("bf16", torch.autocast("cpu", dtype=torch.bfloat16))):
        torch.manual_seed(0)
        model = RetrievalModel(cfg.model)
        out = train_step(model, cfg, ts, list(range(6)), np.random.default_rng(0),
                         torch.device("cpu"), ctx)
        out["loss"].backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads), name
        results[name] = {k: float(v.detach()) for k, v in out.items()
                         if torch.is_tensor(v) and v.ndim == 0}
    assert {"nce", "aux", "ground", "div", "mlm"} <= set(results["bf16"])
    for k, v in results["fp32"].items():
        assert results["bf16"][k] == pytest.approx(v, rel=0.05, abs=0.02), k


def test_train_command_end_to_end_and_resume(data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["train", "--data", str(data_dir), "--config", "tiny", "--out", str(run),
            "--set", "batch_size=4", "--set", "hard_negative_batches=true",
            "--set", "grounding_weight=0.5", "--set", "mlm_weight=0",
            "--set", "text_frozen_layers=6", "--device", "cpu"]
    assert main(argv) == 0
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2]
    assert "val_t2m_R@1" in log[0] and log[0]["samples_per_s"] > 0
    assert "val_ground_part_data0" in log[0] and log[0]["train_ground"] > 0
    assert (run / "best" / "model.safetensors").exists()
    best_meta = json.loads((run / "best" / "config.json").read_text())["meta"]
    assert best_meta["val"]["val_rsum"] == max(r["val_rsum"] for r in log)
    # resume with a longer schedule: only the new epoch runs
    assert main(argv + ["--resume", "--set", "epochs=3"]) == 0
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3]
    saved = json.loads((run / "last" / "train_state.json").read_text())
    assert saved["epoch"] == 2 and saved["step"] == log[-1]["step"] > log[1]["step"]


def test_restrict_grounding_keeps_only_named_folders():
    from motion_retrieval.train import restrict_grounding

    ts = _toy_set()
    ts.source = ["syn"] * 4 + ["bandai"] * 4
    ts.grounding = [[[{"span": [0, 1], "parts": ["neck"]}]] for _ in range(8)]
    restrict_grounding(ts, "syn")
    assert [bool(g) for g in ts.grounding] == [True] * 4 + [False] * 4
    with pytest.raises(ValueError, match="not among the training folders"):
        restrict_grounding(ts, "kit")


def _one_part_set(freq: float) -> TrainSet:
    """Clips in which one body part moves and the rest stay still, captioned by that part."""
    from motion_retrieval.skeleton import BODY_PARTS, PART_COLUMNS, PART_LABELS

    parts = ["l_elbow", "r_elbow", "l_knee", "r_knee", "neck", "l_shoulder", "r_shoulder"]
    n, t = len(parts), np.arange(224) / 20.0
    x = np.zeros((n, 224, 29), np.float32)
    caps, ground = [], []
    for i, p in enumerate(parts):
        x[i, :, PART_COLUMNS[p]] = 2 * np.sin(2 * np.pi * (freq + 0.1 * i) * t)[:, None]
        word = PART_LABELS[BODY_PARTS.index(p)]
        caps.append([f"the {word} moves"])
        ground.append([[{"span": [4, 4 + len(word)], "text": word, "parts": [p]}]])
    return TrainSet(x=x, block_mask=np.ones((n, 14), bool), n_frames=[224] * n, captions=caps,
                    grounding=ground, groups=[None] * n, source=["toy"] * n)


@pytest.mark.slow
def test_grounded_training_points_words_at_the_moving_part():
    from motion_retrieval.skeleton import BODY_PARTS
    from motion_retrieval.train import build_optimizer, phrase_words

    torch.manual_seed(0)
    cfg = apply_overrides(tiny(), ["mlm_weight=0", "mirror_prob=0", "grounding_weight=1",
                                   "model.part_identity=part_embed", "text_frozen_layers=6",
                                   "lr_motion=1e-3", "lr_head=3e-3"])
    model = RetrievalModel(cfg.model)
    opt = build_optimizer(model, cfg)
    fit_steps(model, cfg, _one_part_set(0.4), opt, 14)
    model.eval()
    test = _one_part_set(0.65)  # motions it has not seen
    with torch.no_grad():
        m_emb, m_mask = model.encode_motion(torch.from_numpy(test.x),
                                            torch.ones(len(test), 14, dtype=torch.bool))
        t_emb, _, tokens = model.encode_text([c[0] for c in test.captions])
    hits, total = 0, 0
    for i in range(len(test)):
        sim = model.similarity_maps(t_emb[i], m_emb[i], m_mask[i])
        want = BODY_PARTS.index(test.grounding[i][0][0]["parts"][0])
        for w in phrase_words(test.captions[i][0], tokens[i], test.grounding[i][0][0]["span"]):
            hits += int(sim[w].mean(0).argmax()) % 14 == want
            total += 1
    # chance is 1/14; the issue asks for >= 0.7 on real data
    assert total >= 12 and hits / total >= 0.7, (hits, total)
