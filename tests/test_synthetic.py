"""The procedural corpus: physical plausibility (measured), sides, grounding, groups, splits."""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from motion_retrieval import metrics as M
from motion_retrieval.skeleton import BODY_PARTS, BONE_LENGTHS, FPS, PARENTS
from motion_retrieval.synthetic import generate_corpus, generate_records
from motion_retrieval.synthetic.compose import ALL_ACTIONS, ActionSpec, base_duration, build_motion
from motion_retrieval.synthetic.corpus import variants
from tests.conftest import shared_path

N = 60


@pytest.fixture(scope="module")
def corpus():
    return generate_corpus(N, seed=7, workers=1)


def foot_sliding(joints: np.ndarray) -> np.ndarray:
    """Horizontal speeds (m/s) of foot joints while they are near the floor (in contact)."""
    speeds = []
    for j, height in ((7, 0.075), (8, 0.075), (10, 0.025), (11, 0.025)):
        p = joints[:, j]
        v = np.linalg.norm(np.diff(p[:, [0, 2]], axis=0), axis=1) * FPS
        low = (p[1:, 1] < height) & (p[:-1, 1] < height)
        speeds.append(v[low])
    return np.concatenate(speeds)


def single(name: str, seed: int = 0, return_local: bool = False, **kw):
    spec = ActionSpec(name, **kw)
    spec = replace(spec, dur=base_duration(spec))
    return build_motion([spec], 0.3, [], 0.3, np.random.default_rng(seed),
                        return_local=return_local)


def test_deterministic_by_seed():
    a = generate_records(6, seed=3, workers=1)
    b = generate_records(6, seed=3, workers=1)
    c = generate_records(6, seed=4, workers=1)
    assert [r["captions"] for r in a] == [r["captions"] for r in b]
    assert all(np.array_equal(x["joints"], y["joints"]) for x, y in zip(a, b))
    assert [r["labels"]["content"] for r in a] != [r["labels"]["content"] for r in c]


def test_workers_do_not_change_the_result():
    a = generate_records(210, seed=1, workers=1)[195:]
    b = generate_records(210, seed=1, workers=2)[195:]
    assert [r["id"] for r in a] == [r["id"] for r in b]
    assert all(np.array_equal(x["joints"], y["joints"]) for x, y in zip(a, b))


def test_shapes_durations_and_canonical_frame(corpus):
    clips, _ = corpus
    assert len(clips) == N
    for c in clips:
        assert c.joints.dtype == np.float32 and c.joints.shape[1:] == (22, 3)
        assert 2.0 <= c.n_frames / FPS <= 10.0, c.labels["content"]
        feet = c.joints[:, [7, 8, 10, 11], 1]
        assert abs(feet.min()) < 1e-5
        assert np.allclose(c.joints[0, 0, [0, 2]], 0, atol=1e-5)
        across = c.joints[0, 1] - c.joints[0, 2]  # right hip -> left hip points to +X
        assert across[0] > 0.1 and abs(across[2]) < 0.03


def test_bone_lengths_constant(corpus):
    clips, _ = corpus
    err = max(np.abs(np.linalg.norm(c.joints[:, 1:] - c.joints[:, list(PARENTS[1:])], axis=-1)
                     - BONE_LENGTHS[1:]).max() for c in clips)
    assert err < 1e-4, f"bone length error {err * 1000:.3f} mm"


def test_feet_do_not_slide_in_stance(corpus):
    clips, _ = corpus
    v = np.concatenate([foot_sliding(c.joints) for c in clips])
    assert v.size > 1000  # feet are on the floor most of the time
    mean, p95 = v.mean() * 100, np.percentile(v, 95) * 100
    assert mean < 3.0 and p95 < 10.0, f"foot sliding mean {mean:.1f} cm/s, p95 {p95:.1f} cm/s"


@pytest.mark.parametrize("name", ["walk", "run", "turn", "sidestep", "circle", "hop", "lunge"])
def test_locomotion_keeps_stance_feet_planted(name):
    side = "left" if name in ("turn", "sidestep", "circle", "hop", "lunge") else None
    joints, _ = single(name, side=side, angle=90 if name == "turn" else None)
    v = foot_sliding(joints)
    assert np.percentile(v, 95) < 0.12, f"{name}: p95 sliding {np.percentile(v, 95):.3f} m/s"
    assert joints[:, [7, 8, 10, 11], 1].min() > -1e-5


