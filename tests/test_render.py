"""Stick-figure PNG strips and GIFs."""
from __future__ import annotations

import argparse

import numpy as np
import pytest

from motion_retrieval import render
from motion_retrieval.synthetic import generate_corpus

PIL = pytest.importorskip("PIL.Image")


@pytest.fixture(scope="module")
def joints():
    clips, _ = generate_corpus(1, seed=5, workers=1)
    return clips[0].joints


def test_strip_is_a_png_with_one_panel_per_frame(joints, tmp_path):
    a = render.render_strip(joints, tmp_path / "a.png", title="a person waves", n_frames=4)
    b = render.render_strip(joints, tmp_path / "b.png", n_frames=8)
    wa, ha = PIL.open(a).size
    wb, hb = PIL.open(b).size
    assert ha == hb and wb == 2 * wa  # width grows with the number of poses
    img = np.asarray(PIL.open(a).convert("RGB")).astype(int)
    blue = (img[..., 2] > 150) & (img[..., 0] < 100)  # left side
    red = (img[..., 0] > 150) & (img[..., 2] < 100)  # right side
    assert blue.sum() > 50 and red.sum() > 50


def test_gif_has_frames(joints, tmp_path):
    path = render.render_gif(joints[:40], tmp_path / "m.gif", fps=10)
    im = PIL.open(path)
    assert im.format == "GIF" and im.n_frames == 20


def test_bad_shape_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"\(T, 22, 3\)"):
        render.render_strip(np.zeros((10, 21, 3)), tmp_path / "x.png")


def test_cli_renders_a_prepared_folder(joints, tmp_path):
    dataset = pytest.importorskip("motion_retrieval.dataset")
    clips, splits = generate_corpus(2, seed=1, workers=1)
    dataset.write_dataset(tmp_path / "data", clips, splits)
    parser = argparse.ArgumentParser()
    render.add_arguments(parser)
    args = parser.parse_args([str(tmp_path / "data"), "--out", str(tmp_path / "out"),
                              "--ids", clips[1].id, "--frames", "3"])
    assert render.run(args) == 0
    assert (tmp_path / "out" / f"{clips[1].id}.png").stat().st_size > 1000
    args = parser.parse_args([str(tmp_path / "data"), "--ids", "nope"])
    with pytest.raises(FileNotFoundError, match="nope"):
        render.run(args)


def test_cli_renders_a_npy_file(joints, tmp_path):
    pytest.importorskip("motion_retrieval.formats")
    np.save(tmp_path / "clip.npy", joints)
    parser = argparse.ArgumentParser()
    render.add_arguments(parser)
    args = parser.parse_args([str(tmp_path / "clip.npy"), "--out", str(tmp_path), "--gif"])
    assert render.run(args) == 0
    assert (tmp_path / "clip.gif").exists()
