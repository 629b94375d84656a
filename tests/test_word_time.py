"""Words that know when: `model.word_time` (phase + gate per word, relative time per patch)."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from demo_fixtures import STATS, clips, encode_whole
from train_fixtures import fit_steps

from motion_retrieval.config import ModelConfig, TrainConfig, apply_overrides, tiny
from motion_retrieval.losses import word_time_loss
from motion_retrieval.model import RetrievalModel, block_times, patch_times, time_code
from motion_retrieval.train import TrainSet, grounding_targets


def _when_model(seed: int = 0) -> RetrievalModel:
    torch.manual_seed(seed)
    model = RetrievalModel(dataclasses.replace(tiny().model, word_time=True)).eval()
    with torch.no_grad():  # phases and gates that differ from word to word
        torch.nn.init.normal_(model.word_time_head.weight, std=0.5)
    return model


def _motion(blocks: list[int], seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(blocks), 224, 29, generator=g)
    bm = torch.zeros(len(blocks), 14, dtype=torch.bool)
    for i, n in enumerate(blocks):
        bm[i, :n] = True
        x[i, n * 16:] = 0
    return x, bm


def test_block_and_patch_times_are_places_in_the_real_frames():
    bm = torch.zeros(2, 14, dtype=torch.bool)
    bm[0, :3] = True
    bm[1] = True
    t = block_times(bm)
    np.testing.assert_allclose(t[0, :4].numpy(), [1 / 6, 1 / 2, 5 / 6, 0], atol=1e-6)
    np.testing.assert_allclose(t[1].numpy(), (np.arange(14) + 0.5) / 14, atol=1e-6)
    pt = patch_times(bm.repeat_interleave(14, dim=1))
    assert pt.shape == (2, 196)
    # patch p is time block p // 14, whatever its body part
    assert torch.equal(pt[0, 14:28], torch.full((14,), 0.5))
    assert torch.equal(pt[0, 42:], torch.zeros(196 - 42))


def test_time_codes_compare_by_the_cosine_of_the_time_difference():
    a, b = torch.rand(50), torch.rand(50)
    dots = (time_code(a) * time_code(b)).sum(-1)
    np.testing.assert_allclose(dots.numpy(), torch.cos(math.pi * (a - b)).numpy(), atol=1e-6)
    assert float((time_code(torch.tensor(0.0)) * time_code(torch.tensor(1.0))).sum()) == \
        pytest.approx(-1.0)


def test_a_word_patch_score_is_its_cosine_plus_the_gated_time_match():
    model = _when_model()
    x, bm = _motion([14, 4])
    texts = ["a person walks and then jumps", "someone jumps after walking"]
    with torch.no_grad():
        m_emb, m_mask = model.encode_motion(x, bm)
        batch = model.tokenize(texts)
        hidden, valid = model.text_features(batch)
        t_emb, t_mask = model.project_text(hidden, valid)
        phase, gate = model.word_time(hidden)
        # The reference, built by hand from the two heads and the patch times.
        content_t = torch.nn.functional.normalize(model.text_projection(hidden), dim=-1)
        tokens, _ = model.motion_features(x, bm)
        content_m = torch.nn.functional.normalize(model.motion_projection(tokens), dim=-1)
        times = patch_times(m_mask)
    d = model.cfg.embed_dim
    assert model.score_dim == d + 2 == t_emb.shape[-1] == m_emb.shape[-1]
    assert float(gate.min()) >= 0 and 0 < float(phase.min()) <= float(phase.max()) < 1
    assert len({round(float(p), 3) for p in phase[0][valid[0]]}) > 3  # words differ
    for a in range(2):
        for b in range(2):
            sim = t_emb[a] @ m_emb[b].T
            ref = (content_t[a] @ content_m[b].T + gate[a][:, None]
                   * torch.cos(math.pi * (phase[a][:, None] - times[b][None, :])))
            np.testing.assert_allclose(sim.numpy(), ref.numpy(), atol=1e-5)
            # MaxSim over real patches only, mean over real words.
            rows = ref[valid[a]][:, m_mask[b]].max(1).values.mean()
            assert float(model.score(t_emb[a:a + 1], t_mask[a:a + 1], m_emb[b:b + 1],
                                     m_mask[b:b + 1])) == pytest.approx(float(rows), abs=1e-5)


def test_the_time_term_moves_a_word_to_the_patch_at_its_phase():
    # The same content everywhere: only the time term can choose the winning block.
    model = _when_model()
    d = model.cfg.embed_dim
    v = torch.nn.functional.normalize(torch.randn(d), dim=0)
    bm = torch.zeros(1, 14, dtype=torch.bool)
    bm[0, :10] = True
    mask = bm.repeat_interleave(14, dim=1)
    m = torch.cat([v.expand(1, 196, d), time_code(patch_times(mask))], -1)
    for phase in (0.05, 0.33, 0.72, 0.95):  # block centres are 0.05, 0.15, ..., 0.95
        t = torch.cat([v, 0.3 * time_code(torch.tensor(phase))])[None]
        best = int(model.similarity_maps(t, m[0], mask[0])[0].argmax()) // 14
        assert best == min(9, int(phase * 10)), (phase, best)


def test_word_time_loss_aims_each_word_at_its_phrase():
    bt = block_times(torch.tensor([[True] * 4 + [False] * 10]))  # 1/8, 3/8, 5/8, 7/8
    tt = torch.zeros(1, 3, 14, dtype=torch.bool)
    tt[0, 0, :2] = True  # the first half: target 1/4
    tt[0, 1, 2:4] = True  # the second half: target 3/4
    tt[0, 1, 7] = True  # a padding block does not count
    phase = torch.tensor([[0.25, 0.5, 0.9]])  # word 2 is not supervised
    assert float(word_time_loss(phase, tt, bt)) == pytest.approx((0 + 0.25 ** 2) / 2)
    assert float(word_time_loss(phase, torch.zeros_like(tt), bt)) == 0.0


def test_configs_check_word_time():
    with pytest.raises(ValueError, match="scorer=maxsim"):
        ModelConfig(word_time=True, scorer="global")
    with pytest.raises(ValueError, match="word_time=true"):
        TrainConfig(word_time_weight=1.0)
    cfg = apply_overrides(tiny(), ["model.word_time=true", "word_time_weight=2"])
    assert cfg.model.word_time and cfg.word_time_weight == 2.0


ORDERED = [("walks", "jumps", "a person walks, then jumps"),
           ("jumps", "walks", "a person jumps, then walks"),
           ("walks", "jumps", "a person jumps after it walks"),
           ("jumps", "walks", "a person walks after it jumps")]


def _ordered_set() -> TrainSet:
    g = np.random.default_rng(0)
    caps, ground = [], []
    for first, second, cap in ORDERED:
        caps.append([cap])
        ground.append([[{"span": [cap.index(first), cap.index(first) + len(first)],
                         "parts": ["pelvis"], "frames": [0, 100]},
                        {"span": [cap.index(second), cap.index(second) + len(second)],
                         "parts": ["pelvis"], "frames": [124, 224]}]])
    n = len(caps)
    return TrainSet(x=g.standard_normal((n, 224, 29)).astype(np.float32),
                    block_mask=np.ones((n, 14), bool), n_frames=[224] * n, captions=caps,
                    grounding=ground, groups=[None] * n, source=["toy"] * n)


def test_training_teaches_words_when_they_happen():
    torch.manual_seed(0)
    cfg = apply_overrides(tiny(), ["mlm_weight=0", "mirror_prob=0", "model.word_time=true",
                                   "word_time_weight=20", "lr_head=1e-2"])
    model = RetrievalModel(cfg.model)
    model.freeze_text_layers(cfg.text_frozen_layers)  # as `train` does
    opt = torch.optim.AdamW(model.param_groups(cfg.lr_motion, cfg.lr_text, cfg.lr_head, 0.0))
    ts = _ordered_set()
    losses = fit_steps(model, cfg, ts, opt, 40, record="when")
    assert losses[-1] < 0.25 * losses[0], losses
    model.eval()
    batch = model.tokenize([c[0] for c in ts.captions])
    with torch.no_grad():
        phase, _ = model.word_time(model.text_features(batch)[0])
    for i, (first, second, _) in enumerate(ORDERED):
        toks = batch["tokens"][i]
        assert phase[i, toks.index(first)] < phase[i, toks.index(second)], (i, toks)
    # the targets come from the phrases' frames, exactly as in training
    _, tim = grounding_targets(batch["tokens"], [c[0] for c in ts.captions],
                               [g[0] for g in ts.grounding], ts.n_frames, phase.shape[1])
    assert int(tim.any(-1).sum()) == 2 * len(ORDERED)


def test_checkpoint_index_and_search_keep_the_time_term(tmp_path):
    from demo.search import Searcher
    from motion_retrieval.checkpoint import load_checkpoint, save_checkpoint
    from motion_retrieval.features import motion_to_input
    from motion_retrieval.index import build_index

    model = _when_model()
    path = save_checkpoint(tmp_path / "ck", model, STATS, {}, text_fp16=False)
    back, _, _ = load_checkpoint(path)
    assert back.cfg.word_time and back.score_dim == model.score_dim
    assert torch.equal(back.word_time_head.weight, model.word_time_head.weight)
    cs = clips(5)
    query = "a person walks forward, then jumps"
    index = build_index(back, STATS, cs)
    assert index.dim == back.score_dim
    hits = Searcher(back, STATS, index).search_text(query, k=len(cs)).hits
    got = np.array([h.score for h in sorted(hits, key=lambda h: h.index)])
    xs, bms = zip(*[motion_to_input(c.joints, STATS)[:2] for c in cs])
    with torch.inference_mode():
        m, mm = back.encode_motion(torch.tensor(np.stack(xs)), torch.tensor(np.stack(bms)))
        t, tm, _ = back.encode_text([query])
        ref = back.score(t, tm, m, mm)[0].numpy()
    np.testing.assert_allclose(got, ref, atol=2e-3)
    # An index built by a model without the time term is refused with a clear message.
    plain = RetrievalModel(tiny().model)
    with pytest.raises(ValueError, match="rebuild the index"):
        Searcher(plain, STATS, index)


def test_the_demo_reports_where_the_sentence_places_each_word():
    import json

    from demo.payload import text_payload
    from demo.search import Searcher
    from motion_retrieval.index import build_index
    from motion_retrieval.model import decode_time

    model = _when_model()
    cs = clips(4)
    searcher = Searcher(model, STATS, build_index(model, STATS, cs))
    query = "a person walks forward, then jumps"
    result = searcher.search_text(query, k=2)
    with torch.no_grad():
        batch = model.tokenize([query])
        phase, gate = model.word_time(model.text_features(batch)[0])
    rows = batch["valid"][0]
    np.testing.assert_allclose(result.when[:, 0], phase[0][rows].numpy(), atol=1e-5)
    np.testing.assert_allclose(result.when[:, 1], gate[0][rows].numpy(), atol=1e-5)
    t = torch.rand(20)
    back, g = decode_time(0.7 * time_code(t))
    np.testing.assert_allclose(back.numpy(), t.numpy(), atol=1e-5)
    np.testing.assert_allclose(g.numpy(), 0.7, atol=1e-6)
    payload = json.loads(json.dumps(text_payload(result, searcher.index)))
    assert len(payload["when"]) == len(payload["words"]) == len(result.words)
    w = result.words[-1]  # "jumps"
    assert payload["when"][-1]["phase"] == pytest.approx(float(phase[0][rows][w.tokens].mean()),
                                                         abs=1e-3)
    from demo.payload import api_result, summary_markdown

    api = api_result(payload)["results"][0]["words"]
    assert [w["when"] for w in api] == payload["when"]
    assert "% of the clip" in summary_markdown(payload)
    # Models without the time term say nothing about it.
    plain = RetrievalModel(tiny().model)
    plain_search = Searcher(plain, STATS, build_index(plain, STATS, cs)).search_text(query, k=1)
    assert plain_search.when is None
    plain_payload = text_payload(plain_search, searcher.index)
    assert plain_payload["when"] is None
    assert all("when" not in w for w in api_result(plain_payload)["results"][0]["words"])
    assert "% of the clip" not in summary_markdown(plain_payload)


def test_a_hybrid_model_with_word_time_searches_with_its_own_score():
    from demo_fixtures import tiny_model

    from demo.search import Searcher
    from motion_retrieval.index import build_index

    model = tiny_model(whole_clip_weight=1.0, word_time=True)
    cs = clips(5)
    index = build_index(model, STATS, cs)
    assert index.dim == model.score_dim and index.whole.shape[1] == model.cfg.embed_dim
    searcher = Searcher(model, STATS, index)
    query = "someone jumps, then walks forward"
    hits = searcher.search_text(query, k=len(cs)).hits
    t, tm, tw, m, mm, mw = encode_whole(model, cs, [query])
    with torch.inference_mode():
        ref = model.score(t, tm, m, mm, t_whole=tw, m_whole=mw)[0].numpy()
    got = np.array([h.score for h in sorted(hits, key=lambda h: h.index)])
    np.testing.assert_allclose(got, ref, atol=2e-3)
    for h in hits:  # the maps still explain the MaxSim part exactly
        assert h.maxsim == pytest.approx(h.maps.max(1).mean(), abs=1e-4)
    cap, score, _ = searcher.search_motion(cs[1].joints, k=1).captions[0]
    with torch.inference_mode():
        t, tm, _, tw = model.encode_text_whole([cap])
        want = model.score(t, tm, m[1:2], mm[1:2], t_whole=tw, m_whole=mw[1:2])
    assert score == pytest.approx(float(want), abs=2e-3)