def test_the_walk_actually_moves_and_steps():
    joints, _ = single("walk")
    assert joints[-1, 0, 2] > 1.5  # walked forward along +Z
    toe_lifts = (joints[:, 10, 1] > 0.03).astype(int)
    assert np.count_nonzero(np.diff(toe_lifts) == 1) >= 2  # the left foot left the floor twice


@pytest.mark.parametrize("name", ["walk", "run", "kick", "knee_raise", "squat", "jump", "punch",
                                  "wave", "clap", "lunge"])
def test_knees_and_elbows_never_bend_backwards(name):
    side = {"kick": "right", "knee_raise": "left", "punch": "both", "wave": "left",
            "lunge": "right", "clap": "both"}.get(name)
    joints, _, local = single(name, side=side, count=2, return_local=True)
    down = np.array([0.0, -1.0, 0.0])
    for knee in (4, 5):  # shin relative to thigh: forward (+Z) would be hyperextension
        shin = local[:, knee] @ down
        assert shin[:, 2].max() < 1e-6, f"{name}: knee {knee} bends backwards"
        assert abs(shin[:, 0]).max() < 1e-6  # a hinge: no sideways bend
    for elbow in (18, 19):  # forearm relative to upper arm: backwards would be hyperextension
        fore = local[:, elbow] @ down
        assert fore[:, 2].min() > -1e-6, f"{name}: elbow {elbow} bends backwards"
    # and seen from positions: the knee folds with its axis pointing to the body's left
    for hip, knee, ankle in ((1, 4, 7), (2, 5, 8)):
        u, f = joints[:, knee] - joints[:, hip], joints[:, ankle] - joints[:, knee]
        left = joints[:, 1] - joints[:, 2]
        assert (np.cross(u, f) * left).sum(-1).min() > -1e-4


def _up(joints, j):
    return joints[:, j, 1] - joints[0, j, 1]


@pytest.mark.parametrize("side", ["left", "right"])
def test_sides_agree_with_the_motion(side):
    s, o = (0, 1) if side == "left" else (1, 0)
    wrists, ankles = (20, 21), (7, 8)
    for name in ("wave", "raise"):
        j, _ = single(name, side=side)
        assert _up(j, wrists[s]).max() > _up(j, wrists[o]).max() + 0.2, name
        assert np.sign(j[:, wrists[s], 0].mean()) == (1 if side == "left" else -1)
    for name in ("punch", "reach"):  # the named hand goes furthest forward (+Z)
        j, _ = single(name, side=side)
        assert j[:, wrists[s], 2].max() > j[:, wrists[o], 2].max() + 0.1, name
    for name in ("kick", "knee_raise"):
        j, _ = single(name, side=side)
        assert _up(j, ankles[s]).max() > _up(j, ankles[o]).max() + 0.2, name
    j, _ = single("hop", side=side)  # hopping on the left leg: the right foot is held up
    off = (j[:, ankles, 1] > 0.1).sum(0)
    assert off[o] > 2 * off[s] and off[o] > 0.3 * len(j)
    sign = 1 if side == "left" else -1  # the person's left is +X at frame 0
    j, _ = single("sidestep", side=side)
    assert sign * j[-1, 0, 0] > 0.5
    j, _ = single("turn", side=side, angle=90)
    across = j[-1, 1] - j[-1, 2]
    facing = np.cross(across, [0.0, 1.0, 0.0])
    assert sign * facing[0] > 0.9 * np.linalg.norm(facing)
    j, _ = single("lean", side=side)
    assert (sign * (j[:, 15, 0] - j[:, 0, 0])).max() > 0.15
    j, _ = single("twist", side=side)
    shoulders = j[:, 16] - j[:, 17]
    assert (sign * shoulders[:, 2]).min() < -0.1  # the left shoulder goes back on a left twist


def test_every_action_builds():
    for name in ALL_ACTIONS:
        side = ("both" if name in ("wave", "raise", "punch", "reach", "clap") else
                "left" if name in ("sidestep", "turn", "circle", "kick", "knee_raise", "lunge",
                                   "hop", "twist", "lean") else None)
        j, ranges = single(name, side=side, angle=90 if name == "turn" else None)
        assert np.isfinite(j).all() and ranges[0][1] <= len(j)


