"""Hybrid scores (MaxSim + whole-clip cosine): the model's score, the weight sweep on validation,
the checkpoint it writes, evaluation and the CLI."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from demo_fixtures import ROOT, STATS, clips, encode_whole, tiny_model

from motion_retrieval.checkpoint import load_checkpoint, save_checkpoint
from motion_retrieval.config import ModelConfig, get_config
from motion_retrieval.dataset import write_dataset
from motion_retrieval.evaluate import evaluate_checkpoint
from motion_retrieval.features import motion_to_input
from motion_retrieval.hybrid import choose, combine, score_parts, sweep, write_hybrid
from motion_retrieval.metrics import retrieval_metrics
from motion_retrieval.model import maxsim


def test_hybrid_score_is_maxsim_mixed_with_the_whole_clip_cosine():
    model = tiny_model(whole_clip_weight=0.5)
    cs = clips(5)
    t, tm, tw, m, mm, mw = encode_whole(model, cs, [c.captions[0] for c in cs])
    assert tw.shape == mw.shape == (5, model.cfg.embed_dim)
    np.testing.assert_allclose(mw.norm(dim=1).numpy(), 1, atol=1e-5)
    # The whole-clip vectors are the auxiliary heads on mean-pooled tokens, by hand.
    xs, bms = zip(*[motion_to_input(c.joints, STATS)[:2] for c in cs])
    with torch.inference_mode():
        tok, mask = model.motion_features(torch.tensor(np.stack(xs)), torch.tensor(np.stack(bms)))
        pooled = (tok * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        ref_mw = torch.nn.functional.normalize(model.aux_motion_projection(pooled), dim=-1)
        np.testing.assert_allclose(mw.numpy(), ref_mw.numpy(), atol=1e-5)
        got = model.score(t, tm, m, mm, t_whole=tw, m_whole=mw).numpy()
    local = maxsim(t, tm, m, mm).numpy()
    ref = (local + 0.5 * (tw @ mw.T).numpy()) / 1.5
    np.testing.assert_allclose(got, ref, atol=1e-6)
    assert not np.allclose(got, local, atol=1e-3)  # the whole-clip part changes the numbers
    with pytest.raises(ValueError, match="t_whole and m_whole"):
        model.score(t, tm, m, mm)


def test_whole_clip_cosine_splits_exactly_over_the_caption_tokens():
    model = tiny_model(whole_clip_weight=1.0)
    cs = clips(3)
    texts = ["a person waves the left hand, then walks", "runs"]  # padding in the second
    t, tm, tw, m, mm, mw = encode_whole(model, cs, texts)
    with torch.inference_mode():
        hidden, mask = model.text_features(model.tokenize(texts))
        z = model.text_whole_tokens(hidden, mask)
    assert z.shape == (2, mask.shape[1], model.cfg.embed_dim)
    assert (z[~mask] == 0).all()  # [CLS], [SEP] and padding take no share
    np.testing.assert_allclose(z.sum(1).numpy(), tw.numpy(), atol=1e-5)
    shares = torch.einsum("bld,nd->bln", z, mw)  # per token and clip
    np.testing.assert_allclose(shares.sum(1).numpy(), (tw @ mw.T).numpy(), atol=1e-5)
    assert (shares[0, mask[0]].std(0) > 0).all()  # not an even split


def test_plain_models_have_no_whole_vectors():
    model = tiny_model()
    cs = clips(2)
    *_, tw, m, mm, mw = encode_whole(model, cs, ["walks", "runs"])
    assert tw is None and mw is None


@pytest.mark.parametrize("fields, message", [
    ({"whole_clip_weight": -1.0}, ">= 0"),
    ({"whole_clip_weight": 1.0}, "global_aux"),
    ({"whole_clip_weight": 1.0, "global_aux": True, "scorer": "global"}, "MaxSim models"),
])
def test_bad_whole_clip_weights_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**fields)


def test_sweep_picks_the_weight_that_ranks_best_and_the_smaller_on_ties():
    # 4 queries; MaxSim alone ranks query 0 and 1 wrong, the whole-clip part fixes them.
    local = np.eye(4) * 0.5 + 0.2
    local[0, 1] = local[1, 0] = 0.9
    whole = np.eye(4)
    queries = ["a", "b", "c", "d"]
    rows = sweep({"x": (local, whole, queries)}, [0.0, 1.0, 2.0])
    assert rows[0]["x/t2m_R@1"] == 50.0 and rows[1]["x/t2m_R@1"] == 100.0
    assert rows[1]["mean_rsum"] == rows[2]["mean_rsum"] == 100.0
    assert choose(rows) == 1.0  # 1 and 2 tie: the smaller keeps more of the score explained
    np.testing.assert_allclose(combine(local, whole, 1.0), (local + whole) / 2)
    # With two folders the mean decides.
    rows = sweep({"x": (local, whole, queries), "y": (np.eye(4), -np.eye(4), queries)},
                 [0.0, 1.0])
    assert rows[0]["mean_rsum"] == pytest.approx((rows[0]["x/rsum"] + rows[0]["y/rsum"]) / 2)


@pytest.fixture(scope="module")
def hybrid_setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hybrid")
    cfg = get_config("tiny").model
    cfg.global_aux = True
    from motion_retrieval.model import RetrievalModel
    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp / "ckpt", RetrievalModel(cfg).eval(), STATS)
    cs = clips(12)
    ids = [c.id for c in cs]
    data = write_dataset(tmp / "data", cs, {"train": ids[:2], "val": ids[2:], "test": []})
    return tmp, ckpt, data, cs[2:]


def test_write_hybrid_sets_the_weight_and_evaluation_uses_it(hybrid_setup):
    tmp, ckpt, _, val = hybrid_setup
    model, stats, _ = load_checkpoint(ckpt)
    local, whole = score_parts(model, stats, val)
    out = write_hybrid(ckpt, tmp / "h", 0.75, {"split": "val", "chosen": 0.75})
    hybrid, _, meta = load_checkpoint(out)
    assert hybrid.cfg.whole_clip_weight == 0.75 and meta["whole_clip_selection"]["chosen"] == 0.75
    assert load_checkpoint(ckpt)[0].cfg.whole_clip_weight == 0.0  # the source is untouched
    # evaluate scores with the hybrid score: the same ranks as combine() over score_parts().
    res = evaluate_checkpoint(hybrid, stats, val, protocols=["all"], grounding=False)
    ref = retrieval_metrics(combine(local, whole, 0.75), [c.captions[0] for c in val])
    assert res["all"]["t2m"]["R@1"] == pytest.approx(ref["t2m"]["R@1"])
    assert res["all"]["t2m"]["MeanR"] == pytest.approx(ref["t2m"]["MeanR"])
    plain = retrieval_metrics(local, [c.captions[0] for c in val])
    assert plain["t2m"]["MeanR"] != pytest.approx(ref["t2m"]["MeanR"])  # the test can tell
    with pytest.raises(ValueError, match="not empty"):
        write_hybrid(ckpt, out, 1.0, {})


def test_hybrid_needs_whole_clip_heads(hybrid_setup):
    _, _, _, val = hybrid_setup
    with pytest.raises(ValueError, match="auxiliary whole-clip heads"):
        score_parts(tiny_model(), STATS, val)


def test_hybrid_command_chooses_on_validation_and_refuses_test(hybrid_setup):
    tmp, ckpt, data, _ = hybrid_setup
    cmd = [sys.executable, "-m", "motion_retrieval", "hybrid", "--checkpoint", str(ckpt),
           "--data", str(data), "--weights", "0,0.5,2"]
    out = subprocess.run(cmd + ["--out", str(tmp / "cli")], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "<- chosen" in out.stdout
    config = json.loads((tmp / "cli" / "config.json").read_text())
    selection = config["meta"]["whole_clip_selection"]
    assert [r["weight"] for r in selection["table"]] == [0.0, 0.5, 2.0]
    assert config["model"]["whole_clip_weight"] == selection["chosen"] == choose(selection["table"])
    bad = subprocess.run(cmd + ["--split", "test", "--out", str(tmp / "t")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "never on test" in bad.stderr and "Traceback" not in bad.stderr
