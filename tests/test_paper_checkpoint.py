"""The released-checkpoint loader, on a randomly initialised checkpoint with the paper's layout."""
from __future__ import annotations

import math

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F
from torch import nn

from motion_retrieval.model import minilm_dir
from motion_retrieval.paper_checkpoint import (
    PAPER_COLUMNS,
    load_paper_checkpoint,
    map_keys,
    paper_stats,
)
from motion_retrieval.skeleton import BODY_PARTS, PART_DOF


class _PaperLayout(nn.Module):
    """Modules named as in the paper's checkpoints, built from small configs offline."""

    def __init__(self, text_dir):
        super().__init__()
        from transformers import AutoTokenizer, DistilBertConfig, DistilBertForMaskedLM

        enc = nn.Module()
        enc.model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0,
                                      global_pool="", img_size=224, depth=2)
        for name, dof in zip(BODY_PARTS, PART_DOF):
            setattr(enc, f"embed_{name}", nn.Linear(dof, 16))
        self.motion_encoder = enc
        cfg = DistilBertConfig(vocab_size=30522, dim=64, n_layers=2, n_heads=2, hidden_dim=128)
        txt = nn.Module()
        txt.text_model = DistilBertForMaskedLM(cfg)
        txt.base_model = txt.text_model.distilbert  # the paper keeps this alias too
        self.text_encoder = txt
        self.motion_projection = nn.Linear(192, 48)
        self.text_projection = nn.Linear(64, 48)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        cfg.save_pretrained(text_dir)
        # DistilBERT's vocabulary is bert-base-uncased's, which the MiniLM package ships.
        AutoTokenizer.from_pretrained(minilm_dir()).save_pretrained(text_dir)


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("paper")
    ref = _PaperLayout(root / "distilbert").eval()
    with torch.no_grad():
        ref.logit_scale.fill_(2.5)
    torch.save(ref.state_dict(), root / "ckpt.pt")
    return ref, root


def test_loader_reproduces_the_paper_forward(paper):
    ref, root = paper
    model, cfg = load_paper_checkpoint(root / "ckpt.pt", text_model=str(root / "distilbert"))
    assert cfg.vit_depth == 2 and cfg.embed_dim == 48 and not cfg.vit_final_norm
    assert model.logit_scale.item() == pytest.approx(2.5)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 224, 29, generator=g)
    with torch.no_grad():
        emb, _ = model.encode_motion(x, torch.ones(2, 14, dtype=torch.bool))
        # the paper's forward: bands -> image -> last block without the final norm -> proj
        enc = ref.motion_encoder
        parts = torch.split(x, list(PART_DOF), dim=2)
        img = torch.cat([getattr(enc, f"embed_{n}")(p) for n, p in zip(BODY_PARTS, parts)], 2)
        feats = enc.model.get_intermediate_layers(img.unsqueeze(1).repeat(1, 3, 1, 1), n=1)[0]
        want = F.normalize(ref.motion_projection(feats), dim=-1)
    assert torch.allclose(emb, want, atol=1e-5)

    texts = ["a person waves the left hand", "walk"]
    with torch.no_grad():
        t_emb, t_mask, tokens = model.encode_text(texts)
        enc = model.tokenizer(texts, padding=True, return_tensors="pt")
        hidden = ref.text_encoder.base_model(**enc).last_hidden_state
        want = F.normalize(ref.text_projection(hidden), dim=-1)
    assert torch.allclose(t_emb[t_mask], want[t_mask], atol=1e-5)
    assert [tokens[0][i] for i in range(len(tokens[0])) if t_mask[0, i]][:2] == ["a", "person"]


def test_safetensors_file_and_errors(paper, tmp_path):
    from safetensors.torch import save_file

    ref, root = paper
    state = {k: v.clone().contiguous() for k, v in ref.state_dict().items()
             if not k.startswith("text_encoder.base_model.")}
    state.pop("text_encoder.text_model.vocab_projector.weight")  # tied to the embeddings
    save_file(state, str(tmp_path / "ck.safetensors"))
    model, _ = load_paper_checkpoint(tmp_path / "ck.safetensors",
                                     text_model=str(root / "distilbert"))
    emb = model.text.base_model.embeddings.word_embeddings.weight
    assert model.text.get_output_embeddings().weight.data_ptr() == emb.data_ptr()
    with pytest.raises(ValueError, match="unexpected key"):
        map_keys({"something.else": torch.zeros(1)})
    with pytest.raises(ValueError, match="not a paper checkpoint"):
        save_file({"a": torch.zeros(1)}, str(tmp_path / "bad.safetensors"))
        load_paper_checkpoint(tmp_path / "bad.safetensors", text_model=str(root / "distilbert"))
    with pytest.raises(FileNotFoundError):
        load_paper_checkpoint(tmp_path / "missing.pt")


def test_paper_stats_pick_the_29_columns(tmp_path):
    mean = np.arange(41, dtype=np.float64)
    np.save(tmp_path / "m.npy", mean)
    np.save(tmp_path / "s.npy", mean + 1)
    st = paper_stats(tmp_path / "m.npy", tmp_path / "s.npy")
    assert st["mean"].shape == (29,) and st["mean"][:6].tolist() == [3, 4, 5, 0, 1, 2]
    assert sorted(PAPER_COLUMNS) == sorted(set(PAPER_COLUMNS)) and len(PAPER_COLUMNS) == 29
    np.save(tmp_path / "bad.npy", np.zeros(29))
    with pytest.raises(ValueError, match="40/41"):
        paper_stats(tmp_path / "bad.npy", tmp_path / "bad.npy")


def test_the_demo_serves_a_released_checkpoint_file(paper, tmp_path, monkeypatch):
    """`python app.py --checkpoint FILE`: the file is converted once (cached) and searched."""
    from demo_fixtures import make_gallery

    from demo.engine import load_engine, resolve_checkpoint

    ref, root = paper
    ckpt = tmp_path / "release" / "ckpt.pt"
    ckpt.parent.mkdir()
    ckpt.write_bytes((root / "ckpt.pt").read_bytes())
    monkeypatch.setenv("MOTION_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MOTION_PAPER_TEXT", str(root / "distilbert"))
    with pytest.raises(FileNotFoundError, match="Mean_angle.npy"):
        resolve_checkpoint(ckpt, progress=lambda *a: None)
    np.save(ckpt.parent / "Mean_angle.npy", np.zeros(41))
    np.save(ckpt.parent / "Std_angle.npy", np.ones(41))
    messages: list[str] = []
    folder = resolve_checkpoint(ckpt, progress=messages.append)
    assert (folder / "config.json").is_file() and any("once" in m for m in messages)
    assert resolve_checkpoint(ckpt, progress=messages.append) == folder  # cached, not redone
    assert sum("once" in m for m in messages) == 1
    engine = load_engine(ckpt, make_gallery(tmp_path / "gallery"), progress=lambda *a: None)
    out = engine.api_search("a person waves the left hand", 3)
    assert len(out["results"]) == 3
    assert all(r["words"] for r in out["results"])
