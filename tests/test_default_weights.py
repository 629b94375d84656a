"""The committed default model loads offline and reproduces its recorded procedural-test R@1."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
DEFAULT = WEIGHTS / "default"
RECORDED = WEIGHTS / "results" / "default_test_synthetic.json"


@pytest.fixture(scope="module")
def default_model():
    if not (DEFAULT / "config.json").is_file():
        pytest.skip(f"no committed default weights at {DEFAULT}")
    from motion_retrieval.checkpoint import load_checkpoint

    return load_checkpoint(DEFAULT)


def test_default_weights_fit_the_budget():
    if not DEFAULT.is_dir():
        pytest.skip(f"no committed default weights at {DEFAULT}")
    size = sum(p.stat().st_size for p in WEIGHTS.rglob("*") if p.is_file())
    assert size <= 50 * 2**20, f"weights/ holds {size / 2**20:.1f} MiB; the budget is 50 MiB"
    assert not list(WEIGHTS.rglob("*.pt")) and not list(WEIGHTS.rglob("*.pkl"))


def test_default_weights_reproduce_recorded_procedural_r1(default_model):
    from motion_retrieval.evaluate import evaluate_checkpoint
    from motion_retrieval.synthetic import generate_split

    model, stats, meta = default_model
    recorded = json.loads(RECORDED.read_text())
    clips = generate_split(recorded["corpus_size"], recorded["corpus_seed"], recorded["split"])
    assert len(clips) == recorded["clips"]
    got = evaluate_checkpoint(model, stats, clips, protocols=("all",), grounding=False)
    for direction in ("t2m", "m2t"):
        assert got["all"][direction]["R@1"] == pytest.approx(
            recorded["all"][direction]["R@1"], abs=1.0), direction