def test_grounding_spans_parts_and_frames(corpus):
    clips, _ = corpus
    for c in clips:
        assert len(c.captions) == 3 and len(c.grounding) == 3
        for text, phrases in zip(c.captions, c.grounding):
            assert len(phrases) == len(c.labels["actions"])
            for p in phrases:
                c0, c1 = p["span"]
                assert text[c0:c1] == p["text"] and p["text"].strip() == p["text"]
                assert p["parts"] and set(p["parts"]) <= set(BODY_PARTS)
                f0, f1 = p["frames"]
                assert 0 <= f0 < f1 <= c.n_frames
            starts = [p["frames"][0] for p in phrases]
            assert starts == sorted(starts)  # actions follow each other in program order


_SIDE_WORD = re.compile(r"\b(left|right|leftward|rightward|clockwise|counterclockwise)\b")


def test_side_metric_counts_every_own_motion_as_a_hit(corpus):
    # Whatever caption is the query, its own clip must be a side hit: a perfect retrieval
    # scores 100 % side accuracy (with the first-sided-action label alone it would not).
    clips, _ = corpus
    sides = [M.motion_sides(c.labels) for c in clips]
    for k in range(3):
        out = M.side_accuracy(np.eye(len(clips)), [c.captions[k] for c in clips], sides)
        assert out["n"] > 0 and out["accuracy"] == 100.0


def test_caption_side_words_match_labels(corpus):
    clips, _ = corpus
    for c in clips:
        for phrases in c.grounding:
            for p, action in zip(phrases, c.labels["actions"]):
                words = set(_SIDE_WORD.findall(p["text"].lower()))
                said = {"left": {"left", "leftward", "counterclockwise"},
                        "right": {"right", "rightward", "clockwise"}}
                side = "left" if "_left" in action else "right" if "_right" in action else None
                if side is None:
                    assert not words, (action, p["text"])
                else:
                    assert words and words <= said[side], (action, p["text"])


def test_groups_are_hard_negatives_and_splits_keep_them_whole(corpus):
    clips, splits = corpus
    groups: dict[str, list] = {}
    for c in clips:
        groups.setdefault(c.labels["group"], []).append(c)
    multi = [g for g in groups.values() if len(g) >= 2]
    assert len(multi) >= 0.8 * len(groups) - 1
    for members in groups.values():
        contents = [m.labels["content"] for m in members]
        assert len(set(contents)) == len(contents)
    where = {i: s for s, ids in splits.items() for i in ids}
    assert sorted(where) == sorted(c.id for c in clips)
    for members in groups.values():
        assert len({where[m.id] for m in members}) == 1


def test_split_proportions():
    clips, splits = generate_corpus(400, seed=2)
    frac = {k: len(v) / len(clips) for k, v in splits.items()}
    assert 0.7 < frac["train"] < 0.9 and 0.04 < frac["val"] < 0.16 and 0.04 < frac["test"] < 0.16


def test_variants_change_exactly_one_detail():
    prog = [ActionSpec("wave", "left", 2), ActionSpec("turn", "right", angle=90)]
    with pytest.raises(ValueError, match="turns only"):
        ActionSpec("turn", "left")
    contents = {"+".join(a.content for a in v) for v in variants(prog, np.random.default_rng(0))}
    assert "wave_right_x2+turn_left_90" in contents  # the other side
    assert "turn_right_90+wave_left_x2" in contents  # the other order
    assert any(c.startswith("wave_left_x1+") or c.startswith("wave_left_x3+") for c in contents)


def test_labels(corpus):
    clips, _ = corpus
    for c in clips:
        lab = c.labels
        assert lab["content"] == "+".join(lab["actions"])
        assert lab["side"] in ("left", "right", "both", None)
        assert lab["style"] in ("slow", "fast", None)
        first_sided = next((a for a in lab["actions"] if re.search(r"_(left|right|both)", a)), None)
        if lab["side"] is None:
            assert first_sided is None
        else:
            assert f"_{lab['side']}" in first_sided


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least 1"):
        generate_records(0)
    with pytest.raises(ValueError, match="unknown action"):
        single("moonwalk")
    with pytest.raises(ValueError, match="takes side"):
        single("wave")
    with pytest.raises(ValueError, match="takes side"):
        single("squat", side="left")


