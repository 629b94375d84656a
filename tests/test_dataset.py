"""The on-disk layout: writing, reading (ours, HumanML3D and KIT-ML folders), segment cutting."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from motion_retrieval import MotionFormatError
from motion_retrieval.dataset import Clip, parse_texts, read_dataset, split_ids, write_dataset
from motion_retrieval.skeleton import rest_pose


def motion(n: int, seed: int = 0) -> np.ndarray:
    """(n, 22, 3) standing person that drifts forward and sways; metres, facing +Z."""
    rng = np.random.default_rng(seed)
    x = np.repeat(rest_pose()[None], n, axis=0)
    t = np.arange(n)[:, None]
    x[..., 2] += 0.02 * t  # 0.4 m/s forward
    x[:, 16:, 1] += 0.05 * np.sin(t / 5.0)  # arms move: frames are not all alike
    return (x + rng.normal(0, 0.002, x.shape)).astype(np.float32)


def pair_distances(j: np.ndarray) -> np.ndarray:
    """Per-frame joint-to-joint distances: unchanged by the rigid moves canonicalisation makes."""
    return np.linalg.norm(j[:, :, None] - j[:, None, :], axis=-1)


def write_humanml3d(root: Path, entries: dict[str, tuple[np.ndarray | None, str | None]],
                    splits: dict[str, list[str]]) -> Path:
    (root / "new_joints").mkdir(parents=True)
    (root / "texts").mkdir()
    for cid, (joints, text) in entries.items():
        if joints is not None:
            np.save(root / "new_joints" / f"{cid}.npy", joints)
        if text is not None:
            (root / "texts" / f"{cid}.txt").write_text(text)
    for name, ids in splits.items():
        (root / f"{name}.txt").write_text("\n".join(ids) + "\n")
    return root


def test_write_then_read_round_trip(tmp_path):
    grounding = [[{"span": [2, 8], "text": "person", "parts": ["global"], "frames": [0, 30]}],
                 []]
    clips = [Clip("a", motion(30), ["a person walks", "someone walks ahead"],
                  {"content": "walk", "style": "normal", "side": None, "group": "g"}, grounding),
             Clip("b", motion(50, 1), ["a person waves the left hand"],
                  {"content": "wave-left-hand", "side": "left"}),
             Clip("c", motion(25, 2), ["a person bows"])]
    write_dataset(tmp_path, clips, {"train": ["a", "b"], "test": ["c"]})

    assert (tmp_path / "texts" / "a.txt").read_text().splitlines() == [
        "a person walks##0.0#0.0", "someone walks ahead##0.0#0.0"]
    ds = read_dataset(tmp_path)
    assert [c.id for c in ds] == ["a", "b", "c"] and ds.skipped == 0
    got = ds.by_id()
    assert got["a"].captions == clips[0].captions
    assert got["a"].labels == clips[0].labels
    assert got["a"].grounding == grounding
    assert got["c"].labels == {} and got["c"].grounding == []
    assert got["b"].joints.dtype == np.float32 and got["b"].joints.shape == (50, 22, 3)
    np.testing.assert_allclose(pair_distances(got["b"].joints), pair_distances(clips[1].joints),
                               atol=1e-4)
    assert [c.id for c in read_dataset(tmp_path, "train")] == ["a", "b"]
    assert [c.id for c in read_dataset(tmp_path, "test")] == ["c"]


def test_rewrite_without_labels_removes_stale_sidecar(tmp_path):
    write_dataset(tmp_path, [Clip("a", motion(20), ["x"], {"content": "walk"})], {"train": ["a"]})
    write_dataset(tmp_path, [Clip("a", motion(20), ["x"])], {"train": ["a"]})
    assert not (tmp_path / "labels.json").exists()
    assert read_dataset(tmp_path)[0].labels == {}


@pytest.mark.parametrize("clips, splits, match", [
    ([Clip("a", motion(20), ["x"]), Clip("a", motion(20), ["y"])], {"train": ["a"]},
     "duplicate"),
    ([Clip("a", motion(20), ["x"])], {"train": ["a"], "test": ["a"]}, "both train and test"),
    ([Clip("a", motion(20), ["x"])], {"train": ["b"]}, "not a clip"),
    ([Clip("a", motion(20), ["left # right"])], {"train": ["a"]}, "'#'"),
    ([Clip("a", motion(20), [])], {"train": ["a"]}, "no captions"),
    ([Clip("a/b", motion(20), ["x"])], {"train": ["a/b"]}, "file name"),
    ([Clip("a", np.zeros((20, 21, 3)), ["x"])], {"train": ["a"]}, r"\(T, 22, 3\)"),
    ([Clip("a", motion(20), ["x", "y"], grounding=[[]])], {"train": ["a"]}, "grounding"),
    ([Clip("a", motion(20), ["a man"], grounding=[[{"span": [2, 5], "text": "man",
                                                     "parts": ["tail"], "frames": [0, 5]}]])],
     {"train": ["a"]}, "unknown body parts"),
    ([Clip("a", motion(20), ["a man"], grounding=[[{"span": [0, 5], "text": "nope",
                                                     "parts": [], "frames": [0, 5]}]])],
     {"train": ["a"]}, "span"),
])
def test_write_rejects_bad_input_with_a_clear_message(tmp_path, clips, splits, match):
    with pytest.raises(MotionFormatError, match=match):
        write_dataset(tmp_path, clips, splits)


def test_parse_texts_reads_humanml3d_lines():
    lines, problems = parse_texts(
        "a man walks.#a/DET man/NOUN walk/VERB#0.0#0.0\n"
        "\n"
        "he turns#he/PRON turn/VERB#1.5#4.0\n"
        "whole again#x#nan#nan\n"
        "plain caption without tags\n"
        "#empty/NOUN#0.0#0.0\n"
        "bad times#x#one#two\n")
    assert [(ln.caption, ln.start, ln.end) for ln in lines] == [
        ("a man walks.", 0.0, 0.0), ("he turns", 1.5, 4.0), ("whole again", 0.0, 0.0),
        ("plain caption without tags", 0.0, 0.0)]
    assert [ln.index for ln in lines] == [0, 1, 2, 3]
    assert len(problems) == 2 and "empty caption" in problems[0] and "numbers" in problems[1]


def test_humanml3d_segments_become_clips_cut_at_20_fps(tmp_path):
    m = motion(120)
    text = ("a person walks forward#a/DET person/NOUN#0.0#0.0\n"
            "the person takes two steps#the/DET#1.0#3.55\n"
            "two steps#x#1.0#3.55\n"
            "then stops#x#4.0#5.5\n")
    root = write_humanml3d(tmp_path / "h", {"000001": (m, text)}, {"train": ["000001"]})
    ds = read_dataset(root, "train")
    got = ds.by_id()
    assert sorted(got) == ["000001", "000001#1-3.55", "000001#4-5.5"]
    assert got["000001"].captions == ["a person walks forward"]
    seg = got["000001#1-3.55"]
    assert seg.captions == ["the person takes two steps", "two steps"]
    # HumanML3D cuts motion[int(start*20):int(end*20)] -> frames 20..71
    assert seg.n_frames == 51
    np.testing.assert_allclose(pair_distances(seg.joints), pair_distances(m[20:71]), atol=1e-4)
    assert np.abs(seg.joints[0, 0, [0, 2]]).max() < 1e-5  # re-placed at the origin
    assert got["000001#4-5.5"].n_frames == 110 - 80
    assert seg.labels["parent"] == "000001"


def test_motion_with_only_segment_captions_has_no_whole_clip(tmp_path):
    root = write_humanml3d(tmp_path / "h", {"7": (motion(100), "kicks#x#1.0#2.0\n")},
                           {"test": ["7"]})
    assert [c.id for c in read_dataset(root)] == ["7#1-2"]


def test_segment_grounding_is_shifted_into_the_segment(tmp_path):
    m = motion(100)
    clips = [Clip("g", m, ["a man kicks"], {"content": "kick"},
                  [[{"span": [6, 11], "text": "kicks", "parts": ["r_hip"], "frames": [30, 60]}]])]
    write_dataset(tmp_path, clips, {"train": ["g"]})
    # turn the written caption into a segment caption (1.0 s .. 2.5 s = frames 20..50)
    (tmp_path / "texts" / "g.txt").write_text("a man kicks##1.0#2.5\n")
    seg = read_dataset(tmp_path)[0]
    assert seg.id == "g#1-2.5" and seg.labels["content"] == "kick"
    assert seg.grounding == [[{"span": [6, 11], "text": "kicks", "parts": ["r_hip"],
                               "frames": [10, 30]}]]


def test_unreadable_entries_are_skipped_and_counted(tmp_path):
    root = write_humanml3d(tmp_path / "h", {
        "good": (motion(40), "a person walks#x#0.0#0.0\n"),
        "notext": (motion(40), None),
        "emptytext": (motion(40), "\n\n"),
        "shape": (np.zeros((40, 17, 3), np.float32), "odd skeleton#x#0.0#0.0\n"),
        "nan": (np.full((40, 22, 3), np.nan, np.float32), "broken#x#0.0#0.0\n"),
        "badseg": (motion(40), "beyond the end#x#5.0#6.0\n"),
    }, {"train": ["good", "notext", "emptytext", "shape", "nan", "missing", "badseg"]})
    (root / "new_joints" / "corrupt.npy").write_bytes(b"not a numpy file")
    (root / "texts" / "corrupt.txt").write_text("x#x#0.0#0.0\n")
    (root / "val.txt").write_text("corrupt\n")
    ds = read_dataset(root)
    assert [c.id for c in ds] == ["good"]
    why = dict(ds.skip_reasons)
    assert ds.skipped == len(ds.skip_reasons) == 7
    assert set(why) == {"notext", "emptytext", "shape", "nan", "missing", "badseg#5-6",
                        "corrupt"}
    assert "texts" in why["notext"] and "new_joints" in why["missing"]
    assert "captions" in why["emptytext"]


def test_folder_without_split_files_reads_every_motion(tmp_path):
    root = write_humanml3d(tmp_path / "h", {"b": (motion(30), "x#x#0.0#0.0\n"),
                                            "a": (motion(30), "y#y#0.0#0.0\n")}, {})
    assert split_ids(root) == ["a", "b"]
    assert [c.id for c in read_dataset(root)] == ["a", "b"]


def test_reader_errors_say_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="no data folder"):
        read_dataset(tmp_path / "absent")
    with pytest.raises(MotionFormatError, match="new_joints"):
        read_dataset(tmp_path)
    root = write_humanml3d(tmp_path / "h", {"a": (motion(30), "x#x#0.0#0.0\n")},
                           {"train": ["a"]})
    with pytest.raises(FileNotFoundError, match="val.txt"):
        read_dataset(root, "val")


def test_broken_sidecar_is_ignored_not_fatal(tmp_path):
    write_dataset(tmp_path, [Clip("a", motion(20), ["x"], {"content": "walk"})], {"train": ["a"]})
    (tmp_path / "labels.json").write_text("{not json")
    (tmp_path / "grounding.json").write_text(json.dumps({"a": [[], []]}))  # 2 for 1 caption
    ds = read_dataset(tmp_path)
    assert len(ds) == 1 and ds[0].labels == {} and ds[0].grounding == []


def _formats_available() -> bool:
    try:
        from motion_retrieval.formats import load_motion  # noqa: F401
    except ImportError:
        return False
    return True


def kit_motion(n: int) -> np.ndarray:
    """(n, 21, 3) KIT-order joints in mm, from our 22-joint fixture (KIT L/R is SMPL R/L)."""
    from motion_retrieval.formats.kit import _DIRECT, KIT_INDEX
    from motion_retrieval.skeleton import JOINT_INDEX
    smpl = motion(n) * 1000.0
    out = np.zeros((n, 21, 3), np.float32)
    for ours, kit in _DIRECT.items():
        out[:, KIT_INDEX[kit]] = smpl[:, JOINT_INDEX[ours]]
    return out


@pytest.mark.skipif(not _formats_available(), reason="needs motion_retrieval.formats")
def test_kit_folder_is_read_as_smpl_metres_at_20_fps(tmp_path):
    kit = kit_motion(50)  # 4 s at 12.5 fps
    text = "a person walks forward#a/DET#0.0#0.0\nthen more#x#1.0#3.0\n"
    root = write_humanml3d(tmp_path / "kit", {"00001": (kit, text)}, {"test": ["00001"]})
    ds = read_dataset(root)
    whole, seg = ds.by_id()["00001"], ds.by_id()["00001#1-3"]
    assert whole.joints.shape[1:] == (22, 3)
    assert abs(whole.n_frames - 49 * 20 / 12.5 - 1) <= 1  # resampled to 20 fps
    assert 1.2 < whole.joints[..., 1].max() < 2.2  # metres: a person's height
    assert seg.n_frames == 60 - 20  # cut after resampling: seconds mean the same
