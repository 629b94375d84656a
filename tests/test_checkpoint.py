"""Checkpoints: safetensors + JSON round trips, small files, no pickles."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from motion_retrieval.checkpoint import (
    load_checkpoint,
    load_optimizer,
    save_checkpoint,
    save_optimizer,
)
from motion_retrieval.config import tiny
from motion_retrieval.model import RetrievalModel

STATS = {"mean": np.arange(29, dtype=np.float32), "std": np.full(29, 2.0, np.float32)}


@pytest.fixture(scope="module")
def trained() -> RetrievalModel:
    torch.manual_seed(0)
    m = RetrievalModel(tiny().model)
    m.freeze_text_layers(5)
    with torch.no_grad():  # stand-in for training: change the trainable text layer and heads
        for p in m.text.base_model.encoder.layer[5].parameters():
            p.add_(0.01 * torch.randn_like(p))
        m.logit_scale.fill_(3.0)
    return m.eval()


def _outputs(m):
    x = torch.randn(2, 224, 29, generator=torch.Generator().manual_seed(0))
    bm = torch.ones(2, 14, dtype=torch.bool)
    with torch.no_grad():
        me, mm = m.encode_motion(x, bm)
        te, tm, tok = m.encode_text(["wave the left hand", "walk in a circle"])
    return me, mm, te, tm, tok


def test_round_trip_fp32_is_exact(trained, tmp_path):
    save_checkpoint(tmp_path / "ck", trained, STATS, {"epoch": 3}, text_fp16=False)
    model, stats, meta = load_checkpoint(tmp_path / "ck")
    assert meta == {"epoch": 3}
    assert np.array_equal(stats["mean"], STATS["mean"]) and stats["std"].dtype == np.float32
    for k, v in trained.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    a, b = _outputs(trained), _outputs(model)
    assert torch.equal(a[0], b[0]) and torch.equal(a[2], b[2]) and a[4] == b[4]
    assert not model.training


def test_round_trip_fp16_is_close_and_small(trained, tmp_path):
    path = save_checkpoint(tmp_path / "ck", trained, STATS, {}, text_fp16=True)
    cfg = json.loads((path / "config.json").read_text())
    # The frozen MiniLM parts are left out and read back from the installed package.
    assert "text.bert.embeddings.word_embeddings.weight" in cfg["from_base"]
    assert "text.bert.encoder.layer.0.attention.self.query.weight" in cfg["from_base"]
    assert not any(k.startswith("text.bert.encoder.layer.5.") for k in cfg["from_base"])
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    assert size < 15e6, size
    suffixes = {f.suffix for f in path.rglob("*") if f.is_file()}
    assert suffixes <= {".json", ".safetensors", ".txt"}, suffixes  # nothing to unpickle
    model, _, _ = load_checkpoint(path)
    a, b = _outputs(trained), _outputs(model)
    assert torch.allclose(a[0], b[0]) and torch.allclose(a[2], b[2], atol=5e-3)
    assert model.logit_scale.item() == 3.0


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a checkpoint folder"):
        load_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="unknown checkpoint format"):
        load_checkpoint(tmp_path)


def test_bad_stats_are_refused(trained, tmp_path):
    with pytest.raises(ValueError, match=r"\(29,\)"):
        save_checkpoint(tmp_path / "ck", trained, {"mean": np.zeros(3), "std": np.ones(3)})


def test_optimizer_round_trip(tmp_path):
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW([{"params": net.parameters(), "lr": 0.1, "name": "x"}])
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    save_optimizer(tmp_path, opt, {"epoch": 2, "best": 0.5})
    opt2 = torch.optim.AdamW(net.parameters(), lr=1.0)
    info = load_optimizer(tmp_path, opt2)
    assert info == {"epoch": 2, "best": 0.5}
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s2["param_groups"][0]["lr"] == 0.1 and s2["param_groups"][0]["betas"] == (0.9, 0.999)
    for k in ("exp_avg", "exp_avg_sq", "step"):
        assert torch.equal(s1["state"][0][k], s2["state"][0][k])