@pytest.mark.shared_data
def test_captions_use_humanml3d_words(corpus):
    vocab = set()
    for name in ("verbs", "nouns", "adjs", "advs"):
        path = shared_path("humanml3d-sample", "vocab", f"{name}.txt")
        for line in path.read_text().splitlines():
            if line.split():
                vocab.add(line.split()[0])
    clips, _ = corpus
    stop = {"a", "the", "their", "his", "her", "and", "with", "to", "of", "in", "is", "on", "by",
            "up", "it", "at", "into", "over", "he", "she", "they", "one", "each", "times"}
    words = [w for c in clips for t in c.captions for w in re.findall(r"[a-z]+", t.lower())
             if w not in stop]
    known = np.mean([w in vocab or w.rstrip("s") in vocab or w.removesuffix("ing") in vocab
                     or w.removesuffix("es") in vocab for w in words])
    assert known > 0.85, f"only {known:.0%} of caption words are HumanML3D vocabulary"


def test_generate_split_equals_the_corpus_split():
    from motion_retrieval.synthetic import generate_corpus, generate_split

    clips_, splits = generate_corpus(120, seed=3, workers=1)
    for split in ("test", "val"):
        want = {c.id: c for c in clips_ if c.id in set(splits[split])}
        got = generate_split(120, 3, split)
        assert [c.id for c in got] == list(want) and got
        for c in got:
            np.testing.assert_array_equal(c.joints, want[c.id].joints)
            assert c.captions == want[c.id].captions
    with pytest.raises(ValueError, match="split"):
        generate_split(10, 0, "dev")


def test_caption_wording_does_not_give_away_the_side():
    """With the side words removed, a caption's wording must not predict its clip's side: the
    templates are shared by left and right, so a model has to look at the motion."""
    from motion_retrieval.skeleton import _SIDE_WORDS

    clips_, _ = generate_corpus(600, seed=11, workers=1)
    docs, ys = [], []
    for c in clips_:
        if c.labels["side"] in ("left", "right"):
            for cap in c.captions:
                words = re.findall(r"[a-z]+", cap.lower())
                docs.append([w for w in words if w not in _SIDE_WORDS])
                ys.append(c.labels["side"] == "left")
    ys = np.array(ys)
    vocab = {w: i for i, w in enumerate(sorted({w for d in docs for w in d}))}
    counts = np.zeros((len(docs), len(vocab)))
    for i, d in enumerate(docs):
        for w in d:
            counts[i, vocab[w]] += 1
    half = len(docs) // 2  # clips are in generation order: train on one half, test on the other
    logp = [np.log(counts[:half][ys[:half] == k].sum(0) + 1.0) for k in (False, True)]
    logp = [lp - np.log(np.exp(lp).sum()) for lp in logp]
    pred = counts[half:] @ logp[1] > counts[half:] @ logp[0]
    accuracy = float((pred == ys[half:]).mean())
    assert len(docs) > 300
    assert accuracy < 0.62, f"side predictable from wording alone: {accuracy:.2f}"


def test_every_verb_is_spelled_right_in_every_form():
    """Each template verb's -ing and third-person forms, checked against a dictionary spelling
    (the corpus of sessions 1-7 wrote "claping" and "sidesteping")."""
    from motion_retrieval.synthetic import captions

    source = Path(captions.__file__).read_text()
    verbs = sorted(set(re.findall(r"<([a-z]+)>", source)) - {"verb"})
    expected_ing = {
        "bend": "bending", "bow": "bowing", "box": "boxing", "bring": "bringing",
        "clap": "clapping", "crouch": "crouching", "do": "doing", "extend": "extending",
        "hop": "hopping", "jab": "jabbing", "jog": "jogging", "jump": "jumping",
        "kick": "kicking", "lean": "leaning", "leap": "leaping", "lift": "lifting",
        "lunge": "lunging", "make": "making", "move": "moving", "pivot": "pivoting",
        "punch": "punching", "put": "putting", "raise": "raising", "reach": "reaching",
        "rotate": "rotating", "run": "running", "shuffle": "shuffling",
        "sidestep": "sidestepping", "squat": "squatting", "stand": "standing",
        "step": "stepping", "stretch": "stretching", "take": "taking", "throw": "throwing",
        "tilt": "tilting", "turn": "turning", "twist": "twisting", "walk": "walking",
        "wave": "waving",
    }
    assert set(verbs) <= set(expected_ing), set(verbs) - set(expected_ing)
    for verb in verbs:
        assert captions.conjugate(verb, "ing") == expected_ing[verb], verb
    third = {v: captions.conjugate(v, "third") for v in verbs}
    assert third["box"] == "boxes" and third["punch"] == "punches" and third["do"] == "does"
    assert third["clap"] == "claps" and third["stretch"] == "stretches"
