"""The gallery index file: build, save, load, describe, CLI."""
from __future__ import annotations

import numpy as np
import pytest
from demo_fixtures import STATS, clips, make_checkpoint, make_gallery, tiny_model

from motion_retrieval.cli import main as cli_main
from motion_retrieval.index import (
    GalleryIndex,
    add_captions,
    build_index,
    checkpoint_fingerprint,
    describe,
    load_index,
    save_index,
)


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def small(model):
    return clips(6), build_index(model, STATS, clips(6), meta={"fingerprint": "abc"})


def test_build_holds_every_clip(small, model):
    cs, index = small
    assert index.ids == [c.id for c in cs]
    assert index.dim == model.cfg.embed_dim and index.num_patches == 196
    for i, c in enumerate(cs):
        np.testing.assert_allclose(index.clip_joints(i), c.joints, atol=2e-3)  # fp16
        # Only time blocks with real frames keep their 14 patches.
        assert index.patch_mask[i].sum() == 14 * int(np.ceil(min(len(c.joints), 224) / 16))
    assert index.patch_emb.shape[0] == index.patch_mask.sum()
    np.testing.assert_allclose(np.linalg.norm(index.patch_emb.astype(np.float32), axis=1), 1,
                               atol=2e-3)
    assert sorted(index.caption_texts) == sorted({t for c in cs for t in c.captions})
    assert index.meta["fingerprint"] == "abc"


def test_captions_can_be_added_later(small, model):
    cs, full = small
    stages = []
    later = build_index(model, STATS, cs, captions=False,
                        progress=lambda done, total, stage: stages.append((stage, done, total)))
    assert later.meta["captions_pending"] and later.caption_texts == []
    assert "captions_pending" not in full.meta
    add_captions(later, model, progress=lambda d, t, stage: stages.append((stage, d, t)))
    assert "captions_pending" not in later.meta and later.caption_texts == full.caption_texts
    np.testing.assert_array_equal(later.caption_offsets, full.caption_offsets)
    np.testing.assert_allclose(later.caption_emb.astype(np.float32),
                               full.caption_emb.astype(np.float32), atol=2e-3)
    assert stages[-1] == ("captions", len(full.caption_texts), len(full.caption_texts))
    assert ("motions", len(cs), len(cs)) in stages


def test_save_load_roundtrip(small, tmp_path):
    _, index = small
    path = save_index(index, tmp_path / "g.safetensors")
    back = load_index(path)
    assert back.ids == index.ids and back.captions == index.captions
    assert back.labels == index.labels and back.meta == index.meta
    for name in ("patch_emb", "patch_mask", "pooled", "caption_emb", "caption_offsets",
                 "joints", "joint_offsets", "n_frames", "caption_owner", "root_xz"):
        np.testing.assert_array_equal(getattr(back, name), getattr(index, name))
    assert "clips        6" in describe(back)
    assert "whole-clip   no" in describe(back) and not back.has_whole


def test_hybrid_index_keeps_its_whole_clip_vectors(tmp_path):
    model = tiny_model(whole_clip_weight=1.0)
    index = build_index(model, STATS, clips(4))
    back = load_index(save_index(index, tmp_path / "h.safetensors"))
    assert back.has_whole and "whole-clip   yes" in describe(back)
    np.testing.assert_array_equal(back.whole, index.whole)
    np.testing.assert_array_equal(back.caption_whole, index.caption_whole)
    assert back.whole.shape == (4, model.cfg.embed_dim)
    np.testing.assert_allclose(np.linalg.norm(back.whole.astype(np.float32), axis=1), 1,
                               atol=2e-3)
    with pytest.raises(ValueError, match="whole"):
        GalleryIndex(**{**back.__dict__, "whole": back.whole[:-1]})


def test_load_rejects_other_files(tmp_path):
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"not a safetensors file at all")
    with pytest.raises(ValueError, match="not a readable safetensors"):
        load_index(bad)
    with pytest.raises(FileNotFoundError):
        load_index(tmp_path / "missing.safetensors")
    from safetensors.numpy import save_file
    save_file({"a": np.zeros(3, np.float32)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not a gallery index"):
        load_index(tmp_path / "other.safetensors")


def test_inconsistent_index_is_refused(small):
    _, index = small
    with pytest.raises(ValueError, match="patch_emb rows"):
        GalleryIndex(**{**index.__dict__, "patch_emb": index.patch_emb[:-1]})


def test_fingerprint_changes_with_weights(tmp_path):
    a = make_checkpoint(tmp_path / "a")
    fa = checkpoint_fingerprint(a)
    assert fa == checkpoint_fingerprint(a) and len(fa) == 16
    (a / "angle_stats.json").write_text('{"mean": [0], "std": [1]}')
    assert checkpoint_fingerprint(a) != fa


def test_cli_build_and_info(tmp_path, capsys):
    ckpt = make_checkpoint(tmp_path / "ckpt")
    data = make_gallery(tmp_path / "data", n=5)
    out = tmp_path / "gallery.safetensors"
    assert cli_main(["index", "build", "--checkpoint", str(ckpt), "--data", str(data),
                     "--out", str(out)]) == 0
    index = load_index(out)
    assert len(index) == 5 and index.meta["fingerprint"] == checkpoint_fingerprint(ckpt)
    assert cli_main(["index", "info", str(out)]) == 0
    assert "clips        5" in capsys.readouterr().out
