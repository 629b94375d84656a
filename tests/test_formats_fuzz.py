"""Fuzzing the readers: whatever the input, only MotionFormatError may escape."""
from __future__ import annotations

import gzip
import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_formats import walking

from motion_retrieval import MotionFormatError, load_motion
from motion_retrieval.formats.bvh import parse_bvh, read_bvh, write_bvh

GOOD_BVH = write_bvh(walking(T=12))
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _only_format_errors(fn, *args, **kwargs):
    try:
        out = fn(*args, **kwargs)
    except MotionFormatError as e:
        assert str(e), "error messages must not be empty"
        return None
    assert np.isfinite(out).all()
    return out


@FUZZ
@given(cut=st.integers(0, len(GOOD_BVH)))
def test_truncated_bvh(cut):
    _only_format_errors(read_bvh, "HIERARCHY" + GOOD_BVH[len("HIERARCHY"):cut])


@FUZZ
@given(data=st.data())
def test_mutated_bvh(data):
    text = GOOD_BVH
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text) - 1))
        op = data.draw(st.sampled_from(["delete", "insert", "replace", "swap-token"]))
        junk = data.draw(st.sampled_from(
            ["{", "}", " ", "\n", "nan", "-1e309", "1e308", "JOINT X", "End Site", "9",
             "CHANNELS", "0", "Xrotation", ":", "\x00", "é"]))
        if op == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 40)):]
        elif op == "insert":
            text = text[:at] + junk + text[at:]
        elif op == "replace":
            text = text[:at] + junk + text[at + len(junk):]
        else:
            toks = text.split(" ")
            i = at % len(toks)
            toks[i] = junk
            text = " ".join(toks)
    if "HIERARCHY" not in text[:1000]:
        text = "HIERARCHY\n" + text
    _only_format_errors(read_bvh, text)


@FUZZ
@given(blob=st.binary(max_size=400))
def test_random_bytes_as_files(tmp_path, blob):
    for name in ("x.bvh", "x.bvh.gz", "x.npy"):
        (tmp_path / name).write_bytes(blob)
        _only_format_errors(load_motion, tmp_path / name)
    (tmp_path / "g.bvh.gz").write_bytes(gzip.compress(blob))
    _only_format_errors(load_motion, tmp_path / "g.bvh.gz")


@FUZZ
@given(cut=st.integers(0, 4000))
def test_truncated_npy_and_gzip(tmp_path, cut):
    buf = io.BytesIO()
    np.save(buf, walking(T=12).astype(np.float32))
    (tmp_path / "t.npy").write_bytes(buf.getvalue()[:cut])
    _only_format_errors(load_motion, tmp_path / "t.npy")
    gz = gzip.compress(GOOD_BVH.encode())
    (tmp_path / "t.bvh.gz").write_bytes(gz[:cut])
    _only_format_errors(load_motion, tmp_path / "t.bvh.gz")


_shapes = st.one_of(
    st.tuples(st.integers(0, 40), st.sampled_from([21, 22, 24]), st.integers(1, 4)),
    st.tuples(st.integers(0, 40), st.sampled_from([263, 262, 66])),
    st.lists(st.integers(0, 5), max_size=4).map(tuple),
)


@FUZZ
@given(shape=_shapes, dtype=st.sampled_from(["f4", "f8", "f2", "i4", "u1", "c8", "U3", "?"]),
       seed=st.integers(0, 2**16), scale=st.sampled_from([1e-6, 1.0, 1e3, 1e30, 1e300]),
       fps=st.sampled_from([20, 12.5, 60, 1e-9, -5, float("nan"), 1e9]))
def test_random_arrays(shape, dtype, seed, scale, fps):
    rng = np.random.default_rng(seed)
    with np.errstate(all="ignore"):
        arr = (rng.normal(size=shape) * scale).astype(dtype)
    _only_format_errors(load_motion, arr, fps=fps)


def test_fuzz_harness_catches_other_errors():
    # The harness must fail if something other than MotionFormatError escapes.
    def boom(_):
        raise KeyError("x")

    with pytest.raises(KeyError):
        _only_format_errors(boom, None)


def test_good_bvh_still_parses():
    assert parse_bvh(GOOD_BVH).motion.shape == (12, 3 + 22 * 3)
