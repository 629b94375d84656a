"""The `prepare` command: Bandai, BVH folders, synthetic, folder checks, stats, cache."""
from __future__ import annotations

import gzip
import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path
from test_dataset import motion, write_humanml3d

from motion_retrieval import cli, prepare
from motion_retrieval.captions import check_sides
from motion_retrieval.dataset import Clip, read_dataset

CONTENTS = ("walk", "wave-left-hand", "wave-right-hand", "raise-up-both-hands")
STYLES = ("normal", "elderly")


@pytest.fixture
def fake_loader(monkeypatch):
    """Replace BVH parsing (formats' job) by a counter that returns a fixture motion."""
    calls = []

    def load(path):
        calls.append(Path(path).name)
        if b"broken" in gzip.open(path).read():
            raise prepare.MotionFormatError("truncated MOTION section")
        return motion(30 + len(calls) % 7)

    monkeypatch.setattr(prepare, "_load_motion", load)
    return calls


def make_bandai(root: Path) -> Path:
    """dataset-2 (4 contents x 2 styles x 12 takes) and a dataset-1 with single takes."""
    for ds, takes in (("dataset-2", range(1, 13)), ("dataset-1", (1,))):
        d = root / ds
        d.mkdir(parents=True)
        for c in CONTENTS:
            for s in STYLES:
                for t in takes:
                    with gzip.open(d / f"{ds}_{c}_{s}_{t:03d}.bvh.gz", "wb") as fh:
                        fh.write(b"HIERARCHY")
    with gzip.open(root / "dataset-1" / "dataset-1_walk_happy_001.bvh.gz", "wb") as fh:
        fh.write(b"broken")
    (root / "dataset-1" / "notes_about_this.bvh.gz").write_bytes(b"")
    return root


def run_cli(*argv: str) -> int:
    return cli.main(["prepare", *map(str, argv)])


def test_bandai_split_keeps_each_take_in_one_split_and_is_stable():
    seen: dict[tuple, str] = {}
    for c in CONTENTS:
        for s in STYLES:
            for t in range(1, 13):
                split = prepare.bandai_split("dataset-2", c, s, t)
                assert seen.setdefault((c, s, t), split) == split
                assert split == ("train" if t <= 9 else "val" if t == 10 else "test")
    # dataset-1: every take of a (content, style) goes the same way
    for c in ("walk", "bow", "kick", "guide", "run", "dash"):
        for s in ("normal", "sad", "giant", "chimpira"):
            assert len({prepare.bandai_split("dataset-1", c, s, t) for t in (1, 2, 3)}) == 1
    splits = [prepare.bandai_split("dataset-1", f"c{i}", "s", 1) for i in range(1000)]
    assert 60 < splits.count("val") < 140 and 60 < splits.count("test") < 140


def test_bandai_groups_hold_clips_that_differ_in_one_detail():
    g = prepare.bandai_group
    assert g("dataset-2", "wave-left-hand", "elderly", 3) == g("dataset-2", "wave-right-hand",
                                                             "elderly", 3)
    assert g("dataset-2", "wave-both-hands", "elderly", 3) == g("dataset-2", "wave-left-hand",
                                                              "elderly", 3)
    assert g("dataset-2", "walk-turn-left", "normal", 1) == g("dataset-2", "walk-turn-right",
                                                            "normal", 1)
    assert g("dataset-2", "walk-turn-left", "normal", 1) != g("dataset-2", "walk", "normal", 1)
    assert g("dataset-2", "wave-left-hand", "normal", 3) != g("dataset-2", "wave-left-hand",
                                                            "normal", 4)
    assert g("dataset-2", "raise-up-left-hand", "normal", 3) != g("dataset-2", "wave-left-hand",
                                                                "normal", 3)
    assert g("dataset-1", "walk", "sad", 1) == g("dataset-1", "walk", "happy", 1)


def test_parse_bandai_name():
    assert prepare.parse_bandai_name(Path("dataset-1_walk-left_not-confident_002.bvh.gz")) == (
        "dataset-1", "walk-left", "not-confident", 2)
    with pytest.raises(prepare.MotionFormatError, match="not named"):
        prepare.parse_bandai_name(Path("walk_normal.bvh.gz"))


