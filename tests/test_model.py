"""The retrieval model, its scores and losses, on tiny configs (no data needed)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from motion_retrieval.config import ModelConfig, TrainConfig, apply_overrides, get_config, tiny
from motion_retrieval.losses import (
    caption_positives,
    grounding_loss,
    info_nce,
    mask_tokens,
    token_diversity_loss,
)
from motion_retrieval.model import RetrievalModel, maxsim
from motion_retrieval.sampler import group_batches, random_batches


@pytest.fixture(scope="module")
def model() -> RetrievalModel:
    torch.manual_seed(0)
    return RetrievalModel(tiny().model).eval()


@pytest.fixture(scope="module")
def global_model() -> RetrievalModel:
    torch.manual_seed(0)
    return RetrievalModel(dataclasses.replace(tiny().model, scorer="global")).eval()


def _motion(b: int, blocks: list[int], seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 224, 29, generator=g)
    bm = torch.zeros(b, 14, dtype=torch.bool)
    for i, n in enumerate(blocks):
        bm[i, :n] = True
        x[i, n * 16:] = 0  # zero padding after the real frames, as to_model_input makes it
    return x, bm


def brute_maxsim(t, tm, m, mm, coverage: float = 0.0) -> torch.Tensor:
    out = torch.zeros(len(t), len(m))
    for a in range(len(t)):
        for b in range(len(m)):
            words = [i for i in range(t.shape[1]) if tm[a, i]]
            patches = [p for p in range(m.shape[1]) if mm[b, p]]
            vals = [max(float(t[a, i] @ m[b, p]) for p in patches) for i in words]
            out[a, b] = sum(vals) / len(vals) if vals else 0.0
            if coverage and words:
                per_patch = [max(float(t[a, i] @ m[b, p]) for i in words) for p in patches]
                out[a, b] = (out[a, b] + coverage * sum(per_patch) / len(per_patch)) / (
                    1 + coverage)
    return out


def test_motion_shapes_and_mask(model):
    x, bm = _motion(3, [14, 5, 1])
    with torch.no_grad():
        emb, mask = model.encode_motion(x, bm)
    assert emb.shape == (3, 196, 32) and mask.shape == (3, 196)
    assert torch.allclose(emb.norm(dim=-1), torch.ones(3, 196), atol=1e-5)
    # patch p is time block p // 14: clip 1 has 5 real blocks -> 70 valid patches, in front
    assert mask[0].all() and mask[1].sum() == 70 and mask[1, :70].all() and mask[2].sum() == 14


def test_motion_input_errors(model):
    with pytest.raises(ValueError, match=r"\(B, 224, 29\)"):
        model.encode_motion(torch.zeros(1, 200, 29), torch.ones(1, 14, dtype=torch.bool))
    with pytest.raises(ValueError, match="at least one time block"):
        model.encode_motion(torch.zeros(1, 224, 29), torch.zeros(1, 14, dtype=torch.bool))


def test_text_shapes_mask_and_tokens(model):
    texts = ["a person waves the left hand", "walk"]
    with torch.no_grad():
        emb, mask, tokens = model.encode_text(texts)
    assert emb.shape[0] == 2 and emb.shape[2] == 32 and mask.shape == emb.shape[:2]
    assert tokens[0][0] == "[CLS]" and "[SEP]" in tokens[0]
    valid = [tokens[0][i] for i in range(len(tokens[0])) if mask[0, i]]
    assert valid == ["a", "person", "waves", "the", "left", "hand"]
    assert [tokens[1][i] for i in range(len(tokens[1])) if mask[1, i]] == ["walk"]
    assert not mask[1, 3:].any()  # padding of the shorter caption
    assert torch.allclose(emb.norm(dim=-1), torch.ones(emb.shape[:2]), atol=1e-5)
    with pytest.raises(TypeError, match="list of captions"):
        model.encode_text("walk")


def test_maxsim_matches_brute_force():
    g = torch.Generator().manual_seed(1)
    t = torch.nn.functional.normalize(torch.randn(3, 5, 8, generator=g), dim=-1)
    m = torch.nn.functional.normalize(torch.randn(4, 12, 8, generator=g), dim=-1)
    tm = torch.rand(3, 5, generator=g) > 0.3
    tm[:, 0] = True
    mm = torch.rand(4, 12, generator=g) > 0.4
    mm[:, 0] = True
    fast = maxsim(t, tm, m, mm)
    assert torch.allclose(fast, brute_maxsim(t, tm, m, mm), atol=1e-5)
    # the chunked path (tiny chunks) gives the same numbers
    assert torch.allclose(maxsim(t, tm, m, mm, chunk=7), fast, atol=1e-6)
    cov = maxsim(t, tm, m, mm, coverage=0.5)
    assert torch.allclose(cov, brute_maxsim(t, tm, m, mm, coverage=0.5), atol=1e-5)
    assert torch.allclose(maxsim(t, tm, m, mm, chunk=7, coverage=0.5), cov, atol=1e-6)
    assert not torch.allclose(cov, fast, atol=1e-3)


def test_coverage_tells_a_motion_from_its_superset():
    # "hops" against a clip that only hops and one that hops then raises a hand: every word
    # finds its patch in both, so words-only MaxSim ties; the patch half prefers the first.
    hop, raise_, pad = torch.eye(3)
    t = hop[None, None]
    tm = torch.ones(1, 1, dtype=torch.bool)
    m = torch.stack([torch.stack([hop, hop, pad]), torch.stack([hop, raise_, hop])])
    mm = torch.tensor([[True, True, False], [True, True, True]])
    words = maxsim(t, tm, m, mm)
    assert words[0, 0] == words[0, 1] == pytest.approx(1.0)
    both = maxsim(t, tm, m, mm, coverage=1.0)[0]
    assert both[0].item() == pytest.approx(1.0)  # the padding patch is not asked to match
    assert both[1].item() == pytest.approx((1 + 2 / 3) / 2)
    # A caption with no valid word still scores 0, with or without coverage.
    assert maxsim(t, torch.zeros(1, 1, dtype=torch.bool), m, mm, coverage=1.0).abs().max() == 0


def test_padding_patches_never_win():
    # The padding patches hold exactly the token's direction (cosine 1); valid ones do not.
    tok = torch.tensor([[[1.0, 0.0, 0.0]]])
    m = torch.tensor([[[0.0, 1.0, 0.0], [0.6, 0.8, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]])
    mm = torch.tensor([[True, True, False, False]])
    score = maxsim(tok, torch.ones(1, 1, dtype=torch.bool), m, mm)
    assert score.item() == pytest.approx(0.6)
    sim = RetrievalModel.similarity_maps(tok[0], m[0], mm[0])
    assert sim.argmax(-1).item() == 1 and torch.isinf(sim[0, 2:]).all()


def test_model_score_ignores_padding_patches(model):
    x, bm = _motion(2, [3, 14], seed=3)
    with torch.no_grad():
        m_emb, m_mask = model.encode_motion(x, bm)
        t_emb, t_mask, _ = model.encode_text(["raise the right arm", "kick"])
        got = model.score(t_emb, t_mask, m_emb, m_mask)
        sims = model.similarity_maps(t_emb[0], m_emb[0], m_mask[0])
    assert torch.allclose(got, brute_maxsim(t_emb, t_mask, m_emb, m_mask), atol=1e-4)
    assert (sims.argmax(-1) < 3 * 14).all()  # best patches lie in the 3 real time blocks


def test_global_baseline_is_cosine(global_model):
    x, bm = _motion(2, [14, 4])
    with torch.no_grad():
        m_emb, m_mask = global_model.encode_motion(x, bm)
        t_emb, t_mask, tokens = global_model.encode_text(["walk forward", "jump"])
        s = global_model.score(t_emb, t_mask, m_emb, m_mask)
    assert m_emb.shape == (2, 1, 32) and t_emb.shape == (2, 1, 32)
    assert tokens == [["walk forward"], ["jump"]]
    assert torch.allclose(s, t_emb[:, 0] @ m_emb[:, 0].T, atol=1e-6)


def test_part_identity_options_change_the_tokens():
    torch.manual_seed(0)
    cfgs = [dataclasses.replace(tiny().model, part_identity=p)
            for p in ("none", "part_embed", "patch_skip", "both")]
    x, bm = _motion(1, [14])
    outs = []
    for c in cfgs:
        torch.manual_seed(0)
        m = RetrievalModel(c).eval()
        with torch.no_grad():
            outs.append(m.motion(x))
    assert all(o.shape == (1, 196, 192) for o in outs)
    assert not torch.allclose(outs[0], outs[1]) and not torch.allclose(outs[0], outs[2])


def test_info_nce_and_positives():
    logits = torch.tensor([[5.0, 0.0], [0.0, 5.0]])
    assert info_nce(logits) < 0.01
    assert info_nce(logits.flip(0)) > 4.0
    pos = caption_positives(["Walk  forward", "walk forward", "run"])
    assert pos.tolist() == [[True, True, False], [True, True, False], [False, False, True]]
    # two identical captions: confusing them costs nothing once they count as positives
    same = torch.zeros(2, 2)
    assert info_nce(same, torch.ones(2, 2, dtype=torch.bool)) == pytest.approx(0.0, abs=1e-6)
    assert info_nce(same) == pytest.approx(np.log(2), abs=1e-5)
    with pytest.raises(ValueError, match="square"):
        info_nce(torch.zeros(2, 3))


def test_mask_tokens_only_touches_valid_positions():
    ids = torch.tensor([[101, 5, 6, 7, 102, 0], [101, 8, 102, 0, 0, 0]])
    valid = torch.tensor([[0, 1, 1, 1, 0, 0], [0, 1, 0, 0, 0, 0]], dtype=torch.bool)
    masked, labels = mask_tokens(ids, valid, 103, 1000, prob=0.5,
                                 generator=torch.Generator().manual_seed(0))
    assert ((labels != -100) <= valid).all()
    assert (labels != -100).any(1).all()  # one masked token per caption at least
    assert (masked[~valid] == ids[~valid]).all()
    assert (labels[labels != -100] == ids[labels != -100]).all()


def test_token_diversity_penalises_collapse():
    mask = torch.ones(1, 3, dtype=torch.bool)
    same = torch.nn.functional.normalize(torch.ones(1, 3, 4), dim=-1)
    apart = torch.eye(4)[:3].unsqueeze(0)
    assert token_diversity_loss(same, mask, 0.3).item() == pytest.approx(0.7, abs=1e-5)
    assert token_diversity_loss(apart, mask, 0.3).item() == 0.0
    one = torch.tensor([[True, False, False]])
    assert token_diversity_loss(same, one, 0.3).item() == 0.0


def test_grounding_loss_rewards_the_referenced_part():
    d = 14
    parts = torch.eye(d)  # patch (t, part) embedding = one-hot of its part
    m = parts.repeat(14, 1).unsqueeze(0)  # (1, 196, 14)
    mm = torch.ones(1, 196, dtype=torch.bool)
    target = torch.zeros(1, 1, 14, dtype=torch.bool)
    target[0, 0, 11] = True  # l_shoulder
    good = parts[11].view(1, 1, d)
    bad = parts[2].view(1, 1, d)
    for pool in ("time_max", "patch"):
        lg = grounding_loss(good, m, mm, target, pool=pool, temperature=0.1)
        lb = grounding_loss(bad, m, mm, target, pool=pool, temperature=0.1)
        assert lg < 0.01 and lb > 5.0, (pool, lg, lb)
    none = torch.zeros_like(target)
    assert grounding_loss(good, m, mm, none).item() == 0.0


def test_param_groups_use_their_learning_rates(model):
    groups = model.param_groups(1e-4, 2e-5, 3e-4, 0.1)
    by_name = {g["name"]: g for g in groups}
    assert by_name["motion"]["lr"] == 1e-4 and by_name["text"]["lr"] == 2e-5
    assert by_name["head"]["lr"] == 3e-4 and by_name["head_nodecay"]["weight_decay"] == 0.0
    n = sum(p.numel() for g in groups for p in g["params"])
    assert n == sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_freeze_text_layers():
    torch.manual_seed(0)
    m = RetrievalModel(tiny().model)
    m.freeze_text_layers(4)
    base = m.text.base_model
    assert not any(p.requires_grad for p in base.embeddings.parameters())
    assert not any(p.requires_grad for p in base.encoder.layer[3].parameters())
    assert all(p.requires_grad for p in base.encoder.layer[4].parameters())
    with pytest.raises(ValueError, match="has 6"):
        m.freeze_text_layers(7)


def test_configs_and_overrides():
    cfg = apply_overrides(get_config("cpu"), ["epochs=3", "model.vit_depth=2", "scorer=global",
                                              "grounding_weight=0.5", "vit_depth=none"])
    assert cfg.epochs == 3 and cfg.model.scorer == "global" and cfg.grounding_weight == 0.5
    assert cfg.model.vit_depth is None
    assert get_config("paper").batch_size == 128 and get_config("paper").epochs == 60
    with pytest.raises(ValueError, match="unknown config field"):
        apply_overrides(get_config("cpu"), ["nope=1"])
    with pytest.raises(ValueError, match="scorer must be"):
        apply_overrides(get_config("cpu"), ["scorer=dense"])
    with pytest.raises(ValueError, match="unknown config"):
        get_config("huge")
    back = TrainConfig.from_dict(get_config("faithful").to_dict())
    assert back == get_config("faithful") and isinstance(back.model, ModelConfig)


def test_group_batches_keep_groups_together():
    groups = ["a", "a", "a", None, "b", "b", None, None, "c", "c", "c", "c", "c", None]
    rng = np.random.default_rng(0)
    batches = group_batches(groups, 4, rng)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(groups))) and all(len(b) <= 4 for b in batches)
    where = {i: k for k, b in enumerate(batches) for i in b}
    assert where[0] == where[1] == where[2] and where[4] == where[5]
    assert len({where[i] for i in (8, 9, 10, 11, 12)}) == 2  # 5 > batch: cut into 4 + 1
    plain = random_batches(10, 4, rng)
    assert sorted(i for b in plain for i in b) == list(range(10))


def test_motion_to_input_pads_and_masks():
    from motion_retrieval import MotionFormatError
    from motion_retrieval.features import motion_to_input
    from motion_retrieval.skeleton import rest_pose

    joints = np.repeat(rest_pose()[None], 30, axis=0)
    joints[:, 20, 1] += np.linspace(0, 0.3, 30)  # the left wrist rises
    stats = {"mean": np.zeros(29), "std": np.ones(29)}
    x, bm, n = motion_to_input(joints, stats)
    assert x.shape == (224, 29) and x.dtype == np.float32 and n == 30
    assert bm.tolist() == [True, True] + [False] * 12
    assert np.all(x[30:] == 0) and np.any(x[:30] != 0)
    with pytest.raises(MotionFormatError, match=r"\(T, 22, 3\)"):
        motion_to_input(np.zeros((10, 21, 3)), stats)
    with pytest.raises(ValueError, match="positive std"):
        motion_to_input(joints, {"mean": np.zeros(29), "std": np.zeros(29)})


def test_aux_global_score_pools_through_its_own_heads():
    torch.manual_seed(0)
    cfg = apply_overrides(tiny(), ["global_aux_weight=1"])
    assert cfg.model.global_aux  # the loss switches its heads on
    m = RetrievalModel(cfg.model).eval()
    x, bm = _motion(2, [14, 3])
    with torch.no_grad():
        tok, mask = m.motion_features(x, bm)
        batch = m.tokenize(["walk forward", "jump twice"])
        hidden, valid = m.text_features(batch)
        s = m.aux_global_score(tok, mask, hidden, valid)
        # Reference: mean over real patches / words, separate heads, cosine.
        mp = torch.stack([tok[i][mask[i]].mean(0) for i in range(2)])
        tp = torch.stack([hidden[i][valid[i]].mean(0) for i in range(2)])
        ref = (torch.nn.functional.normalize(m.aux_text_projection(tp), dim=-1)
               @ torch.nn.functional.normalize(m.aux_motion_projection(mp), dim=-1).T)
        # The scored path is untouched: MaxSim through the main heads.
        emb, emask = m.encode_motion(x, bm)
    assert torch.allclose(s, ref, atol=1e-5)
    assert emb.shape == (2, 196, 32) and torch.equal(emask, mask)
    # Padding patches do not change the pooled score.
    x2 = x.clone()
    x2[1, 3 * 16:] = 5.0
    with torch.no_grad():
        tok2, _ = m.motion_features(x2, bm)
        s2 = m.aux_global_score(tok2, mask, hidden, valid)
    assert not torch.allclose(tok2[1][~mask[1]], tok[1][~mask[1]])
    assert torch.allclose(s2[:, 0], s[:, 0], atol=1e-5)
    with pytest.raises(ValueError, match="global_aux"):
        RetrievalModel(tiny().model).aux_global_score(tok, mask, hidden, valid)


def test_shared_aux_pools_through_the_maxsim_projections():
    torch.manual_seed(0)
    cfg = apply_overrides(tiny(), ["global_aux_weight=1", "model.global_aux_shared=true"])
    m = RetrievalModel(cfg.model).eval()
    assert not hasattr(m, "aux_motion_projection") and not hasattr(m, "aux_text_projection")
    x, bm = _motion(2, [14, 3])
    with torch.no_grad():
        tok, mask = m.motion_features(x, bm)
        hidden, valid = m.text_features(m.tokenize(["walk forward", "jump twice"]))
        s = m.aux_global_score(tok, mask, hidden, valid)
        # The mean of the projected patches points where the projection of their mean does.
        emb = m.motion_projection(tok)
        mp = torch.stack([emb[i][mask[i]].mean(0) for i in range(2)])
        tp = torch.stack([m.text_projection(hidden)[i][valid[i]].mean(0) for i in range(2)])
        ref = (torch.nn.functional.normalize(tp, dim=-1)
               @ torch.nn.functional.normalize(mp, dim=-1).T)
    assert torch.allclose(s, ref, atol=1e-5)


def test_soft_maxsim_tends_to_the_max_and_spreads_gradient():
    torch.manual_seed(0)
    t = torch.nn.functional.normalize(torch.randn(3, 5, 8), dim=-1)
    m = torch.nn.functional.normalize(torch.randn(4, 7, 8), dim=-1).requires_grad_(True)
    tm = torch.ones(3, 5, dtype=torch.bool)
    tm[2, 3:] = False
    mm = torch.ones(4, 7, dtype=torch.bool)
    mm[1, 4:] = False
    hard = maxsim(t, tm, m, mm)
    cold = maxsim(t, tm, m, mm, tau=1e-4)
    warm = maxsim(t, tm, m, mm, tau=0.5)
    assert torch.allclose(cold, hard, atol=1e-4)
    assert bool((warm <= hard + 1e-6).all()) and not torch.allclose(warm, hard, atol=1e-3)
    assert torch.isfinite(warm).all()
    # The hard max sends each word's gradient to one patch; the soft one to all real patches.
    hard.sum().backward()
    g_hard = (m.grad.norm(dim=-1) > 0).sum().item()
    m.grad = None
    warm.sum().backward()
    g = m.grad.norm(dim=-1)
    assert float(g[1, 4:].abs().max()) == 0.0  # padding never gets a gradient
    assert (g[mm] > 0).sum().item() == int(mm.sum()) > g_hard


def test_soft_max_tau_schedule():
    from motion_retrieval.train import soft_max_tau

    cfg = apply_overrides(tiny(), ["soft_max_tau=0.1", "soft_max_tau_end=0.01"])
    assert soft_max_tau(cfg, 0.0) == pytest.approx(0.1)
    assert soft_max_tau(cfg, 0.5) == pytest.approx(0.1 * 0.1 ** 0.5)
    assert soft_max_tau(cfg, 1.0) == pytest.approx(0.01)
    assert soft_max_tau(tiny(), 0.3) == 0.0
    with pytest.raises(ValueError, match="soft_max_tau"):
        apply_overrides(tiny(), ["soft_max_tau=-1"])


def test_aux_weight_set_after_construction_still_builds_its_heads():
    cfg = tiny()
    cfg.global_aux_weight = 1.0  # set on a built config, as a script might
    assert not cfg.model.global_aux
    assert dataclasses.replace(cfg).model.global_aux  # what train() does first
    assert get_config("faithful").model.global_aux
