import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from motion_retrieval import motion_image as mi
from motion_retrieval import skeleton as sk
from motion_retrieval.angles import angle_stats


def test_layout_constants():
    assert (mi.IMAGE_FRAMES, mi.PATCH, mi.TIME_BLOCKS, mi.NUM_PATCHES) == (224, 16, 14, 196)
    assert mi.PATCH * sk.NUM_PARTS == 224  # 14 bands of 16 pixels


def test_patch_cell_round_trip_and_convention():
    seen = set()
    for p in range(mi.NUM_PATCHES):
        t, part = mi.patch_to_cell(p)
        assert mi.cell_to_patch(t, part) == p
        assert mi.cell_to_patch(t, sk.BODY_PARTS[part]) == p
        seen.add((t, part))
    assert len(seen) == 196
    assert mi.patch_to_cell(0) == (0, 0)
    assert mi.patch_to_cell(13) == (0, 13)  # part is the fast index
    assert mi.patch_to_cell(14) == (1, 0)
    assert mi.cell_to_patch(2, "l_elbow") == 2 * 14 + 13


@pytest.mark.parametrize("bad", [-1, 196])
def test_patch_index_out_of_range(bad):
    with pytest.raises(ValueError, match="0..195"):
        mi.patch_to_cell(bad)


def test_cell_out_of_range_or_unknown_part():
    with pytest.raises(ValueError, match="time block"):
        mi.cell_to_patch(14, 0)
    with pytest.raises(ValueError, match="unknown body part 'tail'"):
        mi.cell_to_patch(0, "tail")
    with pytest.raises(ValueError, match="body part index"):
        mi.cell_to_patch(0, 14)


def test_normalize_round_trip(rng):
    angles = [rng.normal(size=(n, 29)) * 20 + 5 for n in (30, 50)]
    mean, std = angle_stats(angles)
    z = mi.normalize(angles[0], mean, std)
    assert z.dtype == np.float32
    pooled = mi.normalize(np.concatenate(angles), mean, std)
    np.testing.assert_allclose(pooled.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(pooled.std(0), 1, atol=1e-4)
    np.testing.assert_allclose(mi.denormalize(z, mean, std), angles[0], rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="positive"):
        mi.normalize(angles[0], mean, np.zeros(29))
    with pytest.raises(ValueError, match=r"\(29,\)"):
        mi.normalize(angles[0], mean[:3], std)


@pytest.mark.parametrize("n", [1, 15, 16, 17, 100, 224])
def test_short_clips_are_zero_padded(rng, n):
    a = rng.normal(size=(n, 29)).astype(np.float32)
    x, mask, n_frames = mi.to_model_input(a)
    assert x.shape == (224, 29) and x.dtype == np.float32 and mask.dtype == bool
    assert n_frames == n
    np.testing.assert_array_equal(x[:n], a)
    assert not x[n:].any()
    assert mask.sum() == -(-n // 16)  # ceil(n / 16) blocks hold real frames
    assert mask[: mask.sum()].all()


@pytest.mark.parametrize("n", [225, 300, 1000])
def test_long_clips_are_resampled(n):
    t = np.linspace(0, 1, n)
    a = np.repeat(t[:, None], 29, axis=1) * 10 + np.arange(29)  # a linear ramp per column
    x, mask, n_frames = mi.to_model_input(a)
    assert n_frames == n and mask.all()
    assert x[0, 3] == pytest.approx(3, abs=0.1) and x[-1, 3] == pytest.approx(13, abs=0.1)
    assert (np.diff(x[:, 0]) > 0).all()  # order kept, linear resampling of a ramp stays a ramp
    np.testing.assert_allclose(np.diff(x[:, 0]), np.diff(x[:, 0]).mean(), rtol=1e-3)


def test_resample_mode_and_bad_input(rng):
    a = rng.normal(size=(50, 29))
    x, mask, n = mi.to_model_input(a, mode="resample")
    assert mask.all() and n == 50 and x[112:].any()
    constant = np.full((7, 29), 2.5)
    np.testing.assert_allclose(mi.to_model_input(constant, mode="resample")[0], 2.5)
    with pytest.raises(ValueError, match="mode"):
        mi.to_model_input(a, mode="crop")
    with pytest.raises(ValueError, match=r"\(T, 29\)"):
        mi.to_model_input(a[:, :5])
    with pytest.raises(ValueError, match="no frames"):
        mi.to_model_input(a[:0])


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 2000), mode=st.sampled_from(mi.MODES))
def test_blocks_tile_the_clip(n, mode):
    spans = [mi.block_span(t, n, mode) for t in range(14)]
    assert spans[0][0] == 0 and spans[-1][1] == pytest.approx(n)
    for (a0, a1), (b0, _) in zip(spans, spans[1:]):
        assert a1 == pytest.approx(b0) and a0 <= a1
    frames = [mi.block_frames(t, n, mode) for t in range(14)]
    covered = np.zeros(n, dtype=int)
    for t, (f0, f1) in enumerate(frames):
        covered[f0:f1] += 1
        assert f0 <= spans[t][0] and spans[t][1] <= f1 or f0 == f1  # frames contain the span
    assert (covered >= 1).all()
    if n >= 14:  # every block spans at least one frame: a frame sits in at most two blocks
        assert (covered <= 2).all()
    if mode == "pad" and n <= 224:
        assert (covered == 1).all()
    _, mask, _ = mi.to_model_input(np.zeros((n, 29)), mode=mode)
    assert [f1 > f0 for f0, f1 in frames] == mask.tolist()


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 1000), mode=st.sampled_from(mi.MODES), data=st.data())
def test_frames_map_back_to_the_blocks_that_show_them(n, mode, data):
    f = data.draw(st.integers(0, n - 1))
    blocks = mi.frames_to_blocks(f, f + 1, n, mode)
    assert len(blocks) >= 1 and (n < 14 or len(blocks) <= 2)
    for t in blocks:
        f0, f1 = mi.block_frames(t, n, mode)
        assert f0 <= f < f1


def test_resampled_rows_come_from_their_block_frames():
    n = 500
    frame_index = np.repeat(np.arange(n, dtype=float)[:, None], 29, axis=1)
    x, _, _ = mi.to_model_input(frame_index)
    for t in range(14):
        f0, f1 = mi.block_frames(t, n)
        rows = x[t * 16:(t + 1) * 16, 0]
        assert f0 <= rows.min() and rows.max() <= f1 - 1  # rows interpolate the block's frames


def test_patch_info():
    p = mi.cell_to_patch(3, "r_knee")
    info = mi.patch_info(p, n_frames=100)
    assert info["time_block"] == 3 and info["part"] == "r_knee"
    assert info["part_index"] == sk.PART_INDEX["r_knee"] and info["label"] == "right knee"
    assert info["joints"] == sk.PART_JOINTS["r_knee"]
    assert info["frames"] == (48, 64) and info["seconds"] == pytest.approx((2.4, 3.2))
    assert info["valid"]
    assert mi.patch_info(p, n_frames=50)["frames"] == (48, 50)
    past_end = mi.patch_info(mi.cell_to_patch(7, 0), n_frames=100)
    assert past_end["frames"][0] == past_end["frames"][1] and not past_end["valid"]
    # A 448-frame clip is shown at half speed: block 3 = frames 96..128, 4.8..6.4 s at 20 fps.
    long = mi.patch_info(p, n_frames=448)
    assert long["frames"] == (96, 128) and long["seconds"] == pytest.approx((4.8, 6.4))
    assert mi.patch_info(p, n_frames=448, fps=30)["seconds"] == pytest.approx((3.2, 128 / 30))
