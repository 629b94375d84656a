"""The helper scripts under tools/ (error analysis buckets, results tables)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parent.parent / "tools"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _labels(actions, side=None, group="g"):
    return {"actions": actions, "content": "+".join(actions), "side": side, "group": group}


@pytest.mark.parametrize("a, b, same, expected", [
    (_labels(["walk"]), _labels(["walk"]), True, "hit"),
    (_labels(["wave_left"], "left"), _labels(["wave_left"], "left"), False,
     "same content, other wording"),
    (_labels(["wave_left"], "left"), _labels(["wave_right"], "right"), False, "other side"),
    (_labels(["clap_both_x2", "kick_left_x2"], "both"),
     _labels(["clap_both_x2", "kick_right_x2"], "both"), False, "other side"),
    (_labels(["turn_left_90"], "left"), _labels(["turn_right_90"], "right"), False, "other side"),
    (_labels(["wave_left"], "left"), _labels(["wave_both"], "both"), False, "same group, other"),
    (_labels(["walk", "jump_x2"]), _labels(["jump_x2", "walk"]), False, "other order"),
    (_labels(["walk", "jump_x2"]), _labels(["walk", "jump_x3"]), False, "other count"),
    (_labels(["walk"]), _labels(["run"]), False, "same group, other"),
    (_labels(["walk"]), _labels(["run"], group="h"), False, "other content"),
])
def test_error_analysis_buckets(a, b, same, expected):
    assert _load("error_analysis").bucket(a, b, same) == expected


def test_results_table_reads_recorded_runs(tmp_path):
    run = tmp_path / "myrun"
    run.mkdir()
    (run / "test_synthetic.json").write_text(json.dumps({
        "all": {"t2m": {"R@1": 12.345, "R@5": 50.0, "R@10": 70.0, "MedR": 4.0},
                "m2t": {"R@1": 10.0}},
        "batch32": {"t2m": {"R@1": 60.0}}, "side": {"accuracy": 91.26},
        "query_set": {"R@1": 37.21}}))
    text = _load("results_table").tables([run])
    row = next(line for line in text.splitlines() if line.startswith("| myrun"))
    assert "12.3" in row and "91.3" in row and row.endswith("| 37.2 |")
    assert "–" in row  # the missing grounding columns
    procedural, bandai = text.split("**Bandai-Namco test split**")
    assert all(line.count("|") == 13 for line in procedural.splitlines() if line.startswith("|"))
    assert all(line.count("|") == 12 for line in bandai.splitlines() if line.startswith("|"))
    assert "Held-out" not in text  # no heldout_*.json: no third table


def test_results_table_pools_the_held_out_query_sets(tmp_path):
    run = tmp_path / "myrun"
    run.mkdir()
    for name, r1, n in (("synthetic", 60.0, 90), ("synthetic_seed1", 80.0, 30)):
        (run / f"heldout_{name}.json").write_text(json.dumps(
            {"query_set": {"R@1": r1, "R@5": 90.0, "n": n}}))
    (run / "heldout_bandai.json").write_text(json.dumps({"query_set": {"R@1": 54.0, "n": 50}}))
    text = _load("results_table").tables([run])
    held = text.split("**Held-out hand-written queries**")[1]
    row = next(line for line in held.splitlines() if line.startswith("| myrun"))
    # seed 0's own figures, then the query-weighted pool: (60 * 90 + 80 * 30) / 120 = 65
    assert row == "| myrun | 60.0 | 90.0 | 65.0 (120) | 54.0 | – |"


def test_error_analysis_runs_as_a_script_from_anywhere(tmp_path):
    # README runs it as `python tools/error_analysis.py`; the package is not pip-installed.
    import subprocess
    import sys

    out = subprocess.run([sys.executable, str(TOOLS / "error_analysis.py"), "--help"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "top-1 misses" in out.stdout


def test_error_analysis_scores_plain_and_hybrid_models(tmp_path):
    # The tool must score a hybrid model with its own score (it needs the whole-clip vectors).
    import subprocess
    import sys

    from demo_fixtures import STATS, tiny_model

    from motion_retrieval import cli
    from motion_retrieval.checkpoint import save_checkpoint

    data = tmp_path / "syn"
    assert cli.main(["prepare", "synthetic:60", "--out", str(data), "--seed", "1"]) == 0
    ckpts = [save_checkpoint(tmp_path / name, tiny_model(whole_clip_weight=w), STATS)
             for name, w in (("plain", 0.0), ("hybrid", 1.0))]
    out = subprocess.run([sys.executable, str(TOOLS / "error_analysis.py"), *map(str, ckpts),
                          "--data", str(data)], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert [Path(r["checkpoint"]).name for r in rows] == ["plain", "hybrid"]
    for r in rows:
        assert sum(r["top1"].values()) == r["queries"] > 0
        assert 0 <= r["t2m_R@1"] <= 100 and 0 <= r["t2m_R@1_content_words_only"] <= 100