def test_prepare_bandai_writes_a_folder_the_reader_loads(tmp_path, fake_loader, capsys):
    src, out = make_bandai(tmp_path / "bandai"), tmp_path / "out"
    assert run_cli(f"bandai:{src}", "--out", out) == 0
    text = capsys.readouterr().out
    assert "skipped 2" in text and "truncated MOTION" in text and "not named" in text

    ds = read_dataset(out)
    n2, n1 = len(CONTENTS) * len(STYLES) * 12, len(CONTENTS) * len(STYLES)
    assert len(ds) == n2 + n1 and ds.skipped == 0
    for clip in ds:
        lab = clip.labels
        assert set(lab) >= {"content", "style", "side", "group", "take", "dataset"}
        assert len(clip.captions) == 3
        assert all(check_sides(t, lab["side"]) for t in clip.captions)
        assert len(clip.grounding) == 3 and clip.grounding[0][0]["frames"] == [0, clip.n_frames]
    by_split = {s: read_dataset(out, s) for s in ("train", "val", "test")}
    assert sum(len(d) for d in by_split.values()) == len(ds)
    keys = {s: {(c.labels["dataset"], c.labels["content"], c.labels["style"], c.labels["take"])
                for c in d} for s, d in by_split.items()}
    assert not keys["train"] & keys["val"] and not keys["train"] & keys["test"]
    assert not keys["val"] & keys["test"]
    assert {k[3] for k in keys["test"] if k[0] == "dataset-2"} == {11, 12}
    left = [c for c in ds if c.labels["content"] == "wave-left-hand"]
    assert left and all(c.labels["side"] == "left" for c in left)


def test_rerun_with_nothing_changed_uses_the_cache(tmp_path, fake_loader, capsys):
    src, out = make_bandai(tmp_path / "bandai"), tmp_path / "out"
    assert run_cli(f"bandai:{src}", "--out", out) == 0
    first = len(fake_loader)
    assert run_cli(f"bandai:{src}", "--out", out) == 0
    assert len(fake_loader) == first and "up to date" in capsys.readouterr().out
    # a changed input file means a new run
    f = next((src / "dataset-2").glob("*.bvh.gz"))
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    assert run_cli(f"bandai:{src}", "--out", out) == 0
    assert len(fake_loader) == 2 * first
    # so does a deleted output file
    next((out / "new_joints").glob("*.npy")).unlink()
    assert run_cli(f"bandai:{src}", "--out", out) == 0
    assert len(fake_loader) == 3 * first
    assert run_cli(f"bandai:{src}", "--out", out, "--force") == 0
    assert len(fake_loader) == 4 * first


def test_rerun_with_fewer_inputs_removes_stale_clips(tmp_path, fake_loader):
    src, out = make_bandai(tmp_path / "bandai"), tmp_path / "out"
    assert run_cli(f"bandai:{src}", "--out", out) == 0
    assert run_cli(f"bandai:{src}", "--out", out, "--limit", "5") == 0
    assert len(list((out / "new_joints").glob("*.npy"))) == len(read_dataset(out)) <= 5


def test_bvh_folder_with_captions_csv_or_file_names(tmp_path, monkeypatch):
    monkeypatch.setattr(prepare, "_load_motion", lambda p: motion(25))
    src = tmp_path / "mine"
    (src / "sub").mkdir(parents=True)
    for name in ("jump_high_01.bvh", "sub/kick-left.bvh", "spin.bvh.gz"):
        (src / name).write_text("HIERARCHY")
    csv = tmp_path / "caps.csv"
    csv.write_text('file,caption\njump_high_01.bvh,"a person jumps, high"\n'
                   "jump_high_01.bvh,someone leaps # up\nsub/kick-left.bvh,a left kick\n")
    out = tmp_path / "out"
    assert run_cli(f"bvh:{src}", "--out", out, "--captions", csv) == 0
    got = read_dataset(out).by_id()
    assert got["jump_high_01"].captions == ["a person jumps, high", "someone leaps up"]
    assert got["sub__kick-left"].captions == ["a left kick"]
    assert "spin" not in got  # no caption for it in the CSV: skipped, not invented

    out2 = tmp_path / "out2"
    assert run_cli(f"bvh:{src}", "--out", out2) == 0
    got = read_dataset(out2).by_id()
    assert got["jump_high_01"].captions == ["jump high"]
    assert got["spin"].captions == ["spin"]


