"""Hand-written query sets: loading, the label rule, recall on hand-made scores, shipped files."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from motion_retrieval.query_set import labels_match, load_query_set, query_set_recall
from motion_retrieval.synthetic.compose import ALL_ACTIONS

QUERIES = Path(__file__).resolve().parent.parent / "assets" / "queries"


def _write(tmp_path, lines) -> Path:
    p = tmp_path / "q.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_load_skips_comments_and_names_bad_lines(tmp_path):
    ok = json.dumps({"query": " waves ", "expect": {"actions": ["wave_left"]}})
    assert load_query_set(_write(tmp_path, ["# note", "", ok])) == [
        {"query": "waves", "expect": {"actions": ["wave_left"]}}]
    for bad, why in [("{not json", "not JSON"),
                     (json.dumps({"query": "", "expect": {"content": "bow"}}), "query"),
                     (json.dumps({"query": "x", "expect": {"colour": "red"}}), "expect"),
                     (json.dumps({"query": "x", "expect": {"actions": "wave"}}), "actions")]:
        with pytest.raises(ValueError, match=f"q.jsonl:2: .*{why}"):
            load_query_set(_write(tmp_path, [ok, bad]))
    with pytest.raises(ValueError, match="no queries"):
        load_query_set(_write(tmp_path, ["# only a comment"]))


@pytest.mark.parametrize("expect, labels, hit", [
    ({"actions": ["hop_right"]}, {"actions": ["walk", "hop_right_x3"]}, True),
    ({"actions": ["turn_left"]}, {"actions": ["turn_left_90"]}, True),
    ({"actions": ["turn_left_90"]}, {"actions": ["turn_left_180"]}, False),
    ({"actions": ["walk"]}, {"actions": ["walk_backward"]}, False),  # not a prefix rule
    ({"actions": ["jump"]}, {"actions": ["jump_forward_x2"]}, False),
    ({"actions": ["wave_right", "clap_both"]}, {"actions": ["clap_both_x2", "wave_right"]}, True),
    ({"actions": ["wave_right", "clap_both"]}, {"actions": ["wave_right"]}, False),
    ({"content": "walk", "style": "elderly"}, {"content": "walk", "style": "elderly"}, True),
    ({"content": "walk", "style": "elderly"}, {"content": "walk", "style": "normal"}, False),
    ({"content": "bow"}, None, False),
])
def test_labels_match(expect, labels, hit):
    assert labels_match(expect, labels) is hit


def test_recall_on_hand_made_scores():
    items = [{"query": "a", "expect": {"content": "x"}},
             {"query": "b", "expect": {"content": "y"}},
             {"query": "c", "expect": {"content": "nowhere"}}]
    gallery = [{"content": "x"}, {"content": "y"}, {"content": "z"}, None]
    scores = np.array([[0.9, 0.1, 0.5, 0.0],    # x first: rank 1
                       [0.9, 0.5, 0.5, 0.7],    # y ties with z, behind x and None: rank 4
                       [0.1, 0.2, 0.3, 0.4]])   # no right answer: left out
    out = query_set_recall(scores, items, gallery)
    assert out["n"] == 2 and out["unanswerable"] == 1
    assert out["R@1"] == 50.0 and out["R@5"] == 100.0 and out["MedR"] == 2.5
    assert out["top1"] == [{"query": "a", "hit": True, "top1": "x"},
                           {"query": "b", "hit": False, "top1": "x"}]
    with pytest.raises(ValueError, match="do not match"):
        query_set_recall(scores[:2], items, gallery)


_ACTION = re.compile(r"(?P<name>[a-z_]+?)(_(?P<side>left|right|both))?(_(?P<deg>45|90|180))?")


def test_shipped_query_sets_load_and_name_real_labels():
    procedural = load_query_set(QUERIES / "procedural.jsonl")
    bandai = load_query_set(QUERIES / "bandai.jsonl")
    assert len(procedural) >= 40 and len(bandai) >= 20
    # The held-out sets (written blind, session 8): larger, never used to choose anything.
    held_p = load_query_set(QUERIES / "procedural_heldout.jsonl")
    held_b = load_query_set(QUERIES / "bandai_heldout.jsonl")
    assert len(held_p) >= 90 and len(held_b) >= 50
    sets = (procedural, bandai, held_p, held_b)
    procedural, bandai = procedural + held_p, bandai + held_b
    for item in procedural:
        for action in item["expect"]["actions"]:
            m = _ACTION.fullmatch(action)
            assert m and m["name"] in ALL_ACTIONS, action
    for item in bandai:
        assert set(item["expect"]) <= {"content", "style"}
    # Written by hand: no query repeats another of its set.
    for items in sets:
        queries = [it["query"].lower() for it in items]
        assert len(set(queries)) == len(queries)
