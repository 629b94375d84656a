"""Training vocabularies: which query words the model never saw, and what it knows instead."""
from __future__ import annotations

import json

import pytest
from demo_fixtures import STATS, clips, make_checkpoint, make_gallery, tiny_model

from demo import payload as P
from demo.search import Searcher
from motion_retrieval.index import build_index
from motion_retrieval.vocabulary import (
    add_to_checkpoint,
    caption_words,
    folder_vocabulary,
    normalize_word,
    vocabulary,
)


def test_words_are_split_lowered_and_stripped_as_chips_are():
    assert caption_words("A person waves, then kicks twice!") == [
        "a", "person", "waves", "then", "kicks", "twice"]
    assert caption_words("jumps -- 3 times") == ["jumps", "3", "times"]  # "--" is no word
    assert normalize_word("Twice,") == "twice" and normalize_word("...") == "..."
    assert vocabulary(["b a", "A c.", "c"]) == ["a", "b", "c"]


def test_folder_vocabulary_reads_the_training_split(tmp_path):
    data = make_gallery(tmp_path / "data", n=6)
    words = folder_vocabulary([data], split="test")
    expected = vocabulary(c for clip in clips(6) for c in clip.captions)
    assert words == expected and "waves" in words
    with pytest.raises(FileNotFoundError, match="no train.txt"):
        folder_vocabulary([data], split="train")  # make_gallery writes a test split only


def test_cli_stores_the_vocabulary_and_the_checkpoint_still_loads(tmp_path, capsys):
    from motion_retrieval.checkpoint import load_checkpoint
    from motion_retrieval.cli import main

    ckpt = make_checkpoint(tmp_path / "ckpt")
    data = make_gallery(tmp_path / "data", n=6)
    assert main(["vocabulary", "--checkpoint", str(ckpt), "--data", str(data),
                 "--split", "test"]) == 0
    assert "training words" in capsys.readouterr().out
    _, _, meta = load_checkpoint(ckpt)
    assert meta["vocabulary"] == folder_vocabulary([data], split="test")
    assert main(["vocabulary", "--checkpoint", str(tmp_path / "none"), "--data", str(data)]) == 1
    with pytest.raises(FileNotFoundError, match="config.json missing"):
        add_to_checkpoint(tmp_path / "none", ["a"])


def test_training_stores_its_captions_words(tmp_path):
    from motion_retrieval.checkpoint import load_checkpoint
    from motion_retrieval.config import apply_overrides, tiny
    from motion_retrieval.dataset import write_dataset
    from motion_retrieval.train import train

    cs = clips(8)
    data = write_dataset(tmp_path / "data", cs, {"train": [c.id for c in cs[:6]],
                                                 "val": [c.id for c in cs[6:]]})
    cfg = apply_overrides(tiny(), ["epochs=1", "batch_size=3", "mlm_weight=0"])
    train(cfg, [str(data)], tmp_path / "run", quiet=True)
    _, _, meta = load_checkpoint(tmp_path / "run" / "best")
    assert meta["vocabulary"] == folder_vocabulary([data], split="train")


@pytest.fixture(scope="module")
def searcher():
    model = tiny_model()
    cs = clips(6)
    words = vocabulary(c for clip in cs for c in clip.captions)
    return Searcher(model, STATS, build_index(model, STATS, cs), vocabulary=words), words


def test_unknown_words_are_marked_with_the_closest_known_ones(searcher):
    s, words = searcher
    assert "applauds" not in words and "waves" in words
    result = s.search_text("A person applauds, waves", k=2)
    known = {w.text: w.known for w in result.words}
    assert known == {"A": True, "person": True, "applauds": False, "waves": True}
    [(word, closest)] = result.unknown
    assert word == "applauds" and len(closest) == 3 and set(closest) <= set(words)
    # The closest words are the most similar vectors, in order.
    sims = (s.word_vectors(closest) @ s.word_vectors(["applauds"])[0]).tolist()
    assert sims == sorted(sims, reverse=True)
    others = [w for w in words if w not in closest]
    assert max((s.word_vectors(others) @ s.word_vectors(["applauds"])[0]).tolist()) <= sims[-1]
    # A word the vocabulary holds is its own closest word.
    assert s.closest_known("waves", 1) == ["waves"]


def test_payload_api_and_summary_name_the_unknown_words(searcher):
    s, _ = searcher
    payload = P.text_payload(s.search_text("someone applauds", k=2), s.index)
    assert payload["known"] == [True, False]
    assert payload["unknown"][0]["word"] == "applauds"
    api = P.api_result(payload)
    assert api["unknown_words"] == payload["unknown"]
    text = P.summary_markdown(payload)
    assert "New to this model: **applauds**" in text and "closest it knows" in text
    json.dumps(payload)  # the viewer gets it as JSON
    # All words known: no note, no API field.
    plain = P.text_payload(s.search_text("a person waves", k=2), s.index)
    assert plain["unknown"] == [] and plain["known"] == [True, True, True]
    assert "unknown_words" not in P.api_result(plain)
    assert "New to this model" not in P.summary_markdown(plain)


def test_without_a_vocabulary_nothing_is_marked():
    model = tiny_model()
    cs = clips(4)
    s = Searcher(model, STATS, build_index(model, STATS, cs))
    result = s.search_text("someone applauds", k=1)
    assert result.unknown == [] and all(w.known is None for w in result.words)
    payload = P.text_payload(result, s.index)
    assert payload["known"] == [None, None] and "New to this model" not in P.summary_markdown(
        payload)


def test_the_vocabulary_is_encoded_once(searcher):
    s, words = searcher
    s.warm_vocabulary()
    first = s._vocab_emb
    assert first is not None and first.shape[0] == len(words)
    s.closest_known("applauds")
    s.warm_vocabulary()
    assert s._vocab_emb is first  # reused, not recomputed


def test_engine_serves_the_checkpoint_vocabulary(tmp_path, monkeypatch):
    from demo.engine import load_engine
    from motion_retrieval.vocabulary import add_to_checkpoint

    monkeypatch.setenv("MOTION_CACHE", str(tmp_path / "cache"))
    ckpt = make_checkpoint(tmp_path / "ckpt")
    data = make_gallery(tmp_path / "data", n=6)
    add_to_checkpoint(ckpt, folder_vocabulary([data], split="test"))
    engine = load_engine(ckpt, data, progress=lambda m: None)
    payload = engine.search_text("someone applauds", 2)
    assert payload["known"] == [True, False] and payload["unknown"][0]["word"] == "applauds"
