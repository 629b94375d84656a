"""Markdown tables of evaluation results: one row per run, from RUN/test_<data>.json files.

    python tools/results_table.py runs/global runs/vanilla runs/faithful_nogr runs/faithful

Each RUN folder holds the JSON that `python -m motion_retrieval evaluate ... --json --output`
wrote for the procedural (`test_synthetic.json`) and Bandai-Namco (`test_bandai.json`) test
splits; missing files or sections leave a dash. "hand-written R@1" is the label recall of
`assets/queries/` (`evaluate --queries`). Runs with `heldout_<data>.json` files (tools/heldout.sh)
get a third table: label recall on the held-out query sets, the procedural one also pooled
over the test splits of every procedural corpus it was scored against.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def _get(d: dict | None, *path, digits: int = 1) -> str:
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return "–"
        d = d[key]
    if d is None:
        return "–"
    return f"{d:.{digits}f}" if isinstance(d, float) else str(d)


def _grounding(d: dict | None, section: str, field: str) -> str:
    """Word-weighted mean of `field` over the section's data sets (e.g. dataset-1, dataset-2)."""
    groups = (d or {}).get(section)
    if not isinstance(groups, dict) or "skipped" in groups:
        return "–"
    pairs = [(g[field], g["words"]) for g in groups.values()
             if isinstance(g, dict) and g.get(field) is not None and g.get("words")]
    if not pairs:
        return "–"
    return f"{sum(v * w for v, w in pairs) / sum(w for _, w in pairs):.1f}"


def tables(runs: list[Path]) -> str:
    syn_head = ("| run | T2M R@1 | R@5 | R@10 | MedR | M2T R@1 | batch-32 T2M R@1 | content R@1 "
                "| side acc. | part grounding | time grounding | hand-written R@1 |")
    bn_head = ("| run | T2M R@1 | R@5 | MedR | M2T R@1 | content R@1 | content+style R@1 "
               "| side acc. | arm grounding | part grounding | hand-written R@1 |")
    syn, bn = [syn_head, "|" + "---|" * 12], [bn_head, "|" + "---|" * 11]
    for run in runs:
        s = _load(run / "test_synthetic.json")
        b = _load(run / "test_bandai.json")
        syn.append(f"| {run.name} | {_get(s, 'all', 't2m', 'R@1')} | {_get(s, 'all', 't2m', 'R@5')}"
                   f" | {_get(s, 'all', 't2m', 'R@10')} | {_get(s, 'all', 't2m', 'MedR')}"
                   f" | {_get(s, 'all', 'm2t', 'R@1')} | {_get(s, 'batch32', 't2m', 'R@1')}"
                   f" | {_get(s, 'labels', 'content', 'R@1')} | {_get(s, 'side', 'accuracy')}"
                   f" | {_grounding(s, 'grounding', 'part')}"
                   f" | {_grounding(s, 'grounding', 'time')} | {_get(s, 'query_set', 'R@1')} |")
        bn.append(f"| {run.name} | {_get(b, 'all', 't2m', 'R@1')} | {_get(b, 'all', 't2m', 'R@5')}"
                  f" | {_get(b, 'all', 't2m', 'MedR')} | {_get(b, 'all', 'm2t', 'R@1')}"
                  f" | {_get(b, 'labels', 'content', 'R@1')}"
                  f" | {_get(b, 'labels', 'content_style', 'R@1')} | {_get(b, 'side', 'accuracy')}"
                  f" | {_grounding(b, 'arm_grounding', 'part')}"
                  f" | {_grounding(b, 'grounding', 'part')} | {_get(b, 'query_set', 'R@1')} |")
    text = ("**Procedural test split**\n\n" + "\n".join(syn)
            + "\n\n**Bandai-Namco test split**\n\n" + "\n".join(bn) + "\n")
    held = heldout_table(runs)
    return text + ("\n" + held if held else "")


def _pooled_r1(results: list[dict]) -> str:
    """Query-weighted R@1 over several galleries' `query_set` results."""
    pairs = [(r["query_set"]["R@1"], r["query_set"]["n"]) for r in results
             if (r.get("query_set") or {}).get("n")]
    if not pairs:
        return "–"
    n = sum(n for _, n in pairs)
    return f"{sum(v * k for v, k in pairs) / n:.1f} ({n})"


def heldout_table(runs: list[Path]) -> str:
    """The held-out query sets, or "" when no run has them."""
    rows = []
    for run in runs:
        proc = [_load(f) for f in sorted(run.glob("heldout_synthetic*.json"))]
        b = _load(run / "heldout_bandai.json")
        if not proc and b is None:
            continue
        s = _load(run / "heldout_synthetic.json")
        rows.append(f"| {run.name} | {_get(s, 'query_set', 'R@1')} | {_get(s, 'query_set', 'R@5')}"
                    f" | {_pooled_r1(proc)} | {_get(b, 'query_set', 'R@1')}"
                    f" | {_get(b, 'query_set', 'R@5')} |")
    if not rows:
        return ""
    head = ("| run | procedural R@1 | R@5 | pooled R@1 (queries) | Bandai-Namco R@1 | R@5 |\n"
            "|" + "---|" * 6)
    return "**Held-out hand-written queries**\n\n" + head + "\n" + "\n".join(rows) + "\n"


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


if __name__ == "__main__":
    print(tables([Path(p) for p in sys.argv[1:]]))
