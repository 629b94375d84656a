"""The Bandai caption generator: sides always agree with the label, varied, deterministic."""
from __future__ import annotations

import re

import pytest

from motion_retrieval import MotionFormatError
from motion_retrieval.captions import (
    CAPTIONS_PER_CLIP,
    CONTENTS,
    STYLES,
    check_sides,
    generate_captions,
    side_of,
)
from motion_retrieval.skeleton import BODY_PARTS, mirror_caption

KEYS = [f"dataset-2_x_y_{i:03d}" for i in range(12)]


@pytest.mark.parametrize("content", sorted(CONTENTS))
def test_side_words_always_agree_with_the_label(content):
    side = side_of(content)
    for style in STYLES:
        for key in KEYS:
            for cap in generate_captions(content, style, key):
                words = set(re.findall(r"\b(left|right)\b", cap.text))
                if side in ("left", "right"):
                    assert words == {side}, (content, style, cap.text)
                else:
                    assert not words, (content, style, cap.text)
                if side == "both":
                    assert re.search(r"\bboth\b", cap.text), cap.text
                assert check_sides(cap.text, side)


def test_side_comes_from_the_content_name():
    assert side_of("wave-left-hand") == "left" and side_of("raise-up-right-hand") == "right"
    assert side_of("walk-turn-right") == "right" and side_of("walk-left") == "left"
    assert side_of("wave-both-hands") == "both" and side_of("raise-up-both-hands") == "both"
    assert side_of("walk") is None and side_of("bow") is None and side_of("kick") is None


def test_check_sides_catches_disagreement():
    assert not check_sides("a person waves the right hand", "left")
    assert not check_sides("waves the left hand then the right hand", "left")
    assert not check_sides("a person waves", "left")
    assert not check_sides("a person waves the left hand", None)
    assert not check_sides("a person waves", "both")
    assert check_sides("a person waves both hands", "both")


@pytest.mark.parametrize("content", sorted(CONTENTS))
def test_at_least_five_phrasings_per_content_are_used(content):
    c = CONTENTS[content]
    assert len(set(c.phrases)) >= 5
    used = {p["text"] for key in (f"clip{i}" for i in range(40))
            for cap in generate_captions(content, "normal", key) for p in cap.phrases[:1]}
    assert len(used) >= 5, used


def test_three_different_captions_per_clip_deterministic_by_id():
    caps = generate_captions("wave-left-hand", "elderly", "dataset-2_wave-left-hand_elderly_001")
    again = generate_captions("wave-left-hand", "elderly", "dataset-2_wave-left-hand_elderly_001")
    other = generate_captions("wave-left-hand", "elderly", "dataset-2_wave-left-hand_elderly_002")
    assert len(caps) == CAPTIONS_PER_CLIP
    assert len({c.text for c in caps}) == CAPTIONS_PER_CLIP
    assert [c.text for c in caps] == [c.text for c in again]
    assert [c.text for c in caps] != [c.text for c in other]


@pytest.mark.parametrize("style", sorted(set(STYLES) - {"normal"}))
def test_every_caption_says_the_style(style):
    s = STYLES[style]
    words = s.subjects + s.adverbs + s.manners
    for key in KEYS:
        for cap in generate_captions("walk", style, key):
            assert any(w in cap.text for w in words), (style, cap.text)


def test_style_words_are_natural_english():
    assert "elderly person" in " ".join(STYLES["elderly"].subjects)
    assert "like a giant" in STYLES["giant"].manners
    assert "like a thug" in STYLES["chimpira"].manners
    assert "in a feminine manner" in STYLES["feminine"].manners
    assert "energetically" in STYLES["active"].adverbs and "wearily" in STYLES["tired"].adverbs
    for s in STYLES.values():  # no style word may carry a side
        for w in s.subjects + s.adverbs + s.manners:
            assert not re.search(r"\b(left|right)\b", w)


def test_grounding_spans_point_at_the_action_and_the_side():
    for key in KEYS:
        for cap in generate_captions("raise-up-left-hand", "active", key):
            g = cap.grounding(80)
            assert g[0]["frames"] == [0, 80]
            for p in g:
                c0, c1 = p["span"]
                assert cap.text[c0:c1] == p["text"]
                assert set(p["parts"]) <= set(BODY_PARTS)
            sided = [p for p in g if p["text"] in ("left hand", "left arm")]
            assert sided and all(part.startswith("l_") for part in sided[0]["parts"])


def test_mirrored_caption_matches_the_mirrored_label():
    for key in KEYS:
        for cap in generate_captions("walk-turn-left", "normal", key):
            assert check_sides(mirror_caption(cap.text), "right")


def test_unknown_labels_raise_a_clear_error():
    with pytest.raises(MotionFormatError, match="no caption templates.*moonwalk"):
        generate_captions("moonwalk", "normal", "k")
    with pytest.raises(MotionFormatError, match="no caption words.*sleepy"):
        generate_captions("walk", "sleepy", "k")
