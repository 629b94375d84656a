"""demo/: exact search, explanations, payloads, uploads, exports and the engine's start-up."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from demo_fixtures import (
    ROOT,
    STATS,
    clips,
    encode_whole,
    make_checkpoint,
    make_gallery,
    motion,
    tiny_model,
)
from smpl_fixture import write_model_dir

from demo import payload as P
from demo.engine import Engine, load_engine
from demo.export import export_motion, safe_name
from demo.mesh import MESH_HELP, MeshError, mesh_file, mesh_status
from demo.search import QueryError, Searcher, check_query, group_words
from demo.uploads import UploadError, check_upload, read_upload
from motion_retrieval.checkpoint import save_checkpoint
from motion_retrieval.features import motion_to_input
from motion_retrieval.index import build_index, save_index
from motion_retrieval.model import maxsim

QUERY = "a person waves the left hand, then kicks"


@pytest.fixture(scope="module")
def setup():
    model = tiny_model()
    cs = clips(10)
    index = build_index(model, STATS, cs)
    return model, cs, index, Searcher(model, STATS, index)


def reference_scores(model, cs, query):
    xs, bms = zip(*[motion_to_input(c.joints, STATS)[:2] for c in cs])
    with torch.inference_mode():
        m, mm = model.encode_motion(torch.tensor(np.stack(xs)), torch.tensor(np.stack(bms)))
        t, tm, _ = model.encode_text([query])
        return model.score(t, tm, m, mm)[0].numpy(), (t[0][tm[0]], m, mm)


def test_text_search_is_exact_maxsim(setup):
    model, cs, _, searcher = setup
    ref, _ = reference_scores(model, cs, QUERY)
    result = searcher.search_text(QUERY, k=len(cs))
    got = np.array([h.score for h in sorted(result.hits, key=lambda h: h.index)])
    np.testing.assert_allclose(got, ref, atol=2e-3)  # fp16 index vs fp32 model
    ranked = [h.score for h in result.hits]
    assert ranked == sorted(ranked, reverse=True)
    assert ref.max() - got[result.hits[0].index] < 2e-3  # the best clip (up to fp16 ties)
    assert [h.rank for h in result.hits] == list(range(1, len(cs) + 1))


def test_maps_match_the_model_and_the_score(setup):
    model, cs, _, searcher = setup
    _, (t, m, mm) = reference_scores(model, cs, QUERY)
    hit = searcher.search_text(QUERY, k=3).hits[0]
    ref = model.similarity_maps(t, m[hit.index], mm[hit.index]).numpy()
    assert hit.maps.shape == ref.shape == (len(t), 196)
    assert np.array_equal(np.isinf(hit.maps), np.isinf(ref))
    finite = np.isfinite(ref)
    np.testing.assert_allclose(hit.maps[finite], ref[finite], atol=2e-3)
    # MaxSim is the mean over tokens of each map row's maximum.
    assert hit.score == pytest.approx(hit.maps.max(1).mean(), abs=1e-4)


def test_words_group_word_pieces():
    words = group_words("a left-handed wave", [(0, 1), (2, 6), (6, 7), (7, 13), (14, 18)])
    assert [(w.text, w.tokens) for w in words] == [("a", [0]), ("left-handed", [1, 3]),
                                                   ("wave", [4])]


def test_words_leave_punctuation_out():
    # "wave twice, then stop!" as WordPiece offsets: the comma and "!" belong to no word.
    q = "wave twice, then stop!"
    words = group_words(q, [(0, 4), (5, 10), (10, 11), (12, 16), (17, 21), (21, 22)])
    assert [(w.text, w.tokens) for w in words] == [("wave", [0]), ("twice", [1]),
                                                   ("then", [3]), ("stop", [4])]


def test_search_words_cover_every_token(setup):
    *_, searcher = setup
    result = searcher.search_text("someone unzips a jacket", k=2)
    assert [t for w in result.words for t in w.tokens] == list(range(len(result.tokens)))
    assert "unzips" in [w.text for w in result.words]
    result = searcher.search_text("someone unzips a jacket, twice.", k=2)
    assert [w.text for w in result.words][-2:] == ["jacket", "twice"]
    punct = [i for i, t in enumerate(result.tokens) if t in (",", ".")]
    assert len(punct) == 2
    assert sorted(t for w in result.words for t in w.tokens) == [
        i for i in range(len(result.tokens)) if i not in punct]


@pytest.mark.parametrize("query, message", [
    ("", "type a description"), ("   ", "type a description"), ("?!, ...", "only punctuation"),
    ("walk " * 100, "characters long"), (" ".join(["hop"] * 40), "tokens long"),
])
def test_bad_queries_are_refused_clearly(setup, query, message):
    *_, searcher = setup
    with pytest.raises(QueryError, match=message):
        searcher.search_text(query, k=3)


def test_k_is_checked_and_clamped(setup):
    *_, index, searcher = setup
    assert len(searcher.search_text("walks", k=1000).hits) == len(index)
    with pytest.raises(QueryError, match="at least one"):
        searcher.search_text("walks", k=0)
    with pytest.raises(QueryError, match="whole number"):
        searcher.search_text("walks", k="many")
    assert check_query("  walks ") == "walks"


def test_coverage_models_search_with_their_own_score():
    # A model trained with a coverage weight scores (words + w * patches) / (1 + w); the fast
    # gallery search in both directions must give the model's numbers.
    model = tiny_model()
    model.cfg.coverage_weight = 0.5
    cs = clips(6)
    index = build_index(model, STATS, cs)
    searcher = Searcher(model, STATS, index)
    ref, _ = reference_scores(model, cs, QUERY)
    model.cfg.coverage_weight = 0.0
    plain, _ = reference_scores(model, cs, QUERY)
    model.cfg.coverage_weight = 0.5
    assert not np.allclose(ref, plain, atol=1e-2)
    hits = searcher.search_text(QUERY, k=len(cs)).hits
    got = np.array([h.score for h in sorted(hits, key=lambda h: h.index)])
    np.testing.assert_allclose(got, ref, atol=2e-3)
    cap, score, _ = searcher.search_motion(cs[2].joints, k=2).captions[0]
    xs, bm, _ = motion_to_input(cs[2].joints, STATS)
    with torch.inference_mode():
        m, mm = model.encode_motion(torch.tensor(xs)[None], torch.tensor(bm)[None])
        t, tm, _ = model.encode_text([cap])
        assert score == pytest.approx(float(model.score(t, tm, m, mm)), abs=2e-3)


def test_motion_search_finds_itself_and_its_captions(setup):
    model, cs, index, searcher = setup
    result = searcher.search_motion(cs[4].joints, k=3)
    assert result.motions[0][0] == 4 and result.motions[0][1] == pytest.approx(1, abs=2e-3)
    assert len(result.captions) == 3
    scores = [s for _, s, _ in result.captions]
    assert scores == sorted(scores, reverse=True)
    # Caption scores are MaxSim of the caption against the motion, like the model's.
    cap, score, _ = result.captions[0]
    xs, bm, _ = motion_to_input(cs[4].joints, STATS)
    with torch.inference_mode():
        m, mm = model.encode_motion(torch.tensor(xs)[None], torch.tensor(bm)[None])
        t, tm, _ = model.encode_text([cap])
        assert score == pytest.approx(float(model.score(t, tm, m, mm)), abs=2e-3)


def test_text_payload_is_json_and_explains_each_word(setup):
    _, cs, index, searcher = setup
    result = searcher.search_text(QUERY, k=2)
    payload = P.text_payload(result, index, "tiny")
    json.dumps(payload, allow_nan=False)  # the browser gets strict JSON
    assert payload["words"] == [w.text for w in result.words]
    top = payload["results"][0]
    assert top["id"] == result.hits[0].id
    assert len(top["words"]) == len(result.words)
    e = top["words"][0]
    grid = np.array([[np.nan if v is None else v for v in row] for row in e["map"]])
    assert grid.shape == (14, 14)
    assert np.nanargmax(grid) == e["best"] and divmod(e["best"], 14) == (e["block"], e["part"])
    n = top["n_frames"]
    assert 0 <= e["frames"][0] < e["frames"][1] <= n
    # Padding blocks (past the clip's end) are null in the map.
    valid_rows = int(np.ceil(min(n, 224) / 16))
    assert np.isnan(grid[valid_rows:]).all() and not np.isnan(grid[:valid_rows]).any()
    joints = np.array(top["motion"]["mm"]).reshape(top["motion"]["n"], 22, 3) / 1000
    np.testing.assert_allclose(joints, cs[result.hits[0].index].joints, atol=3e-3)
    api = P.api_result(payload)
    assert api["results"][0]["words"][0]["part"] == e["part_name"]
    assert "map" not in json.dumps(api)
    md = P.summary_markdown(payload)
    assert e["part_label"] in md and result.words[0].text in md


def test_word_explanation_picks_the_best_cell():
    m = np.full(196, -np.inf, np.float32)
    m[:5 * 14] = 0.1
    m[3 * 14 + 10] = 0.9  # block 3, right shoulder
    e = P.word_explanation(m, n_frames=70)
    assert (e["block"], e["part_name"]) == (3, "r_shoulder")
    assert e["frames"] == [48, 64] and e["seconds"] == [2.4, 3.2]
    assert e["similarity"] == pytest.approx(0.9)


def test_animation_is_bounded():
    a = P.animation(np.zeros((1000, 22, 3)), max_frames=400)
    assert a["n"] <= 400 and len(a["mm"]) == a["n"] * 66 and a["fps"] < 20
    with pytest.raises(ValueError, match="22, 3"):
        P.animation(np.zeros((10, 21, 3)))


# ------------------------------------------------------------------------------ uploads
def test_upload_accepts_joints_and_bvh(tmp_path):
    from motion_retrieval.formats import write_bvh

    joints = motion(60, np.random.default_rng(1))
    np.save(tmp_path / "m.npy", joints)
    assert read_upload(tmp_path / "m.npy").shape == (60, 22, 3)
    (tmp_path / "m.bvh").write_text(write_bvh(joints))
    assert read_upload(tmp_path / "m.bvh").shape[1:] == (22, 3)
    with gzip.open(tmp_path / "m.bvh.gz", "wt") as f:
        f.write(write_bvh(joints))
    assert read_upload(tmp_path / "m.bvh.gz").shape[1:] == (22, 3)


@pytest.mark.parametrize("name, content, message", [
    ("m.npy", b"\x93NUMPY garbage", "m.npy"),
    ("m.bvh", b"HIERARCHY\nROOT oops {", "m.bvh"),
    ("m.bvh.gz", b"not gzip at all", "m.bvh.gz"),
    ("m.txt", b"hello", "upload a .npy"),
    ("m.npy", b"", "empty"),
])
def test_bad_uploads_get_a_clear_error(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(UploadError, match=message):
        read_upload(tmp_path / name)


def test_wrong_shape_and_oversize_uploads(tmp_path):
    np.save(tmp_path / "w.npy", np.zeros((10, 7), np.float32))
    with pytest.raises(UploadError, match="w.npy"):
        read_upload(tmp_path / "w.npy")
    big = tmp_path / "big.npy"
    big.write_bytes(b"\0" * 2048)
    with pytest.raises(UploadError, match="limit"):
        check_upload(big, max_bytes=1024)  # refused on its size, before any parsing
    with pytest.raises(UploadError, match="no file"):
        read_upload(None)


def test_export_writes_npy_and_bvh(tmp_path):
    from motion_retrieval.formats import read_bvh

    joints = motion(40, np.random.default_rng(2))
    npy, bvh = export_motion(joints, "walk/../left 1", tmp_path)
    assert npy.parent == tmp_path and "/" not in npy.name and safe_name("..") == "motion"
    np.testing.assert_array_equal(np.load(npy), joints)
    back = read_bvh(bvh)
    assert back.shape[1:] == (22, 3) and len(back) == 40


def reference_maxsim(index, q: np.ndarray) -> np.ndarray:
    """MaxSim clip by clip in float64: the plain definition the fast path must reproduce."""
    q = q.astype(np.float64)
    emb = index.patch_emb.astype(np.float64)
    starts = np.concatenate([[0], np.cumsum(index.patch_mask.sum(1))])
    return np.array([(q @ emb[a:b].T).max(1).mean() for a, b in zip(starts[:-1], starts[1:])])


@pytest.mark.parametrize("chunk_rows", [262_144, 100])  # one block per run / many small blocks
def test_fast_scores_equal_clip_by_clip_maxsim(setup, chunk_rows):
    from demo.bench import random_index

    model = setup[0]
    index = random_index(300, model.cfg.embed_dim, seed=1)  # 3-13 valid time blocks per clip
    searcher = Searcher(model, STATS, index, chunk_rows=chunk_rows)
    assert len(searcher.runs) > 5  # clips of many lengths, so several runs
    rng = np.random.default_rng(0)
    for n_tokens in (1, 7, 30):
        q = rng.standard_normal((n_tokens, model.cfg.embed_dim)).astype(np.float32)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        got = searcher.scores(torch.from_numpy(q)).numpy()
        ref = reference_maxsim(index, q)
        np.testing.assert_allclose(got, ref, atol=1e-5)
        k = 20
        assert list(np.argsort(-got, kind="stable")[:k]) == list(np.argsort(-ref)[:k])
        # The maps of any clip give back its score (max over patches, mean over tokens).
        i = int(np.argmax(ref))
        assert searcher.maps(torch.from_numpy(q), i).max(1).mean() == pytest.approx(ref[i],
                                                                                  abs=1e-5)


# ------------------------------------------------------------------------------- mesh
def test_mesh_view_is_off_without_smpl(monkeypatch, tmp_path):
    monkeypatch.delenv("SMPL_MODEL_DIR", raising=False)
    assert mesh_status() == (False, MESH_HELP)
    with pytest.raises(MeshError, match="SMPL_MODEL_DIR"):
        mesh_file(motion(20, np.random.default_rng(0)), tmp_path)
    monkeypatch.setenv("SMPL_MODEL_DIR", str(tmp_path))
    ok, msg = mesh_status()
    assert not ok and str(tmp_path) in msg


@pytest.fixture
def smpl_dir(tmp_path, monkeypatch):
    pytest.importorskip("smplx")
    pytest.importorskip("trimesh")
    root = write_model_dir(tmp_path / "smpl-model")
    monkeypatch.setenv("SMPL_MODEL_DIR", str(root))
    return root


def test_mesh_file_poses_smpl_and_caches_it(smpl_dir, tmp_path, monkeypatch):
    import trimesh

    from motion_retrieval import mesh as M

    joints = motion(30, np.random.default_rng(3))
    one = mesh_file(joints, tmp_path / "out", "clip 1/../x")
    assert one.parent == tmp_path / "out" and one.suffix == ".glb" and "/" not in one.name
    verts = trimesh.load(one, force="mesh").vertices
    assert len(verts) == 47  # the tiny model's vertices, one frame
    strip = mesh_file(joints, tmp_path / "out", "clip", strip=3)
    assert strip != one and len(trimesh.load(strip, force="mesh").vertices) == 3 * 47
    assert not list((tmp_path / "out").glob(".*tmp*"))
    # The same motion and view again is read from disk: no fitting.
    monkeypatch.setattr(M, "motion_to_glb", lambda *a, **k: pytest.fail("fitted again"))
    assert mesh_file(joints, tmp_path / "out", "clip 1/../x") == one
    other = joints + np.float32(0.01)
    with pytest.raises(pytest.fail.Exception, match="fitted again"):
        mesh_file(other, tmp_path / "out", "clip 1/../x")


def test_mesh_file_explains_a_motion_it_cannot_pose(smpl_dir, tmp_path):
    with pytest.raises(MeshError, match="could not be posed"):
        mesh_file(np.full((5, 22, 3), np.nan, np.float32), tmp_path)


def _ui_function(ui, api_name: str):
    return next(f.fn for f in ui.fns.values() if f.api_name == api_name)


def test_app_mesh_tab_follows_smpl(setup, tmp_path, monkeypatch):
    gr = pytest.importorskip("gradio")
    import app

    model, _, index, searcher = setup
    engine = Engine(searcher, index, "tiny", mesh_dir=tmp_path / "meshes")
    monkeypatch.delenv("SMPL_MODEL_DIR", raising=False)
    ui = app.build_ui(engine)
    blocks = list(ui.blocks.values())
    assert not any(isinstance(b, gr.Model3D) for b in blocks)
    assert any(isinstance(b, gr.Markdown) and b.value == MESH_HELP for b in blocks)

    pytest.importorskip("smplx")
    monkeypatch.setenv("SMPL_MODEL_DIR", str(write_model_dir(tmp_path / "smpl-model")))
    ui = app.build_ui(engine)
    assert sum(isinstance(b, gr.Model3D) for b in ui.blocks.values()) == 1
    mesh = _ui_function(ui, "ui_mesh")
    path, note = mesh(index.ids[2], next(iter(app.MESH_VIEWS)), None)
    assert path.startswith(str(tmp_path / "meshes")) and path.endswith(".glb")
    assert index.ids[2] in note
    upload = {"name": "wave.npy", "joints": motion(25, np.random.default_rng(4))}
    path, note = mesh(app.UPLOAD, "film strip (5 frames)", upload)
    assert path.endswith(".glb") and "wave.npy" in note
    assert mesh(app.UPLOAD, "film strip (5 frames)", None)[0] is None  # nothing uploaded yet
    path, note = mesh("no-such-clip", "one frame (the middle)", None)
    assert path is None and "no clip" in note  # a message, not a stack trace


# ------------------------------------------------------------------------------- engine
def test_default_gallery_cache_names_the_corpus_version(monkeypatch):
    """A gallery cached from an older corpus (other captions) is not served after an upgrade."""
    import demo.engine as engine_module

    key = engine_module.default_gallery_key("abc", 5000, 0)
    assert key.startswith("gallery-abc-") and key.endswith("-5000-0.safetensors")
    monkeypatch.setattr(engine_module, "CORPUS_VERSION", engine_module.CORPUS_VERSION + 1)
    assert engine_module.default_gallery_key("abc", 5000, 0) != key


def test_engine_builds_caches_and_reuses_the_gallery(tmp_path, monkeypatch):
    monkeypatch.setenv("MOTION_CACHE", str(tmp_path / "cache"))
    ckpt = make_checkpoint(tmp_path / "ckpt")
    data = make_gallery(tmp_path / "data", n=6)
    messages: list[str] = []
    engine = load_engine(ckpt, data, progress=messages.append)
    assert isinstance(engine, Engine) and len(engine.index) == 6 and engine.random_model
    assert any("encoding a gallery of 6 clips" in m for m in messages)
    # The app opens before the captions (motion -> text only) are encoded, then caches them.
    assert engine.captions_ready.wait(60) and not any("could not" in m for m in messages)
    assert sorted(engine.index.caption_texts) == sorted({t for c in clips(6) for t in c.captions})
    cached = list((tmp_path / "cache").glob("gallery-*.safetensors"))
    assert len(cached) == 1
    from motion_retrieval.index import load_index

    assert "captions_pending" not in load_index(cached[0]).meta
    messages.clear()
    again = load_engine(ckpt, data, progress=messages.append)
    assert not any("encoding" in m for m in messages)  # served from the cache
    assert again.captions_ready.is_set()
    assert again.index.ids == engine.index.ids
    payload = again.search_text("a person waves", 3)
    assert len(payload["results"]) == 3
    up = again.search_joints(engine.index.clip_joints(2), 2, name="x.npy")
    assert up["results"][0]["id"] == engine.index.ids[2] and up["upload"]["id"] == "x.npy"
    assert len(up["captions"]) == 2
    # An index file can be served directly too.
    direct = load_engine(ckpt, cached[0], progress=messages.append)
    assert direct.index.ids == engine.index.ids
    with pytest.raises(QueryError, match="no clip"):
        direct.clip_joints("nope")


def test_engine_refuses_a_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a checkpoint"):
        load_engine(tmp_path / "nothing", None)


def test_default_weights_are_picked_up_when_present(tmp_path, monkeypatch):
    from demo import engine as E

    monkeypatch.delenv("MOTION_CHECKPOINT", raising=False)
    monkeypatch.setattr(E, "DEFAULT_WEIGHTS", tmp_path / "weights" / "default")
    assert E.resolve_checkpoint(None) is None  # -> the labelled random fallback
    make_checkpoint(tmp_path / "weights" / "default")
    assert E.resolve_checkpoint(None) == tmp_path / "weights" / "default"
    other = make_checkpoint(tmp_path / "other")
    monkeypatch.setenv("MOTION_CHECKPOINT", str(other))
    assert E.resolve_checkpoint(None) == other  # the environment overrides the default
    assert E.resolve_checkpoint(tmp_path / "weights" / "default") == E.DEFAULT_WEIGHTS
    assert "random weights" in E.RANDOM_LABEL and "weights/default" in E.RANDOM_LABEL


def test_hybrid_models_search_with_their_own_score(tmp_path):
    # A hybrid model scores (maxsim + w * whole) / (1 + w); the gallery search in both
    # directions must give the model's numbers, and each hit must carry both parts.
    from motion_retrieval.index import load_index

    model = tiny_model(whole_clip_weight=1.0)
    cs = clips(6)
    index = load_index(save_index(build_index(model, STATS, cs), tmp_path / "g.safetensors"))
    assert index.has_whole and index.whole.shape == (6, model.cfg.embed_dim)
    assert index.caption_whole.shape == (len(index.caption_texts), model.cfg.embed_dim)
    searcher = Searcher(model, STATS, index)
    t, tm, tw, m, mm, mw = encode_whole(model, cs, [QUERY])
    with torch.inference_mode():
        ref = model.score(t, tm, m, mm, t_whole=tw, m_whole=mw)[0].numpy()
        plain = maxsim(t, tm, m, mm)[0].numpy()
    assert not np.allclose(ref, plain, atol=1e-2)
    hits = searcher.search_text(QUERY, k=len(cs)).hits
    got = np.array([h.score for h in sorted(hits, key=lambda h: h.index)])
    np.testing.assert_allclose(got, ref, atol=2e-3)
    for h in hits:
        assert h.score == pytest.approx((h.maxsim + h.whole) / 2, abs=1e-5)
        assert h.maxsim == pytest.approx(h.maps.max(1).mean(), abs=1e-4)  # the maps explain it
        # The whole-clip part splits exactly over the query's tokens.
        assert h.whole_tokens.shape == (h.maps.shape[0],)
        assert float(h.whole_tokens.sum()) == pytest.approx(h.whole, abs=1e-4)
    result = searcher.search_text(QUERY + ", then again!", k=2)
    payload = P.text_payload(result, index)
    top = payload["results"][0]
    assert set(top["parts"]) == {"maxsim", "whole", "whole_other"}
    shares = [w["whole_share"] for w in top["words"]]
    assert len(shares) == len(result.words) and top["parts"]["whole_other"] != 0  # ", !"
    assert sum(shares) + top["parts"]["whole_other"] == pytest.approx(top["parts"]["whole"],
                                                                     abs=1e-3)
    assert "whole-clip match" in P.summary_markdown(payload)
    api = P.api_result(payload)["results"][0]
    assert "parts" in api and all("whole_share" in w for w in api["words"])
    cap, score, _ = searcher.search_motion(cs[2].joints, k=2).captions[0]
    with torch.inference_mode():
        t, tm, _, tw = model.encode_text_whole([cap])
        want = model.score(t, tm, m[2:3], mm[2:3], t_whole=tw, m_whole=mw[2:3])
    assert score == pytest.approx(float(want), abs=2e-3)
    # An index built by a plain model lacks the whole-clip vectors: a clear error, not a crash.
    with pytest.raises(ValueError, match="rebuild the index"):
        Searcher(model, STATS, build_index(tiny_model(), STATS, cs[:2]))


def test_app_start_up_errors_are_one_line(tmp_path):
    # A wrong --gallery path, or an index built by a plain model for a hybrid checkpoint: the
    # terminal gets one "error: ..." line and exit status 1, not a traceback.
    ckpt = save_checkpoint(tmp_path / "hybrid", tiny_model(whole_clip_weight=1.0), STATS)
    plain_index = save_index(build_index(tiny_model(), STATS, clips(3)), tmp_path / "g.safetensors")
    env = {"MOTION_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    for gallery, message in ((tmp_path / "missing", "no gallery folder or index"),
                             (plain_index, "rebuild the index")):
        out = subprocess.run([sys.executable, str(ROOT / "app.py"), "--checkpoint", str(ckpt),
                              "--gallery", str(gallery)], capture_output=True, text=True,
                             timeout=300, env=env, cwd=tmp_path)
        assert out.returncode == 1, out.stderr[-2000:]
        assert message in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("weight,word_time", [(0.0, False), (1.0, False), (1.0, True)])
def test_bench_times_plain_and_hybrid_models(weight, word_time):
    from demo.bench import random_index, time_search

    model = tiny_model(whole_clip_weight=weight, word_time=word_time)
    index = random_index(40, model.score_dim, whole_dim=model.cfg.embed_dim)
    out = time_search(model, STATS, index, repeats=3, k=3)
    assert 0 < out["p50_ms"] <= out["p95_ms"] and 14 <= out["valid_patches_per_clip"] <= 196
