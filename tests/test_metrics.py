"""Metrics on hand-made score matrices and similarity maps whose answers are worked out by hand."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from motion_retrieval import metrics as M
from motion_retrieval.skeleton import NUM_PARTS, PART_INDEX


def patch(block: int, part: str) -> int:
    return block * NUM_PARTS + PART_INDEX[part]


# ---------------------------------------------------------------- ranks

def test_known_ranks_text_to_motion_and_back():
    # Row i = text i. Text 0: own motion best (rank 1). Text 1: two motions above its own
    # (rank 3). Text 2: one above (rank 2). Text 3: rank 4.
    s = np.array([
        [0.9, 0.1, 0.2, 0.3],
        [0.8, 0.5, 0.7, 0.1],
        [0.1, 0.2, 0.5, 0.9],
        [0.9, 0.8, 0.7, 0.1],
    ])
    caps = ["a", "b", "c", "d"]
    out = M.retrieval_metrics(s, caps)
    t2m = out["t2m"]
    assert t2m["R@1"] == 25.0 and t2m["R@2"] == 50.0 and t2m["R@3"] == 75.0
    assert t2m["R@5"] == 100.0 and t2m["MedR"] == 2.5 and t2m["n"] == 4
    # Columns (motion -> text), pessimistic: motion 0 [.9 .8 .1 .9] ties text 3 -> 2;
    # motion 1 [.1 .5 .2 .8] -> 2; motion 2 [.2 .7 .5 .7] -> 3; motion 3 [.3 .1 .9 .1] -> 4.
    np.testing.assert_array_equal(M.ranks_from_correct(s.T, np.eye(4, dtype=bool)), [2, 2, 3, 4])
    assert out["m2t"]["R@1"] == 0.0 and out["m2t"]["R@2"] == 50.0 and out["m2t"]["MedR"] == 2.5


def test_ties_are_pessimistic_by_default():
    s = np.zeros((4, 4))  # a model that cannot tell anything apart
    pess = M.retrieval_metrics(s, ["a", "b", "c", "d"])["t2m"]
    assert pess["R@1"] == 0.0 and pess["R@3"] == 0.0 and pess["MedR"] == 4.0
    opt = M.retrieval_metrics(s, ["a", "b", "c", "d"], ties="optimistic")["t2m"]
    assert opt["R@1"] == 100.0 and opt["MedR"] == 1.0
    # One tie above: text 0 ties with motion 2 -> rank 2 pessimistic, 1 optimistic.
    s = np.array([[0.5, 0.1, 0.5], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    eye = np.eye(3, dtype=bool)
    np.testing.assert_array_equal(M.ranks_from_correct(s, eye), [2, 1, 1])
    np.testing.assert_array_equal(M.ranks_from_correct(s, eye, ties="optimistic"), [1, 1, 1])
    with pytest.raises(ValueError, match="ties"):
        M.ranks_from_correct(s, eye, ties="mean")


def test_identical_captions_count_as_correct():
    caps = ["A man walks forward.", "a man  walks forward. ", "someone jumps"]
    # Text 0 prefers motion 1, whose caption is the same sentence: still a hit.
    s = np.array([[0.2, 0.9, 0.1], [0.9, 0.2, 0.1], [0.1, 0.3, 0.2]])
    out = M.retrieval_metrics(s, caps)
    assert out["t2m"]["R@1"] == pytest.approx(200 / 3)  # texts 0, 1 hit; text 2 ranks 2nd
    np.testing.assert_array_equal(
        M.ranks_from_correct(s, M.identical_captions(caps, caps) | np.eye(3, dtype=bool)),
        [1, 1, 2])
    # Without the duplicate rule texts 0 and 1 would rank 2nd.
    assert M.retrieval_metrics(s, ["x", "y", "z"])["t2m"]["R@1"] == 0.0
    # motion->text: motion 2's column [0.1, 0.1, 0.2] -> rank 1; motion 0 column [0.2, 0.9, 0.1]
    # -> its best correct text (text 1, identical) scores 0.9 -> rank 1.
    assert out["m2t"]["R@1"] == 100.0


def test_input_errors_are_clear():
    with pytest.raises(ValueError, match="square"):
        M.retrieval_metrics(np.zeros((2, 3)), ["a", "b"])
    with pytest.raises(ValueError, match="NaN"):
        M.retrieval_metrics(np.full((2, 2), np.nan), ["a", "b"])
    with pytest.raises(ValueError, match="at least one correct"):
        M.ranks_from_correct(np.zeros((2, 2)), np.zeros((2, 2), dtype=bool))


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (6, 6), elements=st.integers(-3, 3).map(float)),
       st.permutations(range(6)))
def test_rank_properties(s, perm):
    eye = np.eye(6, dtype=bool)
    pess = M.ranks_from_correct(s, eye)
    opt = M.ranks_from_correct(s, eye, ties="optimistic")
    assert ((1 <= opt) & (opt <= pess) & (pess <= 6)).all()
    # Reordering the gallery (scores and truth together) changes no rank.
    perm = list(perm)
    np.testing.assert_array_equal(M.ranks_from_correct(s[:, perm], eye[:, perm]), pess)
    # The rank is 1 + the wrong items at or above the true score.
    expected = [1 + sum(s[i, j] >= s[i, i] for j in range(6) if j != i) for i in range(6)]
    np.testing.assert_array_equal(pess, expected)


# ---------------------------------------------------------------- batch of 32

def test_batch_protocol_groups_and_averages():
    rng = np.random.default_rng(1)
    n = 70  # two full groups of 32; six pairs are left out
    s = rng.normal(size=(n, n))
    caps = [f"caption {i}" for i in range(n)]
    out = M.batch_protocol(s, caps, size=32, seed=3)
    assert out["groups"] == 2 and out["size"] == 32 and out["t2m"]["n"] == 64
    order = np.random.default_rng(3).permutation(n)
    by_hand = [M.retrieval_metrics(s[np.ix_(g, g)], [caps[i] for i in g])
               for g in (order[:32], order[32:64])]
    for k in ("R@1", "R@5", "MedR"):
        assert out["t2m"][k] == pytest.approx((by_hand[0]["t2m"][k] + by_hand[1]["t2m"][k]) / 2)
        assert out["m2t"][k] == pytest.approx((by_hand[0]["m2t"][k] + by_hand[1]["m2t"][k]) / 2)
    assert M.batch_protocol(s, caps, seed=3) == out  # deterministic
    assert M.batch_protocol(s, caps, seed=4)["t2m"] != out["t2m"]


def test_batch_protocol_is_easier_than_all():
    # Each text prefers the next motion over its own: rank 2 in the All protocol, but rank 1
    # whenever that neighbour falls in another group.
    n = 64
    s = np.eye(n) * 0.5 + np.roll(np.eye(n), 1, axis=1)
    caps = [str(i) for i in range(n)]
    assert M.retrieval_metrics(s, caps)["t2m"]["R@1"] == 0.0
    assert M.retrieval_metrics(s, caps)["t2m"]["R@2"] == 100.0
    group = np.empty(n, dtype=int)
    group[np.random.default_rng(0).permutation(n)] = np.arange(n) // 32
    split = np.mean(group != np.roll(group, -1))  # text i's neighbour i+1 sits elsewhere
    assert 0 < split < 1
    assert M.batch_protocol(s, caps, size=32, seed=0)["t2m"]["R@1"] == pytest.approx(100 * split)


def test_batch_protocol_with_fewer_pairs_than_a_group():
    s = np.eye(5)
    out = M.batch_protocol(s, list("abcde"), size=32)
    assert out["size"] == 5 and out["groups"] == 1 and out["t2m"]["R@1"] == 100.0


# ---------------------------------------------------------------- labels and sides

def test_label_recall_content_and_style():
    labels = [
        {"content": "walk", "style": "happy"},
        {"content": "walk", "style": "sad"},
        {"content": "run", "style": "happy"},
        {"content": "run", "style": None},
        None,
    ]
    # Text 0 ranks motion 1 (walk, sad) first, then motion 2 (run, happy), then its own.
    s = np.array([
        [0.1, 0.9, 0.5, 0.0, 0.0],
        [0.0, 0.1, 0.9, 0.0, 0.0],
        [0.0, 0.0, 0.2, 0.9, 0.0],
        [0.0, 0.0, 0.5, 0.1, 0.9],
        [0.0, 0.0, 0.0, 0.0, 0.9],
    ])
    content = M.label_recall(s, labels, labels, ("content",))
    # Content ranks: text0 1 (walk/sad is a walk), text1 2, text2 1, text3 2 (the unlabelled
    # motion 4 never matches); text4 has no label and is left out.
    assert content["n"] == 4 and content["R@1"] == 50.0 and content["R@2"] == 100.0
    both = M.label_recall(s, labels, labels, ("content", "style"))
    # Text 3 has no style: left out. Text0 rank 3, text1 2, text2 2.
    assert both["n"] == 3 and both["R@1"] == 0.0 and both["R@2"] == pytest.approx(200 / 3)
    assert both["R@3"] == 100.0 and both["keys"] == ["content", "style"]


@pytest.mark.parametrize("caption,side", [
    ("A person waves the LEFT hand", "left"),
    ("turns right, then walks right again", "right"),
    ("raises both hands", None),
    ("raises the left hand and then both hands", None),
    ("moves left then right", None),
    ("walks forward", None),
    ("the leftover outright motion", None),  # word-bounded
])
def test_caption_side(caption, side):
    assert M.caption_side(caption) == side


def test_side_accuracy():
    caps = ["waves the left hand", "waves the right hand", "waves both hands",
            "raises the right arm", "walks"]
    sides = ["left", "right", "both", "right", None]
    s = np.array([
        [0.9, 0.1, 0.0, 0.0, 0.0],   # left -> motion 0 (left): hit
        [0.9, 0.1, 0.0, 0.0, 0.0],   # right -> motion 0 (left): miss
        [0.0, 0.0, 0.9, 0.0, 0.0],   # no side: skipped
        [0.0, 0.5, 0.0, 0.5, 0.0],   # right -> tie of two right motions: hit
        [0.0, 0.0, 0.0, 0.0, 0.9],   # no side: skipped
    ])
    out = M.side_accuracy(s, caps, sides)
    assert out["n"] == 3 and out["accuracy"] == pytest.approx(200 / 3)
    assert out["accuracy_left"] == 100.0 and out["accuracy_right"] == 50.0
    assert out["chance"] == pytest.approx(100 * (1 / 5 + 2 / 5 + 2 / 5) / 3)
    # A top-1 tie between a right and a left motion is a miss (pessimistic).
    s[3] = [0.0, 0.5, 0.0, 0.0, 0.0]
    s[3, 0] = 0.5
    assert M.side_accuracy(s, caps, sides)["accuracy_right"] == 0.0


def test_motion_sides_from_every_action():
    # A procedural clip's `side` label is its first sided action; its sides are all of them.
    assert M.motion_sides({"actions": ["clap_both_x2", "kick_left_x2"], "side": "both"}) == {"left"}
    assert M.motion_sides({"actions": ["twist_left", "hop_right_x3"], "side": "left"}) == {
        "left", "right"}
    assert M.motion_sides({"actions": ["walk", "raise_both"], "side": "both"}) == set()
    assert M.motion_sides({"side": "right"}) == {"right"}  # one label per clip (Bandai-Namco)
    assert M.motion_sides({"side": "both"}) == set() and M.motion_sides(None) == set()


def test_side_accuracy_with_side_sets():
    caps = ["claps, then kicks with the left leg", "kicks with the right leg", "walks"]
    sides = [{"left"}, {"right"}, set()]
    own = np.eye(3)
    out = M.side_accuracy(own, caps, sides)
    assert out["accuracy"] == 100.0 and out["oracle"] == 100.0 and out["n"] == 2
    # The same clips with their first-sided-action labels: the own motion of the first query,
    # labelled "both", would count as a miss.
    assert M.side_accuracy(own, caps, ["both", "right", None])["oracle"] == 50.0
    wrong = own[[1, 0, 2]]
    out = M.side_accuracy(wrong, caps, sides)
    assert out["accuracy"] == 0.0 and out["oracle"] == 100.0
    assert out["chance"] == pytest.approx(100 / 3)


# ---------------------------------------------------------------- grounding

def test_frames_to_blocks_padded_and_resampled():
    np.testing.assert_array_equal(np.flatnonzero(M.frames_to_blocks((20, 40), 100)), [1, 2])
    np.testing.assert_array_equal(np.flatnonzero(M.valid_blocks(100)), range(7))
    # 448 frames are resampled to 224 rows (block i shows frames [32 i, 32 i + 32)).
    np.testing.assert_array_equal(np.flatnonzero(M.frames_to_blocks((32, 64), 448)), [1])
    np.testing.assert_array_equal(np.flatnonzero(M.frames_to_blocks((63, 65), 448)), [1, 2])
    assert M.valid_blocks(448).all() and M.valid_blocks(224).all()
    np.testing.assert_array_equal(np.flatnonzero(M.valid_blocks(17)), [0, 1])
    with pytest.raises(ValueError, match="non-empty"):
        M.frames_to_blocks((5, 5), 100)


def test_grounding_score_on_hand_made_maps():
    L = 5
    sim = np.zeros((L, 196))
    sim[1, patch(2, "l_shoulder")] = 1.0       # "left": left shoulder, block 2 -> both hits
    sim[2, patch(9, "r_elbow")] = 1.0          # "arm": right elbow, block 9 -> both miss
    # A two-piece word: the mean of its rows peaks at the left elbow in block 3.
    sim[3, patch(3, "l_elbow")] = 1.0
    sim[3, patch(0, "global")] = 1.2
    sim[4, patch(3, "l_elbow")] = 1.0
    sim[4, patch(0, "global")] = -1.0
    phrase = M.GroundedPhrase(sim, [[1], [2], [3, 4]], ["left_arm"], (32, 64), 200, "synth")
    out = M.grounding_score([phrase])["synth"]
    assert out["part"] == pytest.approx(200 / 3)
    assert out["time"] == pytest.approx(200 / 3)   # blocks 2 and 3 hit, block 9 misses
    assert out["part_chance"] == pytest.approx(100 * 2 / 14)
    assert out["phrases"] == 1 and out["words"] == 3
    # 200 frames -> 13 valid blocks; [32, 64) covers blocks 2 and 3 only.
    assert out["time_chance"] == pytest.approx(100 * 2 / 13)


def test_grounding_time_hits_and_averaging_over_phrases():
    sim = np.zeros((2, 196))
    sim[0, patch(3, "l_elbow")] = 1.0
    sim[1, patch(2, "r_knee")] = 1.0
    a = M.GroundedPhrase(sim, [[0]], ["l_elbow"], (48, 64), 200)     # part hit, time hit
    b = M.GroundedPhrase(sim, [[0], [1]], ["r_knee"], None, 200)      # 1 of 2 part hits
    out = M.grounding_score([a, b])["all"]
    assert out["part"] == pytest.approx(75.0)  # mean of 100 % and 50 %
    assert out["time"] == 100.0 and out["time_phrases"] == 1 and out["words"] == 3


def test_grounding_ignores_padding_blocks_and_rejects_global_maps():
    sim = np.zeros((1, 196))
    sim[0, patch(12, "neck")] = 5.0             # a padding block of a 40-frame clip
    sim[0, patch(1, "l_knee")] = 1.0
    np.testing.assert_array_equal(M.word_patches(sim, [[0]], n_frames=40), [patch(1, "l_knee")])
    with pytest.raises(ValueError, match="global baseline"):
        M.word_patches(np.zeros((3, 1)), [[0]])
    with pytest.raises(ValueError, match="unknown body part"):
        M.parts_mask(["left_wing"])


def test_bandai_arm_phrase():
    assert M.one_arm_side("wave-left-hand") == "left"
    assert M.one_arm_side("raise-up-right-hand") == "right"
    assert M.one_arm_side("wave-both-hands") is None and M.one_arm_side(None) is None
    words = ["a", "tired", "person", "slowly", "raises", "his", "right", "hand", "then", "left"]
    assert M.arm_phrase_words(words, "right") == [4, 6, 7]
    assert M.arm_parts("left") == ("l_shoulder", "l_elbow")