def test_synthetic_uses_generate_corpus(tmp_path, monkeypatch):
    seen = []

    def generate_corpus(n, seed):
        seen.append((n, seed))
        clips = [Clip(f"s{i}", motion(20, i), [f"caption {i}"], {"content": "c"})
                 for i in range(n)]
        return clips, {"train": [c.id for c in clips[:-1]], "test": [clips[-1].id]}

    fake = types.ModuleType("motion_retrieval.synthetic")
    fake.generate_corpus = generate_corpus
    monkeypatch.setitem(sys.modules, "motion_retrieval.synthetic", fake)
    out = tmp_path / "syn"
    assert run_cli("synthetic:4", "--out", out, "--seed", "3") == 0
    assert seen == [(4, 3)]
    assert [c.id for c in read_dataset(out, "test")] == ["s3"]
    assert run_cli("synthetic:4", "--out", out, "--seed", "3") == 0
    assert len(seen) == 1  # cached
    assert run_cli("synthetic:4", "--out", out, "--seed", "4") == 0
    assert len(seen) == 2


def test_check_humanml3d_folder_reports_problems(tmp_path, capsys):
    root = write_humanml3d(tmp_path / "h", {
        "000001": (motion(60), "a man walks#a/DET#0.0#0.0\nthen#x#1.0#2.0\n"),
        "000002": (motion(60, 1), None),
        "000003": (None, "orphan#x#0.0#0.0\n"),
        "000004": (np.zeros((30, 21, 3), np.float32), "wrong skeleton#x#0.0#0.0\n"),
    }, {"train": ["000001", "000002"], "test": ["000001", "000009"]})
    assert run_cli(f"humanml3d:{root}") == 0
    text = capsys.readouterr().out
    assert "new_joints: 3 motions" in text
    assert "3 files, 4 captions (1 on a segment)" in text
    assert "1 motions without texts: 000002" in text
    assert "1 texts without motions: 000003" in text
    assert "not (T, 22, 3): 000004" in text
    assert "no val.txt" in text
    assert "1 ids in both train and test: 000001" in text
    assert "test.txt lists 1 ids with no motion: 000009" in text
    assert f"--data {root}" in text


def test_check_kitml_folder_and_convert(tmp_path, capsys):
    from test_dataset import kit_motion
    root = write_humanml3d(tmp_path / "kit", {"00001": (kit_motion(40), "a person bows#x#0#0\n"),
                                              "00002": (kit_motion(40), "kicks#x#0#0\n")},
                           {"train": ["00001"], "val": [], "test": ["00002"]})
    out = tmp_path / "converted"
    assert run_cli(f"kitml:{root}", "--out", out) == 0
    assert "2 x (T, 21, 3)" in capsys.readouterr().out
    conv = read_dataset(out, "test")
    assert [c.id for c in conv] == ["00002"] and conv[0].joints.shape[1:] == (22, 3)


def test_empty_folder_check_fails(tmp_path, capsys):
    assert run_cli(f"humanml3d:{tmp_path}") == 1
    assert "new_joints/ is missing" in capsys.readouterr().out


def test_stats_per_split(tmp_path, fake_loader, capsys):
    src, out = make_bandai(tmp_path / "bandai"), tmp_path / "out"
    assert run_cli(f"bandai:{src}", "--out", out) == 0
    capsys.readouterr()
    assert run_cli("--stats", out) == 0
    text = capsys.readouterr().out
    st = prepare.dataset_stats(out)
    assert set(st) == {"train", "val", "test"}
    assert sum(s["clips"] for s in st.values()) == len(read_dataset(out))
    assert st["test"]["captions"] == 3 * st["test"]["clips"]
    assert st["test"]["labels"]["side"]["left"] >= 1
    assert "content: 4 distinct" in text and "side: 4 distinct" in text
    for split in ("train", "val", "test"):
        assert f"  {split} " in text


@pytest.mark.parametrize("argv, message", [
    (["moon:3", "--out", "x"], "KIND:ARG"),
    (["synthetic:many", "--out", "x"], "number of clips"),
    (["synthetic:3"], "needs --out"),
    ([], "give a SOURCE"),
    (["bandai:/no/such/folder", "--out", "x"], "no folder"),
])
def test_errors_are_one_clear_line(argv, message, capsys):
    assert run_cli(*argv) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.shared_data
def test_real_bandai_files_convert(tmp_path):
    src = shared_path("bandai-namco", "dataset-2")
    pytest.importorskip("motion_retrieval.formats")
    out = tmp_path / "b"
    assert run_cli(f"bandai:{src}", "--out", out, "--limit", "4") == 0
    ds = read_dataset(out)
    assert len(ds) == 4 and ds.skipped == 0
    for clip in ds:
        assert clip.n_frames > 20 and 1.3 < clip.joints[..., 1].max() < 2.2
        assert all(check_sides(t, clip.labels["side"]) for t in clip.captions)
